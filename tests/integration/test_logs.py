"""Structured logs: the auth and connection events the running server emits."""

from __future__ import annotations

import logging

import asyncssh
import pytest
from helpers.client import connect


async def test_server_logs_auth_and_connection_events(server, clients, caplog) -> None:
    caplog.set_level(logging.INFO, logger="sshchat")
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect(
            "127.0.0.1",
            server.port,
            username="bob",
            password="wrong",
            known_hosts=None,
            client_keys=None,
        )
    clients.append(await connect(server, "alice"))
    events = {(r.event, r.fields.get("user")) for r in caplog.records if hasattr(r, "event")}
    assert ("auth.failure", "bob") in events
    assert ("auth.success", "alice") in events
    assert ("session.start", "alice") in events
    assert any(e == "conn.open" for e, _ in events)
    failure = next(r for r in caplog.records if getattr(r, "event", "") == "auth.failure")
    assert failure.fields["source"].startswith("127.0.0.1:")
    assert failure.fields["kind"] == "password"
    assert server.hub.stats.auth_failures["password"] == 1
