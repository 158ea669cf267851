"""A cheaper AES-GCM packet cipher for asyncssh: same bytes on the wire, no key schedule per packet.

Why: a chat server sends one small SSH packet per delivered line, so the fixed
cost of a packet, not the bulk speed of the cipher, sets the CPU per delivery
(``bench/RESULTS.md``, 2026-12-01). asyncssh 2.24's ``GCMCipher``
(``asyncssh/crypto/cipher.py``) builds a new ``AESGCM`` object - a new AES key
schedule and OpenSSL context - for every packet it seals or opens. The object
keeps no state between calls, so one per direction and key is enough: that
halves the cost of ``encrypt_packet`` (2.4 -> 1.1 us in-process).

:class:`FastGCMCipher` is a drop-in replacement written so that it could go
upstream as it is; ``tests/test_ssh_patches.py`` checks it against asyncssh's own
class and against OpenSSH's ``ssh``. :func:`install` puts it in place; it is
idempotent and runs whenever listener options are built
(:func:`sshchat.ssh.algorithms.algorithm_options`).

(A ChaCha20-Poly1305 with one keystream call per packet instead of asyncssh's
three cipher objects was measured too: 14 -> 10 us in-process, 63 -> 51 us of
server CPU per packet on loopback, still twice AES-GCM; sshchat stopped offering
that cipher instead, see :mod:`sshchat.ssh.algorithms`.)
"""

from __future__ import annotations

import asyncssh.encryption as _encryption
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["FastGCMCipher", "install", "installed"]

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


def install() -> None:
    """Make asyncssh build its AES-GCM packet ciphers from :class:`FastGCMCipher`."""
    _encryption.GCMCipher = FastGCMCipher  # type: ignore[misc,assignment]


def installed() -> bool:
    """Whether :func:`install` has run in this process."""
    return _encryption.GCMCipher is FastGCMCipher  # type: ignore[comparison-overlap]
