"""What a command's arguments are: one declaration drives parsing, usage, /help and Tab.

A command lists its arguments as :class:`Arg` values made by the helpers below
(:func:`user`, :func:`channel`, :func:`duration`, :func:`choice`,
:func:`integer`, :func:`word`, :func:`text`, :func:`command_name`). From that
one list come

* parsing (:func:`parse`): words are checked and converted (``10m`` becomes
  600.0 seconds, ``ON`` becomes ``on``) before a handler runs, so handlers
  never re-check a count or a format;
* the usage line (``/ban USER [DURATION] [REASON]``) and the notes of
  ``/help COMMAND`` (what a duration looks like, which words a choice takes);
* Tab completion (:func:`expected`): what the word at the cursor may be.

An optional argument that does not fit the word in front of it is skipped
when a later argument can take that word (``/ban bob spam`` has no duration;
``spam`` is the reason); otherwise the word is refused with what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "Arg",
    "ArgError",
    "Kind",
    "channel",
    "choice",
    "command_name",
    "duration",
    "expected",
    "integer",
    "on_off",
    "parse",
    "parse_duration",
    "text",
    "user",
    "word",
]


class Kind(Enum):
    """What sort of value an argument takes; completion offers candidates by kind."""

    USER = "user"  # a nick or login name
    CHANNEL = "channel"  # an existing channel, with or without '#'
    DURATION = "duration"  # 30s 10m 2h 1d 1w
    CHOICE = "choice"  # one of fixed words
    INTEGER = "integer"
    WORD = "word"  # any single word (a new nick, a new channel name)
    TEXT = "text"  # the rest of the line, spaces kept
    COMMAND = "command"  # a command name, with or without '/'


@dataclass(frozen=True)
class Arg:
    """One declared argument.

    ``key`` is the name the parsed value is passed to the handler under;
    ``metavar`` is how the usage line spells it. ``synonyms`` map extra words a
    choice accepts onto its canonical words (``yes`` is ``on``).
    """

    key: str
    metavar: str
    kind: Kind
    optional: bool = False
    choices: tuple[str, ...] = ()
    synonyms: Mapping[str, str] = field(default_factory=dict)
    minimum: int | None = None
    note: str = ""

    @property
    def usage(self) -> str:
        return f"[{self.metavar}]" if self.optional else self.metavar

    def convert(self, token: str) -> object:
        """The value of ``token`` for this argument; raises :class:`ArgError` if it does not fit."""
        if self.kind is Kind.DURATION:
            seconds = parse_duration(token)
            if seconds is None:
                raise ArgError(
                    self, f"{_shown(token)} is not a {self.metavar}: use 30s, 10m, 2h, 1d or 1w"
                )
            return seconds
        if self.kind is Kind.CHOICE:
            folded = token.lower()
            folded = self.synonyms.get(folded, folded)
            if folded not in self.choices:
                words = ", ".join(self.choices[:-1]) + " or " + self.choices[-1]
                raise ArgError(self, f"expected {words}, not {_shown(token)}")
            return folded
        if self.kind is Kind.INTEGER:
            lowest = self.minimum if self.minimum is not None else 0
            if not token.isdecimal() or not token.isascii() or int(token) < lowest:
                raise ArgError(
                    self, f"{self.metavar} is a whole number from {lowest} up, not {_shown(token)}"
                )
            return int(token)
        if self.kind is Kind.COMMAND:
            return token[1:] if token.startswith("/") else token
        return token

    def fits(self, token: str) -> bool:
        try:
            self.convert(token)
        except ArgError:
            return False
        return True


def _shown(token: str, limit: int = 30) -> str:
    """A word quoted for a message, shortened: the whole of a long paste helps nobody."""
    return repr(token if len(token) <= limit else token[: limit - 3] + "...")


class ArgError(ValueError):
    """A line does not match a command's arguments; ``str()`` says how."""

    def __init__(self, arg: Arg | None, problem: str) -> None:
        super().__init__(problem)
        self.arg = arg


# -- the declarations ------------------------------------------------------------


def _key(metavar: str) -> str:
    return metavar.lower().replace("-", "_")


def user(metavar: str = "NICK", *, optional: bool = False, key: str | None = None) -> Arg:
    """A user, by nick or login name (the hub resolves it and says if there is none)."""
    return Arg(key or _key(metavar), metavar, Kind.USER, optional, note="")


def channel(metavar: str = "NAME", *, optional: bool = False, key: str | None = None) -> Arg:
    """An existing channel, ``dev`` or ``#dev``."""
    return Arg(key or _key(metavar), metavar, Kind.CHANNEL, optional)


def duration(metavar: str = "DURATION", *, optional: bool = True, key: str | None = None) -> Arg:
    """A length of time: ``30s``, ``10m``, ``2h``, ``1d``, ``1w``; passed on in seconds."""
    note = f"{metavar}: 30s, 10m, 2h, 1d or 1w" + ("; none means for good" if optional else "")
    return Arg(key or _key(metavar), metavar, Kind.DURATION, optional, note=note)


