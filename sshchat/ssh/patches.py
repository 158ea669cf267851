"""Cheaper per-packet work in asyncssh's write path: the AES-GCM cipher and ``send_packet``.

Why: a chat server sends one small SSH packet per delivered line, so the fixed
cost of a packet, not the bulk speed of the cipher, sets the CPU per delivery
(``bench/RESULTS.md``, 2026-12-01). asyncssh 2.24's ``GCMCipher``
(``asyncssh/crypto/cipher.py``) builds a new ``AESGCM`` object - a new AES key
schedule and OpenSSL context - for every packet it seals or opens. The object
keeps no state between calls, so one per direction and key is enough: that
halves the cost of ``encrypt_packet`` (2.4 -> 1.1 us in-process).

:class:`FastGCMCipher` is a drop-in replacement written so that it could go
upstream as it is; ``tests/e2e/test_ssh_patches.py`` checks it against asyncssh's own
class and against OpenSSH's ``ssh``.

:func:`fast_send_packet` replaces ``SSHConnection.send_packet`` for connection-
protocol packets once keys and auth are done: asyncssh puts an empty
``SSH_MSG_IGNORE`` before each of them (a CBC-era countermeasure), which doubled
the packets, encryptions and ``send()`` calls per delivered line; it also builds a
packet log line per packet even with logging off. 23.6 -> 11.7 us of CPU per
``SSHServerChannel.write`` of a 99-byte line (``bench/micro/chanwrite.py``).
Checked in ``tests/unit/ssh/test_send_packet_patch.py`` (asyncssh's bytes, packet
by packet), ``tests/integration/test_send_packet_loopback.py`` (asyncssh client,
across rekeys) and the OpenSSH tests; guarded by the asyncssh version.

:func:`write_channel` is what the front ends' transport calls instead of
``SSHChannel.write``: for a chat line that fits the window and one packet it
sends the packet directly, without asyncssh's send-buffer round trip and
per-write debug call. Padding bytes come from a pool filled 4 KB at a time
(:class:`_PaddingPool`) instead of one ``os.urandom`` system call per packet.
Together about 10 % less server CPU per delivery at 500 members (A/B in
``bench/RESULTS.md``, 2026-12-01 late).

:func:`install` puts both in place; it is idempotent and runs whenever listener
options are built (:func:`sshchat.ssh.algorithms.algorithm_options`).

(A ChaCha20-Poly1305 with one keystream call per packet instead of asyncssh's
three cipher objects was measured too: 14 -> 10 us in-process, 63 -> 51 us of
server CPU per packet on loopback, still twice AES-GCM; sshchat stopped offering
that cipher instead, see :mod:`sshchat.ssh.algorithms`.)
"""

from __future__ import annotations

import logging
import os
import struct
import time
from collections.abc import Callable
from typing import Any

import asyncssh
import asyncssh.encryption as _encryption
from asyncssh.channel import SSHChannel
from asyncssh.connection import SSHConnection
from asyncssh.constants import MSG_CHANNEL_DATA, MSG_USERAUTH_LAST
from asyncssh.logging import SSHLogger
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["FastGCMCipher", "fast_send_packet", "install", "installed", "write_channel"]

_log = logging.getLogger(__name__)

_GCM_TAG = 16


class FastGCMCipher:
    """asyncssh's ``GCMCipher`` with one AES key schedule per key, not per packet.

    Same interface: ``iv`` is the 12-byte initial nonce of RFC 5647, a 4-byte
    fixed field and an 8-byte invocation counter that every packet, good or
    bad, moves on by one.
    """

    __slots__ = ("_aead", "_fixed", "_invocation")

    def __init__(self, cipher_name: str, key: bytes, iv: bytes) -> None:
        self._aead = AESGCM(key)
        self._fixed = iv[:4]
        self._invocation = int.from_bytes(iv[4:], "big")

    def _next_iv(self) -> bytes:
        iv = self._fixed + self._invocation.to_bytes(8, "big")
        self._invocation = (self._invocation + 1) & 0xFFFFFFFFFFFFFFFF
        return iv

    def seal(self, header: bytes, data: bytes) -> bytes:
        """``header`` + ciphertext + tag: :meth:`encrypt_and_sign` as the bytes sent."""
        invocation = self._invocation
        self._invocation = (invocation + 1) & 0xFFFFFFFFFFFFFFFF
        nonce = self._fixed + invocation.to_bytes(8, "big")
        return header + self._aead.encrypt(nonce, data, header)

    def encrypt_and_sign(self, header: bytes, data: bytes) -> tuple[bytes, bytes]:
        """Seal ``data`` with ``header`` as associated data: (header + ciphertext, tag)."""
        sealed = self._aead.encrypt(self._next_iv(), data, header)
        return header + sealed[:-_GCM_TAG], sealed[-_GCM_TAG:]

    def verify_and_decrypt(self, header: bytes, data: bytes, mac: bytes) -> bytes | None:
        """The plaintext, or None when the tag does not match."""
        iv = self._next_iv()
        try:
            return self._aead.decrypt(iv, data + mac, header)
        except InvalidTag:
            return None


