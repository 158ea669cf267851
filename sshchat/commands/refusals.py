"""The words for the hub's typed refusals and notices: what a user is told.

The core raises :mod:`~sshchat.core.refusals` and delivers typed notice
events carrying data only; this module turns them into today's sentences.
"""

from __future__ import annotations

import math
import time

from sshchat.core import refusals as r
from sshchat.core.events import (
    AdminStatus,
    ChannelGone,
    HomeChannelMoved,
    InvitedTo,
    LinesNotSent,
    MutedBy,
    NickReclaimed,
    NoticeKind,
    OnlineNow,
    OpChanged,
    Overruled,
    RecipientOffline,
    SendingTooFast,
    SessionEnded,
    TypedNotice,
    UnmutedBy,
)
from sshchat.core.model import FOREVER, HubError
from sshchat.core.names import NAME_RULE, valid_channel_name, valid_name
from sshchat.core.replication import LogUnavailable, StateReplaced

__all__ = [
    "banned_text",
    "duration_text",
    "muted_text",
    "notice_text",
    "online_text",
    "plural",
    "refusal_text",
    "until_text",
]


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 line``, ``2 lines``, ``0 lines`` (``words``: an irregular plural)."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


def duration_text(seconds: float) -> str:
    """A span of time as people say it: ``45 seconds``, ``1 minute``, ``2 hours 5 minutes``.

    Rounded up to the unit shown (a wait is never shown shorter than it is):
    seconds below a minute, minutes below an hour, hours and minutes below a day.
    """
    left = max(1, math.ceil(seconds - 1e-6))
    if left < 60:
        return plural(left, "second")
    minutes = math.ceil(left / 60)
    if minutes < 60:
        return plural(minutes, "minute")
    hours, minutes = divmod(minutes, 60)
    if minutes == 0:
        return plural(hours, "hour")
    return f"{plural(hours, 'hour')} {plural(minutes, 'minute')}"


def until_text(deadline: float, *, since: float | None = None) -> str:
    """How long a ban or mute lasts: ``for good``, ``for 10 minutes`` (``since`` it
    began: a fresh one), ``for another 59 seconds`` (what is left now), or
    ``until 2026-11-25 10:00 UTC`` for a day or more."""
    if deadline == FOREVER:
        return "for good"
    start = time.time() if since is None else since
    left = deadline - start
    if left >= 86400:
        return "until " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(deadline))
    return f"for {'' if since is not None else 'another '}{duration_text(left)}"


def banned_text(until: float, reason: str, *, since: float | None = None) -> str:
    """Why a login is refused (``since``: the ban has just begun, at that time)."""
    why = f": {reason}" if reason else ""
    return f"you are banned from this server {until_text(until, since=since)}{why}"


def online_text(event: OnlineNow) -> str:
    """``You are in #lobby: 4 online: alice, bob, carol, dave`` (just the count when big).

    Said once a session has landed: in the channel its account used last, which
    need not be the home channel.
    """
    head = f"You are in #{event.channel}: {event.count} online"
    return f"{head}: {', '.join(event.nicks)}" if event.nicks else head


# What a mute refused, and what the user may still do instead.
_MUTED = {
    "message": "nothing was sent",
    "away": (
        "others would see that reason, so nothing was changed; /away alone still marks you away"
    ),
    "topic": "you cannot change topics; nothing was changed",
    "nick": "you cannot change your nick; nothing was changed",
    "create": "you cannot create channels; nothing was created",
    "invite": "you cannot invite anyone; nobody was invited",
    "kick": (
        "others would see that reason, so nobody was kicked; /kick NICK without one still works"
    ),
}


def muted_text(until: float, action: str) -> str:
    """``you are muted for another 5m; nothing was sent`` and its kin for other actions."""
    what = _MUTED.get(action, _MUTED["message"])
    sep = "; " if action == "message" else ": "
    return f"you are muted {until_text(until)}{sep}{what}"


