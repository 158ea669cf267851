"""Live configuration reload: on SIGHUP and when the config file changes.

A :class:`ConfigWatcher` belongs to a running server (``start_server`` starts
it, ``RunningServer.close`` stops it).  It polls the config file's identity
(inode, modification time, size) every couple of seconds and reloads when it
changes; ``serve`` also calls :meth:`ConfigWatcher.request_reload` on SIGHUP.

A reload reads and validates the file in a worker thread
(:func:`~sshchat.config.schema.load_config`), then applies it on the event loop:

* users: :meth:`~sshchat.security.passwords.Authenticator.update_users` (changed passwords
  and keys apply to the next login; open connections that logged in with a
  password that changed or a key that was removed are ended, telling the user
  why) and :meth:`~sshchat.core.hub.Hub.sync_accounts`
  (new accounts appear, admin flags change at once, removed accounts' sessions
  end with :data:`ACCOUNT_REMOVED`; their SSH connections are closed shortly
  after, once the message has been written);
* the server name, message of the day, home channel and most ``[limits]``
  apply at once or to new sessions;
* the listen address and port, host keys, ``[metrics]`` and the limits fixed
  when the listener is made (see :func:`restart_settings`) need a restart: a
  ``config.restart_needed`` warning names them and the running values stay.

A file that fails validation is rejected (``config.rejected``, with the
:class:`~sshchat.config.schema.ConfigError` text) and the running configuration stays
in force; a successful reload logs ``config.reloaded`` with what changed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sshchat.config.schema import Config, ConfigError, Limits, UserConfig, load_config
from sshchat.core.hub import HubError
from sshchat.ops.logs import log_event

if TYPE_CHECKING:
    from sshchat.ssh.server import ServerState
    from sshchat.ssh.session import SessionSettings

__all__ = [
    "ACCOUNT_REMOVED",
    "LIVE_LIMITS",
    "WATCH_INTERVAL",
    "ConfigWatcher",
    "ReloadResult",
    "restart_settings",
    "user_changes",
]

log = logging.getLogger(__name__)

#: Seconds between two looks at the config file.
WATCH_INTERVAL = 2.0
#: What a user whose account was removed from the config is told.
ACCOUNT_REMOVED = "Your account was removed from the server. Goodbye."
#: Seconds a removed user's sessions get to write that message before their
#: SSH connections are closed.
REMOVED_GRACE = 5.0

#: ``[limits]`` that a reload applies (at once, or to new sessions and
#: connections); every other limit is fixed when the listener starts.
LIVE_LIMITS = frozenset(
    {
        "max_line_length",
        "outbound_queue",
        "message_burst",
        "message_rate",
        "max_auth_attempts",
        "max_unauthenticated",
        "max_connections",
        "max_connections_per_source",
        "max_sessions_per_account",
        "auth_free_failures",
        "auth_max_delay",
        "auth_block_after",
        "auth_block_seconds",
        "presence_summary_over",
    }
)

Signature = tuple[int, int, int, int] | None


@dataclass(frozen=True)
class ReloadResult:
    """What a successful reload changed."""

    trigger: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()  # users whose password, keys or admin flag changed
    settings: tuple[str, ...] = ()  # settings applied live, e.g. "server.motd"
    restart: tuple[str, ...] = ()  # changed settings that wait for a restart


def user_changes(
    old: Mapping[str, UserConfig], new: Mapping[str, UserConfig]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(added, removed, changed) login names between two sets of configured users."""
    added = tuple(name for name in new if name not in old)
    removed = tuple(name for name in old if name not in new)
    changed = tuple(name for name in new if name in old and new[name] != old[name])
    return added, removed, changed


def _restart_only_limits() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(Limits) if f.name not in LIVE_LIMITS)


# Config fields a reload applies; every other one (listen address, port, host
# keys, [metrics], sections added later) is fixed when the server starts.
_LIVE_FIELDS = frozenset({"path", "server_name", "motd", "default_channel", "users", "limits"})
_KEY_NAMES = {
    "listen_host": "server.listen",
    "listen_port": "server.port",
    "host_keys": "server.host_keys",
}


def restart_settings(old: Config, new: Config) -> tuple[str, ...]:
    """The settings that differ between *old* and *new* but apply only at start-up."""
    names = []
    for field in dataclasses.fields(Config):
        if field.name in _LIVE_FIELDS:
            continue
        before, after = getattr(old, field.name), getattr(new, field.name)
        if before == after:
            continue
        if dataclasses.is_dataclass(before) and type(before) is type(after):
            names.extend(
                f"{field.name}.{sub.name}"
                for sub in dataclasses.fields(before)
                if getattr(before, sub.name) != getattr(after, sub.name)
            )
        else:
            names.append(_KEY_NAMES.get(field.name, field.name))
    for name in _restart_only_limits():
        if getattr(old.limits, name) != getattr(new.limits, name):
            names.append(f"limits.{name}")
    return tuple(names)


