"""The cheaper AES-GCM packet cipher and the offered cipher list (sshchat.ssh.patches, algorithms).

The patched cipher must produce asyncssh's bytes exactly (checked against
asyncssh's own class, packet by packet, and against OpenSSH's ``ssh``), and the
offered list must make OpenSSH pick a cheap cipher (its preference wins: see
``sshchat/ssh/algorithms.py``).
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import asyncssh
import pytest
from asyncssh.crypto.cipher import GCMCipher as AsyncsshGCMCipher
from hypothesis import given
from hypothesis import strategies as st

from sshchat.ssh import patches
from sshchat.ssh.algorithms import CIPHERS, MACS, algorithm_options

SSH = shutil.which("ssh")

packets = st.lists(
    st.tuples(st.binary(min_size=4, max_size=4), st.binary(max_size=300)), max_size=6
)


@given(
    name=st.sampled_from(["aes128-gcm", "aes256-gcm"]),
    key=st.binary(min_size=32, max_size=32),
    iv=st.one_of(
        st.binary(min_size=12, max_size=12),
        st.just(b"\x01\x02\x03\x04" + b"\xff" * 8),  # the invocation counter wraps
    ),
    traffic=packets,
)
def test_fast_gcm_matches_asyncssh(name: str, key: bytes, iv: bytes, traffic) -> None:
    key = key[: 16 if name == "aes128-gcm" else 32]
    ours, theirs = patches.FastGCMCipher(name, key, iv), AsyncsshGCMCipher(name, key, iv)
    opener = patches.FastGCMCipher(name, key, iv)
    for header, data in traffic:
        sealed = ours.encrypt_and_sign(header, data)
        assert sealed == theirs.encrypt_and_sign(header, data)
        assert opener.verify_and_decrypt(header, sealed[0][4:], sealed[1]) == data


def test_fast_gcm_refuses_a_tampered_packet_and_moves_on() -> None:
    key, iv = bytes(range(16)), bytes(12)
    sender, receiver = (patches.FastGCMCipher("aes128-gcm", key, iv) for _ in range(2))
    first = sender.encrypt_and_sign(b"\0\0\0\x10", b"first packet....")
    bad = bytes([first[0][4] ^ 1]) + first[0][5:]
    assert receiver.verify_and_decrypt(b"\0\0\0\x10", bad, first[1]) is None
    # like asyncssh's, the nonce advanced: the next packet is read with the next one
    second = sender.encrypt_and_sign(b"\0\0\0\x10", b"second packet...")
    assert receiver.verify_and_decrypt(b"\0\0\0\x10", second[0][4:], second[1]) == (
        b"second packet..."
    )


def test_listener_options_install_the_patch_and_offer_no_chacha() -> None:
    options = algorithm_options()
    assert patches.installed()
    assert asyncssh.connection.SSHConnection.send_packet is patches.fast_send_packet
    assert "chacha20-poly1305@openssh.com" not in options["encryption_algs"]
    assert not any(mac.startswith("umac") for mac in options["mac_algs"])
    assert options["encryption_algs"] == [a for a in CIPHERS]
    assert options["mac_algs"] == list(MACS)


def _key_file(tmp_path: Path, key: asyncssh.SSHKey) -> Path:
    path = tmp_path / "carol_key"
    path.write_bytes(key.export_private_key())
    path.chmod(0o600)
    return path


async def _ssh_plain(port: int, key_file: Path, text: str, *options: str) -> tuple[str, str]:
    """Send ``text`` as carol over ``ssh -T`` (plain line mode); stdout and the -v log."""
    assert SSH is not None
    proc = await asyncio.create_subprocess_exec(
        SSH,
        "-T",
        "-v",
        "-F",
        "/dev/null",
        "-p",
        str(port),
        "-i",
        str(key_file),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        *options,
        "carol@127.0.0.1",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(text.encode()), 30)
    return out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _negotiated(log: str) -> tuple[str, str]:
    match = re.search(r"kex: server->client cipher: (\S+) MAC: (\S+)", log)
    assert match, log[-2000:]
    return match.group(1), match.group(2)


@pytest.mark.skipif(SSH is None, reason="OpenSSH client not installed")
async def test_openssh_with_its_defaults_picks_a_cheap_cipher(
    server, tmp_path: Path, client_key: asyncssh.SSHKey
) -> None:
    out, log = await _ssh_plain(server.port, _key_file(tmp_path, client_key), "hi from ssh\n")
    assert _negotiated(log) == ("aes128-ctr", "hmac-sha2-256-etm@openssh.com")
    assert "<carol> hi from ssh" in out


@pytest.mark.skipif(SSH is None, reason="OpenSSH client not installed")
@pytest.mark.parametrize("cipher", ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"])
async def test_openssh_talks_through_the_patched_gcm(
    server, tmp_path: Path, client_key: asyncssh.SSHKey, cipher: str
) -> None:
    # Enough lines for many packets each way (the nonce moves on per packet).
    lines = [f"line {i} through {cipher} " + "x" * (1 + i * 7 % 200) for i in range(40)]
    out, log = await _ssh_plain(
        server.port, _key_file(tmp_path, client_key), "".join(f"{x}\n" for x in lines), "-c", cipher
    )
    assert _negotiated(log)[0] == cipher
    assert patches.installed()
    for line in lines:
        assert f"<carol> {line}" in out
