"""What a terminal really shows, from the bytes a session was sent.

prompt_toolkit repaints only the part of the screen that changed: when the
prompt goes from ``#lobby alice>`` to ``#dev alice>`` the stream carries
``#lobby alice>``, a cursor move and ``dev alice>``, so a regex over the
stream never sees ``#dev alice>``, or sees it only when some printed line made
the editor redraw the whole prompt (a race: that is how such tests flake).
A VT100 emulator (pyte) applied to the same bytes gives the screen a person
would read, whatever mix of full and partial repaints produced it.
"""

from __future__ import annotations

import pyte


class TerminalScreen:
    """A VT100 screen fed lazily from a growing output string.

    Emulating costs CPU (pure Python), so nothing is parsed until a test asks
    for the screen; flood tests that never look at it pay nothing. Resizes are
    remembered at their position in the output, so that bytes drawn for the old
    size are applied before the screen changes size, as on a real terminal.
    """

    MAX_SIDE = 1000  # pyte allocates per column (tab stops): no emulation of absurd sizes

    @classmethod
    def emulable(cls, columns: int, lines: int) -> bool:
        return 0 < columns <= cls.MAX_SIDE and 0 < lines <= cls.MAX_SIDE

    @classmethod
    def for_size(cls, columns: int, lines: int) -> TerminalScreen | None:
        """A screen of that size, or None for sizes no terminal has (abuse tests send them)."""
        return cls(columns, lines) if cls.emulable(columns, lines) else None

    def __init__(self, columns: int, lines: int) -> None:
        self._screen = pyte.Screen(columns, lines)
        self._stream = pyte.Stream(self._screen)
        self._fed = 0
        self._resizes: list[tuple[int, int, int]] = []  # (output offset, columns, lines)

    @property
    def size(self) -> tuple[int, int]:
        return self._screen.columns, self._screen.lines

    def resize_at(self, offset: int, columns: int, lines: int) -> None:
        """The terminal becomes ``columns`` x ``lines`` once ``offset`` characters are shown."""
        self._resizes.append((offset, columns, lines))

    def catch_up(self, output: str) -> None:
        """Apply what was added to ``output`` since the last call."""
        while self._resizes and self._resizes[0][0] <= len(output):
            offset, columns, lines = self._resizes.pop(0)
            self._feed(output, offset)
            self._screen.resize(lines=lines, columns=columns)
        self._feed(output, len(output))

    def _feed(self, output: str, end: int) -> None:
        if end > self._fed:
            self._stream.feed(output[self._fed : end])
            self._fed = end

    def text(self, output: str) -> str:
        """The screen as lines (trailing blanks removed), after applying ``output``."""
        self.catch_up(output)
        return "\n".join(line.rstrip() for line in self._screen.display).rstrip("\n")

    def cursor_line(self, output: str) -> str:
        """The line the cursor is on: where the prompt and the typed text are."""
        self.catch_up(output)
        return self._screen.display[self._screen.cursor.y].rstrip()
