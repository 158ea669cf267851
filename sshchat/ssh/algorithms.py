"""The SSH algorithms sshchat offers: modern ones only.

asyncssh's defaults still include SHA-1 key exchange, NIST-curve ECDH, CBC
ciphers and MACs that authenticate before encrypting. sshchat offers:

* key exchange: ML-KEM-768 + X25519 hybrid (post-quantum, where the installed
  asyncssh supports it), then Curve25519;
* ciphers: AES-GCM, AES-CTR (no ChaCha20-Poly1305: see below);
* MACs (for CTR only): encrypt-then-MAC SHA-2;
* host key: ed25519; compression: none.

Strict key exchange (the Terrapin countermeasure) is on by default in asyncssh
and negotiated with every client that supports it.

Why no ChaCha20-Poly1305 and no UMAC: a chat server sends one small packet per
delivered line, so the cipher's cost per packet is a large share of the cost of
a delivery. Measured (``bench/micro/cipher.py``, ``bench/RESULTS.md``
2026-12-01), server CPU per packet with the OpenSSH client: chacha20-poly1305
~63 us (~51 us even with one keystream call per packet), aes-gcm ~25 us (with
:mod:`sshchat.ssh.patches`), aes128-ctr + hmac-sha2-256-etm ~27 us, + umac-64-etm
~35 us. The client's preference decides, and OpenSSH takes chacha20 first, then
aes128-ctr with umac-64-etm, umac-128-etm, hmac-sha2-256-etm in that order, so
the only lever is what is offered: OpenSSH now picks aes128-ctr with
hmac-sha2-256-etm, PuTTY and Go clients aes-gcm. Every maintained client has
both (AES-GCM since PuTTY 0.76 and Dropbear 2022.82; AES-CTR everywhere), and
without chacha20-poly1305 a client without strict key exchange is no longer
open to the Terrapin prefix truncation. The order below is the server's
preference, used only by clients that defer to it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["algorithm_options"]

KEX = (
    "mlkem768x25519-sha256",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
)
CIPHERS = (
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)
MACS = (
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
)
# Signatures accepted from clients' public keys (no SHA-1 "ssh-rsa").
SIGNATURES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)


def _supported(wanted: tuple[str, ...], available: list[bytes]) -> list[str]:
    names = {alg.decode() for alg in available}
    return [alg for alg in wanted if alg in names]


def algorithm_options() -> dict[str, Any]:
    """asyncssh server options restricting negotiation to the lists above.

    Also puts the cheaper AES-GCM packet cipher in place (:mod:`sshchat.ssh.patches`),
    and the patches that keep less per connection (:mod:`sshchat.ssh.connpatches`):
    every listener gets its options from here.
    """
    from asyncssh.encryption import get_encryption_algs
    from asyncssh.kex import get_kex_algs
    from asyncssh.mac import get_mac_algs
    from asyncssh.public_key import get_public_key_algs

    from sshchat.ssh import connpatches, patches

    patches.install()
    connpatches.install()

    return {
        "kex_algs": _supported(KEX, get_kex_algs()),
        "encryption_algs": _supported(CIPHERS, get_encryption_algs()),
        "mac_algs": _supported(MACS, get_mac_algs()),
        "compression_algs": ["none"],
        "signature_algs": _supported(SIGNATURES, get_public_key_algs()),
    }
