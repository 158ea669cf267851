"""Identity: the configured accounts, nicks, preferences and ignores."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from sshchat.core.events import AdminStatus, NickReclaimed, Presence, PresenceKind, SessionEnded
from sshchat.core.facts import (
    AccountAdded,
    AccountRemoved,
    AdminChanged,
    Fact,
    Ignored,
    NickChanged,
    PreferenceSet,
    Unignored,
)
from sshchat.core.model import Account, AccountSync, Client
from sshchat.core.names import valid_name
from sshchat.core.part import Part
from sshchat.core.prefs import BELL_MODES, Prefs
from sshchat.core.refusals import (
    AlreadyIgnored,
    InvalidNick,
    InvalidPreference,
    NickTaken,
    NoSuchUser,
    NotIgnored,
    NotYourself,
)
from sshchat.core.sessions import Sessions
from sshchat.core.text import confusable_key, sanitize

__all__ = ["PREFERENCES", "Identity"]

PREFERENCES: dict[str, type] = {
    f.name: type(getattr(Prefs(), f.name)) for f in dataclasses.fields(Prefs)
}
"""Every preference key and the type of its value."""


class Identity(Part):
    """Accounts come and go with the configuration; users pick nicks, prefs and ignores."""

    def __init__(self, *args: Any, sessions: Sessions) -> None:
        super().__init__(*args)
        self.sessions = sessions

    # -- deciding ------------------------------------------------------------

    def require_account(self, target: str) -> Account:
        who = self.state.find_account(target)
        if who is None:
            raise NoSuchUser(sanitize(target))
        return who

    def nick_taken(self, account: Account, new: str) -> NickTaken | None:
        """Why ``account`` may not be called ``new`` now (taken or a look-alike), or None.

        Asked when deciding, and again when applying in cluster mode, where
        another node may have given the name away in between.
        """
        other = self.nick_clash(account, new)
        if other is None:
            return None
        exact = new.casefold() in (other.login.casefold(), other.nick.casefold())
        return NickTaken(new, other.nick, exact)

    def set_nick(self, client: Client, new: str) -> list[Fact]:
        new = sanitize(new)
        account = client.account
        if not valid_name(new):
            raise InvalidNick(new)
        taken = self.nick_taken(account, new)
        if taken is not None:
            raise taken
        if account.nick == new:
            return []
        return [NickChanged(self.ids(), self.clock(), account.login, account.nick, new, False)]

    def nick_clash(self, account: Account, nick: str) -> Account | None:
        """Another account whose login or nick ``nick`` is, or looks too much like."""
        key = confusable_key(nick)
        for other in self.state.accounts.values():
            if other is not account and key in (
                confusable_key(other.login),
                confusable_key(other.nick),
            ):
                return other
        return None

    def set_preference(self, client: Client, key: str, value: bool | str) -> list[Fact]:
        kind = PREFERENCES.get(key)
        if kind is None or type(value) is not kind or (key == "bell" and value not in BELL_MODES):
            raise InvalidPreference(key, value)
        return [PreferenceSet(self.ids(), self.clock(), client.account.login, key, value)]

    def ignore(self, client: Client, target: str) -> list[Fact]:
        who = self.require_account(target)
        if who is client.account:
            raise NotYourself("ignore")
        if who.login in client.account.ignored:
            raise AlreadyIgnored(who.nick)
        return [Ignored(self.ids(), self.clock(), client.account.login, who.login)]

    def unignore(self, client: Client, target: str) -> list[Fact]:
        who = self.require_account(target)
        if who.login not in client.account.ignored:
            raise NotIgnored(who.nick)
        return [Unignored(self.ids(), self.clock(), client.account.login, who.login)]

    def sync(
        self, accounts: Iterable[tuple[str, bool]], reason: str
    ) -> tuple[list[Fact], AccountSync]:
        """The facts that make the accounts match ``(login, admin)`` pairs from the config.

        Removed accounts first; a nick that looks like a new login goes back to
        its account's login (a :class:`NickChanged` with ``reclaimed``), so that
        messages cannot go astray.
        """
        wanted: dict[str, bool] = {}
        for login, admin in accounts:
            wanted[login] = bool(admin)
        now = self.clock()
        current = self.state.accounts
        removed = [login for login in current if login not in wanted]
        facts: list[Fact] = [AccountRemoved(self.ids(), now, login, reason) for login in removed]
        nicks = {login: a.nick for login, a in current.items() if login in wanted}
        added: list[str] = []
        changed: list[str] = []
        for login, admin in wanted.items():
            account = current.get(login)
            if account is None:
                key = confusable_key(login)
                for other, nick in list(nicks.items()):
                    if nick != other and confusable_key(nick) == key:
                        facts.append(NickChanged(self.ids(), now, other, nick, other, True))
                        nicks[other] = other
                facts.append(AccountAdded(self.ids(), now, login, admin))
                nicks[login] = login
                added.append(login)
            elif account.admin != admin:
                facts.append(AdminChanged(self.ids(), now, login, admin))
                changed.append(login)
        return facts, AccountSync(tuple(added), tuple(removed), tuple(changed))

    # -- applying --------------------------------------------------------------

    def appliers(self) -> dict[type[Fact], Callable[[Any], None]]:
        return {
            NickChanged: self._nick,
            PreferenceSet: self._preference,
            Ignored: self._ignored,
            Unignored: self._unignored,
            AccountAdded: self._added,
            AdminChanged: self._admin,
            AccountRemoved: self._removed,
        }

    def _nick(self, fact: NickChanged) -> None:
        account = self.state.accounts.get(fact.login)
        if account is None:
            return
        account.nick = fact.new
        event = Presence(PresenceKind.NICK, account.login, fact.old, None, fact.new, fact.time)
        self.delivery.to_channels(account.channels.values(), event, also=[account])
        if fact.reclaimed:
            self.delivery.to_accounts([account], NickReclaimed(fact.old, fact.new, fact.time))

    def _preference(self, fact: PreferenceSet) -> None:
        account = self.state.accounts.get(fact.login)
        if account is not None and fact.key in PREFERENCES:
            setattr(account.prefs, fact.key, fact.value)

    def _ignored(self, fact: Ignored) -> None:
        """Ignore ``other`` from now on: their private messages waiting here go too."""
        account = self.state.accounts.get(fact.login)
        if account is not None and fact.other in self.state.accounts:
            account.ignored.add(fact.other)
            kept = [m for m in account.pending if m.sender != fact.other]
            if len(kept) != len(account.pending):
                account.pending.clear()
                account.pending.extend(kept)
            if account.last_pm_from == fact.other:
                account.last_pm_from = None

    def _unignored(self, fact: Unignored) -> None:
        account = self.state.accounts.get(fact.login)
        if account is not None:
            account.ignored.discard(fact.other)

    def _added(self, fact: AccountAdded) -> None:
        if fact.login not in self.state.accounts:
            self.state.accounts[fact.login] = Account(
                login=fact.login, nick=fact.login, admin=fact.admin
            )

    def _admin(self, fact: AdminChanged) -> None:
        account = self.state.accounts.get(fact.login)
        if account is not None:
            account.admin = fact.admin
            self.delivery.to_accounts([account], AdminStatus(fact.admin, fact.time))

    def _removed(self, fact: AccountRemoved) -> None:
        """End the account's sessions, then forget everything kept about it.

        Memberships, channel ownership, ops, invitations and other users'
        ignores go, so that an account added later under the same name starts afresh.
        """
        state = self.state
        account = state.accounts.get(fact.login)
        if account is None:
            return
        login = account.login
        ended = SessionEnded(fact.reason, None, fact.time)
        for client in list(account.clients):
            self.sessions.end(client, fact.time, ended)
        del state.accounts[login]
        for channel in state.channels.values():
            channel.invited.discard(login)
            channel.ops.discard(login)
            if login in channel.members:
                state.remove_member(channel, account)
            if channel.owner == login:
                channel.owner = None
        for other in state.accounts.values():
            if other.last_pm_from == login:
                other.last_pm_from = None
            other.ignored.discard(login)
