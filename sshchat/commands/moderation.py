"""Commands of channel owners, operators and admins: ops, kicks, bans, mutes, broadcasts."""

from __future__ import annotations

from sshchat.commands.args import duration, text, user
from sshchat.commands.refusals import until_text
from sshchat.commands.registry import Command, Context, Topic, command
from sshchat.core.hub import FOREVER

__all__ = ["COMMANDS"]


def _lasting(ctx: Context, duration: float | None) -> str:
    """``for 10 minutes`` or ``for good``: what was just decided, as typed.

    From the duration typed, not from the account: in cluster mode the fact
    is applied only once the shared log has it, after this reply.
    """
    if duration is None:
        return until_text(FOREVER)
    now = ctx.hub.clock()
    return until_text(now + duration, since=now)


@command(
    "op",
    user("NICK"),
    summary="make a channel operator",
    description="make a user an operator of the current channel (channel owner)",
    topic=Topic.MODERATION,
    speaks=True,
)
def _op(ctx: Context, nick: str) -> None:
    ctx.hub.set_op(ctx.client, nick, op=True)


@command(
    "deop",
    user("NICK"),
    summary="take operator rights",
    description="take a user's operator rights in the current channel away (channel owner)",
    topic=Topic.MODERATION,
    speaks=True,
)
def _deop(ctx: Context, nick: str) -> None:
    ctx.hub.set_op(ctx.client, nick, op=False)


@command(
    "kick",
    user("NICK"),
    text("REASON", optional=True),
    summary="remove from this channel",
    description="remove a user from the current channel (owner, ops, admins)",
    topic=Topic.MODERATION,
    speaks=True,
)
def _kick(ctx: Context, nick: str, reason: str | None) -> None:
    ctx.hub.kick(ctx.client, nick, reason or "")


@command(
    "ban",
    user("USER"),
    duration(),
    text("REASON", optional=True),
    summary="refuse a user's logins",
    description="end a user's sessions and refuse their logins, e.g. /ban bob 1d spam",
    topic=Topic.MODERATION,
    admin=True,
    speaks=True,
)
def _ban(ctx: Context, user: str, duration: float | None, reason: str | None) -> None:
    who = ctx.hub.ban(ctx.client, user, duration, reason or "")
    why = f": {who.ban_reason}" if who.ban_reason else ""
    ctx.reply(f"Banned {who.nick} {_lasting(ctx, duration)}{why}.")


@command(
    "unban",
    user("USER"),
    summary="lift a ban",
    description="lift a ban",
    topic=Topic.MODERATION,
    admin=True,
)
def _unban(ctx: Context, user: str) -> None:
    who = ctx.hub.unban(ctx.client, user)
    ctx.reply(f"{who.nick} may log in again.")


@command(
    "mute",
    user("USER"),
    duration(),
    summary="stop a user talking",
    description=(
        "stop a user from putting any text in front of others: messages, away reasons, "
        "topics, nicks, channels, invitations (they can still read), e.g. /mute bob 10m"
    ),
    topic=Topic.MODERATION,
    admin=True,
    speaks=True,
)
def _mute(ctx: Context, user: str, duration: float | None) -> None:
    who = ctx.hub.mute(ctx.client, user, duration)
    ctx.reply(f"Muted {who.nick} {_lasting(ctx, duration)}.")


@command(
    "unmute",
    user("USER"),
    summary="let a user talk again",
    description="let a muted user talk again",
    topic=Topic.MODERATION,
    admin=True,
    speaks=True,
)
def _unmute(ctx: Context, user: str) -> None:
    who = ctx.hub.unmute(ctx.client, user)
    ctx.reply(f"Unmuted {who.nick}.")


@command(
    "broadcast",
    text("TEXT"),
    summary="message everyone online",
    description="message every online user, wherever they are",
    topic=Topic.MODERATION,
    admin=True,
    speaks=True,
    multiline=True,
)
def _broadcast(ctx: Context, text: str) -> None:
    ctx.hub.broadcast(ctx.client, text)


COMMANDS: tuple[Command, ...] = (_op, _deop, _kick, _ban, _unban, _mute, _unmute, _broadcast)
