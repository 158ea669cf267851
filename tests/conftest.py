"""Shared fixtures: a real sshchat server on an ephemeral port and scripted SSH clients."""

from __future__ import annotations

import asyncio
import re
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest
from argon2 import PasswordHasher

from sshchat.app import RunningServer, start_server
from sshchat.config.schema import Config, parse_config

# Cheap argon2id parameters: verification reads them from the hash itself.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", "dave": "dave-pw"}
ADMINS = {"alice"}

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][A-Z0-9]|\x1b[=>78]|\r")


def plain(text: str) -> str:
    """Terminal output without escape sequences and carriage returns."""
    return ANSI.sub("", text)


@pytest.fixture(scope="session")
def client_key() -> asyncssh.SSHKey:
    """An ed25519 key that the test config authorizes for ``carol``."""
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture(scope="session")
def password_hashes() -> dict[str, str]:
    return {name: FAST_HASHER.hash(pw) for name, pw in PASSWORDS.items()}


def make_config_text(
    hashes: dict[str, str], carol_key: asyncssh.SSHKey | None, *, extra: str = ""
) -> str:
    users = []
    for name, hashed in hashes.items():
        lines = [f"[users.{name}]", f'password_hash = "{hashed}"']
        if name == "carol" and carol_key is not None:
            pub = carol_key.export_public_key("openssh").decode().strip()
            lines.append(f'public_keys = ["{pub} carol@test"]')
        if name in ADMINS:
            lines.append("admin = true")
        users.append("\n".join(lines))
    head = textwrap.dedent(
        """
        [server]
        listen = "127.0.0.1"
        port = 0
        host_keys = ["keys/host_key"]
        name = "testchat"
        motd = "Be excellent to each other."
        default_channel = "lobby"
        """
    )
    return head + extra + "\n\n" + "\n\n".join(users) + "\n"


@pytest.fixture
def limits_toml() -> str:
    """The [limits] table of the test config.

    Most tests send lines as fast as a script can, so the message rate limit is
    lifted; tests of the limits override this fixture in their module.
    """
    return "[limits]\nmessage_burst = 100000\nmessage_rate = 100000\n"


@pytest.fixture
def config(
    tmp_path: Path,
    password_hashes: dict[str, str],
    client_key: asyncssh.SSHKey,
    limits_toml: str,
) -> Config:
    path = tmp_path / "config.toml"
    text = make_config_text(password_hashes, client_key, extra=limits_toml)
    path.write_text(text)
    return parse_config(text, path)


@pytest.fixture
async def server(config: Config) -> AsyncIterator[RunningServer]:
    running = await start_server(config)
    try:
        yield running
    finally:
        await running.close()


@dataclass
class ChatClient:
    """A scripted SSH user: sends lines, waits for output."""

    conn: asyncssh.SSHClientConnection
    process: asyncssh.SSHClientProcess[str]
    output: str = ""
    _reader: asyncio.Task[None] | None = None
    _seen: int = 0

    def start(self) -> None:
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                chunk = await self.process.stdout.read(65536)
                if not chunk:
                    return
                self.output += chunk
        except (asyncssh.Error, OSError):
            return

    @property
    def text(self) -> str:
        return plain(self.output)

    def send(self, line: str) -> None:
        self.process.stdin.write(line + "\r")

    def send_raw(self, data: str) -> None:
        self.process.stdin.write(data)

    async def expect(self, pattern: str, timeout: float = 5.0) -> re.Match[str]:
        """Wait until ``pattern`` (a regex) appears in output after the last match."""
        regex = re.compile(pattern)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            match = regex.search(self.text, self._seen)
            if match:
                self._seen = match.end()
                return match
            if loop.time() > deadline:
                raise AssertionError(
                    f"timed out waiting for {pattern!r}; output after last match:\n"
                    f"{self.text[self._seen :]!r}"
                )
            await asyncio.sleep(0.01)

    async def absent(self, pattern: str, wait: float = 0.3) -> None:
        """Assert ``pattern`` does not show up within ``wait`` seconds."""
        await asyncio.sleep(wait)
        assert not re.search(pattern, self.text[self._seen :]), self.text[self._seen :]

    async def close(self) -> None:
        self.conn.close()
        with _suppress():
            await self.conn.wait_closed()
        if self._reader is not None:
            self._reader.cancel()


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


async def connect(
    server: RunningServer,
    user: str,
    *,
    password: str | None = None,
    key: asyncssh.SSHKey | None = None,
    pty: bool = True,
    term_size: tuple[int, int] = (100, 30),
    wait_prompt: bool = True,
    channel: str = "lobby",
) -> ChatClient:
    """Log in as ``user`` and wait for the welcome (and the prompt on a pty).

    ``channel`` is where the login lands: the channel the account used last.
    """
    conn = await asyncssh.connect(
        "127.0.0.1",
        server.port,
        username=user,
        password=password if password is not None else PASSWORDS.get(user),
        client_keys=[key] if key is not None else None,
        known_hosts=None,
        preferred_auth="publickey" if key is not None else "password,keyboard-interactive",
    )
    process = await conn.create_process(
        term_type="xterm-256color" if pty else None,
        term_size=term_size if pty else None,
        encoding="utf-8",
        errors="replace",
    )
    client = ChatClient(conn, process)
    client.start()
    if wait_prompt:
        await client.expect(r"Type\s+/help\s+for\s+commands")
        if pty:
            await client.expect(rf"#{channel} {user}>")
    return client


@pytest.fixture
async def clients(server: RunningServer) -> AsyncIterator[list[ChatClient]]:
    """A list that tests append connected clients to; all are closed at the end."""
    opened: list[ChatClient] = []
    try:
        yield opened
    finally:
        for client in opened:
            await client.close()
