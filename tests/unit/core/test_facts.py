"""Facts: the byte encoding, deterministic apply, and replaying a hub from its facts."""

from __future__ import annotations

import dataclasses
import json
import math
import time
import typing

import pytest
from helpers.sinks import RecordingSink as Sink
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sshchat.commands.refusals import refusal_text
from sshchat.commands.registry import handle_line
from sshchat.core import facts as f
from sshchat.core import refusals
from sshchat.core.events import InvitedTo, MutedBy, OpChanged, SessionEnded
from sshchat.core.hub import Hub, HubError
from sshchat.core.snapshot import SnapshotError, dump_state, load_state

ACCOUNTS = [("alice", True), ("bob", False), ("carol", False), ("dave", False)]


def _every_fact_type() -> list[type[f.Fact]]:
    return [
        obj
        for obj in vars(f).values()
        if isinstance(obj, type) and issubclass(obj, f.Fact) and obj is not f.Fact
    ]


_VALUES: dict[object, st.SearchStrategy] = {
    "str": st.text(),
    "float": st.floats(allow_nan=False),
    "bool": st.booleans(),
    "str | None": st.none() | st.text(),
    "bool | str": st.booleans() | st.text(),
}


def _facts_of(cls: type[f.Fact]) -> st.SearchStrategy[f.Fact]:
    fields = {fld.name: _VALUES[fld.type] for fld in dataclasses.fields(cls)}
    return st.builds(cls, **fields)


FACTS = st.one_of([_facts_of(cls) for cls in _every_fact_type()])


def test_every_fact_type_is_registered_and_round_trips() -> None:
    found = _every_fact_type()
    assert set(found) == set(f.FACT_TYPES.values()), "a fact type is missing from FACT_TYPES"
    samples = {"str": "x", "float": math.inf, "bool": True, "str | None": None, "bool | str": "on"}
    for cls in found:
        fact = cls(**{fld.name: samples[fld.type] for fld in dataclasses.fields(cls)})
        assert f.decode(f.encode(fact)) == fact, cls.__name__
        with pytest.raises(dataclasses.FrozenInstanceError):
            fact.id = "other"  # type: ignore[misc]


@given(FACTS)
def test_facts_round_trip_through_bytes(fact: f.Fact) -> None:
    data = f.encode(fact)
    assert isinstance(data, bytes)
    again = f.decode(data)
    assert again == fact and type(again) is type(fact)


@pytest.mark.parametrize(
    "data",
    [b"", b"[]", b'{"type": "Nope"}', b'{"type": "AwaySet", "id": "1"}', b"\xff"],
)
def test_decoding_garbage_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(f.FactDecodeError):
        f.decode(data)


# -- refusals carry data ---------------------------------------------------------------


def test_refusals_carry_data_and_are_worded_at_the_edge() -> None:
    hub = Hub(ACCOUNTS)
    bob = hub.connect("bob", Sink())
    hub.connect("carol", Sink())
    with pytest.raises(refusals.NickTaken) as taken:
        hub.set_nick(bob, "carol")
    assert (taken.value.nick, taken.value.holder) == ("carol", "carol")
    assert "carol" not in str(taken.value) or "taken" not in str(taken.value)
    assert refusal_text(taken.value) == "'carol' is taken; choose another nick"
    with pytest.raises(refusals.MessageTooLong) as long:
        hub.say(bob, "x" * 2001)
    assert (long.value.length, long.value.limit) == (2001, 2000)
    with pytest.raises(refusals.NoSuchChannel) as none:
        hub.join(bob, "nowhere")
    assert refusal_text(none.value) == "there is no channel #nowhere; /create nowhere to make it"
    assert isinstance(none.value, HubError)


def test_notices_are_typed_events() -> None:
    hub = Hub(ACCOUNTS)
    alice = hub.connect("alice", Sink())
    carol_sink = Sink()
    hub.connect("carol", carol_sink)
    bob_sink = Sink()
    bob = hub.connect("bob", bob_sink)
    hub.create_channel(alice, "dev")
    hub.join(bob, "dev")
    hub.set_op(alice, "bob", op=True)
    hub.invite(alice, "carol")
    hub.mute(alice, "bob", 60)
    assert [type(e) for e in bob_sink.typed] == [OpChanged, MutedBy]
    assert bob_sink.typed[1].until == pytest.approx(time.time() + 60, abs=5)
    hub.ban(alice, "bob", None, "spam")
    assert isinstance(bob_sink.typed[-1], SessionEnded)
    assert bob_sink.typed[-1].banned_until == math.inf
    assert not hub.accounts["bob"].online  # the hub ended the session itself
    hub.disconnect(bob)  # the front end leaving afterwards changes nothing
    assert [(e.by, e.channel) for e in carol_sink.typed] == [("alice", "dev")]
    assert isinstance(carol_sink.typed[0], InvitedTo)


