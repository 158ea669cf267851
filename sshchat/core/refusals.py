"""Typed refusals: why the hub said no, as data.

Deciding raises one of these instead of returning facts. They carry the values
a message needs (names, limits, deadlines) and no English: the sentence a user
sees is made at the edge (:func:`sshchat.commands.refusals.refusal_text`), so
another front end, a bot API or a translation can word it differently.
"""

from __future__ import annotations

from sshchat.core.model import HubError

__all__ = [
    "MUTED_ACTIONS",
    "AdminsOnly",
    "AlreadyIgnored",
    "AlreadyInChannel",
    "AlreadyInvited",
    "AlreadyOp",
    "BannedFromServer",
    "CannotDropHome",
    "CannotLeaveHome",
    "ChannelExists",
    "ChannelNameUnavailable",
    "HomeChannelNoKick",
    "InvalidChannelName",
    "InvalidNick",
    "InvalidPreference",
    "MessageTooLong",
    "Muted",
    "NickTaken",
    "NoOneToReply",
    "NoSuchAccount",
    "NoSuchChannel",
    "NoSuchUser",
    "NotAMember",
    "NotAnOpOf",
    "NotAnOperator",
    "NotAway",
    "NotBanned",
    "NotChannelOwner",
    "NotIgnored",
    "NotInChannel",
    "NotMuted",
    "NotYourNamespace",
    "NotYourself",
    "NothingToSend",
    "OnlyOwnerInvites",
    "OwnerCannotBeKicked",
    "PasteTooLong",
    "PendingFull",
    "PrivateHomeChannel",
    "RateLimited",
    "Refusal",
    "SessionGone",
    "SlashIsPrivate",
    "TooManyChannels",
    "TopicTooLong",
]


class Refusal(HubError):
    """Base of the typed refusals; its fields are set by each subclass."""

    def __str__(self) -> str:
        # Debugging only: users see commands.refusals.refusal_text(...).
        return f"{type(self).__name__}{self.args!r}"


class NoSuchAccount(Refusal):
    """No configured account has this login (a session was opened for it anyway)."""

    def __init__(self, login: str) -> None:
        super().__init__(login)
        self.login = login


class BannedFromServer(Refusal):
    """The account is banned until ``until`` (``math.inf``: for good)."""

    def __init__(self, until: float, reason: str) -> None:
        super().__init__(until, reason)
        self.until = until
        self.reason = reason


class SessionGone(Refusal):
    """The session was ended by the hub (ban, account removed) and acts no more."""


class NotInChannel(Refusal):
    def __init__(self, channel: str) -> None:
        super().__init__(channel)
        self.channel = channel