def refusal_text(err: HubError) -> str:
    """The sentence the user sees for ``err`` (a plain HubError says its own text)."""
    if not isinstance(err, r.Refusal):
        return str(err)
    match err:
        case r.NoSuchAccount():
            return f"no account named {err.login!r}"
        case r.BannedFromServer():
            return banned_text(err.until, err.reason)
        case r.SessionGone():
            return "this session has ended"
        case LogUnavailable():
            return (
                f"not sent: the chat's shared log (Redis) could not be reached for "
                f"{err.seconds:.0f}s; try again in a moment"
            )
        case StateReplaced():
            return (
                "not done: the chat's shared log (Redis) lost its data just then and the chat's "
                "state was restored from another server; check and try again"
            )
        case r.NotInChannel():
            return f"you are not in #{err.channel}; /join it first"
        case r.NoSuchUser():
            return f"no user called {err.name!r}; /users lists everyone"
        case r.PendingFull():
            return (
                f"{err.nick} is offline and already has "
                f"{plural(err.limit, 'private message')} waiting, the most kept, so yours "
                "was not sent; try again once they have logged in"
            )
        case r.NoOneToReply():
            return "nobody has sent you a private message yet; use /msg NICK TEXT"
        case r.AdminsOnly():
            return f"/{err.command} is for admins only"
        case r.ChannelNameUnavailable():
            return f"the name #{err.name} is not available; choose another one"
        case r.ChannelExists():
            return f"#{err.name} already exists; /join {err.name} to enter it"
        case r.NoSuchChannel():
            if valid_name(err.name):
                hint = f"/create {err.name} to make it"
            elif valid_channel_name(err.name):
                hint = "private channels (OWNER/NAME) are made by their owner, who invites people"
            else:
                hint = NAME_RULE
            return f"there is no channel #{err.name}; {hint}"
        case r.NotYourNamespace():
            return (
                f"#{err.name} is not yours to create: your private channels are named "
                f"{err.login}/NAME (/create NAME private)"
            )
        case r.SlashIsPrivate():
            return (
                f"{err.name!r} is not a public channel name: names with a '/' are private "
                "channels (OWNER/NAME); /create NAME private makes one of yours"
            )
        case r.InvalidChannelName():
            return f"{err.name!r} is not a valid channel name: {NAME_RULE}"
        case r.CannotLeaveHome():
            return f"#{err.channel} is the home channel and cannot be left"
        case r.OnlyOwnerInvites():
            return f"only the owner, ops and admins of #{err.channel} can invite people to it"
        case r.AlreadyInChannel():
            return f"{err.nick} is already in #{err.channel}"
        case r.AlreadyInvited():
            return f"{err.nick} is already invited to #{err.channel}"
        case r.AlreadyOp():
            return f"{err.nick} is already an op of #{err.channel}"
        case r.InvalidNick():
            return f"{err.nick!r} is not a valid nick: {NAME_RULE}"
        case r.NickTaken():
            if not err.exact:
                return (
                    f"{err.nick!r} looks too much like {err.holder!r}, someone else's name; "
                    "choose another nick"
                )
            if err.nick == err.holder:
                return f"{err.nick!r} is taken; choose another nick"
            return f"{err.nick!r} is taken by {err.holder}; choose another nick"
        case r.NotAway():
            return "you are not marked away"
        case r.PrivateHomeChannel():
            return f"#{err.channel} is a private channel, so it cannot be the home channel"
        case r.NothingToSend():
            return "nothing to send"
        case r.MessageTooLong():
            return (
                f"message too long ({plural(err.length, 'character')}, the limit is "
                f"{err.limit}); not sent"
            )
        case r.PasteTooLong():
            return (
                f"a message may have at most {plural(err.limit, 'line')} and this one has "
                f"{err.lines}; send it in parts, or share a link to it"
            )
        case r.RateLimited():
            what = "lines" if err.budget == "messages" else "commands"
            return (
                f"you are sending {what} too fast (the limit is {err.burst} at once, then "
                f"{err.rate:g} per second); try again in {duration_text(err.wait)}"
            )
        case r.NotAnOperator():
            what = "set the topic of" if err.action == "topic" else "kick from"
            return f"only the owner, ops and admins can {what} #{err.channel}"
        case r.TopicTooLong():
            return f"topic too long ({plural(err.length, 'character')}, the limit is {err.limit})"
        case r.NotChannelOwner():
            what = "drop it" if err.action == "drop" else "change its ops"
            return f"only the owner of #{err.channel} (or an admin) can {what}"
        case r.TooManyChannels():
            if err.limit == 0:
                return "only admins can create channels on this server"
            return (
                f"you already own {err.limit} channels, the most allowed; "
                "/drop one of yours first (/list shows them)"
            )
        case r.CannotDropHome():
            return f"#{err.channel} is the home channel and cannot be dropped"
        case r.NotAnOpOf():
            return f"{err.nick} is not an op of #{err.channel}"
        case r.HomeChannelNoKick():
            return (
                f"#{err.channel} is the home channel: nobody can be kicked from it "
                "(admins can /mute or /ban)"
            )
        case r.NotAMember():
            return f"{err.nick} is not in #{err.channel}"
        case r.OwnerCannotBeKicked():
            return f"{err.nick} owns #{err.channel} and cannot be kicked"
        case r.NotYourself():
            return f"you cannot {err.action} yourself"
        case r.NotBanned():
            return f"{err.nick} is not banned"
        case r.NotMuted():
            return f"{err.nick} is not muted"
        case r.Muted():
            return muted_text(err.until, err.action)
        case r.AlreadyIgnored():
            return f"you already ignore {err.nick}"
        case r.NotIgnored():
            return f"you do not ignore {err.nick}"
        case r.InvalidPreference():
            return f"{err.value!r} is not a value of the preference {err.key!r}"
    return type(err).__name__  # pragma: no cover - a refusal without words yet


