"""The composition root: builds a running sshchat server from its configuration.

:func:`start_server` makes every part -- the hub, the store, the
authenticator, admission control, the metrics endpoint, the GC policy and the
config watcher -- wires them together and starts the SSH listener
(:func:`sshchat.ssh.server.listen`); :meth:`RunningServer.close` stops them in
order; :func:`serve` runs the server until SIGINT or SIGTERM.

Nothing below this module knows how the parts fit: the SSH edge gets a
:class:`ServerState` to share between connections, the hub gets its observers
(the store, the audit log), and the config watcher gets the function that
applies a new configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sshchat.cluster.redislog import RedisFactLog
from sshchat.commands.refusals import refusal_text
from sshchat.config.schema import Config
from sshchat.config.schema import Storage as StorageSettings
from sshchat.config.watch import (
    WATCH_INTERVAL,
    ConfigWatcher,
    ReloadResult,
    effective_config,
    live_settings,
    restart_settings,
    user_changes,
)
from sshchat.core.events import Notice, NoticeKind, SessionEnded
from sshchat.core.facts import Banned, Fact, moderation_action
from sshchat.core.hub import FOREVER, Hub, HubError
from sshchat.core.snapshot import dump_state, load_state
from sshchat.core.stats import Stats
from sshchat.errors import StartupError
from sshchat.ops.gcpolicy import GcPolicy
from sshchat.ops.logs import log_event
from sshchat.ops.metrics import Gauges, MetricsEndpoint, start_metrics
from sshchat.security.admission import ConnectionGate, FairSlots
from sshchat.security.exposure import exposure_warnings
from sshchat.security.passwords import Authenticator
from sshchat.security.throttle import AuthThrottle
from sshchat.ssh.server import Acceptor, ChatServer, listen, load_host_key
from sshchat.ssh.session import ChatSession, SessionSettings
from sshchat.storage.sqlite import Store, StoreError, restore

__all__ = [
    "ACCOUNT_REMOVED",
    "RunningServer",
    "ServerState",
    "StartupError",
    "serve",
    "start_server",
]

log = logging.getLogger(__name__)


SHUTDOWN_NOTICE = "The server is shutting down. Bye for now!"
#: Seconds a connection whose login no longer stands (banned, password changed,
#: key removed) keeps, for its sessions to write why, before it is closed.
GOODBYE_GRACE = 5.0
#: Seconds between two applications of the ``[storage]`` retention rules (old
#: history, delivered private messages).
RETENTION_INTERVAL = 60.0
#: What a user whose account was removed from the config is told.
ACCOUNT_REMOVED = "Your account was removed from the server. Goodbye."
#: Seconds a removed user's sessions get to write that message before their
#: SSH connections are closed.
REMOVED_GRACE = 5.0
#: What every connected user is told once when the cluster's Redis lost its data.
REDIS_RESET = (
    "The chat's shared store was restarted and lost its data: history from the last "
    "moments may be incomplete, and users connected elsewhere may show as offline until "
    "they reconnect."
)


def _audit(fact: object) -> None:
    """Log every moderation fact with who did it."""
    record = moderation_action(fact)  # type: ignore[arg-type]
    if record is not None:
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
    # Where the session lands comes after the history: the channel it used
    # last, which the welcome cannot know (see commands.refusals.online_text).
    lines.append("Type /help for commands, /quit or Ctrl-D to leave.")
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
    stats: Stats  # the server's counters: the hub, the SSH edge and /metrics share them
    auth: Authenticator
    settings: SessionSettings
    gate: ConnectionGate
    verify_slots: FairSlots
    connections: set[ChatServer] = field(default_factory=set)
    sessions: set[ChatSession] = field(default_factory=set)  # chat sessions running
    store: Store | None = None  # history and lasting state on disk
    goodbye_grace: float = GOODBYE_GRACE  # see ChatServer.end


class RunningServer:
    """A listening sshchat server."""

    def __init__(self, state: ServerState, acceptor: Acceptor, fingerprint: str):
        self.state = state
        self.acceptor = acceptor
        self.fingerprint = fingerprint
        self.metrics: MetricsEndpoint | None = None
        self.watcher: ConfigWatcher | None = None  # config reloads (SIGHUP, file changes)
        self.ticker: asyncio.Task[None] | None = None
        self.retention: asyncio.Task[None] | None = None  # see _retention
        self.factlog: RedisFactLog | None = None  # cluster mode: the shared log
        #: Seconds a removed user's sessions get to write :data:`ACCOUNT_REMOVED`
        #: before their SSH connections are closed.
        self.removed_grace = REMOVED_GRACE
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def hub(self) -> Hub:
        return self.state.hub

    @property
    def stats(self) -> Stats:
        """The server's counters (what /metrics serves)."""
        return self.state.stats

    @property
    def port(self) -> int:
        return int(self.acceptor.get_port())

    def apply_config(self, config: Config, trigger: str = "manual") -> ReloadResult:
        """Put a new, valid configuration in force; say what changed.

        * users: :meth:`~sshchat.security.passwords.Authenticator.update_users`
          (changed passwords and keys apply to the next login; open connections
          that logged in with a password that changed or a key that was removed
          are ended, telling the user why) and
          :meth:`~sshchat.core.hub.Hub.sync_accounts` (new accounts appear,
          admin flags change at once, removed accounts' sessions end with
          :data:`ACCOUNT_REMOVED`; their SSH connections are closed
          :attr:`removed_grace` seconds later, once the message was written);
        * the server name, message of the day, home channel and the live
          ``[limits]`` apply at once or to new sessions;
        * settings fixed at start-up (listen address, host keys, ``[metrics]``,
          ...: see :func:`~sshchat.config.watch.restart_settings`) keep their
          running values; a ``config.restart_needed`` warning names them.

        The :class:`~sshchat.config.watch.ConfigWatcher` calls this after
        reading and validating the file.
        """
        state = self.state
        old = state.config
        added, removed, changed = user_changes(old.users, config.users)
        restart = restart_settings(old, config)
        effective = effective_config(old, config)

        state.auth.update_users(config.users)
        hub = state.hub
        hub.sync_accounts(((u.name, u.admin) for u in config.users.values()), ACCOUNT_REMOVED)
        if effective.default_channel != old.default_channel:
            try:
                hub.set_default_channel(effective.default_channel)
            except HubError as exc:
                log_event(
                    log,
                    "config.not_applied",
                    logging.WARNING,
                    setting="server.default_channel",
                    reason=refusal_text(exc),
                    kept=old.default_channel,
                )
                effective = dataclasses.replace(effective, default_channel=old.default_channel)
        limits = effective.limits
        hub.set_limits(
            max_text=limits.max_line_length,
            message_rate=limits.message_rate,
            message_burst=limits.message_burst,
            presence_summary_over=limits.presence_summary_over,
            max_channels_per_user=limits.max_channels_per_user,
            command_rate=limits.command_rate,
            command_burst=limits.command_burst,
            max_paste_lines=limits.max_paste_lines,
        )
        gate = state.gate
        gate.max_connections = limits.max_connections
        gate.max_per_source = limits.max_connections_per_source
        gate.max_unauthenticated = limits.max_unauthenticated
        gate.max_handshakes = limits.max_handshakes
        throttle = gate.throttle
        throttle.free_failures = limits.auth_free_failures
        throttle.max_delay = limits.auth_max_delay
        throttle.block_after = limits.auth_block_after
        throttle.block_seconds = limits.auth_block_seconds
        state.settings = _session_settings(effective)
        settings = live_settings(old, effective)
        state.config = effective

        if removed:
            gone = set(removed)
            stale = [conn for conn in state.connections if conn.login in gone]
            if stale:
                self._spawn(self._drop_later(stale))
        if changed:
            self._end_revoked_connections(set(changed))

        result = ReloadResult(trigger, added, removed, changed, settings, restart)
        log_event(
            log,
            "config.reloaded",
            trigger=trigger,
            users=len(config.users),
            added=len(added),
            removed=len(removed),
            changed=len(changed),
            added_users=",".join(added),
            removed_users=",".join(removed),
            changed_users=",".join(changed),
            settings=",".join(settings),
        )
        if restart:
            log_event(
                log,
                "config.restart_needed",
                logging.WARNING,
                settings=",".join(restart),
                reason="these settings apply only when the server starts; the running values "
                "stay until a restart",
            )
        return result

    def _end_revoked_connections(self, logins: set[str]) -> None:
        """End the connections of ``logins`` whose password or key no longer stands.

        A password login ends when the account's password hash changed, a key
        login when its key was removed; the user's other connections stay.
        """
        for conn in list(self.state.connections):
            if conn.login in logins:
                reason = conn.revocation()
                if reason is not None:
                    conn.end(reason, self.removed_grace)

    async def _drop_later(self, connections: list[Any]) -> None:
        """Close removed users' SSH connections once their goodbye had time to go out."""
        await asyncio.sleep(self.removed_grace)
        for conn in connections:
            if conn in self.state.connections:
                conn.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
        for task in list(self._tasks):
            task.cancel()
        if notice:
            # Everyone is told first; then the sessions take nothing more, so
            # that the "x disconnected" lines of the sessions ending one after
            # another never follow (or overtake) the notice.
            for client in list(self.hub.online_clients()):
                client.sink.deliver(SessionEnded(notice))
            for session in list(self.state.sessions):
                session.seal()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + grace
            while self.state.sessions and loop.time() < deadline:
                await asyncio.sleep(0.05)
        for conn in list(self.state.connections):
            conn.close()
        await self.acceptor.wait_closed()
        if self.factlog is not None:
            # Sessions end as their connections close: let their facts go out,
            # then leave the cluster.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 1.0
            while self.state.sessions and loop.time() < deadline:
                await asyncio.sleep(0.01)
            await self.factlog.close()
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
    :class:`~sshchat.config.watch.ConfigWatcher`).
    """
    _warn_about_exposure(config)
    keys = [load_host_key(path) for path in config.host_keys]
    stats = Stats()
    live_sessions: list[set[Any]] = []  # filled in below: the status a cluster lease shows
    hubs: list[Hub] = []
    stores: list[Store] = []  # filled in below: where a cluster node keeps its checkpoints
    factlog = (
        await _join_cluster(config, live_sessions, hubs, stores) if config.cluster.enabled else None
    )
    hub = Hub(
        ((user.name, user.admin) for user in config.users.values()),
        default_channel=config.default_channel,
        max_text=config.limits.max_line_length,
        message_rate=config.limits.message_rate,
        message_burst=config.limits.message_burst,
        command_rate=config.limits.command_rate,
        command_burst=config.limits.command_burst,
        max_paste_lines=config.limits.max_paste_lines,
        presence_summary_over=config.limits.presence_summary_over,
        max_channels_per_user=config.limits.max_channels_per_user,
        history_lines=config.storage.history_lines,
        stats=stats,
        ids=factlog.ids if factlog is not None else None,
        log=factlog,
    )
    hubs.append(hub)
    hub.observers.append(_audit)
    try:
        store = await _open_store(config, hub, restore_state=factlog is None)
        if factlog is not None:
            stores.append(store)
            factlog.attach_state(
                lambda: dump_state(hub.state),
                lambda data: load_state(hub.state, data),
                lambda: list(hub.state.sessions),
            )
            local = await asyncio.to_thread(store.load_checkpoint)
            await _catch_up(factlog, config, local[1] if local is not None else None)
    except BaseException:
        if factlog is not None:
            await factlog.close(flush=0)
        raise
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
        stats=stats,
        store=store,
        auth=Authenticator(config.users, workers=config.limits.auth_workers),
        settings=_session_settings(config),
        gate=ConnectionGate(
            max_connections=limits.max_connections,
            max_per_source=limits.max_connections_per_source,
            max_unauthenticated=limits.max_unauthenticated,
            throttle=throttle,
            max_handshakes=limits.max_handshakes,
        ),
        verify_slots=FairSlots(
            limits.auth_workers,
            # Several users behind one NAT may log in at once; more waiting
            # checks than this from one address are refused as failures.
            per_key=8,
            # A short line (~1-2 s of hashing): a guessing wave fills it, not the
            # connections still logging in; a better-ranked login takes a guess's place.
            max_waiting=16 * limits.auth_workers,
            # One slot kept for clean logins (score 0) when there are several:
            # a guessing wave hashes on the others and a valid login never waits
            # for a guess's hash to end (see FairSlots._room).
            reserve=1 if limits.auth_workers > 1 else 0,
            # Cleanest first: failures of the address plus those of the account
            # (from every address), so a wave spread over many addresses waits
            # behind the logins of accounts it is not guessing.
            rank=lambda source, account: (
                throttle.failures(source) + (throttle.account_failures(account) if account else 0)
            ),
        ),
    )
    hub.observers.append(_ban_ends_connections(state))
    live_sessions.append(state.sessions)
    try:
        acceptor = await listen(config, keys, state)
    except BaseException:
        state.auth.close()
        if factlog is not None:
            await factlog.close(flush=0)
        await asyncio.to_thread(store.close)
        raise
    fingerprint = keys[0].get_fingerprint("sha256")
    running = RunningServer(state, acceptor, fingerprint)
    running.factlog = factlog
    running.watcher = ConfigWatcher(config.path, running.apply_config, interval=watch_interval)
    running.watcher.start()
    running.ticker = asyncio.get_running_loop().create_task(_tick(hub, GcPolicy()))
    if state.store is not None:
        running.retention = asyncio.get_running_loop().create_task(
            _retention(state.store, config.storage, RETENTION_INTERVAL)
        )
    if config.metrics.enabled:
        try:
            running.metrics = _start_metrics(state)
        except BaseException:
            await running.close()
            raise
        log_event(
            log,
            "metrics.listening",
            url=f"http://{_host_port(config.metrics.listen, running.metrics.port)}/metrics",
        )
    _log_listening(running, keys)
    return running


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _log_listening(running: RunningServer, keys: list[Any]) -> None:
    """The start-up event: where the server listens and the host key(s) to expect.

    ``host_key`` is the fingerprint users compare with what their client shows
    on first connect (``SHA256:...``); with several host keys, they are listed
    in the order the config gives, separated by commas.
    """
    config = running.state.config
    log_event(
        log,
        "server.listening",
        address=config.listen_host,
        port=running.port,
        host_key=",".join(key.get_fingerprint("sha256") for key in keys),
        users=len(config.users),
    )


def _ban_ends_connections(state: ServerState) -> Callable[[Fact], None]:
    """A hub observer: a ban ends the banned account's SSH connections, not only its sessions.

    The hub ends the sessions with the ban message; without this the
    connection would stay up and could ask for new sessions.
    """

    def observe(fact: Fact) -> None:
        if isinstance(fact, Banned):
            for conn in list(state.connections):
                if conn.login == fact.login:
                    reason = conn.revocation()
                    if reason is not None:
                        conn.end(reason, state.goodbye_grace)

    return observe


def _warn_about_exposure(config: Config) -> None:
    """Log a ``security.warning`` for a readable config file, metrics beyond loopback..."""
    for warning in exposure_warnings(config):
        log_event(log, "security.warning", logging.WARNING, message=warning)


async def _apply_retention(store: Store, storage: StorageSettings) -> None:
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


async def _retention(store: Store, storage: StorageSettings, interval: float) -> None:
    """Apply the retention rules every ``interval`` seconds, off the event loop."""
    while True:
        await asyncio.sleep(interval)
        try:
            await _apply_retention(store, storage)
        except StoreError as err:
            log_event(log, "store.prune_failed", logging.ERROR, error=str(err))
        except Exception:
            log.exception("applying the storage retention rules failed")


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


async def _join_cluster(
    config: Config, live_sessions: list[set[Any]], hubs: list[Hub], stores: list[Store]
) -> RedisFactLog:
    """Reach the cluster's Redis (or raise a :class:`StartupError` naming the URL and the fix)."""
    cluster = config.cluster

    def reset() -> None:
        for hub in hubs:
            for client in hub.online_clients():
                client.sink.deliver(Notice(REDIS_RESET, NoticeKind.ERROR, time.time()))

    def checkpoint(applied: str, body: str) -> None:
        for store in stores:
            store.checkpoint(applied, body)

    factlog = RedisFactLog(
        cluster.redis_url,
        cluster.node,
        renew=cluster.lease_renew,
        expire=cluster.lease_expire,
        status=lambda: {"sessions": sum(len(s) for s in live_sessions)},
        on_reset=reset,
        snapshot_every=cluster.snapshot_every,
        checkpoint=checkpoint,
    )
    await factlog.connect(config=str(config.path))
    return factlog


