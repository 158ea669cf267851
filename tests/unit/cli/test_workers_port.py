"""The port ``serve --workers`` picks is held for the workers, not merely looked up."""

from __future__ import annotations

import errno
import socket

import pytest

from sshchat.cli.workers import reserve_port


def test_a_reserved_port_is_taken_by_nobody_else_but_the_workers_can_listen_on_it() -> None:
    reserved = reserve_port("127.0.0.1")
    try:
        port = reserved.getsockname()[1]
        with socket.socket() as other, pytest.raises(OSError) as err:
            other.bind(("127.0.0.1", port))  # another program: refused
        assert err.value.errno == errno.EADDRINUSE
        with socket.socket() as worker:  # a worker, as asyncssh listens with reuse_port
            worker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            worker.bind(("127.0.0.1", port))
            worker.listen()
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                conn, _ = worker.accept()  # connections reach the worker, not the reservation
                conn.close()
    finally:
        reserved.close()
