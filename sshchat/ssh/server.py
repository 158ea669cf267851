"""The SSH server: host keys, authentication and the glue between asyncssh and the hub.

:func:`start_server` builds the hub from the configuration and listens;
:func:`serve` runs it until SIGINT or SIGTERM. Each TCP connection gets a
:class:`ChatServer` (asyncssh's per-connection server object), which
authenticates against :class:`~sshchat.security.passwords.Authenticator` and opens a
:class:`~sshchat.ssh.session.ChatSession` per session channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

from sshchat.config.schema import Config, Storage
from sshchat.core.hub import FOREVER, Hub, ModerationAction, Record
from sshchat.ops.gcpolicy import GcPolicy
from sshchat.ops.logs import log_event
from sshchat.ops.metrics import Gauges, MetricsEndpoint, start_metrics
from sshchat.reload import WATCH_INTERVAL, ConfigWatcher
from sshchat.security.admission import Busy, ConnectionGate, FairSlots
from sshchat.security.credentials import Credential
from sshchat.security.exposure import exposure_warnings
from sshchat.security.passwords import Authenticator
from sshchat.security.throttle import AuthThrottle
from sshchat.ssh.algorithms import algorithm_options
from sshchat.ssh.session import ChatSession, SessionSettings
from sshchat.storage.sqlite import Store, StoreError, restore

__all__ = ["ChatServer", "RunningServer", "StartupError", "load_host_key", "serve", "start_server"]

log = logging.getLogger(__name__)


SHUTDOWN_NOTICE = "The server is shutting down. Bye for now!"
#: Seconds a connection whose login no longer stands (banned, password changed,
#: key removed) keeps, for its sessions to write why, before it is closed.
GOODBYE_GRACE = 5.0
#: Seconds between two applications of the ``[storage]`` retention rules (old
#: history, delivered private messages).
RETENTION_INTERVAL = 60.0


class StartupError(Exception):
    """The server cannot start; the message says why and how to fix it."""


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
                f"cannot create host key {path}: {err.strerror}. "
                "Fix: make its directory writable, or point [server] host_keys elsewhere."
            ) from None
        log.info("created new host key %s", path)
        return key
    try:
        return asyncssh.read_private_key(path)
    except OSError as err:
        raise StartupError(
            f"cannot read host key {path}: {err.strerror}. "
            "Fix: check its permissions, or point [server] host_keys elsewhere."
        ) from None
    except (asyncssh.KeyImportError, ValueError) as err:
        raise StartupError(
            f"host key {path} is not a usable private key ({err}). "
            "Fix: move it away and restart to create a new one, or point [server] host_keys "
            "at a valid key."
        ) from None


def _audit(record: object) -> None:
    """Log every moderation action with who did it."""
    if isinstance(record, ModerationAction):
        until = ""
        if record.until is not None:
            until = (
                "forever"
                if record.until == FOREVER
                else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.until))
            )
        log_event(
            log,
            "moderation",
            actor=record.actor,
            action=record.action,
            target=record.target,
            channel=record.channel or "",
            reason=record.reason,
            until=until,
        )


def _welcome(config: Config) -> str:
    lines = [f"Welcome to {config.server_name}!"]
    if config.motd.strip():
        lines.append(config.motd.rstrip("\n"))
    lines.append(
        f"You are in #{config.default_channel}. Type /help for commands, /quit or Ctrl-D to leave."
    )
    return "\n".join(lines)


def _session_settings(config: Config) -> SessionSettings:
    """What new sessions get from ``config`` (remade on every config reload)."""
    return SessionSettings(
        welcome=_welcome(config),
        max_line=config.limits.max_line_length,
        queue_limit=config.limits.outbound_queue,
        max_sessions=config.limits.max_sessions_per_account,
    )


@dataclass
class ServerState:
    """What every connection shares."""

    config: Config
    hub: Hub
    auth: Authenticator
    settings: SessionSettings
    gate: ConnectionGate
    verify_slots: FairSlots
    connections: set[ChatServer] = field(default_factory=set)
    sessions: set[ChatSession] = field(default_factory=set)  # chat sessions running
    store: Store | None = None  # history and lasting state on disk
    goodbye_grace: float = GOODBYE_GRACE  # see ChatServer.end


class ChatServer(asyncssh.SSHServer):
    """asyncssh's per-connection callbacks: admission, authentication, sessions.

    Unlike prompt_toolkit's ready-made SSH server class, every user must
    authenticate: ``begin_auth`` always asks for credentials, also for unknown
    user names (so that the answer does not reveal which names exist).

    Connections are counted against the server-wide caps when they arrive.
    Password checks wait for a fair turn in the verification pool, after any
    penalty delay their source or account has earned; a connection that fails
    ``max_auth_attempts`` times is closed.

    The :class:`~sshchat.security.credentials.Credential` a connection logged
    in with is kept: a connection whose password was changed, whose key was
    removed or whose account was banned is ended (:meth:`end`), and every new
    session first checks that the login still stands (:meth:`revocation`).
    """

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._conn: asyncssh.SSHServerConnection | None = None
        self._peer = ""
        self._source = ""
        self._admitted = False
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
            self._state.hub.stats.connections_refused[refusal.split(";")[0]] += 1
            # Not from here: asyncssh sends its version line only after this
            # method returns, and a disconnect sent before it is garbage to the
            # client, which then sees just a reset and never learns the reason.
            asyncio.get_running_loop().call_soon(
                conn.disconnect, asyncssh.DISC_TOO_MANY_CONNECTIONS, refusal
            )
            return
        self._admitted = True
        self._state.connections.add(self)
        log_event(log, "conn.open", source=self._peer)

    def connection_lost(self, exc: Exception | None) -> None:
        self._state.connections.discard(self)
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
        return True

    def password_auth_supported(self) -> bool:
        return True

    def _banned(self, username: str) -> bool:
        """Refuse a banned account, telling the client why in the auth banner."""
        message = self._state.hub.ban_message(username)
        if message is None:
            return False
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
        if verdict.delay:
            state.hub.stats.throttled += 1
            log_event(
                log,
                "auth.delay",
                user=username,
                source=self._peer,
                seconds=verdict.delay,
                reason=verdict.reason,
            )
            await asyncio.sleep(verdict.delay)
        user = state.config.users.get(username)
        checked_hash = user.password_hash if user is not None else None
        try:
            ok = await state.verify_slots.run(
                self._source, lambda: state.auth.check_password(username, password)
            )
        except Busy:
            self._auth_failed(username, "busy", "password check queue full")
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
        self._state.hub.stats.auth_failures[kind] += 1
        log_event(
            log,
            "auth.failure",
            logging.WARNING if kind in ("blocked", "busy") else logging.INFO,
            user=username,
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
        banned = self._state.hub.ban_message(login)
        if banned is not None:
            return banned[0].upper() + banned[1:] + ("" if banned[-1] in ".!?" else ".")
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
        session = ChatSession(
            self._state.hub,
            self._state.settings,
            self._username(),
            key_fingerprint=self.key_fingerprint,
            source=self._peer,
            live=self._state.sessions,
        )
        self._sessions.add(session)
        return session

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


class RunningServer:
    """A listening sshchat server."""

    def __init__(self, state: ServerState, acceptor: asyncssh.SSHAcceptor, fingerprint: str):
        self.state = state
        self.acceptor = acceptor
        self.fingerprint = fingerprint
        self.metrics: MetricsEndpoint | None = None
        self.watcher: ConfigWatcher | None = None  # config reloads (SIGHUP, file changes)
        self.ticker: asyncio.Task[None] | None = None
        self.retention: asyncio.Task[None] | None = None  # see _retention

    @property
    def hub(self) -> Hub:
        return self.state.hub

    @property
    def port(self) -> int:
        return int(self.acceptor.get_port())

    async def close(self, notice: str | None = None, grace: float = 5.0) -> None:
        """Stop listening, end every session and release resources.

        With ``notice``, every connected user is told it first and their
        sessions are given up to ``grace`` seconds to write what is queued
        and end by themselves.
        """
        self.acceptor.close()
        if self.watcher is not None:
            await self.watcher.close()
        if self.ticker is not None:
            self.ticker.cancel()
        if self.retention is not None:
            self.retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.retention
        if notice:
            for client in list(self.hub.online_clients()):
                client.sink.close(notice)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + grace
            while self.state.sessions and loop.time() < deadline:
                await asyncio.sleep(0.05)
        for conn in list(self.state.connections):
            conn.close()
        await self.acceptor.wait_closed()
        self.state.auth.close()
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None
        store, self.state.store = self.state.store, None
        if store is not None:
            # Sessions end (recording their users' last-seen time) as their
            # connections close: let them, then write everything out.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 1.0
            while self.state.sessions and loop.time() < deadline:
                await asyncio.sleep(0.01)
            await asyncio.to_thread(store.close)


async def start_server(
    config: Config, *, watch_interval: float | None = WATCH_INTERVAL
) -> RunningServer:
    """Create the hub and start listening as ``config`` says.

    The config file is reloaded when it changes (looked at every
    ``watch_interval`` seconds; None: only on request, see
    :class:`~sshchat.reload.ConfigWatcher`).
    """
    _warn_about_exposure(config)
    keys = [load_host_key(path) for path in config.host_keys]
    hub = Hub(
        ((user.name, user.admin) for user in config.users.values()),
        default_channel=config.default_channel,
        max_text=config.limits.max_line_length,
        message_rate=config.limits.message_rate,
        message_burst=config.limits.message_burst,
        presence_summary_over=config.limits.presence_summary_over,
        history_lines=config.storage.history_lines,
    )
    hub.observers.append(_audit)
    store = await _open_store(config, hub)
    limits = config.limits
    throttle = AuthThrottle(
        free_failures=limits.auth_free_failures,
        max_delay=limits.auth_max_delay,
        block_after=limits.auth_block_after,
        block_seconds=limits.auth_block_seconds,
    )
    state = ServerState(
        config=config,
        hub=hub,
        store=store,
        auth=Authenticator(config.users, workers=config.limits.auth_workers),
        settings=_session_settings(config),
        gate=ConnectionGate(
            max_connections=limits.max_connections,
            max_per_source=limits.max_connections_per_source,
            max_unauthenticated=limits.max_unauthenticated,
            throttle=throttle,
        ),
        verify_slots=FairSlots(
            limits.auth_workers,
            # Several users behind one NAT may log in at once; more waiting
            # checks than this from one address are refused as failures.
            per_key=8,
            rank=lambda source: throttle.failures(source),
        ),
    )
    hub.observers.append(_ban_ends_connections(state))
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
        "login_timeout": limits.login_grace_time,
        "keepalive_interval": limits.keepalive_interval,
        "keepalive_count_max": limits.keepalive_count_max,
        **algorithm_options(),
    }
    try:
        acceptor = await asyncssh.create_server(
            lambda: ChatServer(state),
            config.listen_host,
            config.listen_port,
            reuse_address=True,
            **options,
        )
    except OSError as err:
        state.auth.close()
        await asyncio.to_thread(store.close)
        raise StartupError(
            f"cannot listen on {config.listen_host}:{config.listen_port}: {err.strerror or err}. "
            f"Fix: choose another [server] port or listen address in {config.path}, "
            "or stop the program using it."
        ) from None
    fingerprint = keys[0].get_fingerprint("sha256")
    running = RunningServer(state, acceptor, fingerprint)
    running.watcher = ConfigWatcher(state, _session_settings, interval=watch_interval)
    running.watcher.start()
    running.ticker = asyncio.get_running_loop().create_task(_tick(hub, GcPolicy()))
    running.retention = asyncio.get_running_loop().create_task(
        _retention(store, config.storage, RETENTION_INTERVAL)
    )
    if config.metrics.enabled:
        try:
            running.metrics = _start_metrics(state)
        except BaseException:
            await running.close()
            raise
        log.info(
            "metrics on http://%s:%d/metrics",
            config.metrics.listen,
            running.metrics.port,
        )
    log.info(
        "sshchat listening on %s:%d, host key %s",
        config.listen_host,
        running.port,
        fingerprint,
    )
    return running


def _ban_ends_connections(state: ServerState) -> Callable[[Record], None]:
    """A hub observer: a ban ends the banned account's SSH connections, not only its sessions.

    The hub closes the sessions with the ban message; without this the
    connection would stay up and could ask for new sessions.
    """

    def observe(record: Record) -> None:
        if isinstance(record, ModerationAction) and record.action == "ban":
            for conn in list(state.connections):
                if conn.login == record.target:
                    reason = conn.revocation()
                    if reason is not None:
                        conn.end(reason, state.goodbye_grace)

    return observe


def _warn_about_exposure(config: Config) -> None:
    """Log a ``security.warning`` for a readable config file, metrics beyond loopback..."""
    for warning in exposure_warnings(config):
        log_event(log, "security.warning", logging.WARNING, message=warning)


async def _tick(hub: Hub, gc_policy: GcPolicy) -> None:
    """Once a second: presence summaries of big channels, garbage-collection policy."""
    try:
        while True:
            await asyncio.sleep(1.0)
            try:
                hub.flush_presence()
                gc_policy.tick()
            except Exception:
                log.exception("periodic work failed")
    finally:
        gc_policy.stop()


async def _open_store(config: Config, hub: Hub) -> Store:
    """Open the database, give ``hub`` its saved state and keep its records from now on.

    Runs before the server listens; the disk work happens in a thread.
    """
    storage = config.storage
    try:
        store = await asyncio.to_thread(
            Store.open, storage.path, commit_interval=storage.commit_interval
        )
    except StoreError as err:
        raise StartupError(str(err)) from None
    try:
        await _apply_retention(store, storage)
        snapshot = await asyncio.to_thread(store.load, [config.default_channel])
    except BaseException as err:
        await asyncio.to_thread(store.close)
        if isinstance(err, StoreError):
            raise StartupError(str(err)) from None
        raise
    restore(hub, snapshot)
    store.attach(hub)
    log_event(
        log,
        "store.open",
        path=store.path,
        channels=len(snapshot.channels),
        accounts=len(snapshot.accounts),
        lines=sum(len(lines) for lines in snapshot.history.values()),
    )
    return store


async def _apply_retention(store: Store, storage: Storage) -> None:
    """Delete the stored messages ``[storage]`` keeps no longer (in a worker thread)."""
    pruned = await asyncio.to_thread(
        store.prune, days=storage.history_days, max_lines=storage.history_max_lines
    )
    if pruned.total:
        log_event(
            log,
            "store.pruned",
            path=store.path,
            delivered=pruned.delivered,
            old=pruned.old,
            surplus=pruned.surplus,
        )


async def _retention(store: Store, storage: Storage, interval: float) -> None:
    """Apply the retention rules every ``interval`` seconds, off the event loop."""
    while True:
        await asyncio.sleep(interval)
        try:
            await _apply_retention(store, storage)
        except StoreError as err:
            log_event(log, "store.prune_failed", logging.ERROR, error=str(err))
        except Exception:
            log.exception("applying the storage retention rules failed")


def _start_metrics(state: ServerState) -> MetricsEndpoint:
    metrics = state.config.metrics
    gate = state.gate
    gauges = Gauges(
        sessions=lambda: len(state.sessions),
        connections=lambda: gate.total,
        unauthenticated=lambda: gate.unauthenticated,
        online_users=lambda: sum(1 for a in state.hub.accounts.values() if a.online),
    )
    try:
        return start_metrics(metrics.listen, metrics.port, state.hub.stats, gauges)
    except ImportError:
        raise StartupError(
            "[metrics] enabled = true needs the prometheus-client package. "
            "Fix: pip install 'sshchat[metrics]', or set enabled = false."
        ) from None
    except OSError as err:
        raise StartupError(
            f"cannot serve metrics on {metrics.listen}:{metrics.port}: {err.strerror or err}. "
            f"Fix: choose another [metrics] port in {state.config.path}."
        ) from None


async def serve(
    config: Config,
    *,
    watch_interval: float | None = WATCH_INTERVAL,
    on_start: Callable[[RunningServer], object] | None = None,
) -> None:
    """Run the server until SIGINT or SIGTERM; SIGHUP reloads the config file.

    ``on_start`` is called with the running server once it listens.
    """
    running = await start_server(config, watch_interval=watch_interval)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    hangup = getattr(signal, "SIGHUP", None)
    watcher = running.watcher
    if hangup is not None and watcher is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(hangup, watcher.request_reload, "signal")
    try:
        if on_start is not None:
            on_start(running)
        await stop.wait()
    finally:
        if hangup is not None:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(hangup)
        log_event(log, "server.stop", sessions=sum(1 for _ in running.hub.online_clients()))
        await running.close(notice=SHUTDOWN_NOTICE)
