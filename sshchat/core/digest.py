"""A stable hash of a hub's durable state, to check that replaying facts rebuilds it."""

from __future__ import annotations

import hashlib
import json

from sshchat.core.events import ChatMessage, PrivateMessage
from sshchat.core.state import HubState

__all__ = ["state_digest"]


def state_digest(state: HubState) -> str:
    """SHA-256 of the durable state, the same for hubs that applied the same facts.

    Covers accounts (nick, admin, prefs, bans, mutes, ignores, membership,
    last channel, pending messages, presence), channels (owner, topic,
    private, ops, invitations, members and which of them are online,
    history), the open sessions by id (current channel, channels whose
    history they were shown) and the cluster nodes declared gone. Leaves out
    what is local to a process: sinks, rate limits, counters, presence
    summaries not yet sent.
    """
    accounts = {
        login: [
            a.nick,
            a.admin,
            a.prefs.quiet,
            a.prefs.bell,
            a.prefs.timestamps,
            a.prefs.color,
            a.banned_until,
            a.ban_reason,
            a.muted_until,
            sorted(a.ignored),
            sorted(a.channels),
            a.last_channel,
            a.away,
            a.connected_since,
            a.last_seen,
            a.last_pm_from,
            [_message(m) for m in a.pending],
        ]
        for login, a in sorted(state.accounts.items())
    }
    channels = {
        key: [
            c.name,
            c.owner,
            c.topic,
            c.private,
            c.created,
            sorted(c.ops),
            sorted(c.invited),
            sorted(c.members),
            sorted(c.online),
            [_message(m) for m in c.history],
        ]
        for key, c in sorted(state.channels.items())
    }
    sessions = {
        sid: [
            c.account.login,
            c.current.name,
            c.connected_at,
            c.source,
            c.key_fingerprint,
            sorted(c.shown),
        ]
        for sid, c in sorted(state.sessions.items())
    }
    body = [state.default_channel.name, accounts, channels, sessions, sorted(state.gone)]
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _message(m: ChatMessage | PrivateMessage) -> list[object]:
    if isinstance(m, ChatMessage):
        return [m.channel, m.sender, m.nick, m.text, m.action, m.time]
    return [m.sender, m.sender_nick, m.recipient, m.recipient_nick, m.text, m.time]
