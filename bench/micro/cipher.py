"""Per-packet cost of asyncssh's packet ciphers: in-process and on loopback.

    python bench/micro/cipher.py inproc         # encrypt_packet per cipher, asyncssh vs patched
    python bench/micro/cipher.py loopback [N]   # server CPU per packet, ssh and asyncssh clients

In-process: timeit of ``Encryption.encrypt_packet`` (what the server does for
every packet it sends) for a 100-byte chat line, each cipher measured in
interleaved rounds so that a busy machine slows all of them alike; the figure
is the best round. Loopback: a bare asyncssh server (its own process) writes N
lines, one packet each, to a client; its CPU (getrusage) from the session start
to the client's close, divided by N. "patched" columns: sshchat.ssh.patches
(AES-GCM) and, for chacha20-poly1305, :class:`OneStreamChacha` below (an
experiment kept here: sshchat no longer offers that cipher).
"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import asyncssh  # noqa: E402
import asyncssh.encryption as enc  # noqa: E402
from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.hazmat.primitives.ciphers import Cipher  # noqa: E402
from cryptography.hazmat.primitives.ciphers.algorithms import ChaCha20  # noqa: E402
from cryptography.hazmat.primitives.poly1305 import Poly1305  # noqa: E402

from sshchat.ssh import patches  # noqa: E402

ORIGINALS = (enc.ChachaCipher, enc.GCMCipher)


def _xor(key: bytes, nonce: bytes, data: bytes) -> bytes:
    return Cipher(ChaCha20(key, bytes(8) + nonce), None).encryptor().update(data)


class OneStreamChacha:
    """OpenSSH chacha20-poly1305 with one payload keystream call per packet:
    block 0 gives the Poly1305 key, blocks 1.. the payload (asyncssh: 3 cipher objects)."""

    def __init__(self, key: bytes) -> None:
        self._key, self._adkey = key[:32], key[32:]

    def encrypt_and_sign(self, header, data, nonce):
        stream = _xor(self._key, nonce, bytes(64) + data)
        sealed = _xor(self._adkey, nonce, header) + stream[64:]
        return sealed, Poly1305.generate_tag(stream[:32], sealed)

    def decrypt_header(self, header, nonce):
        return _xor(self._adkey, nonce, header)

    def verify_and_decrypt(self, header, data, nonce, tag):
        stream = _xor(self._key, nonce, bytes(64) + data)
        try:
            Poly1305.verify_tag(stream[:32], header + data, tag)
        except InvalidSignature:
            return None
        return stream[64:]


def _use(patched: bool) -> None:
    if patched:
        patches.install()
        enc.ChachaCipher = OneStreamChacha
    else:
        enc.ChachaCipher, enc.GCMCipher = ORIGINALS


LINE = (
    b"\x1b[2m12:34\x1b[0m <\x1b[38;5;74mbench0001\x1b[0m> BQ1.42.1764583000000000000 " + b"x" * 40
)

CASES = [
    ("chacha20-poly1305@openssh.com", b""),
    ("aes128-gcm@openssh.com", b""),
    ("aes256-gcm@openssh.com", b""),
    ("aes128-ctr", b"hmac-sha2-256-etm@openssh.com"),
    ("aes128-ctr", b"umac-64-etm@openssh.com"),
    ("aes128-ctr", b"umac-128-etm@openssh.com"),
    ("aes256-ctr", b"hmac-sha2-256-etm@openssh.com"),
]


def _encryption(alg: str, mac: bytes):
    key_size, iv_size, _bs, mac_key_size, _hs, etm = enc.get_encryption_params(alg.encode(), mac)
    return enc.get_encryption(
        alg.encode(), os.urandom(key_size), os.urandom(iv_size), mac, os.urandom(mac_key_size), etm
    )


def inproc(number: int = 20000, rounds: int = 7) -> None:
    header = b"\x00\x00\x00\x70"
    payload = b"\x5e" + b"\x00" * 8 + LINE
    timers = {}
    for alg, mac in CASES:
        for patched in (False, True):
            if patched and not alg.startswith(("chacha", "aes128-gcm", "aes256-gcm")):
                continue
            _use(patched)
            e = _encryption(alg, mac)
            seq = iter(range(10**9))
            label = f"{alg} {mac.decode()}".strip() + (" [patched]" if patched else "")
            timers[label] = timeit.Timer(
                lambda e=e, seq=seq: e.encrypt_packet(next(seq), header, payload)
            )
    _use(False)
    best = {label: float("inf") for label in timers}
    for _ in range(rounds):
        for label, timer in timers.items():
            best[label] = min(best[label], timer.timeit(number) / number)
    base = best["chacha20-poly1305@openssh.com"]
    print(
        f"encrypt_packet, {len(payload)}-byte payload, best of {rounds} x {number};"
        f" load {os.getloadavg()[0]:.1f}"
    )
    for label, t in best.items():
        print(f"  {label:50s} {t * 1e6:6.2f} us  ({t / base:4.2f} x chacha asyncssh)")


# -- loopback ---------------------------------------------------------------------------


def _serve(port_file: str, n: int, patched: bool) -> None:
    from sshchat.ssh.algorithms import CIPHERS, MACS, algorithm_options

    async def main() -> None:
        done = asyncio.Event()

        class Session(asyncssh.SSHServerSession):
            def connection_made(self, chan):
                self._chan = chan

            def shell_requested(self):
                return True

            def eof_received(self):
                return True  # keep writing after the client's stdin ends

            def pty_requested(self, *a):
                return True

            def session_started(self):
                asyncio.get_running_loop().create_task(self._run())

            async def _run(self):
                await asyncio.sleep(0.2)
                r0 = resource.getrusage(resource.RUSAGE_SELF)
                for i in range(n):
                    self._chan.write(f"{i:06d} " + LINE.decode() + "\r\n")
                    await asyncio.sleep(0)
                self._chan.write("DONE\r\n")
                while self._chan.get_write_buffer_size():
                    await asyncio.sleep(0.001)
                r1 = resource.getrusage(resource.RUSAGE_SELF)
                cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
                print(f"CPU {cpu / n * 1e6:.1f}", flush=True)
                self._chan.exit(0)
                done.set()

        class Server(asyncssh.SSHServer):
            def begin_auth(self, username):
                return True

            def public_key_auth_supported(self):
                return True

            def validate_public_key(self, username, key):
                return True

            def session_requested(self):
                return Session()

        key = asyncssh.generate_private_key("ssh-ed25519")
        opts = algorithm_options()  # installs sshchat.ssh.patches
        _use(patched)
        opts["encryption_algs"] = ["chacha20-poly1305@openssh.com", *CIPHERS]
        opts["mac_algs"] = [*MACS, "umac-64-etm@openssh.com"]
        srv = await asyncssh.create_server(
            Server, "127.0.0.1", 0, server_host_keys=[key], line_editor=False, **opts
        )
        Path(port_file).write_text(str(srv.sockets[0].getsockname()[1]))
        await asyncio.sleep(3600)

    asyncio.run(main())


def _server(n: int, patched: bool, tmp: str) -> tuple[subprocess.Popen, int]:
    port_file = os.path.join(tmp, f"port{time.monotonic_ns()}")
    cmd = [sys.executable, __file__, "serve", port_file, str(n), "1" if patched else "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    while not os.path.exists(port_file) or not Path(port_file).read_text():
        time.sleep(0.05)
    return proc, int(Path(port_file).read_text())


def _ssh_client(port: int, cipher: str, mac: str, keyfile: str) -> None:
    cmd = [
        "ssh",
        "-tt",
        "-p",
        str(port),
        "-i",
        keyfile,
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "LogLevel=ERROR",
        "-c",
        cipher,
    ]
    if mac:
        cmd += ["-m", mac]
    subprocess.run(
        [*cmd, "bench@127.0.0.1"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )


async def _asyncssh_client(port: int, cipher: str, mac: str) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    extra = {"mac_algs": [mac]} if mac else {}
    async with asyncssh.connect(
        "127.0.0.1",
        port,
        username="bench",
        client_keys=[key],
        known_hosts=None,
        encryption_algs=[cipher],
        **extra,
    ) as conn:
        proc = await conn.create_process(term_type="xterm")
        async for line in proc.stdout:
            if line.startswith("DONE"):
                break


def loopback(n: int = 20000) -> None:
    tmp = tempfile.mkdtemp(prefix="cipherbench")
    keyfile = os.path.join(tmp, "id")
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(keyfile)
    os.chmod(keyfile, 0o600)
    print(f"server CPU per packet (us), {n} lines; load {os.getloadavg()[0]:.1f}")
    rows = [
        ("chacha20-poly1305@openssh.com", ""),
        ("aes128-gcm@openssh.com", ""),
        ("aes256-gcm@openssh.com", ""),
        ("aes128-ctr", "hmac-sha2-256-etm@openssh.com"),
        ("aes128-ctr", "umac-64-etm@openssh.com"),
    ]
    for cipher, mac in rows:
        for client in ("ssh", "asyncssh"):
            figures = []
            for patched in (False, True):
                proc, port = _server(n, patched, tmp)
                if client == "ssh":
                    _ssh_client(port, cipher, mac, keyfile)
                else:
                    asyncio.run(_asyncssh_client(port, cipher, mac))
                out = proc.stdout.readline()
                proc.terminate()
                proc.wait()
                figures.append(out.split()[1] if out.startswith("CPU") else "?")
            print(
                f"  {cipher:32s} {mac:30s} {client:9s}"
                f" asyncssh {figures[0]:>6s}  patched {figures[1]:>6s}",
                flush=True,
            )


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "inproc"
    if what == "serve":
        _serve(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1")
    elif what == "loopback":
        loopback(int(sys.argv[2]) if len(sys.argv) > 2 else 20000)
    else:
        inproc()
