"""Shutting down: users are told, queued lines are written, sessions end."""

from __future__ import annotations

import asyncio

from helpers.client import connect

from sshchat.app import start_server
from sshchat.config.schema import Config


async def test_close_with_notice_tells_pty_and_plain_users(config: Config) -> None:
    running = await start_server(config)
    alice = await connect(running, "alice")
    bob = await connect(running, "bob", pty=False)
    try:
        bob.send("last words before shutdown")
        await alice.expect("last words before shutdown")
        await running.close(notice="The server is shutting down. Bye for now!", grace=5)
        for client in (alice, bob):
            await client.expect("The server is shutting down")
            await asyncio.wait_for(client.process.wait_closed(), 5)
        assert "Traceback" not in alice.text + bob.text
    finally:
        await alice.close()
        await bob.close()