def _effective(old: Config, new: Config) -> Config:
    """*new*, with the start-up-only settings kept at their running values."""
    limits = dataclasses.replace(
        new.limits, **{name: getattr(old.limits, name) for name in _restart_only_limits()}
    )
    kept = {
        field.name: getattr(old, field.name)
        for field in dataclasses.fields(Config)
        if field.name not in _LIVE_FIELDS
    }
    return dataclasses.replace(new, limits=limits, **kept)


def _live_settings(old: Config, new: Config) -> tuple[str, ...]:
    names = []
    for key, attr in (
        ("server.name", "server_name"),
        ("server.motd", "motd"),
        ("server.default_channel", "default_channel"),
    ):
        if getattr(old, attr) != getattr(new, attr):
            names.append(key)
    for name in sorted(LIVE_LIMITS):
        if getattr(old.limits, name, None) != getattr(new.limits, name, None):
            names.append(f"limits.{name}")
    return tuple(names)


def _signature(path: Path) -> Signature:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


class ConfigWatcher:
    """Reloads a running server's config on request and when the file changes."""

    def __init__(
        self,
        state: ServerState,
        settings_for: Callable[[Config], SessionSettings],
        *,
        interval: float | None = WATCH_INTERVAL,
        removed_grace: float = REMOVED_GRACE,
    ) -> None:
        """Watch ``state.config.path``; *settings_for* makes the settings of new sessions.

        With *interval* None the file is not polled (reloads happen only
        through :meth:`reload` and :meth:`request_reload`).
        """
        self.state = state
        self.path = Path(state.config.path)
        self.interval = interval
        self.removed_grace = removed_grace
        self.reloads = 0  # successful reloads
        self.rejections = 0  # files refused
        self.last_result: ReloadResult | None = None
        self._settings_for = settings_for
        self._signature = _signature(self.path)
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._closed = False

    def start(self) -> None:
        """Start polling the file (if an interval was given)."""
        if self.interval is not None and self._poller is None and not self._closed:
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    def request_reload(self, trigger: str = "signal") -> None:
        """Schedule a reload (for signal handlers and other synchronous callers)."""
        if self._closed:
            return
        self._spawn(self.reload(trigger))

    async def reload(self, trigger: str = "manual") -> ReloadResult | None:
        """Read, validate and apply the config file; None if it was rejected.

        Never raises for a bad file: the reason is logged and the running
        configuration stays in force.
        """
        async with self._lock:
            if self._closed:
                return None
            signature = _signature(self.path)
            try:
                config = await asyncio.to_thread(load_config, self.path)
            except ConfigError as exc:
                self._signature = signature
                self.rejections += 1
                log_event(
                    log,
                    "config.rejected",
                    logging.ERROR,
                    trigger=trigger,
                    error=str(exc),
                    action="the running configuration stays in force",
                )
                return None
            self._signature = signature
            if self._closed:
                return None
            try:
                result = self._apply(config, trigger)
            except Exception:  # a bug must not stop the watcher or the server
                log.exception("config.apply_failed: the reload was applied only in part")
                return None
            self.reloads += 1
            self.last_result = result
            return result

    def _apply(self, config: Config, trigger: str) -> ReloadResult:
        state = self.state
        old = state.config
        added, removed, changed = user_changes(old.users, config.users)
        restart = restart_settings(old, config)
        effective = _effective(old, config)

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
                    reason=str(exc),
                    kept=old.default_channel,
                )
                effective = dataclasses.replace(effective, default_channel=old.default_channel)
        limits = effective.limits
        hub.set_limits(
            max_text=limits.max_line_length,
            message_rate=limits.message_rate,
            message_burst=limits.message_burst,
            presence_summary_over=limits.presence_summary_over,
        )
        gate = state.gate
        gate.max_connections = limits.max_connections
        gate.max_per_source = limits.max_connections_per_source
        gate.max_unauthenticated = limits.max_unauthenticated
        throttle = gate.throttle
        throttle.free_failures = limits.auth_free_failures
        throttle.max_delay = limits.auth_max_delay
        throttle.block_after = limits.auth_block_after
        throttle.block_seconds = limits.auth_block_seconds
        state.settings = self._settings_for(effective)
        settings = _live_settings(old, effective)
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

    async def _poll(self) -> None:
        assert self.interval is not None
        settle = min(self.interval, 0.2)
        while True:
            await asyncio.sleep(self.interval)
            try:
                current = _signature(self.path)
                if current == self._signature:
                    continue
                # Let a writer finish: wait until the file stays the same a moment.
                for _ in range(10):
                    await asyncio.sleep(settle)
                    again = _signature(self.path)
                    if again == current:
                        break
                    current = again
                await self.reload("file")
            except asyncio.CancelledError:
                raise
            except Exception:  # keep watching whatever happens
                log.exception("config watcher failed")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop polling and cancel pending reloads."""
        self._closed = True
        tasks = list(self._tasks)
        if self._poller is not None:
            tasks.append(self._poller)
            self._poller = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