class _PaddingPool:
    """Random padding bytes, drawn from ``os.urandom`` 4 KB at a time.

    Why: asyncssh calls ``os.urandom`` for the 4 to 19 padding bytes of every
    packet; each call is a ``getrandom()`` system call, which in this VM was
    5.7 % of a fan-out pass to 500 sessions (py-spy, ``bench/RESULTS.md``,
    2026-12-01 late). Taking them from one larger draw gives bytes of the same
    quality - each is used once - for a slice. (OpenSSH itself pads from
    ``arc4random_buf``, a buffered generator.) A forked child starts with an
    empty pool, so it never repeats its parent's bytes.
    """

    __slots__ = ("_buffer", "_used")

    SIZE = 4096

    def __init__(self) -> None:
        self._buffer = b""
        self._used = 0

    def take(self, count: int) -> bytes:
        """``count`` (at most :attr:`SIZE`) random bytes never handed out before."""
        start = self._used
        end = start + count
        if end > len(self._buffer):
            self._buffer = os.urandom(self.SIZE)
            start, end = 0, count
        self._used = end
        return self._buffer[start:end]

    def forget(self) -> None:
        """Drop what is left (after a fork, the parent's bytes)."""
        self._buffer = b""
        self._used = 0


_padding_pool = _PaddingPool()
os.register_at_fork(after_in_child=_padding_pool.forget)
# _send_sealed's source of padding; tests put a fixed one in its place.
_padding: Callable[[int], bytes] = _padding_pool.take

_STOCK_SEND_PACKET: Callable[..., None] = SSHConnection.send_packet
_UINT32 = struct.Struct(">I").pack
_CHANNEL_DATA = struct.Struct(">BII").pack  # message number, recipient channel, length
_TESTED_ASYNCSSH = ("2.24.",)
# What fast_send_packet reads and writes on the connection: if a release renames
# any of them, the patch stays out and asyncssh runs as shipped.
_CONNECTION_ATTRS = (
    "_send_encryption",
    "_compressor",
    "_kex_complete",
    "_auth_complete",
    "_rekey_bytes_sent",
    "_rekey_bytes",
    "_rekey_seconds",
    "_rekey_time",
    "_send_enchdrlen",
    "_send_blocksize",
    "_send_seq",
    "_transport",
    "_extra",
)


def fast_send_packet(self: Any, pkttype: int, *args: bytes, handler: Any = None) -> None:
    """``SSHConnection.send_packet`` without per-packet work a chat server pays for nothing.

    What: for a connection-protocol packet (channel data, window adjust, ...)
    sent after key exchange and authentication, with no compression and no
    rekey due, this builds, encrypts and writes the packet exactly as asyncssh
    2.24 does (same padding rule, same sequence number, same rekey byte count,
    same packet log) with two differences:

    * asyncssh sends an empty ``SSH_MSG_IGNORE`` before *every* such packet.
      That is the old countermeasure against the chosen-plaintext attack on
      CBC mode (the next packet's IV is the last ciphertext block); it buys
      nothing with CTR or AEAD ciphers, which OpenSSH never pads this way,
      yet it doubles the packets, the encryptions and the ``send()`` calls per
      delivered line and adds 36 bytes to each. It is still sent when the
      send cipher is CBC.
    * the packet log line is built only when packet logging is on (debug
      level 3); asyncssh formats its name and byte count for every packet.
    * the random padding comes from a pool filled 4 KB at a time
      (:class:`_PaddingPool`), not from one ``os.urandom`` call per packet.

    Every other case (handshake, auth, rekey due or running, compression, no
    cipher yet) goes to asyncssh's own method unchanged.
    """
    if pkttype <= MSG_USERAUTH_LAST or not _send_sealed(
        self, bytes((pkttype,)) + b"".join(args), handler
    ):
        _STOCK_SEND_PACKET(self, pkttype, *args, handler=handler)


def _send_sealed(conn: Any, payload: bytes, handler: Any) -> bool:
    """Pad, encrypt and write one connection-protocol packet, if :func:`fast_send_packet` may.

    False, with nothing changed, when it may not (see there): the caller then
    hands the packet to asyncssh's own ``send_packet``. With sshchat's AES-GCM
    (:meth:`FastGCMCipher.seal`) the packet is sealed in one call, straight
    into the bytes for the wire.
    """
    enc = conn._send_encryption
    if (
        enc is None
        or conn._compressor is not None
        or not (conn._kex_complete and conn._auth_complete)
        or conn._rekey_bytes_sent >= conn._rekey_bytes
        or (conn._rekey_seconds and time.monotonic() >= conn._rekey_time)
    ):
        return False
    cipher: Any = getattr(enc, "_cipher", None)
    gcm = type(cipher) is FastGCMCipher
    if not gcm and conn._extra.get("send_cipher", "").endswith("-cbc"):
        return False
    blocksize = conn._send_blocksize
    padlen = -(conn._send_enchdrlen + len(payload)) % blocksize
    if padlen < 4:
        padlen += blocksize
    packet = bytes((padlen,)) + payload + _padding(padlen)
    pktlen = len(packet)
    seq = conn._send_seq
    if gcm:
        wire = cipher.seal(_UINT32(pktlen), packet)
    else:
        packet, mac = enc.encrypt_packet(seq, _UINT32(pktlen), packet)
        wire = packet + mac
    transport = conn._transport
    if transport:
        # Not contextlib.suppress: this runs once per delivery.
        try:  # noqa: SIM105
            transport.write(wire)
        except ConnectionError:  # as asyncssh's _send
            pass
    conn._send_seq = (seq + 1) & 0xFFFFFFFF
    conn._rekey_bytes_sent += pktlen
    if SSHLogger._debug_level >= 3:
        (handler or conn).log_sent_packet(payload[0], seq, payload)
    return True


