"""Who gets in, and in what order: connection caps and fair password checking.

asyncssh has no MaxStartups, MaxAuthTries or per-source limits of its own;
:class:`ConnectionGate` keeps the counts those need, and :class:`FairSlots`
shares the few password-verification workers fairly among source addresses,
so that a brute-force wave from some addresses cannot starve everyone else's
logins. Nothing here imports asyncssh.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sshchat.security.throttle import AuthThrottle

__all__ = ["Busy", "ConnectionGate", "FairSlots", "source_address"]

T = TypeVar("T")


class Busy(Exception):
    """Too much is waiting already; the request is refused without queueing."""


def source_address(peer: str) -> str:
    """``"1.2.3.4:5678"`` -> ``"1.2.3.4"``; ``"[::1]:22"``/``"::1:22"`` -> ``"::1"``."""
    host = peer.rsplit(":", 1)[0] if ":" in peer else peer
    return host.strip("[]")


class FairSlots:
    """Runs at most ``slots`` jobs at once; waiting jobs are served fairly.

    Waiters are grouped by key (the source address). Keys with fewer recorded
    failures go first (``rank``), and keys of equal rank take turns, one job
    each. A key may have at most ``per_key`` jobs waiting and the whole queue at
    most ``max_waiting``; beyond that :class:`Busy` is raised at once.
    """

    def __init__(
        self,
        slots: int,
        *,
        per_key: int = 2,
        max_waiting: int = 1000,
        rank: Callable[[str], int] = lambda key: 0,
    ) -> None:
        self.slots = slots
        self.per_key = per_key
        self.max_waiting = max_waiting
        self.rank = rank
        self.running = 0
        self.waiting = 0
        self._queues: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()

    async def run(self, key: str, job: Callable[[], Awaitable[T]]) -> T:
        """Wait for a slot (fairly), then run ``job``."""
        if self.running >= self.slots or self.waiting:
            await self._wait_turn(key)
        else:
            self.running += 1
        try:
            return await job()
        finally:
            self.running -= 1
            self._grant_next()

    async def _wait_turn(self, key: str) -> None:
        queue = self._queues.get(key)
        if self.waiting >= self.max_waiting or (queue is not None and len(queue) >= self.per_key):
            raise Busy(key)
        if queue is None:
            queue = self._queues[key] = deque()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(future)
        self.waiting += 1
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                # The slot was granted just as we were cancelled: hand it on.
                self.running -= 1
                self._grant_next()
            else:
                self._forget(key, future)
            raise

    def _forget(self, key: str, future: asyncio.Future[None]) -> None:
        queue = self._queues.get(key)
        if queue is not None and future in queue:
            queue.remove(future)
            self.waiting -= 1
            if not queue:
                del self._queues[key]

    def _grant_next(self) -> None:
        while self.running < self.slots and self._queues:
            key = min(self._queues, key=self.rank)  # first key of the best rank
            queue = self._queues.pop(key)
            future = queue.popleft()
            self.waiting -= 1
            if queue:
                self._queues[key] = queue  # to the back: keys take turns
            if future.cancelled():
                continue
            self.running += 1
            future.set_result(None)


@dataclass
class ConnectionGate:
    """Connection counts and failed-login penalties, server-wide."""

    max_connections: int
    max_per_source: int
    max_unauthenticated: int
    throttle: AuthThrottle
    total: int = 0
    unauthenticated: int = 0
    per_source: dict[str, int] = field(default_factory=dict)
    unauth_per_source: dict[str, int] = field(default_factory=dict)

    def admit(self, source: str) -> str | None:
        """Count a new connection from ``source``; return a refusal reason or None.

        When ``max_unauthenticated`` connections are already logging in, a
        source that has none of them in progress and no failed logins is still
        let in (up to twice the cap): a wave of guesses from a few addresses
        fills the cap, and must not lock everyone else out of logging in.
        """
        if self.total >= self.max_connections:
            return "the server is full; try again later"
        if self.unauthenticated >= self.max_unauthenticated and (
            self.unauth_per_source.get(source, 0) > 0
            or self.throttle.failures(source) > 0
            or self.unauthenticated >= 2 * self.max_unauthenticated
        ):
            return "too many connections are logging in right now; try again in a moment"
        if self.per_source.get(source, 0) >= self.max_per_source:
            return "too many connections from your address"
        if self.throttle.blocked_source(source):
            return "too many failed logins from your address; try again later"
        self.total += 1
        self.unauthenticated += 1
        self.per_source[source] = self.per_source.get(source, 0) + 1
        self.unauth_per_source[source] = self.unauth_per_source.get(source, 0) + 1
        return None

    def authenticated(self, source: str | None = None) -> None:
        """A connection from ``source`` has logged in."""
        self.unauthenticated -= 1
        if source is not None:
            _decrement(self.unauth_per_source, source)

    def release(self, source: str, *, authenticated: bool) -> None:
        """A connection counted by :meth:`admit` has ended."""
        self.total -= 1
        if not authenticated:
            self.unauthenticated -= 1
            _decrement(self.unauth_per_source, source)
        _decrement(self.per_source, source)


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)
