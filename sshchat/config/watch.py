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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sshchat.config.schema import (
    Config,
    ConfigError,
    Option,
    UserConfig,
    load_config,
    options_of,
    settings_of,
)
from sshchat.ops.logs import log_event

__all__ = [
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


def _changed(old: Config, new: Config) -> Iterator[Option]:
    """The options whose values differ between *old* and *new*, in declaration order."""
    for (declared, before), (_, after) in zip(settings_of(old), settings_of(new), strict=True):
        if before != after:
            yield declared


def restart_settings(old: Config, new: Config) -> tuple[str, ...]:
    """The settings that differ between *old* and *new* but apply only at start-up.

    Those are the options declared without ``live=True`` (see
    :func:`~sshchat.config.schema.option`), e.g. "server.port".
    """
    return tuple(declared.key for declared in _changed(old, new) if not declared.live)


def live_settings(old: Config, new: Config) -> tuple[str, ...]:
    """The settings that differ between *old* and *new* and a reload applies."""
    return tuple(declared.key for declared in _changed(old, new) if declared.live)


def effective_config(old: Config, new: Config) -> Config:
    """*new*, with the start-up-only settings kept at their running values.

    The file's path and its users are not options: they always follow *new*.
    """
    kept: dict[str, Any] = {}
    for f in dataclasses.fields(Config):
        declared = f.metadata.get("option")
        section = getattr(new, f.name)
        if isinstance(declared, Option):
            if not declared.live:
                kept[f.name] = getattr(old, f.name)
        elif dataclasses.is_dataclass(section) and not isinstance(section, type):
            running = getattr(old, f.name)
            if not any(d.live for _, d in options_of(type(section))):
                kept[f.name] = (
                    running  # nothing in it applies live ([cluster]: not even its presence)
                )
                continue
            fixed = {
                sub.name: getattr(running, sub.name)
                for sub, sub_declared in options_of(type(section))
                if not sub_declared.live
            }
            kept[f.name] = dataclasses.replace(section, **fixed)
    return dataclasses.replace(new, **kept)


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
