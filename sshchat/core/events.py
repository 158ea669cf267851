"""What the hub tells front ends: small immutable records, no formatting.

The hub hands these to each recipient's :class:`~sshchat.core.hub.Sink`; turning them
into text (with or without colour) is the job of :mod:`sshchat.frontends.render`, at the
session edge.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum

from sshchat.errors import SshchatError


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
    TOPIC = "topic"  # login/nick: who set it; detail: the new topic ("" when cleared)
    KICK = "kick"  # login/nick: who was kicked; detail: by whom and why


@dataclass(frozen=True, slots=True)
class Presence:
    """Someone joined, left, connected, disconnected or changed nick.

    ``channel`` is set for join and leave; ``detail`` holds the new nick for
    :attr:`PresenceKind.NICK`, the topic for :attr:`PresenceKind.TOPIC` and
    the reason (if any) for :attr:`PresenceKind.KICK`, where ``by`` is the nick
    of who kicked.
    """

    kind: PresenceKind
    login: str
    nick: str
    channel: str | None = None
    detail: str = ""
    time: float = field(default_factory=_now)
    by: str = ""


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
class OnlineNow:
    """Who is online in ``channel``, told to a session as it logs in (presence, like
    :class:`PresenceSummary`, not a notice: shown as a channel line).

    ``count`` people (the new session's own account included); ``nicks`` lists
    them, sorted, in a channel small enough to name them all, else it is empty.
    """

    channel: str
    count: int
    nicks: tuple[str, ...]
    time: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class History:
    """Earlier lines shown to one session: a channel's recent past, or the
    private messages that arrived while the user was offline (``channel`` None).
    """

    channel: str | None
    messages: tuple[ChatMessage | PrivateMessage, ...]
    time: float = field(default_factory=_now)


# -- notices with a meaning: worded at the edge (frontends/render.py) ------------------
# Each is for one account's sessions; like every event the hub makes while
# applying a fact, its ``time`` is the fact's.


@dataclass(frozen=True, slots=True)
class RecipientOffline:
    """The private message just sent waits for ``nick``'s next login."""

    nick: str
    time: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class InvitedTo:
    """``by`` (a nick) invites you to ``channel``.

    ``sender`` is the inviter's login, so that an ignored user's invitations
    are not shown (fan-out honours ignores by ``sender``).
    """

    by: str
    channel: str
    time: float = field(default_factory=_now)
    sender: str = ""


@dataclass(frozen=True, slots=True)
class OpChanged:
    """``nick`` is now (``op``) or no longer an op of ``channel``, by ``by``."""

    nick: str
    channel: str
    op: bool
    by: str
    time: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class MutedBy:
    """You were muted by ``by`` until ``until`` (``math.inf``: for good)."""

    by: str
    until: float
    time: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class UnmutedBy:
    by: str
    time: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class AdminStatus:
    """The configuration made you an administrator (``admin``) or no longer one."""

    admin: bool
    time: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class NickReclaimed:
    """Your nick ``old`` became a new account's name, so you are ``nick`` again."""

    old: str
    nick: str
    time: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class HomeChannelMoved:
    """``channel`` is now the home channel and you are in it."""

    channel: str
    time: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class ChannelGone:
    """``by`` (a nick) dropped ``channel``, which you were in: you are in ``home`` now."""

    channel: str
    by: str
    home: str
    time: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class LinesNotSent:
    """``count`` lines typed too fast were not sent (said when one goes through again)."""

    count: int
    time: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class SendingTooFast:
    """The rate limit refused a line: ``burst`` lines at once, then ``rate`` per second."""

    burst: int
    rate: float
    time: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """The hub ended this session: the front end says why and closes it.

    ``reason`` is the text given by whoever ended it (a configuration reload);
    for a ban, ``banned_until`` is set and ``reason`` is the ban's reason.
    """

    reason: str
    banned_until: float | None = None
    time: float = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class Overruled:
    """What this session asked for was decided here but refused when applied.

    In cluster mode a node decides against its own view of the state, which
    another node's facts may have changed meanwhile (two users racing for one
    nick): the log's order settles it, and the loser is told ``refusal``, worded
    like any refusal. Also used when the shared log could not be reached.
    """

    refusal: SshchatError  # a HubError (the model imports these events, not the reverse)
    time: float = field(default_factory=_now)


TypedNotice = (
    RecipientOffline
    | InvitedTo
    | OpChanged
    | MutedBy
    | UnmutedBy
    | AdminStatus
    | NickReclaimed
    | HomeChannelMoved
    | ChannelGone
    | LinesNotSent
    | SendingTooFast
    | SessionEnded
    | Overruled
)

Event = (
    ChatMessage
    | PrivateMessage
    | Broadcast
    | Presence
    | PresenceSummary
    | OnlineNow
    | Notice
    | History
    | TypedNotice
)
