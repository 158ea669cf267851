"""Admission control without SSH: the fair verification pool and the connection gate."""

from __future__ import annotations

import asyncio

import pytest

from sshchat.security.admission import Busy, ConnectionGate, FairSlots, source_address
from sshchat.security.throttle import AuthThrottle, Verdict

# -- helpers ---------------------------------------------------------------------


class Jobs:
    """Jobs that block until released, recording start order and concurrency."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.active = 0
        self.peak = 0
        self._gates: dict[str, asyncio.Event] = {}

    def job(self, name: str):  # type: ignore[no-untyped-def]
        gate = self._gates.setdefault(name, asyncio.Event())

        async def run() -> str:
            self.started.append(name)
            self.active += 1
            self.peak = max(self.peak, self.active)
            try:
                await gate.wait()
            finally:
                self.active -= 1
            return name

        return run

    def release(self, name: str) -> None:
        self._gates[name].set()

    def release_all(self) -> None:
        for gate in self._gates.values():
            gate.set()


async def settle() -> None:
    """Let every ready task run until nothing changes any more."""
    for _ in range(20):
        await asyncio.sleep(0)


def assert_idle(slots: FairSlots) -> None:
    assert slots.running == 0
    assert slots.waiting == 0
    assert not slots._queues


# -- FairSlots -----------------------------------------------------------------------


async def test_never_more_than_slots_jobs_at_once() -> None:
    slots = FairSlots(3, per_key=100)
    peak = 0
    active = 0

    async def job() -> int:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        assert slots.running <= 3
        await asyncio.sleep(0.001)
        active -= 1
        return 1

    results = await asyncio.gather(*(slots.run(f"k{i % 7}", job) for i in range(60)))
    assert sum(results) == 60
    assert peak == 3
    assert_idle(slots)


async def test_late_key_is_served_before_most_of_a_flood() -> None:
    slots = FairSlots(1, per_key=50, max_waiting=1000)
    jobs = Jobs()
    flood = [asyncio.create_task(slots.run("flood", jobs.job(f"f{i}"))) for i in range(21)]
    await settle()
    assert jobs.started == ["f0"]  # one runs, twenty wait
    assert slots.waiting == 20
    late = asyncio.create_task(slots.run("late", jobs.job("late")))
    await settle()
    assert slots.waiting == 21

    # Finish jobs one at a time, in start order, until the late one has run.
    while "late" not in jobs.started:
        jobs.release(jobs.started[-1])
        await settle()
        assert jobs.active == 1
    # Keys take turns: the late key goes right after the next flood job.
    assert jobs.started.index("late") <= 2
    jobs.release_all()
    await asyncio.gather(*flood, late)
    assert jobs.peak == 1
    assert_idle(slots)


async def test_rank_puts_keys_with_fewer_failures_first() -> None:
    failures = {"bad": 9, "worse": 20, "good": 0, "meh": 3}
    slots = FairSlots(1, per_key=5, rank=lambda key, tag: failures[key])
    jobs = Jobs()
    first = asyncio.create_task(slots.run("bad", jobs.job("first")))
    await settle()
    tasks = [first]
    # Queue in the worst order: the worst offenders first, the clean key last.
    for key in ("worse", "bad", "meh", "good"):
        tasks.append(asyncio.create_task(slots.run(key, jobs.job(key))))
        await settle()
    while len(jobs.started) < 5:
        jobs.release(jobs.started[-1])
        await settle()
    assert jobs.started == ["first", "good", "meh", "bad", "worse"]
    jobs.release_all()
    await asyncio.gather(*tasks)
    assert_idle(slots)


async def test_per_key_and_max_waiting_overflow_raise_busy_at_once() -> None:
    slots = FairSlots(1, per_key=2, max_waiting=3)
    jobs = Jobs()
    tasks = [asyncio.create_task(slots.run("a", jobs.job("a0")))]
    await settle()
    tasks += [asyncio.create_task(slots.run("a", jobs.job(f"a{i}"))) for i in (1, 2)]
    await settle()
    assert slots.waiting == 2

    # A third waiter for "a" is refused without waiting.
    with pytest.raises(Busy):
        await asyncio.wait_for(slots.run("a", jobs.job("a3")), 0.5)
    tasks.append(asyncio.create_task(slots.run("b", jobs.job("b0"))))
    await settle()
    assert slots.waiting == 3
    # The whole queue is full: any key is refused without waiting.
    with pytest.raises(Busy):
        await asyncio.wait_for(slots.run("c", jobs.job("c0")), 0.5)
    assert slots.waiting == 3
    assert "a3" not in jobs.started and "c0" not in jobs.started

    jobs.release_all()
    await asyncio.gather(*tasks)
    assert sorted(jobs.started) == ["a0", "a1", "a2", "b0"]
    assert_idle(slots)


async def test_cancelled_waiter_is_removed_and_leaks_no_slot() -> None:
    slots = FairSlots(1, per_key=5)
    jobs = Jobs()
    running = asyncio.create_task(slots.run("a", jobs.job("a0")))
    await settle()
    doomed = asyncio.create_task(slots.run("b", jobs.job("doomed")))
    queued = asyncio.create_task(slots.run("a", jobs.job("a1")))
    await settle()
    assert slots.waiting == 2

    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert slots.waiting == 1
    assert "b" not in slots._queues

    jobs.release("a0")
    jobs.release("a1")
    assert await running == "a0"
    assert await queued == "a1"
    assert "doomed" not in jobs.started
    assert_idle(slots)

    # A waiter cancelled just after the slot was handed to it passes it on.
    jobs2 = Jobs()
    others: dict[str, asyncio.Task[str]] = {}

    async def first_job() -> str:
        others["granted"] = asyncio.create_task(slots.run("b", jobs2.job("granted")))
        others["after"] = asyncio.create_task(slots.run("c", jobs2.job("after")))
        await settle()
        assert slots.waiting == 2
        return "x0"

    # Run in this task: when run() returns, the slot has just been granted to
    # "granted", whose task has not had a turn yet.
    assert await slots.run("a", first_job) == "x0"
    assert slots.running == 1 and slots.waiting == 1
    others["granted"].cancel()
    with pytest.raises(asyncio.CancelledError):
        await others["granted"]
    await settle()
    assert jobs2.started == ["after"]
    jobs2.release("after")
    assert await asyncio.wait_for(others["after"], 1) == "after"
    assert_idle(slots)

    # Later jobs still run straight away.
    assert await asyncio.wait_for(slots.run("z", _value(42)), 1) == 42
    assert_idle(slots)


async def test_waiter_cancelled_just_before_its_turn_is_skipped() -> None:
    slots = FairSlots(1, per_key=5)
    jobs = Jobs()
    others: dict[str, asyncio.Task[str]] = {}

    async def first_job() -> str:
        others["doomed"] = asyncio.create_task(slots.run("b", jobs.job("doomed")))
        others["next"] = asyncio.create_task(slots.run("c", jobs.job("next")))
        await settle()
        # Cancelled, but its task only notices after this job has ended and
        # the pool has looked for the next waiter.
        others["doomed"].cancel()
        return "first"

    assert await slots.run("a", first_job) == "first"
    with pytest.raises(asyncio.CancelledError):
        await others["doomed"]
    await settle()
    assert jobs.started == ["next"]
    assert (slots.running, slots.waiting) == (1, 0)
    jobs.release("next")
    assert await others["next"] == "next"
    assert_idle(slots)


async def test_cancelled_running_job_and_failing_job_free_their_slot() -> None:
    slots = FairSlots(1, per_key=5)

    async def boom() -> None:
        raise RuntimeError("boom")

    def sync_boom():  # type: ignore[no-untyped-def]
        raise ValueError("not even a coroutine")

    with pytest.raises(RuntimeError):
        await slots.run("a", boom)
    assert_idle(slots)
    with pytest.raises(ValueError):
        await slots.run("a", sync_boom)
    assert_idle(slots)

    # A failing job with others waiting hands its slot on.
    jobs = Jobs()
    failing = asyncio.create_task(slots.run("a", _fail_after(jobs, "f")))
    await settle()
    waiter = asyncio.create_task(slots.run("b", jobs.job("w")))
    await settle()
    assert slots.waiting == 1
    jobs.release("f")
    with pytest.raises(RuntimeError):
        await failing
    jobs.release("w")
    assert await asyncio.wait_for(waiter, 1) == "w"
    assert_idle(slots)

    # Cancelling a running job frees its slot too.
    jobs = Jobs()
    running = asyncio.create_task(slots.run("a", jobs.job("r")))
    await settle()
    waiter = asyncio.create_task(slots.run("b", jobs.job("w2")))
    await settle()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    await settle()
    assert jobs.started == ["r", "w2"]
    jobs.release("w2")
    assert await waiter == "w2"
    assert_idle(slots)


def _value(value: int):  # type: ignore[no-untyped-def]
    async def job() -> int:
        return value

    return job


def _fail_after(jobs: Jobs, name: str):  # type: ignore[no-untyped-def]
    inner = jobs.job(name)

    async def job() -> None:
        await inner()
        raise RuntimeError(f"{name} failed")

    return job


# -- ConnectionGate ---------------------------------------------------------------------


def make_gate(**kw: int) -> ConnectionGate:
    params = {"max_connections": 100, "max_per_source": 100, "max_unauthenticated": 100}
    params.update(kw)
    return ConnectionGate(
        throttle=AuthThrottle(free_failures=0, block_after=3, block_seconds=60), **params
    )


def test_gate_caps_have_distinct_reasons() -> None:
    gate = make_gate(max_connections=4, max_per_source=2, max_unauthenticated=3)
    assert gate.admit("10.0.0.1") is None
    assert gate.admit("10.0.0.1") is None
    per_source = gate.admit("10.0.0.1")
    assert per_source is not None and "from your address" in per_source
    assert gate.admit("10.0.0.2") is None  # the cap is reached now
    unauth = gate.admit("10.0.0.2")  # and this source has one in progress
    assert unauth is not None and "logging in" in unauth
    assert gate.total == 3 and gate.unauthenticated == 3
    assert gate.per_source == {"10.0.0.1": 2, "10.0.0.2": 1}

    # Logged-in connections no longer count as logging in, but still count in total.
    gate.authenticated("10.0.0.1")
    gate.authenticated("10.0.0.1")
    assert gate.admit("10.0.0.3") is None
    full = gate.admit("10.0.0.4")
    assert full is not None and "full" in full
    assert gate.total == 4 and gate.unauthenticated == 2

    reasons = {per_source, unauth, full}
    assert len(reasons) == 3
    # Refusals are not counted.
    assert gate.per_source == {"10.0.0.1": 2, "10.0.0.2": 1, "10.0.0.3": 1}


def test_gate_keeps_room_for_clean_sources_up_to_twice_the_cap() -> None:
    gate = make_gate(max_connections=100, max_per_source=100, max_unauthenticated=3)
    for _ in range(3):
        assert gate.admit("attacker") is None
    assert gate.admit("attacker") is not None  # at the cap, already logging in
    gate.throttle.failed("failing")
    assert gate.admit("failing") is not None  # at the cap, with failed logins
    for i in range(3):  # clean sources get in, up to twice the cap
        assert gate.admit(f"clean{i}") is None
    assert gate.unauthenticated == 6
    assert gate.admit("clean-late") is not None
    gate.authenticated("clean0")
    gate.release("attacker", authenticated=False)
    assert gate.unauth_per_source == {"attacker": 2, "clean1": 1, "clean2": 1}


def test_gate_release_keeps_counts_right() -> None:
    gate = make_gate(max_connections=3, max_per_source=2, max_unauthenticated=2)
    assert gate.admit("a") is None
    assert gate.admit("a") is None
    assert gate.admit("a") is not None  # two logging in already, both from "a"
    gate.authenticated("a")  # the first "a" logs in
    assert gate.admit("b") is None
    assert (gate.total, gate.unauthenticated) == (3, 2)

    gate.release("a", authenticated=True)
    assert (gate.total, gate.unauthenticated) == (2, 2)
    assert gate.per_source == {"a": 1, "b": 1}
    gate.release("a", authenticated=False)
    gate.release("b", authenticated=False)
    assert (gate.total, gate.unauthenticated) == (0, 0)
    assert gate.per_source == {}

    # Many cycles leave nothing behind and never go negative.
    for i in range(50):
        source = f"s{i % 3}"
        assert gate.admit(source) is None
        if i % 2:
            gate.authenticated(source)
        gate.release(source, authenticated=bool(i % 2))
        assert gate.total >= 0 and gate.unauthenticated >= 0
        assert all(count > 0 for count in gate.per_source.values())
    assert (gate.total, gate.unauthenticated, gate.per_source) == (0, 0, {})


# -- source_address -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "source"),
    [
        ("1.2.3.4:5678", "1.2.3.4"),
        ("127.0.0.1:22", "127.0.0.1"),
        ("[::1]:22", "::1"),
        ("::1:22", "::1"),
        ("[2001:db8::7]:50000", "2001:db8::7"),
        ("2001:db8::7:50000", "2001:db8::7"),
        ("[::ffff:10.1.2.3]:1", "::ffff:10.1.2.3"),
    ],
)
def test_source_address(peer: str, source: str) -> None:
    assert source_address(peer) == source


# -- a guessing wave spread over many addresses ----------------------------------------


async def test_tag_with_failures_or_many_attempts_in_flight_waits_behind_a_clean_one() -> None:
    """Every guess comes from its own clean address; only the accounts tell them apart."""
    account_failures = {"root": 5, "admin": 0, "alice": 0}
    slots = FairSlots(1, per_key=5, rank=lambda key, tag: account_failures.get(tag or "", 0))
    jobs = Jobs()
    tasks = [asyncio.create_task(slots.run("10.0.0.1", jobs.job("first")))]
    await settle()
    # Queued before the valid login: a failing account, and one with two guesses in flight.
    for i, account in enumerate(("root", "admin", "admin")):
        tasks.append(asyncio.create_task(slots.run(f"10.0.1.{i}", jobs.job(f"g{i}"), account)))
        await settle()
    tasks.append(asyncio.create_task(slots.run("192.0.2.7", jobs.job("alice"), "alice")))
    await settle()
    assert slots.score("10.0.1.1", "admin") == 1
    assert slots.score("192.0.2.7", "alice") == 0
    jobs.release("first")
    await settle()
    assert jobs.started == ["first", "alice"]
    jobs.release_all()
    await asyncio.gather(*tasks)
    assert_idle(slots)
    assert not slots._tags


async def test_full_line_gives_a_guess_busy_to_make_room_for_a_better_login() -> None:
    account_failures = {"root": 9}
    slots = FairSlots(
        1, per_key=5, max_waiting=2, rank=lambda key, tag: account_failures.get(tag or "", 0)
    )
    jobs = Jobs()
    running = asyncio.create_task(slots.run("10.0.0.1", jobs.job("r"), "root"))
    await settle()
    guesses = [
        asyncio.create_task(slots.run(f"10.0.1.{i}", jobs.job(f"g{i}"), "root")) for i in (1, 2)
    ]
    await settle()
    assert slots.waiting == 2
    # Another guess on the same account is no better than those waiting: refused.
    with pytest.raises(Busy):
        await slots.run("10.0.1.3", jobs.job("g3"), "root")
    valid = asyncio.create_task(slots.run("192.0.2.7", jobs.job("alice"), "alice"))
    await settle()
    # The latest of the equally bad waiters made room.
    assert guesses[1].done()
    with pytest.raises(Busy):
        guesses[1].result()
    assert slots.waiting == 2
    jobs.release("r")
    await settle()
    assert jobs.started == ["r", "alice"]
    jobs.release_all()
    await asyncio.gather(running, guesses[0], valid)
    assert "g2" not in jobs.started and "g3" not in jobs.started
    assert_idle(slots)
    assert not slots._tags


def test_delayed_attempts_are_refused_once_a_quarter_of_the_places_sleep() -> None:
    gate = ConnectionGate(100, 100, 8, AuthThrottle())
    delayed = Verdict(delay=2.0, reason="x")
    assert not gate.refuse_delayed(Verdict())
    with gate.delaying(), gate.delaying():
        assert gate.delayed == 2
        assert gate.refuse_delayed(delayed)
        assert not gate.refuse_delayed(Verdict())  # no delay: never refused here
    assert gate.delayed == 0
    assert not gate.refuse_delayed(delayed)
    for i in range(8):
        assert gate.admit(f"10.0.0.{i}") is None
    assert gate.refuse_delayed(delayed)  # every place is taken


def test_gate_lets_a_recently_successful_source_in_beyond_twice_the_cap() -> None:
    now = [0.0]
    throttle = AuthThrottle(forget_after=100.0, clock=lambda: now[0])
    gate = ConnectionGate(1000, 1000, 2, throttle)
    throttle.succeeded("192.0.2.7", "alice")
    for i in range(4):
        assert gate.admit(f"10.0.0.{i}") is None  # clean guessers fill twice the cap
    assert gate.admit("10.0.0.99") is not None
    assert gate.admit("192.0.2.7") is None  # trusted: up to four times the cap
    assert gate.admit("192.0.2.7") is None  # a few at a time (a slow login overlaps the next)
    assert gate.admit("192.0.2.7") is None
    assert gate.unauthenticated == 7  # below four times the cap, but ...
    assert gate.admit("192.0.2.7") is not None  # ... TRUSTED_AT_ONCE are in progress
    throttle.failed("192.0.2.8", "bob")
    throttle.succeeded("192.0.2.8", "bob")
    throttle.failed("192.0.2.8", "bob")  # a failure since: no longer trusted
    assert gate.admit("192.0.2.8") is not None
    now[0] = 101.0
    for _ in range(3):
        gate.release("192.0.2.7", authenticated=False)
    assert not throttle.trusted("192.0.2.7")  # forgotten after forget_after
    assert gate.admit("192.0.2.7") is not None


def test_unchecked_attempts_count_for_source_and_account_but_never_block_the_pair() -> None:
    throttle = AuthThrottle(free_failures=1, block_after=3, clock=lambda: 0.0)
    for _ in range(5):
        throttle.unchecked(f"10.0.0.{_}", "root")
    assert throttle.account_failures("root") == 5
    assert throttle.check("192.0.2.7", "root").delay > 0  # delayed, never blocked
    for _ in range(5):
        throttle.unchecked("10.9.9.9", "alice")
    assert throttle.blocked_source("10.9.9.9")  # the source itself may be blocked
    assert ("10.9.9.9", "alice") not in throttle._pairs


# -- a slot kept for clean logins, and the key-exchange cap ------------------------------


async def test_reserved_slot_runs_a_clean_login_while_guesses_wait() -> None:
    failures = {"guess": 5, "clean": 0}
    slots = FairSlots(2, per_key=10, reserve=1, rank=lambda key, tag: failures[key])
    jobs = Jobs()
    guesses = [asyncio.create_task(slots.run("guess", jobs.job(f"g{i}"))) for i in range(3)]
    await settle()
    assert jobs.started == ["g0"]  # one slot for guesses; the other stays free
    assert slots.running == 1 and slots.waiting == 2
    clean = asyncio.create_task(slots.run("clean", jobs.job("clean")))
    await settle()
    assert jobs.started == ["g0", "clean"]  # at once, without waiting for g0's end
    jobs.release("clean")
    await settle()
    assert jobs.started == ["g0", "clean"]  # the freed reserved slot is not a guess's
    jobs.release("g0")
    await settle()
    assert jobs.started == ["g0", "clean", "g1"]
    assert jobs.peak == 2
    jobs.release_all()
    await asyncio.gather(*guesses, clean)
    assert_idle(slots)
    assert slots.suspect_running == 0


async def test_a_waiting_clean_login_takes_the_free_reserved_slot() -> None:
    # A guess queued behind the guess slot must not hold back a clean login
    # that arrives while the reserved slot is free.
    failures = {"guess": 5, "clean": 0}
    slots = FairSlots(2, per_key=10, reserve=1, rank=lambda key, tag: failures[key])
    jobs = Jobs()
    first = asyncio.create_task(slots.run("guess", jobs.job("g0")))
    second = asyncio.create_task(slots.run("guess", jobs.job("g1")))
    await settle()
    assert slots.waiting == 1
    clean = asyncio.create_task(slots.run("clean", jobs.job("clean")))
    await settle()
    assert jobs.started == ["g0", "clean"]
    jobs.release_all()
    await asyncio.gather(first, second, clean)
    assert_idle(slots)


async def test_without_reserve_guesses_take_every_slot() -> None:
    slots = FairSlots(2, per_key=10, rank=lambda key, tag: 5)
    jobs = Jobs()
    tasks = [asyncio.create_task(slots.run("guess", jobs.job(f"g{i}"))) for i in range(3)]
    await settle()
    assert jobs.started == ["g0", "g1"]
    jobs.release_all()
    await asyncio.gather(*tasks)
    assert_idle(slots)


def wave(throttle: AuthThrottle, failures: int = 20) -> None:
    """``failures`` failed logins from addresses and on accounts nobody else uses."""
    for i in range(failures):
        throttle.failed(f"203.0.113.{i}", f"guess{i}")


def test_gate_refuses_strangers_before_the_key_exchange_beyond_max_handshakes() -> None:
    now = [0.0]
    throttle = AuthThrottle(forget_after=100.0, wave_window=1000.0, clock=lambda: now[0])
    gate = ConnectionGate(1000, 1000, 100, throttle, max_handshakes=2)
    wave(throttle)
    assert throttle.under_wave()
    assert gate.admit("10.0.0.1") is None
    assert gate.admit("10.0.0.2") is None
    assert gate.handshaking == 2
    refusal = gate.admit("10.0.0.3")
    assert refusal == "too many connections are logging in right now; try again in a moment"
    throttle.trust("192.0.2.7")  # someone logged in from there (with a key)
    assert gate.admit("192.0.2.7") is None  # not held back by the cap
    assert gate.handshaking == 3
    gate.handshake_done()
    gate.handshake_done()
    assert gate.admit("10.0.0.3") is None  # room again once key exchanges end
    now[0] = 101.0  # trust is forgotten after forget_after
    gate.handshake_done()
    assert gate.admit("192.0.2.7") is None  # 1 in progress < 2
    assert gate.admit("192.0.2.7") is not None


def test_without_a_wave_of_failures_a_crowd_of_strangers_is_not_capped() -> None:
    """Hundreds reconnecting after a restart, each from its own address, all get in."""
    now = [0.0]
    throttle = AuthThrottle(wave_failures=20, wave_window=10.0, clock=lambda: now[0])
    gate = ConnectionGate(1000, 1000, 1000, throttle, max_handshakes=2)
    for i in range(200):
        assert gate.admit(f"10.0.{i // 250}.{i % 250}") is None
    assert gate.handshaking == 200
    wave(throttle, 19)  # a few typos are no wave
    assert not throttle.under_wave()
    assert gate.admit("10.1.0.1") is None
    wave(throttle, 1)  # the 20th failure within 10 s is
    assert throttle.under_wave()
    assert gate.admit("10.1.0.2") is not None
    now[0] = 10.5  # the failures are older than the window: the wave is over
    assert not throttle.under_wave()
    assert gate.admit("10.1.0.2") is None


def test_unchecked_attempts_count_towards_a_wave() -> None:
    throttle = AuthThrottle(wave_failures=3, clock=lambda: 0.0)
    for i in range(3):
        throttle.unchecked(f"203.0.113.{i}", "alice")
    assert throttle.under_wave()


def test_key_login_trust_lifts_no_failure_record() -> None:
    throttle = AuthThrottle(free_failures=0, block_after=3, clock=lambda: 0.0)
    throttle.failed("10.0.0.1", "alice")
    throttle.trust("10.0.0.1")
    assert throttle.trusted("10.0.0.1")
    assert throttle.failures("10.0.0.1") == 1  # unlike a password success
