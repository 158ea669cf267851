"""XREAD kept outstanding on a raw connection, each reply handled in the turn it arrives.

Why not redis-py here: its asyncio client is a task reading a stream, so a reply
that arrives on loop turn N wakes the reading task on turn N+1 -- and on a node
serving hundreds of sessions one turn of the loop is tens of milliseconds (a
fan-out pass). Handling the reply in ``data_received`` applies it, and sends the
next XREAD, in the very turn the socket became readable: one turn less per line
said in a cluster (see bench/RESULTS.md, branch ``clat``).

Only the steady state is done here: everything else (errors, the lease, epochs,
re-seeding) stays with :class:`~sshchat.cluster.redislog.RedisFactLog`'s read
loop, which this hands back to by completing :attr:`StreamReading.done`.
It parses RESP2 itself (a few lines; hiredis would change how redis-py's own
client behaves when Redis restarts, measured in the cluster tests). For a URL
this does not speak (TLS, unix sockets) the read loop keeps using redis-py.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["Incomplete", "StreamAppending", "StreamReading", "available", "pack", "parse"]

#: Called with one XREAD reply (None when the block timed out); returns True to
#: send the next XREAD at once, False to hand back to the caller (``done``).
OnReply = Callable[[Any], bool]


def available(kwargs: dict[str, Any]) -> bool:
    """Whether a redis-py pool's connection settings are ones this can connect with."""
    return (
        isinstance(kwargs.get("host"), str)
        and isinstance(kwargs.get("port"), int)
        and "path" not in kwargs
        and not kwargs.get("ssl")
    )


class Incomplete(Exception):
    """The buffer ends inside a reply: wait for more bytes."""


class ReplyError(Exception):
    """An error reply (``-ERR ...``)."""


def parse(buf: bytes, pos: int = 0) -> tuple[Any, int]:
    """One RESP2 reply from ``buf`` at ``pos``: (value, position after it).

    Bulk strings are bytes, arrays lists, nil (bulk or array) None, integers
    int, simple strings bytes; an error reply is a :class:`ReplyError` value.
    Raises :class:`Incomplete` when ``buf`` ends first, ValueError on bytes
    that are not RESP2.
    """
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise Incomplete
    kind, line = buf[pos : pos + 1], buf[pos + 1 : end]
    pos = end + 2
    if kind == b"+":
        return line, pos
    if kind == b"-":
        return ReplyError(line.decode(errors="replace")), pos
    if kind == b":":
        return int(line), pos
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, pos
        if len(buf) < pos + size + 2:
            raise Incomplete
        if buf[pos + size : pos + size + 2] != b"\r\n":
            raise ValueError("bulk string not ended by CRLF")
        return buf[pos : pos + size], pos + size + 2
    if kind == b"*":
        count = int(line)
        if count < 0:
            return None, pos
        items = []
        for _ in range(count):
            item, pos = parse(buf, pos)
            items.append(item)
        return items, pos
    raise ValueError(f"not a RESP2 reply: {kind!r}")


