"""Tab completion for the line editor: what the word being typed may become.

Pure functions over the hub's state and a command registry, with no
prompt_toolkit in sight; the terminal front end wraps them in a prompt_toolkit
completer. What completes depends on where the cursor is:

* ``/jo`` at the start of a line: command names (``/join``), admin-only ones
  only for admins;
* an argument of a command: whatever that command declares the argument to
  be (:mod:`sshchat.commands.args`): users (nicks and logins), channels,
  command names or fixed choices; free text is completed like a message;
* a word in a message: nicks of online users, or channel names for a word
  starting with ``#`` (``@al`` completes to ``@alice``).
"""

from __future__ import annotations

import re

from sshchat.commands.args import Arg, Kind, expected
from sshchat.commands.layout import columns
from sshchat.commands.registry import CommandRegistry, default_registry
from sshchat.core.hub import Client, Hub

__all__ = ["MAX_LISTED", "candidates", "common_prefix", "format_candidates"]

# At most this many candidates are listed when a completion is ambiguous.
MAX_LISTED = 60

_WORD_AT_END = re.compile(r"\S*\Z")


def candidates(
    hub: Hub, client: Client, before: str, registry: CommandRegistry | None = None
) -> tuple[str, list[str]]:
    """Complete the word that ends ``before`` (the line up to the cursor).

    Returns ``(fragment, words)``: the end of ``before`` that a completion
    replaces, and the words (sorted, case-insensitively matching ``fragment``)
    that may replace it. ``words`` is empty when nothing fits.
    """
    registry = registry if registry is not None else default_registry()
    word = _WORD_AT_END.search(before).group()  # type: ignore[union-attr]
    head = before[: len(before) - len(word)]
    if not before.startswith("/") or before.startswith("//"):
        return _text_word(hub, client, word)
    admin = client.account.admin
    if not head:  # the command name itself
        names = ["/" + cmd.name for cmd in registry.available(admin)]
        return word, _matching(names, word)
    parts = head.split()
    cmd = registry.get(parts[0][1:])
    if cmd is None:
        return word, []
    found: list[str] = []
    fragment = word
    for arg in expected(cmd.args, parts[1:]):
        replaced, words = _argument_word(hub, client, registry, arg, word)
        if words and (not found or replaced == fragment):
            fragment = replaced
            found += words
    if not found:
        return word, []
    return fragment, _matching(found, fragment)


def _argument_word(
    hub: Hub, client: Client, registry: CommandRegistry, arg: Arg, word: str
) -> tuple[str, list[str]]:
    """Candidates for ``word`` as the argument ``arg``."""
    if arg.kind is Kind.USER:
        return word, _matching(_user_names(hub, client, everyone=True), word)
    if arg.kind is Kind.CHANNEL:
        return _channel_word(hub, client, word, bare=True)
    if arg.kind is Kind.COMMAND:
        slash = "/" if word.startswith("/") else ""
        names = [slash + cmd.name for cmd in registry.available(client.account.admin)]
        return word, _matching(names, word)
    if arg.kind is Kind.CHOICE:
        return word, _matching(list(arg.choices), word)
    if arg.kind is Kind.TEXT:
        return _text_word(hub, client, word)
    return word, []  # durations, numbers, new names: nothing to offer


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


def format_candidates(words: list[str], width: int | None = None, limit: int = MAX_LISTED) -> str:
    """The candidates of an ambiguous completion, in columns that fit ``width``.

    Like ``ls``: no name is ever broken across two lines. At most ``limit`` are
    listed, then how many more there are.
    """
    lines = columns(words[:limit], width)
    more = len(words) - limit
    if more > 0:
        lines.append(f"... and {more} more")
    return "\n".join(lines)
