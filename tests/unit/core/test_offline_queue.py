"""The offline private-message queue: full means the sender is told, nothing is lost silently."""

from __future__ import annotations

from helpers.sinks import RecordingSink as Sink

from sshchat.commands.registry import handle_line
from sshchat.core.events import History, Notice, PrivateMessage
from sshchat.core.hub import Hub
from sshchat.core.model import MAX_PENDING


def test_a_full_queue_refuses_the_message_and_tells_its_sender() -> None:
    hub = Hub([("alice", False), ("bob", False), ("carol", False)])
    alice_sink, bob_sink = Sink(), Sink()
    alice = hub.connect("alice", alice_sink)
    bob = hub.connect("bob", bob_sink)
    for i in range(MAX_PENDING):
        handle_line(hub, alice, f"/msg carol note {i}")
    alice_sink.events.clear()
    handle_line(hub, bob, "/msg carol one too many")
    [refusal] = [e for e in bob_sink.events if isinstance(e, Notice)]
    assert "carol is offline and already has 100 private messages waiting" in refusal.text
    assert "yours was not sent" in refusal.text
    assert not [e for e in bob_sink.events if isinstance(e, PrivateMessage)]
    # Nobody's earlier message was dropped to make room.
    carol_sink = Sink()
    hub.connect("carol", carol_sink)
    [waiting] = [e for e in carol_sink.events if isinstance(e, History) and e.channel is None]
    assert [m.text for m in waiting.messages] == [f"note {i}" for i in range(MAX_PENDING)]
    # Once read, there is room again (and an online recipient has no queue at all).
    handle_line(hub, bob, "/msg carol now it fits")
    assert [e.text for e in carol_sink.events if isinstance(e, PrivateMessage)] == ["now it fits"]
