"""The shared flush of the front ends' outboxes (frontends.base.Flusher).

A line to N sessions used to cost N task wake-ups and N coalescing timers;
now one loop callback writes every session that can be written, and the
sessions held by coalescing share one timer per hold window
(bench/RESULTS.md, 2026-12-01, branch fanout).
"""

from __future__ import annotations

import asyncio
import contextvars
import re
from typing import Any

import pytest
from helpers.frontends import Recorder, hub, stop, until
from hypothesis import given, settings
from hypothesis import strategies as st

from sshchat.core.events import Notice
from sshchat.core.hub import Hub
from sshchat.frontends.base import HOLD_GRAIN, LONG_HOLD_BATCH, Flusher, LineFrontEnd
from sshchat.frontends.terminal import TerminalFrontEnd


class FakeLoop:
    """Records what the Flusher schedules instead of running it."""

    def __init__(self) -> None:
        self.soon: list[tuple[Any, tuple[Any, ...], contextvars.Context | None]] = []
        self.at: list[tuple[float, Any, tuple[Any, ...]]] = []

    def call_soon(self, callback: Any, *args: Any, context: Any = None) -> None:
        self.soon.append((callback, args, context))

    def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> None:
        self.at.append((when, callback, args))


class FakeFront:
    def __init__(self, log: list[tuple[str, int]], n: int) -> None:
        self.log, self.n = log, n

    def _flush_ready(self) -> None:
        self.log.append(("flush", self.n))

    def _hold_over(self) -> None:
        self.log.append(("hold over", self.n))


def test_one_fan_out_pass_is_one_callback() -> None:
    loop = FakeLoop()
    flusher = Flusher(loop)  # type: ignore[arg-type]
    log: list[tuple[str, int]] = []
    fronts = [FakeFront(log, n) for n in range(500)]
    for front in fronts:
        flusher.ready(front)  # type: ignore[arg-type]
    assert len(loop.soon) == 1 and not log
    callback, args, _ = loop.soon.pop()
    callback(*args)
    assert log == [("flush", n) for n in range(500)]  # in delivery order
    flusher.ready(fronts[0])  # type: ignore[arg-type]  # the next pass: a new callback
    assert len(loop.soon) == 1


def test_sessions_held_until_the_same_window_share_one_timer() -> None:
    loop = FakeLoop()
    flusher = Flusher(loop)  # type: ignore[arg-type]
    log: list[tuple[str, int]] = []
    for n in range(100):  # written in one pass: their holds end within a grain
        flusher.hold(FakeFront(log, n), 10.0301 + n * 1e-6)  # type: ignore[arg-type]
    flusher.hold(FakeFront(log, 100), 10.05)  # type: ignore[arg-type]
    assert [round(when / HOLD_GRAIN) for when, _, _ in loop.at] == [2007, 2010]
    for when, callback, args in loop.at:
        assert when >= 10.0301  # never released before the hold is over
        callback(*args)
    assert log == [("hold over", n) for n in range(101)]


SENDER: contextvars.ContextVar[str] = contextvars.ContextVar("sender", default="none")


async def test_flushes_run_outside_the_delivering_context() -> None:
    # The hub delivers while applying the sender's line, in the sender's
    # context; prompt_toolkit finds "the" application through context
    # variables (stack-notes, pitfall 6), so the writes must not run there.
    seen: list[str] = []

    class Probe(Recorder):
        def write(self, data: str) -> None:
            seen.append(SENDER.get())
            super().write(data)

    transport = Probe()
    front = LineFrontEnd(hub(), transport, "alice")
    front.start()
    try:
        await until(lambda: front._writer_busy is False)

        def deliver() -> None:
            SENDER.set("bob")
            front.outbox.deliver(Notice("from bob's context"))

        contextvars.copy_context().run(deliver)
        await until(lambda: "from bob's context" in transport.text)
        assert seen == ["none"]
    finally:
        await stop(front)


async def test_a_print_above_the_prompt_does_not_wait_for_the_sessions_task() -> None:
    # Once a repaint can be replayed, a line is printed from the shared
    # callback: the session's writer task is not woken for it.
    transport = Recorder()
    front = TerminalFrontEnd(hub(), transport, "alice", welcome="hello-there")
    front.start()
    try:
        await until(lambda: front._replay is not None and "#lobby" in transport.text)
        parked = woken = 0
        wait = front.outbox.wait

        async def counted() -> None:
            nonlocal parked, woken
            parked += 1
            await wait()
            woken += 1

        front.outbox.wait = counted  # type: ignore[method-assign]
        front.outbox.wake()  # the writer is parked in the old wait: let it take the new one
        await until(lambda: parked == 1)
        front.outbox.deliver(Notice("fast-path"))
        await until(lambda: "fast-path" in transport.text)
        [chunk] = [w for w in transport.writes if "fast-path" in w]
        assert chunk.endswith(front._replay)  # the prompt, redrawn in the same write
        for _ in range(20):
            await asyncio.sleep(0)
        assert woken == 0
    finally:
        await stop(front)


