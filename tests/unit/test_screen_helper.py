"""The terminal emulator the pty tests read the screen with (tests/helpers/screen.py)."""

from __future__ import annotations

from helpers.client import plain
from helpers.screen import TerminalScreen

# What the server really sent when the prompt changed from #lobby to #dev and a
# notice was printed first (captured from a session): a partial repaint.
FIRST_PROMPT = "\x1b[0;36m#lobby\x1b[0m \x1b[0;1malice\x1b[0m>"
REPAINT = "\x1b[?25l\x1b[?7l\x1b[13D\x1b[0;36m#dev\x1b[0m \x1b[0;1malice\x1b[0m>\x1b[0m\x1b[K"
PARTIAL = "\x1b[?25l\x1b[?7l\x1b[12D\x1b[0;36mdev\x1b[0m \x1b[0;1malice\x1b[0m>\x1b[0m\x1b[K"


def test_partial_repaint_shows_the_new_prompt_on_screen_but_not_in_the_stream() -> None:
    output = FIRST_PROMPT + "\x1b[13D\x1b[J-- alice joined #dev\r\n" + FIRST_PROMPT + PARTIAL
    screen = TerminalScreen(100, 30)
    assert "#dev alice>" not in plain(output)
    assert screen.text(output) == "-- alice joined #dev\n#dev alice>"
    assert screen.cursor_line(output) == "#dev alice>"
    output += "\x1b[?7h\x1b[?25h" + REPAINT
    assert screen.text(output) == "-- alice joined #dev\n#dev alice>"


def test_resize_applies_after_the_output_drawn_for_the_old_size() -> None:
    screen = TerminalScreen(20, 5)
    output = "x" * 25  # wraps at 20 columns
    screen.resize_at(len(output), 40, 5)
    output += "\r\n" + "y" * 25
    assert screen.text(output).splitlines() == ["x" * 20, "x" * 5, "y" * 25]
    assert screen.size == (40, 5)


def test_no_emulation_for_sizes_no_terminal_has() -> None:
    assert TerminalScreen.for_size(4294967295, 4294967295) is None
    assert TerminalScreen.for_size(0, 0) is None
    assert TerminalScreen.for_size(100, 30) is not None
