"""Failed-login penalties per source address, per (source, account) and per account.

In the spirit of OpenSSH's ``PerSourcePenalties``: after a few free failures
every further failure adds a growing delay before the next attempt is even
looked at, and many failures in a row block for a while.

Who gets blocked matters. A block keyed on the account alone would let anyone,
from anywhere, lock its owner out by failing on purpose; so blocks are only
ever keyed on where the failures came from:

* **source address**: every failure from it, whatever the account (a guesser
  trying many names). Blocked after ``block_after`` failures in a row; a
  success from the address clears it.
* **(source address, account)**: failures on one account from one address.
  Blocked after ``block_after`` too; it survives a success of *another*
  account from the same address (a colleague behind the same NAT), so a
  guesser cannot reset its record by logging in as itself.
* **account**: failures on it from every address (guessing spread over many
  addresses). This only ever *delays* attempts on the account, by at most
  ``max_delay`` seconds, and never blocks: its owner, coming from an address
  with a clean record, still gets in.

Records expire when they have been quiet for ``forget_after`` seconds, so the
tables cannot grow without bound (and are also capped in size).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

__all__ = ["AuthThrottle", "Verdict"]


@dataclass
class _Record:
    failures: int = 0
    last: float = 0.0
    blocked_until: float = 0.0


@dataclass(frozen=True)
class Verdict:
    """What to do with an authentication attempt."""

    delay: float = 0.0  # seconds to wait before checking the credentials
    blocked: bool = False  # refuse without checking
    reason: str = ""


class AuthThrottle:
    """Remembers failed logins and says how long the next attempt must wait."""

    def __init__(
        self,
        *,
        free_failures: int = 3,
        max_delay: float = 10.0,
        block_after: int = 20,
        block_seconds: float = 600.0,
        forget_after: float = 3600.0,
        max_records: int = 100_000,
        wave_failures: int = 20,
        wave_window: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_failures = free_failures
        self.max_delay = max_delay
        self.block_after = block_after
        self.block_seconds = block_seconds
        self.forget_after = forget_after
        self.max_records = max_records
        self._clock = clock
        self._sources: OrderedDict[Hashable, _Record] = OrderedDict()
        self._pairs: OrderedDict[Hashable, _Record] = OrderedDict()
        self._accounts: OrderedDict[Hashable, _Record] = OrderedDict()
        self._trusted: OrderedDict[str, float] = OrderedDict()  # source -> last success
        self.wave_window = wave_window
        # When the last ``wave_failures`` failed or unchecked attempts happened,
        # server-wide: the oldest of them tells whether a wave is on.
        self._recent: deque[float] = deque(maxlen=max(1, wave_failures))

    # -- queries ------------------------------------------------------------

    def check(self, source: str, account: str | None = None) -> Verdict:
        """The verdict for an attempt from ``source`` (on ``account``, for passwords).

        Blocked only by the source's own record or by the (source, account)
        record; the account's record across all sources adds a delay at most.
        """
        now = self._clock()
        worst = Verdict()
        for kind, table, key, can_block in self._keys(source, account):
            record = self._get(table, key, now)
            if record is None:
                continue
            if can_block and record.blocked_until > now:
                remaining = int(record.blocked_until - now) + 1
                return Verdict(
                    blocked=True, reason=f"{kind} blocked for {remaining}s after failed logins"
                )
            delay = self._delay(record.failures)
            if delay > worst.delay:
                worst = Verdict(delay=delay, reason=f"{record.failures} failures: {kind}")
        return worst

    def blocked_source(self, source: str) -> bool:
        record = self._get(self._sources, source, self._clock())
        return record is not None and record.blocked_until > self._clock()

    def failures(self, source: str) -> int:
        record = self._get(self._sources, source, self._clock())
        return record.failures if record else 0

    def trusted(self, source: str) -> bool:
        """Whether someone logged in from ``source`` within ``forget_after`` seconds and it
        has not failed since (a failure forgets it)."""
        last = self._trusted.get(source)
        return last is not None and self._clock() - last <= self.forget_after

    def under_wave(self) -> bool:
        """Whether logins are failing in a wave: ``wave_failures`` failed or unchecked
        attempts, from any addresses, within the last ``wave_window`` seconds.

        Measures that cost everyone something (refusing strangers before their
        key exchange) apply only then: a crowd of honest users reconnecting
        after a restart fails almost never and must not be turned away.
        """
        recent = self._recent
        return len(recent) == recent.maxlen and self._clock() - recent[0] <= self.wave_window

    def account_failures(self, account: str) -> int:
        """Recent failures on ``account`` from every address (since its last success)."""
        record = self._get(self._accounts, account, self._clock())
        return record.failures if record else 0

    # -- updates ------------------------------------------------------------

    def failed(self, source: str, account: str | None = None) -> None:
        """Record a failed attempt."""
        self._trusted.pop(source, None)
        self._recent.append(self._clock())
        for _, table, key, can_block in self._keys(source, account):
            self._fail(table, key, can_block)

    def unchecked(self, source: str, account: str) -> None:
        """Record an attempt refused without checking its password (no room, or delayed
        while the server is crowded).

        It counts against the source and against the account from all addresses:
        what a guessing wave spread over many addresses has in common is the
        accounts it tries, and its attempts pile up faster than their hashes can
        be checked, so the account's record must grow with them to rank the wave
        behind everyone else. It does not count against the (source, account)
        pair, which can block: no password was found wrong.
        """
        self._recent.append(self._clock())
        for _, table, key, can_block in self._keys(source, account):
            if table is not self._pairs:
                self._fail(table, key, can_block)

    def _fail(self, table: OrderedDict[Hashable, _Record], key: Hashable, can_block: bool) -> None:
        now = self._clock()
        record = self._get(table, key, now) or _Record()
        record.failures += 1
        record.last = now
        if can_block and record.failures >= self.block_after:
            record.blocked_until = now + self.block_seconds
            record.failures = 0
        table[key] = record
        table.move_to_end(key)
        while len(table) > self.max_records:
            table.popitem(last=False)

    def trust(self, source: str) -> None:
        """Someone logged in from ``source`` by other means than a password (a key).

        Only :meth:`trusted` changes: failure records stay as they are, so a
        key login does not lift penalties earned by password guesses.
        """
        self._trusted[source] = self._clock()
        self._trusted.move_to_end(source)
        while len(self._trusted) > self.max_records:
            self._trusted.popitem(last=False)

    def succeeded(self, source: str, account: str | None = None) -> None:
        """A successful login clears the source's record and the account's delay.

        The (source, account) record of *this* account is cleared too, unless
        it is blocked: a success can only come after the block ended, so that
        cannot happen with a password; it can with a key, which must not lift
        a block on password guessing.
        """
        self._sources.pop(source, None)
        self.trust(source)
        if account is None:
            return
        self._accounts.pop(account, None)
        pair = self._pairs.get((source, account))
        if pair is not None and pair.blocked_until <= self._clock():
            self._pairs.pop((source, account), None)

    # -- internals ------------------------------------------------------------

    def _keys(
        self, source: str, account: str | None
    ) -> list[tuple[str, OrderedDict[Hashable, _Record], Hashable, bool]]:
        """(description, table, key, may block) of each record an attempt touches."""
        keys: list[tuple[str, OrderedDict[Hashable, _Record], Hashable, bool]] = [
            ("source address", self._sources, source, True)
        ]
        if account is not None:
            keys.append(("account from this address", self._pairs, (source, account), True))
            keys.append(("account from all addresses", self._accounts, account, False))
        return keys

    def _delay(self, failures: int) -> float:
        extra = failures - self.free_failures
        if extra <= 0:
            return 0.0
        return min(self.max_delay, 0.5 * 2 ** (extra - 1))

    def _get(
        self, table: OrderedDict[Hashable, _Record], key: Hashable, now: float
    ) -> _Record | None:
        record = table.get(key)
        if record is None:
            return None
        if record.blocked_until <= now and now - record.last > self.forget_after:
            del table[key]
            return None
        return record