def test_a_session_ended_by_the_hub_can_do_nothing_more() -> None:
    hub = Hub(ACCOUNTS)
    alice = hub.connect("alice", Sink())
    bob = hub.connect("bob", Sink())
    hub.ban(alice, "bob", 60, "")
    with pytest.raises(refusals.SessionGone):
        hub.set_nick(bob, "robert")
    assert hub.accounts["bob"].nick == "bob"


# -- apply is deterministic ----------------------------------------------------------


def _recorded_hub(clock: typing.Callable[[], float] | None = None) -> tuple[Hub, list[f.Fact]]:
    kwargs = {"clock": clock} if clock else {}
    hub = Hub(ACCOUNTS, **kwargs)
    recorded: list[f.Fact] = []
    hub.observers.append(recorded.append)
    return hub, recorded


def _replayed(recorded: list[f.Fact], original: Hub) -> Hub:
    """A new hub (built at the same time: the home channel is made, not applied) given the facts."""
    fresh = Hub(ACCOUNTS, clock=lambda: original.default_channel.created)
    for fact in recorded:
        fresh.apply(fact)
    return fresh


def test_apply_never_reads_the_clock(monkeypatch) -> None:
    hub, recorded = _recorded_hub()
    a = hub.connect("alice", Sink())
    b = hub.connect("bob", Sink())
    for line in ["hi", "/create dev private", "/invite bob", "/topic t", "/op bob", "/mute carol"]:
        handle_line(hub, a, line)
    for line in ["/join dev", "/me waves", "/msg carol later", "/nick bobby", "/quiet on"]:
        handle_line(hub, b, line)
    handle_line(hub, a, "/kick bobby bye")
    handle_line(hub, a, "/ban dave 10m")
    hub.sync_accounts([("alice", True), ("bob", False), ("carol", False)], "gone")
    hub.disconnect(a)
    fresh = Hub(ACCOUNTS)
    raw: list = []  # a sink that only keeps events (RecordingSink words them, reading the time)
    fresh.connect("dave", type("Raw", (), {"deliver": lambda self, e: raw.append(e)})())

    def no_clock() -> float:
        raise AssertionError("apply read the clock")

    monkeypatch.setattr(time, "time", no_clock)
    monkeypatch.setattr(time, "monotonic", no_clock)
    for fact in recorded:
        fresh.apply(fact)
    assert len({type(fact) for fact in recorded}) >= 15
    assert any(isinstance(e, SessionEnded) for e in raw)


def test_replaying_the_facts_gives_the_same_digest() -> None:
    hub, recorded = _recorded_hub()
    a = hub.connect("alice", Sink())
    handle_line(hub, a, "/create dev")
    handle_line(hub, a, "hello")
    assert _replayed(recorded, hub).digest() == hub.digest()
    handle_line(hub, a, "more")
    assert _replayed(recorded, hub).digest() != Hub(ACCOUNTS).digest()


