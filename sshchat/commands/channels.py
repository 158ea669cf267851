"""Commands about channels: listing, creating, entering, leaving, inviting, topics."""

from __future__ import annotations

from sshchat.commands.args import channel, choice, text, user, word
from sshchat.commands.registry import Command, Context, Topic, command

__all__ = ["COMMANDS"]


@command(
    "list",
    summary="channels and topics",
    description="channels you can see, with member counts and topics",
    topic=Topic.CHANNELS,
)
def _list(ctx: Context) -> None:
    channels = ctx.hub.visible_channels(ctx.client.account)
    lines = ["Channels:"]
    for chan in channels:
        flags = " (private)" if chan.private else ""
        here = " *" if chan is ctx.client.current else ""
        count = len(chan.members)
        members = f"{count} member{'s' if count != 1 else ''}"
        topic = f"  {chan.topic}" if chan.topic else ""
        lines.append(f"  #{chan.name}{flags}{here}  {members}{topic}")
    lines.append("(* is the channel you are talking in; /join NAME switches.)")
    ctx.reply("\n".join(lines))


@command(
    "create",
    word("NAME"),
    choice("private", "public", optional=True, key="kind", metavar="private"),
    summary="make a new channel",
    description="create a channel and enter it; private ones are invitation-only",
    topic=Topic.CHANNELS,
)
def _create(ctx: Context, name: str, kind: str | None) -> None:
    private = kind == "private"
    ctx.hub.create_channel(ctx.client, name, private=private)
    what = "private channel" if private else "channel"
    extra = " Let people in with /invite NICK." if private else ""
    # Confirmed once applied: in cluster mode another node may take the name
    # first, and the user is then told that instead (never first told it is theirs).
    ctx.hub.when_applied(
        lambda: ctx.reply(f"Created {what} #{ctx.client.current.name}; you own it.{extra}")
    )


@command(
    "join",
    channel("NAME"),
    summary="enter a channel",
    description="enter a channel, or switch to it if you are already in it",
    topic=Topic.CHANNELS,
    aliases=("j",),
)
def _join(ctx: Context, name: str) -> None:
    ctx.hub.join(ctx.client, name)

    def joined() -> None:
        current = ctx.client.current
        topic = f" Topic: {current.topic}" if current.topic else ""
        ctx.reply(f"Now talking in #{current.name}.{topic}")

    ctx.hub.when_applied(joined)


@command(
    "leave",
    summary="leave this channel",
    description="leave the current channel and go back to the home channel",
    topic=Topic.CHANNELS,
    aliases=("part",),
)
def _leave(ctx: Context) -> None:
    left = ctx.hub.leave(ctx.client)
    ctx.hub.when_applied(
        lambda: ctx.reply(f"You left #{left.name}; now talking in #{ctx.client.current.name}.")
    )


@command(
    "invite",
    user("NICK"),
    summary="let a user in",
    description="let a user into the current (private) channel; they are told",
    topic=Topic.CHANNELS,
)
def _invite(ctx: Context, nick: str) -> None:
    invitee = ctx.hub.invite(ctx.client, nick)
    ctx.reply(f"Invited {invitee.nick} to #{ctx.client.current.name}.")


@command(
    "topic",
    text("TEXT", optional=True),
    summary="show or set the topic",
    description="show the channel topic, or set it (owner, ops, admins); /topic - clears it",
    topic=Topic.CHANNELS,
)
def _topic(ctx: Context, text: str | None) -> None:
    current = ctx.client.current
    if text is None:
        topic = current.topic or "(no topic set)"
        ctx.reply(f"Topic of #{current.name}: {topic}")
        return
    ctx.hub.set_topic(ctx.client, "" if text.strip() in ("-", "--clear") else text)


COMMANDS: tuple[Command, ...] = (_list, _join, _create, _leave, _invite, _topic)
