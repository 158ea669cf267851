"""One module per scenario family; each has ``async def run(bench, ...) -> dict``."""

from . import bruteforce, cluster, fanout, floor, handshakes, sessions, storm

__all__ = ["bruteforce", "cluster", "fanout", "floor", "handshakes", "sessions", "storm"]
