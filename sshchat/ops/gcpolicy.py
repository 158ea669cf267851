"""Garbage-collection policy for a server holding many long-lived objects.

Each pty session keeps a few hundred prompt_toolkit objects alive, and every
render leaves a little cyclic garbage behind. With hundreds of sessions,
CPython's full collections scan every long-lived object: the benchmark saw a
200-400 ms stop every few seconds at 500 sessions, which set the p99 latency.

The policy: every second, the young generations are collected and
:func:`gc.freeze` moves the objects that have survived so far into the
permanent generation, which full collections skip; young garbage is still
collected as usual. Once in a while (and when the server stops) everything is
unfrozen and collected in one go, so cycles left by closed sessions are not
kept for ever.

Why every second and not every few: a generation-2 collection still scans
every object that survived since the last freeze. Freezing every 5 s, the
500-member fan-out window of the benchmark (500 logins, then 10,000
deliveries/s) saw generation-2 pauses of 70-170 ms (``bench/RESULTS.md``,
branch ``mem``): the sessions set up in the last seconds. A freeze is a
constant-time list splice, and the young collection before it (a few thousand
objects at most, well under a millisecond) keeps the garbage of the last
renders from being frozen with the survivors, where only the rare full
collection would find it.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

__all__ = ["GcPolicy"]


class GcPolicy:
    """Call :meth:`tick` about once a second from the event loop."""

    def __init__(
        self,
        *,
        freeze_every: float = 1.0,
        full_every: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.freeze_every = freeze_every
        self.full_every = full_every
        self._clock = clock
        now = clock()
        self._next_freeze = now + freeze_every
        self._next_full = now + full_every

    def tick(self) -> None:
        now = self._clock()
        if now >= self._next_full:
            self._next_full = now + self.full_every
            gc.unfreeze()
            gc.collect()
            gc.freeze()
        elif now >= self._next_freeze:
            gc.collect(1)  # young garbage is not frozen: only the full collection would find it
            gc.freeze()
        else:
            return
        self._next_freeze = now + self.freeze_every

    def stop(self) -> None:
        """Give the frozen objects back to the collector."""
        gc.unfreeze()
