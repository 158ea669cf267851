"""Polling waits with a deadline, for conditions no output line announces."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

# How long a session may take to end, or server-side state to settle.
CLOSE_TIMEOUT = 5.0


async def until(
    predicate: Callable[[], bool], timeout: float = CLOSE_TIMEOUT, what: str = "condition"
) -> None:
    """Wait until ``predicate()`` holds (polling; for server-side state)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
