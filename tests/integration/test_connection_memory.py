"""Connections keep less after login, and still re-key (sshchat.ssh.connpatches).

The server forgets both KEXINIT messages once a key exchange has sent its new
keys; a re-key must then still work (each side sends and hashes fresh ones).
"""

from __future__ import annotations

import asyncssh
from helpers.accounts import PASSWORDS
from helpers.client import ChatClient
from helpers.screen import TerminalScreen

from sshchat.ssh import connpatches


async def test_a_connection_rekeys_after_the_kexinits_were_forgotten(server, monkeypatch) -> None:
    # What the server's connection holds right after each key exchange it finishes.
    finished: list[tuple[object, bytes, bytes]] = []

    def recording(self, k: bytes, h: bytes) -> None:
        connpatches.send_newkeys(self, k, h)
        if isinstance(self, asyncssh.SSHServerConnection):
            finished.append((self, self._client_kexinit, self._server_kexinit))

    assert connpatches.installed()  # by the server fixture's listener
    monkeypatch.setattr(asyncssh.connection.SSHConnection, "send_newkeys", recording)
    # The client asks for a new key exchange after every few KB it sends.
    conn = await asyncssh.connect(
        "127.0.0.1",
        server.port,
        username="alice",
        password=PASSWORDS["alice"],
        known_hosts=None,
        preferred_auth="password",
        rekey_bytes=4096,
    )
    process = await conn.create_process(
        term_type="xterm-256color", term_size=(100, 30), encoding="utf-8", errors="replace"
    )
    client = ChatClient(conn, process, screen=TerminalScreen.for_size(100, 30))
    client.start()
    try:
        await client.expect(r"#lobby alice>")
        for i in range(40):
            client.send(f"line {i} " + "x" * 200)
        await client.expect(r"line 39 x+")
        assert len(finished) >= 2  # re-keyed at least once, all on this connection
        assert len({id(conn) for conn, _, _ in finished}) == 1
        assert all(client == server == b"" for _, client, server in finished)
        client.send("after the re-keys")
        await client.expect(r"after the re-keys")
    finally:
        await client.close()
