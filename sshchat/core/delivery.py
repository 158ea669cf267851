"""Fan-out: handing events to the sessions of this process.

Used while applying facts, so nothing here reads a clock: every event made
here carries the time of the fact being applied. Ignores and ``/quiet`` are
honoured here, once per recipient account, not per session.

Channels are delivered to through their ``online`` members only: a channel of
thousands of members, most of them offline, costs a line per reader.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Set

from sshchat.core.events import (
    Broadcast,
    ChatMessage,
    Event,
    History,
    Presence,
    PresenceKind,
    PresenceSummary,
)
from sshchat.core.model import SUMMARY_NAMES, Account, Channel, Client
from sshchat.core.state import HubState

__all__ = ["Delivery", "recent_lines"]

# Presence notices that /quiet hides.
_NOISE = frozenset(
    {PresenceKind.JOIN, PresenceKind.LEAVE, PresenceKind.CONNECT, PresenceKind.DISCONNECT}
)


def author(event: Event) -> str | None:
    """The login of whoever made ``event`` happen, for ignores (None: nobody to ignore)."""
    if isinstance(event, Broadcast):
        return None
    if isinstance(event, Presence):
        return None if event.kind is PresenceKind.KICK else event.login
    sender = getattr(event, "sender", None)
    return sender or None


class Delivery:
    """Sends events to accounts, channels and single sessions."""

    def __init__(self, state: HubState) -> None:
        self.state = state

    def to_accounts(self, accounts: Iterable[Account], event: Event) -> None:
        """Deliver ``event`` to every session of ``accounts``, except where ignored or quiet.

        An account that ignores the event's author gets nothing: the author is
        the ``sender`` of a message or invitation, and the ``login`` of a
        presence line (a nick change, a join, a topic set), so that an ignored
        user cannot reach anyone who ignores them by what they do either. A
        kick's ``login`` is whom it removed, not its author (see
        ``Moderation``), and an admin's broadcast cannot be ignored.
        """
        sender = author(event)
        noise = (isinstance(event, Presence) and event.kind in _NOISE) or isinstance(
            event, PresenceSummary
        )
        delivered = 0
        for account in accounts:
            if (account.ignored and sender in account.ignored) or (noise and account.prefs.quiet):
                continue
            for client in account.clients:
                client.sink.deliver(event)
                delivered += 1
        self.state.stats.deliveries += delivered

    def to_channels(
        self,
        channels: Iterable[Channel],
        event: Event,
        *,
        skip: Account | None = None,
        also: Iterable[Account] = (),
    ) -> None:
        """Deliver ``event`` once to every member of any of ``channels``."""
        seen: set[str] = set()
        recipients: list[Account] = []
        for account in itertools.chain(also, *(c.online.values() for c in channels)):
            if account is skip or account.login in seen:
                continue
            seen.add(account.login)
            recipients.append(account)
        self.to_accounts(recipients, event)

    def announce(
        self, channels: Iterable[Channel], event: Presence, *, skip: Account | None = None
    ) -> None:
        """Presence noise: a line each in small channels, summarised in big ones.

        In a channel of more than ``presence_summary_over`` online members a
        line per arrival would make a mass reconnect cost N² lines; there the
        names are collected and :meth:`flush_presence` sends one summary per kind.
        """
        over = self.state.settings.presence_summary_over
        small = []
        for channel in channels:
            if over and len(channel.online) > over:
                channel.presence_pending.append((event.kind, event.nick))
                self.state.presence_due = True
            else:
                small.append(channel)
        if small:
            self.to_channels(small, event, skip=skip)

    def flush_presence(self, now: float) -> None:
        """Send the summaries collected by :meth:`announce` (the server calls this each second)."""
        state = self.state
        if not state.presence_due:
            return
        state.presence_due = False
        for channel in state.channels.values():
            if not channel.presence_pending:
                continue
            pending, channel.presence_pending = channel.presence_pending, []
            by_kind: dict[PresenceKind, list[str]] = {}
            for kind, nick in pending:
                by_kind.setdefault(kind, []).append(nick)
            for kind, nicks in by_kind.items():
                summary = PresenceSummary(
                    channel.name, kind, tuple(nicks[:SUMMARY_NAMES]), len(nicks), now
                )
                self.to_accounts(channel.online.values(), summary)

    def history(self, client: Client, channel: Channel, count: int, now: float) -> None:
        """Show ``client`` the last ``count`` lines of ``channel`` (if it has any).

        Lines of users the account ignores are left out, as they were when said.
        The channel counts as shown to this session from now on.
        """
        client.shown.add(channel.name.casefold())
        lines = recent_lines(channel, count, client.account.ignored)
        if lines:
            client.sink.deliver(History(channel.name, lines, now))


def recent_lines(channel: Channel, count: int, ignored: Set[str]) -> tuple[ChatMessage, ...]:
    """The last ``count`` lines of ``channel``, oldest first, without those of ``ignored``."""
    if count <= 0 or not channel.history:
        return ()
    newest_first: Iterable[ChatMessage] = reversed(channel.history)
    if ignored:
        newest_first = (m for m in newest_first if m.sender not in ignored)
    return tuple(itertools.islice(newest_first, count))[::-1]
