"""The hub's durable state as plain JSON values, and back: what a cluster snapshot holds.

A node of a cluster must be able to start from a state someone else applied
(a snapshot in Redis plus the log after it) or from the one it applied itself
before it stopped (kept in its SQLite file with the stream id it covers),
instead of replaying a log that may have been trimmed. So the snapshot covers
exactly what :func:`~sshchat.core.digest.state_digest` covers -- a hub loaded
from ``dump_state(a)`` has ``a``'s digest -- and nothing local to a process
(sinks, rate-limit buckets, counters, settings, sessions whose login is not
applied yet).

:func:`load_state` changes the :class:`HubState` *in place*: the hub's parts
hold that object. Sessions of this process keep their sinks (looked up by
session id in ``state.sinks``); the others get the null sink.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from sshchat.core.events import ChatMessage, PrivateMessage
from sshchat.core.model import (
    FOREVER,
    HISTORY_KEEP,
    MAX_PENDING,
    NULL_SINK,
    Account,
    Channel,
    Client,
)
from sshchat.core.prefs import Prefs
from sshchat.core.state import HubState

__all__ = ["SNAPSHOT_VERSION", "SnapshotError", "dump_state", "load_state"]

SNAPSHOT_VERSION = 1


class SnapshotError(ValueError):
    """A snapshot that cannot be loaded (another version, or damaged)."""


def _time(value: float | None) -> float | str | None:
    # JSON has no infinity: a ban or mute "for good" is written as a word.
    return "forever" if value == FOREVER else value


def _untime(value: Any) -> float | None:
    if value == "forever":
        return FOREVER
    return None if value is None else float(value)


def _chat(m: ChatMessage) -> list[Any]:
    return [m.channel, m.sender, m.nick, m.text, m.action, m.time]


def _private(m: PrivateMessage) -> list[Any]:
    return [m.sender, m.sender_nick, m.recipient, m.recipient_nick, m.text, m.action, m.time]


def dump_state(state: HubState) -> dict[str, Any]:
    """The durable state as JSON-able values (see the module docstring)."""
    accounts = [
        {
            "login": a.login,
            "nick": a.nick,
            "admin": a.admin,
            "last_channel": a.last_channel,
            "away": a.away,
            "connected_since": a.connected_since,
            "last_seen": a.last_seen,
            "last_pm_from": a.last_pm_from,
            "prefs": [a.prefs.quiet, a.prefs.bell, a.prefs.timestamps, a.prefs.color],
            "ignored": sorted(a.ignored),
            "banned_until": _time(a.banned_until),
            "ban_reason": a.ban_reason,
            "muted_until": _time(a.muted_until),
            "pending": [_private(m) for m in a.pending],
            "channels": list(a.channels),
        }
        for a in state.accounts.values()
    ]
    channels = [
        {
            "name": c.name,
            "owner": c.owner,
            "private": c.private,
            "topic": c.topic,
            "created": c.created,
            "ops": sorted(c.ops),
            "invited": sorted(c.invited),
            "members": list(c.members),
            "history": [_chat(m) for m in c.history],
        }
        for c in state.channels.values()
    ]
    sessions = [
        {
            "id": c.id,
            "login": c.account.login,
            "current": c.current.name,
            "connected_at": c.connected_at,
            "source": c.source,
            "key": c.key_fingerprint,
            "shown": sorted(c.shown),
        }
        for c in state.sessions.values()
    ]
    return {
        "version": SNAPSHOT_VERSION,
        "default_channel": state.default_channel.name,
        "accounts": accounts,
        "channels": channels,
        "sessions": sessions,
        "gone": sorted(state.gone),
    }


def load_state(state: HubState, data: dict[str, Any]) -> None:
    """Make ``state``'s durable part what ``data`` (from :func:`dump_state`) says.

    Raises :class:`SnapshotError` for a snapshot of another version or shape,
    before changing anything.
    """
    if not isinstance(data, dict) or data.get("version") != SNAPSHOT_VERSION:
        version = data.get("version") if isinstance(data, dict) else None
        raise SnapshotError(f"snapshot version {version!r}, expected {SNAPSHOT_VERSION}")
    try:
        _load(state, data)
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise SnapshotError(f"damaged snapshot: {type(err).__name__}: {err}") from None


def _load(state: HubState, data: dict[str, Any]) -> None:
    # Build everything first, then swap it in: a damaged snapshot changes nothing.
    channels: dict[str, Channel] = {}
    for raw in data["channels"]:
        name = str(raw["name"])
        channel = Channel(name=name)
        channel.owner = raw["owner"]
        channel.private = bool(raw["private"])
        channel.topic = str(raw["topic"])
        channel.created = float(raw["created"])
        channel.ops = set(raw["ops"])
        channel.invited = set(raw["invited"])
        channel.history = deque(
            (ChatMessage(c, s, n, t, bool(a), float(w)) for c, s, n, t, a, w in raw["history"]),
            maxlen=HISTORY_KEEP,
        )
        channels[name.casefold()] = channel
    accounts: dict[str, Account] = {}
    memberships: list[tuple[Account, list[str]]] = []
    for raw in data["accounts"]:
        account = Account(login=str(raw["login"]), nick=str(raw["nick"]), admin=bool(raw["admin"]))
        account.last_channel = raw["last_channel"]
        account.away = raw["away"]
        account.connected_since = raw["connected_since"]
        account.last_seen = raw["last_seen"]
        account.last_pm_from = raw["last_pm_from"]
        quiet, bell, timestamps, color = raw["prefs"]
        account.prefs = Prefs(bool(quiet), str(bell), bool(timestamps), bool(color))
        account.ignored = set(raw["ignored"])
        account.banned_until = _untime(raw["banned_until"])
        account.ban_reason = str(raw["ban_reason"])
        account.muted_until = _untime(raw["muted_until"])
        account.pending = deque(
            (
                PrivateMessage(s, sn, r, rn, t, bool(a), float(w))
                for s, sn, r, rn, t, a, w in raw["pending"]
            ),
            maxlen=MAX_PENDING,
        )
        accounts[account.login] = account
        memberships.append((account, list(raw["channels"])))
    folded_home = str(data["default_channel"]).casefold()
    if folded_home not in channels:
        raise ValueError(f"the home channel {data['default_channel']!r} is missing")
    sessions: dict[str, Client] = {}
    for raw in data["sessions"]:
        account = accounts[raw["login"]]
        sid = str(raw["id"])
        client = Client(
            id=sid,
            account=account,
            sink=state.sinks.get(sid, NULL_SINK),
            current=channels[str(raw["current"]).casefold()],
            connected_at=float(raw["connected_at"]),
            key_fingerprint=raw["key"],
            source=str(raw["source"]),
            shown=set(raw["shown"]),
        )
        sessions[sid] = client
        account.clients.append(client)
    for account, names in memberships:
        for name in names:
            channel = channels[name.casefold()]
            channel.members[account.login] = account
            account.channels[channel.name] = channel
            if account.clients:
                channel.online[account.login] = account
    # Keep what is local to this process: the Client objects of its own sessions (its
    # front ends hold them: a session that is in the snapshot goes on, and one whose
    # login was waiting to be applied is now open) ...
    for sid, client in list(sessions.items()):
        held = state.sessions.get(sid) or state.pending.get(sid)
        if held is None:
            continue
        held.account = client.account
        held.sink = client.sink
        held.current = client.current
        held.connected_at = client.connected_at
        held.key_fingerprint = client.key_fingerprint
        held.source = client.source
        held.shown = client.shown
        clients = client.account.clients
        clients[clients.index(client)] = held
        sessions[sid] = held
        state.pending.pop(sid, None)
    # ... and the rate-limit buckets of accounts still there.
    for login, account in accounts.items():
        old = state.accounts.get(login)
        if old is not None:
            account.bucket = old.bucket
            account.command_bucket = old.command_bucket
            account.lines_refused = old.lines_refused
    state.accounts.clear()
    state.accounts.update(accounts)
    state.channels.clear()
    state.channels.update(channels)
    state.default_channel = channels[folded_home]
    state.sessions.clear()
    state.sessions.update(sessions)
    state.gone.clear()
    state.gone.update(str(prefix) for prefix in data["gone"])
