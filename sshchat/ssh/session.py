"""The asyncssh session adapter: one SSH channel, handed to a front end.

:class:`ChatSession` receives asyncssh's channel callbacks and forwards them to
a :class:`~sshchat.frontends.terminal.TerminalFrontEnd` (a pty was requested) or a
:class:`~sshchat.frontends.base.LineFrontEnd` (no pty: scripts and bots). Only an
interactive shell is offered; exec requests get a one-line explanation and
subsystems (SFTP and the like) are refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncssh

from sshchat.commands.refusals import refusal_text
from sshchat.core.hub import Hub, HubError
from sshchat.frontends.base import FrontEnd, LineFrontEnd
from sshchat.frontends.terminal import TerminalFrontEnd
from sshchat.ops.logs import log_event
from sshchat.ssh.patches import write_channel

__all__ = [
    "MAX_COLUMNS",
    "MAX_ROWS",
    "ChatSession",
    "SessionSettings",
    "clamp_terminal_size",
    "connect_command",
]

log = logging.getLogger(__name__)

# The largest terminal a session may claim. A client states its size in the
# pty request and in every window change, as any 32-bit number; prompt_toolkit
# allocates a screen of that many cells, so 4294967295 x 4294967295 made the
# server allocate until the kernel killed it. 1000 columns by 500 rows is more
# than any real screen shows (a 4K display at a 6-pixel font is ~640 columns).
MAX_COLUMNS = 1000
MAX_ROWS = 500
DEFAULT_SIZE = (80, 24)


def clamp_terminal_size(columns: int, rows: int) -> tuple[int, int]:
    """The size to lay a session out for: the client's, within sane bounds.

    Zero (or negative) means "unknown" in SSH and takes the default; anything
    over :data:`MAX_COLUMNS` x :data:`MAX_ROWS` is cut to it. Done here, at the
    SSH edge, so that no front end ever sees a hostile size.
    """
    columns = DEFAULT_SIZE[0] if columns <= 0 else min(columns, MAX_COLUMNS)
    rows = DEFAULT_SIZE[1] if rows <= 0 else min(rows, MAX_ROWS)
    return columns, rows


EXEC_REFUSED = (
    "sshchat: this server only offers interactive chat, not commands.\r\n"
    "Connect without a command, e.g.: {command}\r\n"
)


def connect_command(login: str, sockname: Any) -> str:
    """The ``ssh`` command line that reaches this server the way this client did.

    *sockname* is the server's end of the connection (asyncssh's ``sockname``
    extra info), so the address and port are the ones the client really
    connected to, also when the server listens on every interface.  SSH does
    not tell the server which host name the client typed, so an address it
    is.  Port 22 needs no ``-p``.
    """
    host, port = "HOST", 0
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        host, port = str(sockname[0]), int(sockname[1])
        if host.startswith("::ffff:") and "." in host:  # an IPv4 client on a dual-stack socket
            host = host.removeprefix("::ffff:")
    where = f"{login}@{host}"
    return f"ssh {where}" if port == 22 else f"ssh -p {port or 'PORT'} {where}"


@dataclass(frozen=True)
class SessionSettings:
    """What every session needs from the server configuration."""

    welcome: str
    max_line: int
    queue_limit: int
    max_sessions: int


class _ChannelTransport:
    """Adapts an asyncssh channel to the :class:`~sshchat.frontends.base.Transport` protocol."""

    def __init__(self, chan: asyncssh.SSHServerChannel[str]) -> None:
        self._chan = chan

    def write(self, data: str) -> None:
        if not self._chan.is_closing():
            write_channel(self._chan, data)

    def pause_reading(self) -> None:
        self._chan.pause_reading()

    def resume_reading(self) -> None:
        self._chan.resume_reading()

    def exit(self, status: int) -> None:
        if not self._chan.is_closing():
            self._chan.exit(status)


class ChatSession(asyncssh.SSHServerSession[str]):
    """asyncssh callbacks for one session channel of an authenticated user."""

    def __init__(
        self,
        hub: Hub,
        settings: SessionSettings,
        login: str,
        *,
        key_fingerprint: str | None = None,
        source: str = "",
        live: set[ChatSession] | None = None,
        motd: Callable[[], str] | None = None,
    ) -> None:
        """``motd`` gives the welcome in force now (``/motd`` after a reload)."""
        self._hub = hub
        self._motd = motd
        self._live = live if live is not None else set()
        self._settings = settings
        self._login = login
        self._key_fingerprint = key_fingerprint
        self._source = source
        self._chan: asyncssh.SSHServerChannel[str] | None = None
        self._pty: tuple[str, int, int] | None = None
        self._exec = False
        self._front: FrontEnd | None = None

    def connection_made(self, chan: asyncssh.SSHServerChannel[str]) -> None:  # type: ignore[override]
        self._chan = chan

    def pty_requested(self, term_type: str, term_size: Any, term_modes: Any) -> bool:
        width, height = clamp_terminal_size(*term_size[:2]) if term_size else DEFAULT_SIZE
        self._pty = (term_type, width, height)
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        self._exec = True
        log_event(log, "session.refused", user=self._login, source=self._source, request="exec")
        return True  # accepted only to explain, then closed with status 1

    def subsystem_requested(self, subsystem: str) -> bool:
        log_event(
            log,
            "session.refused",
            user=self._login,
            source=self._source,
            request="subsystem",
            subsystem=subsystem,
        )
        return False

    def session_started(self) -> None:
        chan = self._chan
        assert chan is not None
        if self._exec:
            command = connect_command(self._login, chan.get_extra_info("sockname"))
            chan.write_stderr(EXEC_REFUSED.format(command=command))
            chan.exit(1)
            return
        account = self._hub.accounts.get(self._login)
        if account is not None and len(account.clients) >= self._settings.max_sessions:
            log_event(
                log,
                "session.refused",
                logging.WARNING,
                user=self._login,
                source=self._source,
                request="shell",
                reason=f"{len(account.clients)} sessions already open",
            )
            chan.write_stderr(
                f"sshchat: {self._login} already has {len(account.clients)} sessions open, "
                "the most allowed; close one first.\r\n"
            )
            chan.exit(1)
            return
        transport = _ChannelTransport(chan)
        options: dict[str, Any] = {
            "welcome": self._settings.welcome,
            "max_line": self._settings.max_line,
            "queue_limit": self._settings.queue_limit,
            "key_fingerprint": self._key_fingerprint,
            "source": self._source,
            "motd": self._motd,
        }
        front: FrontEnd
        if self._pty is not None:
            term_type, width, height = self._pty
            terminal = TerminalFrontEnd(
                self._hub,
                transport,
                self._login,
                term_type=term_type,
                colorterm=chan.get_environment().get("COLORTERM", ""),
                **options,
            )
            terminal.set_size(width, height)
            front = terminal
        else:
            front = LineFrontEnd(self._hub, transport, self._login, **options)
        self._front = front
        try:
            front.start()
        except HubError as err:
            chan.write_stderr(f"sshchat: {refusal_text(err)}\r\n")
            chan.exit(1)
            return
        self._live.add(self)
        log_event(
            log,
            "session.start",
            user=self._login,
            source=self._source,
            mode="pty" if self._pty is not None else "plain",
        )

    def end(self, reason: str) -> None:
        """End the chat session, telling the user ``reason`` first (their login was revoked)."""
        if self._front is not None:
            self._front.outbox.close(reason)

    def seal(self) -> None:
        """Queue nothing more for this session (the server is shutting down)."""
        if self._front is not None:
            self._front.outbox.seal()

    def data_received(self, data: str, datatype: Any) -> None:
        if self._front is not None and datatype is None:
            self._front.feed(data)

    def eof_received(self) -> bool:
        if self._front is not None:
            self._front.end_of_input()
        return True  # keep the channel open until queued output is written

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        if isinstance(self._front, TerminalFrontEnd):
            self._front.set_size(*clamp_terminal_size(width, height))

    def break_received(self, msec: int) -> bool:
        return True

    def pause_writing(self) -> None:
        if self._front is not None:
            self._front.pause_writing()

    def resume_writing(self) -> None:
        if self._front is not None:
            self._front.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._live.discard(self)
        if self._front is not None:
            log_event(log, "session.end", user=self._login, source=self._source)
            self._front.connection_lost()
            self._front = None
