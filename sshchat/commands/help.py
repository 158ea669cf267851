"""``/help``: the commands a user may use, grouped by topic, laid out for their terminal.

The list is meant to fit an 80x24 terminal: a few words per command, two
commands side by side when the width allows, admin-only commands only for
admins. ``/help COMMAND`` gives the whole story: usage, description, what
the arguments look like, aliases. Nothing is ever broken in the middle of a
word; plain line mode, which has no width, gets 80 columns.
"""

from __future__ import annotations

from sshchat.commands.args import command_name
from sshchat.commands.layout import columns, wrap
from sshchat.commands.registry import (
    Command,
    CommandRegistry,
    Context,
    Topic,
    command,
    did_you_mean,
)
from sshchat.core.hub import HubError
from sshchat.core.text import sanitize

__all__ = ["COMMANDS", "command_help", "help_list"]

INDENT = "  "
ROWS = 24  # the list fits a terminal this tall when it can


def help_list(registry: CommandRegistry, *, admin: bool, width: int | None) -> list[str]:
    """The ``/help`` list for a user (``admin`` or not) on a terminal ``width`` wide."""
    available = registry.available(admin)
    name_width = max(len(cmd.name) + 1 for cmd in available)
    entries = {cmd.name: f"/{cmd.name:<{name_width - 1}}  {cmd.summary}" for cmd in available}
    cell = max(len(entry) for entry in entries.values()) + 2
    lines = wrap("Commands by topic. /help COMMAND shows how to use one.", width)
    for topic in Topic:
        group = [cmd for cmd in available if cmd.topic is topic]
        if not group:
            continue
        lines.append(f"{topic.value}:")
        laid_out = columns([entries[cmd.name] for cmd in group], width, indent=INDENT, cell=cell)
        if all(len(line) <= (width or 80) for line in laid_out):
            lines += laid_out
            continue
        # Too narrow for one entry a line: each summary wraps beside its name,
        # or below it when even that leaves too little room.
        hang = " " * (len(INDENT) + name_width + 2)
        for cmd in group:
            if (width or 80) - len(hang) >= 12:
                first = f"{INDENT}/{cmd.name:<{name_width - 1}}  "
                lines += wrap(cmd.summary, width, indent=first, hang=hang)
            else:
                lines.append(f"{INDENT}/{cmd.name}")
                lines += wrap(cmd.summary, width, indent=INDENT * 3)
    footer = wrap(
        "Lines without a / in front are chat (// sends one). Ctrl-D or /quit leaves.", width
    )
    if len(lines) + len(footer) > ROWS >= len(lines):
        return lines  # the tip goes before the list scrolls off (admins see more commands)
    return lines + footer


def command_help(cmd: Command, *, width: int | None) -> list[str]:
    """``/help COMMAND``: usage, description, argument notes and aliases."""
    lines = wrap(f"usage: {cmd.usage_line}", width, hang=INDENT + INDENT)
    lines += wrap(cmd.about, width, indent=INDENT)
    if cmd.admin:
        lines.append(f"{INDENT}(admins only)")
    for arg in cmd.args:
        if arg.note:
            lines += wrap(arg.note, width, indent=INDENT)
    if cmd.aliases:
        also = ", ".join(f"/{alias}" for alias in cmd.aliases)
        lines += wrap(f"aliases: {also}", width, indent=INDENT)
    return lines


@command(
    "help",
    command_name(),
    summary="this list, or one command",
    description="list the commands, or show how to use one: /help join",
    topic=Topic.CHATTING,
)
def _help(ctx: Context, command: str | None) -> None:
    width = ctx.session.width
    registry = ctx.registry
    if command is None:
        ctx.reply("\n".join(help_list(registry, admin=ctx.client.account.admin, width=width)))
        return
    cmd = registry.get(command)
    if cmd is None:
        hints = did_you_mean(registry.suggest(command, ctx.client.account.admin))
        raise HubError(f"no command /{sanitize(command)}.{hints} Type /help for the list.")
    ctx.reply("\n".join(command_help(cmd, width=width)))


COMMANDS: tuple[Command, ...] = (_help,)
