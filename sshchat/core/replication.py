"""Applying facts that were decided on another node: re-validation and departed nodes.

With a replicated log (cluster mode) every node decides against its own view
of the state and appends the facts; every node then applies every batch in
the log's order. Two nodes may decide things that cannot both hold (two
users taking the same nick at once): the first batch in the log wins and the
later one is *refused when applied* -- identically on every node, because the
check below reads only the state and the facts, never a clock. The node that
proposed the refused batch tells its user (see ``Hub.apply_batch``).

What is re-checked is what another node can invalidate between deciding and
applying:

* nick uniqueness (:class:`~sshchat.core.facts.NickChanged`) and channel-name
  uniqueness (a user's :class:`~sshchat.core.facts.ChannelCreated`);
* a login (:class:`~sshchat.core.facts.SessionOpened`) of an account banned
  meanwhile, or of a node already declared gone;
* a line (:class:`~sshchat.core.facts.MessageSaid`,
  :class:`~sshchat.core.facts.PrivateMessageSent`) of an account muted meanwhile.

Everything else either cannot conflict or is already applied leniently
(facts about accounts, channels or sessions that no longer exist change nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sshchat.core.events import Overruled, SessionEnded
from sshchat.core.facts import (
    AwaySet,
    ChannelCreated,
    Fact,
    Ignored,
    MemberLeft,
    MessageSaid,
    NickChanged,
    NodeGone,
    PreferenceSet,
    PrivateMessageSent,
    SessionClosed,
    SessionOpened,
    Unignored,
)
from sshchat.core.identity import Identity
from sshchat.core.model import HubError
from sshchat.core.part import Part
from sshchat.core.refusals import (
    BannedFromServer,
    ChannelExists,
    ChannelNameUnavailable,
    Muted,
    Refusal,
    SessionGone,
)
from sshchat.core.sessions import Sessions

__all__ = ["LogUnavailable", "Replication", "StateReplaced", "resendable"]


class LogUnavailable(Refusal):
    """The shared log (Redis) could not be reached for ``seconds``: nothing was sent."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


class StateReplaced(Refusal):
    """Lost with the log, and decided against a state that a re-seed replaced: not re-sent."""


#: Facts that may be appended again after the log lost them even though the
#: state they were decided against was replaced by a re-seed: each is either
#: re-checked when applied (:meth:`Replication.conflict`) or holds whatever
#: the state (a line, a login, a logout, one's own away status, preferences,
#: ignores, leaving a channel). Anything decided on privileges or on what the
#: state said -- moderation, invitations, topics, ops, joining a channel, and
#: nick claims (a reclaim is not re-checked) -- is refused instead: the user is
#: told and can try again against the state everyone now shares.
RESENDABLE: tuple[type[Fact], ...] = (
    SessionOpened,
    SessionClosed,
    MessageSaid,
    PrivateMessageSent,
    AwaySet,
    PreferenceSet,
    Ignored,
    Unignored,
    MemberLeft,
    ChannelCreated,
    NodeGone,
)


def resendable(facts: Sequence[Fact]) -> bool:
    """Whether a batch lost with the log may be appended again after a re-seed.

    Only asked of batches whose node did not supply the new base: the
    winner's own batches were decided against the state everyone now shares.
    """
    return all(isinstance(fact, RESENDABLE) for fact in facts)


class Replication(Part):
    """Re-validates batches at apply time; applies :class:`NodeGone`."""

    def __init__(self, *args: Any, sessions: Sessions, identity: Identity) -> None:
        super().__init__(*args)
        self.sessions = sessions
        self.identity = identity

    # -- re-validation (deterministic: state and facts only) ----------------------

    def conflict(self, facts: Sequence[Fact]) -> HubError | None:
        """Why ``facts`` (one batch) can no longer be applied, or None."""
        state = self.state
        for fact in facts:
            if isinstance(fact, NickChanged) and not fact.reclaimed:
                account = state.accounts.get(fact.login)
                taken = None if account is None else self.identity.nick_taken(account, fact.new)
                if taken is not None:
                    return taken
            elif isinstance(fact, ChannelCreated) and fact.owner is not None:
                existing = state.find_channel(fact.name)
                if existing is not None:
                    owner = state.accounts.get(fact.owner)
                    if owner is not None and not existing.visible_to(owner):
                        return ChannelNameUnavailable(fact.name)
                    return ChannelExists(existing.name)
            elif isinstance(fact, SessionOpened):
                if any(fact.session.startswith(prefix) for prefix in state.gone):
                    return SessionGone()
                account = state.accounts.get(fact.login)
                until = None if account is None else account.banned_until
                if account is not None and until is not None and until > fact.time:
                    return BannedFromServer(until, account.ban_reason)
            elif isinstance(fact, MessageSaid | PrivateMessageSent):
                account = state.accounts.get(fact.sender)
                until = None if account is None else account.muted_until
                if until is not None and until > fact.time:
                    return Muted(until)
        return None

    def redundant(self, fact: Fact) -> bool:
        """A fact two nodes may both decide that must take effect once only.

        The server's own :class:`ChannelCreated` (a new home channel, decided
        by every node that reloads its config) for a channel that exists.
        """
        return (
            isinstance(fact, ChannelCreated)
            and fact.owner is None
            and self.state.find_channel(fact.name) is not None
        )

    def refused_login(self, fact: SessionOpened, refusal: HubError) -> None:
        """A login refused when applied: the waiting session of this process is told and ends."""
        state = self.state
        state.pending.pop(fact.session, None)
        sink = state.sinks.pop(fact.session, None)
        if sink is None:
            return
        if isinstance(refusal, BannedFromServer):
            sink.deliver(SessionEnded(refusal.reason, refusal.until, fact.time))
        else:
            sink.deliver(Overruled(refusal, fact.time))
            sink.deliver(SessionEnded("", None, fact.time))

    # -- applying --------------------------------------------------------------

    def appliers(self) -> dict[type[Fact], Callable[[Any], None]]:
        return {NodeGone: self._gone}

    def _gone(self, fact: NodeGone) -> None:
        """End every session of the departed node, with one disconnect notice per user."""
        state = self.state
        if not fact.prefix:
            return
        state.gone.add(fact.prefix)
        ended = SessionEnded(fact.reason, None, fact.time)
        for session, client in list(state.sessions.items()):
            if session.startswith(fact.prefix):
                self.sessions.end(client, fact.time, ended)
        for session in [s for s in state.pending if s.startswith(fact.prefix)]:
            del state.pending[session]
            sink = state.sinks.pop(session, None)
            if sink is not None:
                sink.deliver(ended)
