"""Garbage-collection policy for a server holding many long-lived objects.

Each pty session keeps a few hundred prompt_toolkit objects alive, and every
render leaves a little cyclic garbage behind. With hundreds of sessions,
CPython's full collections scan every long-lived object: the benchmark saw a
200-400 ms stop every few seconds at 500 sessions, which set the p99 latency.

The policy: every few seconds, :func:`gc.freeze` moves the objects that have
survived so far into the permanent generation, which full collections skip;
young garbage is still collected as usual. Once in a while (and when the
server stops) everything is unfrozen and collected in one go, so cycles left
by closed sessions are not kept for ever.
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
        freeze_every: float = 5.0,
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
            gc.freeze()
        else:
            return
        self._next_freeze = now + self.freeze_every

    def stop(self) -> None:
        """Give the frozen objects back to the collector."""
        gc.unfreeze()
