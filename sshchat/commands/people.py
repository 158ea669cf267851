"""Commands about people: who is here, who someone is, your nick, whom you ignore."""

from __future__ import annotations

import time

from sshchat.commands.args import user, word
from sshchat.commands.refusals import plural
from sshchat.commands.registry import Command, Context, Topic, command
from sshchat.core.hub import Account, HubError
from sshchat.core.text import sanitize

__all__ = ["COMMANDS", "WHO_OFFLINE_NAMES", "ago", "clock", "status_text", "who_name"]


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


def status_text(account: Account, viewer: Account | None = None) -> str:
    """``online``, ``away (REASON)`` or ``offline, last seen ...`` as ``viewer`` may see it.

    The away reason is the user's own text: someone who ignores them sees only
    ``away``.
    """
    if account.status == "away":
        if not account.away or (viewer is not None and account.login in viewer.ignored):
            return "away"
        return f"away ({account.away})"
    if account.status == "offline":
        seen = f"last seen {ago(account.last_seen)}" if account.last_seen else "never seen"
        return f"offline, {seen}"
    return "online"


def who_name(account: Account) -> str:
    if account.nick == account.login:
        return account.nick
    return f"{account.nick} ({account.login})"


#: Offline members /who names; a channel with more says how many instead.
WHO_OFFLINE_NAMES = 20


@command(
    "who",
    summary="who is in this channel",
    description="members of the current channel: online, away or offline",
    topic=Topic.PEOPLE,
    aliases=("names",),
)
def _who(ctx: Context) -> None:
    """One line, the people there first: ``In #dev: alice, bob (away: lunch), carol (offline)``.

    Offline members (membership outlasts sessions) come last; in a channel
    with many of them only their number is given, so that /who stays short.
    """
    channel = ctx.client.current

    def entry(account: Account) -> str:
        owner = " [owner]" if account.login == channel.owner else ""
        admin = " [admin]" if account.admin else ""
        if account.status == "away":
            # The reason is the user's own text: who ignores them sees only "away".
            reason = account.away
            hidden = account.login in ctx.client.account.ignored
            status = f" (away: {reason})" if reason and not hidden else " (away)"
        else:
            status = "" if account.online else " (offline)"
        return f"{who_name(account)}{owner}{admin}{status}"

    by_nick = sorted(channel.members.values(), key=lambda a: (a.nick.casefold(), a.login))
    present = [a for a in by_nick if a.online]
    offline = [a for a in by_nick if not a.online]
    names = [entry(a) for a in present]
    head = f"In #{channel.name}:"
    if len(offline) <= WHO_OFFLINE_NAMES:
        names += [entry(a) for a in offline]
    else:
        head = f"In #{channel.name} ({len(present)} of {len(by_nick)} online):"
        names.append(f"and {len(offline)} offline")
    ctx.reply(f"{head} {', '.join(names)}" if names else f"{head} nobody")


@command(
    "users",
    summary="every account",
    description="every account and whether it is online, away or offline",
    topic=Topic.PEOPLE,
)
def _users(ctx: Context) -> None:
    accounts = sorted(ctx.hub.accounts.values(), key=lambda a: a.nick.casefold())
    online = sum(1 for a in accounts if a.online)
    lines = [f"Users ({online} of {len(accounts)} online):"]
    me = ctx.client.account
    lines += [f"  {who_name(a)}: {status_text(a, me)}" for a in accounts]
    ctx.reply("\n".join(lines))


@command(
    "whois",
    user("NICK"),
    summary="about one user",
    description="who a user is: login, status, since when, key",
    topic=Topic.PEOPLE,
)
def _whois(ctx: Context, nick: str) -> None:
    account = ctx.hub.find_account(nick)
    if account is None:
        raise HubError(f"no user called {sanitize(nick)!r}; /users lists everyone")
    lines = [
        f"{account.nick}:",
        f"  login: {account.login}{' (admin)' if account.admin else ''}",
        f"  status: {status_text(account, ctx.client.account)}",
    ]
    if account.connected_since is not None:
        since = account.connected_since
        sessions = len(account.clients)
        lines.append(
            f"  connected since: {clock(since)} ({ago(since)}), {plural(sessions, 'session')}"
        )
    keys = sorted({c.key_fingerprint for c in account.clients if c.key_fingerprint})
    lines.extend(f"  key: {fp}" for fp in keys)
    shared = [c for c in account.channels.values() if c.visible_to(ctx.client.account)]
    if shared:
        lines.append("  channels: " + " ".join(f"#{c.name}" for c in shared))
    ctx.reply("\n".join(lines))


@command(
    "nick",
    word("NEW"),
    summary="change your name",
    description="change your display name (your login name stays)",
    topic=Topic.PEOPLE,
    speaks=True,
)
def _nick(ctx: Context, new: str) -> None:
    old = ctx.hub.set_nick(ctx.client, new)
    if old == ctx.client.account.nick:
        ctx.reply(f"You are already known as {old}.")


@command(
    "ignore",
    user("NICK", optional=True),
    summary="hide a user's messages",
    description="hide a user's messages from you; alone, list who you ignore",
    topic=Topic.PEOPLE,
)
def _ignore(ctx: Context, nick: str | None) -> None:
    if nick is None:
        ignored = sorted(
            ctx.hub.accounts[login].nick
            for login in ctx.client.account.ignored
            if login in ctx.hub.accounts
        )
        ctx.reply("You ignore: " + ", ".join(ignored) if ignored else "You ignore nobody.")
        return
    who = ctx.hub.ignore(ctx.client, nick)
    ctx.reply(f"Ignoring {who.nick}; /unignore {who.nick} to see them again.")


@command(
    "unignore",
    user("NICK"),
    summary="stop ignoring a user",
    description="see a user's messages again",
    topic=Topic.PEOPLE,
)
def _unignore(ctx: Context, nick: str) -> None:
    who = ctx.hub.unignore(ctx.client, nick)
    ctx.reply(f"You see {who.nick}'s messages again.")


COMMANDS: tuple[Command, ...] = (_who, _users, _whois, _nick, _ignore, _unignore)