async def _catch_up(factlog: RedisFactLog, config: Config, local: str | None) -> None:
    """Apply what the cluster did before this node started, then join it.

    The hub starts from the newest of this node's own checkpoint (``local``,
    from its database) and the snapshot in Redis -- or empty, accounts from the
    config -- and applies the stream after it, so that it holds the same
    state as every other node before it takes a login.
    """
    started = time.monotonic()
    entries = await factlog.catch_up(local)
    await factlog.start()
    await factlog.settled(timeout=30.0)  # its own start-up facts (accounts) applied
    log_event(
        log,
        "cluster.joined",
        node=factlog.node,
        prefix=factlog.prefix,
        redis=config.cluster.redis_url,
        entries=entries,
        base=factlog.base,
        base_from=factlog.base_from,
        seconds=round(time.monotonic() - started, 2),
    )


async def _open_store(config: Config, hub: Hub, *, restore_state: bool = True) -> Store:
    """Open the database, give ``hub`` its saved state and keep its records from now on.

    Runs before the server listens; the disk work happens in a thread. In
    cluster mode (``restore_state`` False) the state comes from the shared
    log instead; the store still keeps what this node applies.
    """
    storage = config.storage
    try:
        store = await asyncio.to_thread(
            Store.open, storage.path, commit_interval=storage.commit_interval
        )
    except StoreError as err:
        raise StartupError(err.where, err.problem, err.fix) from None
    try:
        await _apply_retention(store, storage)
        snapshot = await asyncio.to_thread(store.load, [config.default_channel])
    except BaseException as err:
        await asyncio.to_thread(store.close)
        if isinstance(err, StoreError):
            raise StartupError(err.where, err.problem, err.fix) from None
        raise
    if restore_state:
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
        return start_metrics(metrics.listen, metrics.port, state.stats, gauges)
    except ImportError:
        raise StartupError(
            None,
            "[metrics] enabled = true needs the prometheus-client package",
            "pip install 'sshchat[metrics]', or set enabled = false",
        ) from None
    except OSError as err:
        raise StartupError(
            None,
            f"cannot serve metrics on {metrics.listen}:{metrics.port}: {err.strerror or err}",
            f"choose another [metrics] port in {state.config.path}",
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
