"""What the hub tells front ends: small immutable records, no formatting.

The hub hands these to each recipient's :class:`~sshchat.core.hub.Sink`; turning them
into text (with or without colour) is the job of :mod:`sshchat.frontends.render`, at the
session edge.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum


def _now() -> float:
    return time.time()


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A line said in a channel (``action`` for ``/me``)."""

    channel: str
    sender: str  # login name
    nick: str
    text: str
    action: bool = False
    time: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class PrivateMessage:
    """A private message; both the sender's and the recipient's sessions get it."""

    sender: str
    sender_nick: str
    recipient: str
    recipient_nick: str
    text: str
    action: bool = False
    time: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class Broadcast:
    """An admin's announcement to every online user."""

    sender: str
    nick: str
    text: str
    time: float = field(default_factory=_now)


class PresenceKind(Enum):
    JOIN = "join"
    LEAVE = "leave"
    CONNECT = "connect"
    DISCONNECT = "disconnect"
    NICK = "nick"
    TOPIC = "topic"  # detail: the new topic ("" when cleared)
    KICK = "kick"  # login/nick: who was kicked; detail: by whom and why


@dataclass(frozen=True, slots=True)
class Presence:
    """Someone joined, left, connected, disconnected or changed nick.

    ``channel`` is set for join and leave; ``detail`` holds the new nick for
    :attr:`PresenceKind.NICK`.
    """

    kind: PresenceKind
    login: str
    nick: str
    channel: str | None = None
    detail: str = ""
    time: float = field(default_factory=_now)


class NoticeKind(Enum):
    INFO = "info"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Notice:
    """Text for one session only: command output, errors, the welcome.

    ``text`` may hold several lines.
    """

    text: str
    kind: NoticeKind = NoticeKind.INFO
    time: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class PresenceSummary:
    """Presence in a big channel, summarised once a second instead of a line each.

    ``nicks`` holds the first few names; ``count`` is how many there were.
    """

    channel: str
    kind: PresenceKind
    nicks: tuple[str, ...]
    count: int
    time: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class History:
    """Earlier lines shown to one session: a channel's recent past, or the
    private messages that arrived while the user was offline (``channel`` None).
    """

    channel: str | None
    messages: tuple[ChatMessage | PrivateMessage, ...]
    time: float = field(default_factory=_now)


Event = ChatMessage | PrivateMessage | Broadcast | Presence | PresenceSummary | Notice | History
