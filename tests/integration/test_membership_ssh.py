"""Membership over SSH: a reconnect and a server restart keep a user's channels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from helpers.client import ChatClient, connect

from sshchat.app import RunningServer, start_server
from sshchat.config.schema import Config


async def gone(server: RunningServer, client: ChatClient, login: str) -> None:
    """Close ``client`` and wait until the server has ended the account's session."""
    await client.close()
    for _ in range(500):
        if not server.hub.accounts[login].online:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{login} is still online")


async def test_a_reconnect_keeps_the_channels(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await connect(server, "alice")
    bob = await connect(server, "bob", pty=False)
    clients += [alice, bob]
    alice.send("/create dev")
    await alice.expect(r"Created channel #dev")
    bob.send("/join dev")
    await alice.expect(r"-- bob joined #dev")
    bob.send("said before leaving")
    await alice.expect(r"<bob> said before leaving")

    await gone(server, bob, "bob")
    await alice.expect(r"-- bob disconnected")
    alice.send("/who")
    await alice.expect(r"In #dev: alice \[owner\] \[admin\], bob \(offline\)\n")

    bob = await connect(server, "bob", wait_prompt=False)
    clients.append(bob)
    await bob.expect(r"said before leaving")  # the history of the channel he lands in
    await bob.expect(r"-- You are in #dev: 2 online: alice, bob")
    await bob.expect(r"#dev bob>")  # where he talked last
    await alice.expect(r"-- bob connected")
    bob.send("back in dev")
    await alice.expect(r"\d\d:\d\d <bob> back in dev")  # #dev is alice's channel: no tag
    alice.send("/list")
    await alice.expect(r"#dev \*  2/2 members")
    assert "bob joined" not in alice.text.split("bob disconnected", 1)[1]


STORAGE = '[storage]\npath = "data/chat.db"\ncommit_interval = 0.05\n'


@pytest.fixture
def limits_toml() -> str:
    """The conftest config, plus a [storage] table."""
    return "[limits]\nmessage_burst = 100000\nmessage_rate = 100000\n\n" + STORAGE


@asynccontextmanager
async def lifetime(config: Config) -> AsyncIterator[tuple[RunningServer, list[ChatClient]]]:
    """One run of the server; its clients are closed and the server stopped at the end."""
    running = await start_server(config)
    opened: list[ChatClient] = []
    try:
        yield running, opened
    finally:
        for client in opened:
            await client.close()
        await running.close()


async def test_a_restart_keeps_the_channels(config: Config) -> None:
    async with lifetime(config) as (server, opened):
        alice = await connect(server, "alice", pty=False)
        bob = await connect(server, "bob", pty=False)
        opened += [alice, bob]
        alice.send("/create dev")
        await alice.expect(r"Created channel #dev")
        bob.send("/join dev")
        await alice.expect(r"-- bob joined #dev")
        bob.send("remember me")
        await alice.expect(r"<bob> remember me")
        alice.send("/join lobby")
        await alice.expect(r"Now talking in #lobby")

    async with lifetime(config) as (server, opened):
        bob = await connect(server, "bob", pty=False)
        opened.append(bob)
        await bob.expect(r"history: the last line of #dev ---\n.*<bob> remember me")
        await bob.expect(r"-- You are in #dev: 1 online: bob\n")
        assert "#lobby" not in bob.text  # the welcome does not claim the home channel
        bob.send("/who")
        await bob.expect(r"In #dev: bob, alice \[owner\] \[admin\] \(offline\)\n")

        alice = await connect(server, "alice", wait_prompt=False)
        opened.append(alice)
        await alice.expect(r"-- You are in #lobby: 2 online: alice, bob")
        await alice.expect(r"#lobby alice>")  # she switched back to the lobby last
        bob.send("hello again")
        await alice.expect(r"#dev <bob> hello again")  # still in #dev: tagged lines
        alice.send("/list")
        await alice.expect(r"#dev  2/2 members\n  #lobby \*  2/2 members")
