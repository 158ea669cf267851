"""The SSH algorithms sshchat offers: modern ones only.

asyncssh's defaults still include SHA-1 key exchange, NIST-curve ECDH, CBC
ciphers and MACs that authenticate before encrypting. sshchat offers:

* key exchange: ML-KEM-768 + X25519 hybrid (post-quantum, where the installed
  asyncssh supports it), then Curve25519;
* ciphers: ChaCha20-Poly1305, AES-GCM, AES-CTR;
* MACs (for CTR only): encrypt-then-MAC SHA-2 and UMAC-128;
* host key: ed25519; compression: none.

Strict key exchange (the Terrapin countermeasure) is on by default in asyncssh
and negotiated with every client that supports it.
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
    "chacha20-poly1305@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)
MACS = (
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "umac-128-etm@openssh.com",
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
    """asyncssh server options restricting negotiation to the lists above."""
    from asyncssh.encryption import get_encryption_algs
    from asyncssh.kex import get_kex_algs
    from asyncssh.mac import get_mac_algs
    from asyncssh.public_key import get_public_key_algs

    return {
        "kex_algs": _supported(KEX, get_kex_algs()),
        "encryption_algs": _supported(CIPHERS, get_encryption_algs()),
        "mac_algs": _supported(MACS, get_mac_algs()),
        "compression_algs": ["none"],
        "signature_algs": _supported(SIGNATURES, get_public_key_algs()),
    }
