"""The RESP2 reading and writing of the raw stream connections (no Redis)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sshchat.cluster.streamread import (
    Incomplete,
    ReplyError,
    StreamAppending,
    pack,
    parse,
)

values = st.recursive(
    st.none() | st.binary(max_size=20) | st.integers(-(2**40), 2**40),
    lambda inner: st.lists(inner, max_size=5),
    max_leaves=20,
)


def encode(value: object) -> bytes:
    if value is None:
        return b"$-1\r\n"
    if isinstance(value, bytes):
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if isinstance(value, int):
        return b":%d\r\n" % value
    assert isinstance(value, list)
    return b"*%d\r\n" % len(value) + b"".join(encode(item) for item in value)


@given(values, st.data())
def test_a_reply_parses_whole_and_never_from_a_prefix(value: object, data) -> None:
    raw = encode(value)
    assert parse(raw + b"+NEXT\r\n") == (value, len(raw))
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(Incomplete):
        parse(raw[:cut])


def test_simple_strings_errors_and_nil_arrays() -> None:
    assert parse(b"+OK\r\n") == (b"OK", 5)
    assert parse(b"*-1\r\n") == (None, 5)
    error, _ = parse(b"-ERR no such key\r\n")
    assert isinstance(error, ReplyError) and "no such key" in str(error)
    with pytest.raises(ValueError):
        parse(b"?what\r\n")


def test_pack_is_what_redis_reads() -> None:
    assert pack("XADD", "s", "*", "n", b"a\r\nb", 3) == (
        b"*6\r\n$4\r\nXADD\r\n$1\r\ns\r\n$1\r\n*\r\n$1\r\nn\r\n$4\r\na\r\nb\r\n$1\r\n3\r\n"
    )


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data) -> None:
        self.written.append(bytes(data))

    def close(self) -> None:
        self.closed = True


async def test_appends_are_written_at_once_and_acknowledged_in_order() -> None:
    acked: list[object] = []
    appending = StreamAppending(acked.append, timeout=5.0, setup=[pack("SELECT", 2)])
    transport = Transport()
    appending.connection_made(transport)
    appending.send("first", pack("XADD", "s", "*", "f", "1"))
    appending.send("second", pack("XADD", "s", "*", "f", "2"))
    # Written in the caller's turn: no task had to run first.
    assert transport.written[1:] == [
        pack("XADD", "s", "*", "f", "1"),
        pack("XADD", "s", "*", "f", "2"),
    ]
    # The SELECT's +OK is skipped; replies split anywhere still arrive whole.
    stream = b"+OK\r\n$3\r\n1-0\r\n$3\r\n1-1\r\n"
    for i in range(len(stream)):
        appending.data_received(stream[i : i + 1])
    assert acked == ["first", "second"]
    assert not appending.done.done()


async def test_an_error_reply_ends_the_connection_and_is_reported() -> None:
    appending = StreamAppending(lambda tag: None, timeout=5.0, setup=[])
    transport = Transport()
    appending.connection_made(transport)
    appending.send("x", pack("XADD", "s", "*", "f", "1"))
    appending.data_received(b"-OOM command not allowed\r\n")
    assert transport.closed
    with pytest.raises(ConnectionError, match="OOM"):
        appending.done.result()
    assert not appending.open
