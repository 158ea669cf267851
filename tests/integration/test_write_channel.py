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

WINDOW = 256 * 1024
PACKET = 512

pytestmark = pytest.mark.skipif(
    not patches._CHANNEL_WRITE_PATCHABLE, reason="asyncssh release write_channel was not checked on"
)


@pytest.fixture(autouse=True)
def _patched() -> None:
    """As in the server: the send_packet patch in place (see test_without_the_send_packet_patch)."""
    patches.install()


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


def _capture(monkeypatch: pytest.MonkeyPatch, *chans: Any) -> list[list[tuple[int, bytes]]]:
    """Record the packets each channel sends (payload without the channel id).

    Both ways end in the patch's ``_send_sealed``: ``chan.write`` through
    asyncssh's channel and the connection's (patched) ``send_packet``,
    ``write_channel`` directly.
    """
    original = patches._send_sealed
    sent: list[list[tuple[int, bytes]]] = [[] for _ in chans]

    def send_sealed(conn: Any, payload: bytes, handler: Any) -> bool:
        for chan, packets in zip(chans, sent, strict=True):
            if handler is chan:
                packets.append((payload[0], payload[5:]))
        return original(conn, payload, handler)

    monkeypatch.setattr(patches, "_send_sealed", send_sealed)
    return sent


async def test_write_channel_sends_what_channel_write_sends(monkeypatch) -> None:
    server, conn, (stock, fast), received, _ = await _two_channels()
    stock_sent, fast_sent = _capture(monkeypatch, stock, fast)
    written: list[str] = []
    handed_on: list[str] = []  # the writes write_channel gave to chan.write
    real_write = fast.write

    def write(data: str) -> None:
        handed_on.append(data)
        real_write(data)

    fast.write = write
    texts = st.text(max_size=300) | st.text(min_size=400, max_size=1200)

    def both(text: str) -> None:
        stock.write(text)
        patches.write_channel(fast, text)
        written.append(text)
        assert fast_sent == stock_sent
        assert fast._send_window == stock._send_window
        assert fast._send_buf == stock._send_buf

    @settings(
        max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(batch=st.lists(texts, max_size=6))
    def same_packets(batch: list[str]) -> None:
        for text in batch:
            both(text)

    try:
        for i in range(20):  # a fresh window: chat lines go the short way
            both(f"line {i} \N{SNOWMAN}\r\n")
        assert handed_on == [] and len(fast_sent) == 20
        same_packets()  # anything, including lines longer than a packet
        while not fast._send_buf:  # until the window is full and writes queue
            both("z" * (PACKET // 2))
        both("after the queue")
        assert handed_on[-1] == "after the queue"
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
    (sent,) = _capture(monkeypatch, chan)
    stock_writes: list[str] = []
    written: list[str] = []
    real_write = chan.write

    def write(data: str) -> None:
        stock_writes.append(data)
        real_write(data)

    def write_channel(text: str) -> None:
        patches.write_channel(chan, text)
        written.append(text)

    monkeypatch.setattr(chan, "write", write)
    try:
        write_channel("fits\r\n")
        assert stock_writes == []
        assert sent == [(MSG_CHANNEL_DATA, b"\0\0\0\6fits\r\n")]
        write_channel("x" * (PACKET + 1))  # more than one packet
        assert stock_writes == ["x" * (PACKET + 1)]
        asyncssh.set_debug_level(2)  # asyncssh logs every write at this level
        try:
            write_channel("logged")
        finally:
            asyncssh.set_debug_level(1)
        assert stock_writes[-1] == "logged"
        patches.uninstall_send_packet()
        try:  # asyncssh's own send_packet: the packet goes through it, not the patch
            write_channel("plain")
        finally:
            patches.install_send_packet()
        assert stock_writes[-1] == "logged" and sent[-1][1].endswith(b"logged")
        while not chan._send_buf:  # until the window is full and writes queue
            write_channel("y" * (PACKET // 2))
        write_channel("after the queue")
        assert stock_writes[-1] == "after the queue"  # never ahead of what waits
        want = "".join(written)
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
