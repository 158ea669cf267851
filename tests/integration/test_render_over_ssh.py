"""What a pty session looks like over SSH: wrapping at its width, 256 colours."""

from __future__ import annotations

import re

import asyncssh
from helpers.accounts import PASSWORDS
from helpers.client import ChatClient, connect

LONG = (
    "the quick brown fox jumps over the lazy dog and then keeps running far away "
    "until nobody can see it any more"
)


# -- end to end: a pty session wraps at its width and colours from 256 ------------------------


async def test_pty_session_wraps_at_its_width_with_256_colours(server, clients) -> None:
    # TERM=xterm-256color; the welcome is wrapped too, so wait for the prompt only
    alice = await connect(server, "alice", term_size=(40, 24), wait_prompt=False)
    clients.append(alice)
    await alice.expect(r"#lobby alice>")
    bob = await connect(server, "bob", pty=False)
    clients.append(bob)
    bob.send(LONG)
    await alice.expect(r"<bob> the quick brown fox jumps\n {12}over the lazy dog and then\n")
    assert re.search(r"<\x1b\[38;5;\d+mbob\x1b\[0m> ", alice.output)
    # the plain session is not wrapped
    await bob.expect(re.escape(f"<bob> {LONG}\n"))


async def test_colorterm_from_the_client_environment_selects_256_colours(server, clients) -> None:
    async def session(env: dict[str, str]) -> ChatClient:
        conn = await asyncssh.connect(
            "127.0.0.1",
            server.port,
            username="carol",
            password=PASSWORDS["carol"],
            known_hosts=None,
            preferred_auth="password,keyboard-interactive",
        )
        process = await conn.create_process(
            term_type="xterm", term_size=(80, 24), env=env, encoding="utf-8"
        )
        client = ChatClient(conn, process)
        client.start()
        clients.append(client)
        await client.expect(r"#lobby carol>")
        return client

    rich = await session({"COLORTERM": "truecolor"})
    basic = await session({})
    bob = await connect(server, "bob", pty=False)
    clients.append(bob)
    bob.send("colours?")
    await rich.expect(r"<bob> colours\?")
    await basic.expect(r"<bob> colours\?")
    assert re.search(r"<\x1b\[38;5;\d+mbob\x1b\[0m> ", rich.output)
    assert re.search(r"<\x1b\[(3|9)\dmbob\x1b\[0m> ", basic.output)