def choice(
    *words: str,
    optional: bool = False,
    key: str = "choice",
    metavar: str | None = None,
    synonyms: Mapping[str, str] | None = None,
) -> Arg:
    """One of fixed ``words`` (case-insensitive); the handler gets the word in lower case."""
    return Arg(
        key,
        metavar or "|".join(words),
        Kind.CHOICE,
        optional,
        choices=tuple(words),
        synonyms=dict(synonyms or {}),
    )


_ON_OFF_SYNONYMS = {"yes": "on", "true": "on", "no": "off", "false": "off"}


def on_off(*, optional: bool = True, key: str = "setting") -> Arg:
    """``on`` or ``off`` (``yes``/``no``, ``true``/``false`` are taken too)."""
    return choice("on", "off", optional=optional, key=key, synonyms=_ON_OFF_SYNONYMS)


def integer(
    metavar: str = "N",
    *,
    minimum: int | None = None,
    optional: bool = False,
    key: str | None = None,
) -> Arg:
    """A whole number, at least ``minimum`` (0 when not given)."""
    return Arg(key or _key(metavar), metavar, Kind.INTEGER, optional, minimum=minimum)


def word(metavar: str, *, optional: bool = False, key: str | None = None, note: str = "") -> Arg:
    """Any one word (a new name, say); checked by the hub, not here."""
    return Arg(key or _key(metavar), metavar, Kind.WORD, optional, note=note)


def text(metavar: str = "TEXT", *, optional: bool = False, key: str | None = None) -> Arg:
    """The rest of the line, inner spaces kept; must be the last argument."""
    return Arg(key or _key(metavar), metavar, Kind.TEXT, optional)


def command_name(metavar: str = "COMMAND", *, optional: bool = True) -> Arg:
    """The name of a command, with or without its ``/``."""
    return Arg(_key(metavar), metavar, Kind.COMMAND, optional)


# -- parsing ------------------------------------------------------------------------

_DURATION = re.compile(r"^(\d{1,6})([smhdw])$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_FIRST_WORD = re.compile(r"\s*(\S+)(.*)", re.DOTALL)


def parse_duration(token: str) -> float | None:
    """``30s``, ``10m``, ``2h``, ``1d``, ``1w`` in seconds; None if not a duration."""
    match = _DURATION.match(token)
    if not match:
        return None
    return float(int(match.group(1)) * _UNITS[match.group(2).lower()])


def check(args: Sequence[Arg]) -> None:
    """Refuse declarations that cannot be parsed unambiguously (a programming error)."""
    keys = [arg.key for arg in args]
    if len(set(keys)) != len(keys):
        raise ValueError(f"argument keys repeat: {keys}")
    for arg in args[:-1]:
        if arg.kind is Kind.TEXT:
            raise ValueError(f"{arg.metavar}: only the last argument may take the rest of the line")


def parse(args: Sequence[Arg], argtext: str) -> dict[str, object]:
    """The values of ``args`` in ``argtext`` by key (None for an absent optional one).

    Raises :class:`ArgError` when a required argument is missing, a word does
    not fit, or words are left over; words are split on any white space.
    """
    values: dict[str, object] = {}
    rest = argtext
    for index, arg in enumerate(args):
        if arg.kind is Kind.TEXT:
            body = rest.strip()
            if not body and not arg.optional:
                raise ArgError(arg, f"{arg.metavar} is missing")
            values[arg.key] = rest.lstrip() if body else None
            rest = ""
            continue
        match = _FIRST_WORD.match(rest)
        if match is None:
            if not arg.optional:
                raise ArgError(arg, f"{arg.metavar} is missing")
            values[arg.key] = None
            continue
        token, after = match.groups()
        try:
            values[arg.key] = arg.convert(token)
        except ArgError:
            if arg.optional and index + 1 < len(args):
                values[arg.key] = None  # the word is for a later argument
                continue
            raise
        rest = after
    if rest.strip():
        raise ArgError(None, f"{_shown(rest.strip())} is more than it takes")
    return values


def expected(args: Sequence[Arg], before: Sequence[str]) -> list[Arg]:
    """What the next word may be, after the complete words ``before`` (for Tab).

    Follows :func:`parse`: an optional argument whose word did not fit is
    skipped. Several arguments may be possible (an optional duration or the
    reason after it); none when the words already went wrong or are too many.
    """
    index = 0
    for token in before:
        while True:
            if index >= len(args):
                return []
            arg = args[index]
            if arg.kind is Kind.TEXT:
                return [arg]
            if arg.fits(token):
                index += 1
                break
            if arg.optional and index + 1 < len(args):
                index += 1
                continue
            return []
    possible: list[Arg] = []
    for arg in args[index:]:
        possible.append(arg)
        if not arg.optional:
            break
    return possible