def notice_text(event: TypedNotice) -> tuple[str, NoticeKind]:
    """The text (and whether it is an error) of a typed notice event."""
    match event:
        case RecipientOffline():
            return f"{event.nick} is offline and will see it at their next login", NoticeKind.INFO
        case InvitedTo():
            text = f"{event.by} invites you to #{event.channel}: type /join {event.channel}"
            # (``by`` is named so that an unwanted inviter can be /ignored.)
            return text, NoticeKind.INFO
        case OpChanged():
            verb = "is now an op of" if event.op else "is no longer an op of"
            return f"{event.nick} {verb} #{event.channel} ({event.by})", NoticeKind.INFO
        case MutedBy():
            when = until_text(event.until, since=event.time)
            return f"You were muted by {event.by} {when}.", NoticeKind.INFO
        case UnmutedBy():
            return f"You were unmuted by {event.by}.", NoticeKind.INFO
        case AdminStatus():
            what = "now an administrator" if event.admin else "no longer an administrator"
            return f"You are {what} of this server.", NoticeKind.INFO
        case NickReclaimed():
            text = f"{event.old} is now the name of a new account, so you are {event.nick} again."
            return text, NoticeKind.INFO
        case HomeChannelMoved():
            return f"#{event.channel} is now the home channel; you are in it.", NoticeKind.INFO
        case ChannelGone():
            text = (
                f"{event.by} dropped #{event.channel} and its history; "
                f"you are back in #{event.home}."
            )
            return text, NoticeKind.INFO
        case LinesNotSent():
            n = event.count
            text = (
                f"{plural(n, 'line')} {'was' if n == 1 else 'were'} not sent "
                "because you were typing too fast"
            )
            return text, NoticeKind.ERROR
        case SendingTooFast():
            text = (
                "you are sending too fast, so lines are not being sent: the limit is "
                f"{event.burst} lines at once, then {event.rate:g} per second. "
                "Wait a moment and try again."
            )
            return text, NoticeKind.ERROR
        case Overruled():
            refusal = event.refusal
            text = refusal_text(refusal) if isinstance(refusal, HubError) else str(refusal)
            return text, NoticeKind.ERROR
        case SessionEnded():
            if event.banned_until is not None:
                text = banned_text(event.banned_until, event.reason, since=event.time)
                return text, NoticeKind.INFO
            return event.reason, NoticeKind.INFO
    return "", NoticeKind.INFO  # pragma: no cover
