"""Sessions and presence: connecting, disconnecting, away, and ending a session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sshchat.core.events import History, Presence, PresenceKind, SessionEnded
from sshchat.core.facts import AwaySet, Fact, SessionClosed, SessionOpened
from sshchat.core.model import MAX_REASON, NULL_SINK, Account, Channel, Client, Sink
from sshchat.core.part import Part
from sshchat.core.refusals import NoSuchAccount, NotAway
from sshchat.core.text import sanitize

__all__ = ["Sessions"]


class Sessions(Part):
    """Who is connected, through which sessions, and who is away."""

    # -- deciding ------------------------------------------------------------

    def open(
        self, login: str, sink: Sink, *, key_fingerprint: str | None, source: str
    ) -> tuple[str, list[Fact]]:
        """A new session id for ``login`` and the fact opening it; the sink is kept locally.

        The caller checks bans first (see ``Moderation.admission``).
        """
        if login not in self.state.accounts:
            raise NoSuchAccount(login)
        session = self.ids()
        self.state.sinks[session] = sink
        fact = SessionOpened(self.ids(), self.clock(), session, login, source, key_fingerprint)
        return session, [fact]

    def close(self, client: Client) -> list[Fact]:
        if self.state.sessions.get(client.id) is not client:
            return []  # already ended (by the hub, or closed twice)
        return [SessionClosed(self.ids(), self.clock(), client.id, client.account.login)]

    def away(self, client: Client, reason: str) -> list[Fact]:
        reason = sanitize(reason)[:MAX_REASON] or "away"
        return [AwaySet(self.ids(), self.clock(), client.account.login, reason)]

    def back(self, client: Client) -> list[Fact]:
        if client.account.away is None:
            raise NotAway()
        return [AwaySet(self.ids(), self.clock(), client.account.login, None)]

    # -- applying --------------------------------------------------------------

    def appliers(self) -> dict[type[Fact], Callable[[Any], None]]:
        return {
            SessionOpened: self._opened,
            SessionClosed: self._closed,
            AwaySet: self._away,
        }

    def _opened(self, fact: SessionOpened) -> None:
        state = self.state
        account = state.accounts.get(fact.login)
        if account is None:  # removed between deciding and applying
            state.sinks.pop(fact.session, None)
            state.pending.pop(fact.session, None)
            return
        home = state.default_channel
        client = state.pending.pop(fact.session, None)  # cluster mode: made when decided
        if client is None:
            client = Client(
                id=fact.session,
                account=account,
                sink=state.sinks.get(fact.session, NULL_SINK),
                current=home,
                connected_at=fact.time,
                key_fingerprint=fact.key_fingerprint,
                source=fact.source,
            )
        client.current = home
        state.sessions[fact.session] = client
        first = not account.clients
        account.clients.append(client)
        if first:
            account.connected_since = fact.time
            account.away = None
            self.add_member(home, account, fact.time, announce=False)
            self.delivery.announce(
                account.channels.values(),
                Presence(PresenceKind.CONNECT, account.login, account.nick, None, "", fact.time),
                skip=account,
            )
        self.delivery.history(client, home, state.settings.history_lines, fact.time)
        if account.pending:
            client.sink.deliver(History(None, tuple(account.pending), fact.time))
            account.pending.clear()

    def _closed(self, fact: SessionClosed) -> None:
        client = self.state.sessions.get(fact.session)
        if client is not None:
            self.end(client, fact.time)

    def _away(self, fact: AwaySet) -> None:
        account = self.state.accounts.get(fact.login)
        if account is not None:
            account.away = fact.reason

    # -- helpers for applying (also used by moderation and identity) --------------

    def end(self, client: Client, when: float, ended: SessionEnded | None = None) -> None:
        """Forget a session (telling it ``ended`` first); the account goes offline with its last."""
        state = self.state
        if ended is not None:
            client.sink.deliver(ended)
        state.sessions.pop(client.id, None)
        state.sinks.pop(client.id, None)
        account = client.account
        if client not in account.clients:
            return
        account.clients.remove(client)
        account.last_seen = when
        if account.clients:
            return
        channels = list(account.channels.values())
        for channel in channels:
            channel.members.pop(account.login, None)
        account.channels.clear()
        account.connected_since = None
        account.away = None
        self.delivery.announce(
            channels,
            Presence(PresenceKind.DISCONNECT, account.login, account.nick, None, "", when),
        )

    def add_member(
        self, channel: Channel, account: Account, when: float, *, announce: bool = True
    ) -> None:
        channel.members[account.login] = account
        account.channels[channel.name] = channel
        if announce:
            self.delivery.announce(
                [channel],
                Presence(PresenceKind.JOIN, account.login, account.nick, channel.name, "", when),
            )
