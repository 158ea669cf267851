"""Who gets in, and in what order: connection caps and fair password checking.

asyncssh has no MaxStartups, MaxAuthTries or per-source limits of its own;
:class:`ConnectionGate` keeps the counts those need, and :class:`FairSlots`
shares the few password-verification workers fairly among source addresses,
so that a brute-force wave from some addresses cannot starve everyone else's
logins. Nothing here imports asyncssh.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from sshchat.security.throttle import AuthThrottle, Verdict

__all__ = ["BUSY", "Busy", "ConnectionGate", "FairSlots", "source_address"]

T = TypeVar("T")


class Busy(Exception):
    """Too much is waiting already; the request is refused without queueing."""


#: Logins in progress at once from a trusted source that still get past a full gate.
TRUSTED_AT_ONCE = 3

#: The refusal when too many connections are logging in (what the client is told).
BUSY = "too many connections are logging in right now; try again in a moment"


def source_address(peer: str) -> str:
    """``"1.2.3.4:5678"`` -> ``"1.2.3.4"``; ``"[::1]:22"``/``"::1:22"`` -> ``"::1"``."""
    host = peer.rsplit(":", 1)[0] if ":" in peer else peer
    return host.strip("[]")


class FairSlots:
    """Runs at most ``slots`` jobs at once; waiting jobs are served fairly.

    Waiters are grouped by key (the source address). Each key's next waiter is
    scored when a slot frees up (so failures recorded while it waited count):
    ``rank(key, tag)``, where ``tag`` is what the waiter passed to :meth:`run`
    (the account it logs in as), plus the other jobs of the same tag waiting or
    running. Lower scores go first, and keys of equal score take turns, one job
    each. A key may have at most ``per_key`` jobs waiting (beyond that
    :class:`Busy` is raised at once). When ``max_waiting`` jobs wait, a newcomer
    with a better score than the worst waiter takes its place (that waiter gets
    :class:`Busy`); otherwise the newcomer gets :class:`Busy`. The last
    ``reserve`` slots only run jobs scoring 0 (:meth:`_room`).

    Why the tag: guesses spread over many addresses give every address a clean
    record, so ranking by address alone puts a valid login behind all of them.
    The accounts they guess are what such a wave has in common: recorded
    failures, and many attempts in flight at once (failures are only recorded
    once a hash is checked, seconds later in a wave). Why evict rather than
    refuse the newcomer: the waiting line is what a wave fills, and the valid
    login arrives last.
    """

    def __init__(
        self,
        slots: int,
        *,
        per_key: int = 2,
        max_waiting: int = 1000,
        rank: Callable[[str, str | None], int] = lambda key, tag: 0,
        reserve: int = 0,
    ) -> None:
        self.slots = slots
        self.reserve = reserve
        self.per_key = per_key
        self.max_waiting = max_waiting
        self.rank = rank
        self.running = 0
        self.suspect_running = 0  # running jobs that scored above 0 when they started
        self.waiting = 0
        self._queues: OrderedDict[str, deque[_Waiter]] = OrderedDict()
        self._tags: Counter[str] = Counter()  # jobs waiting or running, per tag

    def score(self, key: str, tag: str | None) -> int:
        """The rank of one (waiting or running) job of ``key`` and ``tag``: lower goes first."""
        others = self._tags[tag] - 1 if tag is not None else 0
        return self.rank(key, tag) + max(0, others)

    async def run(self, key: str, job: Callable[[], Awaitable[T]], tag: str | None = None) -> T:
        """Wait for a slot (fairly, by :meth:`score`), then run ``job``."""
        self._count(tag, 1)
        try:
            suspect = self.score(key, tag) > 0
            if self.running >= self.slots or self.waiting or not self._room(suspect):
                suspect = await self._wait_turn(key, tag)
            else:
                self._start(suspect)
        except BaseException:
            self._count(tag, -1)
            raise
        try:
            return await job()
        finally:
            self._count(tag, -1)
            self._stop(suspect)
            self._grant_next()

    def _room(self, suspect: bool) -> bool:
        """Whether a job may take a free slot: the last ``reserve`` slots are kept for
        jobs scoring 0 (see :meth:`score`).

        Why: a password check takes a slot for a whole hash (~0.1 s of CPU, far
        more on a starved machine). With every slot hashing a guess, a valid
        login of a clean account would still wait for one of those to end
        before its own hash starts; a reserved slot lets it start at once, and
        halves (with two slots) the CPU a guessing wave gets for hashing.
        """
        return not suspect or self.suspect_running < self.slots - self.reserve

    def _start(self, suspect: bool) -> None:
        self.running += 1
        if suspect:
            self.suspect_running += 1

    def _stop(self, suspect: bool) -> None:
        self.running -= 1
        if suspect:
            self.suspect_running -= 1

    def _count(self, tag: str | None, step: int) -> None:
        if tag is None:
            return
        self._tags[tag] += step
        if self._tags[tag] <= 0:
            del self._tags[tag]

    async def _wait_turn(self, key: str, tag: str | None) -> bool:
        """Wait for a slot; return whether the job was counted as suspect when granted."""
        queue = self._queues.get(key)
        if queue is not None and len(queue) >= self.per_key:
            raise Busy(key)
        if self.waiting >= self.max_waiting:
            self._evict_worse_than(self.score(key, tag), key)
            queue = self._queues.get(key)  # the eviction may have emptied it
        if queue is None:
            queue = self._queues[key] = deque()
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        entry = _Waiter(future, tag)
        queue.append(entry)
        self.waiting += 1
        if self.running < self.slots:
            self._grant_next()  # a slot reserved for clean jobs is free: this may be one
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                # The slot was granted just as we were cancelled: hand it on.
                self._stop(future.result())
                self._grant_next()
            else:
                self._forget(key, entry)
            raise

    def _evict_worse_than(self, score: int, key: str) -> None:
        """Make room for a newcomer scoring ``score``: the worst waiter (the latest of
        equals) gets :class:`Busy` if it scores worse; else raise :class:`Busy` here."""
        worst: tuple[int, str, _Waiter] | None = None
        for k, queue in self._queues.items():
            for entry in queue:
                entry_score = self.score(k, entry.tag)
                if worst is None or entry_score >= worst[0]:
                    worst = (entry_score, k, entry)
        if worst is None or worst[0] <= score:
            raise Busy(key)
        _, victim_key, victim = worst
        self._forget(victim_key, victim)
        victim.future.set_exception(Busy(victim_key))

    def _forget(self, key: str, entry: _Waiter) -> None:
        queue = self._queues.get(key)
        if queue is not None and entry in queue:
            queue.remove(entry)
            self.waiting -= 1
            if not queue:
                del self._queues[key]

    def _grant_next(self) -> None:
        while self.running < self.slots and self._queues:
            # The first key of the best score, judged by the waiter at its head.
            key = min(self._queues, key=lambda k: self.score(k, self._queues[k][0].tag))
            suspect = self.score(key, self._queues[key][0].tag) > 0
            if not self._room(suspect):
                return  # the best waiter is a suspect one, and so are all the others
            queue = self._queues.pop(key)
            entry = queue.popleft()
            self.waiting -= 1
            if queue:
                self._queues[key] = queue  # to the back: keys take turns
            if entry.future.done():  # cancelled
                continue
            self._start(suspect)
            entry.future.set_result(suspect)


@dataclass(eq=False)
class _Waiter:
    """One job waiting for a slot (compared by identity)."""

    future: asyncio.Future[bool]
    tag: str | None


@dataclass
class ConnectionGate:
    """Connection counts and failed-login penalties, server-wide."""

    max_connections: int
    max_per_source: int
    max_unauthenticated: int
    throttle: AuthThrottle
    #: Key exchanges at once from sources without a recent login (0: no cap).
    max_handshakes: int = 0
    total: int = 0
    unauthenticated: int = 0
    handshaking: int = 0  # admitted connections whose key exchange is not done yet
    delayed: int = 0  # connections sleeping out a throttle delay
    per_source: dict[str, int] = field(default_factory=dict)
    unauth_per_source: dict[str, int] = field(default_factory=dict)

    def admit(self, source: str) -> str | None:
        """Count a new connection from ``source``; return a refusal reason or None.

        When ``max_unauthenticated`` connections are already logging in, a
        source that has none of them in progress and no failed logins is still
        let in (up to twice the cap): a wave of guesses from a few addresses
        fills the cap, and must not lock everyone else out of logging in. A
        wave from many addresses fills twice the cap too (each of them is
        clean); a source someone logged in from recently, without failing
        since, is still let in up to four times the cap, ``TRUSTED_AT_ONCE`` at a
        time (not one: under a wave a login can take seconds, and the next one
        from the same office or the same user retrying must not be refused).

        Every admitted connection first costs a key exchange (ECDH, a host-key
        signature, the packet machinery around them): under a guessing wave
        from many addresses that, not the bounded password hashing, is what
        starves the server and slows the valid logins. So during a wave (see
        :meth:`AuthThrottle.under_wave`), while ``max_handshakes`` key
        exchanges are in progress, a source nobody has logged in from recently
        is refused here, before its key exchange, for the price of a version
        line and a disconnect; a source with a recent login is not held back
        by this cap. Without a wave the cap does not apply: hundreds of honest
        users reconnecting at once after a restart, each from its own address
        and none of them trusted yet (trust is kept in memory), queue for the
        CPU instead of being turned away.
        """
        if self.total >= self.max_connections:
            return "the server is full; try again later"
        in_progress = self.unauth_per_source.get(source, 0)
        limit = 1 if in_progress > 0 else 2
        if self.throttle.failures(source) > 0:
            limit = 1
        elif in_progress < TRUSTED_AT_ONCE and self.throttle.trusted(source):
            limit = 4
        if self.unauthenticated >= limit * self.max_unauthenticated:
            return BUSY
        if self.per_source.get(source, 0) >= self.max_per_source:
            return "too many connections from your address"
        if self.throttle.blocked_source(source):
            return "too many failed logins from your address; try again later"
        if (
            self.max_handshakes
            and self.handshaking >= self.max_handshakes
            and not self.throttle.trusted(source)
            and self.throttle.under_wave()
        ):
            return BUSY
        self.total += 1
        self.handshaking += 1
        self.unauthenticated += 1
        self.per_source[source] = self.per_source.get(source, 0) + 1
        self.unauth_per_source[source] = self.unauth_per_source.get(source, 0) + 1
        return None

    def handshake_done(self) -> None:
        """A connection counted by :meth:`admit` finished its key exchange (or ended in it)."""
        self.handshaking -= 1

    def refuse_delayed(self, verdict: Verdict) -> bool:
        """Whether an attempt the throttle delays is refused at once instead of waiting.

        Sleeping out a delay holds one of the ``max_unauthenticated`` places of
        connections still logging in for up to ``auth_max_delay`` seconds.
        Guesses spread over many addresses (each with a clean record, on
        accounts that keep failing) are all delayed, and would fill every place
        and lock out every login, the valid ones included. So at most a quarter
        of the places may be sleeping (:meth:`delaying`), and none once the
        places are all taken: beyond that a delayed attempt is refused without
        checking its password. Otherwise the delay is served as usual.
        """
        if verdict.delay <= 0:
            return False
        return (
            self.delayed >= max(1, self.max_unauthenticated // 4)
            or self.unauthenticated >= self.max_unauthenticated
        )

    @contextlib.contextmanager
    def delaying(self) -> Iterator[None]:
        """Count a connection sleeping out a throttle delay while the block runs."""
        self.delayed += 1
        try:
            yield
        finally:
            self.delayed -= 1

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
