"""sshchat's send_packet patch on a real connection: a real asyncssh client, across rekeys.

The byte-level checks against asyncssh's own method are in
tests/unit/ssh/test_send_packet_patch.py; here the lines must arrive whole and in
order while keys change under them, and without the IGNORE before each.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncssh
import pytest
from asyncssh.connection import SSHConnection
from asyncssh.constants import MSG_IGNORE, MSG_KEXINIT

from sshchat.ssh import patches


class _Server(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return False


def _counting(monkeypatch: pytest.MonkeyPatch, pkttype: int) -> list[int]:
    """Count the packets of ``pkttype`` the client receives."""
    seen: list[int] = []
    handlers = SSHConnection._packet_handlers
    original = handlers[pkttype]

    def counted(conn: Any, *args: Any) -> Any:
        if conn.is_client():
            seen.append(pkttype)
        return original(conn, *args)

    monkeypatch.setitem(handlers, pkttype, counted)  # type: ignore[arg-type]
    return seen


async def _loopback(lines: int, rekey_limit: int) -> None:
    """Server writes ``lines`` lines to a real asyncssh client: all must arrive, in order."""
    chans: asyncio.Queue[Any] = asyncio.Queue()
    server = await asyncssh.create_server(
        _Server,
        "127.0.0.1",
        0,
        server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
        encryption_algs=["aes128-gcm@openssh.com", "aes128-ctr"],
        compression_algs=["none"],
        rekey_bytes=rekey_limit,
        session_factory=lambda i, o, e: chans.put_nowait(o.channel),
        encoding=None,
        line_editor=False,
    )
    got = bytearray()
    want = b"".join(b"line %d\r\n" % i for i in range(lines))

    class _Client(asyncssh.SSHClientSession[bytes]):
        def data_received(self, data: bytes, datatype: object) -> None:
            got.extend(data)

    try:
        async with asyncssh.connect(
            "127.0.0.1", server.sockets[0].getsockname()[1], known_hosts=None, username="u"
        ) as conn:
            await conn.create_session(_Client, encoding=None)
            chan = await chans.get()
            for i in range(lines):
                chan.write(b"line %d\r\n" % i)
                if i % 50 == 0:
                    await asyncio.sleep(0)
            async with asyncio.timeout(20):
                while len(got) < len(want):
                    await asyncio.sleep(0.01)
    finally:
        server.close()
    assert bytes(got) == want


async def test_loopback_with_asyncssh_client_across_rekeys(monkeypatch) -> None:
    ignores = _counting(monkeypatch, MSG_IGNORE)
    kexinits = _counting(monkeypatch, MSG_KEXINIT)
    assert patches.install_send_packet()
    await _loopback(600, rekey_limit=4096)
    patched_ignores, patched_kexinits = len(ignores), len(kexinits)
    assert patched_kexinits > 2  # the keys changed under the writes
    patches.uninstall_send_packet()
    try:
        await _loopback(600, rekey_limit=4096)
    finally:
        patches.install_send_packet()
    # asyncssh's own send_packet puts an IGNORE before each line; the patched one does not
    assert patched_ignores <= 3  # handshake and auth replies: asyncssh's own method
    assert len(ignores) - patched_ignores >= 600
