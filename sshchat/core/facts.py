"""Facts: every change of the hub's state, as a plain immutable record.

The hub works in two steps. *Deciding* (``Hub.say``, ``Hub.ban``...) checks
rights and invariants against the current state, may read the clock and
allocate ids, and either raises a :class:`~sshchat.core.refusals.Refusal` or
returns facts. *Applying* a fact (``Hub.apply``) changes the state and delivers
events to the sessions of this process; it reads no clock, draws no random
number and uses no process-local counter, so applying the same facts in the
same order to two hubs gives the same state. That is what lets a replicated
log (one stream of facts, applied by every node) drive several hubs later.

A fact holds plain values only (logins, names, text, numbers, booleans),
never an account, channel or session object, and survives :func:`encode` /
:func:`decode` unchanged (bans "for good" are ``math.inf``, kept as such).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from sshchat.core.model import ModerationAction

__all__ = [
    "FACT_TYPES",
    "AccountAdded",
    "AccountRemoved",
    "AdminChanged",
    "AwaySet",
    "BanExpired",
    "Banned",
    "Broadcasted",
    "ChannelCreated",
    "ChannelDropped",
    "Fact",
    "FactDecodeError",
    "HomeChannelSet",
    "Ignored",
    "Invited",
    "Kicked",
    "MemberJoined",
    "MemberLeft",
    "MessageSaid",
    "MuteExpired",
    "Muted",
    "NickChanged",
    "OpSet",
    "PreferenceSet",
    "PrivateMessageSent",
    "SessionClosed",
    "SessionOpened",
    "TopicSet",
    "Unbanned",
    "Unignored",
    "Unmuted",
    "decode",
    "encode",
    "moderation_action",
]


@dataclass(frozen=True, slots=True)
class Fact:
    """Base of every fact: a unique ``id`` and the ``time`` it was decided (Unix seconds)."""

    id: str
    time: float


# -- sessions and presence ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionOpened(Fact):
    """A session of ``login`` connected (``time`` is when).

    ``home`` names the home channel when the account is not yet a member of it
    and joins it with this session (silently: the connect line says it all);
    None when it already is. Decided, so that the store can keep it.
    """

    session: str
    login: str
    source: str
    key_fingerprint: str | None
    home: str | None


@dataclass(frozen=True, slots=True)
class SessionClosed(Fact):
    """A session ended; the account goes offline with its last session."""

    session: str
    login: str


@dataclass(frozen=True, slots=True)
class AwaySet(Fact):
    """``login`` is away for ``reason``, or back (``reason`` None)."""

    login: str
    reason: str | None


# -- messages -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageSaid(Fact):
    """A line said in a channel (``action`` for ``/me``)."""

    channel: str
    sender: str
    nick: str
    text: str
    action: bool


@dataclass(frozen=True, slots=True)
class PrivateMessageSent(Fact):
    """A private message; ``queued`` when the recipient was offline (kept for later).

    ``session`` is the sender's session, told when the message was queued.
    """

    session: str
    sender: str
    sender_nick: str
    recipient: str
    recipient_nick: str
    text: str
    queued: bool


@dataclass(frozen=True, slots=True)
class Broadcasted(Fact):
    """An admin's announcement to every online user."""

    sender: str
    nick: str
    text: str


# -- channels -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelCreated(Fact):
    """A channel was made (``owner`` None: made by the server, e.g. a new home channel)."""

    name: str
    owner: str | None
    private: bool


@dataclass(frozen=True, slots=True)
class MemberJoined(Fact):
    """A session entered ``channel`` (its account joins unless already a member).

    It is also the channel the account's next login lands in (``last_channel``).
    """

    session: str
    login: str
    channel: str


@dataclass(frozen=True, slots=True)
class MemberLeft(Fact):
    """An account left ``channel`` (for good: a disconnect is not leaving); its sessions
    there go back to the home channel."""

    session: str
    login: str
    channel: str


@dataclass(frozen=True, slots=True)
class Invited(Fact):
    """``actor`` let ``login`` into ``channel``."""

    actor: str
    login: str
    channel: str


@dataclass(frozen=True, slots=True)
class ChannelDropped(Fact):
    """``actor`` removed ``channel`` with its history; its members went to the home channel."""

    actor: str
    channel: str


@dataclass(frozen=True, slots=True)
class HomeChannelSet(Fact):
    """``channel`` (which exists) is the home channel from now on."""

    channel: str


@dataclass(frozen=True, slots=True)
class TopicSet(Fact):
    """``actor`` set the topic of ``channel`` ("" clears it)."""

    actor: str
    channel: str
    topic: str


@dataclass(frozen=True, slots=True)
class OpSet(Fact):
    """``actor`` made ``login`` an operator of ``channel`` (``op``) or stopped it."""

    actor: str
    channel: str
    login: str
    op: bool


@dataclass(frozen=True, slots=True)
class Kicked(Fact):
    """``actor`` removed ``login`` from ``channel`` (and withdrew any invitation)."""

    actor: str
    channel: str
    login: str
    reason: str


# -- identity and preferences ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NickChanged(Fact):
    """``login`` is now called ``new``; ``reclaimed`` when a new account took the old nick."""

    login: str
    old: str
    new: str
    reclaimed: bool


@dataclass(frozen=True, slots=True)
class PreferenceSet(Fact):
    """One of ``login``'s :class:`~sshchat.core.prefs.Prefs` fields changed."""

    login: str
    key: str
    value: bool | str


@dataclass(frozen=True, slots=True)
class Ignored(Fact):
    """``login`` hides ``other``'s messages."""

    login: str
    other: str


