"""Plain counters of what the server does, read by the metrics endpoint.

Nothing here depends on a metrics library: the hub and the server bump these
numbers, and :mod:`sshchat.ops.metrics` (optional) exposes them when scraped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Stats"]


@dataclass
class Stats:
    """Server-wide counters (monotonic unless noted)."""

    messages: int = 0  # channel lines, actions, private messages, broadcasts
    deliveries: int = 0  # events handed to session outboxes
    queue_drops: int = 0  # events dropped from full outboxes
    lines_rate_limited: int = 0  # typed lines refused by the message rate limit
    auth_failures: Counter[str] = field(default_factory=Counter)  # by reason
    connections_refused: Counter[str] = field(default_factory=Counter)  # by reason
    throttled: int = 0  # password checks delayed or refused by penalties
