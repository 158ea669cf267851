"""CPU per ``SSHServerChannel.write`` of a 100-byte chat line: asyncssh's send_packet vs sshchat's.

    python bench/micro/chanwrite.py [ROUNDS] [WRITES]

One process: a bare asyncssh server and an asyncssh client on loopback, AES-GCM
(sshchat's FastGCM in both arms). Each round times (``time.process_time``) a
burst of WRITES synchronous ``write`` calls on the server channel - that is
``write`` -> ``_flush_send_buf`` -> ``send_packet`` -> encrypt -> ``transport.write``
(the ``send()`` syscall included) - then lets the client drain. Arms alternate
round by round so a busy machine slows both alike; the figure is the best round.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import asyncssh  # noqa: E402

from sshchat.ssh import patches  # noqa: E402

LINE = b"\r\x1b[K12:00 alice: " + b"x" * 80 + b"\r\n"


class _Server(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return False


async def main(rounds: int, writes: int) -> None:
    patches.install()
    key = asyncssh.generate_private_key("ssh-ed25519")
    chans: asyncio.Queue[asyncssh.SSHServerChannel] = asyncio.Queue()

    def session(stdin, stdout, stderr) -> None:  # type: ignore[no-untyped-def]
        chans.put_nowait(stdout.channel)

    server = await asyncssh.create_server(
        _Server,
        "127.0.0.1",
        0,
        server_host_keys=[key],
        encryption_algs=["aes128-gcm@openssh.com"],
        compression_algs=["none"],
        process_factory=None,
        session_factory=session,
        encoding=None,
        line_editor=False,
    )
    port = server.sockets[0].getsockname()[1]
    received = 0

    class _Client(asyncssh.SSHClientSession[bytes]):
        def data_received(self, data: bytes, datatype: object) -> None:
            nonlocal received
            received += len(data)

    async with asyncssh.connect(
        "127.0.0.1",
        port,
        known_hosts=None,
        username="u",
        encryption_algs=["aes128-gcm@openssh.com"],
    ) as conn:
        await conn.create_session(_Client, encoding=None)
        chan = await chans.get()
        best = {"stock": float("inf"), "patched": float("inf")}
        for r in range(rounds):
            for arm in ("stock", "patched") if r % 2 else ("patched", "stock"):
                if arm == "stock":
                    patches.uninstall_send_packet()
                else:
                    patches.install_send_packet()
                goal = received + writes * len(LINE)
                t0 = time.process_time()
                for _ in range(writes):
                    chan.write(LINE)
                spent = time.process_time() - t0
                while received < goal:
                    await asyncio.sleep(0.001)
                best[arm] = min(best[arm], spent / writes)
        patches.install_send_packet()
    server.close()
    s, p = best["stock"] * 1e6, best["patched"] * 1e6
    print(f"write of {len(LINE)} bytes, best of {rounds} rounds x {writes}: ")
    print(f"  asyncssh send_packet {s:6.1f} us   sshchat fast_send_packet {p:6.1f} us", end="")
    print(f"   ratio {p / s:.2f}")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(*(args + [20, 200][len(args) :])))
