"""Talking: channel lines, private messages and broadcasts (the hot path)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sshchat.core.events import Broadcast, ChatMessage, PrivateMessage, RecipientOffline
from sshchat.core.facts import Broadcasted, Fact, MessageSaid, PrivateMessageSent
from sshchat.core.model import MAX_PENDING, Account, Client
from sshchat.core.part import Part
from sshchat.core.refusals import (
    AdminsOnly,
    MessageTooLong,
    NoOneToReply,
    NoSuchUser,
    NothingToSend,
    NotInChannel,
    PasteTooLong,
    PendingFull,
)
from sshchat.core.text import sanitize, sanitize_lines

__all__ = ["Messaging"]


class Messaging(Part):
    """Decides and applies what is said. One fact per line, one event per recipient set."""

    # -- deciding ------------------------------------------------------------

    def say(self, client: Client, text: str, action: bool) -> MessageSaid:
        text = self.clean(text)
        channel = client.current
        account = client.account
        if account.login not in channel.members:  # pragma: no cover - defensive
            raise NotInChannel(channel.name)
        return MessageSaid(
            self.ids(), self.clock(), channel.name, account.login, account.nick, text, action
        )

    def private_message(self, client: Client, target: str, text: str) -> PrivateMessageSent:
        text = self.clean(text)
        recipient = self.state.find_account(target)
        if recipient is None:
            raise NoSuchUser(sanitize(target))
        if not recipient.online and len(recipient.pending) >= MAX_PENDING:
            # Refused, rather than silently dropping an older message.
            raise PendingFull(recipient.nick, MAX_PENDING)
        sender = client.account
        return PrivateMessageSent(
            self.ids(),
            self.clock(),
            client.id,
            sender.login,
            sender.nick,
            recipient.login,
            recipient.nick,
            text,
            not recipient.online,
        )

    def reply_target(self, client: Client) -> Account:
        last = client.account.last_pm_from
        account = self.state.accounts.get(last) if last is not None else None
        if account is None:
            raise NoOneToReply()
        return account

    def broadcast(self, client: Client, text: str) -> Broadcasted:
        account = client.account
        if not account.admin:
            raise AdminsOnly("broadcast")
        text = self.clean(text)
        return Broadcasted(self.ids(), self.clock(), account.login, account.nick, text)

    def clean(self, text: str) -> str:
        """``text`` sanitised, or a refusal (empty, too long, too many lines).

        Text with line breaks (a paste) stays one message of several lines
        (joined by ``\n``), at most ``max_paste_lines`` of them, each within
        the longest line allowed; more is refused whole, never cut.
        """
        limit = self.state.settings.max_text
        if "\n" in text or "\r" in text:
            lines = sanitize_lines(text)
            if len(lines) > 1:
                most = self.state.settings.max_paste_lines
                if len(lines) > most:
                    raise PasteTooLong(len(lines), most)
                longest = max(len(line) for line in lines)
                if longest > limit:
                    raise MessageTooLong(longest, limit)
                return "\n".join(lines)
            text = lines[0] if lines else ""
        text = sanitize(text)
        if not text:
            raise NothingToSend()
        if len(text) > limit:
            raise MessageTooLong(len(text), limit)
        return text

    # -- applying --------------------------------------------------------------

    def appliers(self) -> dict[type[Fact], Callable[[Any], None]]:
        return {
            MessageSaid: self._said,
            PrivateMessageSent: self._private,
            Broadcasted: self._broadcast,
        }

    def _said(self, fact: MessageSaid) -> None:
        channel = self.state.channels.get(fact.channel.casefold())
        if channel is None:
            return
        event = ChatMessage(fact.channel, fact.sender, fact.nick, fact.text, fact.action, fact.time)
        self.state.stats.messages += 1
        channel.history.append(event)
        self.delivery.to_accounts(channel.online.values(), event)

    def _private(self, fact: PrivateMessageSent) -> None:
        accounts = self.state.accounts
        recipient = accounts.get(fact.recipient)
        if recipient is None:
            return
        sender = accounts.get(fact.sender)
        event = PrivateMessage(
            fact.sender,
            fact.sender_nick,
            fact.recipient,
            fact.recipient_nick,
            fact.text,
            False,
            fact.time,
        )
        self.state.stats.messages += 1
        # An ignored sender is told nothing different (the message seems to go),
        # but it is neither shown nor kept for later, nor what /reply answers.
        ignored = fact.sender in recipient.ignored
        if not ignored:
            recipient.last_pm_from = fact.sender
        to = [] if sender is None else [sender]
        if fact.queued:
            if not ignored:
                recipient.pending.append(event)
            self.delivery.to_accounts(to, event)
            sink = self.state.sinks.get(fact.session)
            if sink is not None:
                sink.deliver(RecipientOffline(fact.recipient_nick, fact.time))
        else:
            if recipient is not sender:
                to.append(recipient)
            self.delivery.to_accounts(to, event)

    def _broadcast(self, fact: Broadcasted) -> None:
        event = Broadcast(fact.sender, fact.nick, fact.text, fact.time)
        self.state.stats.messages += 1
        online = [a for a in self.state.accounts.values() if a.online]
        self.delivery.to_accounts(online, event)
