"""The chat core: accounts, sessions, channels, presence and message fan-out.

The hub knows nothing about SSH or terminals. A front end (the SSH session
layer today, perhaps a websocket or a bot API tomorrow) calls :meth:`Hub.connect`
with a :class:`Sink` and gets a :class:`Client` back; from then on it passes the
user's actions to the hub and receives :mod:`~sshchat.core.events` through its sink.

All methods are synchronous and cheap: delivery is a non-blocking hand-off to
each recipient's sink, which owns a bounded queue. Errors a user should see are
raised as :class:`HubError` with a message meant for that user.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator

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
)
from sshchat.core.model import (
    DEFAULT_MAX_TEXT,
    FOREVER,
    HISTORY_KEEP,
    MAX_PENDING,
    MAX_REASON,
    MAX_TOPIC,
    SUMMARY_NAMES,
    Account,
    AccountChanged,
    AccountRemoved,
    AccountSync,
    Channel,
    ChannelChanged,
    Client,
    HubError,
    ModerationAction,
    Record,
    Sink,
)
from sshchat.core.moderation import ModerationMixin, until_text
from sshchat.core.names import NAME_RULE, valid_name
from sshchat.core.prefs import Prefs
from sshchat.core.ratelimit import TokenBucket
from sshchat.core.stats import Stats
from sshchat.core.text import confusable_key, sanitize, strip_channel_prefix

# Re-exported: front ends and the store import the data model from here.
__all__ = [
    "FOREVER",
    "Account",
    "AccountChanged",
    "AccountRemoved",
    "AccountSync",
    "Channel",
    "ChannelChanged",
    "Client",
    "Hub",
    "HubError",
    "ModerationAction",
    "Record",
    "Sink",
    "until_text",
]

# Presence notices that /quiet hides.
_NOISE = frozenset(
    {PresenceKind.JOIN, PresenceKind.LEAVE, PresenceKind.CONNECT, PresenceKind.DISCONNECT}
)


class Hub(ModerationMixin):
    """Owns every account, channel and session; routes events between them."""

    def __init__(
        self,
        accounts: Iterable[tuple[str, bool]],
        *,
        default_channel: str = "lobby",
        max_text: int = DEFAULT_MAX_TEXT,
        message_rate: float | None = None,
        message_burst: int = 15,
        history_lines: int = 50,
        presence_summary_over: int = 50,
    ) -> None:
        """``accounts`` is ``(login, admin)`` pairs from the config.

        ``history_lines`` is how many earlier lines a user sees on joining a
        channel. ``observers`` (append to it) receive every :data:`Record`:
        the hub's way of telling a store what to keep, without doing I/O.
        """
        self.accounts: dict[str, Account] = {}
        self.channels: dict[str, Channel] = {}
        self.default_channel = self._new_channel(default_channel, owner=None)
        self.max_text = max_text
        self.stats = Stats()
        self.message_rate = message_rate
        self.message_burst = message_burst
        self.history_lines = history_lines
        self.presence_summary_over = presence_summary_over
        self._presence_due = False
        self.observers: list[Callable[[Record], None]] = []
        self._ids = itertools.count(1)
        self.sync_accounts(accounts, reason="")

    def _record(self, record: Record) -> None:
        for observer in self.observers:
            observer(record)

    # -- sessions -----------------------------------------------------------

    def connect(
        self,
        login: str,
        sink: Sink,
        *,
        key_fingerprint: str | None = None,
        source: str = "",
    ) -> Client:
        """Register a new session of ``login`` (already authenticated)."""
        account = self.accounts.get(login)
        if account is None:
            raise HubError(f"no account named {login!r}")
        banned = self.ban_message(login)
        if banned is not None:
            raise HubError(banned)
        client = Client(
            id=next(self._ids),
            account=account,
            sink=sink,
            current=self.default_channel,
            key_fingerprint=key_fingerprint,
            source=source,
        )
        first = not account.clients
        account.clients.append(client)
        if first:
            account.connected_since = client.connected_at
            account.away = None
            self._add_member(self.default_channel, account, announce=False)
            self._announce(
                account.channels.values(),
                Presence(PresenceKind.CONNECT, account.login, account.nick),
                skip=account,
            )
        self._show_history(client, self.default_channel)
        if account.pending:
            sink.deliver(History(None, tuple(account.pending)))
            account.pending.clear()
            self._record(AccountChanged(account))
        return client

    def disconnect(self, client: Client) -> None:
        """Forget a session. The account goes offline with its last session."""
        account = client.account
        if client not in account.clients:
            return
        account.clients.remove(client)
        account.last_seen = time.time()
        if account.clients:
            return
        channels = list(account.channels.values())
        for channel in channels:
            channel.members.pop(account.login, None)
        account.channels.clear()
        account.connected_since = None
        account.away = None
        self._announce(channels, Presence(PresenceKind.DISCONNECT, account.login, account.nick))
        self._record(AccountChanged(account))

    # -- talking -----------------------------------------------------------

    def admit_line(self, client: Client) -> bool:
        """Apply the account's message rate limit to one typed line.

        The first refused line of a streak tells the user why; the first line
        let through afterwards says how many were not sent.
        """
        account = client.account
        if account.bucket is None or account.bucket.take():
            if account.lines_refused:
                refused, account.lines_refused = account.lines_refused, 0
                self.notify(
                    client,
                    f"{refused} line{' was' if refused == 1 else 's were'} not sent "
                    "because you were typing too fast",
                    error=True,
                )
            return True
        account.lines_refused += 1
        self.stats.lines_rate_limited += 1
        if account.lines_refused == 1:
            self.notify(
                client,
                "you are sending too fast, so lines are not being sent: the limit is "
                f"{self.message_burst} lines at once, then {self.message_rate:g} per second. "
                "Wait a moment and try again.",
                error=True,
            )
        return False

    def say(self, client: Client, text: str, *, action: bool = False) -> None:
        """Send ``text`` to the client's current channel."""
        self._check_not_muted(client.account)
        text = self._clean_text(text)
        channel = client.current
        if client.account.login not in channel.members:  # pragma: no cover - defensive
            raise HubError(f"you are not in #{channel.name}; /join it first")
        event = ChatMessage(channel.name, client.account.login, client.account.nick, text, action)
        self.stats.messages += 1
        channel.history.append(event)
        self._send_to_accounts(channel.members.values(), event)
        self._record(event)

    def private_message(self, client: Client, target: str, text: str) -> Account:
        """Send a private message to the user called ``target`` (nick or login).

        An offline recipient gets it at their next login. At most
        :data:`MAX_PENDING` wait for them: beyond that the message is refused
        and its sender told, rather than silently dropping an older one.
        """
        self._check_not_muted(client.account)
        text = self._clean_text(text)
        recipient = self.find_account(target)
        if recipient is None:
            raise HubError(f"no user called {sanitize(target)!r}; /users lists everyone")
        if not recipient.online and len(recipient.pending) >= MAX_PENDING:
            raise HubError(
                f"{recipient.nick} is offline and already has {MAX_PENDING} private messages "
                "waiting, the most kept, so yours was not sent; try again once they have "
                "logged in"
            )
        sender = client.account
        event = PrivateMessage(sender.login, sender.nick, recipient.login, recipient.nick, text)
        self.stats.messages += 1
        recipient.last_pm_from = sender.login
        if recipient.online:
            accounts = [sender] if recipient is sender else [sender, recipient]
            self._send_to_accounts(accounts, event)
        else:
            recipient.pending.append(event)
            self._send_to_accounts([sender], event)
            self.notify(client, f"{recipient.nick} is offline and will see it at their next login")
        self._record(event)
        return recipient

    def reply(self, client: Client, text: str) -> Account:
        """Answer the last private message this account received."""
        last = client.account.last_pm_from
        if last is None or last not in self.accounts:
            raise HubError("nobody has sent you a private message yet; use /msg NICK TEXT")
        return self.private_message(client, self.accounts[last].nick, text)

    def broadcast(self, client: Client, text: str) -> None:
        """An admin's message to every online user."""
        if not client.account.admin:
            raise HubError("/broadcast is for admins only")
        text = self._clean_text(text)
        event = Broadcast(client.account.login, client.account.nick, text)
        self.stats.messages += 1
        self._send_to_accounts((a for a in self.accounts.values() if a.online), event)
        self._record(event)

    def history(self, client: Client, count: int) -> None:
        """Show the last ``count`` lines of the client's current channel."""
        channel = client.current
        count = max(1, min(count, HISTORY_KEEP))
        lines = tuple(itertools.islice(reversed(channel.history), count))[::-1]
        client.sink.deliver(History(channel.name, lines))

    def _show_history(self, client: Client, channel: Channel) -> None:
        if self.history_lines and channel.history:
            n = min(self.history_lines, len(channel.history))
            lines = tuple(itertools.islice(reversed(channel.history), n))[::-1]
            client.sink.deliver(History(channel.name, lines))

    # -- channels ------------------------------------------------------------

    def create_channel(self, client: Client, name: str, *, private: bool = False) -> Channel:
        """Create a channel owned by the client's account and enter it."""
        name = self._check_channel_name(name)
        existing = self._find_channel(name)
        if existing is not None:
            if not existing.visible_to(client.account):
                # /join would say it does not exist: do not send the user there.
                raise HubError(f"the name #{name} is not available; choose another one")
            raise HubError(f"#{name} already exists; /join {name} to enter it")
        channel = self._new_channel(name, owner=client.account.login, private=private)
        self._enter(client, channel)
        self._record(ChannelChanged(channel))
        return channel

    def join(self, client: Client, name: str) -> Channel:
        """Enter an existing channel, or switch to it if already a member."""
        name = strip_channel_prefix(sanitize(name))
        channel = self._find_channel(name)
        account = client.account
        if channel is None or not channel.visible_to(account):
            hint = f"/create {name} to make it" if valid_name(name) else NAME_RULE
            raise HubError(f"there is no channel #{name}; {hint}")
        self._enter(client, channel)
        return channel

    def leave(self, client: Client) -> Channel:
        """Leave the current channel and return to the default one."""
        channel = client.current
        if channel is self.default_channel:
            raise HubError(f"#{channel.name} is the home channel and cannot be left")
        account = client.account
        self._remove_member(channel, account)
        for other in account.clients:
            if other.current is channel:
                other.current = self.default_channel
        return channel

    def invite(self, client: Client, target: str) -> Account:
        """Let ``target`` into the client's current (private) channel."""
        channel = client.current
        account = client.account
        if channel.private and not (account.login == channel.owner or account.admin):
            raise HubError(f"only the owner of #{channel.name} can invite people to it")
        invitee = self.find_account(target)
        if invitee is None:
            raise HubError(f"no user called {sanitize(target)!r}; /users lists everyone")
        if invitee.login in channel.members:
            raise HubError(f"{invitee.nick} is already in #{channel.name}")
        channel.invited.add(invitee.login)
        self._record(ChannelChanged(channel))
        self._send_to_accounts(
            [invitee],
            Notice(f"{account.nick} invites you to #{channel.name}: type /join {channel.name}"),
        )
        return invitee

    # -- identity and status --------------------------------------------------

    def set_nick(self, client: Client, new: str) -> str:
        """Change the account's display nick; returns the old one."""
        new = sanitize(new)
        account = client.account
        if not valid_name(new):
            raise HubError(f"{new!r} is not a valid nick: {NAME_RULE}")
        other = self._nick_clash(account, new)
        if other is not None:
            raise HubError(f"{new!r} is taken by or looks too much like {other.nick!r}")
        old = account.nick
        if old == new:
            return old
        account.nick = new
        event = Presence(PresenceKind.NICK, account.login, old, detail=new)
        self._send_to_channels(account.channels.values(), event, also=[account])
        self._record(AccountChanged(account))
        return old

    def _nick_clash(self, account: Account, nick: str) -> Account | None:
        """Another account whose login or nick ``nick`` is, or looks too much like."""
        key = confusable_key(nick)
        for other in self.accounts.values():
            if other is not account and key in (
                confusable_key(other.login),
                confusable_key(other.nick),
            ):
                return other
        return None

    def set_away(self, client: Client, reason: str) -> None:
        reason = sanitize(reason)[:MAX_REASON] or "away"
        client.account.away = reason

    def set_back(self, client: Client) -> None:
        if client.account.away is None:
            raise HubError("you are not marked away")
        client.account.away = None

    # -- restoring saved state (start-up, before anyone connects) --------------

    def restore_channel(
        self,
        name: str,
        *,
        owner: str | None = None,
        private: bool = False,
        topic: str = "",
        created: float | None = None,
        ops: Iterable[str] = (),
        invited: Iterable[str] = (),
    ) -> Channel | None:
        """Recreate a saved channel, or give the home channel its saved settings.

        Records nothing. Owner, ops and invitations of accounts no longer
        configured are dropped; the home channel is never private. Returns
        None (and does nothing) for a name that is no longer valid.
        """
        if not valid_name(name):
            return None
        channel = self._find_channel(name) or self._new_channel(name, owner=None)
        channel.owner = owner if owner in self.accounts else None
        channel.private = private and channel is not self.default_channel
        channel.topic = sanitize(topic)[:MAX_TOPIC]
        if created is not None:
            channel.created = created
        channel.ops = {login for login in ops if login in self.accounts}
        channel.invited = {login for login in invited if login in self.accounts}
        return channel

    def restore_history(self, name: str, lines: Iterable[ChatMessage]) -> Channel | None:
        """Put saved lines (oldest first) back in a channel's history; records nothing."""
        channel = self._find_channel(name)
        if channel is not None:
            channel.history.extend(lines)
        return channel

    def restore_account(
        self,
        login: str,
        *,
        nick: str | None = None,
        last_seen: float | None = None,
        prefs: Prefs | None = None,
        ignored: Iterable[str] = (),
        banned_until: float | None = None,
        ban_reason: str = "",
        muted_until: float | None = None,
        pending: Iterable[PrivateMessage] = (),
    ) -> Account | None:
        """Give a configured account its saved state; records nothing.

        Returns None for a login no longer configured. A saved nick that is no
        longer valid or now clashes with another account (say, one added to
        the config since) is dropped, as are ignores of removed accounts.
        """
        account = self.accounts.get(login)
        if account is None:
            return None
        if nick and valid_name(nick) and self._nick_clash(account, nick) is None:
            account.nick = nick
        account.last_seen = last_seen
        if prefs is not None:
            account.prefs = prefs
        account.ignored = {other for other in ignored if other in self.accounts and other != login}
        account.banned_until = banned_until
        account.ban_reason = ban_reason[:MAX_REASON]
        account.muted_until = muted_until
        account.pending.extend(pending)
        return account

    # -- queries -------------------------------------------------------------

    def find_account(self, name: str) -> Account | None:
        """The account whose nick or login name is ``name`` (case-insensitive)."""
        folded = sanitize(name).casefold()
        if not folded:
            return None
        for account in self.accounts.values():
            if account.nick.casefold() == folded:
                return account
        for account in self.accounts.values():
            if account.login.casefold() == folded:
                return account
        return None

    def visible_channels(self, account: Account) -> list[Channel]:
        return sorted(
            (c for c in self.channels.values() if c.visible_to(account)), key=lambda c: c.name
        )

    def notify(self, client: Client, text: str, *, error: bool = False) -> None:
        """Tell one session something (command output, errors)."""
        kind = NoticeKind.ERROR if error else NoticeKind.INFO
        client.sink.deliver(Notice(text, kind))

    def online_clients(self) -> Iterator[Client]:
        for account in self.accounts.values():
            yield from account.clients

    # -- configuration -----------------------------------------------------------

    def sync_accounts(self, accounts: Iterable[tuple[str, bool]], reason: str) -> AccountSync:
        """Make the accounts match ``accounts``: ``(login, admin)`` pairs from the config.

        This is the one place accounts are added and removed (the constructor
        calls it too; a config reload calls it again). New logins get an
        account. A changed admin flag applies at once and the user's sessions
        are told. An account no longer listed is removed: each of its sessions
        is closed with ``reason``, then everything the hub keeps about it is
        forgotten (memberships, channel ownership, ops and invitations, other
        users' ignores), so that an account added later under the same name
        starts afresh. Observers get an :class:`AccountRemoved`. No I/O.
        """
        wanted: dict[str, bool] = {}
        for login, admin in accounts:
            wanted[login] = bool(admin)
        removed = [login for login in self.accounts if login not in wanted]
        for login in removed:
            self._remove_account(self.accounts[login], reason)
        added: list[str] = []
        changed: list[str] = []
        for login, admin in wanted.items():
            account = self.accounts.get(login)
            if account is None:
                self._add_account(login, admin)
                added.append(login)
            elif account.admin != admin:
                account.admin = admin
                changed.append(login)
                what = "now an administrator" if admin else "no longer an administrator"
                self._send_to_accounts([account], Notice(f"You are {what} of this server."))
        return AccountSync(tuple(added), tuple(removed), tuple(changed))

    def set_limits(
        self,
        *,
        max_text: int,
        message_rate: float | None,
        message_burst: int,
        presence_summary_over: int,
    ) -> None:
        """Change the longest line, the message rate limit and the presence summary size."""
        self.max_text = max_text
        self.presence_summary_over = presence_summary_over
        self.message_rate = message_rate
        self.message_burst = message_burst
        for account in self.accounts.values():
            if message_rate is None:
                account.bucket = None
            elif account.bucket is None:
                account.bucket = TokenBucket(message_rate, message_burst)
            else:
                account.bucket.rate = message_rate
                account.bucket.burst = message_burst
                account.bucket.tokens = min(account.bucket.tokens, message_burst)

    def set_default_channel(self, name: str) -> Channel:
        """Make ``#name`` the home channel (created if needed): new sessions land in it.

        Everyone online joins it and is told. The old home channel stays, as an
        ordinary channel. Raises :class:`HubError` for an invalid name or a
        private channel.
        """
        name = self._check_channel_name(name)
        channel = self._find_channel(name)
        if channel is self.default_channel:
            return channel
        if channel is None:
            channel = self._new_channel(name, owner=None)
            self._record(ChannelChanged(channel))
        elif channel.private:
            raise HubError(
                f"#{channel.name} is a private channel, so it cannot be the home channel"
            )
        self.default_channel = channel
        for account in self.accounts.values():
            if account.online:
                if account.login not in channel.members:
                    self._add_member(channel, account, announce=False)
                self._send_to_accounts(
                    [account], Notice(f"#{channel.name} is now the home channel; you are in it.")
                )
        return channel

    def _add_account(self, login: str, admin: bool) -> Account:
        account = Account(login=login, nick=login, admin=admin)
        if self.message_rate is not None:  # None: no rate limit (unit tests, trusted front ends)
            account.bucket = TokenBucket(self.message_rate, self.message_burst)
        # A nick that looks like the new login would make messages go astray.
        key = confusable_key(login)
        for other in self.accounts.values():
            if other.nick != other.login and confusable_key(other.nick) == key:
                old, other.nick = other.nick, other.login
                event = Presence(PresenceKind.NICK, other.login, old, detail=other.nick)
                self._send_to_channels(other.channels.values(), event, also=[other])
                self._send_to_accounts(
                    [other],
                    Notice(
                        f"{old} is now the name of a new account, so you are {other.nick} again."
                    ),
                )
        self.accounts[login] = account
        return account

    def _remove_account(self, account: Account, reason: str) -> None:
        login = account.login
        for client in list(account.clients):
            client.sink.close(reason)
        for client in list(account.clients):  # a sink that did not leave at once
            self.disconnect(client)
        del self.accounts[login]
        for channel in self.channels.values():
            touched = login in channel.invited or login in channel.ops or channel.owner == login
            channel.invited.discard(login)
            channel.ops.discard(login)
            channel.members.pop(login, None)
            if channel.owner == login:
                channel.owner = None
            if touched:
                self._record(ChannelChanged(channel))
        for other in self.accounts.values():
            if other.last_pm_from == login:
                other.last_pm_from = None
            if login in other.ignored:
                other.ignored.discard(login)
                self._record(AccountChanged(other))
        self._record(AccountRemoved(login))

    # -- internals -------------------------------------------------------------

    def _clean_text(self, text: str) -> str:
        text = sanitize(text)
        if not text:
            raise HubError("nothing to send")
        if len(text) > self.max_text:
            raise HubError(
                f"message too long ({len(text)} characters, the limit is {self.max_text}); not sent"
            )
        return text

    def _check_channel_name(self, name: str) -> str:
        name = strip_channel_prefix(sanitize(name))
        if not valid_name(name):
            raise HubError(f"{name!r} is not a valid channel name: {NAME_RULE}")
        return name

    def _find_channel(self, name: str) -> Channel | None:
        return self.channels.get(name.casefold())

    def _new_channel(self, name: str, *, owner: str | None, private: bool = False) -> Channel:
        channel = Channel(name=name, owner=owner, private=private)
        self.channels[name.casefold()] = channel
        return channel

    def _enter(self, client: Client, channel: Channel) -> None:
        account = client.account
        client.current = channel
        if account.login not in channel.members:
            self._add_member(channel, account)
            self._show_history(client, channel)

    def _add_member(self, channel: Channel, account: Account, *, announce: bool = True) -> None:
        channel.members[account.login] = account
        account.channels[channel.name] = channel
        if announce:
            self._announce(
                [channel],
                Presence(PresenceKind.JOIN, account.login, account.nick, channel=channel.name),
            )

    def _remove_member(self, channel: Channel, account: Account) -> None:
        event = Presence(PresenceKind.LEAVE, account.login, account.nick, channel=channel.name)
        self._announce([channel], event)
        channel.members.pop(account.login, None)
        account.channels.pop(channel.name, None)

    def _announce(
        self, channels: Iterable[Channel], event: Presence, *, skip: Account | None = None
    ) -> None:
        """Presence noise: a line each in small channels, summarised in big ones.

        In a channel of more than ``presence_summary_over`` members a line per
        arrival would make a mass reconnect cost N² lines; there the names are
        collected and :meth:`flush_presence` sends one summary per kind.
        """
        small = []
        for channel in channels:
            if self.presence_summary_over and len(channel.members) > self.presence_summary_over:
                channel.presence_pending.append((event.kind, event.nick))
                self._presence_due = True
            else:
                small.append(channel)
        if small:
            self._send_to_channels(small, event, skip=skip)

    def flush_presence(self) -> None:
        """Send the summaries collected by :meth:`_announce` (the server calls this each second)."""
        if not self._presence_due:
            return
        self._presence_due = False
        for channel in self.channels.values():
            if not channel.presence_pending:
                continue
            pending, channel.presence_pending = channel.presence_pending, []
            by_kind: dict[PresenceKind, list[str]] = {}
            for kind, nick in pending:
                by_kind.setdefault(kind, []).append(nick)
            for kind, nicks in by_kind.items():
                summary = PresenceSummary(
                    channel.name, kind, tuple(nicks[:SUMMARY_NAMES]), len(nicks)
                )
                self._send_to_accounts(channel.members.values(), summary)

    def _send_to_accounts(self, accounts: Iterable[Account], event: Event) -> None:
        sender = getattr(event, "sender", None)
        if isinstance(event, Broadcast):
            sender = None  # an admin's broadcast cannot be ignored
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
        self.stats.deliveries += delivered

    def _send_to_channels(
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
        for account in itertools.chain(also, *(c.members.values() for c in channels)):
            if account is skip or account.login in seen:
                continue
            seen.add(account.login)
            recipients.append(account)
        self._send_to_accounts(recipients, event)
