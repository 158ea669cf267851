"""Slash-commands: one registry that parses, dispatches and generates ``/help``.

A front end hands every line the user types to :func:`handle_line`. Lines not
starting with ``/`` are chat messages; ``//text`` sends a literal ``/text``.
Commands are case-insensitive; wrong usage prints that command's usage line
and an unknown command says so and points at ``/help``.

Command output goes back to the issuing session as :class:`~sshchat.core.events.Notice`
events through :meth:`Hub.notify`, so it travels the same queue as chat lines.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from sshchat.commands.refusals import refusal_text, until_text
from sshchat.core.hub import FOREVER, Account, Client, Hub, HubError
from sshchat.core.prefs import BELL_MODES
from sshchat.core.text import sanitize

__all__ = ["REGISTRY", "Command", "CommandRegistry", "Outcome", "handle_line"]


class Outcome(Enum):
    """What the front end should do after a line was handled."""

    CONTINUE = "continue"
    QUIT = "quit"


@dataclass(frozen=True)
class Context:
    """What a command handler works with."""

    hub: Hub
    client: Client

    def reply(self, text: str) -> None:
        self.hub.notify(self.client, text)


Handler = Callable[[Context, list[str]], "Outcome | None"]


@dataclass(frozen=True)
class Command:
    """One slash-command. ``rest`` makes the last argument take the rest of the line."""

    name: str
    usage: str
    summary: str
    handler: Handler
    min_args: int = 0
    max_args: int = 0
    rest: bool = False
    admin: bool = False

    @property
    def usage_line(self) -> str:
        return f"/{self.name} {self.usage}".rstrip()

    def split_args(self, argtext: str) -> list[str] | None:
        """Split ``argtext`` into arguments, or None when the count is wrong."""
        if self.rest and self.max_args:
            args = argtext.split(None, self.max_args - 1)
        else:
            args = argtext.split()
        if not self.min_args <= len(args) <= self.max_args:
            return None
        return args


class CommandRegistry:
    """Every command by name; also the source of ``/help``."""

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}

    def command(
        self,
        name: str,
        usage: str,
        summary: str,
        *,
        min_args: int = 0,
        max_args: int = 0,
        rest: bool = False,
        admin: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Decorator registering a handler under ``/name``."""

        def register(handler: Handler) -> Handler:
            self._commands[name] = Command(
                name, usage, summary, handler, min_args, max_args, rest, admin
            )
            return handler

        return register

    def get(self, name: str) -> Command | None:
        return self._commands.get(name.lower())

    def names(self) -> list[str]:
        return sorted(self._commands)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._commands[name] for name in self.names())

    def suggest(self, name: str) -> str | None:
        close = difflib.get_close_matches(name.lower(), self.names(), n=1, cutoff=0.6)
        return close[0] if close else None


REGISTRY = CommandRegistry()
command = REGISTRY.command


def handle_line(hub: Hub, client: Client, line: str) -> Outcome:
    """Act on one line typed by ``client``. Never raises for bad input."""
    line = line.rstrip("\r\n")
    if not line.strip():
        return Outcome.CONTINUE
    if not _is_quit(line) and not hub.admit_line(client):
        return Outcome.CONTINUE
    try:
        if line.startswith("//"):
            hub.say(client, line[1:])
        elif line.startswith("/"):
            return _run_command(Context(hub, client), line[1:]) or Outcome.CONTINUE
        else:
            hub.say(client, line)
    except HubError as err:
        hub.notify(client, refusal_text(err), error=True)
    return Outcome.CONTINUE


_NAME_AND_ARGS = re.compile(r"(\S*)(.*)", re.DOTALL)


def _is_quit(line: str) -> bool:
    """``/quit`` is never rate limited."""
    return line.strip().lower() == "/quit"


