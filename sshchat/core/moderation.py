"""Moderation: topics, ops, kicks (channel owners and ops), bans and mutes (admins).

Bans and mutes with a duration run out: whoever next looks (a login, a line
said, an unban) decides, with the clock, that it has, and the hub applies a
:class:`~sshchat.core.facts.BanExpired` / :class:`~sshchat.core.facts.MuteExpired`
fact. Applying never compares deadlines with the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sshchat.core.events import MutedBy, OpChanged, Presence, PresenceKind, SessionEnded, UnmutedBy
from sshchat.core.facts import (
    BanExpired,
    Banned,
    Fact,
    Kicked,
    Muted,
    MuteExpired,
    OpSet,
    TopicSet,
    Unbanned,
    Unmuted,
)
from sshchat.core.identity import Identity
from sshchat.core.model import FOREVER, MAX_REASON, MAX_TOPIC, Account, Client
from sshchat.core.part import Part
from sshchat.core.refusals import (
    AdminsOnly,
    AlreadyOp,
    BannedFromServer,
    HomeChannelNoKick,
    NotAMember,
    NotAnOperator,
    NotAnOpOf,
    NotBanned,
    NotChannelOwner,
    NotMuted,
    NotYourself,
    OwnerCannotBeKicked,
    TopicTooLong,
)
from sshchat.core.refusals import Muted as MutedRefusal
from sshchat.core.sessions import Sessions
from sshchat.core.text import sanitize

__all__ = ["Moderation"]


class Moderation(Part):
    """Channel moderation (owner, ops), server administration (admins)."""

    def __init__(self, *args: Any, sessions: Sessions, identity: Identity) -> None:
        super().__init__(*args)
        self.sessions = sessions
        self.identity = identity

    # -- deciding: channels ----------------------------------------------------

    def set_topic(self, client: Client, topic: str) -> list[Fact]:
        channel = client.current
        account = client.account
        if not channel.is_op(account):
            raise NotAnOperator(channel.name, "topic")
        topic = sanitize(topic)
        if len(topic) > MAX_TOPIC:
            raise TopicTooLong(len(topic), MAX_TOPIC)
        return [TopicSet(self.ids(), self.clock(), account.login, channel.name, topic)]

    def set_op(self, client: Client, target: str, *, op: bool) -> tuple[Account, list[Fact]]:
        channel = client.current
        account = client.account
        if not (account.admin or account.login == channel.owner):
            raise NotChannelOwner(channel.name)
        who = self.identity.require_account(target)
        if not op and who.login not in channel.ops:
            raise NotAnOpOf(who.nick, channel.name)
        if op and who.login in channel.ops:
            raise AlreadyOp(who.nick, channel.name)
        fact = OpSet(self.ids(), self.clock(), account.login, channel.name, who.login, op)
        return who, [fact]

    def kick(self, client: Client, target: str, reason: str) -> tuple[Account, list[Fact]]:
        channel = client.current
        actor = client.account
        if not channel.is_op(actor):
            raise NotAnOperator(channel.name, "kick")
        if channel is self.state.default_channel:
            raise HomeChannelNoKick(channel.name)
        who = self.identity.require_account(target)
        if who.login not in channel.members:
            raise NotAMember(who.nick, channel.name)
        if who.login == channel.owner and not actor.admin:
            raise OwnerCannotBeKicked(who.nick, channel.name)
        reason = sanitize(reason)[:MAX_REASON]
        fact = Kicked(self.ids(), self.clock(), actor.login, channel.name, who.login, reason)
        return who, [fact]

    # -- deciding: the server ----------------------------------------------------

    def ban(
        self, client: Client, target: str, seconds: float | None, reason: str
    ) -> tuple[Account, list[Fact]]:
        actor = self.require_admin(client, "ban")
        who = self.identity.require_account(target)
        if who is actor:
            raise NotYourself("ban")
        reason = sanitize(reason)[:MAX_REASON]
        now = self.clock()
        until = FOREVER if seconds is None else now + seconds
        return who, [Banned(self.ids(), now, actor.login, who.login, until, reason)]

    def unban(self, client: Client, target: str) -> tuple[Account, list[Fact]]:
        actor = self.require_admin(client, "unban")
        who = self.identity.require_account(target)
        facts, refusal = self.ban_state(who)
        if refusal is None:
            raise NotBanned(who.nick)
        facts.append(Unbanned(self.ids(), self.clock(), actor.login, who.login))
        return who, facts

    def ban_state(self, account: Account) -> tuple[list[Fact], BannedFromServer | None]:
        """Whether ``account`` is banned now, and the fact lifting a ban that ran out."""
        until = account.banned_until
        if until is None:
            return [], None
        now = self.clock()
        if until <= now:
            return [BanExpired(self.ids(), now, account.login)], None
        return [], BannedFromServer(until, account.ban_reason)

    def mute(
        self, client: Client, target: str, seconds: float | None
    ) -> tuple[Account, list[Fact]]:
        actor = self.require_admin(client, "mute")
        who = self.identity.require_account(target)
        if who is actor:
            raise NotYourself("mute")
        now = self.clock()
        until = FOREVER if seconds is None else now + seconds
        return who, [Muted(self.ids(), now, actor.login, who.login, until)]

    def unmute(self, client: Client, target: str) -> tuple[Account, list[Fact]]:
        actor = self.require_admin(client, "unmute")
        who = self.identity.require_account(target)
        if who.muted_until is None or who.muted_until <= self.clock():
            raise NotMuted(who.nick)
        return who, [Unmuted(self.ids(), self.clock(), actor.login, who.login)]

    def mute_check(self, account: Account, action: str = "message") -> list[Fact]:
        """Raise :class:`~sshchat.core.refusals.Muted` while muted; a fact if it ran out.

        A mute silences every text of the user's own that others would see,
        not only chat lines: ``action`` names what was refused, so that the
        user is told what still works (``/away`` without a reason, ``/kick``
        without one).
        """
        until = account.muted_until
        if until is None:
            return []
        now = self.clock()
        if until <= now:
            return [MuteExpired(self.ids(), now, account.login)]
        raise MutedRefusal(until, action)

    def require_admin(self, client: Client, what: str) -> Account:
        if not client.account.admin:
            raise AdminsOnly(what)
        return client.account

    # -- applying --------------------------------------------------------------

    def appliers(self) -> dict[type[Fact], Callable[[Any], None]]:
        return {
            TopicSet: self._topic,
            OpSet: self._op,
            Kicked: self._kicked,
            Banned: self._banned,
            Unbanned: self._unbanned,
            BanExpired: self._unbanned,
            Muted: self._muted,
            Unmuted: self._unmuted,
            MuteExpired: self._unmuted,
        }

    def _nick(self, login: str) -> str:
        account = self.state.accounts.get(login)
        return account.nick if account is not None else login

    def _topic(self, fact: TopicSet) -> None:
        channel = self.state.find_channel(fact.channel)
        if channel is None:
            return
        channel.topic = fact.topic
        event = Presence(
            PresenceKind.TOPIC,
            fact.actor,
            self._nick(fact.actor),
            channel.name,
            fact.topic,
            fact.time,
        )
        self.delivery.to_accounts(channel.online.values(), event)

    def _op(self, fact: OpSet) -> None:
        channel = self.state.find_channel(fact.channel)
        if channel is None or fact.login not in self.state.accounts:
            return
        if fact.op:
            channel.ops.add(fact.login)
        else:
            channel.ops.discard(fact.login)
        event = OpChanged(
            self._nick(fact.login), channel.name, fact.op, self._nick(fact.actor), fact.time
        )
        self.delivery.to_accounts(channel.online.values(), event)

    def _kicked(self, fact: Kicked) -> None:
        channel = self.state.find_channel(fact.channel)
        who = self.state.accounts.get(fact.login)
        if channel is None or who is None:
            return
        by = self._nick(fact.actor)
        event = Presence(
            PresenceKind.KICK, who.login, who.nick, channel.name, fact.reason, fact.time, by
        )
        # Whoever ignores the kicker still learns of the kick, not the kicker's words.
        online = list(channel.online.values())
        hearing = [a for a in online if fact.actor not in a.ignored]
        self.delivery.to_accounts(hearing, event)
        if len(hearing) != len(online):
            bare = Presence(PresenceKind.KICK, who.login, who.nick, channel.name, "", fact.time, by)
            self.delivery.to_accounts([a for a in online if fact.actor in a.ignored], bare)
        self.state.remove_member(channel, who)
        channel.invited.discard(who.login)

    def _banned(self, fact: Banned) -> None:
        """End the sessions; memberships stay (a ban bars the server, kicks bar channels),
        so that a user back from a temporary ban finds their channels as they were."""
        who = self.state.accounts.get(fact.login)
        if who is None:
            return
        who.banned_until = fact.until
        who.ban_reason = fact.reason
        ended = SessionEnded(fact.reason, fact.until, fact.time)
        for client in list(who.clients):
            self.sessions.end(client, fact.time, ended)

    def _unbanned(self, fact: Unbanned | BanExpired) -> None:
        who = self.state.accounts.get(fact.login)
        if who is not None:
            who.banned_until = None
            who.ban_reason = ""

    def _muted(self, fact: Muted) -> None:
        who = self.state.accounts.get(fact.login)
        if who is None:
            return
        who.muted_until = fact.until
        if who.away is not None:
            who.away = ""  # an away reason is text others see: the mute hides it too
        self.delivery.to_accounts([who], MutedBy(self._nick(fact.actor), fact.until, fact.time))

    def _unmuted(self, fact: Unmuted | MuteExpired) -> None:
        who = self.state.accounts.get(fact.login)
        if who is None:
            return
        who.muted_until = None
        if isinstance(fact, Unmuted):
            self.delivery.to_accounts([who], UnmutedBy(self._nick(fact.actor), fact.time))
