"""Slash-commands: what a command is, the registry of them, and dispatching a typed line.

A front end hands every line the user types to :func:`handle_line`. Lines not
starting with ``/`` are chat messages; ``//text`` sends a literal ``/text``.
Commands are case-insensitive; wrong usage prints that command's usage line
and what was wrong; an unknown command says so, suggests the nearest real
ones and points at ``/help``.

The registry is a value, not a module-level singleton: :func:`sshchat.commands.build_registry`
makes one with every built-in command, the composition root hands it to the
front ends, and an extension may :meth:`CommandRegistry.add` its own. Each
command declares its arguments (:mod:`sshchat.commands.args`), which drive
parsing, the usage line, ``/help`` and Tab completion alike.

Command output goes back to the issuing session as :class:`~sshchat.core.events.Notice`
events through :meth:`Hub.notify`, so it travels the same queue as chat lines.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cache

from sshchat.commands.args import Arg, ArgError, check, parse
from sshchat.commands.refusals import refusal_text
from sshchat.core.hub import Client, Hub, HubError
from sshchat.core.text import sanitize

__all__ = [
    "Command",
    "CommandRegistry",
    "Context",
    "Outcome",
    "Session",
    "Topic",
    "command",
    "default_registry",
    "handle_line",
]


class Outcome(Enum):
    """What the front end should do after a line was handled."""

    CONTINUE = "continue"
    QUIT = "quit"
    CLEAR = "clear"  # clear the screen (only asked of front ends that have one)


class Topic(Enum):
    """The groups of ``/help``, in the order they are shown."""

    CHATTING = "Chatting"
    CHANNELS = "Channels"
    PEOPLE = "People"
    SETTINGS = "Settings"
    MODERATION = "Moderation"


@dataclass(frozen=True)
class Session:
    """What a command may know about the session that typed it.

    ``width`` is the terminal's width in columns (plain line mode has none:
    80); ``pty`` says whether there is a screen to clear; ``welcome`` is the
    message of the day the session was greeted with.
    """

    width: int = 80
    pty: bool = False
    welcome: str = ""


@dataclass(frozen=True)
class Context:
    """What a command handler works with."""

    hub: Hub
    client: Client
    registry: CommandRegistry
    session: Session = field(default_factory=Session)

    def reply(self, text: str) -> None:
        self.hub.notify(self.client, text)


# A handler takes the context and the parsed arguments as keyword arguments
# named by the arguments' keys; mypy cannot see those, so Command checks them.
Handler = Callable[..., "Outcome | None"]


@dataclass(frozen=True)
class Command:
    """One slash-command.

    ``summary`` is the few words of the ``/help`` list; ``description`` the
    sentence of ``/help COMMAND`` (the summary when empty).
    """

    name: str
    handler: Handler
    args: tuple[Arg, ...] = ()
    summary: str = ""
    description: str = ""
    topic: Topic = Topic.CHATTING
    aliases: tuple[str, ...] = ()
    admin: bool = False

    def __post_init__(self) -> None:
        check(self.args)
        params = list(inspect.signature(self.handler).parameters)
        wanted = ["ctx", *(arg.key for arg in self.args)]
        if params != wanted:
            raise TypeError(f"/{self.name}: the handler takes {params}, its arguments are {wanted}")

    @property
    def usage(self) -> str:
        return " ".join(arg.usage for arg in self.args)

    @property
    def usage_line(self) -> str:
        return f"/{self.name} {self.usage}".rstrip()

    @property
    def about(self) -> str:
        return self.description or self.summary

    def parse(self, argtext: str) -> dict[str, object]:
        return parse(self.args, argtext)

    def run(self, ctx: Context, values: dict[str, object]) -> Outcome | None:
        return self.handler(ctx, **values)


def command(
    name: str,
    *args: Arg,
    summary: str,
    description: str = "",
    topic: Topic,
    aliases: Sequence[str] = (),
    admin: bool = False,
) -> Callable[[Handler], Command]:
    """Decorator turning a handler into a :class:`Command` (it registers nothing)."""

    def make(handler: Handler) -> Command:
        return Command(
            name, handler, tuple(args), summary, description, topic, tuple(aliases), admin
        )

    return make


class CommandRegistry:
    """Every command by name and alias; also the source of ``/help`` and suggestions."""

    def __init__(self, commands: Sequence[Command] = ()) -> None:
        self._commands: dict[str, Command] = {}
        self._by_word: dict[str, Command] = {}
        for cmd in commands:
            self.add(cmd)

    def add(self, cmd: Command) -> None:
        """Register ``cmd``; a name or alias already taken is a programming error."""
        words = [cmd.name.lower(), *(alias.lower() for alias in cmd.aliases)]
        for word in words:
            if word in self._by_word or not re.fullmatch(r"[a-z][a-z0-9_-]*", word):
                raise ValueError(f"/{word}: already taken or not a valid command name")
        self._commands[cmd.name.lower()] = cmd
        for word in words:
            self._by_word[word] = cmd

    def get(self, name: str) -> Command | None:
        """The command called ``name`` (by name or alias, any case)."""
        return self._by_word.get(name.lower())

    def names(self) -> list[str]:
        return sorted(self._commands)

    def __iter__(self) -> Iterator[Command]:
        return iter(self._commands[name] for name in self.names())

    def __len__(self) -> int:
        return len(self._commands)

    def available(self, admin: bool) -> list[Command]:
        """The commands a user sees: admin-only ones only for admins."""
        return [cmd for cmd in self if admin or not cmd.admin]

    def suggest(self, typed: str, admin: bool = True) -> list[str]:
        """Real command names that ``typed`` (an unknown name) probably meant.

        Names starting with ``typed`` come first (``/m``: ``/me``, ``/msg``...);
        otherwise names one or two edits away (``jion``: ``join``), never
        merely similar-looking ones (``clear`` is not ``leave``).
        """
        typed = typed.lower()
        if not typed:
            return []
        words: dict[str, str] = {}
        for cmd in self.available(admin):
            for word in (cmd.name, *cmd.aliases):
                words[word] = cmd.name
        prefixed = sorted({words[w] for w in words if w.startswith(typed)})
        if prefixed:
            return prefixed
        allowed = 1 if len(typed) <= 4 else 2
        near = sorted({words[w] for w in words if _edit_distance(typed, w) <= allowed})
        return near


def _edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, changes, swaps."""
    if abs(len(a) - len(b)) > 2:
        return 3
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[len(b)]


