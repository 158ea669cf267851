"""Cleaning of user-supplied text before anyone else sees it.

Everything a user types (messages, nicks, channel names, reasons, topics) passes
through :func:`sanitize` on its way into the hub. The result never contains a
terminal escape sequence, a C0/C1 control character or a bidirectional override,
so it is safe to print on any terminal.

Invisible characters are removed too, except where Unicode needs them to draw
what the person typed: a zero-width joiner or non-joiner between two visible
characters (emoji sequences such as the family or the rainbow flag, Persian,
Hindi), one variation selector right after a visible character (the emoji form
of a heart) and the tag letters of a subdivision flag. Anywhere else (a run of
them, at either end, next to a space) they are dropped, so that they cannot
carry hidden text. Names need no more: nicks and channel names must be ASCII
(:mod:`sshchat.core.names`), so a joiner in one is refused with the name rule.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["confusable_key", "sanitize", "sanitize_lines", "strip_channel_prefix"]

# Terminal escape sequences, 7-bit and 8-bit forms. Removed whole so that their
# parameters do not leak into the text as garbage.
_ESCAPES = re.compile(
    r"""
      \x1b\[[0-?]*[\x20-/]*[@-~]?          # CSI ... final byte (7-bit)
    | \x9b[0-?]*[\x20-/]*[@-~]?            # CSI (8-bit)
    | \x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?   # OSC ... BEL/ST
    | \x9d[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)      # OSC (8-bit), terminated
    | \x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?        # DCS, SOS, PM, APC
    | [\x90\x98\x9e\x9f][^\x1b\x9c]*(?:\x1b\\|\x9c)  # the same, 8-bit, terminated
    | \x1b[\x20-/]*[0-~]?                  # other ESC sequences (charset, keypad, ...)
    """,
    re.VERBOSE,
)
# An unterminated 8-bit string introducer is just dropped as a control
# character below, keeping the text after it.

# Characters turned into a plain space rather than removed, so words stay apart.
_SPACES = str.maketrans({"\t": " ", "\u2028": " ", "\u2029": " ", "\x85": " "})

# Unicode categories removed outright: controls, format characters (zero-width
# spaces, bidi marks and overrides, BOM; the joiners are the exception below),
# surrogates, unassigned code points.
_REMOVED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn"})

ZWNJ = "\u200c"
ZWJ = "\u200d"
_JOINERS = frozenset((ZWNJ, ZWJ))
VS16 = "\ufe0f"  # emoji presentation: in emoji ZWJ sequences it comes right before a ZWJ

# Invisible marks that only modify the character before them: the variation
# selectors (U+FE0E/U+FE0F pick text or emoji form), their supplement (CJK
# ideographic variants), the combining grapheme joiner and the Mongolian free
# variation selectors. One is kept right after a visible character.
_SELECTOR_RANGES = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF), (0x34F, 0x34F), (0x180B, 0x180F))

# A subdivision flag (England, Scotland, Wales): WAVING BLACK FLAG, tag letters
# and digits, CANCEL TAG. The RGI ones have 5 tags; 7 leaves room for others.
_BLACK_FLAG = "\U0001f3f4"
_CANCEL_TAG = "\U000e007f"
_MAX_TAGS = 7


def _is_selector(ch: str) -> bool:
    cp = ord(ch)
    return any(low <= cp <= high for low, high in _SELECTOR_RANGES)


def _is_tag_letter(ch: str) -> bool:
    return "\U000e0030" <= ch <= "\U000e0039" or "\U000e0061" <= ch <= "\U000e007a"


def _is_visible(ch: str) -> bool:
    """A character that draws something: letters, marks, numbers, punctuation, symbols."""
    return unicodedata.category(ch)[0] in "LMNPS" and not _is_selector(ch)


def _ends_glyph(ch: str) -> bool:
    """Whether ``ch`` (already kept) can be the last character of a visible glyph."""
    return unicodedata.category(ch)[0] in "LMNPS"


def _is_base(ch: str) -> bool:
    """A character that starts a new glyph (what a joiner may join to)."""
    return unicodedata.category(ch)[0] in "LNPS"


def _is_safe_char(ch: str) -> bool:
    if " " <= ch <= "~":  # fast path for printable ASCII
        return True
    return unicodedata.category(ch) not in _REMOVED_CATEGORIES


def _clean_chars(text: str) -> str:
    """Drop unsafe characters, keeping joiners, selectors and flag tags only where they belong."""
    out: list[str] = []
    joiners = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        i += 1
        if " " <= ch <= "~":
            out.append(ch)
        elif ch in _JOINERS:
            out.append(ch)  # judged below, once its neighbours are known
            joiners = True
        elif _is_selector(ch):
            if out and _is_visible(out[-1]):
                out.append(ch)
        elif ch == _BLACK_FLAG:
            out.append(ch)
            end = i
            while end < n and end - i < _MAX_TAGS and _is_tag_letter(text[end]):
                end += 1
            if end - i >= 2 and end < n and text[end] == _CANCEL_TAG:
                out.extend(text[i : end + 1])
                i = end + 1
        elif _is_safe_char(ch):
            out.append(ch)
    if joiners:
        # A joiner stays only between the end of a visible glyph (which may be
        # a kept selector: the rainbow flag is WHITE FLAG, VS16, ZWJ, RAINBOW)
        # and the start of the next; a run of joiners fails this for all of them.
        # After a selector only ZWJ after VS16 is Unicode's (emoji sequences);
        # anything else there would make a two-character invisible run.
        last = len(out) - 1
        out = [
            ch
            for k, ch in enumerate(out)
            if ch not in _JOINERS
            or (
                0 < k < last
                and _ends_glyph(out[k - 1])
                and _is_base(out[k + 1])
                and (not _is_selector(out[k - 1]) or (ch == ZWJ and out[k - 1] == VS16))
            )
        ]
    return "".join(out)


def sanitize(text: str) -> str:
    """Return ``text`` without escape sequences, control or stray invisible characters.

    Tabs and Unicode line/paragraph separators become spaces; newlines are
    removed (a chat line is one line). Leading and trailing white space is
    stripped. Joiners, variation selectors and flag tags survive only inside
    the sequences that need them (see the module docstring).
    """
    if not text:
        return ""
    text = _ESCAPES.sub("", text).translate(_SPACES)
    if not text.isascii() or not text.isprintable():
        text = _clean_chars(text)
    return text.strip()


def sanitize_lines(text: str) -> list[str]:
    """The lines of a multi-line message (a paste), each cleaned like :func:`sanitize`.

    Unlike a one-line message, a line keeps its indentation (code and logs are
    pasted; a tab counts as four spaces): only trailing white space goes.
    Blank lines inside are kept, blank lines before the first and after the
    last line with text are dropped. ``\r\n`` and ``\r`` end lines too.
    """
    out: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        body = sanitize(raw)
        if not body:
            out.append("")
            continue
        lead = raw[: len(raw) - len(raw.lstrip(" \t"))]
        out.append(" " * (lead.count(" ") + 4 * lead.count("\t")) + body)
    while out and not out[-1]:
        out.pop()
    start = 0
    while start < len(out) and not out[start]:
        start += 1
    return out[start:]


# Digits and letters that are easily mistaken for one another in a terminal
# font. Two names whose keys are equal are treated as the same name.
_CONFUSABLES = str.maketrans({"0": "o", "1": "l", "i": "l", "5": "s", "_": "-"})


def confusable_key(name: str) -> str:
    """Fold ``name`` so that names that look alike compare equal.

    Case is ignored and look-alike characters (``0``/``o``, ``1``/``l``/``I``,
    ``5``/``s``, ``_``/``-``) are merged, so ``AIice`` and ``a1ice`` both
    collide with ``alice``.
    """
    return name.casefold().translate(_CONFUSABLES)


def strip_channel_prefix(name: str) -> str:
    """Accept ``#dev`` as well as ``dev`` for a channel name."""
    return name[1:] if name.startswith("#") else name
