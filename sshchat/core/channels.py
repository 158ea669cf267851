"""Channels: creating, joining, leaving, inviting, and the home channel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sshchat.core.events import HomeChannelMoved, InvitedTo, Presence, PresenceKind
from sshchat.core.facts import (
    ChannelCreated,
    Fact,
    HomeChannelSet,
    Invited,
    MemberJoined,
    MemberLeft,
)
from sshchat.core.model import Client
from sshchat.core.names import valid_name
from sshchat.core.part import Part
from sshchat.core.refusals import (
    AlreadyInChannel,
    AlreadyInvited,
    CannotLeaveHome,
    ChannelExists,
    ChannelNameUnavailable,
    InvalidChannelName,
    NoSuchChannel,
    NoSuchUser,
    OnlyOwnerInvites,
    PrivateHomeChannel,
)
from sshchat.core.sessions import Sessions
from sshchat.core.text import sanitize, strip_channel_prefix

__all__ = ["Channels", "check_channel_name"]


def check_channel_name(name: str) -> str:
    name = strip_channel_prefix(sanitize(name))
    if not valid_name(name):
        raise InvalidChannelName(name)
    return name


class Channels(Part):
    """Membership and channel settings other than moderation."""

    def __init__(self, *args: Any, sessions: Sessions) -> None:
        super().__init__(*args)
        self.sessions = sessions

    # -- deciding ------------------------------------------------------------

    def create(self, client: Client, name: str, *, private: bool) -> list[Fact]:
        name = check_channel_name(name)
        existing = self.state.find_channel(name)
        if existing is not None:
            if not existing.visible_to(client.account):
                # /join would say it does not exist: do not send the user there.
                raise ChannelNameUnavailable(name)
            raise ChannelExists(name)
        login = client.account.login
        now = self.clock()
        return [
            ChannelCreated(self.ids(), now, name, login, private),
            MemberJoined(self.ids(), now, client.id, login, name),
        ]

    def join(self, client: Client, name: str) -> list[Fact]:
        name = strip_channel_prefix(sanitize(name))
        channel = self.state.find_channel(name)
        account = client.account
        if channel is None or not channel.visible_to(account):
            raise NoSuchChannel(name)
        return [MemberJoined(self.ids(), self.clock(), client.id, account.login, channel.name)]

    def leave(self, client: Client) -> list[Fact]:
        channel = client.current
        if channel is self.state.default_channel:
            raise CannotLeaveHome(channel.name)
        login = client.account.login
        return [MemberLeft(self.ids(), self.clock(), client.id, login, channel.name)]

    def invite(self, client: Client, target: str) -> list[Fact]:
        channel = client.current
        account = client.account
        if channel.private and not (account.login == channel.owner or account.admin):
            raise OnlyOwnerInvites(channel.name)
        invitee = self.state.find_account(target)
        if invitee is None:
            raise NoSuchUser(sanitize(target))
        if invitee.login in channel.members:
            raise AlreadyInChannel(invitee.nick, channel.name)
        if invitee.login in channel.invited:
            raise AlreadyInvited(invitee.nick, channel.name)
        return [Invited(self.ids(), self.clock(), account.login, invitee.login, channel.name)]

    def set_home(self, name: str) -> list[Fact]:
        name = check_channel_name(name)
        channel = self.state.find_channel(name)
        if channel is self.state.default_channel:
            return []
        now = self.clock()
        facts: list[Fact] = []
        if channel is None:
            facts.append(ChannelCreated(self.ids(), now, name, None, False))
        elif channel.private:
            raise PrivateHomeChannel(channel.name)
        else:
            name = channel.name
        facts.append(HomeChannelSet(self.ids(), now, name))
        return facts

    # -- applying --------------------------------------------------------------

    def appliers(self) -> dict[type[Fact], Callable[[Any], None]]:
        return {
            ChannelCreated: self._created,
            MemberJoined: self._joined,
            MemberLeft: self._left,
            Invited: self._invited,
            HomeChannelSet: self._home,
        }

    def _created(self, fact: ChannelCreated) -> None:
        owner = fact.owner if fact.owner in self.state.accounts else None
        self.state.new_channel(fact.name, owner=owner, created=fact.time, private=fact.private)

    def _joined(self, fact: MemberJoined) -> None:
        client = self.state.sessions.get(fact.session)
        channel = self.state.find_channel(fact.channel)
        if client is None or channel is None:
            return
        account = client.account
        client.current = channel
        if account.login not in channel.members:
            self.sessions.add_member(channel, account, fact.time)
            self.delivery.history(client, channel, self.state.settings.history_lines, fact.time)

    def _left(self, fact: MemberLeft) -> None:
        channel = self.state.find_channel(fact.channel)
        account = self.state.accounts.get(fact.login)
        if channel is None or account is None or channel is self.state.default_channel:
            return
        event = Presence(
            PresenceKind.LEAVE, account.login, account.nick, channel.name, "", fact.time
        )
        self.delivery.announce([channel], event)
        channel.members.pop(account.login, None)
        account.channels.pop(channel.name, None)
        for other in account.clients:
            if other.current is channel:
                other.current = self.state.default_channel

    def _invited(self, fact: Invited) -> None:
        channel = self.state.find_channel(fact.channel)
        invitee = self.state.accounts.get(fact.login)
        if channel is None or invitee is None:
            return
        channel.invited.add(invitee.login)
        actor = self.state.accounts.get(fact.actor)
        by = actor.nick if actor is not None else fact.actor
        self.delivery.to_accounts([invitee], InvitedTo(by, channel.name, fact.time))

    def _home(self, fact: HomeChannelSet) -> None:
        channel = self.state.find_channel(fact.channel)
        if channel is None:
            return
        self.state.default_channel = channel
        event = HomeChannelMoved(channel.name, fact.time)
        for account in self.state.accounts.values():
            if account.online:
                if account.login not in channel.members:
                    self.sessions.add_member(channel, account, fact.time, announce=False)
                self.delivery.to_accounts([account], event)
