"""The chat core: accounts, sessions, channels, presence and message fan-out.

The hub knows nothing about SSH or terminals. A front end calls
:meth:`Hub.connect` with a :class:`Sink` and gets a :class:`Client` back; from
then on it passes the user's actions to the hub and receives
:mod:`~sshchat.core.events` through its sink.

Every action is *decided* (rights and invariants checked against the state,
clock read, ids allocated; a typed :mod:`~sshchat.core.refusals` refusal raised,
or facts returned) and the facts go to the hub's :class:`~sshchat.core.ports.FactLog`,
which hands them back, in order, to :meth:`Hub.apply`. Applying changes the
state and delivers events to this process's sinks; it is deterministic, so a
replicated log can drive several hubs (see :mod:`sshchat.core.facts`). The work
is split between parts that are given what they need: :class:`Sessions`,
:class:`Messaging`, :class:`Channels`, :class:`Identity`, :class:`Moderation`.

All methods are synchronous and cheap; delivery is a non-blocking hand-off to
each recipient's sink, which owns a bounded queue. No I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from sshchat.core.channels import Channels
from sshchat.core.delivery import Delivery, recent_lines
from sshchat.core.digest import state_digest
from sshchat.core.events import (
    ChatMessage,
    History,
    LinesNotSent,
    Notice,
    NoticeKind,
    Overruled,
    PrivateMessage,
    SendingTooFast,
)
from sshchat.core.facts import (
    Fact,
    MessageSaid,
    PrivateMessageSent,
    SessionClosed,
    SessionOpened,
)
from sshchat.core.identity import Identity
from sshchat.core.messaging import Messaging
from sshchat.core.model import (
    DEFAULT_CHANNEL,
    DEFAULT_COMMAND_BURST,
    DEFAULT_HISTORY_LINES,
    DEFAULT_MAX_CHANNELS_PER_USER,
    DEFAULT_MAX_PASTE_LINES,
    DEFAULT_MAX_TEXT,
    DEFAULT_MESSAGE_BURST,
    DEFAULT_PRESENCE_SUMMARY_OVER,
    FOREVER,
    HISTORY_KEEP,
    MAX_REASON,
    MAX_TOPIC,
    Account,
    AccountSync,
    Channel,
    Client,
    HubError,
    ModerationAction,
    Sink,
)
from sshchat.core.moderation import Moderation
from sshchat.core.names import valid_channel_name, valid_name
from sshchat.core.ports import (
    Clock,
    FactLog,
    IdSource,
    InProcessLog,
    ReplicatedLog,
    new_id_source,
    wall_clock,
)
from sshchat.core.prefs import Prefs
from sshchat.core.ratelimit import Budget, TokenBucket
from sshchat.core.refusals import BannedFromServer, RateLimited, SessionGone
from sshchat.core.replication import LogUnavailable, Replication, StateReplaced
from sshchat.core.sessions import Sessions
from sshchat.core.state import HubState, Settings
from sshchat.core.stats import Stats
from sshchat.core.text import sanitize

# Re-exported: front ends and the store import the data model from here.
__all__ = [
    "FOREVER",
    "Account",
    "AccountSync",
    "Channel",
    "Client",
    "Hub",
    "HubError",
    "ModerationAction",
    "Sink",
]

Observer = Callable[[Fact], None]


class _Proposal:
    """A batch this process appended, until it is applied or refused (local bookkeeping).

    ``said``: the batch is only lines said in a channel. Such a batch changes
    nothing that deciding the same session's next line reads, so another line
    said may be decided before it is applied (see :meth:`Hub.has_pending`).
    """

    __slots__ = ("applied", "client", "refused", "said")

    def __init__(self, client: Client | None, said: bool = False) -> None:
        self.client = client
        self.said = said
        self.applied: list[Callable[[], None]] = []
        self.refused: list[Callable[[], None]] = []


class Hub:
    """Owns every account, channel and session; decides, then applies facts."""

    def __init__(
        self,
        accounts: Iterable[tuple[str, bool]],
        *,
        default_channel: str = DEFAULT_CHANNEL,
        max_text: int = DEFAULT_MAX_TEXT,
        message_rate: float | None = None,
        message_burst: int = DEFAULT_MESSAGE_BURST,
        command_rate: float | None = None,
        command_burst: int = DEFAULT_COMMAND_BURST,
        max_paste_lines: int = DEFAULT_MAX_PASTE_LINES,
        history_lines: int = DEFAULT_HISTORY_LINES,
        presence_summary_over: int = DEFAULT_PRESENCE_SUMMARY_OVER,
        max_channels_per_user: int = DEFAULT_MAX_CHANNELS_PER_USER,
        stats: Stats | None = None,
        clock: Clock = wall_clock,
        ids: IdSource | None = None,
        log: FactLog | None = None,
    ) -> None:
        """``accounts`` is ``(login, admin)`` pairs from the config.

        ``history_lines`` is how many earlier lines a user sees on joining a
        channel. ``observers`` (append to it) receive every fact once it is
        applied: the store keeps them, the audit log logs them. ``clock`` and
        ``ids`` serve deciding only; ``log`` defaults to applying at once.
        ``stats`` are the counters to add to (the server's; a new set if None).
        ``message_rate`` / ``command_rate`` None: no such rate limit (unit tests).
        """
        self.clock = clock
        self.ids = ids or new_id_source()
        settings = Settings(
            max_text=max_text,
            message_rate=message_rate,
            message_burst=message_burst,
            command_rate=command_rate,
            command_burst=command_burst,
            max_paste_lines=max_paste_lines,
            history_lines=history_lines,
            presence_summary_over=presence_summary_over,
            max_channels_per_user=max_channels_per_user,
        )
        # Every node of a cluster makes the home channel itself: the same time everywhere.
        replicated = isinstance(log, ReplicatedLog)
        home = Channel(name=default_channel, created=0.0 if replicated else clock())
        self.state = HubState(
            default_channel=home, settings=settings, stats=stats if stats is not None else Stats()
        )
        self.delivery = Delivery(self.state)
        parts: tuple[Any, ...] = (self.state, self.delivery, clock, self.ids)
        self.sessions = Sessions(*parts)
        self.messaging = Messaging(*parts)
        self.channels_part = Channels(*parts, sessions=self.sessions)
        self.identity = Identity(*parts, sessions=self.sessions)
        self.moderation = Moderation(*parts, sessions=self.sessions, identity=self.identity)
        self.replication = Replication(*parts, sessions=self.sessions, identity=self.identity)
        self._appliers: dict[type[Fact], Callable[[Any], None]] = {}
        for part in (
            self.sessions,
            self.messaging,
            self.channels_part,
            self.identity,
            self.moderation,
            self.replication,
        ):
            self._appliers.update(part.appliers())
        self.observers: list[Observer] = []
        self._proposals: dict[str, _Proposal] = {}  # by the id of the batch's last fact
        self._last_proposal = ""
        self._actor: Client | None = None
        self.log: FactLog = log if log is not None else InProcessLog()
        if isinstance(self.log, ReplicatedLog):
            self.log.subscribe_batches(self.apply_batch, self.unsent)
        else:
            self.log.subscribe(self.apply)
        self.sync_accounts(accounts, reason="")

    # -- the state, for readers ----------------------------------------------------

    @property
    def accounts(self) -> dict[str, Account]:
        return self.state.accounts

    @property
    def channels(self) -> dict[str, Channel]:
        return self.state.channels

    @property
    def default_channel(self) -> Channel:
        return self.state.default_channel

    @property
    def stats(self) -> Stats:
        return self.state.stats

    @property
    def max_text(self) -> int:
        return self.state.settings.max_text

    @property
    def message_rate(self) -> float | None:
        return self.state.settings.message_rate

    @property
    def message_burst(self) -> int:
        return self.state.settings.message_burst

    @property
    def max_paste_lines(self) -> int:
        return self.state.settings.max_paste_lines

    @property
    def history_lines(self) -> int:
        return self.state.settings.history_lines

    @property
    def presence_summary_over(self) -> int:
        return self.state.settings.presence_summary_over

    @property
    def max_channels_per_user(self) -> int:
        return self.state.settings.max_channels_per_user

    # -- facts ---------------------------------------------------------------------

    def apply(self, fact: Fact) -> None:
        """Apply one fact: change the state, deliver to local sinks, tell observers.

        Deterministic: reads no clock, draws no random number. Facts about
        accounts, channels or sessions that no longer exist change nothing.
        """
        self._appliers[type(fact)](fact)
        for observer in self.observers:
            observer(fact)
        if fact.id in self._proposals:
            self._settle(fact.id, None)

    def apply_batch(self, facts: Sequence[Fact]) -> None:
        """Apply facts appended together (a replicated log's unit), or refuse them all.

        The batch was decided on some node against that node's state, which
        facts applied since may have changed; :meth:`Replication.conflict`
        checks it again, deterministically, so that every node refuses the same
        batches. The session of this process that proposed a refused batch is
        told why (:class:`~sshchat.core.events.Overruled`); a refused login ends.
        """
        if not facts:
            return
        refusal = self.replication.conflict(facts)
        if refusal is not None:
            self._refuse(facts, refusal)
            return
        proposed_here = facts[-1].id in self._proposals
        for fact in facts:
            if not self.replication.redundant(fact):
                self.apply(fact)
        if not proposed_here:
            self._charge_rate_limit(facts)
        self._settle(facts[-1].id, None)

    def _charge_rate_limit(self, facts: Sequence[Fact]) -> None:
        """Lines a user sent through another node count against their bucket here too.

        So a user's message rate limit holds across the cluster: two sessions
        on two nodes do not double it. The bucket is local (not a fact, not in
        the digest): each node charges the lines it did not admit itself.
        """
        settings = self.state.settings
        if settings.message_rate is None:
            return
        for fact in facts:
            if isinstance(fact, MessageSaid | PrivateMessageSent):
                account = self.state.accounts.get(fact.sender)
                if account is None:
                    continue
                if account.bucket is None:
                    account.bucket = TokenBucket(settings.message_rate, settings.message_burst)
                account.bucket.charge(fact.text.count("\n") + 1)

    def unsent(self, facts: Sequence[Fact], seconds: float, replaced: bool = False) -> None:
        """The replicated log gave up appending ``facts``: tell whoever proposed them.

        ``replaced``: they were lost with the log and decided against a state
        that a re-seed replaced, so they are refused rather than sent again.
        """
        if facts:
            self._refuse(facts, StateReplaced() if replaced else LogUnavailable(seconds))

    def _refuse(self, facts: Sequence[Fact], refusal: HubError) -> None:
        for fact in facts:
            if isinstance(fact, SessionOpened):
                self.replication.refused_login(fact, refusal)
        proposal = self._settle(facts[-1].id, refusal)
        client = proposal.client if proposal is not None else None
        if client is not None and not any(isinstance(f, SessionOpened) for f in facts):
            client.sink.deliver(Overruled(refusal, facts[0].time))

    def _settle(self, key: str, refusal: HubError | None) -> _Proposal | None:
        proposal = self._proposals.pop(key, None)
        if proposal is not None:
            for callback in proposal.refused if refusal is not None else proposal.applied:
                callback()
        return proposal

    def when_applied(
        self, on_applied: Callable[[], None], on_refused: Callable[[], None] | None = None
    ) -> None:
        """Run ``on_applied`` once the last batch this hub appended is applied.

        At once with the in-process log (it applies while appending). With a
        replicated log, later -- or never, if the batch is refused when applied
        (``on_refused`` then runs, after the proposer was told why): a command
        confirms only what really happened ("Created #x" only to the winner).
        """
        proposal = self._proposals.get(self._last_proposal)
        if proposal is None:
            on_applied()
            return
        proposal.applied.append(on_applied)
        if on_refused is not None:
            proposal.refused.append(on_refused)

    def is_live(self, client: Client) -> bool:
        """Whether ``client``'s session is open (not ended, not waiting for its login to apply)."""
        return self.state.sessions.get(client.id) is client

    def has_pending(self, client: Client, *, saying: bool = False) -> bool:
        """Whether a batch of ``client``'s is appended but not yet applied (cluster mode).

        A front end holds the session's next line until it is not, so that a
        user's commands take effect in the order typed ("/join x" then "hi").

        ``saying``: the next line is a plain line said in the current channel.
        It need not wait for lines said before it: they change nothing its
        decision reads, and this node appends its batches in order, so the log
        keeps them in the order typed. Without this a session could say one
        line per round trip to the log, which capped a cluster node's
        throughput (see bench/RESULTS.md, branch cperf).
        """
        return any(p.client is client and not (saying and p.said) for p in self._proposals.values())

    def _append(self, facts: Sequence[Fact], client: Client | None = None) -> None:
        actor, self._actor = self._actor, None
        if facts:
            key = facts[-1].id
            self._last_proposal = key
            said = all(type(fact) is MessageSaid for fact in facts)
            self._proposals[key] = _Proposal(client or actor, said)
            self.log.append(facts)

    def _live(self, client: Client) -> None:
        if self.state.sessions.get(client.id) is not client:
            raise SessionGone()
        self._actor = client  # whose action the next append is (see _append)

    def _speaking(self, client: Client, action: str = "message") -> list[Fact]:
        """Refuse ``action`` (text others would see) while muted; facts if a mute ran out."""
        return self.moderation.mute_check(client.account, action)

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
        refusal = self.ban_refusal(login)
        if refusal is not None:
            raise refusal
        session, facts = self.sessions.open(
            login, sink, key_fingerprint=key_fingerprint, source=source
        )
        self._append(facts)
        client = self.state.sessions.get(session)
        if client is not None:
            return client
        if session not in self.state.sinks:  # refused at once
            raise SessionGone()
        # A replicated log applies later: the session is "pending" until its
        # SessionOpened comes back (see is_live, when_applied); applying it
        # adopts this very object, so the front end keeps one Client.
        opened = facts[-1]
        assert isinstance(opened, SessionOpened)
        client = Client(
            id=session,
            account=self.state.accounts[login],
            sink=sink,
            current=self.state.default_channel,
            connected_at=opened.time,
            key_fingerprint=key_fingerprint,
            source=source,
        )
        self.state.pending[session] = client
        return client

    def disconnect(self, client: Client) -> None:
        """Forget a session. The account goes offline with its last session."""
        if client.id in self.state.pending:  # its login is not applied yet: close it after
            self.state.sinks.pop(client.id, None)
            del self.state.pending[client.id]
            self._append([SessionClosed(self.ids(), self.clock(), client.id, client.account.login)])
            return
        self._append(self.sessions.close(client))

    def set_away(self, client: Client, reason: str) -> None:
        """Mark the account away; a reason is text others see, so a mute refuses it."""
        self._live(client)
        expired = self._speaking(client, "away") if sanitize(reason) else []
        self._append([*expired, *self.sessions.away(client, reason)])

    def set_back(self, client: Client) -> None:
        self._live(client)
        self._append(self.sessions.back(client))

    # -- talking -----------------------------------------------------------

    def admit_line(self, client: Client) -> bool:
        """Apply the account's message rate limit to one typed line (local, not a fact).

        The first refused line of a streak tells the user why; the first line
        let through afterwards says how many were not sent.
        """
        account = client.account
        settings = self.state.settings
        if account.bucket is None and settings.message_rate is not None:
            account.bucket = TokenBucket(settings.message_rate, settings.message_burst)
        if account.bucket is None or account.bucket.take():
            if account.lines_refused:
                refused, account.lines_refused = account.lines_refused, 0
                client.sink.deliver(LinesNotSent(refused, self.clock()))
            return True
        account.lines_refused += 1
        self.state.stats.lines_rate_limited += 1
        if account.lines_refused == 1:
            rate = settings.message_rate or 0.0
            client.sink.deliver(SendingTooFast(settings.message_burst, rate, self.clock()))
        return False

    def admit(self, client: Client, budget: Budget, cost: float = 1.0) -> None:
        """Count one input against the account's ``budget`` (local, not a fact).

        Raises :class:`~sshchat.core.refusals.RateLimited` (with the limit and
        how long to wait) when it is used up; the caller says so, every time:
        unlike chat lines, a refused command is never passed over in silence.
        ``cost`` above 1 is a multi-line paste: see :meth:`TokenBucket.spend`.
        """
        bucket, burst, rate = self._budget(client.account, budget)
        if bucket is None:
            return
        if bucket.spend(cost) if cost > 1 else bucket.take():
            return
        if budget is Budget.MESSAGES:
            self.state.stats.lines_rate_limited += 1
        raise RateLimited(budget.value, burst, rate, bucket.wait_time(min(cost, 1.0)))

    def wait_time(self, client: Client, budget: Budget, cost: float = 1.0) -> float:
        """Seconds until ``budget`` lets an input of ``cost`` through (0: now)."""
        bucket, _, _ = self._budget(client.account, budget)
        return 0.0 if bucket is None else bucket.wait_time(min(cost, 1.0))

    def _budget(self, account: Account, budget: Budget) -> tuple[TokenBucket | None, int, float]:
        settings = self.state.settings
        if budget is Budget.MESSAGES:
            if account.bucket is None and settings.message_rate is not None:
                account.bucket = TokenBucket(settings.message_rate, settings.message_burst)
            return account.bucket, settings.message_burst, settings.message_rate or 0.0
        if account.command_bucket is None and settings.command_rate is not None:
            account.command_bucket = TokenBucket(settings.command_rate, settings.command_burst)
        return account.command_bucket, settings.command_burst, settings.command_rate or 0.0

    def say(self, client: Client, text: str, *, action: bool = False) -> None:
        """Send ``text`` to the client's current channel."""
        self._live(client)
        expired = self._speaking(client)
        fact = self.messaging.say(client, text, action)
        self._append([*expired, fact] if expired else (fact,), client)

    def private_message(self, client: Client, target: str, text: str) -> Account:
        """Send a private message to the user called ``target`` (nick or login).

        An offline recipient gets it at their next login. At most
        :data:`MAX_PENDING` wait for them: beyond that the message is refused
        and its sender told, rather than silently dropping an older one.
        """
        self._live(client)
        expired = self._speaking(client)
        fact = self.messaging.private_message(client, target, text)
        self._append([*expired, fact], client)
        return self.state.accounts[fact.recipient]

    def reply(self, client: Client, text: str) -> Account:
        """Answer the last private message this account received."""
        recipient = self.messaging.reply_target(client)
        return self.private_message(client, recipient.nick, text)

    def broadcast(self, client: Client, text: str) -> None:
        """An admin's message to every online user."""
        self._live(client)
        fact = self.messaging.broadcast(client, text)
        self._append([*self._speaking(client), fact])

    def history(self, client: Client, count: int) -> None:
        """Show the last ``count`` lines of the client's current channel.

        Lines of users the account ignores are left out (and not counted).
        """
        channel = client.current
        count = max(1, min(count, HISTORY_KEEP))
        lines = recent_lines(channel, count, client.account.ignored)
        client.sink.deliver(History(channel.name, lines, self.clock()))

    # -- channels ------------------------------------------------------------

    def create_channel(self, client: Client, name: str, *, private: bool = False) -> Channel:
        """Create a channel owned by the client's account and enter it."""
        self._live(client)
        expired = self._speaking(client, "create")
        facts = self.channels_part.create(client, name, private=private)
        self._append([*expired, *facts], client)
        return client.current

    def join(self, client: Client, name: str) -> Channel:
        """Enter an existing channel, or switch to it if already a member."""
        self._live(client)
        self._append(self.channels_part.join(client, name), client)
        return client.current

    def drop_channel(self, client: Client, name: str | None = None) -> Channel:
        """Remove ``#name`` (default: the current channel) and its history; owner or admin.

        Its members are moved to the home channel and told; the home channel
        cannot be dropped. Returns the channel as it was (with its members).
        """
        self._live(client)
        facts = self.channels_part.drop(client, name)
        channel = self.state.channels[facts[0].channel.casefold()]  # type: ignore[attr-defined]
        gone = Channel(channel.name, channel.owner, channel.private, members=dict(channel.members))
        self._append(facts)
        return gone

    def leave(self, client: Client) -> Channel:
        """Leave the current channel and return to the default one."""
        self._live(client)
        channel = client.current
        self._append(self.channels_part.leave(client))
        return channel

    def invite(self, client: Client, target: str) -> Account:
        """Let ``target`` into the client's current channel."""
        self._live(client)
        expired = self._speaking(client, "invite")
        facts = self.channels_part.invite(client, target)
        self._append([*expired, *facts])
        return self.state.accounts[facts[0].login]  # type: ignore[attr-defined]

    def set_default_channel(self, name: str) -> Channel:
        """Make ``#name`` the home channel (created if needed): new sessions land in it.

        Everyone online joins it and is told. The old home channel stays, as an
        ordinary channel. Raises a refusal for an invalid name or a private channel.
        """
        self._append(self.channels_part.set_home(name))
        return self.state.default_channel

    # -- identity, preferences and ignores --------------------------------------

    def set_nick(self, client: Client, new: str) -> str:
        """Change the account's display nick; returns the old one."""
        self._live(client)
        old = client.account.nick
        expired = self._speaking(client, "nick")
        self._append([*expired, *self.identity.set_nick(client, new)], client)
        return old

    def set_preference(self, client: Client, key: str, value: bool | str) -> None:
        """Change one of the account's :class:`Prefs` (``quiet``, ``bell``, ...)."""
        self._live(client)
        self._append(self.identity.set_preference(client, key, value))

    def ignore(self, client: Client, target: str) -> Account:
        """Hide ``target``'s messages from this account."""
        self._live(client)
        facts = self.identity.ignore(client, target)
        self._append(facts)
        return self.state.accounts[facts[0].other]  # type: ignore[attr-defined]

    def unignore(self, client: Client, target: str) -> Account:
        self._live(client)
        facts = self.identity.unignore(client, target)
        self._append(facts)
        return self.state.accounts[facts[0].other]  # type: ignore[attr-defined]

    def find_account(self, name: str) -> Account | None:
        """The account whose nick or login name is ``name`` (case-insensitive)."""
        return self.state.find_account(name)

    def sync_accounts(self, accounts: Iterable[tuple[str, bool]], reason: str) -> AccountSync:
        """Make the accounts match ``accounts``: ``(login, admin)`` pairs from the config.

        This is the one place accounts are added and removed (the constructor
        calls it too; a config reload calls it again). A changed admin flag
        applies at once and the user's sessions are told. An account no longer
        listed is removed: its sessions end with ``reason`` and everything kept
        about it is forgotten. No I/O.
        """
        facts, sync = self.identity.sync(accounts, reason)
        self._append(facts)
        self._ensure_buckets()
        return sync

    # -- moderation ------------------------------------------------------------

    def set_topic(self, client: Client, topic: str) -> Channel:
        """Set (or with "" clear) the current channel's topic; owner, ops, admins."""
        self._live(client)
        channel = client.current
        expired = self._speaking(client, "topic")
        self._append([*expired, *self.moderation.set_topic(client, topic)])
        return channel

    def set_op(self, client: Client, target: str, *, op: bool) -> Account:
        """Make ``target`` an operator of the current channel, or stop it; owner or admin."""
        self._live(client)
        who, facts = self.moderation.set_op(client, target, op=op)
        self._append(facts)
        return who

    def kick(self, client: Client, target: str, reason: str = "") -> Account:
        """Remove ``target`` from the current channel; owner, ops and admins."""
        self._live(client)
        expired = self._speaking(client, "kick") if sanitize(reason) else []
        who, facts = self.moderation.kick(client, target, reason)
        self._append([*expired, *facts])
        return who

    def ban(self, client: Client, target: str, seconds: float | None, reason: str) -> Account:
        """Admins: end ``target``'s sessions and refuse their logins until it expires."""
        self._live(client)
        who, facts = self.moderation.ban(client, target, seconds, reason)
        self._append(facts)
        return who

    def unban(self, client: Client, target: str) -> Account:
        self._live(client)
        who, facts = self.moderation.unban(client, target)
        self._append(facts)
        return who

    def mute(self, client: Client, target: str, seconds: float | None) -> Account:
        """Admins: ``target`` may read but not send messages until it expires."""
        self._live(client)
        who, facts = self.moderation.mute(client, target, seconds)
        self._append(facts)
        return who

    def unmute(self, client: Client, target: str) -> Account:
        self._live(client)
        who, facts = self.moderation.unmute(client, target)
        self._append(facts)
        return who

    def ban_refusal(self, login: str) -> BannedFromServer | None:
        """Why ``login`` may not log in now, or None. A ban that ran out is lifted (a fact)."""
        account = self.state.accounts.get(login)
        if account is None:
            return None
        facts, refusal = self.moderation.ban_state(account)
        self._append(facts)
        return refusal

    # -- queries and local output ------------------------------------------------

    def visible_channels(self, account: Account) -> list[Channel]:
        return sorted(
            (c for c in self.state.channels.values() if c.visible_to(account)),
            key=lambda c: c.name,
        )

    def notify(self, client: Client, text: str, *, error: bool = False) -> None:
        """Tell one session something (command output, errors)."""
        kind = NoticeKind.ERROR if error else NoticeKind.INFO
        client.sink.deliver(Notice(text, kind, self.clock()))

    def online_clients(self) -> Iterator[Client]:
        for account in self.state.accounts.values():
            yield from account.clients

    def flush_presence(self) -> None:
        """Send the presence summaries of big channels (the server calls this each second)."""
        self.delivery.flush_presence(self.clock())

    # -- configuration (local to this process, not facts) ------------------------

    def set_limits(
        self,
        *,
        max_text: int,
        message_rate: float | None,
        message_burst: int,
        presence_summary_over: int,
        command_rate: float | None = None,
        command_burst: int = DEFAULT_COMMAND_BURST,
        max_paste_lines: int = DEFAULT_MAX_PASTE_LINES,
        max_channels_per_user: int | None = None,
    ) -> None:
        """Change the longest line, the rate limits, the paste size, the presence summary
        and (unless None) how many channels a user may own."""
        settings = self.state.settings
        settings.max_text = max_text
        if max_channels_per_user is not None:
            settings.max_channels_per_user = max_channels_per_user
        settings.presence_summary_over = presence_summary_over
        settings.message_rate = message_rate
        settings.message_burst = message_burst
        settings.command_rate = command_rate
        settings.command_burst = command_burst
        settings.max_paste_lines = max_paste_lines
        for account in self.state.accounts.values():
            account.bucket = _retuned(account.bucket, message_rate, message_burst)
            account.command_bucket = _retuned(account.command_bucket, command_rate, command_burst)
        self._ensure_buckets()

    def _ensure_buckets(self) -> None:
        # A rate of None: no such limit (unit tests, trusted front ends).
        settings = self.state.settings
        for account in self.state.accounts.values():
            if account.bucket is None and settings.message_rate is not None:
                account.bucket = TokenBucket(settings.message_rate, settings.message_burst)
            if account.command_bucket is None and settings.command_rate is not None:
                account.command_bucket = TokenBucket(settings.command_rate, settings.command_burst)

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

        Not a fact: the store keeps state, not the log. Owner, ops and
        invitations of accounts no longer configured are dropped; the home
        channel is never private. None (and nothing done) for an invalid name.
        """
        if not valid_channel_name(name):
            return None
        state = self.state
        channel = state.find_channel(name) or state.new_channel(
            name, owner=None, created=self.clock() if created is None else created
        )
        channel.owner = owner if owner in state.accounts else None
        channel.private = private and channel is not state.default_channel
        channel.topic = sanitize(topic)[:MAX_TOPIC]
        if created is not None:
            channel.created = created
        channel.ops = {login for login in ops if login in state.accounts}
        channel.invited = {login for login in invited if login in state.accounts}
        return channel

    def restore_history(self, name: str, lines: Iterable[ChatMessage]) -> Channel | None:
        """Put saved lines (oldest first) back in a channel's history."""
        channel = self.state.find_channel(name)
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
        channels: Iterable[str] = (),
        last_channel: str | None = None,
    ) -> Account | None:
        """Give a configured account its saved state.

        Returns None for a login no longer configured. A saved nick that is no
        longer valid or now clashes with another account (say, one added to
        the config since) is dropped, as are ignores of removed accounts.
        ``channels`` are the account's memberships (call after
        :meth:`restore_channel`): names of channels that no longer exist are
        dropped; ``last_channel`` counts only if it is one of them.
        """
        account = self.state.accounts.get(login)
        if account is None:
            return None
        if nick and valid_name(nick) and self.identity.nick_clash(account, nick) is None:
            account.nick = nick
        account.last_seen = last_seen
        if prefs is not None:
            account.prefs = prefs
        account.ignored = {
            other for other in ignored if other in self.state.accounts and other != login
        }
        account.banned_until = banned_until
        account.ban_reason = ban_reason[:MAX_REASON]
        account.muted_until = muted_until
        account.pending.extend(m for m in pending if m.sender not in account.ignored)
        for name in channels:
            channel = self.state.find_channel(name)
            if channel is not None:
                self.state.add_member(channel, account)
        last = self.state.find_channel(last_channel) if last_channel else None
        account.last_channel = (
            last.name if last is not None and last.name in account.channels else None
        )
        return account

    # -- the digest -----------------------------------------------------------------

    def digest(self) -> str:
        """A stable hash of the durable state: equal for hubs that applied the same facts."""
        return state_digest(self.state)


def _retuned(bucket: TokenBucket | None, rate: float | None, burst: int) -> TokenBucket | None:
    """``bucket`` with a new rate and burst (None: no limit any more), tokens kept."""
    if rate is None or bucket is None:
        return None
    bucket.rate = rate
    bucket.burst = burst
    bucket.tokens = min(bucket.tokens, burst)
    return bucket
