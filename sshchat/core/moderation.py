"""Moderation and per-user filters: topics, ops, kicks, bans, mutes, ignores.

A mixin of :class:`~sshchat.core.hub.Hub`: the methods use the hub's delivery and
recording helpers, and stay pure like the rest of the hub (no I/O).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from sshchat.core.events import Notice, Presence, PresenceKind
from sshchat.core.model import (
    FOREVER,
    MAX_REASON,
    MAX_TOPIC,
    Account,
    AccountChanged,
    Channel,
    ChannelChanged,
    Client,
    HubError,
    ModerationAction,
)
from sshchat.core.text import sanitize

if TYPE_CHECKING:
    pass

__all__ = ["ModerationMixin", "until_text"]


class ModerationMixin:
    """Channel moderation (owner, ops), server administration (admins), ignores."""

    def set_topic(self, client: Client, topic: str) -> Channel:
        """Set (or with "" clear) the current channel's topic; owner, ops, admins."""
        channel = client.current
        account = client.account
        if not channel.is_op(account):
            raise HubError(f"only the owner, ops and admins can set the topic of #{channel.name}")
        topic = sanitize(topic)
        if len(topic) > MAX_TOPIC:
            raise HubError(f"topic too long ({len(topic)} characters, the limit is {MAX_TOPIC})")
        channel.topic = topic
        event = Presence(
            PresenceKind.TOPIC, account.login, account.nick, channel=channel.name, detail=topic
        )
        self._send_to_accounts(channel.members.values(), event)
        self._record(ChannelChanged(channel))
        self._record(ModerationAction(account.login, "topic", channel.name, channel.name, topic))
        return channel

    def set_op(self, client: Client, target: str, *, op: bool) -> Account:
        """Make ``target`` an operator of the current channel, or stop it; owner or admin."""
        channel = client.current
        account = client.account
        if not (account.admin or account.login == channel.owner):
            raise HubError(f"only the owner of #{channel.name} (or an admin) can change its ops")
        who = self._require_account(target)
        if op:
            channel.ops.add(who.login)
        elif who.login in channel.ops:
            channel.ops.discard(who.login)
        else:
            raise HubError(f"{who.nick} is not an op of #{channel.name}")
        verb = "is now an op of" if op else "is no longer an op of"
        self._send_to_accounts(
            channel.members.values(), Notice(f"{who.nick} {verb} #{channel.name} ({account.nick})")
        )
        self._record(ChannelChanged(channel))
        self._record(
            ModerationAction(account.login, "op" if op else "deop", who.login, channel.name)
        )
        return who

    def kick(self, client: Client, target: str, reason: str = "") -> Account:
        """Remove ``target`` from the current channel; owner, ops and admins."""
        channel = client.current
        actor = client.account
        if not channel.is_op(actor):
            raise HubError(f"only the owner, ops and admins can kick from #{channel.name}")
        if channel is self.default_channel:
            raise HubError(
                f"#{channel.name} is the home channel: nobody can be kicked from it "
                "(admins can /mute or /ban)"
            )
        who = self._require_account(target)
        if who.login not in channel.members:
            raise HubError(f"{who.nick} is not in #{channel.name}")
        if who.login == channel.owner and not actor.admin:
            raise HubError(f"{who.nick} owns #{channel.name} and cannot be kicked")
        reason = sanitize(reason)[:MAX_REASON]
        detail = f"by {actor.nick}" + (f": {reason}" if reason else "")
        event = Presence(
            PresenceKind.KICK, who.login, who.nick, channel=channel.name, detail=detail
        )
        self._send_to_accounts(channel.members.values(), event)
        channel.members.pop(who.login, None)
        who.channels.pop(channel.name, None)
        channel.invited.discard(who.login)
        for other in who.clients:
            if other.current is channel:
                other.current = self.default_channel
        self._record(ChannelChanged(channel))
        self._record(ModerationAction(actor.login, "kick", who.login, channel.name, reason))
        return who

    def ban(self, client: Client, target: str, seconds: float | None, reason: str) -> Account:
        """Admins: end ``target``'s sessions and refuse their logins until it expires."""
        actor = self._require_admin(client, "ban")
        who = self._require_account(target)
        if who is actor:
            raise HubError("you cannot ban yourself")
        reason = sanitize(reason)[:MAX_REASON]
        who.banned_until = FOREVER if seconds is None else time.time() + seconds
        who.ban_reason = reason
        message = self.ban_message(who.login) or "you are banned"
        for other in list(who.clients):
            other.sink.close(message)
        self._record(AccountChanged(who))
        self._record(
            ModerationAction(actor.login, "ban", who.login, None, reason, who.banned_until)
        )
        return who

    def unban(self, client: Client, target: str) -> Account:
        actor = self._require_admin(client, "unban")
        who = self._require_account(target)
        if self.ban_message(who.login) is None:
            raise HubError(f"{who.nick} is not banned")
        who.banned_until = None
        who.ban_reason = ""
        self._record(AccountChanged(who))
        self._record(ModerationAction(actor.login, "unban", who.login))
        return who

    def ban_message(self, login: str) -> str | None:
        """Why ``login`` may not log in now, or None. Expired bans are lifted here."""
        account = self.accounts.get(login)
        if account is None or account.banned_until is None:
            return None
        if account.banned_until <= time.time():
            account.banned_until = None
            account.ban_reason = ""
            self._record(AccountChanged(account))
            return None
        why = f": {account.ban_reason}" if account.ban_reason else ""
        return f"you are banned from this server {until_text(account.banned_until)}{why}"

    def mute(self, client: Client, target: str, seconds: float | None) -> Account:
        """Admins: ``target`` may read but not send messages until it expires."""
        actor = self._require_admin(client, "mute")
        who = self._require_account(target)
        if who is actor:
            raise HubError("you cannot mute yourself")
        who.muted_until = FOREVER if seconds is None else time.time() + seconds
        self._send_to_accounts(
            [who], Notice(f"You were muted by {actor.nick} {until_text(who.muted_until)}.")
        )
        self._record(AccountChanged(who))
        self._record(ModerationAction(actor.login, "mute", who.login, None, "", who.muted_until))
        return who

    def unmute(self, client: Client, target: str) -> Account:
        actor = self._require_admin(client, "unmute")
        who = self._require_account(target)
        if who.muted_until is None or who.muted_until <= time.time():
            raise HubError(f"{who.nick} is not muted")
        who.muted_until = None
        self._send_to_accounts([who], Notice(f"You were unmuted by {actor.nick}."))
        self._record(AccountChanged(who))
        self._record(ModerationAction(actor.login, "unmute", who.login))
        return who

    def ignore(self, client: Client, target: str) -> Account:
        """Hide ``target``'s messages from this account."""
        who = self._require_account(target)
        if who is client.account:
            raise HubError("you cannot ignore yourself")
        if who.login in client.account.ignored:
            raise HubError(f"you already ignore {who.nick}")
        client.account.ignored.add(who.login)
        self._record(AccountChanged(client.account))
        return who

    def unignore(self, client: Client, target: str) -> Account:
        who = self._require_account(target)
        if who.login not in client.account.ignored:
            raise HubError(f"you do not ignore {who.nick}")
        client.account.ignored.discard(who.login)
        self._record(AccountChanged(client.account))
        return who

    def preferences_changed(self, client: Client) -> None:
        """The account's :class:`~sshchat.core.prefs.Prefs` were changed: keep them."""
        self._record(AccountChanged(client.account))

    def set_preference(self, client: Client, key: str, value: object) -> None:
        """Set one of the account's :class:`~sshchat.core.prefs.Prefs` and keep it."""
        setattr(client.account.prefs, key, value)
        self._record(AccountChanged(client.account))

    def _check_not_muted(self, account: Account) -> None:
        if account.muted_until is None:
            return
        if account.muted_until <= time.time():
            account.muted_until = None
            self._record(AccountChanged(account))
            return
        raise HubError(f"you are muted {until_text(account.muted_until)}; nothing was sent")

    def _require_admin(self, client: Client, what: str) -> Account:
        if not client.account.admin:
            raise HubError(f"/{what} is for admins only")
        return client.account

    def _require_account(self, target: str) -> Account:
        who = self.find_account(target)
        if who is None:
            raise HubError(f"no user called {sanitize(target)!r}; /users lists everyone")
        return who


def until_text(deadline: float) -> str:
    """``for good``, ``for another 30s`` / ``9m`` or ``until 2026-11-25 10:00 UTC``."""
    if deadline == FOREVER:
        return "for good"
    left = max(1, math.ceil(deadline - time.time()))
    if left < 60:
        return f"for another {left}s"
    if left < 3600:
        return f"for another {math.ceil(left / 60)}m"
    return "until " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(deadline))
