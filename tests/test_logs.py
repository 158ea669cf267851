"""Structured logs: one line per event, text or JSON, and the events the server emits."""

from __future__ import annotations

import json
import logging

import asyncssh
import pytest
from asyncssh.packet import Boolean, String, UInt32
from conftest import PASSWORDS, connect

from sshchat.app import start_server
from sshchat.ops.logs import JsonFormatter, TextFormatter, log_event


def _record(event: str, **fields: object) -> logging.LogRecord:
    logger = logging.getLogger("sshchat.test")
    captured: list[logging.LogRecord] = []

    class Grab(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record)

    handler = Grab()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        log_event(logger, event, **fields)
    finally:
        logger.removeHandler(handler)
    return captured[0]


def test_text_format_is_one_line_of_key_values() -> None:
    record = _record("auth.failure", user="bob", source="10.0.0.1:22", reason="wrong password")
    line = TextFormatter().format(record)
    assert "\n" not in line
    assert line.endswith('auth.failure user=bob source=10.0.0.1:22 reason="wrong password"')


def test_text_format_strips_control_characters() -> None:
    record = _record("auth.failure", user="evil\n\x1b[2Jname")
    line = TextFormatter().format(record)
    assert "\n" not in line and "\x1b" not in line


def test_json_format_has_event_and_fields() -> None:
    record = _record("conn.close", source="127.0.0.1:5", user="alice", reason="closed", n=3)
    data = json.loads(JsonFormatter().format(record))
    assert data["event"] == "conn.close"
    assert data["user"] == "alice"
    assert data["n"] == 3
    assert data["level"] == "info"
    assert data["time"].endswith("Z")


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
            await conn.create_connection(asyncssh.SSHTCPSession, "10.1.2.3", 80)
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
        ("port", "10.1.2.3:80"),
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
