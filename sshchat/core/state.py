"""The hub's state, shared by its parts: accounts, channels, sessions, settings.

Only applying facts changes what is here (besides start-up restoring and the
local settings); every part of the hub reads it through one :class:`HubState`
it is given, instead of reaching into a mixin's undeclared attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sshchat.core.model import (
    DEFAULT_COMMAND_BURST,
    DEFAULT_MAX_CHANNELS_PER_USER,
    DEFAULT_MAX_PASTE_LINES,
    DEFAULT_MAX_TEXT,
    Account,
    Channel,
    Client,
    Sink,
)
from sshchat.core.stats import Stats
from sshchat.core.text import sanitize

__all__ = ["HubState", "Settings"]


@dataclass
class Settings:
    """Limits from the configuration; local to this process (not facts)."""

    max_text: int = DEFAULT_MAX_TEXT
    message_rate: float | None = None
    message_burst: int = 15
    command_rate: float | None = None
    command_burst: int = DEFAULT_COMMAND_BURST
    max_paste_lines: int = DEFAULT_MAX_PASTE_LINES
    history_lines: int = 50
    presence_summary_over: int = 50
    max_channels_per_user: int = DEFAULT_MAX_CHANNELS_PER_USER


@dataclass(eq=False)
class HubState:
    """Everything the hub knows. ``sinks`` maps this process's session ids to their sinks."""

    default_channel: Channel
    settings: Settings = field(default_factory=Settings)
    stats: Stats = field(default_factory=Stats)
    accounts: dict[str, Account] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)  # by case-folded name
    sessions: dict[str, Client] = field(default_factory=dict)
    sinks: dict[str, Sink] = field(default_factory=dict)
    presence_due: bool = False
    # Cluster mode (facts applied later, by a replicated log): sessions of this
    # process whose SessionOpened is not applied yet (local), and the session-id
    # prefixes of nodes declared gone (durable: a late SessionOpened of theirs is refused).
    pending: dict[str, Client] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.channels[self.default_channel.name.casefold()] = self.default_channel

    def find_channel(self, name: str) -> Channel | None:
        return self.channels.get(name.casefold())

    def new_channel(
        self, name: str, *, owner: str | None, created: float, private: bool = False
    ) -> Channel:
        channel = Channel(name=name, owner=owner, private=private, created=created)
        self.channels[name.casefold()] = channel
        return channel

    # -- membership: the only code that changes ``members``/``online`` ---------
    # Keeps three views in step: ``channel.members``, ``account.channels`` and
    # ``channel.online`` (members with a session). Called while applying facts
    # (and by start-up restoring), never while deciding.

    def add_member(self, channel: Channel, account: Account) -> None:
        login = account.login
        channel.members[login] = account
        account.channels[channel.name] = channel
        if account.clients:
            channel.online[login] = account

    def remove_member(self, channel: Channel, account: Account) -> None:
        """End a membership; the account's sessions there go back to the home channel."""
        login = account.login
        channel.members.pop(login, None)
        channel.online.pop(login, None)
        account.channels.pop(channel.name, None)
        if account.last_channel is not None and account.last_channel == channel.name:
            account.last_channel = None
        home = self.default_channel
        for client in account.clients:
            if client.current is channel:
                client.current = home
            client.shown.discard(channel.name.casefold())

    def went_online(self, account: Account) -> None:
        """The account's first session opened: it reads its channels again."""
        for channel in account.channels.values():
            channel.online[account.login] = account

    def went_offline(self, account: Account) -> None:
        """The account's last session ended: it stays a member, offline."""
        for channel in account.channels.values():
            channel.online.pop(account.login, None)

    def landing(self, account: Account) -> Channel:
        """Where a new session of ``account`` starts: its last channel, else home."""
        name = account.last_channel
        if name is not None:
            channel = account.channels.get(name)
            if channel is not None:
                return channel
        return self.default_channel

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
