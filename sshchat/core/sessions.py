"""Sessions and presence: connecting, disconnecting, away, and ending a session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sshchat.core.events import History, OnlineNow, Presence, PresenceKind, SessionEnded
from sshchat.core.facts import AwaySet, Fact, SessionClosed, SessionOpened
from sshchat.core.model import (
    MAX_REASON,
    NULL_SINK,
    ONLINE_NAMES,
    Account,
    Channel,
    Client,
    Sink,
)
from sshchat.core.part import Part
from sshchat.core.refusals import NoSuchAccount, NotAway
from sshchat.core.text import sanitize

__all__ = ["Sessions", "online_now"]


class Sessions(Part):
    """Who is connected, through which sessions, and who is away."""

    # -- deciding ------------------------------------------------------------

    def open(
        self, login: str, sink: Sink, *, key_fingerprint: str | None, source: str
    ) -> tuple[str, list[Fact]]:
        """A new session id for ``login`` and the fact opening it; the sink is kept locally.

        The caller checks bans first (see ``Moderation.admission``).
        """
        account = self.state.accounts.get(login)
        if account is None:
            raise NoSuchAccount(login)
        home = self.state.default_channel
        joins = None if login in home.members else home.name
        session = self.ids()
        self.state.sinks[session] = sink
        fact = SessionOpened(
            self.ids(), self.clock(), session, login, source, key_fingerprint, joins
        )
        return session, [fact]

    def close(self, client: Client) -> list[Fact]:
        if self.state.sessions.get(client.id) is not client:
            return []  # already ended (by the hub, or closed twice)
        return [SessionClosed(self.ids(), self.clock(), client.id, client.account.login)]

    def away(self, client: Client, reason: str) -> list[Fact]:
        # "" is away without a reason (None is not away).
        reason = sanitize(reason)[:MAX_REASON]
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
        """Open the session in the account's last channel; it is back in all its channels.

        The new session is shown the recent history of its current channel only
        (lines of the others arrive tagged as they are said), then the private
        messages that waited for it, then who is online where it landed.
        """
        state = self.state
        account = state.accounts.get(fact.login)
        if account is None:  # removed between deciding and applying
            state.sinks.pop(fact.session, None)
            state.pending.pop(fact.session, None)
            return
        if fact.home is not None:
            home = state.find_channel(fact.home)
            if home is not None and account.login not in home.members:
                state.add_member(home, account)
        client = state.pending.pop(fact.session, None)  # cluster mode: made when decided
        if client is None:
            client = Client(
                id=fact.session,
                account=account,
                sink=state.sinks.get(fact.session, NULL_SINK),
                current=state.landing(account),
                connected_at=fact.time,
                key_fingerprint=fact.key_fingerprint,
                source=fact.source,
            )
        client.current = state.landing(account)
        state.sessions[fact.session] = client
        first = not account.clients
        account.clients.append(client)
        if first:
            account.connected_since = fact.time
            account.away = None
            state.went_online(account)
            self.delivery.announce(
                account.channels.values(),
                Presence(PresenceKind.CONNECT, account.login, account.nick, None, "", fact.time),
                skip=account,
            )
        self.delivery.history(client, client.current, state.settings.history_lines, fact.time)
        if account.pending:
            waiting = tuple(m for m in account.pending if m.sender not in account.ignored)
            if waiting:
                client.sink.deliver(History(None, waiting, fact.time))
            account.pending.clear()
        client.sink.deliver(online_now(client.current, fact.time))

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
        account.connected_since = None
        account.away = None
        state.went_offline(account)  # still a member of its channels, offline
        self.delivery.announce(
            account.channels.values(),
            Presence(PresenceKind.DISCONNECT, account.login, account.nick, None, "", when),
        )

    def add_member(
        self, channel: Channel, account: Account, when: float, *, announce: bool = True
    ) -> None:
        self.state.add_member(channel, account)
        if announce:
            self.delivery.announce(
                [channel],
                Presence(PresenceKind.JOIN, account.login, account.nick, channel.name, "", when),
            )


def online_now(channel: Channel, when: float) -> OnlineNow:
    """Who is online in ``channel``: the names in a small channel, a count in a big one."""
    online = channel.online.values()
    count = len(online)
    nicks: tuple[str, ...] = ()
    if count <= ONLINE_NAMES:
        nicks = tuple(sorted((a.nick for a in online), key=str.casefold))
    return OnlineNow(channel.name, count, nicks, when)
