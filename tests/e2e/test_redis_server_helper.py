"""The redis-server helper: a test never shares another test's Redis."""

from __future__ import annotations

import pytest
from helpers.redis_server import RedisServer


def test_a_port_taken_before_redis_binds_it_is_swapped_for_a_free_one(tmp_path) -> None:
    # What another test suite on the machine does between free_port() and bind().
    theirs = RedisServer(tmp_path / "theirs").start()
    try:
        ours = RedisServer(tmp_path / "ours")
        ours.port = theirs.port
        ours.start()
        try:
            assert ours.port != theirs.port
            client = ours.client()
            try:
                assert int(client.info("server")["process_id"]) == ours.proc.pid
            finally:
                client.close()
        finally:
            ours.kill()
    finally:
        theirs.kill()


def test_a_restart_on_a_taken_port_is_a_clear_failure(tmp_path) -> None:
    ours = RedisServer(tmp_path / "ours").start()
    ours.kill()
    theirs = RedisServer(tmp_path / "theirs")
    theirs.port = ours.port
    theirs.start()
    try:
        with pytest.raises(AssertionError, match="could not listen"):
            ours.start()  # the nodes know this port: it cannot move
    finally:
        ours.kill()
        theirs.kill()
