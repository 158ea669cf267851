"""Token bucket and failed-login throttle, with an injected clock."""

from __future__ import annotations

import pytest
from helpers.fakes import Clock
from helpers.sinks import RecordingSink as _Sink

from sshchat.core.ratelimit import TokenBucket
from sshchat.security.throttle import AuthThrottle, Verdict


def test_bucket_allows_burst_then_rate() -> None:
    clock = Clock(1000.0)
    bucket = TokenBucket(rate=2.0, burst=10, clock=clock)
    assert all(bucket.take() for _ in range(10))
    assert not bucket.take()
    assert bucket.wait_time() == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.take()
    assert not bucket.take()
    clock.now += 100
    assert sum(bucket.take() for _ in range(50)) == 10  # never more than the burst


def test_throttle_free_failures_then_growing_delay_then_block() -> None:
    clock = Clock(1000.0)
    throttle = AuthThrottle(free_failures=3, max_delay=8, block_after=10, clock=clock)
    delays = []
    for _ in range(9):
        throttle.failed("10.0.0.1", "alice")
        delays.append(throttle.check("10.0.0.1").delay)
    assert delays == [0, 0, 0, 0.5, 1, 2, 4, 8, 8]
    assert delays == sorted(delays)
    assert max(delays) == 8
    throttle.failed("10.0.0.1", "alice")
    verdict = throttle.check("10.0.0.1")
    assert verdict.blocked and "source address" in verdict.reason
    assert throttle.check("10.0.0.2").delay == 0  # other sources unaffected
    # alice's account is only slowed down from elsewhere, never blocked.
    elsewhere = throttle.check("10.0.0.2", "alice")
    assert not elsewhere.blocked and elsewhere.delay <= 8
    clock.now += 601
    assert not throttle.check("10.0.0.1").blocked


def test_throttle_failures_from_everywhere_never_lock_the_owner_out() -> None:
    """Anyone can fail on purpose against an account: its owner still gets in."""
    clock = Clock()
    throttle = AuthThrottle(free_failures=3, max_delay=10, block_after=5, clock=clock)
    for i in range(200):  # a distributed attack, or one attacker hopping addresses
        throttle.failed(f"10.1.{i // 256}.{i % 256}", "alice")
        throttle.failed("10.9.9.9", "alice")  # and one address hammering away
    owner = throttle.check("192.0.2.7", "alice")  # the owner, from a clean address
    assert not owner.blocked
    assert 0 < owner.delay <= 10  # guessing is slowed down, within the cap
    assert "all addresses" in owner.reason
    assert throttle.check("10.9.9.9", "alice").blocked  # the hammering address is
    # Once the owner is in, the account's delay is gone again.
    throttle.succeeded("192.0.2.7", "alice")
    assert throttle.check("192.0.2.8", "alice") == Verdict()


def test_throttle_blocks_an_account_per_address_across_others_successes() -> None:
    """Behind one NAT: a colleague's login does not reset the guesser's block on alice."""
    clock = Clock()
    throttle = AuthThrottle(free_failures=1, max_delay=4, block_after=4, clock=clock)
    for _ in range(4):
        throttle.failed("203.0.113.5", "alice")
    assert throttle.check("203.0.113.5", "alice").blocked
    throttle.succeeded("203.0.113.5", "bob")  # clears the address ...
    assert not throttle.blocked_source("203.0.113.5")
    assert throttle.check("203.0.113.5", "bob") == Verdict()  # ... for bob
    verdict = throttle.check("203.0.113.5", "alice")  # ... but not for alice
    assert verdict.blocked and "account from this address" in verdict.reason
    assert not throttle.check("198.51.100.1", "alice").blocked
    clock.now += 601
    assert not throttle.check("203.0.113.5", "alice").blocked


def test_throttle_success_clears_source_and_records_expire() -> None:
    clock = Clock(1000.0)
    throttle = AuthThrottle(free_failures=1, clock=clock, forget_after=60)
    throttle.failed("s", "bob")
    throttle.failed("s", "bob")
    assert throttle.check("s").delay > 0
    throttle.succeeded("s", "bob")
    assert throttle.check("s", "bob").delay == 0
    throttle.failed("t")
    throttle.failed("t")
    clock.now += 61
    assert throttle.failures("t") == 0


def test_throttle_tables_are_bounded() -> None:
    throttle = AuthThrottle(max_records=100, clock=Clock(1000.0))
    for i in range(1000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}", f"user{i}")
    assert len(throttle._sources) == 100
    assert len(throttle._pairs) == 100
    assert len(throttle._accounts) == 100


def test_hub_rate_limit_lets_a_paste_through_and_stops_a_flood() -> None:
    from sshchat.commands.registry import handle_line
    from sshchat.core.hub import Hub

    hub = Hub([("alice", False), ("bob", False)], message_rate=1.0, message_burst=15)
    alice_sink, bob_sink = _Sink(), _Sink()
    alice = hub.connect("alice", alice_sink)
    hub.connect("bob", bob_sink)
    bob_sink.events.clear()
    for i in range(10):  # an ordinary paste
        handle_line(hub, alice, f"paste line {i}")
    assert [t for t in bob_sink.texts() if t.startswith("paste")] == [
        f"paste line {i}" for i in range(10)
    ]
    for i in range(100):  # a flood
        handle_line(hub, alice, f"flood {i}")
    flood = [t for t in bob_sink.texts() if t.startswith("flood")]
    assert 5 <= len(flood) <= 6  # what was left of the burst
    warnings = [t for t in alice_sink.texts() if "too fast" in t]
    assert len(warnings) == 1  # told once, not once per refused line
    assert "15 lines at once" in warnings[0]
    # /quit always gets through.
    from sshchat.commands.registry import Outcome

    assert handle_line(hub, alice, "/quit") is Outcome.QUIT


def test_hub_rate_limit_reports_refused_count_when_it_recovers() -> None:
    from sshchat.commands.registry import handle_line
    from sshchat.core.hub import Hub

    hub = Hub([("alice", False)], message_rate=1.0, message_burst=2)
    sink = _Sink()
    alice = hub.connect("alice", sink)
    bucket = alice.account.bucket
    assert bucket is not None
    clock = Clock(1000.0)
    bucket._clock = clock
    bucket._stamp = clock.now
    for i in range(5):
        handle_line(hub, alice, f"line {i}")
    clock.now += 1.0
    handle_line(hub, alice, "after the pause")
    texts = sink.texts()
    assert "after the pause" in texts
    assert any("3 lines were not sent" in t for t in texts)
