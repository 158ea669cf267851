"""Token bucket and failed-login throttle, with an injected clock."""

from __future__ import annotations

import pytest

from sshchat.ratelimit import TokenBucket
from sshchat.throttle import AuthThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_burst_then_rate() -> None:
    clock = Clock()
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
    clock = Clock()
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
    # The account was blocked too, for password attempts from anywhere.
    assert throttle.check("10.0.0.2", "alice").blocked
    clock.now += 601
    assert not throttle.check("10.0.0.1").blocked


def test_throttle_success_clears_source_and_records_expire() -> None:
    clock = Clock()
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
    throttle = AuthThrottle(max_records=100, clock=Clock())
    for i in range(1000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}", f"user{i}")
    assert len(throttle._sources) == 100
    assert len(throttle._accounts) == 100
