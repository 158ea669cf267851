"""Commands for per-user display preferences; alone, each shows the current setting.

Preferences change through :meth:`Hub.set_preference`, which also keeps them,
never by writing ``account.prefs`` here.
"""

from __future__ import annotations

from sshchat.commands.args import choice, on_off
from sshchat.commands.registry import Command, Context, Topic, command
from sshchat.core.prefs import BELL_MODES

__all__ = ["COMMANDS"]


def _state(on: bool) -> str:
    return "on" if on else "off"


@command(
    "quiet",
    on_off(),
    summary="hide join/leave notices",
    description="hide join, leave and connect notices; alone, say whether they are hidden",
    topic=Topic.SETTINGS,
)
def _quiet(ctx: Context, setting: str | None) -> None:
    if setting is None:
        hidden = ctx.client.account.prefs.quiet
        ctx.reply(
            "Join and leave notices are "
            + ("hidden (/quiet off shows them)." if hidden else "shown (/quiet on hides them).")
        )
        return
    ctx.hub.set_preference(ctx.client, "quiet", setting == "on")
    quiet = ctx.client.account.prefs.quiet
    ctx.reply("Join and leave notices are now " + ("hidden." if quiet else "shown."))


@command(
    "bell",
    choice(*BELL_MODES, optional=True, key="mode"),
    summary="when to ring the bell",
    description=(
        "when to ring the terminal bell: for every message, never, or on mentions"
        " and private messages; alone, show the setting"
    ),
    topic=Topic.SETTINGS,
)
def _bell(ctx: Context, mode: str | None) -> None:
    if mode is None:
        current = ctx.client.account.prefs.bell
        ctx.reply(f"Bell: {current}. Change it with /bell {'|'.join(BELL_MODES)}.")
        return
    ctx.hub.set_preference(ctx.client, "bell", mode)
    ctx.reply(f"Bell: {mode}.")


@command(
    "timestamps",
    on_off(),
    summary="show times on lines",
    description="show or hide the time in front of lines; alone, show the setting",
    topic=Topic.SETTINGS,
)
def _timestamps(ctx: Context, setting: str | None) -> None:
    if setting is None:
        on = ctx.client.account.prefs.timestamps
        ctx.reply(f"Timestamps are {_state(on)} (/timestamps {_state(not on)} to change).")
        return
    ctx.hub.set_preference(ctx.client, "timestamps", setting == "on")
    ctx.reply("Timestamps " + ("on." if ctx.client.account.prefs.timestamps else "off."))


@command(
    "color",
    on_off(),
    summary="colours on or off",
    description="turn colours on or off (like NO_COLOR); alone, show the setting",
    topic=Topic.SETTINGS,
)
def _color(ctx: Context, setting: str | None) -> None:
    if setting is None:
        on = ctx.client.account.prefs.color
        ctx.reply(f"Colour is {_state(on)} (/color {_state(not on)} to change).")
        return
    ctx.hub.set_preference(ctx.client, "color", setting == "on")
    ctx.reply("Colour " + ("on." if ctx.client.account.prefs.color else "off."))


COMMANDS: tuple[Command, ...] = (_quiet, _bell, _timestamps, _color)
