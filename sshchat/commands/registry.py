"""Slash-commands: what a command is, the registry of them, and dispatching a typed line.

A front end hands every line the user types to :func:`handle_line`. Lines not
starting with ``/`` are chat messages; ``//text`` sends a literal ``/text``.
Text of several lines (a paste) is one message of several lines, unless it
starts with a command: one that takes a message (``/msg``, ``/me``...) gets
the rest of the paste as its text, any other runs line by line, as typed.

Rate limits: chat lines and commands that speak to others (``speaks``) count
against the message limit, commands that only answer their user against a
generous limit of their own, and ``/quit`` against none. A refused command
always says so; refused chat lines are summed up (see :meth:`Hub.admit_line`).
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
from sshchat.core.ratelimit import Budget
from sshchat.core.refusals import RateLimited
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
    "line_wait",
]


class Outcome(Enum):
    """What the front end should do after a line was handled."""

    CONTINUE = "continue"
    QUIT = "quit"
    CLEAR = "clear"  # clear the screen (only asked of front ends that have one)
    KEEP = "keep"  # a paste was refused whole: an editor gives it back to be edited


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
    server's welcome and message of the day as they are now (after a config
    reload, the new ones).
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
# Whether a command, with these parsed arguments, puts a line on someone else's screen.
Speaks = bool | Callable[[dict[str, object]], bool]


@dataclass(frozen=True)
class Command:
    """One slash-command.

    ``summary`` is the few words of the ``/help`` list; ``description`` the
    sentence of ``/help COMMAND`` (the summary when empty).

    ``speaks``: the command can show something to other people (a message, a
    presence line, a notice), so it counts against the message rate limit;
    otherwise against the command rate limit. It may be a function of the
    parsed arguments (``/topic`` alone only shows the topic). ``unlimited``
    commands (``/quit``) are never rate limited. ``multiline``: the last
    argument is a message, which the rest of a pasted block continues.
    """

    name: str
    handler: Handler
    args: tuple[Arg, ...] = ()
    summary: str = ""
    description: str = ""
    topic: Topic = Topic.CHATTING
    aliases: tuple[str, ...] = ()
    admin: bool = False
    speaks: Speaks = False
    unlimited: bool = False
    multiline: bool = False

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

    def budget(self, values: dict[str, object] | None) -> Budget | None:
        """The rate limit this use counts against (None: never limited).

        ``values`` None: the arguments did not parse (only the user is told).
        """
        if self.unlimited:
            return None
        if values is None:
            return Budget.COMMANDS
        speaks = self.speaks(values) if callable(self.speaks) else self.speaks
        return Budget.MESSAGES if speaks else Budget.COMMANDS


def command(
    name: str,
    *args: Arg,
    summary: str,
    description: str = "",
    topic: Topic,
    aliases: Sequence[str] = (),
    admin: bool = False,
    speaks: Speaks = False,
    unlimited: bool = False,
    multiline: bool = False,
) -> Callable[[Handler], Command]:
    """Decorator turning a handler into a :class:`Command` (it registers nothing)."""

    def make(handler: Handler) -> Command:
        return Command(
            name,
            handler,
            tuple(args),
            summary,
            description,
            topic,
            tuple(aliases),
            admin,
            speaks,
            unlimited,
            multiline,
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


def is_said(line: str) -> bool:
    """Whether :func:`handle_line` takes ``line`` as one line said in the current channel.

    Not a command (``//`` escapes one) and not a pasted block, which may hold
    commands: a front end lets such a line go ahead of the session's lines
    said before it that the log has not handed back yet (``Hub.has_pending``).
    """
    line = line.rstrip("\r\n")
    if "\n" in line or "\r" in line or not line.strip():
        return False
    return not line.startswith("/") or line.startswith("//")


def handle_line(
    hub: Hub,
    client: Client,
    line: str,
    registry: CommandRegistry | None = None,
    session: Session | None = None,
) -> Outcome:
    """Act on one line (or a pasted block of lines) typed by ``client``; never raises."""
    registry = registry if registry is not None else default_registry()
    session = session or Session()
    line = line.rstrip("\r\n")
    if "\n" in line or "\r" in line:
        return _handle_block(hub, client, line, registry, session)
    if not line.strip():
        return Outcome.CONTINUE
    try:
        if line.startswith("/") and not line.startswith("//"):
            return _run_command(Context(hub, client, registry, session), line[1:])
        if hub.admit_line(client):
            hub.say(client, line[1:] if line.startswith("//") else line)
    except HubError as err:
        hub.notify(client, refusal_text(err), error=True)
    return Outcome.CONTINUE


def _handle_block(
    hub: Hub, client: Client, text: str, registry: CommandRegistry, session: Session
) -> Outcome:
    """Several lines at once (a paste): one message, one command, or line by line."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    if len(lines) <= 1:
        return handle_line(hub, client, lines[0] if lines else "", registry, session)
    first = lines[0].lstrip()
    block = "\n".join(lines)
    if first.startswith("/") and not first.startswith("//"):
        words = first[1:].split(maxsplit=1)
        cmd = registry.get(words[0]) if words else None
        if cmd is not None and cmd.multiline:
            return _run_command(Context(hub, client, registry, session), block.lstrip()[1:])
        outcome = Outcome.CONTINUE
        for line in lines:  # a list of commands: each as if typed
            outcome = handle_line(hub, client, line, registry, session)
            if outcome is Outcome.QUIT:
                break
        return outcome
    if first.startswith("//"):
        block = block.lstrip()[1:]
    kept = " It is still in your input line, to edit or send again." if session.pty else ""
    try:
        hub.admit(client, Budget.MESSAGES, cost=len(lines))
        hub.say(client, block)
    except HubError as err:
        why = refusal_text(err)
        hub.notify(client, f"your paste was not sent: {why}.{kept}", error=True)
        return Outcome.KEEP
    return Outcome.CONTINUE


def line_wait(
    hub: Hub,
    client: Client,
    line: str,
    registry: CommandRegistry | None = None,
) -> float:
    """Seconds until the rate limits would let ``line`` through (0: now).

    For front ends that hold lines back instead of having them refused (plain
    line mode: a bot's lines are paced, never dropped).
    """
    registry = registry if registry is not None else default_registry()
    line = line.rstrip("\r\n")
    if not line.strip():
        return 0.0
    if not line.startswith("/") or line.startswith("//"):
        return hub.wait_time(client, Budget.MESSAGES)
    name, argtext = _NAME_AND_ARGS.match(line[1:]).groups()  # type: ignore[union-attr]
    cmd = registry.get(sanitize(name))
    if cmd is None:
        return hub.wait_time(client, Budget.COMMANDS)
    values: dict[str, object] | None
    try:
        values = cmd.parse(argtext)
    except ArgError:
        values = None
    budget = cmd.budget(values)
    return 0.0 if budget is None else hub.wait_time(client, budget)


_NAME_AND_ARGS = re.compile(r"(\S*)(.*)", re.DOTALL)


def _run_command(ctx: Context, text: str) -> Outcome:
    # The name ends at the first white space of any kind (tab, no-break space...),
    # as arguments are split on any white space too.
    name, argtext = _NAME_AND_ARGS.match(text).groups()  # type: ignore[union-attr]
    name = sanitize(name)
    registry = ctx.registry
    hub, client = ctx.hub, ctx.client
    cmd = registry.get(name)
    try:
        if cmd is None:
            hub.admit(client, Budget.COMMANDS)
            hints = did_you_mean(registry.suggest(name, client.account.admin))
            raise HubError(f"unknown command /{name}.{hints} Type /help for the list.")
        if cmd.admin and not client.account.admin:
            hub.admit(client, Budget.COMMANDS)
            raise HubError(f"/{cmd.name} is for admins only")
        try:
            values = cmd.parse(argtext)
        except ArgError as err:
            if not cmd.unlimited:
                hub.admit(client, Budget.COMMANDS)
            raise HubError(usage_error(cmd, err)) from None
        budget = cmd.budget(values)
        if budget is not None:
            hub.admit(client, budget)
        return cmd.run(ctx, values) or Outcome.CONTINUE
    except RateLimited as err:
        shown = f"/{cmd.name}" if cmd is not None else f"/{name}"
        hub.notify(client, f"{shown} was not run: {refusal_text(err)}", error=True)
    except HubError as err:
        hub.notify(client, refusal_text(err), error=True)
    return Outcome.CONTINUE


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
