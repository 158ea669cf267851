"""Token buckets: a burst allowance that refills at a steady rate."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum

__all__ = ["Budget", "TokenBucket"]


class Budget(Enum):
    """Which of an account's two rate limits a line is counted against.

    ``MESSAGES``: what others see (chat lines, ``/me``, ``/msg``, ``/nick``...),
    the flood protection. ``COMMANDS``: commands that only answer the one who
    typed them (``/who``, ``/help``...), with a limit of their own so that
    looking things up never uses up the right to talk.
    """

    MESSAGES = "messages"
    COMMANDS = "commands"


class TokenBucket:
    """Allows ``burst`` events at once, then ``rate`` events per second.

    ``clock`` is injectable for tests; it defaults to :func:`time.monotonic`.
    """

    __slots__ = ("_clock", "_stamp", "burst", "rate", "tokens")

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self._clock = clock
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._stamp
        self._stamp = now
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)

    def take(self, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens if there are enough; return whether it was allowed."""
        self._refill()
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False

    def spend(self, cost: float) -> bool:
        """Spend ``cost`` tokens whenever one is left, going into debt if needed.

        For one input that counts as several lines (a multi-line paste): it is
        let through like any line would be, and the lines after it wait until
        the debt is paid off. ``cost`` is capped at the burst, so that a paste
        never costs more than the whole allowance.
        """
        self._refill()
        if self.tokens < min(1.0, cost):
            return False
        self.tokens -= min(cost, self.burst)
        return True

    def charge(self, cost: float) -> None:
        """Count ``cost`` spent elsewhere (another node), going into debt down to ``-burst``.

        A user's lines through another cluster node use up the same allowance:
        whatever this node lets through next waits until the debt is paid off.
        """
        self._refill()
        self.tokens = max(-self.burst, self.tokens - min(cost, self.burst))

    def wait_time(self, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens will be available (0 if they are now)."""
        self._refill()
        missing = cost - self.tokens
        if missing <= 0:
            return 0.0
        return missing / self.rate if self.rate > 0 else float("inf")
