"""A hub Sink that records what one session is sent, for tests without SSH."""

from __future__ import annotations

from sshchat.commands.refusals import notice_text
from sshchat.core.events import (
    ChatMessage,
    Notice,
    NoticeKind,
    Presence,
    PresenceKind,
    SessionEnded,
)
from sshchat.frontends.render import TYPED_NOTICES, Renderer


class RecordingSink:
    """Records what the hub delivers to one session, and why it was closed.

    Typed notices are kept as the :class:`Notice` the user would read (their
    wording is checked by the tests); ``typed`` keeps them as delivered. A
    :class:`SessionEnded` is recorded in ``closed``, as a front end would close.
    """

    def __init__(self) -> None:
        self.events: list = []
        self.typed: list = []
        self.closed: list[str] = []

    def deliver(self, event) -> None:
        if isinstance(event, SessionEnded):
            self.typed.append(event)
            self.closed.append(notice_text(event)[0])
        elif isinstance(event, TYPED_NOTICES):
            self.typed.append(event)
            text, kind = notice_text(event)
            self.events.append(Notice(text, kind, event.time))
        else:
            self.events.append(event)

    def close(self, reason: str) -> None:
        self.closed.append(reason)

    def take(self) -> list:
        """The events so far; forget them."""
        events, self.events = self.events, []
        return events

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def texts(self) -> list[str]:
        return [getattr(e, "text", "") for e in self.events]

    def chats(self) -> list[str]:
        return [e.text for e in self.of(ChatMessage)]

    def presence(self) -> list[tuple[PresenceKind, str, str | None]]:
        return [(e.kind, e.login, e.channel) for e in self.of(Presence)]

    def notices(self, kind: NoticeKind | None = None) -> list[str]:
        return [e.text for e in self.of(Notice) if kind is None or e.kind is kind]

    def errors(self) -> list[str]:
        return self.notices(NoticeKind.ERROR)

    def infos(self) -> list[str]:
        return self.notices(NoticeKind.INFO)

    def last_error(self) -> str:
        errors = self.errors()
        assert errors, f"expected an error notice, got {self.events!r}"
        return errors[-1]

    def last_info(self) -> str:
        infos = self.infos()
        assert infos, f"expected an info notice, got {self.events!r}"
        return infos[-1]

    def rendered(self, login: str, current: str = "lobby") -> list[str]:
        renderer = Renderer(color=False, own_login=login)
        return [line for e in self.events for line in renderer.render(e, current)]
