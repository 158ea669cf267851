"""Names of users and channels: one rule, shared by the config and the hub."""

from __future__ import annotations

import re

__all__ = ["NAME_RULE", "valid_name"]

NAME_RULE = "1-24 characters: ASCII letters, digits, '_' or '-', starting with a letter"
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,23}")


def valid_name(name: str) -> bool:
    """Return True if *name* is a valid login or channel name (see :data:`NAME_RULE`)."""
    return isinstance(name, str) and _NAME_RE.fullmatch(name) is not None
