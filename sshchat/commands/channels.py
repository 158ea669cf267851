"""Commands about channels: listing, creating, entering, leaving, inviting, topics."""

from __future__ import annotations

from sshchat.commands.args import channel, choice, text, user, word
from sshchat.commands.refusals import plural
from sshchat.commands.registry import Command, Context, Topic, command
from sshchat.core.hub import HubError
from sshchat.core.model import LIST_PAGE
from sshchat.core.refusals import TooManyChannels

__all__ = ["COMMANDS"]


LIST_TOPIC = 60  # characters of a topic shown by /list
OWNED_SHOWN = 12  # channels named when the channel cap refuses a /create


@command(
    "list",
    word("PAGE|WORD", optional=True, key="what"),
    summary="channels and topics",
    description=(
        f"channels you can see, biggest first, {LIST_PAGE} at a time, with online and total "
        "members and topics; /list 2 shows the next ones, /list WORD those with WORD in their name"
    ),
    topic=Topic.CHANNELS,
)
def _list(ctx: Context, what: str | None) -> None:
    channels = ctx.hub.visible_channels(ctx.client.account)
    number = 1
    if what is not None and what.isdecimal() and what.isascii():
        number = int(what)
        what = None
    elif what is not None:
        folded = what.casefold().lstrip("#")
        channels = [c for c in channels if folded in c.name.casefold()]
    channels.sort(key=lambda c: (-len(c.members), c.name.casefold()))
    total = len(channels)
    pages = max(1, -(-total // LIST_PAGE))
    if not 1 <= number <= pages:
        if pages == 1:
            fits = "fits" if total == 1 else "fit"
            fit = f"the {plural(total, 'channel')} you can see {fits} on one page; /list shows them"
        else:
            fit = f"pages go from 1 to {pages} (/list {pages} shows the last)"
        raise HubError(f"there is no page {number}: {fit}")
    if what is not None and not channels:
        ctx.reply(f"No channel you can see has {what!r} in its name; /list shows them all.")
        return
    shown = channels[(number - 1) * LIST_PAGE : number * LIST_PAGE]
    if what is not None:
        head = f"Channels with {what!r} in their name ({total}):"
    else:
        page = f", page {number} of {pages}" if pages > 1 else ""
        head = f"Channels ({total}), biggest first{page}:"
    lines = [head]
    for chan in shown:
        flags = " (private)" if chan.private else ""
        here = " *" if chan is ctx.client.current else ""
        count = len(chan.members)
        members = f"{len(chan.online)}/{plural(count, 'member')}"
        topic = chan.topic
        if len(topic) > LIST_TOPIC:
            topic = topic[: LIST_TOPIC - 1] + "\u2026"
        lines.append(f"  #{chan.name}{flags}{here}  {members}" + (f"  {topic}" if topic else ""))
    after = total - number * LIST_PAGE
    if after > 0:
        more = f"/list {number + 1}" if what is None else "a longer WORD narrows them down"
        lines.append(f"... and {after} more: {more}")
    lines.append("(online/all members; * is the channel you are talking in; /join NAME switches.)")
    ctx.reply("\n".join(lines))


@command(
    "create",
    word("NAME"),
    choice("private", "public", optional=True, key="kind", metavar="private"),
    summary="make a new channel",
    description=(
        "create a channel and enter it; private ones are invitation-only and named after "
        "you: /create plans private makes #YOURLOGIN/plans"
    ),
    topic=Topic.CHANNELS,
)
def _create(ctx: Context, name: str, kind: str | None) -> None:
    private = kind == "private"
    try:
        ctx.hub.create_channel(ctx.client, name, private=private)
    except TooManyChannels as err:
        if err.limit == 0:
            raise
        # Name them: /list shows every channel, and the user must pick one to drop.
        login = ctx.client.account.login
        mine = [
            f"#{c.name}" for c in ctx.hub.visible_channels(ctx.client.account) if c.owner == login
        ]
        shown = ", ".join(mine[:OWNED_SHOWN]) + (", ..." if len(mine) > OWNED_SHOWN else "")
        raise HubError(
            f"you already own {plural(len(mine), 'channel')} ({shown}) and may own at most "
            f"{err.limit}; /drop one of them first"
        ) from err
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
    speaks=True,  # "alice joined #dev"
)
def _join(ctx: Context, name: str) -> None:
    ctx.hub.join(ctx.client, name)

    def joined() -> None:
        current = ctx.client.current
        topic = f" Topic: {current.topic}" if current.topic else ""
        ctx.reply(f"Now talking in #{current.name}.{topic}{_namesakes(ctx, name)}")

    ctx.hub.when_applied(joined)


def _namesakes(ctx: Context, typed: str) -> str:
    """A hint at the private channels the user can see named OWNER/``typed``.

    A bare name goes to the public channel of that name when there is one, so
    the owner or a member of ``#alice/plans`` typing ``/join plans`` next to a
    public ``#plans`` must be told where their own channel went. Only channels
    the user can see are named: nothing hidden is confirmed.
    """
    bare = typed.strip().lstrip("#").casefold()
    if not bare or "/" in bare:
        return ""
    current = ctx.client.current
    names = [
        f"#{c.name} (/join {c.name})"
        for c in ctx.hub.visible_channels(ctx.client.account)
        if c.private and c is not current and c.name.casefold().endswith("/" + bare)
    ]
    return f" Did you mean {' or '.join(names)}?" if names else ""


@command(
    "leave",
    summary="leave this channel",
    description="leave the current channel and go back to the home channel",
    topic=Topic.CHANNELS,
    aliases=("part",),
    speaks=True,
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
    description=(
        "let a user into the current channel (owner, ops, admins); they are told who invited them"
    ),
    topic=Topic.CHANNELS,
    speaks=True,
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
    speaks=lambda values: values["text"] is not None,  # alone, it only shows the topic
)
def _topic(ctx: Context, text: str | None) -> None:
    current = ctx.client.current
    if text is None:
        topic = current.topic or "(no topic set)"
        ctx.reply(f"Topic of #{current.name}: {topic}")
        return
    ctx.hub.set_topic(ctx.client, "" if text.strip() in ("-", "--clear") else text)


@command(
    "drop",
    channel("NAME", optional=True),
    summary="delete a channel",
    description=(
        "delete a channel you own (the current one, or NAME) and its history; admins may "
        "drop any but the home channel. Its members are moved to the home channel and told"
    ),
    topic=Topic.CHANNELS,
)
def _drop(ctx: Context, name: str | None) -> None:
    gone = ctx.hub.drop_channel(ctx.client, name)
    others = sum(1 for login in gone.members if login != ctx.client.account.login)
    home = ctx.hub.default_channel.name
    moved = f"; {others} member{'s' if others != 1 else ''} moved to #{home}" if others else ""
    ctx.reply(f"Dropped #{gone.name} and its history{moved}.")


COMMANDS: tuple[Command, ...] = (_list, _join, _create, _leave, _invite, _topic, _drop)
