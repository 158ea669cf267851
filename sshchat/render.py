"""Turning hub events into the lines a person (or a bot) reads.

This is the only place where ANSI colour is produced. Every user-supplied
string in an event has already been sanitised by the hub, so the only escape
sequences in the output are the ones made here. Plain (no-pty) sessions get the
same lines without any escape sequence.
"""

from __future__ import annotations

import time
import zlib

from .events import (
    Broadcast,
    ChatMessage,
    Event,
    Notice,
    NoticeKind,
    Presence,
    PresenceKind,
    PrivateMessage,
)

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


class Renderer:
    """Renders events for one session.

    ``color`` selects ANSI output (pty sessions) or plain text (no pty);
    ``own_login`` lets the user's own lines stand out.
    """

    def __init__(self, *, color: bool, own_login: str) -> None:
        self.color = color
        self.own_login = own_login

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
            return [self._stamp(event.time) + self._paint(text, BOLD + YELLOW)]
        if isinstance(event, Notice):
            return self._notice(event)
        return []  # pragma: no cover - every event type is handled above

    # -- pieces ---------------------------------------------------------------

    def _paint(self, text: str, sgr: str) -> str:
        return f"{sgr}{text}{RESET}" if self.color else text

    def _stamp(self, when: float) -> str:
        stamp = time.strftime("%H:%M", time.localtime(when))
        return self._paint(stamp, DIM) + " "

    def _nick(self, login: str, nick: str) -> str:
        if not self.color:
            return nick
        sgr = nick_color(login) + (BOLD if login == self.own_login else "")
        return f"{sgr}{nick}{RESET}"

    def _tag(self, channel: str | None, current_channel: str) -> str:
        if channel is None or channel == current_channel:
            return ""
        return self._paint(f"#{channel}", CYAN) + " "

    def _chat(self, event: ChatMessage, current_channel: str) -> str:
        head = self._stamp(event.time) + self._tag(event.channel, current_channel)
        nick = self._nick(event.sender, event.nick)
        if event.action:
            return f"{head}* {nick} {event.text}"
        return f"{head}<{nick}> {event.text}"

    def _private(self, event: PrivateMessage) -> str:
        if event.sender == self.own_login and event.recipient != self.own_login:
            label = f"[PM to {self._nick(event.recipient, event.recipient_nick)}]"
        else:
            label = f"[PM from {self._nick(event.sender, event.sender_nick)}]"
        return self._stamp(event.time) + self._paint(label, MAGENTA) + f" {event.text}"

    def _presence(self, event: Presence, current_channel: str) -> str:
        nick = self._nick(event.login, event.nick)
        kind = event.kind
        where = f"#{event.channel}" if event.channel else ""
        if kind is PresenceKind.JOIN:
            text = f"{nick} joined {where}"
        elif kind is PresenceKind.LEAVE:
            text = f"{nick} left {where}"
        elif kind is PresenceKind.CONNECT:
            text = f"{nick} connected"
        elif kind is PresenceKind.DISCONNECT:
            text = f"{nick} disconnected"
        elif event.login == self.own_login:
            text = f"you are now known as {self._nick(event.login, event.detail)}"
        else:
            text = f"{nick} is now known as {self._nick(event.login, event.detail)}"
        return self._stamp(event.time) + self._paint("--", DIM) + " " + text

    def _notice(self, event: Notice) -> list[str]:
        lines = event.text.split("\n")
        if event.kind is NoticeKind.ERROR:
            lines[0] = "error: " + lines[0]
            return [self._paint(line, RED) for line in lines]
        return lines
