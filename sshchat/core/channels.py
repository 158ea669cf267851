"""Channels: creating, joining, leaving, inviting, and the home channel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sshchat.core.events import ChannelGone, HomeChannelMoved, InvitedTo, Presence, PresenceKind
from sshchat.core.facts import (
    ChannelCreated,
    ChannelDropped,
    Fact,
    HomeChannelSet,
    Invited,
    MemberJoined,
    MemberLeft,
)
from sshchat.core.model import Account, Channel, Client
from sshchat.core.names import valid_name
from sshchat.core.part import Part
from sshchat.core.refusals import (
    AlreadyInChannel,
    AlreadyInvited,
    CannotDropHome,
    CannotLeaveHome,
    ChannelExists,
    ChannelNameUnavailable,
    InvalidChannelName,
    NoSuchChannel,
    NoSuchUser,
    NotChannelOwner,
    NotYourNamespace,
    OnlyOwnerInvites,
    PrivateHomeChannel,
    SlashIsPrivate,
    TooManyChannels,
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
        """A new channel; a private one is called ``LOGIN/NAME`` after its owner.

        A hidden channel's name must not be found out by trying to create it,
        and answering "taken" and "free" alike is impossible in one namespace
        (a free name gets created). So private names live in their owner's
        namespace: nobody else may create any ``alice/...``, whether or not it
        exists, and the answer to ``/create alice/x`` never depends on it.
        """
        account = client.account
        name = strip_channel_prefix(sanitize(name))
        owner, slash, rest = name.partition("/")
        if private:
            if slash:
                if not (valid_name(owner) and valid_name(rest)):
                    raise InvalidChannelName(name)
                if owner.casefold() != account.login.casefold():
                    raise NotYourNamespace(name, account.login)
                name = rest
            name = check_channel_name(name)
            name = f"{account.login}/{name}"
        elif slash:
            raise SlashIsPrivate(name)
        else:
            name = check_channel_name(name)
        existing = self.state.find_channel(name)
        if existing is not None:
            if not existing.visible_to(client.account):
                # /join would say it does not exist: do not send the user there.
                raise ChannelNameUnavailable(name)
            raise ChannelExists(name)
        limit = self.state.settings.max_channels_per_user
        if not account.admin and self.owned(account.login) >= limit:
            # One user once made thousands of channels in seconds: /list became useless.
            raise TooManyChannels(limit)
        login = account.login
        now = self.clock()
        return [
            ChannelCreated(self.ids(), now, name, login, private),
            MemberJoined(self.ids(), now, client.id, login, name),
        ]

    def find(self, account: Account, name: str) -> Channel:
        """The channel ``name`` as ``account`` may see it, or :class:`NoSuchChannel`.

        A private channel may be named without its owner (``secret`` for
        ``bob/secret``) when no channel the account can see has that name and
        just one private one it can see ends in it. Hidden channels are never
        considered, so every answer is the same as for a name that is free.
        """
        name = strip_channel_prefix(sanitize(name))
        channel = self.state.find_channel(name)
        if channel is not None and channel.visible_to(account):
            return channel
        if "/" not in name:
            folded = "/" + name.casefold()
            mine = [
                c
                for c in self.state.channels.values()
                if c.private and c.name.casefold().endswith(folded) and c.visible_to(account)
            ]
            if len(mine) == 1:
                return mine[0]
        raise NoSuchChannel(name)

    def join(self, client: Client, name: str) -> list[Fact]:
        account = client.account
        channel = self.find(account, name)
        return [MemberJoined(self.ids(), self.clock(), client.id, account.login, channel.name)]

    def owned(self, login: str) -> int:
        """How many channels ``login`` owns."""
        return sum(1 for c in self.state.channels.values() if c.owner == login)

    def drop(self, client: Client, name: str | None) -> list[Fact]:
        """Remove a channel (the current one if ``name`` is None); its owner or an admin.

        A channel the user cannot see is answered as if it did not exist.
        """
        account = client.account
        channel = client.current if name is None else self.find(account, name)
        if channel is self.state.default_channel:
            raise CannotDropHome(channel.name)
        if not (account.admin or account.login == channel.owner):
            raise NotChannelOwner(channel.name, "drop")
        return [ChannelDropped(self.ids(), self.clock(), account.login, channel.name)]

    def leave(self, client: Client) -> list[Fact]:
        channel = client.current
        if channel is self.state.default_channel:
            raise CannotLeaveHome(channel.name)
        login = client.account.login
        return [MemberLeft(self.ids(), self.clock(), client.id, login, channel.name)]

    def invite(self, client: Client, target: str) -> list[Fact]:
        channel = client.current
        account = client.account
        if not channel.is_op(account):
            # Invitations carry the inviter's name and are shown to the invitee:
            # only those who run the channel may send them.
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
            ChannelDropped: self._dropped,
        }

    def _created(self, fact: ChannelCreated) -> None:
        owner = fact.owner if fact.owner in self.state.accounts else None
        self.state.new_channel(fact.name, owner=owner, created=fact.time, private=fact.private)

    def _joined(self, fact: MemberJoined) -> None:
        """Enter the channel: a real join (announced, with history) or a switch.

        A switch to a channel whose history this session has not seen yet (one
        the account was in before the session opened) shows that history too.
        """
        client = self.state.sessions.get(fact.session)
        channel = self.state.find_channel(fact.channel)
        if client is None or channel is None:
            return
        account = client.account
        client.current = channel
        account.last_channel = channel.name
        if account.login not in channel.members:
            self.sessions.add_member(channel, account, fact.time)
        elif channel.name.casefold() in client.shown:
            return
        self.delivery.history(client, channel, self.state.settings.history_lines, fact.time)

    def _left(self, fact: MemberLeft) -> None:
        channel = self.state.find_channel(fact.channel)
        account = self.state.accounts.get(fact.login)
        if channel is None or account is None or channel is self.state.default_channel:
            return
        if account.login not in channel.members:
            return
        event = Presence(
            PresenceKind.LEAVE, account.login, account.nick, channel.name, "", fact.time
        )
        self.delivery.announce([channel], event)
        self.state.remove_member(channel, account)

    def _invited(self, fact: Invited) -> None:
        channel = self.state.find_channel(fact.channel)
        invitee = self.state.accounts.get(fact.login)
        if channel is None or invitee is None:
            return
        channel.invited.add(invitee.login)
        actor = self.state.accounts.get(fact.actor)
        by = actor.nick if actor is not None else fact.actor
        event = InvitedTo(by, channel.name, fact.time, sender=fact.actor)
        self.delivery.to_accounts([invitee], event)

    def _dropped(self, fact: ChannelDropped) -> None:
        """Forget the channel; its members' sessions there go to the home channel, told so."""
        state = self.state
        channel = state.find_channel(fact.channel)
        home = state.default_channel
        if channel is None or channel is home:
            return
        actor = state.accounts.get(fact.actor)
        by = actor.nick if actor is not None else fact.actor
        members = list(channel.members.values())
        del state.channels[channel.name.casefold()]
        channel.members.clear()
        channel.presence_pending.clear()
        for account in members:
            account.channels.pop(channel.name, None)
            for client in account.clients:
                if client.current is channel:
                    client.current = home
        told = [a for a in members if a.login != fact.actor]
        self.delivery.to_accounts(told, ChannelGone(channel.name, by, home.name, fact.time))

    def _home(self, fact: HomeChannelSet) -> None:
        channel = self.state.find_channel(fact.channel)
        if channel is None:
            return
        self.state.default_channel = channel
        event = HomeChannelMoved(channel.name, fact.time)
        for account in self.state.accounts.values():
            if account.online:  # offline accounts join it at their next login
                if account.login not in channel.members:
                    self.state.add_member(channel, account)
                self.delivery.to_accounts([account], event)
