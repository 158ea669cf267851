"""Turning hub events into the lines a person (or a bot) reads.

This is the only place where ANSI colour is produced. Every user-supplied
string in an event has already been sanitised by the hub, so the only escape
sequences in the output are the ones made here. Plain (no-pty) sessions get the
same lines without any escape sequence.
"""

from __future__ import annotations

import functools
import re
import time
import typing
import zlib
from collections.abc import Callable

from sshchat.commands.refusals import notice_text
from sshchat.core.events import (
    Broadcast,
    ChatMessage,
    Event,
    History,
    Notice,
    NoticeKind,
    Presence,
    PresenceKind,
    PresenceSummary,
    PrivateMessage,
    TypedNotice,
)
from sshchat.core.prefs import Prefs

TYPED_NOTICES = typing.get_args(TypedNotice)  # notices worded here, at the edge

__all__ = ["Renderer", "nick_color"]

RESET = "\x1b[0m"
BOLD = "\x1b[1m"
DIM = "\x1b[2m"
RED = "\x1b[31m"
YELLOW = "\x1b[33m"
MAGENTA = "\x1b[35m"
CYAN = "\x1b[36m"

# Foreground colours readable on dark and light backgrounds alike.
_NICK_COLORS = (31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96)


def nick_color(login: str) -> str:
    """The SGR sequence for ``login``'s nick: the same in every session and restart."""
    code = _NICK_COLORS[zlib.crc32(login.encode()) % len(_NICK_COLORS)]
    return f"\x1b[{code}m"


@functools.lru_cache(maxsize=64)
def _clock(minute: int) -> str:
    """``HH:MM`` (local time) of a minute since the epoch; one strftime per minute."""
    return time.strftime("%H:%M", time.localtime(minute * 60))


