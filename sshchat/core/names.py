"""Names of users and channels: one rule, shared by the config and the hub."""

from __future__ import annotations

import re

__all__ = ["NAME_RULE", "valid_channel_name", "valid_name"]

NAME_RULE = "1-24 characters: ASCII letters, digits, '_' or '-', starting with a letter"
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,23}")


def valid_name(name: str) -> bool:
    """Return True if *name* is a valid login or channel name (see :data:`NAME_RULE`)."""
    return isinstance(name, str) and _NAME_RE.fullmatch(name) is not None


def valid_channel_name(name: str) -> bool:
    """A public channel's name (a valid name), or a private one's: ``OWNER/NAME``.

    Private channels live in their owner's namespace, so that nobody else
    can find out by trying to create one whether a hidden name is taken.
    """
    owner, slash, rest = name.partition("/")
    return valid_name(name) or (bool(slash) and valid_name(owner) and valid_name(rest))
