"""sshchat.ssh.patches.fast_send_packet against asyncssh's own send_packet.

The fast path must put asyncssh's bytes on the wire for every packet it sends
(same padding, sequence number, nonce, MAC), leave out only the empty
SSH_MSG_IGNORE asyncssh puts before each connection-protocol packet (kept for
CBC), and hand every other case (handshake, rekey due, CBC) to asyncssh.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import asyncssh
import pytest
from asyncssh.connection import SSHConnection
from asyncssh.crypto.cipher import GCMCipher as AsyncsshGCMCipher
from asyncssh.encryption import get_encryption, get_encryption_params
from hypothesis import given, settings
from hypothesis import strategies as st

from sshchat.ssh import patches

STOCK = patches._STOCK_SEND_PACKET
MSG_IGNORE = 2
SUITES = [
    (b"aes128-gcm@openssh.com", b""),
    (b"aes256-gcm@openssh.com", b""),
    (b"aes128-ctr", b"hmac-sha2-256-etm@openssh.com"),
    (b"aes256-ctr", b"hmac-sha2-512-etm@openssh.com"),
    (b"aes128-cbc", b"hmac-sha2-256-etm@openssh.com"),
]


class _Conn:
    """The attributes asyncssh's send_packet reads once keys and auth are done.

    ``ours``: an AES-GCM suite seals with sshchat's FastGCMCipher (the patch's
    one-call path), else with asyncssh's own GCMCipher - whichever one
    ``patches.install()``, run or not by earlier tests, left in asyncssh.
    """

    def __init__(self, enc_alg: bytes, mac_alg: bytes, *, seq: int = 7, ours: bool = False) -> None:
        keysize, ivsize, blocksize, mac_keysize, _hashsize, etm = get_encryption_params(
            enc_alg, mac_alg
        )
        self.keys = (bytes(range(keysize)), bytes(range(1, ivsize + 1)), bytes(mac_keysize))
        self._send_encryption = get_encryption(
            enc_alg, self.keys[0], self.keys[1], mac_alg, self.keys[2], etm
        )
        if b"gcm" in enc_alg:
            cipher = patches.FastGCMCipher if ours else AsyncsshGCMCipher
            name = asyncssh.encryption._enc_params[enc_alg][1]
            self._send_encryption._cipher = cipher(name, *self.keys[:2])
        self._send_enchdrlen = 1 if etm else 5
        self._send_blocksize = max(8, blocksize)
        self._compressor = None
        self._compress_after_auth = False
        self._kex_complete = self._auth_complete = True
        self._rekey_bytes_sent, self._rekey_bytes = 0, 1 << 30
        self._rekey_seconds, self._rekey_time = 3600, float("inf")
        self._strict_kex = True
        self._send_seq = seq
        self._deferred_packets: list[Any] = []
        self._extra = {"send_cipher": enc_alg.decode()}
        self._transport = self
        self.wire: list[bytes] = []
        self.logged: list[tuple[int, int, bytes]] = []

    def write(self, data: bytes) -> None:  # the transport
        self.wire.append(data)

    def _send(self, data: bytes) -> None:
        self.wire.append(data)

    def log_sent_packet(self, pkttype: int, seq: int, payload: bytes, note: str = "") -> None:
        self.logged.append((pkttype, seq, payload))

    def send_packet(self, pkttype: int, *args: bytes, handler: Any = None) -> None:
        STOCK(self, pkttype, *args, handler=handler)  # asyncssh's own, for its IGNORE


def _fixed_random(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same padding bytes for asyncssh (os.urandom) and the patch (its pool)."""

    def fixed(n: int) -> bytes:
        return bytes((0x5A + i) & 0xFF for i in range(n))

    monkeypatch.setattr("os.urandom", fixed)
    monkeypatch.setattr(patches, "_padding", fixed)


