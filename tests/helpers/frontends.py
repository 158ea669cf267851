"""Front ends on an in-memory transport: what they write, and waiting on the loop."""

from __future__ import annotations

import asyncio

from sshchat.core.hub import Hub

__all__ = ["Recorder", "hub", "stop", "until"]


class Recorder:
    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, data: str) -> None:
        self.writes.append(data)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def exit(self, status: int) -> None:
        pass

    @property
    def text(self) -> str:
        return "".join(self.writes)


async def until(condition, turns: int = 200_000) -> None:
    """Let the loop run until ``condition()`` holds (no clock involved)."""
    for turn in range(turns):
        if condition():
            return
        await asyncio.sleep(0.001 if turn % 100 == 99 else 0)
    raise AssertionError("condition never held")


def hub() -> Hub:
    return Hub([("alice", False), ("bob", False)], default_channel="lobby")


async def stop(front) -> None:
    front.connection_lost()
    if front._task is not None:
        await asyncio.gather(front._task, return_exceptions=True)
