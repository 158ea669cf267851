"""Stand-ins for the clock and the terminal that code under test takes as arguments."""

from __future__ import annotations

import io


class Clock:
    """An injectable clock: tests move ``now`` by hand, nothing sleeps."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeStdin(io.StringIO):
    """A stdin whose isatty() answer we choose."""

    def __init__(self, text: str = "", tty: bool = False) -> None:
        super().__init__(text)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty
