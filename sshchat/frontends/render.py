"""Turning hub events into the lines a person (or a bot) reads.

This is the only place where ANSI colour is produced. Every user-supplied
string in an event has already been sanitised by the hub, so the only escape
sequences in the output are the ones made here. Plain (no-pty) sessions get the
same lines without any escape sequence, and without wrapping.

It runs once per recipient of every line (500 members x 20 lines/s is 10,000
renders a second), so what can be computed once is cached: the time stamp per
minute, a nick's colour per session, day separators per day, and a line that
fits the terminal (nearly all of them) is never measured character by
character.
"""

from __future__ import annotations

import colorsys
import datetime
import functools
import math
import re
import time
import typing
import unicodedata
import zlib
from collections.abc import Callable, Iterable

from prompt_toolkit.utils import get_cwidth

from sshchat.commands.refusals import notice_text, online_text, plural
from sshchat.core.events import (
    Broadcast,
    ChatMessage,
    Event,
    History,
    Notice,
    NoticeKind,
    OnlineNow,
    OpChanged,
    Presence,
    PresenceKind,
    PresenceSummary,
    PrivateMessage,
    TypedNotice,
)
from sshchat.core.prefs import Prefs

TYPED_NOTICES = typing.get_args(TypedNotice)  # notices worded here, at the edge

__all__ = [
    "PALETTE_16",
    "PALETTE_256",
    "Renderer",
    "cell_width",
    "day_separator",
    "nick_color",
    "palette_for",
]

RESET = "\x1b[0m"
BOLD = "\x1b[1m"
DIM = "\x1b[2m"
RED = "\x1b[31m"
YELLOW = "\x1b[33m"
MAGENTA = "\x1b[35m"
CYAN = "\x1b[36m"

# -- nick colours ----------------------------------------------------------------

# The 16-colour palette without black, white and the greys (invisible on one
# background or the other). What these look like is up to the terminal's theme.
PALETTE_16 = tuple(f"\x1b[{code}m" for code in (31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96))


def _xterm_256_palette() -> tuple[str, ...]:
    """The entries of the xterm 6x6x6 colour cube readable on black and on white.

    Kept: a contrast ratio of at least 3:1 (WCAG) against both, which means a
    relative luminance between 0.10 and 0.30, and clearly coloured (no greys).
    They are ordered so that neighbours differ in hue: when a nick's colour is
    taken, the next entry it moves on to looks different.
    """
    levels = (0, 95, 135, 175, 215, 255)

    def linear(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    found: list[tuple[float, int]] = []
    for r in range(6):
        for g in range(6):
            for b in range(6):
                rgb = (levels[r], levels[g], levels[b])
                lum = 0.2126 * linear(rgb[0]) + 0.7152 * linear(rgb[1]) + 0.0722 * linear(rgb[2])
                if 0.10 <= lum <= 0.30 and max(r, g, b) - min(r, g, b) >= 2:
                    hue = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))[0]
                    found.append((hue, 16 + 36 * r + 6 * g + b))
    found.sort()
    n = len(found)
    stride = next(s for s in range(round(n * 0.382), n) if math.gcd(s, n) == 1)
    return tuple(f"\x1b[38;5;{found[(k * stride) % n][1]}m" for k in range(n))


PALETTE_256 = _xterm_256_palette()


def palette_for(term_type: str, colorterm: str = "") -> tuple[str, ...]:
    """The nick palette for a terminal: 256 colours when it says it has them."""
    if "256color" in term_type or colorterm:
        return PALETTE_256
    return PALETTE_16


def nick_color(login: str, palette: tuple[str, ...] = PALETTE_16) -> str:
    """The first-choice SGR sequence for ``login``: the same in every session and restart.

    A session shows it unless another nick in the same channel already has it
    (see :meth:`Renderer.nick_sgr`).
    """
    return palette[zlib.crc32(login.encode()) % len(palette)]


# -- widths and wrapping ------------------------------------------------------------

_VS16 = "\ufe0f"


def cell_width(text: str) -> int:
    """Terminal columns ``text`` takes, erring on the wide side.

    Per character, as prompt_toolkit and most terminals count (East-Asian wide
    characters and emoji 2, marks and joiners 0). Terminals disagree about
    sequences: some draw a ZWJ family in 2 columns, others as its 3 people in 6;
    some draw a text-style character with VS16 (``❤️``) in 2. Counting the
    larger keeps a wrapped line from being wrapped again by the terminal.
    """
    if text.isascii():
        return len(text)
    total = 0
    previous = 0
    for ch in text:
        if ch == _VS16 and previous == 1:
            total += 1
            previous = 2
            continue
        previous = max(get_cwidth(ch), 0)
        total += previous
    return total


def _joins_previous(ch: str) -> bool:
    """Whether ``ch`` belongs to the glyph before it (never a place to break)."""
    return (
        unicodedata.category(ch)[0] == "M"
        or ch in "\u200c\u200d"
        or "\U0001f3fb" <= ch <= "\U0001f3ff"  # skin tones
        or "\U000e0020" <= ch <= "\U000e007f"  # flag tags
    )


def _glyphs(word: str) -> list[str]:
    """``word`` cut where a line may break inside it: never inside a joined sequence."""
    if word.isascii():
        return list(word)
    out: list[str] = []
    glue = False
    for ch in word:
        if out and (glue or _joins_previous(ch)):
            out[-1] += ch
        else:
            out.append(ch)
        glue = ch == "\u200d"
    return out


# Narrower than this, wrapping does more harm than good: the terminal wraps.
MIN_WRAP_WIDTH = 8

# A line is built from pieces: (text, sgr), sgr "" for uncoloured text.
Piece = tuple[str, str]
_WORDS = re.compile(r"\S+|\s+")


def _tokens(pieces: Iterable[Piece]) -> list[tuple[bool, list[Piece]]]:
    """Split pieces into (is_space, pieces) tokens; a word may span pieces."""
    tokens: list[tuple[bool, list[Piece]]] = []
    for text, sgr in pieces:
        for part in _WORDS.findall(text):
            space = part[0].isspace()
            if tokens and not space and not tokens[-1][0]:
                tokens[-1][1].append((part, sgr))  # a word that goes on in the next piece
            else:
                tokens.append((space, [(part, sgr)]))
    return tokens


def wrap_pieces(pieces: list[Piece], first: int, rest: int) -> list[list[Piece]]:
    """Fill lines of ``first`` then ``rest`` columns with ``pieces``, breaking at spaces.

    A word wider than a line is broken between glyphs. White space where a
    line breaks is dropped.
    """
    lines: list[list[Piece]] = [[]]
    room = first
    used = 0
    pending: list[Piece] = []  # white space waiting for the next word
    pending_w = 0
    for space, parts in _tokens(pieces):
        width = sum(cell_width(text) for text, _ in parts)
        if space:
            if used:
                pending, pending_w = parts, width
            continue
        if used and used + pending_w + width <= room:
            lines[-1].extend(pending)
            used += pending_w
        elif used and width <= rest:
            lines.append([])
            room, used = rest, 0
        elif used and used + pending_w < room:
            lines[-1].extend(pending)  # a long word starts on this line
            used += pending_w
        pending, pending_w = [], 0
        if used + width <= room:
            lines[-1].extend(parts)
            used += width
            continue
        for text, sgr in parts:  # too long for any line: break it between glyphs
            for glyph in _glyphs(text):
                w = cell_width(glyph)
                if used and used + w > room:
                    lines.append([])
                    room, used = rest, 0
                lines[-1].append((glyph, sgr))
                used += w
    for line in lines:  # a long word that went on to the next line left a space behind
        while line and line[-1][0].isspace():
            line.pop()
    return lines


def _rows(pieces: list[Piece]) -> list[list[Piece]]:
    """``pieces`` cut into rows where their text has line breaks (each keeps its colour)."""
    rows: list[list[Piece]] = [[]]
    for text, sgr in pieces:
        parts = text.split("\n")
        for index, part in enumerate(parts):
            if index:
                rows.append([])
            if part:
                rows[-1].append((part, sgr))
    return rows


# -- time --------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _clock(minute: int) -> str:
    """``HH:MM`` (local time) of a minute since the epoch; one strftime per minute."""
    return time.strftime("%H:%M", time.localtime(minute * 60))


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _day(when: float) -> datetime.date:
    tm = time.localtime(when)
    return datetime.date(tm.tm_year, tm.tm_mon, tm.tm_mday)


@functools.lru_cache(maxsize=64)
def day_separator(day: datetime.date) -> str:
    """``-- Monday 30 November 2026 --``: English names, whatever the server's locale."""
    return f"-- {_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year} --"


# -- lines shared between sessions ----------------------------------------------------

# A chat line is rendered once per recipient: 500 members, 500 renders of the
# same event, nearly all alike. What differs between sessions is small and
# known before rendering (channel tag or not, the sender's colour in this
# session, own line or mention, colour and time stamps on or off, width), so
# the lines are kept per event under those parts and the other recipients get
# a copy. The fan-out renders an event in every session within a few loop
# turns, so a few dozen recent events are all that is worth keeping; an entry
# holds its event, so the id it is keyed under cannot be reused meanwhile.
_SHARED_EVENTS = 64
_shared: dict[int, tuple[ChatMessage, dict[tuple[object, ...], list[str]]]] = {}


def _shared_lines(event: ChatMessage) -> dict[tuple[object, ...], list[str]]:
    entry = _shared.get(id(event))
    if entry is not None and entry[0] is event:
        return entry[1]
    if len(_shared) >= _SHARED_EVENTS:
        del _shared[next(iter(_shared))]  # the oldest
    lines: dict[tuple[object, ...], list[str]] = {}
    _shared[id(event)] = (event, lines)
    return lines


_LOWER_KEY: tuple[object, ...] = ("lowercased text",)


def _ascii_lower(event: ChatMessage) -> str | None:
    """``event.text.lower()`` if the text is ASCII, else None; once per event."""
    shared = _shared_lines(event)
    found = shared.get(_LOWER_KEY)
    if found is None:
        text = event.text
        found = shared[_LOWER_KEY] = [text.lower()] if text.isascii() else []
    return found[0] if found else None


