#!/usr/bin/env python3
"""The floor: the least an asyncssh chat server can do, to compare sshchat against.

No prompt_toolkit, no hub, no commands, no rate limits: any public key is
accepted for a login in the user list, each pty session gets asyncssh's own
line editor, and every line received is written at once to every session as
``HH:MM <login> text``. It offers the same SSH algorithms as sshchat, so the
encryption cost per byte is the same for both.

    python bench/floor_server.py --users 500 [--prefix bench] [--port 0]

logs ``floor listening on HOST:PORT`` on stderr once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from pathlib import Path

import asyncssh

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sshchat.ssh.algorithms import algorithm_options  # a plain dict of algorithm names

log = logging.getLogger("floor")


class FloorServer(asyncssh.SSHServer):
    def __init__(self, users: frozenset[str]) -> None:
        self._users = users

    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username in self._users


class Room:
    """Every session's output stream; a line goes to all of them."""

    def __init__(self) -> None:
        self.outputs: set[asyncssh.SSHWriter[str]] = set()
        self.lines = 0
        self.deliveries = 0

    def broadcast(self, login: str, text: str) -> None:
        line = f"{time.strftime('%H:%M')} <{login}> {text}\n"
        self.lines += 1
        for out in self.outputs:
            if not out.channel.is_closing():
                out.write(line)
                self.deliveries += 1

    async def session(self, process: asyncssh.SSHServerProcess[str]) -> None:
        login = process.get_extra_info("username")
        out = process.stdout
        out.write(f"Welcome to the floor, {login}.\n#floor {login}> ")
        self.outputs.add(out)
        try:
            for _ in range(10**9):  # bounded: a session ends long before
                try:
                    line = await process.stdin.readline()
                except (asyncssh.BreakReceived, asyncssh.TerminalSizeChanged):
                    continue
                if not line:
                    break
                text = line.rstrip("\r\n")
                if text:
                    self.broadcast(login, text)
        except (asyncssh.Error, ConnectionError):
            pass
        finally:
            self.outputs.discard(out)
            with contextlib.suppress(Exception):
                process.exit(0)


async def serve(users: frozenset[str], host: str, port: int) -> None:
    room = Room()
    key = asyncssh.generate_private_key("ssh-ed25519")
    acceptor = await asyncssh.create_server(
        lambda: FloorServer(users),
        host,
        port,
        server_host_keys=[key],
        process_factory=room.session,
        encoding="utf-8",
        errors="replace",
        line_editor=True,
        agent_forwarding=False,
        x11_forwarding=False,
        allow_scp=False,
        kbdint_auth=False,
        reuse_address=True,
        **algorithm_options(),
    )
    log.info("floor listening on %s:%d", host, acceptor.get_port())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("floor stopping: %d lines, %d deliveries", room.lines, room.deliveries)
    acceptor.close()
    await acceptor.wait_closed()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bare asyncssh broadcast server (benchmark floor)")
    parser.add_argument(
        "--users",
        type=int,
        required=True,
        help="logins PREFIX0..PREFIX<N-1>, also spelt PREFIX0000..",
    )
    parser.add_argument("--prefix", default="bench")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.host.startswith("127."):
        parser.error("the floor server is for loopback benchmarks only (127.0.0.0/8)")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    # Both spellings: bench7 (the Python load generator), bench0007 (the Go one).
    users = frozenset(
        name for i in range(args.users) for name in (f"{args.prefix}{i}", f"{args.prefix}{i:04d}")
    )
    asyncio.run(serve(users, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
