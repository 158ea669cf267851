"""Commands for talking: private messages, actions, away status, history, leaving."""

from __future__ import annotations

from sshchat.commands.args import integer, text, user
from sshchat.commands.registry import Command, Context, Outcome, Topic, command

__all__ = ["COMMANDS", "GOODBYE"]

#: What a user leaving is told, by /quit and on Ctrl-D alike.
GOODBYE = "Bye!"


@command(
    "msg",
    user("NICK"),
    text("TEXT"),
    summary="private message",
    description="private message to one user, by nick or login name",
    topic=Topic.CHATTING,
    aliases=("query", "w"),
    speaks=True,
    multiline=True,
)
def _msg(ctx: Context, nick: str, text: str) -> None:
    recipient = ctx.hub.private_message(ctx.client, nick, text)
    if recipient.away is not None:
        # The reason is the user's own text: who ignores them is not shown it.
        ignored = recipient.login in ctx.client.account.ignored
        why = f": {recipient.away}" if recipient.away and not ignored else "."
        ctx.reply(f"{recipient.nick} is away{why}")


@command(
    "reply",
    text("TEXT"),
    summary="answer the last PM",
    description="answer the last private message you received",
    topic=Topic.CHATTING,
    speaks=True,
    multiline=True,
)
def _reply(ctx: Context, text: str) -> None:
    ctx.hub.reply(ctx.client, text)


@command(
    "me",
    text("ACTION"),
    summary="action: * alice waves",
    description="say what you are doing: /me waves shows * alice waves",
    topic=Topic.CHATTING,
    speaks=True,
    multiline=True,
)
def _me(ctx: Context, action: str) -> None:
    ctx.hub.say(ctx.client, action, action=True)


@command(
    "away",
    text("REASON", optional=True),
    summary="mark yourself away",
    description="mark yourself away, with a reason others see; /back clears it",
    topic=Topic.CHATTING,
)
def _away(ctx: Context, reason: str | None) -> None:
    ctx.hub.set_away(ctx.client, reason or "")
    away = ctx.client.account.away
    why = f" ({away})" if away else ""
    ctx.reply(f"You are marked away{why}. Type /back when you return.")


@command(
    "back",
    summary="no longer away",
    description="clear your away status",
    topic=Topic.CHATTING,
)
def _back(ctx: Context) -> None:
    ctx.hub.set_back(ctx.client)
    ctx.reply("Welcome back; you are no longer marked away.")


@command(
    "history",
    integer("N", minimum=1, optional=True),
    summary="recent lines again",
    description="show the last N lines of the current channel (N is a number of lines)",
    topic=Topic.CHATTING,
)
def _history(ctx: Context, n: int | None) -> None:
    ctx.hub.history(ctx.client, n if n is not None else (ctx.hub.history_lines or 50))


@command(
    "motd",
    summary="message of the day",
    description="show the welcome and message of the day again",
    topic=Topic.CHATTING,
)
def _motd(ctx: Context) -> None:
    ctx.reply(ctx.session.welcome or "This server has no message of the day.")


@command(
    "clear",
    summary="clear the screen",
    description="clear the screen (on a terminal; plain line mode has no screen)",
    topic=Topic.CHATTING,
)
def _clear(ctx: Context) -> Outcome | None:
    if not ctx.session.pty:
        ctx.reply("There is nothing to clear: this session has no terminal (plain line mode).")
        return None
    return Outcome.CLEAR


@command(
    "quit",
    summary="disconnect",
    description="disconnect (Ctrl-D on an empty line does the same)",
    topic=Topic.CHATTING,
    aliases=("exit",),
    unlimited=True,
)
def _quit(ctx: Context) -> Outcome:
    ctx.reply(GOODBYE)
    return Outcome.QUIT


COMMANDS: tuple[Command, ...] = (
    _msg,
    _reply,
    _me,
    _away,
    _back,
    _history,
    _motd,
    _clear,
    _quit,
)