class Renderer:
    """Renders events for one session.

    ``color`` says whether the session can show ANSI colour (pty sessions);
    ``prefs`` (the account's, read at each render) can turn colour and time
    stamps off and chooses when to ring the bell. ``own_nick`` returns the
    user's current nick, for highlighting lines that mention it. Plain
    sessions never get an escape sequence or a bell.
    """

    def __init__(
        self,
        *,
        color: bool,
        own_login: str,
        prefs: Prefs | None = None,
        own_nick: Callable[[], str] | None = None,
    ) -> None:
        self.tty = color
        self.own_login = own_login
        self.prefs = prefs if prefs is not None else Prefs()
        self._own_nick: Callable[[], str] = own_nick or (lambda: own_login)
        self._bell = False
        self._mention_cache: tuple[str, re.Pattern[str]] | None = None

    def set_own_nick(self, own_nick: Callable[[], str]) -> None:
        self._own_nick = own_nick

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
            return [self._chat(event, current_channel)]
        if isinstance(event, PrivateMessage):
            return [self._private(event)]
        if isinstance(event, Presence):
            return [self._presence(event, current_channel)]
        if isinstance(event, Broadcast):
            text = f"[broadcast from {self._nick(event.sender, event.nick)}] {event.text}"
            self._ring(mention=True)
            return [self._stamp(event.time) + self._paint(text, BOLD + YELLOW)]
        if isinstance(event, Notice):
            return self._notice(event)
        if isinstance(event, History):
            return self._history(event, current_channel)
        if isinstance(event, PresenceSummary):
            return [self._summary(event)]
        if isinstance(event, TYPED_NOTICES):
            text, kind = notice_text(event)
            return self._notice(Notice(text, kind, event.time))
        return []  # pragma: no cover - every event type is handled above

    # -- pieces ---------------------------------------------------------------

    def _paint(self, text: str, sgr: str) -> str:
        return f"{sgr}{text}{RESET}" if self.color else text

    def _stamp(self, when: float) -> str:
        if not self.prefs.timestamps:
            return ""
        return self._paint(_clock(int(when) // 60), DIM) + " "

    def _nick(self, login: str, nick: str) -> str:
        if not self.color:
            return nick
        sgr = nick_color(login) + (BOLD if login == self.own_login else "")
        return f"{sgr}{nick}{RESET}"

    def _tag(self, channel: str | None, current_channel: str) -> str:
        if channel is None or channel == current_channel:
            return ""
        return self._paint(f"#{channel}", CYAN) + " "

    def _ring(self, *, mention: bool) -> None:
        bell = self.prefs.bell
        if bell == "on" or (bell == "mentions" and mention):
            self._bell = True

    def _mentions_me(self, text: str) -> bool:
        nick = self._own_nick()
        cached = self._mention_cache
        if cached is None or cached[0] != nick:
            names = {re.escape(nick), re.escape(self.own_login)}
            pattern = re.compile(rf"(?<![\w-])(?:{'|'.join(names)})(?![\w-])", re.IGNORECASE)
            cached = self._mention_cache = (nick, pattern)
        return cached[1].search(text) is not None

    def _chat(self, event: ChatMessage, current_channel: str, *, replay: bool = False) -> str:
        head = self._stamp(event.time) + self._tag(event.channel, current_channel)
        nick = self._nick(event.sender, event.nick)
        text = event.text
        if event.sender != self.own_login and self._mentions_me(text):
            text = self._paint(text, BOLD + YELLOW)
            if not replay:
                self._ring(mention=True)
        elif event.sender != self.own_login and not replay:
            self._ring(mention=False)
        if event.action:
            return f"{head}* {nick} {text}"
        return f"{head}<{nick}> {text}"

    def _private(self, event: PrivateMessage, *, replay: bool = False) -> str:
        if event.sender == self.own_login and event.recipient != self.own_login:
            label = f"[PM to {self._nick(event.recipient, event.recipient_nick)}]"
        else:
            label = f"[PM from {self._nick(event.sender, event.sender_nick)}]"
            if not replay:
                self._ring(mention=True)
        return self._stamp(event.time) + self._paint(label, MAGENTA) + f" {event.text}"

    def _presence(self, event: Presence, current_channel: str) -> str:
        nick = self._nick(event.login, event.nick)
        kind = event.kind
        where = f"#{event.channel}" if event.channel else ""
        mine = event.login == self.own_login
        if kind is PresenceKind.JOIN:
            text = f"{nick} joined {where}"
        elif kind is PresenceKind.LEAVE:
            text = f"{nick} left {where}"
        elif kind is PresenceKind.CONNECT:
            text = f"{nick} connected"
        elif kind is PresenceKind.DISCONNECT:
            text = f"{nick} disconnected"
        elif kind is PresenceKind.TOPIC:
            if event.detail:
                text = f"{nick} set the topic of {where}: {event.detail}"
            else:
                text = f"{nick} cleared the topic of {where}"
        elif kind is PresenceKind.KICK:
            who = "you were" if mine else f"{nick} was"
            text = f"{who} kicked from {where} {event.detail}"
        elif mine:
            text = f"you are now known as {self._nick(event.login, event.detail)}"
        else:
            text = f"{nick} is now known as {self._nick(event.login, event.detail)}"
        return self._stamp(event.time) + self._paint("--", DIM) + " " + text

    def _summary(self, event: PresenceSummary) -> str:
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
        return self._stamp(event.time) + self._paint("--", DIM) + f" {event.count} {verb}: {names}"

    def _history(self, event: History, current_channel: str) -> list[str]:
        if not event.messages:
            where = f"#{event.channel}" if event.channel else "your private messages"
            return [self._paint(f"--- no earlier lines in {where} ---", DIM)]
        if event.channel is None:
            head = f"--- {len(event.messages)} private messages while you were away ---"
        else:
            head = f"--- history: the last {len(event.messages)} lines of #{event.channel} ---"
        lines = [self._paint(head, DIM)]
        for message in event.messages:
            if isinstance(message, ChatMessage):
                lines.append(self._chat(message, current_channel, replay=True))
            else:
                lines.append(self._private(message, replay=event.channel is not None))
        lines.append(self._paint("--- end of history ---", DIM))
        return lines

    def _notice(self, event: Notice) -> list[str]:
        lines = event.text.split("\n")
        if event.kind is NoticeKind.ERROR:
            lines[0] = "error: " + lines[0]
            return [self._paint(line, RED) for line in lines]
        return lines