# What write_channel reads and writes on the channel (see _CONNECTION_ATTRS).
_CHANNEL_ATTRS = (
    "_send_state",
    "_send_buf",
    "_send_paused",
    "_send_window",
    "_send_pktsize",
    "_send_chan",
    "_encoder",
    "_conn",
)


def _checked_against(methods: tuple[Callable[..., Any], ...], attrs: tuple[str, ...]) -> bool:
    """Whether the installed asyncssh is a release a patch was checked against: its
    version, its packet-log switch, and every attribute in ``attrs`` named by ``methods``."""
    if not asyncssh.__version__.startswith(_TESTED_ASYNCSSH):
        return False
    if not hasattr(SSHLogger, "_debug_level"):
        return False
    probe = {name for method in methods for name in method.__code__.co_names}
    return all(attr in probe for attr in attrs)


_CHANNEL_WRITE_PATCHABLE = _checked_against(
    (SSHChannel.__init__, SSHChannel.set_encoding, SSHChannel._flush_send_buf), _CHANNEL_ATTRS
)


def write_channel(chan: Any, data: str) -> None:
    """``chan.write(data)`` for the usual chat write, without asyncssh's per-write bookkeeping.

    What: when the channel is open, nothing waits in its send buffer, writing is
    not paused, and the encoded text fits in the peer's window and one packet
    (a chat line, almost always), this sends it as one ``SSH_MSG_CHANNEL_DATA``
    packet exactly as ``SSHChannel.write`` would: same payload, same window
    accounting. It skips what that path does around the packet for nothing in
    this case: a ``bytearray`` copy put in the send buffer and taken out again,
    the flush loop, the high/low-water check, and a debug log call per write
    (12 % of a fan-out pass to 500 sessions, py-spy, ``bench/RESULTS.md``,
    2026-12-01 late). Anything else - a full window, queued data, a closing
    channel, debug logging at level 2 or more, an asyncssh release this was not
    checked against - goes to ``chan.write`` unchanged.

    Checked against ``SSHChannel.write``, packet for packet on a real connection,
    in ``tests/integration/test_write_channel.py``.
    """
    if (
        _CHANNEL_WRITE_PATCHABLE
        and chan._send_state == "open"
        and not chan._send_buf
        and not chan._send_paused
        and SSHLogger._debug_level < 2
        and chan._encoder is not None
        and chan._send_chan is not None
    ):
        encoded = chan._encoder.encode(data)
        size = len(encoded)
        if not size:
            return
        if size <= chan._send_window and size <= chan._send_pktsize:
            chan._send_window -= size
            payload = _CHANNEL_DATA(MSG_CHANNEL_DATA, chan._send_chan, size) + encoded
            conn = chan._conn
            # Sealed here only while fast_send_packet is asyncssh's send_packet.
            if not (
                SSHConnection.send_packet is fast_send_packet and _send_sealed(conn, payload, chan)
            ):
                conn.send_packet(MSG_CHANNEL_DATA, payload[1:], handler=chan)
            return
    chan.write(data)


def _send_packet_patchable() -> bool:
    """Whether the installed asyncssh is one :func:`fast_send_packet` was checked against."""
    return _checked_against((SSHConnection.__init__,), _CONNECTION_ATTRS)


def install_send_packet() -> bool:
    """Put :func:`fast_send_packet` in place, or log why asyncssh's own stays."""
    if SSHConnection.send_packet is fast_send_packet:
        return True
    if not _send_packet_patchable():
        _log.warning(
            "asyncssh %s is not the version sshchat's send_packet patch was checked "
            "against: using asyncssh's own (one extra packet per write)",
            asyncssh.__version__,
        )
        return False
    SSHConnection.send_packet = fast_send_packet  # type: ignore[method-assign]
    return True


def uninstall_send_packet() -> None:
    """Back to asyncssh's own ``send_packet`` (benchmarks and tests compare both)."""
    SSHConnection.send_packet = _STOCK_SEND_PACKET  # type: ignore[method-assign]


def install() -> None:
    """Make asyncssh build its AES-GCM packet ciphers from :class:`FastGCMCipher`
    and send connection-protocol packets through :func:`fast_send_packet`."""
    _encryption.GCMCipher = FastGCMCipher  # type: ignore[misc,assignment]
    install_send_packet()


def installed() -> bool:
    """Whether :func:`install` has run in this process."""
    return _encryption.GCMCipher is FastGCMCipher  # type: ignore[comparison-overlap]
