"""Who writes the re-seeded base when the winner does not: ranks, leases and deadlines.

No Redis: the client is never connected; only the lease lookup is answered,
and the clock is a fake one.
"""

from __future__ import annotations

import asyncio

from sshchat.cluster.redislog import RedisFactLog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_log(clock: Clock, alive: set[str]) -> RedisFactLog:
    log = RedisFactLog("redis://127.0.0.1:1/0", "me", monotonic=clock, renew=1.0, adopt_within=10.0)

    async def exists(*keys: str) -> int:
        return sum(1 for key in keys if key.rsplit(":", 1)[-1] in alive)

    log.redis.exists = exists  # type: ignore[method-assign]
    return log


def turn(log: RedisFactLog, above: list[str], started: float) -> bool:
    return asyncio.run(log._my_turn(above, started))


def test_the_winner_writes_at_once() -> None:
    clock = Clock()
    assert turn(make_log(clock, set()), [], clock.now)


def test_a_runner_up_waits_while_the_winner_holds_its_lease_then_for_the_deadline() -> None:
    clock = Clock()
    log = make_log(clock, {"w/1/"})
    started = clock.now
    for waited in (0.0, 2.0, 9.9):
        clock.now = started + waited
        assert not turn(log, ["w/1/"], started)
    clock.now = started + 10.0  # adopt_within per candidate ranked above
    assert turn(log, ["w/1/"], started)


def test_a_runner_up_takes_over_once_the_winner_has_no_lease_but_not_at_once() -> None:
    clock = Clock()
    log = make_log(clock, set())
    started = clock.now
    clock.now = started + 1.5  # under one renewal and a second: a live winner may not be back
    assert not turn(log, ["w/1/"], started)
    clock.now = started + 2.0
    assert turn(log, ["w/1/"], started)


def test_a_third_waits_for_both_above_it() -> None:
    clock = Clock()
    log = make_log(clock, {"second/1/"})
    started = clock.now
    clock.now = started + 15.0  # past one deadline, not two; the second is alive
    assert not turn(log, ["w/1/", "second/1/"], started)
    clock.now = started + 20.0
    assert turn(log, ["w/1/", "second/1/"], started)
