"""Fixtures of the cluster tests: a real redis-server, and `sshchat serve` nodes on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from helpers.cluster import Cluster
from helpers.redis_server import RedisServer


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, on a free port (killed at the end)."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.kill()


@pytest.fixture
async def cluster(
    tmp_path: Path, password_hashes: dict[str, str], redis_server: RedisServer
) -> AsyncIterator[Cluster]:
    """`sshchat serve` nodes started on ``redis_server`` by the test; all stopped at the end."""
    nodes = Cluster(tmp_path, password_hashes, redis_server.url)
    try:
        yield nodes
    finally:
        await nodes.close()
