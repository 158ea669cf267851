"""One module per scenario family; each has ``async def run(bench, ...) -> dict``."""

from . import bruteforce, fanout, floor, handshakes, sessions, storm

__all__ = ["bruteforce", "fanout", "floor", "handshakes", "sessions", "storm"]