@settings(max_examples=60, deadline=None)
@given(
    suite=st.sampled_from(SUITES[:4]),
    pkttype=st.integers(min_value=80, max_value=127),
    args=st.lists(st.binary(max_size=300), min_size=1, max_size=3),
)
def test_each_packet_is_asyncssh_bytes_without_the_ignore_before_it(
    suite: tuple[bytes, bytes], pkttype: int, args: list[bytes]
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        _fixed_random(mp)
        stock = _Conn(*suite)
        STOCK(stock, pkttype, *args)
        # asyncssh: an IGNORE at seq 7, then the packet at seq 8 with the next nonce.
        assert len(stock.wire) == 2
        fast = _Conn(*suite, seq=8, ours=True)
        fast._send_encryption.encrypt_packet(7, b"\0\0\0\x10", bytes(16))  # same nonce as stock
        patches.fast_send_packet(fast, pkttype, *args)
    assert fast.wire == [stock.wire[1]]
    assert fast._send_seq == stock._send_seq == 9
    ignore_len = stock._rekey_bytes_sent - fast._rekey_bytes_sent
    assert 0 < ignore_len <= 5 + 4 + 32  # only the IGNORE's length is not counted
    assert stock.logged[0][0] == MSG_IGNORE


@pytest.mark.parametrize("suite", SUITES[:4])
def test_a_stream_decrypts_to_asyncssh_packets_minus_ignores(
    suite: tuple[bytes, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fixed_random(monkeypatch)
    lines = [
        bytes([94]) + b"\0\0\0\x01" + len(b).to_bytes(4, "big") + b for b in (b"hi", b"x" * 200)
    ]
    stock, fast = _Conn(*suite), _Conn(*suite, ours=True)
    for line in lines:
        STOCK(stock, line[0], line[1:])
        patches.fast_send_packet(fast, line[0], line[1:])
    assert len(stock.wire) == 2 * len(fast.wire) == 4
    # the same packets, in order, at the sequence numbers the receiver expects
    assert next(p for p in stock.logged if p[0] != MSG_IGNORE)[2] == lines[0]
    assert fast._send_seq == 7 + len(lines)


@pytest.mark.parametrize(
    "change",
    [
        {"suite": SUITES[4]},  # CBC
        {"_rekey_bytes_sent": 1 << 30},
        {"_rekey_time": 0.0},
        {"_auth_complete": False},
        {"_send_encryption": None},
        {"_compressor": object()},
    ],
    ids=["cbc", "rekey-bytes", "rekey-time", "auth", "no-cipher", "compression"],
)
def test_every_other_case_goes_to_asyncssh(change: dict[str, Any], monkeypatch) -> None:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(patches, "_STOCK_SEND_PACKET", lambda *a, **k: calls.append(a))
    change = dict(change)
    conn = _Conn(*change.pop("suite", SUITES[0]))
    for name, value in change.items():
        setattr(conn, name, value)
    patches.fast_send_packet(conn, 94, b"\0\0\0\0", b"\0\0\0\x02hi")
    patches.fast_send_packet(conn, 80, b"")  # not channel data, still connection protocol
    assert len(calls) == 2 and conn.wire == []


def test_handshake_and_auth_packets_go_to_asyncssh(monkeypatch) -> None:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(patches, "_STOCK_SEND_PACKET", lambda *a, **k: calls.append(a))
    conn = _Conn(*SUITES[0])
    for pkttype in (MSG_IGNORE, 20, 21, 50, 52, 79):
        patches.fast_send_packet(conn, pkttype, b"")
    assert len(calls) == 6 and conn.wire == []


def test_cbc_keeps_asyncssh_bytes_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    _fixed_random(monkeypatch)
    stock, fast = _Conn(*SUITES[4]), _Conn(*SUITES[4])
    STOCK(stock, 94, b"\0\0\0\0\0\0\0\x02hi")
    patches.fast_send_packet(fast, 94, b"\0\0\0\0\0\0\0\x02hi")
    assert fast.wire == stock.wire and len(fast.wire) == 2


def test_packet_log_only_at_debug_level_3(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = _Conn(*SUITES[0])
    patches.fast_send_packet(conn, 94, b"\0\0\0\0", b"\0\0\0\x02hi")
    assert conn.logged == []
    monkeypatch.setattr(asyncssh.logging.SSHLogger, "_debug_level", 3)
    patches.fast_send_packet(conn, 94, b"\0\0\0\0", b"\0\0\0\x02hi")
    assert conn.logged == [(94, 8, b"\x5e\0\0\0\0\0\0\0\x02hi")]


def test_an_unknown_asyncssh_keeps_its_own_send_packet(monkeypatch, caplog) -> None:
    patches.uninstall_send_packet()
    monkeypatch.setattr(asyncssh, "__version__", "2.99.0")
    with caplog.at_level(logging.WARNING, logger="sshchat.ssh.patches"):
        assert patches.install_send_packet() is False
    assert SSHConnection.send_packet is STOCK
    assert "2.99.0" in caplog.text
    monkeypatch.undo()
    assert patches.install_send_packet() is True
    assert SSHConnection.send_packet is patches.fast_send_packet


def test_padding_comes_from_one_draw_and_no_byte_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    draws: list[int] = []

    def urandom(n: int) -> bytes:
        draws.append(n)
        return bytes(i % 251 for i in range(len(draws) * 1000, len(draws) * 1000 + n))

    monkeypatch.setattr("os.urandom", urandom)
    pool = patches._PaddingPool()
    taken = [pool.take(n) for n in (4, 19, 8, 16)]
    assert [len(t) for t in taken] == [4, 19, 8, 16] and draws == [pool.SIZE]
    first = bytes(i % 251 for i in range(1000, 1000 + 47))
    assert b"".join(taken) == first  # consecutive slices of the one draw
    while len(draws) == 1:
        pool.take(19)
    assert len(draws) == 2  # a new draw once fewer bytes are left than asked for
    pool.forget()
    pool.take(4)
    assert len(draws) == 3


def test_a_forked_child_does_not_repeat_the_parents_padding() -> None:
    patches._padding_pool.take(4)  # the parent's pool holds bytes not handed out yet
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.write(write, patches._padding_pool.take(19))
        finally:
            os._exit(0)
    os.close(write)
    try:
        child = os.read(read, 64)
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert len(child) == 19
    assert child != patches._padding_pool.take(19)
