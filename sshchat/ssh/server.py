"""The SSH edge: host keys, the listener and asyncssh's per-connection callbacks.

:func:`listen` opens the SSH listener; each TCP connection gets a
:class:`ChatServer` (asyncssh's per-connection server object), which
authenticates against :class:`~sshchat.security.passwords.Authenticator` and opens a
:class:`~sshchat.ssh.session.ChatSession` per session channel. What the
connections share (:class:`ServerContext`) is built by the composition root,
:mod:`sshchat.app`, which also starts and stops the server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from pathlib import Path
from typing import Any, Protocol

import asyncssh

from sshchat.commands.refusals import banned_text, refusal_text
from sshchat.config.schema import Config
from sshchat.core.hub import Hub
from sshchat.core.stats import Stats
from sshchat.errors import StartupError
from sshchat.ops.logs import log_event
from sshchat.security.admission import Busy, ConnectionGate, FairSlots
from sshchat.security.credentials import Credential
from sshchat.security.passwords import Authenticator
from sshchat.ssh.algorithms import algorithm_options
from sshchat.ssh.forwards import RefusedForwards
from sshchat.ssh.session import ChatSession, SessionSettings

__all__ = ["Acceptor", "ChatServer", "ServerContext", "StartupError", "listen", "load_host_key"]

log = logging.getLogger(__name__)


def load_host_key(path: Path) -> asyncssh.SSHKey:
    """Load the host key at ``path``, creating an ed25519 key (mode 0600) if missing."""
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            key = asyncssh.generate_private_key("ssh-ed25519")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(key.export_private_key())
        except OSError as err:
            raise StartupError(
                None,
                f"cannot create host key {path}: {err.strerror}",
                "make its directory writable, or point [server] host_keys elsewhere",
            ) from None
        log_event(log, "hostkey.created", path=path, fingerprint=key.get_fingerprint("sha256"))
        return key
    try:
        return asyncssh.read_private_key(path)
    except OSError as err:
        raise StartupError(
            None,
            f"cannot read host key {path}: {err.strerror}",
            "check its permissions, or point [server] host_keys elsewhere",
        ) from None
    except (asyncssh.KeyImportError, ValueError) as err:
        raise StartupError(
            None,
            f"host key {path} is not a usable private key ({err})",
            "move it away and restart to create a new one, or point [server] host_keys "
            "at a valid key",
        ) from None


#: The listening SSH server (what :func:`listen` returns).
Acceptor = asyncssh.SSHAcceptor


class ServerContext(Protocol):
    """What every connection shares; :class:`sshchat.app.ServerState` provides it."""

    config: Config
    hub: Hub
    stats: Stats  # the server's counters (the hub adds to the same ones)
    auth: Authenticator
    settings: SessionSettings
    gate: ConnectionGate
    verify_slots: FairSlots
    connections: set[ChatServer]
    sessions: set[ChatSession]
    goodbye_grace: float  # see ChatServer.end


class ChatServer(RefusedForwards, asyncssh.SSHServer):
    """asyncssh's per-connection callbacks: admission, authentication, sessions.

    Unlike prompt_toolkit's ready-made SSH server class, every user must
    authenticate: ``begin_auth`` always asks for credentials, also for unknown
    user names (so that the answer does not reveal which names exist).

    Connections are counted against the server-wide caps when they arrive.
    Password checks wait for a fair turn in the verification pool, after any
    penalty delay their source or account has earned; a connection that fails
    ``max_auth_attempts`` times is closed.  Every kind of forwarding is
    refused and logged (see :class:`~sshchat.ssh.forwards.RefusedForwards`).

    The :class:`~sshchat.security.credentials.Credential` a connection logged
    in with is kept: a connection whose password was changed, whose key was
    removed or whose account was banned is ended (:meth:`end`), and every new
    session first checks that the login still stands (:meth:`revocation`).
    """

    def __init__(self, state: ServerContext) -> None:
        self._state = state
        self._conn: asyncssh.SSHServerConnection | None = None
        self._peer = ""
        self._source = ""
        self._admitted = False
        self._handshaking = False  # counted in gate.handshaking
        self._authenticated = False
        self._failures = 0
        # What the last accepted authentication request used. asyncssh asks
        # validate_public_key both for an unsigned "would this key do?" probe
        # and before checking a signature, and tells nobody when the signature
        # then fails: so this is only a candidate until auth_completed.
        self._accepted: Credential | None = None
        self._credential: Credential | None = None  # what the login used
        self._ended: str | None = None  # why end() was called
        self._goodbye: asyncio.TimerHandle | None = None
        self._sessions: weakref.WeakSet[ChatSession] = weakref.WeakSet()

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        peer = conn.get_extra_info("peername") or ("?", 0)
        self._peer = f"{peer[0]}:{peer[1]}"
        self._source = str(peer[0])
        refusal = self._state.gate.admit(self._source)
        if refusal is not None:
            log_event(log, "conn.refused", logging.WARNING, source=self._peer, reason=refusal)
            self._state.stats.connections_refused[refusal.split(";")[0]] += 1
            # Not from here: asyncssh sends its version line only after this
            # method returns, and a disconnect sent before it is garbage to the
            # client, which then sees just a reset and never learns the reason.
            asyncio.get_running_loop().call_soon(
                conn.disconnect, asyncssh.DISC_TOO_MANY_CONNECTIONS, refusal
            )
            return
        self._admitted = True
        self._handshaking = True
        self._state.connections.add(self)
        self.watch_session_forwards(conn)
        log_event(log, "conn.open", source=self._peer)

    def connection_lost(self, exc: Exception | None) -> None:
        self._state.connections.discard(self)
        self._handshake_done()
        if self._goodbye is not None:
            self._goodbye.cancel()
            self._goodbye = None
        if self._admitted:
            log_event(
                log,
                "conn.close",
                source=self._peer,
                user=self._username() if self._authenticated else "",
                reason=str(exc) if exc else "closed",
            )
            self._admitted = False
            self._state.gate.release(self._source, authenticated=self._authenticated)

    def begin_auth(self, username: str) -> bool:
        # The first authentication request comes after the key exchange.
        self._handshake_done()
        return True

    def _handshake_done(self) -> None:
        if self._handshaking:
            self._handshaking = False
            self._state.gate.handshake_done()

    def password_auth_supported(self) -> bool:
        return True

    def _banned(self, username: str) -> bool:
        """Refuse a banned account, telling the client why in the auth banner."""
        refusal = self._state.hub.ban_refusal(username)
        if refusal is None:
            return False
        message = refusal_text(refusal)
        if self._conn is not None:
            self._conn.send_auth_banner(f"sshchat: {message}\r\n")
        self._auth_failed(username, "banned", message)
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        state = self._state
        verdict = state.gate.throttle.check(self._source, username)
        if verdict.blocked:
            self._auth_failed(username, "blocked", verdict.reason)
            self._failed()
            return False
        if state.gate.refuse_delayed(verdict):
            state.stats.throttled += 1
            self._auth_failed(username, "throttled", f"{verdict.reason}; too many logins waiting")
            state.gate.throttle.unchecked(self._source, username)
            self._failed()
            return False
        if verdict.delay:
            state.stats.throttled += 1
            log_event(
                log,
                "auth.delay",
                user=username,
                source=self._peer,
                seconds=verdict.delay,
                reason=verdict.reason,
            )
            with state.gate.delaying():
                await asyncio.sleep(verdict.delay)
        user = state.config.users.get(username)
        checked_hash = user.password_hash if user is not None else None
        try:
            ok = await state.verify_slots.run(
                self._source, lambda: state.auth.check_password(username, password), username
            )
        except Busy:
            self._auth_failed(username, "busy", "password check queue full")
            state.gate.throttle.unchecked(self._source, username)
            self._failed()
            return False
        if ok:
            state.gate.throttle.succeeded(self._source, username)
            if self._banned(username):
                self._failed()
                return False
            self._accepted = Credential.password(checked_hash)
            return True
        self._auth_failed(username, "password", "wrong password or unknown user")
        state.gate.throttle.failed(self._source, username)
        self._failed()
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        match = self._state.auth.check_public_key(username, key.public_data)
        if match is None:
            self._auth_failed(username, "publickey", "key not authorized")
            self._failed()
            return False
        if self._banned(username):
            self._failed()
            return False
        # Not yet a login: asyncssh verifies the signature (if any) after this.
        self._accepted = Credential.public_key(match)
        return True

    def _auth_failed(self, username: str, kind: str, reason: str) -> None:
        self._state.stats.auth_failures[kind] += 1
        log_event(
            log,
            "auth.failure",
            logging.WARNING if kind in ("blocked", "busy") else logging.INFO,
            user=username,
            # For the operator only: the client's answer is the same either way.
            user_exists="yes" if self._state.auth.user_exists(username) else "no",
            source=self._peer,
            kind=kind,
            reason=reason,
        )

    def _failed(self) -> None:
        """Count a failed attempt; close the connection after too many."""
        self._failures += 1
        if self._failures >= self._state.config.limits.max_auth_attempts and self._conn:
            log_event(
                log, "auth.disconnect", logging.WARNING, source=self._peer, failures=self._failures
            )
            self._conn.disconnect(
                asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE,
                "too many authentication failures",
            )

    def auth_completed(self) -> None:
        # asyncssh calls this right after the request that succeeded, and the
        # only requests it lets succeed are ones this class accepted: so the
        # last accepted credential is the one used (a key only once its
        # signature was verified; a key merely offered before a password
        # login is not it).
        self._authenticated = True
        self._credential = self._accepted
        if self._admitted:
            self._state.gate.authenticated(self._source)
        credential = self._credential
        if credential is not None and credential.method != "password":
            # A key login vouches for its address like a password login does
            # (validate_password records those): see ConnectionGate.admit.
            self._state.gate.throttle.trust(self._source)
        log_event(
            log,
            "auth.success",
            user=self._username(),
            source=self._peer,
            method=credential.method if credential is not None else "unknown",
            key=(credential.fingerprint if credential is not None else None) or "",
        )

    @property
    def key_fingerprint(self) -> str | None:
        """The fingerprint of the key this connection logged in with; None for a password."""
        return self._credential.fingerprint if self._credential is not None else None

    def revocation(self) -> str | None:
        """Why this connection's login no longer stands (the line to tell the user), or None.

        Its account was banned, or the password or key it logged in with was
        changed or removed since (see :meth:`Credential.revoked`).
        """
        if self._ended is not None:
            return self._ended
        login = self.login
        if login is None:
            return None
        banned = self._state.hub.ban_refusal(login)
        if banned is not None:
            text = banned_text(banned.until, banned.reason)
            return text[0].upper() + text[1:] + ("" if text[-1] in ".!?" else ".")
        if self._credential is None:
            return None
        return self._credential.revoked(self._state.config.users.get(login))

    def end(self, reason: str, grace: float) -> None:
        """End this connection: its sessions tell the user ``reason``; closed after ``grace`` s.

        New sessions are refused from now on. The SSH disconnect carries
        ``reason`` too, so a client without a chat session open sees it.
        """
        if self._ended is not None:
            return
        self._ended = reason
        log_event(
            log,
            "conn.revoked",
            logging.WARNING,
            user=self.login or "",
            source=self._peer,
            reason=reason,
        )
        for session in list(self._sessions):
            session.end(reason)
        self._goodbye = asyncio.get_running_loop().call_later(grace, self._disconnect, reason)

    def _disconnect(self, reason: str) -> None:
        self._goodbye = None
        if self._conn is not None and self in self._state.connections:
            self._conn.disconnect(asyncssh.DISC_BY_APPLICATION, reason)

    def _username(self) -> str:
        assert self._conn is not None
        return str(self._conn.get_extra_info("username"))

    @property
    def login(self) -> str | None:
        """The user name this connection authenticated as; None before that."""
        return self._username() if self._authenticated and self._conn is not None else None

    def session_requested(self) -> ChatSession:
        refusal = self.revocation()
        if refusal is not None:
            log_event(
                log,
                "session.refused",
                logging.WARNING,
                user=self._username(),
                source=self._peer,
                request="session",
                reason=refusal,
            )
            raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, refusal)
        state = self._state
        session = ChatSession(
            state.hub,
            state.settings,
            self._username(),
            key_fingerprint=self.key_fingerprint,
            source=self._peer,
            live=state.sessions,
            motd=lambda: state.settings.welcome,  # a config reload replaces state.settings
        )
        self._sessions.add(session)
        return session

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


async def listen(config: Config, keys: list[asyncssh.SSHKey], state: ServerContext) -> Acceptor:
    """Listen for SSH connections as ``config`` says; each gets a :class:`ChatServer`.

    Raises :class:`StartupError` when the address cannot be bound.
    """
    limits = config.limits
    options: dict[str, Any] = {
        "server_host_keys": keys,
        "line_editor": False,
        "encoding": "utf-8",
        "errors": "replace",
        "utf8_decode_errors": "replace",
        "agent_forwarding": False,
        "x11_forwarding": False,
        "allow_scp": False,
        "kbdint_auth": False,
        "server_version": "sshchat",
        # No GSSAPI: by default asyncssh rebuilds its options for every login
        # (in a thread), looking up this host's FQDN and trying to set up a
        # GSS server each time, which fails without Kerberos anyway.
        "gss_host": None,
        "login_timeout": limits.login_grace_time,
        "keepalive_interval": limits.keepalive_interval,
        "keepalive_count_max": limits.keepalive_count_max,
        **algorithm_options(),
    }
    try:
        return await asyncssh.create_server(
            lambda: ChatServer(state),
            config.listen_host,
            config.listen_port,
            reuse_address=True,
            # `serve --workers N`: N processes accept on one port (SO_REUSEPORT).
            reuse_port=config.cluster.worker > 0,
            **options,
        )
    except OSError as err:
        raise StartupError(
            None,
            f"cannot listen on {config.listen_host}:{config.listen_port}: {err.strerror or err}",
            f"choose another [server] port or listen address in {config.path}, "
            "or stop the program using it",
        ) from None
