"""Watching the config file, and what a new configuration changes.

A :class:`ConfigWatcher` belongs to a running server (the composition root,
:mod:`sshchat.app`, starts it and stops it).  It polls the config file's
identity (inode, modification time, size) every couple of seconds and reloads
when it changes; ``serve`` also calls :meth:`ConfigWatcher.request_reload` on
SIGHUP.

A reload reads and validates the file in a worker thread
(:func:`~sshchat.config.schema.load_config`), then hands the new
:class:`~sshchat.config.schema.Config` to the ``apply`` function it was given
(:meth:`sshchat.app.RunningServer.apply_config`), on the event loop.  A file
that fails validation is rejected (``config.rejected``, with the
:class:`~sshchat.config.schema.ConfigError` text) and the running
configuration stays in force.

The functions below say what differs between two configurations: which users
were added, removed or changed (:func:`user_changes`), which settings apply
live (:func:`live_settings`) and which wait for a restart
(:func:`restart_settings`, :func:`effective_config`).  This module knows
nothing of SSH or of the front ends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sshchat.config.schema import Config, ConfigError, Limits, UserConfig, load_config
from sshchat.ops.logs import log_event

__all__ = [
    "LIVE_LIMITS",
    "WATCH_INTERVAL",
    "ConfigWatcher",
    "ReloadResult",
    "effective_config",
    "live_settings",
    "restart_settings",
    "user_changes",
]

log = logging.getLogger(__name__)

#: Seconds between two looks at the config file.
WATCH_INTERVAL = 2.0

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


def effective_config(old: Config, new: Config) -> Config:
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


def live_settings(old: Config, new: Config) -> tuple[str, ...]:
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
        path: Path | str,
        apply: Callable[[Config, str], ReloadResult],
        *,
        interval: float | None = WATCH_INTERVAL,
    ) -> None:
        """Watch the file at *path*; *apply* puts a valid new configuration in force.

        *apply* gets the new configuration and what triggered the reload
        ("file", "signal", "manual") and returns what it changed. With
        *interval* None the file is not polled (reloads happen only through
        :meth:`reload` and :meth:`request_reload`).
        """
        self.path = Path(path)
        self.interval = interval
        self.reloads = 0  # successful reloads
        self.rejections = 0  # files refused
        self.last_result: ReloadResult | None = None
        self._apply = apply
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
