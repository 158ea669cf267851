"""Cleaning of user-supplied text before anyone else sees it.

Everything a user types (messages, nicks, channel names, reasons, topics) passes
through :func:`sanitize` on its way into the hub. The result never contains a
terminal escape sequence, a C0/C1 control character, a bidirectional override
or an invisible (zero-width / format) character, so it is safe to print on any
terminal and safe to compare.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["confusable_key", "sanitize", "strip_channel_prefix"]

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
# spaces and joiners, bidi marks and overrides, BOM), surrogates, unassigned.
_REMOVED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn"})


def _is_safe_char(ch: str) -> bool:
    if " " <= ch <= "~":  # fast path for printable ASCII
        return True
    return unicodedata.category(ch) not in _REMOVED_CATEGORIES


def sanitize(text: str) -> str:
    """Return ``text`` without escape sequences, control or invisible characters.

    Tabs and Unicode line/paragraph separators become spaces; newlines are
    removed (a chat line is one line). Leading and trailing white space is
    stripped.
    """
    if not text:
        return ""
    text = _ESCAPES.sub("", text).translate(_SPACES)
    if not text.isascii() or not text.isprintable():
        text = "".join(ch for ch in text if _is_safe_char(ch))
    return text.strip()


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