@cache
def default_registry() -> CommandRegistry:
    """The built-in commands, for callers that were not handed a registry."""
    from sshchat.commands import build_registry  # the topic modules import this one

    return build_registry()


def handle_line(
    hub: Hub,
    client: Client,
    line: str,
    registry: CommandRegistry | None = None,
    session: Session | None = None,
) -> Outcome:
    """Act on one line typed by ``client``. Never raises for bad input."""
    registry = registry if registry is not None else default_registry()
    line = line.rstrip("\r\n")
    if not line.strip():
        return Outcome.CONTINUE
    if not _is_quit(registry, line) and not hub.admit_line(client):
        return Outcome.CONTINUE
    try:
        if line.startswith("//"):
            hub.say(client, line[1:])
        elif line.startswith("/"):
            ctx = Context(hub, client, registry, session or Session())
            return _run_command(ctx, line[1:]) or Outcome.CONTINUE
        else:
            hub.say(client, line)
    except HubError as err:
        hub.notify(client, refusal_text(err), error=True)
    return Outcome.CONTINUE


_NAME_AND_ARGS = re.compile(r"(\S*)(.*)", re.DOTALL)


def _is_quit(registry: CommandRegistry, line: str) -> bool:
    """``/quit`` (or an alias of it) alone is never rate limited."""
    words = line.split()
    if len(words) != 1 or not words[0].startswith("/"):
        return False
    cmd = registry.get(words[0][1:])
    return cmd is not None and cmd.name == "quit"


def _run_command(ctx: Context, text: str) -> Outcome | None:
    # The name ends at the first white space of any kind (tab, no-break space...),
    # as arguments are split on any white space too.
    name, argtext = _NAME_AND_ARGS.match(text).groups()  # type: ignore[union-attr]
    name = sanitize(name)
    registry = ctx.registry
    cmd = registry.get(name)
    if cmd is None:
        hints = registry.suggest(name, ctx.client.account.admin)
        ctx.hub.notify(
            ctx.client,
            f"unknown command /{name}.{did_you_mean(hints)} Type /help for the list.",
            error=True,
        )
        return None
    if cmd.admin and not ctx.client.account.admin:
        ctx.hub.notify(ctx.client, f"/{cmd.name} is for admins only", error=True)
        return None
    try:
        values = cmd.parse(argtext)
    except ArgError as err:
        ctx.hub.notify(ctx.client, usage_error(cmd, err), error=True)
        return None
    return cmd.run(ctx, values)


def did_you_mean(hints: Sequence[str], limit: int = 4) -> str:
    """`` Did you mean /me, /motd or /msg?`` (empty when there is nothing to suggest)."""
    names = [f"/{hint}" for hint in hints[:limit]]
    if not names:
        return ""
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return f" Did you mean {listed}?"


def usage_error(cmd: Command, err: ArgError) -> str:
    """``usage: /mute USER [DURATION] — DURATION is ...``: the usage line and what was wrong."""
    problem = str(err)
    if err.arg is None:  # words left over
        problem = f"/{cmd.name} takes nothing after it" if not cmd.args else problem
    return f"usage: {cmd.usage_line} — {sanitize(problem)}. /help {cmd.name} says more."