# -- order and bounds, whatever happens between deliveries ----------------------------

OPS = st.lists(
    st.one_of(
        st.just(("pause", 0)),
        st.just(("resume", 0)),
        st.tuples(st.just("turns"), st.integers(0, 5)),
        st.tuples(st.just("deliver"), st.integers(1, 6)),
    ),
    max_size=40,
)
DROPPED = re.compile(r"(\d+) lines? (?:was|were) dropped")


async def _run_ops(ops: list[tuple[str, int]], limit: int, hold: float) -> tuple[list[str], int]:
    transport = Recorder()
    front = LineFrontEnd(Hub([("alice", False)], default_channel="lobby"), transport, "alice")
    front.coalesce_seconds = hold
    front.start()
    sent = 0
    try:
        # What the login itself says is out of the way before the limit shrinks.
        await until(lambda: not front._writer_busy and not len(front.outbox))
        front.outbox.limit = limit
        for op, n in ops:
            if op == "pause":
                front.pause_writing()
            elif op == "resume":
                front.resume_writing()
            elif op == "turns":
                for _ in range(n):
                    await asyncio.sleep(0)
            else:
                for _ in range(n):
                    front.outbox.deliver(Notice(f"m{sent}"))
                    sent += 1
        front.resume_writing()
        marker = "the end"
        front.outbox.deliver(Notice(marker))
        await until(lambda: marker in transport.text)
    finally:
        await stop(front)
    return transport.text.splitlines(), sent


@settings(max_examples=40, deadline=None)
@given(OPS, st.integers(1, 8), st.sampled_from([0.0, 0.002]))
def test_lines_arrive_in_order_and_every_drop_is_told(
    ops: list[tuple[str, int]], limit: int, hold: float
) -> None:
    lines, sent = asyncio.run(_run_ops(ops, limit, hold))
    got = [int(line[1:]) for line in lines if re.fullmatch(r"m\d+", line)]
    assert got == sorted(got) and len(set(got)) == len(got)
    told = sum(int(m.group(1)) for line in lines if (m := DROPPED.search(line)))
    assert len(got) + told == sent  # nothing lost without being told
    assert lines[-1] == "the end"


async def test_a_session_receiving_many_lines_per_write_is_held_longer() -> None:
    # Fewer, fuller packets while a session receives far faster than it is
    # written; a line at a time is held no longer than before. (Checks the
    # hold decided after each write, not how long anything took.)
    transport = Recorder()
    front = TerminalFrontEnd(hub(), transport, "alice")
    front.start()
    try:
        await until(lambda: front._replay is not None and not len(front.outbox))
        holds = []
        for batch in (1, LONG_HOLD_BATCH):
            front._hold_until = -1e9  # the previous hold is over
            for i in range(batch):
                front.outbox.deliver(Notice(f"batch{batch}-{i}"))
            await until(lambda b=batch: f"batch{b}-{b - 1}" in transport.text)
            holds.append(front._hold_until - front._last_write)
        assert holds[0] == pytest.approx(front.coalesce_seconds)
        assert holds[1] == pytest.approx(2 * front.coalesce_seconds)
    finally:
        await stop(front)


async def test_a_held_session_is_not_put_on_each_pass_until_its_hold_is_over() -> None:
    # Under overload nearly every session is held: a line handed to it must not
    # queue it on the next pass (its flush could only return), and everything
    # that arrived meanwhile goes out, in order, when the hold is over.
    transport = Recorder()
    front = LineFrontEnd(hub(), transport, "alice")
    front.start()
    try:
        await until(lambda: not front._writer_busy and not len(front.outbox))
        flusher = front._flusher
        assert flusher is not None
        queued: list[object] = []
        ready = flusher.ready

        def counted(f: Any) -> None:
            queued.append(f)
            ready(f)

        flusher.ready = counted  # type: ignore[method-assign]
        # A hold no slow machine can outlast during the test; it is ended below
        # as its timer ends it, once the loop's clock has reached it.
        front._hold_until = flusher.loop.time() + 3600
        front.outbox.deliver(Notice("held-0"))
        await until(lambda: front._holding)
        assert queued == [front]
        for i in range(1, 50):
            front.outbox.deliver(Notice(f"held-{i}"))
        for _ in range(20):
            await asyncio.sleep(0)
        assert queued == [front] and "held-0" not in transport.text
        front._hold_until = flusher.loop.time()
        front._hold_over()
        await until(lambda: "held-49" in transport.text)
        got = [line for line in transport.text.splitlines() if line.startswith("held-")]
        assert got == [f"held-{i}" for i in range(50)]
    finally:
        await stop(front)
