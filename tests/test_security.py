"""Security round 2, end to end against the real server: passwords as SSH delivers them,
credentials that change under open connections, key probes that never sign."""

from __future__ import annotations

import io
import sys
from collections.abc import AsyncIterator

import asyncssh
import pytest
from conftest import connect

from sshchat.cli import main as cli
from sshchat.config.schema import Config
from sshchat.ssh.server import RunningServer, start_server


@pytest.fixture
async def running(config: Config) -> AsyncIterator[RunningServer]:
    """A server that reloads only when a test asks (no file polling)."""
    server = await start_server(config, watch_interval=None)
    try:
        yield server
    finally:
        await server.close()


async def reload(server: RunningServer) -> None:
    assert server.watcher is not None
    assert await server.watcher.reload() is not None


# -- passwords are hashed as SSH delivers them ----------------------------------------------


@pytest.mark.parametrize("command", ["add", "passwd"])
async def test_a_password_set_with_the_cli_logs_in_over_ssh(
    running: RunningServer, monkeypatch, command: str
) -> None:
    password = "café\u00a0ｐassword"  # no-break space and a full-width letter
    name = "erin" if command == "add" else "bob"
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    path = str(running.state.config.path)
    assert cli.main(["user", command, name, "--config", path]) == 0
    await reload(running)
    # asyncssh's client sends the password as typed; the server normalises it.
    client = await connect(running, name, password=password, pty=False)
    try:
        client.send("/whois " + name)
        await client.expect(name)
    finally:
        await client.close()
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(running, name, password="café password!", pty=False)
