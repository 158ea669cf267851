"""Structured logs: the auth and connection events the running server emits."""

from __future__ import annotations

import json
import logging

import asyncssh
import pytest
from asyncssh.packet import Boolean, String, UInt32
from helpers.accounts import PASSWORDS
from helpers.client import connect

from sshchat.app import start_server
from sshchat.ops.logs import JsonFormatter, TextFormatter


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


def _events(caplog, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", "") == name]


async def test_auth_failure_tells_the_operator_whether_the_user_exists(server, caplog) -> None:
    caplog.set_level(logging.INFO, logger="sshchat")
    answers = []
    for user in ("bob", "zed"):
        with pytest.raises(asyncssh.PermissionDenied) as refused:
            await asyncssh.connect(
                "127.0.0.1",
                server.port,
                username=user,
                password="wrong",
                known_hosts=None,
                client_keys=None,
                preferred_auth="password",
            )
        answers.append(refused.value.reason.replace(user, "NAME"))
    assert answers[0] == answers[1]  # the client cannot tell the two apart
    exists = {r.fields["user"]: r.fields["user_exists"] for r in _events(caplog, "auth.failure")}
    assert exists == {"bob": "yes", "zed": "no"}
    line = TextFormatter().format(_events(caplog, "auth.failure")[-1])
    assert "user=zed user_exists=no" in line


async def test_start_up_is_a_structured_event(config, caplog) -> None:
    caplog.set_level(logging.INFO, logger="sshchat")
    running = await start_server(config)
    try:
        (record,) = _events(caplog, "server.listening")
        assert record.fields["address"] == "127.0.0.1"
        assert record.fields["port"] == running.port != 0
        assert record.fields["host_key"] == running.fingerprint
        assert record.fields["host_key"].startswith("SHA256:")
        assert record.getMessage() == "server.listening"
        data = json.loads(JsonFormatter().format(record))
        assert data["event"] == "server.listening"
        assert data["port"] == running.port
        assert data["host_key"] == running.fingerprint
        text = TextFormatter().format(record)
        assert f"server.listening address=127.0.0.1 port={running.port} host_key=SHA256:" in text
        # The host key was made on this first start: that is an event too.
        (created,) = _events(caplog, "hostkey.created")
        assert created.fields["fingerprint"] == running.fingerprint
    finally:
        await running.close()


async def test_refused_forwards_are_logged(server, caplog) -> None:
    caplog.set_level(logging.INFO, logger="sshchat")
    conn = await asyncssh.connect(
        "127.0.0.1",
        server.port,
        username="bob",
        password=PASSWORDS["bob"],
        known_hosts=None,
        client_keys=None,
        preferred_auth="password",
    )
    try:
        with pytest.raises(asyncssh.ChannelOpenError) as refused:
            await conn.create_connection(asyncssh.SSHTCPSession, "127.0.0.2", 9)
        assert "forwarding is refused" in refused.value.reason
        with pytest.raises(asyncssh.ChannelListenError):
            await conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", 80)
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.create_unix_connection(asyncssh.SSHUNIXSession, "/run/docker.sock")
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.start_sftp_client()
        # ssh -A and ssh -X: requests on the session channel, answered no.
        chan, _ = await conn.create_session(asyncssh.SSHClientSession)
        assert not await chan._make_request(b"auth-agent-req@openssh.com")
        assert not await chan._make_request(
            b"x11-req", Boolean(False), String("MIT-MAGIC-COOKIE-1"), String("00ff"), UInt32(0)
        )
        chan.close()
    finally:
        conn.close()
        await conn.wait_closed()
    refused_forwards = _events(caplog, "forward.refused")
    forwards = [(r.fields["request"], r.fields["target"]) for r in refused_forwards]
    assert forwards == [
        ("port", "127.0.0.2:9"),
        ("remote-port", "127.0.0.1:0"),
        ("unix-socket", "/run/docker.sock"),
        ("agent", ""),
        ("x11", ""),
    ]
    for record in _events(caplog, "forward.refused"):
        assert record.fields["user"] == "bob"
        assert record.fields["source"].startswith("127.0.0.1:")
    (sftp,) = [r for r in _events(caplog, "session.refused") if r.fields["request"] == "subsystem"]
    assert sftp.fields["subsystem"] == "sftp" and sftp.fields["user"] == "bob"
