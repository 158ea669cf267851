"""Laying text out for a terminal of a given width, never breaking a word or a name.

Used by ``/help`` (wrapped descriptions, commands side by side) and by the
listing of Tab completion candidates (names in columns, like ``ls``). Pure
functions of their input: no terminal, no hub.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

__all__ = ["DEFAULT_WIDTH", "columns", "wrap"]

#: Width used where the session has none (plain line mode) or reports none.
DEFAULT_WIDTH = 80
#: Below this the layout stops shrinking; lines are then longer than the terminal.
MIN_WIDTH = 20


def _usable(width: int | None) -> int:
    if width is None or width <= 0:
        return DEFAULT_WIDTH
    return max(MIN_WIDTH, width)


def wrap(text: str, width: int | None, *, indent: str = "", hang: str | None = None) -> list[str]:
    """``text`` wrapped at word boundaries to ``width`` (80 when None).

    The first line starts with ``indent``, the others with ``hang`` (default:
    the same). A word longer than the line is kept whole, on a line of its own.
    """
    width = _usable(width)
    hang = indent if hang is None else hang
    wrapper = textwrap.TextWrapper(
        width=width,
        initial_indent=indent,
        subsequent_indent=hang,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return wrapper.wrap(text) or [indent.rstrip()]


def columns(
    items: Sequence[str],
    width: int | None,
    *,
    gap: int = 2,
    indent: str = "",
    cell: int | None = None,
) -> list[str]:
    """``items`` in as many columns as fit in ``width``, filled down then across.

    Every column is ``cell`` wide (default: the longest item plus ``gap``), so
    names line up and none is ever split across two lines. Trailing spaces
    are left off.
    """
    if not items:
        return []
    width = _usable(width) - len(indent)
    cell = max(cell or 0, max(len(item) for item in items) + gap)
    count = max(1, (width + gap) // cell)
    rows = -(-len(items) // count)  # ceiling division
    count = -(-len(items) // rows)  # as few columns as that many rows need
    lines = []
    for row in range(rows):
        cells = [items[col * rows + row] for col in range(count) if col * rows + row < len(items)]
        line = "".join(item.ljust(cell) for item in cells[:-1]) + cells[-1]
        lines.append(indent + line)
    return lines
