"""Fewer writes (SSH packets) per delivery: coalescing in the front ends' write path.

Each transport write is one SSH packet on a real channel, and a packet costs
the server more than rendering the line in it (bench/RESULTS.md, 2026-12-01).
"""

from __future__ import annotations

import asyncio

from helpers.frontends import Recorder, hub, stop, until

from sshchat.core.events import Notice
from sshchat.frontends.base import LineFrontEnd
from sshchat.frontends.terminal import TerminalFrontEnd


async def test_a_print_through_the_editor_is_one_write_with_its_repaint() -> None:
    # The first print has no recorded repaint to replay: it goes through
    # prompt_toolkit's in_terminal(), which flushes the erase, the text and
    # the repaint separately; they must leave as one write.
    transport = Recorder()
    front = TerminalFrontEnd(hub(), transport, "alice", welcome="hello-there")
    front.start()
    try:
        await until(lambda: "hello-there" in transport.text and "alice" in transport.text)
        await until(lambda: front._replay is not None)
        [chunk] = [w for w in transport.writes if "hello-there" in w]
        assert "#lobby" in chunk.split("hello-there", 1)[1]  # the prompt, in the same write
        front._replay = None  # e.g. after a resize: the slow path again
        front.outbox.deliver(Notice("second-note"))
        await until(lambda: "second-note" in transport.text and front._replay is not None)
        [chunk] = [w for w in transport.writes if "second-note" in w]
        assert "#lobby" in chunk.split("second-note", 1)[1]
    finally:
        await stop(front)


async def test_a_busy_plain_session_gets_its_lines_in_one_write() -> None:
    transport = Recorder()
    front = LineFrontEnd(hub(), transport, "alice")
    front.coalesce_seconds = 1.0  # wide, so that a slow machine cannot miss it
    front.start()
    try:
        front.outbox.deliver(Notice("line 1"))
        await until(lambda: "line 1" in transport.text)
        # A reply right after a quiet spell goes out at once, on its own...
        front.outbox.deliver(Notice("line 2"))
        await until(lambda: "line 2" in transport.text)
        assert len(transport.writes) == 2
        # ...and now the session is busy: lines arriving one by one, each on
        # a later loop turn, wait for the window and leave together.
        for i in range(3, 11):
            front.outbox.deliver(Notice(f"line {i}"))
            for _ in range(5):
                await asyncio.sleep(0)
        await until(lambda: "line 10" in transport.text)
        assert transport.writes[2:] == ["".join(f"line {i}\n" for i in range(3, 11))]
    finally:
        await stop(front)
