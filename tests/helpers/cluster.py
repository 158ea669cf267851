"""``sshchat serve`` nodes sharing one real redis-server, for the end-to-end cluster tests.

:class:`Cluster` starts nodes as an operator would (the console entry point
with a config file whose ``[cluster]`` table names the Redis), waits until
each listens, logs users in with the real OpenSSH ``ssh`` (``ssh -T``: the
server's plain line mode) and stops everything at the end, checking that no
node logged a traceback.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from helpers.accounts import make_config_text
from helpers.client import ScriptedOutput
from helpers.openssh import OpenSSHClient, open_ssh
from helpers.paths import REPO
from helpers.serve import start_serve

__all__ = ["FAST_LEASES", "REPO", "Address", "Cluster", "Node", "shows_all"]

# Short leases: a node that stops renewing is declared gone within ~2 s.
FAST_LEASES = "lease_renew = 0.2\nlease_expire = 1.5\n"


@dataclass
class Address:
    port: int


@dataclass
class Node:
    name: str
    proc: subprocess.Popen[bytes]
    address: Address
    log: Path


async def shows_all(client: ScriptedOutput, texts: list[str], timeout: float = 20) -> None:
    """Wait until the client's output shows every one of ``texts`` (in any order)."""
    deadline = time.monotonic() + timeout
    while not all(text in client.text for text in texts):
        missing = [text for text in texts if text not in client.text]
        assert time.monotonic() < deadline, f"never shown: {missing}"
        await asyncio.sleep(0.02)


class Cluster:
    """Starts ``sshchat serve`` nodes sharing one Redis; stops them all at the end."""

    def __init__(self, tmp_path: Path, hashes: dict[str, str], redis_url: str) -> None:
        self.tmp_path = tmp_path
        self.hashes = hashes
        self.redis_url = redis_url
        self.nodes: list[Node] = []
        self.clients: list[OpenSSHClient] = []

    def config(self, name: str, cluster: str = "") -> Path:
        folder = self.tmp_path / name
        folder.mkdir(exist_ok=True)
        limits = "[limits]\nmessage_burst = 100000\nmessage_rate = 100000\n"
        table = f'[cluster]\nredis_url = "{self.redis_url}"\nnode = "{name}"\n{cluster}\n'
        path = folder / "config.toml"
        path.write_text(make_config_text(self.hashes, None, extra=limits + table))
        return path

    def start(self, name: str, cluster: str = "") -> Node:
        config = self.config(name, cluster)
        log = config.parent / "serve.log"
        proc, port = start_serve(config, log)
        node = Node(name, proc, Address(port), log)
        self.nodes.append(node)
        return node

    async def alice_and_bob(
        self, cluster: str = ""
    ) -> tuple[Node, Node, OpenSSHClient, OpenSSHClient]:
        """Nodes ``a`` and ``b``; alice on a and bob on b, once alice has seen bob arrive."""
        a = self.start("a", cluster)
        b = self.start("b", cluster)
        alice = await self.login(a, "alice")
        bob = await self.login(b, "bob")
        await alice.expect(r"bob connected", timeout=20)
        return a, b, alice, bob

    async def login(self, node: Node, user: str) -> OpenSSHClient:
        """``user`` logged in on ``node`` with the real ``ssh``, as an operator's user would."""
        client = await open_ssh(node.address.port, user)
        self.clients.append(client)
        return client

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        for node in self.nodes:
            if node.proc.poll() is None:
                node.proc.send_signal(signal.SIGCONT)
                node.proc.terminate()
                try:
                    node.proc.wait(15)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait()
        for node in self.nodes:
            assert "Traceback" not in node.log.read_text(errors="replace"), node.name
