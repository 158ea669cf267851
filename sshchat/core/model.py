"""The hub's data: accounts, channels and sessions.

Plain mutable dataclasses owned by :class:`~sshchat.core.hub.Hub`; front ends and
the store read them, only the hub changes them.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from sshchat.core.events import ChatMessage, Event, PresenceKind, PrivateMessage
from sshchat.core.prefs import Prefs
from sshchat.core.ratelimit import TokenBucket
from sshchat.errors import SshchatError

__all__ = [
    "FOREVER",
    "NULL_SINK",
    "Account",
    "AccountSync",
    "Channel",
    "Client",
    "HubError",
    "ModerationAction",
    "NullSink",
    "Sink",
]

# Defaults of the hub's settings. The config's [server] and [limits] options
# read them (config.schema), so that each default is written once.
DEFAULT_CHANNEL = "lobby"
DEFAULT_MAX_TEXT = 2000  # characters in one chat line
DEFAULT_MESSAGE_BURST = 15  # lines a user may send at once before the rate applies
DEFAULT_COMMAND_BURST = 30  # commands that tell only their user, at once ...
DEFAULT_COMMAND_RATE = 10.0  # ... then this many per second
DEFAULT_MAX_PASTE_LINES = 50  # lines one multi-line message (a paste) may have
DEFAULT_HISTORY_LINES = 50  # lines of a channel shown on joining it
DEFAULT_PRESENCE_SUMMARY_OVER = 50  # members above which presence lines are summarised
DEFAULT_MAX_CHANNELS_PER_USER = 10  # channels one (non-admin) account may own
LIST_PAGE = 20  # channels /list shows at once
MAX_REASON = 200
MAX_TOPIC = 300
MAX_PENDING = 100  # private messages kept for an offline user
HISTORY_KEEP = 500  # lines of history kept per channel
SUMMARY_NAMES = 10  # names listed in a presence summary
ONLINE_NAMES = 12  # names listed in the "who is online" line at login (more: a count)
FOREVER = math.inf
# Presence notices that /quiet hides.
_NOISE = frozenset(
    {PresenceKind.JOIN, PresenceKind.LEAVE, PresenceKind.CONNECT, PresenceKind.DISCONNECT}
)


class HubError(SshchatError):
    """A refusal meant for the user who asked, e.g. "no such channel"."""


class Sink(Protocol):
    """What a front end gives the hub to receive events for one session.

    The hub never asks a sink to close: a session it ends (ban, account
    removed) gets a :class:`~sshchat.core.events.SessionEnded` event and the
    front end closes itself, outside the hub.
    """

    def deliver(self, event: Event) -> None:
        """Queue ``event`` for the session. Must never block, raise or call the hub."""


class NullSink:
    """The sink of a session this process does not serve (nothing to deliver to)."""

    __slots__ = ()

    def deliver(self, event: Event) -> None:
        pass


NULL_SINK = NullSink()


@dataclass(eq=False)
class Account:
    """A configured user. Exists whether or not the user is online."""

    login: str
    nick: str
    admin: bool = False
    clients: list[Client] = field(default_factory=list)
    # Membership belongs to the account and outlives its sessions: it ends
    # with /leave, a kick or the account's removal, never with a disconnect.
    channels: dict[str, Channel] = field(default_factory=dict)  # by channel name
    last_channel: str | None = None  # where a session last switched to; logins land there
    away: str | None = None
    connected_since: float | None = None
    last_seen: float | None = None
    last_pm_from: str | None = None
    prefs: Prefs = field(default_factory=Prefs)
    ignored: set[str] = field(default_factory=set)  # logins whose messages are hidden
    banned_until: float | None = None  # FOREVER for a permanent ban
    ban_reason: str = ""
    muted_until: float | None = None
    pending: deque[PrivateMessage] = field(default_factory=lambda: deque(maxlen=MAX_PENDING))
    # Local to this process, never touched by applying facts (the rate limit
    # guards this server's front door):
    bucket: TokenBucket | None = None  # message rate limit
    command_bucket: TokenBucket | None = None  # rate limit of commands that tell only the user
    lines_refused: int = 0  # lines refused since the rate limit last let one through

    @property
    def online(self) -> bool:
        return bool(self.clients)

    @property
    def status(self) -> str:
        """``online``, ``away`` or ``offline``."""
        if not self.clients:
            return "offline"
        return "away" if self.away is not None else "online"


@dataclass(eq=False)
class Channel:
    """A named room. ``members`` maps login names to accounts, online or not.

    ``online`` is the subset of ``members`` with at least one session, kept by
    applying facts: fan-out iterates it, so a line costs as much as there are
    people to read it, however many offline members a channel has.
    """

    name: str
    owner: str | None = None
    private: bool = False
    topic: str = ""
    members: dict[str, Account] = field(default_factory=dict)
    online: dict[str, Account] = field(default_factory=dict)
    invited: set[str] = field(default_factory=set)
    ops: set[str] = field(default_factory=set)  # logins allowed to moderate
    created: float = field(default_factory=time.time)
    history: deque[ChatMessage] = field(default_factory=lambda: deque(maxlen=HISTORY_KEEP))
    presence_pending: list[tuple[PresenceKind, str]] = field(default_factory=list)

    def is_op(self, account: Account) -> bool:
        """Owner, channel operator or server admin."""
        return account.admin or account.login == self.owner or account.login in self.ops

    def visible_to(self, account: Account) -> bool:
        """Whether ``account`` may see this channel in ``/list``."""
        return (
            not self.private
            or account.login in self.members
            or account.login in self.invited
            or account.login == self.owner
            or account.admin
        )


@dataclass(eq=False)
class Client:
    """One connected session of an account; ``id`` is the session id of its facts."""

    id: str
    account: Account
    sink: Sink
    current: Channel
    connected_at: float = field(default_factory=time.time)
    key_fingerprint: str | None = None
    source: str = ""
    # Case-folded names of the channels whose recent history this session has
    # been shown: switching to one of the account's channels shows it once.
    shown: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class ModerationAction:
    """A moderation or administration act, for the audit log and the store."""

    actor: str
    action: str  # ban, unban, mute, unmute, kick, op, deop, topic, drop
    target: str
    channel: str | None = None
    reason: str = ""
    until: float | None = None
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class AccountSync:
    """What :meth:`Hub.sync_accounts` changed (login names)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    admin_changed: tuple[str, ...] = ()