@dataclass(frozen=True, slots=True)
class Unignored(Fact):
    login: str
    other: str


@dataclass(frozen=True, slots=True)
class AccountAdded(Fact):
    """A login was added to the configuration."""

    login: str
    admin: bool


@dataclass(frozen=True, slots=True)
class AdminChanged(Fact):
    """The configuration made ``login`` an administrator, or no longer one."""

    login: str
    admin: bool


@dataclass(frozen=True, slots=True)
class AccountRemoved(Fact):
    """A login left the configuration: its sessions end with ``reason``, its state is forgotten."""

    login: str
    reason: str


# -- moderation -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Banned(Fact):
    """``actor`` banned ``login`` until ``until`` (``math.inf``: for good); its sessions end."""

    actor: str
    login: str
    until: float
    reason: str


@dataclass(frozen=True, slots=True)
class Unbanned(Fact):
    actor: str
    login: str


@dataclass(frozen=True, slots=True)
class BanExpired(Fact):
    """A ban ran out (decided with the clock when it was next looked at)."""

    login: str


@dataclass(frozen=True, slots=True)
class Muted(Fact):
    """``actor`` muted ``login`` until ``until`` (``math.inf``: for good)."""

    actor: str
    login: str
    until: float


@dataclass(frozen=True, slots=True)
class Unmuted(Fact):
    actor: str
    login: str


@dataclass(frozen=True, slots=True)
class MuteExpired(Fact):
    """A mute ran out (decided with the clock when it was next looked at)."""

    login: str


# -- cluster ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeGone(Fact):
    """A cluster node stopped renewing its lease: every session whose id starts with
    ``prefix`` (that node's incarnation) ends, everywhere. ``reason`` is told to the
    node's own sessions, should it still be running (it was paused, or cut off).
    """

    prefix: str
    reason: str


FACT_TYPES: dict[str, type[Fact]] = {
    cls.__name__: cls
    for cls in (
        SessionOpened,
        SessionClosed,
        AwaySet,
        MessageSaid,
        PrivateMessageSent,
        Broadcasted,
        ChannelCreated,
        ChannelDropped,
        MemberJoined,
        MemberLeft,
        Invited,
        HomeChannelSet,
        TopicSet,
        OpSet,
        Kicked,
        NickChanged,
        PreferenceSet,
        Ignored,
        Unignored,
        AccountAdded,
        AdminChanged,
        AccountRemoved,
        Banned,
        Unbanned,
        BanExpired,
        Muted,
        Unmuted,
        MuteExpired,
        NodeGone,
    )
}
"""Every fact type by its name: the type tag of the encoding."""


# -- encoding -----------------------------------------------------------------------


class FactDecodeError(ValueError):
    """Bytes that are not an encoded fact (wrong JSON, unknown type, missing fields)."""


def encode(fact: Fact) -> bytes:
    """``fact`` as compact JSON with a ``type`` tag (infinity is written ``Infinity``)."""
    body: dict[str, Any] = {"type": type(fact).__name__}
    for f in dataclasses.fields(fact):
        body[f.name] = getattr(fact, f.name)
    return json.dumps(body, separators=(",", ":")).encode("ascii")


_PLAIN = (str, bool, int, float, type(None))


def decode(data: bytes) -> Fact:
    """The fact :func:`encode` made ``data`` from; :class:`FactDecodeError` for anything else."""
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise FactDecodeError(f"not an encoded fact: {err}") from None
    if not isinstance(body, dict):
        raise FactDecodeError("not an encoded fact: expected a JSON object")
    name = body.pop("type", None)
    cls = FACT_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise FactDecodeError(f"not an encoded fact: unknown type {name!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    if set(body) != names:
        raise FactDecodeError(f"{name}: fields {sorted(body)} do not match {sorted(names)}")
    if not all(isinstance(v, _PLAIN) for v in body.values()):
        raise FactDecodeError(f"{name}: a field is not a plain value")
    if not isinstance(body["id"], str) or not isinstance(body["time"], (int, float)):
        raise FactDecodeError(f"{name}: id must be text and time a number")
    body["time"] = float(body["time"])
    for key in ("until",):
        if key in body and isinstance(body[key], int) and not isinstance(body[key], bool):
            body[key] = float(body[key])
    return cls(**body)


def moderation_action(fact: Fact) -> ModerationAction | None:
    """The audit-log entry of a moderation fact, or None for other facts."""
    if isinstance(fact, TopicSet):
        return ModerationAction(
            fact.actor, "topic", fact.channel, fact.channel, fact.topic, time=fact.time
        )
    if isinstance(fact, OpSet):
        action = "op" if fact.op else "deop"
        return ModerationAction(fact.actor, action, fact.login, fact.channel, time=fact.time)
    if isinstance(fact, Kicked):
        return ModerationAction(
            fact.actor, "kick", fact.login, fact.channel, fact.reason, time=fact.time
        )
    if isinstance(fact, Banned):
        return ModerationAction(
            fact.actor, "ban", fact.login, None, fact.reason, fact.until, time=fact.time
        )
    if isinstance(fact, Unbanned):
        return ModerationAction(fact.actor, "unban", fact.login, time=fact.time)
    if isinstance(fact, Muted):
        return ModerationAction(fact.actor, "mute", fact.login, None, "", fact.until, fact.time)
    if isinstance(fact, Unmuted):
        return ModerationAction(fact.actor, "unmute", fact.login, time=fact.time)
    if isinstance(fact, ChannelDropped):
        return ModerationAction(fact.actor, "drop", fact.channel, fact.channel, time=fact.time)
    return None
