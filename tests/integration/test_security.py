"""Security round 2, end to end against the real server: passwords as SSH delivers them,
credentials that change under open connections, key probes that never sign."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import sys
from collections.abc import AsyncIterator

import asyncssh
import pytest
from asyncssh.public_key import SSHLocalKeyPair
from helpers.accounts import FAST_HASHER, PASSWORDS, make_config_text
from helpers.client import ChatClient, connect
from helpers.options import edit_config

from sshchat.app import RunningServer, start_server
from sshchat.cli import main as cli
from sshchat.config import edit as accounts
from sshchat.config.schema import Config


@pytest.fixture(autouse=True)
def logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sshchat")


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


# -- changed credentials end open connections -------------------------------------------------


async def new_session_refused(client: ChatClient) -> str:
    """Ask the client's connection for another session; return the refusal's reason."""
    with pytest.raises(asyncssh.ChannelOpenError) as info:
        await client.conn.create_process(term_type=None, encoding="utf-8")
    return info.value.reason


async def closed(client: ChatClient) -> None:
    await asyncio.wait_for(client.conn.wait_closed(), 10)
    assert "Traceback" not in client.text


@pytest.fixture
async def carols(
    running: RunningServer, client_key: asyncssh.SSHKey
) -> AsyncIterator[tuple[ChatClient, ChatClient, ChatClient]]:
    """carol logged in twice, with her password and with her key; and bob."""
    assert running.watcher is not None
    running.watcher.removed_grace = 1.0  # long enough to ask for a session, short for a test
    opened = [
        await connect(running, "carol"),
        await connect(running, "carol", key=client_key),
        await connect(running, "bob", pty=False),
    ]
    try:
        yield opened[0], opened[1], opened[2]
    finally:
        for client in opened:
            await client.close()


async def test_a_changed_password_ends_the_connections_that_used_the_old_one(
    running: RunningServer, carols, caplog
) -> None:
    by_password, by_key, bob = carols
    hashed = FAST_HASHER.hash("carol-new-pw")
    edit_config(
        running.state.config.path, lambda t, p: accounts.set_password(t, p, "carol", hashed)
    )
    await reload(running)
    await by_password.expect("Your password was changed; log in again with the new one")
    assert "password was changed" in await new_session_refused(by_password)
    await closed(by_password)
    # Her key login stands, and so does bob's.
    by_key.send("key login still here")
    await bob.expect("<carol> key login still here")
    assert (await by_key.conn.create_process(term_type=None)).channel is not None
    revoked = [r for r in caplog.records if getattr(r, "event", "") == "conn.revoked"]
    assert [r.fields["user"] for r in revoked] == ["carol"]


async def test_a_removed_key_ends_the_connections_that_logged_in_with_it(
    running: RunningServer, carols, password_hashes, limits_toml, client_key: asyncssh.SSHKey
) -> None:
    by_password, by_key, bob = carols
    # The same config, without carol's key.
    running.state.config.path.write_text(make_config_text(password_hashes, None, extra=limits_toml))
    await reload(running)
    fingerprint = client_key.get_fingerprint("sha256")
    await by_key.expect(rf"The key you logged in with \({re.escape(fingerprint)}\) is no longer")
    assert "no longer authorized" in await new_session_refused(by_key)
    await closed(by_key)
    by_password.send("password login still here")
    await bob.expect("<carol> password login still here")
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(running, "carol", key=client_key)


async def test_a_ban_ends_the_connection_not_only_its_sessions(
    running: RunningServer, carols
) -> None:
    by_password, by_key, bob = carols
    running.state.goodbye_grace = 1.0
    alice = await connect(running, "alice")
    try:
        alice.send("/ban carol 1h spam")
        await alice.expect("Banned carol")
        for client in (by_password, by_key):
            await client.expect("you are banned from this server")
            assert "banned" in await new_session_refused(client)
        for client in (by_password, by_key):
            await closed(client)
        bob.send("/who")
        await bob.expect("alice")
    finally:
        await alice.close()


# -- a key that is offered but never signed with is not a key login -------------------


class UnsignedKey(SSHLocalKeyPair):
    """carol's public key, "signed" with another key: the server's check fails."""

    def __init__(self, public: asyncssh.SSHKey) -> None:
        super().__init__(public, None, None, None)
        self._other = asyncssh.generate_private_key("ssh-ed25519")

    def sign(self, data: bytes) -> bytes:
        return self._other.sign(data, self.sig_algorithm)


async def test_an_offered_key_without_a_valid_signature_is_not_the_login(
    running: RunningServer, client_key: asyncssh.SSHKey, caplog
) -> None:
    conn = await asyncssh.connect(
        "127.0.0.1",
        running.port,
        username="carol",
        password=PASSWORDS["carol"],
        client_keys=[UnsignedKey(client_key)],
        known_hosts=None,
        agent_path=None,
        config=None,
        preferred_auth="publickey,password",
    )
    process = await conn.create_process(term_type=None, encoding="utf-8")
    client = ChatClient(conn, process)
    client.start()
    try:
        await client.expect("Type /help for commands")
        client.send("/whois carol")
        await client.expect(r"login: carol")
        await client.absent(r"key: SHA256")
        [success] = [r.fields for r in caplog.records if getattr(r, "event", "") == "auth.success"]
        assert (success["method"], success["key"]) == ("password", "")
        # A password login: changing the key list leaves it alone, a new password ends it.
        assert running.watcher is not None
        running.watcher.removed_grace = 0.2
        hashed = FAST_HASHER.hash("carol-new-pw")
        edit_config(
            running.state.config.path, lambda t, p: accounts.set_password(t, p, "carol", hashed)
        )
        await reload(running)
        await client.expect("Your password was changed")
    finally:
        await client.close()
