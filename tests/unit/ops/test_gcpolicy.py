"""The garbage-collection policy freezes survivors often and collects fully now and then."""

from __future__ import annotations

import gc
import weakref

from helpers.fakes import Clock

from sshchat.ops.gcpolicy import GcPolicy


def test_freezes_every_few_seconds_and_collects_fully_now_and_then(monkeypatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "unfreeze", lambda: calls.append("unfreeze"))
    monkeypatch.setattr(gc, "collect", lambda *a: calls.append(f"collect{list(a)}") or 0)
    clock = Clock()
    policy = GcPolicy(freeze_every=5, full_every=60, clock=clock)
    for _ in range(4):
        clock.now += 1
        policy.tick()
    assert calls == []
    clock.now += 1
    policy.tick()
    assert calls == ["collect[1]", "freeze"]  # the young generations, then freeze
    clock.now = 61
    policy.tick()
    assert calls[2:] == ["unfreeze", "collect[]", "freeze"]
    policy.stop()
    assert calls[-1] == "unfreeze"


def test_the_default_freezes_every_second() -> None:
    assert GcPolicy().freeze_every == 1.0


def test_young_garbage_is_collected_not_frozen() -> None:
    class Node:
        pass

    clock = Clock()
    policy = GcPolicy(freeze_every=1, full_every=1000, clock=clock)
    try:
        cycle = Node()
        cycle.me = cycle  # type: ignore[attr-defined]
        gone = weakref.ref(cycle)
        del cycle
        clock.now = 2
        policy.tick()
        assert gone() is None
    finally:
        policy.stop()


def test_real_freeze_and_stop_leave_nothing_frozen() -> None:
    clock = Clock()
    policy = GcPolicy(freeze_every=1, full_every=1000, clock=clock)
    clock.now = 2
    policy.tick()
    assert gc.get_freeze_count() > 0
    policy.stop()
    assert gc.get_freeze_count() == 0