class Renderer:
    """Renders events for one session.

    ``color`` says whether the session can show ANSI colour (pty sessions);
    ``prefs`` (the account's, read at each render) can turn colour and time
    stamps off and chooses when to ring the bell. ``own_nick`` returns the
    user's current nick, for highlighting lines that mention it. Plain
    sessions never get an escape sequence or a bell.

    ``palette`` holds the nick colours (see :func:`palette_for`); ``width``,
    when set (a pty's columns), makes long lines wrap at word boundaries with
    the continuation indented under the text. ``clock`` says what "today" is,
    for the day separators of history.
    """

    def __init__(
        self,
        *,
        color: bool,
        own_login: str,
        prefs: Prefs | None = None,
        own_nick: Callable[[], str] | None = None,
        palette: tuple[str, ...] = PALETTE_16,
        width: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tty = color
        self.own_login = own_login
        self.prefs = prefs if prefs is not None else Prefs()
        self._own_nick: Callable[[], str] = own_nick or (lambda: own_login)
        self._bell = False
        # (nick, the mention pattern, the lowercased names for the ASCII pre-check)
        self._mention_cache: tuple[str, re.Pattern[str], tuple[str, ...]] | None = None
        self.width = width
        self.clock = clock
        # login -> its palette index in this session; channel -> {index: login}
        self._colors: dict[str, int] = {}
        self._taken: dict[str, dict[int, str]] = {}
        self.palette = palette
        self._stamp_cache: tuple[int, str] = (-1, "")

    def set_own_nick(self, own_nick: Callable[[], str]) -> None:
        self._own_nick = own_nick

    @property
    def palette(self) -> tuple[str, ...]:
        return self._palette

    @palette.setter
    def palette(self, palette: tuple[str, ...]) -> None:
        """Another palette: the colours are chosen afresh."""
        self._palette = palette
        self._colors.clear()
        self._taken.clear()

    @property
    def color(self) -> bool:
        return self.tty and self.prefs.color

    def take_bell(self) -> bool:
        """Whether something rendered since the last call should ring the bell."""
        bell, self._bell = self._bell, False
        return bell and self.tty

    def render(self, event: Event, current_channel: str) -> list[str]:
        """The lines (without line endings) that show ``event``."""
        if isinstance(event, ChatMessage):
            return self._chat(event, current_channel)
        if isinstance(event, PrivateMessage):
            return self._private(event, current_channel)
        if isinstance(event, Presence):
            return self._presence(event, current_channel)
        if isinstance(event, Broadcast):
            loud = BOLD + YELLOW
            body = [
                ("[broadcast from ", loud),
                *self._nick(event.sender, event.nick, current_channel),
            ]
            body += [("] ", loud), (event.text, loud)]
            self._ring(mention=True)
            return self._line(self._stamp(event.time), body, head_len=len(body) - 1)
        if isinstance(event, Notice):
            return self._notice(event)
        if isinstance(event, History):
            return self._history(event, current_channel)
        if isinstance(event, PresenceSummary):
            return self._summary(event)
        if isinstance(event, OnlineNow):  # presence, shown like a summary
            body = [("--", DIM), (" " + online_text(event), "")]
            return self._line(self._stamp(event.time), body, head_len=1)
        if isinstance(event, OpChanged):  # a channel notice, like joins and topics
            text, _ = notice_text(event)
            return self._line(self._stamp(event.time), [("--", DIM), (" " + text, "")], head_len=1)
        if isinstance(event, TYPED_NOTICES):
            text, kind = notice_text(event)
            return self._notice(Notice(text, kind, event.time))
        return []  # pragma: no cover - every event type is handled above

    # -- colours ----------------------------------------------------------------

    def nick_sgr(self, login: str, channel: str) -> str:
        """The colour of ``login`` in this session.

        Chosen when the nick is first seen: its first choice
        (:func:`nick_color`), or the next palette entry that no other nick seen
        in ``channel`` has. Then it stays the same for the whole session.
        """
        taken = self._taken.get(channel)
        if taken is None:
            taken = self._taken[channel] = {}
        size = len(self.palette)
        index = self._colors.get(login)
        if index is not None:
            # Seen before: claim its colour here too, unless someone has it.
            if len(taken) < size:
                taken.setdefault(index, login)
            return self.palette[index]
        index = zlib.crc32(login.encode()) % size
        if len(taken) < size:
            while index in taken:
                index = (index + 1) % size
            taken[index] = login
        self._colors[login] = index
        return self.palette[index]

    # -- pieces ---------------------------------------------------------------

    def _stamp(self, when: float) -> list[Piece]:
        if not self.prefs.timestamps:
            return []
        minute = int(when) // 60
        cached = self._stamp_cache
        if cached[0] != minute:
            cached = self._stamp_cache = (minute, _clock(minute))
        return [(cached[1], DIM), (" ", "")]

    def _nick(self, login: str, nick: str, channel: str) -> list[Piece]:
        if not self.color:
            return [(nick, "")]
        sgr = self.nick_sgr(login, channel) + (BOLD if login == self.own_login else "")
        return [(nick, sgr)]

    def _tag(self, channel: str | None, current_channel: str) -> list[Piece]:
        if channel is None or channel == current_channel:
            return []
        return [(f"#{channel}", CYAN), (" ", "")]

    def _join(self, pieces: Iterable[Piece]) -> str:
        if not self.color:
            return "".join(text for text, _ in pieces)
        return "".join(f"{sgr}{text}{RESET}" if sgr else text for text, sgr in pieces)

    def _line(self, head: list[Piece], body: list[Piece], *, head_len: int = 0) -> list[str]:
        """One rendered line, or several when it is wider than the terminal.

        ``head`` (stamp, channel tag) and the first ``head_len`` pieces of
        ``body`` (``<nick>``, a label) are the prefix; continuation lines are
        indented to where the text after it starts, or less if that would leave
        too little room. A text of several lines (a paste) starts each of its
        lines on a new row, indented the same way (plain sessions too).
        """
        rest = body[head_len:]
        if any("\n" in text for text, _ in rest):
            return self._lines(head, body[:head_len], _rows(rest))
        return self._wrapped(head, body, head_len)

    def _lines(self, head: list[Piece], label: list[Piece], rows: list[list[Piece]]) -> list[str]:
        """A message of several lines: the first after the prefix, the others under it."""
        out = self._wrapped(head, label + rows[0], len(label))
        prefix = head + label
        indent = sum(cell_width(text) for text, _ in prefix)
        width = self.width
        wraps = width is not None and width >= MIN_WRAP_WIDTH
        if width is not None and wraps and indent > width // 2:
            indent = min(indent, max(2, width // 4))
        pad = " " * indent
        for row in rows[1:]:
            if not any(text for text, _ in row):
                out.append("")
            elif width is None or not wraps:
                out.append(pad + self._join(row))
            else:
                room = width - indent
                out.extend(pad + self._join(line) for line in wrap_pieces(row, room, room))
        return out

    def _wrapped(self, head: list[Piece], body: list[Piece], head_len: int) -> list[str]:
        pieces = head + body
        width = self.width
        if width is None or width < MIN_WRAP_WIDTH:
            return [self._join(pieces)]
        if cell_width("".join([text for text, _ in pieces])) <= width:
            return [self._join(pieces)]
        prefix = head + body[:head_len]
        rest = body[head_len:]
        if rest and rest[0][0][:1].isspace():
            # White space the text starts with (``("--", DIM), (" text", "")``)
            # belongs to the prefix: wrapping would drop it as a line break.
            text, sgr = rest[0]
            words = text.lstrip()
            prefix = [*prefix, (text[: len(text) - len(words)], "")]
            rest = [(words, sgr), *rest[1:]] if words else rest[1:]
        indent = sum(cell_width(text) for text, _ in prefix)
        if indent > width // 2:  # a long nick or a narrow terminal
            indent = min(indent, max(2, width // 4))
            lines = wrap_pieces(prefix + rest, width, width - indent)
            out = [self._join(lines[0])]
        else:
            lines = wrap_pieces(rest, width - indent, width - indent)
            out = [self._join(prefix + lines[0])]
        pad = " " * indent
        out.extend(pad + self._join(line) for line in lines[1:])
        return out

    def _ring(self, *, mention: bool) -> None:
        bell = self.prefs.bell
        if bell == "on" or (bell == "mentions" and mention):
            self._bell = True

    def _mentions_me(self, text: str, lowered: str | None = None) -> bool:
        """Whether ``text`` names this user (nick or login) as a word, in any case.

        ``lowered``: ``text.lower()`` when ``text`` is ASCII, shared by every
        recipient of one line: a name that is not even a substring of it cannot
        match, and most lines mention nobody, so the regex runs rarely. (Names
        are ASCII; the pattern's IGNORECASE also matches a few non-ASCII
        lookalikes such as the Kelvin sign, so non-ASCII text always gets the
        regex.)
        """
        nick = self._own_nick()
        cached = self._mention_cache
        if cached is None or cached[0] != nick:
            names = {re.escape(nick), re.escape(self.own_login)}
            pattern = re.compile(rf"(?<![\w-])(?:{'|'.join(names)})(?![\w-])", re.IGNORECASE)
            lowers = tuple({nick.lower(), self.own_login.lower()})
            cached = self._mention_cache = (nick, pattern, lowers)
        if lowered is not None:
            for name in cached[2]:
                if name in lowered:
                    break
            else:
                return False
        return cached[1].search(text) is not None

    def _chat(self, event: ChatMessage, current_channel: str, *, replay: bool = False) -> list[str]:
        own = event.sender == self.own_login
        sgr = ""
        if not own and self._mentions_me(event.text, _ascii_lower(event)):
            sgr = BOLD + YELLOW
            if not replay:
                self._ring(mention=True)
        elif not own and not replay:
            self._ring(mention=False)
        color = self.color
        nick_sgr = ""
        if color:
            nick_sgr = self.nick_sgr(event.sender, event.channel) + (BOLD if own else "")
        tagged = event.channel is not None and event.channel != current_channel
        # Everything the lines depend on besides the event (see _shared_lines).
        key = (tagged, nick_sgr, sgr, color, self.prefs.timestamps, self.width)
        shared = _shared_lines(event)
        lines = shared.get(key)
        if lines is None:
            head = self._stamp(event.time) + self._tag(event.channel, current_channel)
            nick = [(event.nick, nick_sgr)]
            if event.action:
                body = [("* ", ""), *nick, (" ", ""), (event.text, sgr)]
            else:
                body = [("<", ""), *nick, ("> ", ""), (event.text, sgr)]
            lines = shared[key] = self._line(head, body, head_len=len(body) - 1)
        return list(lines)

    def _private(
        self, event: PrivateMessage, current_channel: str, *, replay: bool = False
    ) -> list[str]:
        # The whole line is magenta (only the nick keeps its own colour), so a
        # private message stands out from channel talk, wrapped lines included.
        if event.sender == self.own_login and event.recipient != self.own_login:
            label = "[PM to "
            nick = self._nick(event.recipient, event.recipient_nick, current_channel)
        else:
            label = "[PM from "
            nick = self._nick(event.sender, event.sender_nick, current_channel)
            if not replay:
                self._ring(mention=True)
        body = [(label, MAGENTA), *nick, ("] ", MAGENTA), (event.text, MAGENTA)]
        return self._line(self._stamp(event.time), body, head_len=len(body) - 1)

    def _presence(self, event: Presence, current_channel: str) -> list[str]:
        channel = event.channel or current_channel
        nick = self._nick(event.login, event.nick, channel)
        kind = event.kind
        where = f"#{event.channel}" if event.channel else ""
        mine = event.login == self.own_login
        text: list[Piece]
        if kind is PresenceKind.JOIN:
            text = [*nick, (f" joined {where}", "")]
        elif kind is PresenceKind.LEAVE:
            text = [*nick, (f" left {where}", "")]
        elif kind is PresenceKind.CONNECT:
            text = [*nick, (" connected", "")]
        elif kind is PresenceKind.DISCONNECT:
            text = [*nick, (" disconnected", "")]
        elif kind is PresenceKind.TOPIC:
            if event.detail:
                text = [*nick, (f" set the topic of {where}: {event.detail}", "")]
            else:
                text = [*nick, (f" cleared the topic of {where}", "")]
        elif kind is PresenceKind.KICK:
            who = [("you were", "")] if mine else [*nick, (" was", "")]
            reason = f": {event.detail}" if event.detail else ""
            text = [*who, (f" kicked from {where} by {event.by}{reason}", "")]
        else:
            new = self._nick(event.login, event.detail, channel)
            who = [("you are", "")] if mine else [*nick, (" is", "")]
            text = [*who, (" now known as ", ""), *new]
        return self._line(self._stamp(event.time), [("--", DIM), (" ", ""), *text], head_len=2)

    def _summary(self, event: PresenceSummary) -> list[str]:
        verb = {
            PresenceKind.JOIN: f"joined #{event.channel}",
            PresenceKind.LEAVE: f"left #{event.channel}",
            PresenceKind.CONNECT: "connected",
            PresenceKind.DISCONNECT: "disconnected",
        }.get(event.kind, event.kind.value)
        names = ", ".join(event.nicks)
        more = event.count - len(event.nicks)
        if more > 0:
            names += f" and {more} more"
        body = [("--", DIM), (f" {event.count} {verb}: {names}", "")]
        return self._line(self._stamp(event.time), body, head_len=1)

    def _history(self, event: History, current_channel: str) -> list[str]:
        if not event.messages:
            where = f"#{event.channel}" if event.channel else "your private messages"
            return [self._join([(f"--- no earlier lines in {where} ---", DIM)])]
        if event.channel is None:
            head = f"--- {plural(len(event.messages), 'private message')} while you were away ---"
        else:
            count = len(event.messages)
            last = "line" if count == 1 else f"{count} lines"
            head = f"--- history: the last {last} of #{event.channel} ---"
        lines = [self._join([(head, DIM)])]
        # Lines from an earlier day are preceded by the day they were said;
        # today's lines by "today" only if an earlier day came before them.
        today = _day(self.clock())
        shown: datetime.date | None = None
        for message in event.messages:
            day = _day(message.time)
            if day != shown and (day != today or shown is not None):
                label = "-- today --" if day == today else day_separator(day)
                lines.append(self._join([(label, DIM)]))
            shown = day
            if isinstance(message, ChatMessage):
                lines.extend(self._chat(message, current_channel, replay=True))
            else:
                lines.extend(
                    self._private(message, current_channel, replay=event.channel is not None)
                )
        lines.append(self._join([("--- end of history ---", DIM)]))
        return lines

    def _notice(self, event: Notice) -> list[str]:
        if event.kind is NoticeKind.ERROR:
            texts = event.text.split("\n")
            texts[0] = "error: " + texts[0]
            return [out for text in texts for out in self._notice_line(text, RED)]
        return [out for text in event.text.split("\n") for out in self._notice_line(text, "")]

    def _notice_line(self, text: str, sgr: str) -> list[str]:
        # Continuations go under the line's own indentation (help tables).
        indent = len(text) - len(text.lstrip(" "))
        return self._line([(text[:indent], "")] if indent else [], [(text[indent:], sgr)])
