"""Hubs for tests without SSH: accounts, a recording sink per client, lines typed as users."""

from __future__ import annotations

from helpers.sinks import RecordingSink as Sink
from sshchat.commands.registry import Outcome, handle_line
from sshchat.core.hub import Client, Hub


class Chat:
    """A hub plus helpers to connect users and type lines as them."""

    def __init__(self, **kwargs) -> None:
        self.hub = Hub(
            [("alice", True), ("bob", False), ("carol", False), ("dave", False)],
            default_channel="lobby",
            **kwargs,
        )
        self.sinks: dict[int, Sink] = {}

    def connect(self, login: str, **kwargs) -> Client:
        sink = Sink()
        client = self.hub.connect(login, sink, **kwargs)
        self.sinks[client.id] = sink
        return client

    def sink(self, client: Client) -> Sink:
        return self.sinks[client.id]

    def do(self, client: Client, line: str) -> Sink:
        """Type ``line`` as ``client``; return the client's sink, emptied beforehand."""
        sink = self.sink(client)
        sink.take()
        outcome = handle_line(self.hub, client, line)
        assert outcome is Outcome.CONTINUE
        return sink

    def clear(self) -> None:
        for sink in self.sinks.values():
            sink.take()