LOGINS = ["alice", "bob", "carol", "dave"]
NAMES = st.sampled_from([*LOGINS, "bobby", "dev", "ops", "nobody"])
LINES = st.one_of(
    st.sampled_from(
        [
            "hello",
            "a paste\n  of three\nlines",  # one message of several lines
            "/me waves\nand bows",
            "/me waves",
            "/create dev",
            "/create ops private",
            "/join dev",
            "/join ops",
            "/join lobby",
            "/leave",
            "/away lunch",
            "/back",
            "/quiet",
            "/bell off",
            "/timestamps off",
            "/color off",
            "/topic a topic",
            "/broadcast hear ye",
            "/reply thanks",
            "/drop",
            "/drop dev",
            "/drop ops",
            "/list 2",
        ]
    ),
    st.builds(lambda n: f"/msg {n} hi", NAMES),
    st.builds(lambda n: f"/nick {n}", NAMES),
    st.builds(lambda n: f"/invite {n}", NAMES),
    st.builds(lambda n: f"/op {n}", NAMES),
    st.builds(lambda n: f"/deop {n}", NAMES),
    st.builds(lambda n: f"/kick {n} out", NAMES),
    st.builds(lambda n: f"/ban {n} 1m", NAMES),
    st.builds(lambda n: f"/unban {n}", NAMES),
    st.builds(lambda n: f"/mute {n} 30s", NAMES),
    st.builds(lambda n: f"/unmute {n}", NAMES),
    st.builds(lambda n: f"/ignore {n}", NAMES),
    st.builds(lambda n: f"/unignore {n}", NAMES),
)
STEPS = st.lists(
    st.tuples(
        st.sampled_from(LOGINS),
        st.sampled_from(["line", "connect", "quit", "quit all", "tick"]),
        LINES,
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS, st.integers(2, 4), st.floats(0, 1))
def test_a_hub_rebuilt_from_its_facts_has_the_same_digest(steps, users: int, cut: float) -> None:
    now = [1_800_000_000.0]
    hub, recorded = _recorded_hub(clock=lambda: now[0])
    logins = LOGINS[:users]
    sessions: dict[str, list] = {login: [] for login in logins}
    for login, what, line in steps:
        if login not in logins:
            continue
        now[0] += 7.0
        if what == "connect" or not sessions[login]:
            try:
                sessions[login].append(hub.connect(login, Sink()))
            except HubError:
                continue
        elif what == "quit":
            hub.disconnect(sessions[login].pop())
        elif what == "quit all":  # offline, still a member of its channels
            while sessions[login]:
                hub.disconnect(sessions[login].pop())
        elif what == "tick":
            now[0] += 45.0  # bans and mutes of 30s-1m run out
        else:
            handle_line(hub, sessions[login][-1], line)
        sessions[login] = [c for c in sessions[login] if c.id in hub.state.sessions]
    replayed = _replayed(recorded, hub)
    assert replayed.digest() == hub.digest()
    # A snapshot (through JSON) of the state after any prefix of the facts, plus the
    # facts after it, rebuilds the same state: how a cluster node starts from a snapshot.
    split = int(cut * len(recorded))
    prefix = _replayed(recorded[:split], hub)
    saved = json.loads(json.dumps(dump_state(prefix.state)))
    resumed = Hub(ACCOUNTS, clock=lambda: hub.default_channel.created)
    load_state(resumed.state, saved)
    assert resumed.digest() == prefix.digest()
    for fact in recorded[split:]:
        resumed.apply(fact)
    assert resumed.digest() == hub.digest()
    for fact in recorded:
        assert f.decode(f.encode(fact)) == fact
    for channel in hub.channels.values():  # online: exactly the members with a session
        assert channel.online == {k: a for k, a in channel.members.items() if a.online}


def test_a_damaged_or_foreign_snapshot_is_refused_and_changes_nothing() -> None:
    hub, _ = _recorded_hub()
    a = hub.connect("alice", Sink())
    handle_line(hub, a, "/create dev")
    before = hub.digest()
    good = dump_state(hub.state)
    for bad in ({**good, "version": 99}, {**good, "channels": [{"name": "x"}]}, {"version": 1}):
        with pytest.raises(SnapshotError):
            load_state(hub.state, bad)
        assert hub.digest() == before
    other = Hub(ACCOUNTS)
    load_state(other.state, json.loads(json.dumps(good)))
    assert other.digest() == before


def test_loading_a_snapshot_keeps_this_process_s_session_objects() -> None:
    # A cluster node that adopts a re-seeded base: its front ends hold their Client
    # objects, which must stay the live sessions (else every later line is refused).
    source, _ = _recorded_hub()
    here = Hub(ACCOUNTS, clock=lambda: source.default_channel.created)
    sink = Sink()
    alice = here.connect("alice", sink)
    load_state(here.state, json.loads(json.dumps(dump_state(here.state))))
    assert here.is_live(alice) and alice.sink is sink
    assert here.accounts["alice"].clients == [alice]
    here.say(alice, "still here")
    assert [getattr(e, "text", None) for e in sink.events][-1:] == ["still here"]
