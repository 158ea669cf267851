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
    HomeChannelMoved,
    InvitedTo,
    LinesNotSent,
    MutedBy,
    NickReclaimed,
    NoticeKind,
    OpChanged,
    Overruled,
    RecipientOffline,
    SendingTooFast,
    SessionEnded,
    TypedNotice,
    UnmutedBy,
)
from sshchat.core.model import FOREVER, HubError
from sshchat.core.names import NAME_RULE, valid_name
from sshchat.core.replication import LogUnavailable

__all__ = ["banned_text", "notice_text", "refusal_text", "until_text"]


def until_text(deadline: float) -> str:
    """``for good``, ``for another 30s`` / ``9m`` or ``until 2026-11-25 10:00 UTC``."""
    if deadline == FOREVER:
        return "for good"
    left = max(1, math.ceil(deadline - time.time()))
    if left < 60:
        return f"for another {left}s"
    if left < 3600:
        return f"for another {math.ceil(left / 60)}m"
    return "until " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(deadline))


def banned_text(until: float, reason: str) -> str:
    why = f": {reason}" if reason else ""
    return f"you are banned from this server {until_text(until)}{why}"


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
        case r.NotInChannel():
            return f"you are not in #{err.channel}; /join it first"
        case r.NoSuchUser():
            return f"no user called {err.name!r}; /users lists everyone"
        case r.PendingFull():
            return (
                f"{err.nick} is offline and already has {err.limit} private messages "
                "waiting, the most kept, so yours was not sent; try again once they have "
                "logged in"
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
            hint = f"/create {err.name} to make it" if valid_name(err.name) else NAME_RULE
            return f"there is no channel #{err.name}; {hint}"
        case r.InvalidChannelName():
            return f"{err.name!r} is not a valid channel name: {NAME_RULE}"
        case r.CannotLeaveHome():
            return f"#{err.channel} is the home channel and cannot be left"
        case r.OnlyOwnerInvites():
            return f"only the owner of #{err.channel} can invite people to it"
        case r.AlreadyInChannel():
            return f"{err.nick} is already in #{err.channel}"
        case r.InvalidNick():
            return f"{err.nick!r} is not a valid nick: {NAME_RULE}"
        case r.NickTaken():
            return f"{err.nick!r} is taken by or looks too much like {err.holder!r}"
        case r.NotAway():
            return "you are not marked away"
        case r.PrivateHomeChannel():
            return f"#{err.channel} is a private channel, so it cannot be the home channel"
        case r.NothingToSend():
            return "nothing to send"
        case r.MessageTooLong():
            return f"message too long ({err.length} characters, the limit is {err.limit}); not sent"
        case r.NotAnOperator():
            what = "set the topic of" if err.action == "topic" else "kick from"
            return f"only the owner, ops and admins can {what} #{err.channel}"
        case r.TopicTooLong():
            return f"topic too long ({err.length} characters, the limit is {err.limit})"
        case r.NotChannelOwner():
            return f"only the owner of #{err.channel} (or an admin) can change its ops"
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
            return f"you are muted {until_text(err.until)}; nothing was sent"
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
            return text, NoticeKind.INFO
        case OpChanged():
            verb = "is now an op of" if event.op else "is no longer an op of"
            return f"{event.nick} {verb} #{event.channel} ({event.by})", NoticeKind.INFO
        case MutedBy():
            return f"You were muted by {event.by} {until_text(event.until)}.", NoticeKind.INFO
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
        case LinesNotSent():
            n = event.count
            text = (
                f"{n} line{' was' if n == 1 else 's were'} not sent "
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
                return banned_text(event.banned_until, event.reason), NoticeKind.INFO
            return event.reason, NoticeKind.INFO
    return "", NoticeKind.INFO  # pragma: no cover
