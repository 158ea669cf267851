"""A real redis-server for the cluster tests, on a free port, that a test can kill and restart.

``redis-server --port 0`` does not listen on TCP at all, so a free port is found
by binding port 0 first. A missing redis-server is a failure, not a skip: CI
installs it (``.ci/run``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

__all__ = ["RedisServer", "free_port"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process. ``aof`` keeps an append-only file in ``workdir``."""

    def __init__(self, workdir: Path, *, aof: bool = False) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise AssertionError("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.aof = aof
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = False  # once started, the port is kept (the nodes know it)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start redis-server and wait until *it* answers.

        The port came from :func:`free_port`, so another process (another test
        suite on the machine) may take it before redis-server binds it; then ours
        exits, and a PING would be answered by theirs -- two tests sharing one
        Redis fail in baffling ways (seen: a refusal told twice, an account
        missing). So the answer must come from our process; on a first start a
        taken port is swapped for another one, on a restart (same port, as the
        nodes know it) it is a clear failure.
        """
        attempts = 1 if self.started else 10
        for _ in range(attempts):
            if self._start_once():
                self.started = True
                return self
            if not self.started:
                self.port = free_port()
        raise AssertionError(f"redis-server could not listen on port {self.port} (taken?)")

    def _start_once(self) -> bool:
        """Whether the redis-server started now listens on ``self.port`` (else it is stopped)."""
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(self.workdir),
            "--protected-mode",
            "no",
        ]
        if self.aof:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.proc = proc
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 20
        try:
            while True:
                try:
                    pid = int(client.info("server")["process_id"])
                    if pid == proc.pid:
                        return True
                    # Someone else's Redis on our port: ours cannot bind it.
                    self.kill()
                    return False
                except redis.RedisError:
                    pass
                if proc.poll() is not None:  # could not bind (port taken), or worse
                    self.proc = None
                    return False
                if time.monotonic() > deadline:
                    self.kill()
                    raise AssertionError("redis-server did not answer within 20 s")
                time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        """Kill and start again on the same port (with the AOF, if kept)."""
        self.kill()
        self.start()

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port)
