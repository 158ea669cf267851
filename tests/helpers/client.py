"""A scripted SSH user over asyncssh: sends lines, waits for output."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import asyncssh

from helpers.accounts import PASSWORDS
from helpers.screen import TerminalScreen
from helpers.waits import CLOSE_TIMEOUT
from sshchat.app import RunningServer

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][A-Z0-9]|\x1b[=>78]|\r")


def plain(text: str) -> str:
    """Terminal output without escape sequences and carriage returns."""
    return ANSI.sub("", text)


class ScriptedOutput:
    """Waiting on what a scripted user has received so far (``output``).

    Shared by the asyncssh :class:`ChatClient` and the real OpenSSH client
    (:class:`helpers.openssh.OpenSSHClient`); a subclass sets ``output`` and
    ``_seen`` and fills ``output`` as data arrives.
    """

    output: str
    _seen: int

    @property
    def text(self) -> str:
        return plain(self.output)

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


@dataclass
class ChatClient(ScriptedOutput):
    """A scripted SSH user: sends lines, waits for output.

    :meth:`expect` searches the output stream with escape codes removed: right
    for lines printed in full (messages, notices). What the line editor draws
    (the prompt, the text being typed) is repainted only where it changed, so
    wait for it with :meth:`expect_screen`, which reads the emulated terminal.
    """

    conn: asyncssh.SSHClientConnection
    process: asyncssh.SSHClientProcess[str]
    output: str = ""
    _reader: asyncio.Task[None] | None = None
    _seen: int = 0
    screen: TerminalScreen | None = None  # set for sessions with a pty

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

    def send(self, line: str) -> None:
        self.process.stdin.write(line + "\r")

    def send_raw(self, data: str) -> None:
        self.process.stdin.write(data)

    async def wait_closed(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Wait until the server has ended the session."""
        await asyncio.wait_for(self.process.wait_closed(), timeout)

    @property
    def closed(self) -> bool:
        return self.process.is_closing()

    def screen_text(self) -> str:
        """What the terminal shows now, one line per row, trailing blanks removed."""
        if self.screen is None:
            raise AssertionError("no emulated screen: the session has no pty, or a nonsense size")
        return self.screen.text(self.output)

    async def expect_screen(self, pattern: str, timeout: float = 5.0) -> re.Match[str]:
        """Wait until the terminal shows ``pattern`` (a regex; ``^``/``$`` match per row)."""
        regex = re.compile(pattern, re.MULTILINE)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            text = self.screen_text()
            match = regex.search(text)
            if match:
                return match
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {pattern!r} on the screen:\n{text}")
            await asyncio.sleep(0.01)

    def resize(self, columns: int, lines: int) -> None:
        """Resize the terminal: tell the server (window change) and the emulated screen.

        Nonsense sizes (0, or larger than any screen) are sent to the server, which
        falls back to a default or clamps; the emulated screen keeps its size then,
        so do not read it after such a resize.
        """
        self.process.change_terminal_size(columns, lines)
        if self.screen is not None and TerminalScreen.emulable(columns, lines):
            self.screen.resize_at(len(self.output), columns, lines)

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
    source: str | None = None,
    channel: str = "lobby",
) -> ChatClient:
    """Log in as ``user`` and wait for the welcome (and the prompt on a pty).

    ``source`` is a loopback address to connect from (127.0.0.2, ...), for
    tests of per-address limits. ``channel`` is where the login lands: the
    channel the account used last.
    """
    conn = await asyncssh.connect(
        "127.0.0.1",
        server.port,
        username=user,
        password=password if password is not None else PASSWORDS.get(user),
        client_keys=[key] if key is not None else None,
        known_hosts=None,
        preferred_auth="publickey" if key is not None else "password,keyboard-interactive",
        local_addr=(source, 0) if source is not None else None,
    )
    process = await conn.create_process(
        term_type="xterm-256color" if pty else None,
        term_size=term_size if pty else None,
        encoding="utf-8",
        errors="replace",
    )
    client = ChatClient(conn, process, screen=TerminalScreen.for_size(*term_size) if pty else None)
    client.start()
    if wait_prompt:
        # Generous: a cluster node answers a login only once Redis has it, and the
        # machine may be loaded (a deadline costs nothing when things work).
        await client.expect(r"Type\s+/help\s+for\s+commands", timeout=20)
        if pty:
            await client.expect(rf"#{channel} {user}>", timeout=20)
    return client


async def login(server: RunningServer, clients: list[ChatClient], user: str, **kw) -> ChatClient:
    """:func:`connect`, and add the client to ``clients`` (the fixture closes them)."""
    client = await connect(server, user, **kw)
    clients.append(client)
    return client


async def ended(client: ChatClient, timeout: float = CLOSE_TIMEOUT) -> int | None:
    """Wait until the server has closed ``client``'s session; return its exit status."""
    await asyncio.wait_for(client.process.wait_closed(), timeout)
    return client.process.exit_status