def pack(*args: bytes | str | int) -> bytes:
    """One command in RESP (an array of bulk strings)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


class _RespConnection(asyncio.Protocol):
    """What both raw connections share: the setup commands, RESP2 replies parsed as
    they arrive, a reply deadline, and :attr:`done` for how the connection ended.

    ``setup`` (AUTH / SELECT) is written first; its replies are checked and
    skipped. A subclass handles every other reply in :meth:`_handle`. A reply
    error, the connection lost, bytes that are not RESP2, or no reply within
    ``timeout`` seconds of a request (a dead peer) end it with that error.
    """

    #: What is waited for, in the time-out message ("XREAD", "XADD").
    what = "a"

    def __init__(self, *, timeout: float, setup: list[bytes]) -> None:
        self.timeout = timeout
        self.setup = setup
        self._skip = len(setup)
        self._buf = b""
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if self.setup:
            transport.write(b"".join(self.setup))

    def data_received(self, data: bytes) -> None:
        self._buf += data
        pos = 0
        try:
            while not self.done.done():
                try:
                    reply, pos = parse(self._buf, pos)
                except Incomplete:
                    break
                if isinstance(reply, ReplyError):
                    self._finish(ConnectionError(f"Redis replied: {reply}"))
                elif self._skip:
                    self._skip -= 1
                else:
                    self._disarm()
                    self._handle(reply)
        except ValueError as err:
            self._finish(ConnectionError(f"Redis sent something that is not RESP2: {err}"))
        self._buf = self._buf[pos:]

    def _handle(self, reply: Any) -> None:
        raise NotImplementedError

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(ConnectionError(f"connection to Redis lost ({exc or 'closed'})"))

    def _arm(self) -> None:
        """Expect a reply within ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.timeout, self._timed_out)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        self._finish(TimeoutError(f"no {self.what} reply within {self.timeout:g} s"))

    def _finish(self, err: BaseException | None) -> None:
        """End the connection: :attr:`done` gets None (handed back) or ``err``."""
        self._disarm()
        if not self.done.done():
            if err is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(err)
        if self._transport is not None:
            self._transport.close()


class StreamReading(_RespConnection):
    """One connection that keeps an ``XREAD BLOCK`` outstanding on ``stream``.

    ``position()`` gives the id to read after (read again before each XREAD, as
    the caller applies); ``on_reply`` handles each reply. :attr:`done` completes
    with None when ``on_reply`` hands back, or with the error that ended the
    connection (a reply error, the connection lost, no reply within
    ``timeout`` seconds: a dead peer).
    """

    what = "XREAD"

    def __init__(
        self,
        stream: str,
        position: Callable[[], str],
        on_reply: OnReply,
        *,
        block_ms: int,
        count: int,
        timeout: float,
        setup: list[bytes],
    ) -> None:
        super().__init__(timeout=timeout, setup=setup)
        self.stream = stream
        self.position = position
        self.on_reply = on_reply
        self.block_ms = block_ms
        self.count = count

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._request()

    def _request(self) -> None:
        assert self._transport is not None
        command = ("XREAD", "COUNT", self.count, "BLOCK", self.block_ms, "STREAMS")
        self._transport.write(pack(*command, self.stream, self.position()))
        self._arm()

    def _handle(self, reply: Any) -> None:
        try:
            again = self.on_reply(reply)
        except Exception as err:  # a bug in applying must not leave the loop waiting
            self._finish(err)
            return
        if not again:
            self._finish(None)
            return
        self._request()


class StreamAppending(_RespConnection):
    """One connection that XADDs entries the moment they are given, pipelined.

    :meth:`send` writes the command in the caller's loop turn (no task to wake,
    no pool to check out a connection from: five turns of redis-py's client on
    a busy loop, measured with ``bench/micro/cluster_turns.py``). Replies come
    back in order; each calls ``on_ack(tag)`` with the tag given to
    :meth:`send`. :attr:`done` ends with the error that ended the connection
    (a reply error, the connection lost, a reply not back within ``timeout``
    seconds); what was sent but not acknowledged is then the caller's to send
    again (appends are idempotent).
    """

    what = "XADD"

    def __init__(
        self,
        on_ack: Callable[[Any], None],
        *,
        timeout: float,
        setup: list[bytes],
    ) -> None:
        super().__init__(timeout=timeout, setup=setup)
        self.on_ack = on_ack
        self._tags: deque[Any] = deque()

    @property
    def open(self) -> bool:
        return self._transport is not None and not self.done.done()

    def close(self) -> None:
        """Close the connection; :attr:`done` ends (with ConnectionError) if still open."""
        self._finish(ConnectionError("closed here"))
        if not self.done.cancelled():
            self.done.exception()  # nobody needs to be told: it was closed on purpose

    def send(self, tag: Any, command: bytes) -> None:
        assert self._transport is not None
        self._transport.write(command)
        self._tags.append(tag)
        if self._timer is None:
            self._arm()

    def _handle(self, reply: Any) -> None:
        if self._tags:
            self.on_ack(self._tags.popleft())
            if self._tags:
                self._arm()