def _run_command(ctx: Context, text: str) -> Outcome | None:
    # The name ends at the first white space of any kind (tab, no-break space...),
    # as arguments are split on any white space too.
    name, argtext = _NAME_AND_ARGS.match(text).groups()  # type: ignore[union-attr]
    name = sanitize(name)
    cmd = REGISTRY.get(name)
    if cmd is None:
        hint = REGISTRY.suggest(name)
        maybe = f" Did you mean /{hint}?" if hint else ""
        ctx.hub.notify(
            ctx.client,
            f"unknown command /{name}.{maybe} Type /help for the list.",
            error=True,
        )
        return None
    args = cmd.split_args(argtext)
    if args is None:
        ctx.hub.notify(ctx.client, f"usage: {cmd.usage_line} — {cmd.summary}", error=True)
        return None
    if cmd.admin and not ctx.client.account.admin:
        ctx.hub.notify(ctx.client, f"/{cmd.name} is for admins only", error=True)
        return None
    return cmd.handler(ctx, args)


# -- formatting helpers -----------------------------------------------------


def ago(timestamp: float, now: float | None = None) -> str:
    """A short relative time: ``just now``, ``5m ago``, ``3h ago``, ``2d ago``."""
    seconds = max(0, int((now if now is not None else time.time()) - timestamp))
    if seconds < 60:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return "just now"  # pragma: no cover - unreachable


