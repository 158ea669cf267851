"""Presence in big channels is summarised, so a mass reconnect is not O(N²) lines."""

from __future__ import annotations

from helpers.sinks import RecordingSink as Sink

from sshchat.core.events import Presence, PresenceKind, PresenceSummary
from sshchat.core.hub import Hub
from sshchat.frontends.render import Renderer


def test_big_channel_gets_summaries_small_channel_gets_lines() -> None:
    n = 40
    hub = Hub([(f"u{i}", False) for i in range(n)], presence_summary_over=5)
    sinks = [Sink() for _ in range(n)]
    clients = [hub.connect(f"u{i}", sinks[i]) for i in range(n)]
    # Arrivals while the channel has at most 5 members are announced one by one.
    first = [e for e in sinks[0].events if isinstance(e, Presence)]
    assert [e.login for e in first] == ["u1", "u2", "u3", "u4"]
    hub.flush_presence()
    summaries = [e for e in sinks[0].events if isinstance(e, PresenceSummary)]
    assert len(summaries) == 1
    summary = summaries[0]
    assert summary.kind is PresenceKind.CONNECT
    assert summary.count == n - 5
    assert summary.nicks[0] == "u5" and len(summary.nicks) == 10
    # Deliveries stay linear: every member got at most 5 lines plus one summary.
    assert max(len([e for e in s.events if isinstance(e, Presence)]) for s in sinks) <= 5
    line = Renderer(color=False, own_login="u0").render(summary, "lobby")[0]
    assert f"{n - 5} connected: u5, u6" in line and "and 25 more" in line
    # Leaving is summarised too, and a flush with nothing pending sends nothing.
    for client in clients[20:]:
        hub.disconnect(client)
    before = len(sinks[0].events)
    hub.flush_presence()
    hub.flush_presence()
    new = sinks[0].events[before:]
    assert len(new) == 1 and new[0].kind is PresenceKind.DISCONNECT and new[0].count == 20


def test_quiet_users_do_not_get_summaries() -> None:
    hub = Hub([(f"u{i}", False) for i in range(10)], presence_summary_over=2)
    quiet = Sink()
    hub.connect("u0", quiet).account.prefs.quiet = True
    for i in range(1, 10):
        hub.connect(f"u{i}", Sink())
    hub.flush_presence()
    assert not [e for e in quiet.events if isinstance(e, Presence | PresenceSummary)]
