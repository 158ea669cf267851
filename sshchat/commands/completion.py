"""Tab completion for the line editor: what the word being typed may become.

Pure functions over the hub's state, with no prompt_toolkit in sight; the
terminal front end wraps them in a prompt_toolkit completer. What completes
depends on where the cursor is:

* ``/jo`` at the start of a line: command names (``/join``);
* an argument of a command: what its usage line says it takes (``NICK`` and
  ``USER``: users; ``NAME`` of ``/join``: channels; ``COMMAND``: command names;
  ``on|off``: those words); free text (``TEXT``, ``REASON``...) is like a
  message;
* a word in a message: nicks of online users, or channel names for a word
  starting with ``#`` (``@al`` completes to ``@alice``).
"""

from __future__ import annotations

import re

from sshchat.commands.registry import REGISTRY, Command
from sshchat.core.hub import Client, Hub

__all__ = ["MAX_LISTED", "candidates", "common_prefix", "format_candidates"]

# At most this many candidates are listed when a completion is ambiguous.
MAX_LISTED = 60

_WORD_AT_END = re.compile(r"\S*\Z")
_FREE_TEXT = frozenset({"TEXT", "REASON", "ACTION"})


def candidates(hub: Hub, client: Client, before: str) -> tuple[str, list[str]]:
    """Complete the word that ends ``before`` (the line up to the cursor).

    Returns ``(fragment, words)``: the end of ``before`` that a completion
    replaces, and the words (sorted, case-insensitively matching ``fragment``)
    that may replace it. ``words`` is empty when nothing fits.
    """
    word = _WORD_AT_END.search(before).group()  # type: ignore[union-attr]
    head = before[: len(before) - len(word)]
    if before.startswith("/") and not before.startswith("//"):
        if not head:  # the command name itself
            return word, _matching(["/" + name for name in REGISTRY.names()], word)
        parts = head.split()
        cmd = REGISTRY.get(parts[0][1:])
        if cmd is None:
            return word, []
        kind = _argument_kind(cmd, len(parts) - 1)
        if kind == "user":
            return word, _matching(_user_names(hub, client, everyone=True), word)
        if kind == "channel":
            return _channel_word(hub, client, word, bare=True)
        if kind == "command":
            slash = "/" if word.startswith("/") else ""
            return word, _matching([slash + name for name in REGISTRY.names()], word)
        if kind.startswith("words:"):
            return word, _matching(kind[6:].split("|"), word)
        if kind != "text":
            return word, []
    return _text_word(hub, client, word)


def _argument_kind(cmd: Command, index: int) -> str:
    """What argument ``index`` (0-based) of ``cmd`` takes, from its usage line."""
    tokens = [token.strip("[]") for token in cmd.usage.split()]
    if not tokens:
        return ""
    if index >= len(tokens):
        # Past the usage: only the rest of a free-text argument goes on.
        return "text" if cmd.rest and tokens[-1] in _FREE_TEXT else ""
    token = tokens[index]
    if token in ("NICK", "USER"):
        return "user"
    if token == "NAME":
        return "channel" if cmd.name == "join" else ""
    if token == "COMMAND":
        return "command"
    if token in _FREE_TEXT:
        return "text"
    if token.islower():  # literal words: "on|off|mentions", "private"
        return "words:" + token
    return ""


def _text_word(hub: Hub, client: Client, word: str) -> tuple[str, list[str]]:
    """A word in a message: a channel after ``#``, otherwise a nick."""
    if word.startswith("#"):
        return _channel_word(hub, client, word, bare=False)
    if word.startswith("@"):
        word = word[1:]
    if not word:
        return word, []
    return word, _matching(_user_names(hub, client, everyone=False), word)


def _channel_word(hub: Hub, client: Client, word: str, *, bare: bool) -> tuple[str, list[str]]:
    names = [channel.name for channel in hub.visible_channels(client.account)]
    if word.startswith("#"):
        return word, _matching(["#" + name for name in names], word)
    if not bare:
        return word, []
    return word, _matching(names, word)


def _user_names(hub: Hub, client: Client, *, everyone: bool) -> list[str]:
    """Nicks to complete: every account for an argument, online others in a message."""
    names: list[str] = []
    for account in hub.accounts.values():
        if everyone:
            names.append(account.nick)
            if account.login.casefold() != account.nick.casefold():
                names.append(account.login)
        elif account.clients and account is not client.account:
            names.append(account.nick)
    return names


def _matching(words: list[str], fragment: str) -> list[str]:
    folded = fragment.casefold()
    found = {w for w in words if w.casefold().startswith(folded)}
    return sorted(found, key=lambda w: (w.casefold(), w))


def common_prefix(words: list[str]) -> str:
    """The longest prefix (ignoring case) shared by ``words``, spelled as in the first."""
    if not words:
        return ""
    first = words[0]
    length = len(first)
    folded_first = first.casefold()
    for word in words[1:]:
        folded = word.casefold()
        n = 0
        limit = min(length, len(folded))
        while n < limit and folded[n] == folded_first[n]:
            n += 1
        length = n
    return first[:length]


def format_candidates(words: list[str], limit: int = MAX_LISTED) -> str:
    """The candidates of an ambiguous completion, as one line to show the user."""
    shown = "  ".join(words[:limit])
    more = len(words) - limit
    return shown + (f"  ... and {more} more" if more > 0 else "")