def clock(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def status_text(account: Account) -> str:
    if account.status == "away":
        return f"away ({account.away})"
    if account.status == "offline":
        seen = f"last seen {ago(account.last_seen)}" if account.last_seen else "never seen"
        return f"offline, {seen}"
    return "online"


def who_name(account: Account) -> str:
    if account.nick == account.login:
        return account.nick
    return f"{account.nick} ({account.login})"


# -- the commands -----------------------------------------------------------


@command("help", "[COMMAND]", "list commands, or show how to use one", max_args=1)
def _help(ctx: Context, args: list[str]) -> None:
    if args:
        cmd = REGISTRY.get(args[0].lstrip("/"))
        if cmd is None:
            raise HubError(f"no command /{sanitize(args[0]).lstrip('/')}; type /help for the list")
        admin = " (admins only)" if cmd.admin else ""
        ctx.reply(f"usage: {cmd.usage_line}\n  {cmd.summary}{admin}")
        return
    width = max(len(cmd.usage_line) for cmd in REGISTRY)
    lines = ["Commands (anything not starting with / is said in the current channel):"]
    for cmd in REGISTRY:
        admin = " (admins only)" if cmd.admin else ""
        lines.append(f"  {cmd.usage_line:<{width}}  {cmd.summary}{admin}")
    lines.append("Start a line with // to send a literal /. Ctrl-D or /quit leaves.")
    ctx.reply("\n".join(lines))


@command("list", "", "channels you can see, with member counts and topics")
def _list(ctx: Context, args: list[str]) -> None:
    channels = ctx.hub.visible_channels(ctx.client.account)
    lines = ["Channels:"]
    for channel in channels:
        flags = " (private)" if channel.private else ""
        here = " *" if channel is ctx.client.current else ""
        count = len(channel.members)
        members = f"{count} member{'s' if count != 1 else ''}"
        topic = f"  {channel.topic}" if channel.topic else ""
        lines.append(f"  #{channel.name}{flags}{here}  {members}{topic}")
    ctx.reply("\n".join(lines))


@command(
    "create",
    "NAME [private]",
    "create a channel and enter it; private ones are invitation-only",
    min_args=1,
    max_args=2,
)
def _create(ctx: Context, args: list[str]) -> None:
    private = False
    if len(args) == 2:
        if args[1].lower() not in ("private", "public"):
            raise HubError("usage: /create NAME [private]")
        private = args[1].lower() == "private"
    channel = ctx.hub.create_channel(ctx.client, args[0], private=private)
    kind = "private channel" if private else "channel"
    extra = " Let people in with /invite NICK." if private else ""
    ctx.reply(f"Created {kind} #{channel.name}; you own it.{extra}")


@command("invite", "NICK", "let a user into the current (private) channel", min_args=1, max_args=1)
def _invite(ctx: Context, args: list[str]) -> None:
    invitee = ctx.hub.invite(ctx.client, args[0])
    ctx.reply(f"Invited {invitee.nick} to #{ctx.client.current.name}.")


@command("join", "NAME", "enter a channel, or switch to it", min_args=1, max_args=1)
def _join(ctx: Context, args: list[str]) -> None:
    channel = ctx.hub.join(ctx.client, args[0])
    topic = f" Topic: {channel.topic}" if channel.topic else ""
    ctx.reply(f"Now talking in #{channel.name}.{topic}")


@command("leave", "", "leave the current channel and go back to the home channel")
def _leave(ctx: Context, args: list[str]) -> None:
    channel = ctx.hub.leave(ctx.client)
    ctx.reply(f"You left #{channel.name}; now talking in #{ctx.client.current.name}.")


@command("nick", "NEW", "change your display name", min_args=1, max_args=1)
def _nick(ctx: Context, args: list[str]) -> None:
    old = ctx.hub.set_nick(ctx.client, args[0])
    if old == ctx.client.account.nick:
        ctx.reply(f"You are already known as {old}.")


@command("who", "", "members of the current channel and their status")
def _who(ctx: Context, args: list[str]) -> None:
    channel = ctx.client.current
    lines = [f"In #{channel.name}:"]
    for account in sorted(channel.members.values(), key=lambda a: a.nick.casefold()):
        owner = " [owner]" if account.login == channel.owner else ""
        admin = " [admin]" if account.admin else ""
        lines.append(f"  {who_name(account)}{owner}{admin}: {status_text(account)}")
    ctx.reply("\n".join(lines))


@command("users", "", "every account and whether it is online, away or offline")
def _users(ctx: Context, args: list[str]) -> None:
    accounts = sorted(ctx.hub.accounts.values(), key=lambda a: a.nick.casefold())
    online = sum(1 for a in accounts if a.online)
    lines = [f"Users ({online} of {len(accounts)} online):"]
    lines += [f"  {who_name(a)}: {status_text(a)}" for a in accounts]
    ctx.reply("\n".join(lines))


@command("msg", "NICK TEXT", "private message to one user", min_args=2, max_args=2, rest=True)
def _msg(ctx: Context, args: list[str]) -> None:
    recipient = ctx.hub.private_message(ctx.client, args[0], args[1])
    if recipient.away is not None:
        ctx.reply(f"{recipient.nick} is away: {recipient.away}")


@command(
    "me", "ACTION", "say what you are doing (* alice waves)", min_args=1, max_args=1, rest=True
)
def _me(ctx: Context, args: list[str]) -> None:
    ctx.hub.say(ctx.client, args[0], action=True)


@command("away", "[REASON]", "mark yourself away", max_args=1, rest=True)
def _away(ctx: Context, args: list[str]) -> None:
    ctx.hub.set_away(ctx.client, args[0] if args else "")
    ctx.reply(f"You are marked away ({ctx.client.account.away}). Type /back when you return.")


@command("back", "", "clear your away status")
def _back(ctx: Context, args: list[str]) -> None:
    ctx.hub.set_back(ctx.client)
    ctx.reply("Welcome back; you are no longer marked away.")


@command(
    "broadcast", "TEXT", "message every online user", min_args=1, max_args=1, rest=True, admin=True
)
def _broadcast(ctx: Context, args: list[str]) -> None:
    ctx.hub.broadcast(ctx.client, args[0])


@command("whois", "NICK", "who a user is: login, status, since when, key", min_args=1, max_args=1)
def _whois(ctx: Context, args: list[str]) -> None:
    account = ctx.hub.find_account(args[0])
    if account is None:
        raise HubError(f"no user called {sanitize(args[0])!r}; /users lists everyone")
    lines = [
        f"{account.nick}:",
        f"  login: {account.login}{' (admin)' if account.admin else ''}",
        f"  status: {status_text(account)}",
    ]
    if account.connected_since is not None:
        since = account.connected_since
        sessions = len(account.clients)
        lines.append(
            f"  connected since: {clock(since)} ({ago(since)}), "
            f"{sessions} session{'s' if sessions != 1 else ''}"
        )
    keys = sorted({c.key_fingerprint for c in account.clients if c.key_fingerprint})
    lines.extend(f"  key: {fp}" for fp in keys)
    shared = [c for c in account.channels.values() if c.visible_to(ctx.client.account)]
    if shared:
        lines.append("  channels: " + " ".join(f"#{c.name}" for c in shared))
    ctx.reply("\n".join(lines))


@command("quit", "", "disconnect (Ctrl-D on an empty line does the same)")
def _quit(ctx: Context, args: list[str]) -> Outcome:
    ctx.reply("Bye!")
    return Outcome.QUIT


# -- history, moderation and preferences --------------------------------------

_DURATION = re.compile(r"^(\d{1,6})([smhdw])$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float | None:
    """``30s``, ``10m``, ``2h``, ``1d``, ``1w`` in seconds; None if not a duration."""
    match = _DURATION.match(text)
    if not match:
        return None
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def _duration_and_reason(args: list[str]) -> tuple[float | None, str]:
    """Split ``[DURATION] [REASON]`` (the reason may be several words)."""
    if not args:
        return None, ""
    first, _, rest = args[0].partition(" ")
    seconds = parse_duration(first)
    if seconds is None:
        return None, args[0]
    return seconds, rest.strip()


def _on_off(value: str, what: str) -> bool:
    value = value.lower()
    if value in ("on", "yes", "true"):
        return True
    if value in ("off", "no", "false"):
        return False
    raise HubError(f"usage: /{what} on|off")


@command("history", "[N]", "show the last N lines of the current channel", max_args=1)
def _history(ctx: Context, args: list[str]) -> None:
    count = ctx.hub.history_lines or 50
    if args:
        if not args[0].isdigit() or int(args[0]) < 1:
            raise HubError("usage: /history [N] (N is a number of lines, e.g. /history 100)")
        count = int(args[0])
    ctx.hub.history(ctx.client, count)


@command(
    "topic",
    "[TEXT]",
    "show the channel topic, or set it (owner, ops, admins)",
    max_args=1,
    rest=True,
)
def _topic(ctx: Context, args: list[str]) -> None:
    channel = ctx.client.current
    if not args:
        topic = channel.topic or "(no topic set)"
        ctx.reply(f"Topic of #{channel.name}: {topic}")
        return
    text = "" if args[0].strip() in ("-", "--clear") else args[0]
    ctx.hub.set_topic(ctx.client, text)


@command(
    "op", "NICK", "make a user an operator of the current channel (owner)", min_args=1, max_args=1
)
def _op(ctx: Context, args: list[str]) -> None:
    ctx.hub.set_op(ctx.client, args[0], op=True)


@command("deop", "NICK", "take operator rights away (owner)", min_args=1, max_args=1)
def _deop(ctx: Context, args: list[str]) -> None:
    ctx.hub.set_op(ctx.client, args[0], op=False)


@command(
    "kick",
    "NICK [REASON]",
    "remove a user from the current channel (ops)",
    min_args=1,
    max_args=2,
    rest=True,
)
def _kick(ctx: Context, args: list[str]) -> None:
    ctx.hub.kick(ctx.client, args[0], args[1] if len(args) > 1 else "")


@command(
    "ban",
    "USER [DURATION] [REASON]",
    "end a user's sessions and refuse their logins, e.g. /ban bob 1d spam",
    min_args=1,
    max_args=2,
    rest=True,
    admin=True,
)
def _ban(ctx: Context, args: list[str]) -> None:
    seconds, reason = _duration_and_reason(args[1:])
    who = ctx.hub.ban(ctx.client, args[0], seconds, reason)
    why = f": {who.ban_reason}" if who.ban_reason else ""
    ctx.reply(f"Banned {who.nick} {until_text(who.banned_until or FOREVER)}{why}.")


@command("unban", "USER", "lift a ban", min_args=1, max_args=1, admin=True)
def _unban(ctx: Context, args: list[str]) -> None:
    who = ctx.hub.unban(ctx.client, args[0])
    ctx.reply(f"{who.nick} may log in again.")


@command(
    "mute",
    "USER [DURATION]",
    "stop a user from sending messages",
    min_args=1,
    max_args=2,
    admin=True,
)
def _mute(ctx: Context, args: list[str]) -> None:
    seconds = None
    if len(args) == 2:
        seconds = parse_duration(args[1])
        if seconds is None:
            raise HubError("usage: /mute USER [DURATION], e.g. /mute bob 10m (s, m, h, d or w)")
    who = ctx.hub.mute(ctx.client, args[0], seconds)
    ctx.reply(f"Muted {who.nick}.")


@command("unmute", "USER", "let a muted user talk again", min_args=1, max_args=1, admin=True)
def _unmute(ctx: Context, args: list[str]) -> None:
    who = ctx.hub.unmute(ctx.client, args[0])
    ctx.reply(f"Unmuted {who.nick}.")


@command(
    "ignore", "[NICK]", "hide a user's messages from you; alone, list who you ignore", max_args=1
)
def _ignore(ctx: Context, args: list[str]) -> None:
    if not args:
        ignored = sorted(
            ctx.hub.accounts[login].nick
            for login in ctx.client.account.ignored
            if login in ctx.hub.accounts
        )
        ctx.reply("You ignore: " + ", ".join(ignored) if ignored else "You ignore nobody.")
        return
    who = ctx.hub.ignore(ctx.client, args[0])
    ctx.reply(f"Ignoring {who.nick}; /unignore {who.nick} to see them again.")


@command("unignore", "NICK", "see a user's messages again", min_args=1, max_args=1)
def _unignore(ctx: Context, args: list[str]) -> None:
    who = ctx.hub.unignore(ctx.client, args[0])
    ctx.reply(f"You see {who.nick}'s messages again.")


@command(
    "reply",
    "TEXT",
    "answer the last private message you received",
    min_args=1,
    max_args=1,
    rest=True,
)
def _reply(ctx: Context, args: list[str]) -> None:
    ctx.hub.reply(ctx.client, args[0])


@command("quiet", "[on|off]", "hide join, leave and connect notices", max_args=1)
def _quiet(ctx: Context, args: list[str]) -> None:
    prefs = ctx.client.account.prefs
    ctx.hub.set_preference(
        ctx.client, "quiet", _on_off(args[0], "quiet") if args else not prefs.quiet
    )
    ctx.reply("Join and leave notices are now " + ("hidden." if prefs.quiet else "shown."))


@command("bell", "on|off|mentions", "when to ring the terminal bell", min_args=1, max_args=1)
def _bell(ctx: Context, args: list[str]) -> None:
    mode = args[0].lower()
    if mode not in BELL_MODES:
        raise HubError("usage: /bell on|off|mentions")
    ctx.hub.set_preference(ctx.client, "bell", mode)
    ctx.reply(f"Bell: {mode}.")


@command("timestamps", "on|off", "show or hide the time in front of lines", min_args=1, max_args=1)
def _timestamps(ctx: Context, args: list[str]) -> None:
    ctx.hub.set_preference(ctx.client, "timestamps", _on_off(args[0], "timestamps"))
    ctx.reply("Timestamps " + ("on." if ctx.client.account.prefs.timestamps else "off."))


@command("color", "on|off", "turn colours on or off (like NO_COLOR)", min_args=1, max_args=1)
def _color(ctx: Context, args: list[str]) -> None:
    ctx.hub.set_preference(ctx.client, "color", _on_off(args[0], "color"))
    ctx.reply("Colour " + ("on." if ctx.client.account.prefs.color else "off."))