class NoSuchUser(Refusal):
    """No account has this nick or login (``name`` is sanitised)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class PendingFull(Refusal):
    """``nick`` is offline and already has ``limit`` private messages waiting."""

    def __init__(self, nick: str, limit: int) -> None:
        super().__init__(nick, limit)
        self.nick = nick
        self.limit = limit


class NoOneToReply(Refusal):
    """``/reply`` with no private message received yet."""


class AdminsOnly(Refusal):
    """``/command`` is for server administrators."""

    def __init__(self, command: str) -> None:
        super().__init__(command)
        self.command = command


class ChannelNameUnavailable(Refusal):
    """A private channel the user may not see already has this name.

    Only channels made before private names were ``OWNER/NAME`` (or whose
    owner's account was removed and made again) can give this.
    """

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class NotYourNamespace(Refusal):
    """``name`` is ``OWNER/NAME`` of someone else: private channels are made in one's own.

    Said whether or not such a channel exists, so it tells nothing about it.
    """

    def __init__(self, name: str, login: str) -> None:
        super().__init__(name, login)
        self.name = name
        self.login = login


class SlashIsPrivate(Refusal):
    """A public channel was asked for with a ``/`` in its name (those are private ones)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class ChannelExists(Refusal):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class NoSuchChannel(Refusal):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class InvalidChannelName(Refusal):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class CannotLeaveHome(Refusal):
    def __init__(self, channel: str) -> None:
        super().__init__(channel)
        self.channel = channel


class OnlyOwnerInvites(Refusal):
    """Only the owner, ops and admins of ``channel`` may invite people to it."""

    def __init__(self, channel: str) -> None:
        super().__init__(channel)
        self.channel = channel


class AlreadyInChannel(Refusal):
    def __init__(self, nick: str, channel: str) -> None:
        super().__init__(nick, channel)
        self.nick = nick
        self.channel = channel


class InvalidNick(Refusal):
    def __init__(self, nick: str) -> None:
        super().__init__(nick)
        self.nick = nick


class NickTaken(Refusal):
    """``nick`` is (``exact``: the same name, ignoring case), or looks too much
    like, the name of ``holder`` (a nick)."""

    def __init__(self, nick: str, holder: str, exact: bool = False) -> None:
        super().__init__(nick, holder, exact)
        self.nick = nick
        self.holder = holder
        self.exact = exact


class NotAway(Refusal):
    pass


class PrivateHomeChannel(Refusal):
    def __init__(self, channel: str) -> None:
        super().__init__(channel)
        self.channel = channel


class NothingToSend(Refusal):
    pass


class MessageTooLong(Refusal):
    def __init__(self, length: int, limit: int) -> None:
        super().__init__(length, limit)
        self.length = length
        self.limit = limit


class PasteTooLong(Refusal):
    """A multi-line message of ``lines`` lines; at most ``limit`` are allowed."""

    def __init__(self, lines: int, limit: int) -> None:
        super().__init__(lines, limit)
        self.lines = lines
        self.limit = limit


class RateLimited(Refusal):
    """The account's ``budget`` (a :class:`~sshchat.core.ratelimit.Budget` value) is
    used up: ``burst`` at once, then ``rate`` per second; ``wait`` seconds until
    the next one is allowed."""

    def __init__(self, budget: str, burst: int, rate: float, wait: float) -> None:
        super().__init__(budget, burst, rate, wait)
        self.budget = budget
        self.burst = burst
        self.rate = rate
        self.wait = wait


class AlreadyOp(Refusal):
    """``nick`` is already an operator of ``channel`` (or its owner)."""

    def __init__(self, nick: str, channel: str) -> None:
        super().__init__(nick, channel)
        self.nick = nick
        self.channel = channel


class AlreadyInvited(Refusal):
    """``nick`` was already invited to ``channel``."""

    def __init__(self, nick: str, channel: str) -> None:
        super().__init__(nick, channel)
        self.nick = nick
        self.channel = channel


class NotAnOperator(Refusal):
    """Only the owner, ops and admins may ``action`` (``"topic"`` or ``"kick"``) here."""

    def __init__(self, channel: str, action: str) -> None:
        super().__init__(channel, action)
        self.channel = channel
        self.action = action


class TopicTooLong(Refusal):
    def __init__(self, length: int, limit: int) -> None:
        super().__init__(length, limit)
        self.length = length
        self.limit = limit


class NotChannelOwner(Refusal):
    """Only the owner of ``channel`` (or an admin) may ``action`` it (``ops``, ``drop``)."""

    def __init__(self, channel: str, action: str = "ops") -> None:
        super().__init__(channel, action)
        self.channel = channel
        self.action = action


class TooManyChannels(Refusal):
    """The user already owns ``limit`` channels, the most allowed (``[limits]``)."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class CannotDropHome(Refusal):
    def __init__(self, channel: str) -> None:
        super().__init__(channel)
        self.channel = channel


class NotAnOpOf(Refusal):
    def __init__(self, nick: str, channel: str) -> None:
        super().__init__(nick, channel)
        self.nick = nick
        self.channel = channel


class HomeChannelNoKick(Refusal):
    def __init__(self, channel: str) -> None:
        super().__init__(channel)
        self.channel = channel


class NotAMember(Refusal):
    """``nick`` is not in ``channel`` (so cannot be kicked from it)."""

    def __init__(self, nick: str, channel: str) -> None:
        super().__init__(nick, channel)
        self.nick = nick
        self.channel = channel


class OwnerCannotBeKicked(Refusal):
    def __init__(self, nick: str, channel: str) -> None:
        super().__init__(nick, channel)
        self.nick = nick
        self.channel = channel


class NotYourself(Refusal):
    """``action`` (``ban``, ``mute``, ``ignore``) cannot target oneself."""

    def __init__(self, action: str) -> None:
        super().__init__(action)
        self.action = action


class NotBanned(Refusal):
    def __init__(self, nick: str) -> None:
        super().__init__(nick)
        self.nick = nick


class NotMuted(Refusal):
    def __init__(self, nick: str) -> None:
        super().__init__(nick)
        self.nick = nick


class Muted(Refusal):
    """The sender is muted until ``until`` (``math.inf``: for good).

    ``action`` is what was refused: ``message`` (a line, an action, a private
    message, a broadcast) or one of :data:`MUTED_ACTIONS`, every other way of
    putting text of one's own in front of others.
    """

    def __init__(self, until: float, action: str = "message") -> None:
        super().__init__(until, action)
        self.until = until
        self.action = action


MUTED_ACTIONS = ("message", "away", "topic", "nick", "create", "invite", "kick")
"""What a mute refuses (see :class:`Muted`)."""


class AlreadyIgnored(Refusal):
    def __init__(self, nick: str) -> None:
        super().__init__(nick)
        self.nick = nick


class NotIgnored(Refusal):
    def __init__(self, nick: str) -> None:
        super().__init__(nick)
        self.nick = nick


class InvalidPreference(Refusal):
    """``key`` is not a preference, or ``value`` is not one of its values."""

    def __init__(self, key: str, value: object) -> None:
        super().__init__(key, value)
        self.key = key
        self.value = value
