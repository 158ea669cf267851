"""sshchat.ssh.patches.write_channel against asyncssh's own SSHChannel.write.

Two sessions on one real asyncssh connection get the same writes, one through
``chan.write`` and one through ``write_channel``; the peer's window and packet
size are small, so writes that fill the window, queue, or need several packets
(the cases handed to ``chan.write``) are part of the same run. No loop turn
runs during the writes, so both channels see the same window at every write and
must send the same packets; afterwards both clients must have received every
byte, in order.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncssh
import pytest
from asyncssh.constants import MSG_CHANNEL_DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sshchat.ssh import patches

WINDOW = 4096
PACKET = 512

pytestmark = pytest.mark.skipif(
    not patches._CHANNEL_WRITE_PATCHABLE, reason="asyncssh release write_channel was not checked on"
)


class _Server(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return False


class _Received(asyncssh.SSHClientSession[str]):
    def __init__(self) -> None:
        self.text: list[str] = []

    def data_received(self, data: str, datatype: object) -> None:
        self.text.append(data)


async def _two_channels() -> tuple[Any, Any, Any, list[_Received], Any]:
    chans: asyncio.Queue[Any] = asyncio.Queue()
    server = await asyncssh.create_server(
        _Server,
        "127.0.0.1",
        0,
        server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
        encryption_algs=["aes128-gcm@openssh.com"],
        compression_algs=["none"],
        session_factory=lambda i, o, e: chans.put_nowait(o.channel),
        encoding="utf-8",
        line_editor=False,
    )
    conn = await asyncssh.connect(
        "127.0.0.1", server.sockets[0].getsockname()[1], known_hosts=None, username="u"
    )
    received = []
    for _ in range(2):
        _chan, session = await conn.create_session(
            _Received, encoding="utf-8", window=WINDOW, max_pktsize=PACKET
        )
        received.append(session)
    stock, fast = await chans.get(), await chans.get()
    return server, conn, (stock, fast), received, chans


def _capture(*chans: Any) -> list[list[tuple[int, bytes]]]:
    """Record the packets each channel hands to the connection (payload without channel id)."""
    conn = chans[0]._conn
    original = type(conn).send_packet
    sent: list[list[tuple[int, bytes]]] = [[] for _ in chans]

    def send_packet(pkttype: int, *args: bytes, handler: Any = None) -> None:
        for chan, packets in zip(chans, sent, strict=True):
            if handler is chan:
                packets.append((pkttype, b"".join(args)[4:]))
        original(conn, pkttype, *args, handler=handler)

    conn.send_packet = send_packet
    return sent


async def test_write_channel_sends_what_channel_write_sends() -> None:
    server, conn, (stock, fast), received, _ = await _two_channels()
    stock_sent, fast_sent = _capture(stock, fast)
    written: list[str] = []
    handed_on: list[str] = []  # the writes write_channel gave to chan.write
    real_write = fast.write

    def write(data: str) -> None:
        handed_on.append(data)
        real_write(data)

    fast.write = write
    texts = st.text(max_size=300) | st.text(min_size=400, max_size=1200)

    @settings(
        max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(batch=st.lists(texts, max_size=6))
    def same_packets(batch: list[str]) -> None:
        for text in batch:
            stock.write(text)
            patches.write_channel(fast, text)
            written.append(text)
            assert fast_sent == stock_sent
            assert fast._send_window == stock._send_window
            assert fast._send_buf == stock._send_buf

    try:
        same_packets()
        # Both kinds of write were part of the run.
        assert 10 < len(handed_on) < len(written) - 10
        want = "".join(written)
        async with asyncio.timeout(20):
            while min(len("".join(r.text)) for r in received) < len(want):
                await asyncio.sleep(0.01)
        assert "".join(received[0].text) == want
        assert "".join(received[1].text) == want
    finally:
        conn.close()
        server.close()


async def test_write_channel_hands_the_other_cases_to_asyncssh(monkeypatch) -> None:
    server, conn, (_, chan), received, _ = await _two_channels()
    (sent,) = _capture(chan)
    stock_writes: list[str] = []
    real_write = chan.write

    def write(data: str) -> None:
        stock_writes.append(data)
        real_write(data)

    monkeypatch.setattr(chan, "write", write)
    try:
        patches.write_channel(chan, "fits\r\n")
        assert stock_writes == []
        assert sent == [(MSG_CHANNEL_DATA, b"\0\0\0\6fits\r\n")]
        patches.write_channel(chan, "x" * (PACKET + 1))  # more than one packet
        assert stock_writes == ["x" * (PACKET + 1)]
        asyncssh.set_debug_level(2)  # asyncssh logs every write at this level
        try:
            patches.write_channel(chan, "logged")
        finally:
            asyncssh.set_debug_level(1)
        assert stock_writes[-1] == "logged"
        patches.write_channel(chan, "y" * WINDOW)  # more than the window has left: queued
        assert chan._send_buf
        patches.write_channel(chan, "after the queue")
        assert stock_writes[-1] == "after the queue"  # never ahead of what waits
        want = "fits\r\n" + "".join(stock_writes)
        async with asyncio.timeout(20):
            while len("".join(received[1].text)) < len(want):
                await asyncio.sleep(0.01)
        assert "".join(received[1].text) == want
        chan.close()
        with pytest.raises(BrokenPipeError):
            patches.write_channel(chan, "closed")  # as chan.write
    finally:
        conn.close()
        server.close()
