"""What every front end shares: the hub hook-up, the bounded outbox and input pacing.

A front end is one user's connection seen from the hub: it registers a
:class:`Outbox` as the session's :class:`~sshchat.core.hub.Sink`, feeds typed lines
to :func:`~sshchat.commands.registry.handle_line`, and writes rendered events back.
Nothing here knows about SSH: the transport is reached through the small
:class:`Transport` protocol, so tests and other front ends can supply their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import weakref
from collections import deque
from collections.abc import Callable
from typing import Protocol

from sshchat.commands.chat import GOODBYE
from sshchat.commands.refusals import plural
from sshchat.commands.registry import (
    CommandRegistry,
    Outcome,
    Session,
    default_registry,
    handle_line,
    is_said,
    line_wait,
)
from sshchat.config.schema import Limits
from sshchat.core.events import Event, Notice, NoticeKind, SessionEnded
from sshchat.core.hub import Client, Hub
from sshchat.core.model import DEFAULT_MAX_TEXT
from sshchat.frontends.render import Renderer

__all__ = ["Flusher", "FrontEnd", "LineGuard", "Outbox", "Transport", "flusher"]

log = logging.getLogger(__name__)

# Input pacing: at most this many characters are handed to the line editor per
# event-loop turn, and reading from the client pauses while more than
# INBOX_HIGH characters wait (a big paste is taken in slices, never all at once).
SLICE = 2048
INBOX_HIGH = 64 * 1024
INBOX_LOW = 8 * 1024
#: Lines a session may have waiting for its previous command to be applied
#: (cluster mode: the shared log applies later); more are refused with a notice.
HELD_LINES = 200


class Transport(Protocol):
    """The few things a front end needs from the connection it runs on."""

    def write(self, data: str) -> None: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def exit(self, status: int) -> None: ...


class Outbox:
    """A session's bounded queue of events: the hub's :class:`~sshchat.core.hub.Sink`.

    When the session falls ``limit`` events behind, the oldest are dropped and
    counted, so a stuck client never makes the server grow without bound.

    ``on_ready``, when given, is called on every delivery instead of waking a
    task: a front end flushes its outbox from one shared callback per fan-out
    pass (:class:`Flusher`) rather than from one task wake-up per session per
    line, which is most of what a delivery cost (``bench/RESULTS.md``,
    2026-12-01, branch fanout). Without it, :meth:`take` waits for deliveries.
    """

    def __init__(
        self,
        limit: int,
        on_close: Callable[[str], None],
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self.limit = max(1, limit)
        self.dropped = 0
        self._items: deque[Event] = deque()
        self._wakeup = asyncio.Event()
        self._on_close = on_close
        self._on_ready = on_ready
        self._open = True

    def deliver(self, event: Event) -> None:
        if not self._open:
            return
        items = self._items
        if len(items) >= self.limit:
            items.popleft()
            self.dropped += 1
        items.append(event)
        if self._on_ready is not None:
            self._on_ready()
        else:
            self._wakeup.set()

    def close(self, reason: str) -> None:
        self._on_close(reason)

    def seal(self) -> None:
        """Accept nothing more (the session is ending)."""
        self._open = False
        if self._on_ready is not None:
            self._on_ready()
        self._wakeup.set()

    def wake(self) -> None:
        """Wake the task waiting in :meth:`wait` or :meth:`take`."""
        self._wakeup.set()

    def __len__(self) -> int:
        return len(self._items)

    async def wait(self) -> None:
        """Wait until woken (by a delivery, without ``on_ready``, or by :meth:`wake`)."""
        await self._wakeup.wait()
        self._wakeup.clear()

    def take_now(self) -> tuple[list[Event], int]:
        """Return all queued events and how many were dropped, and forget both."""
        items = list(self._items)
        self._items.clear()
        dropped, self.dropped = self.dropped, 0
        return items, dropped

    async def take(self) -> tuple[list[Event], int]:
        """Wait for events; return all queued ones and how many were dropped."""
        await self.wait()
        return self.take_now()


#: A write of at least this many events doubles the coalescing hold after it
#: (see FrontEnd._wrote).
LONG_HOLD_BATCH = 4

#: Hold windows end on multiples of this many seconds, so that the sessions
#: written in one fan-out pass share one timer when they are held.
HOLD_GRAIN = 0.005


class Flusher:
    """Runs the flushes of the front ends of one event loop, together.

    A delivery only marks its front end ready; the first one of a fan-out pass
    schedules one loop callback that flushes every ready front end, and a
    front end that must wait (coalescing) joins the one timer of its hold
    window's end. So a line to 500 sessions costs one callback and at most one
    timer, not 500 task wake-ups and 500 timers.

    The callbacks run in an empty context, never in the sender's: prompt_toolkit
    finds its application through context variables (stack-notes, pitfall 6).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._ready: list[FrontEnd] = []
        self._scheduled = False
        self._held: dict[float, list[FrontEnd]] = {}
        self._context = contextvars.Context()

    def ready(self, front: FrontEnd) -> None:
        self._ready.append(front)
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self._run, context=self._context)

    def hold(self, front: FrontEnd, until: float) -> None:
        """Flush ``front`` again once the loop time has reached ``until`` (rounded up)."""
        due = math.ceil(until / HOLD_GRAIN) * HOLD_GRAIN
        fronts = self._held.get(due)
        if fronts is None:
            fronts = self._held[due] = []
            self.loop.call_at(due, self._release, due, context=self._context)
        fronts.append(front)

    def _run(self) -> None:
        self._scheduled = False
        ready, self._ready = self._ready, []
        for front in ready:
            front._flush_ready()

    def _release(self, due: float) -> None:
        for front in self._held.pop(due, ()):
            front._hold_over()


_flushers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Flusher] = (
    weakref.WeakKeyDictionary()
)


def flusher() -> Flusher:
    """The :class:`Flusher` of the running event loop."""
    loop = asyncio.get_running_loop()
    found = _flushers.get(loop)
    if found is None:
        found = _flushers[loop] = Flusher(loop)
    return found


class LineGuard:
    """Refuses over-long input lines before they reach an editor or buffer.

    Counts characters since the last line break; past ``limit`` the rest of the
    line is discarded up to the next line break and :attr:`overflowed` is set.
    ``breaks`` are the characters that end a line for counting: a terminal also
    passes Ctrl-C, which clears the line being typed.
    """

    def __init__(self, limit: int, breaks: str = "\r\n") -> None:
        self.limit = limit
        self.breaks = breaks
        self._count = 0
        self.discarding = False

    def filter(self, data: str) -> tuple[str, bool]:
        """Return the part of ``data`` to keep and whether a line overflowed in it."""
        parts = self.split(data)
        return "".join(kept for kept, _ in parts), any(over for _, over in parts)

    def split(self, data: str) -> list[tuple[str, bool]]:
        """Like :meth:`filter`, but cut after each over-long line.

        Returns ``(kept, overflowed)`` pairs in input order; ``overflowed`` means
        the line being typed at the end of ``kept`` is over-long and must be
        thrown away before the text of the next pair is handled (otherwise the
        lines following it would be glued to its kept prefix).
        """
        parts: list[tuple[str, bool]] = []
        kept: list[str] = []
        start = 0
        n = len(data)
        while start < n:
            cut = _next_break(data, start, self.breaks)
            end = n if cut < 0 else cut + 1
            piece = data[start:end]
            has_break = cut >= 0
            if self.discarding:
                if has_break:
                    self.discarding = False
                    self._count = 0
            else:
                body = len(piece) - (1 if has_break else 0)
                if self._count + body > self.limit:
                    keep_n = self.limit - self._count
                    kept.append(piece[:keep_n])
                    parts.append(("".join(kept), True))
                    kept = []
                    self.discarding = not has_break
                    self._count = 0
                else:
                    kept.append(piece)
                    self._count = 0 if has_break else self._count + body
            start = end
        if kept:
            parts.append(("".join(kept), False))
        return parts


def _next_break(data: str, start: int, breaks: str = "\r\n") -> int:
    """Index of the first of ``breaks`` in ``data`` at or after ``start``, or -1."""
    found = [i for i in (data.find(ch, start) for ch in breaks) if i >= 0]
    return min(found) if found else -1


class FrontEnd:
    """Base of the terminal and plain-line front ends.

    Subclasses implement :meth:`_consume` (typed characters in) and
    :meth:`_emit` (rendered lines out), and may override :meth:`_run`.
    """

    color = False
    line_breaks = "\r\n"  # characters that end the line being typed (see LineGuard)
    #: Stop taking input while the client is not reading its output. Front ends
    #: whose input makes output of its own, outside the bounded outbox (a pty
    #: echoes and redraws for every key), set this so that output cannot pile up.
    input_waits_for_output = False
    #: While a session is busy (its last two writes less than twice this
    #: apart), what arrives within this many seconds of a write is held and
    #: goes out with the next write (one SSH packet). The hold ends on a shared
    #: timer (:class:`Flusher`), so when the event loop lags under load the
    #: batches grow with the lag. A line after a quiet spell, and the reply to
    #: a command, go out at once; a session receiving slower than this never
    #: waits on a timer at all.
    coalesce_seconds = 0.03
    #: Hold after every write, busy or not (a pty: see TerminalFrontEnd).
    coalesce_always = False

    def __init__(
        self,
        hub: Hub,
        transport: Transport,
        login: str,
        *,
        welcome: str = "",
        max_line: int = DEFAULT_MAX_TEXT,
        queue_limit: int = Limits.outbound_queue,
        key_fingerprint: str | None = None,
        source: str = "",
        registry: CommandRegistry | None = None,
        motd: Callable[[], str] | None = None,
    ) -> None:
        """``welcome`` greets the session; ``motd``, when given, returns the welcome
        in force now, which ``/motd`` shows (the server's may change on a reload)."""
        self.hub = hub
        self._motd = motd
        # The commands this session understands; the composition root passes
        # its registry, callers that do not get the built-in commands.
        self.registry = registry if registry is not None else default_registry()
        self.transport = transport
        self.login = login
        self.welcome = welcome
        self.max_line = max_line
        self.outbox = Outbox(queue_limit, self._closed_by_hub, self._ready)
        self.renderer = Renderer(color=self.color, own_login=login)
        self.guard = LineGuard(self.raw_line_limit(), self.line_breaks)
        self.client: Client | None = None
        self._key_fingerprint = key_fingerprint
        self._source = source
        self._inbox: deque[str] = deque()
        # Lines waiting for the previous one to apply (cluster mode only): built
        # when a line first has to wait, dropped once none does; an empty deque
        # is 0.7 KB, per session (bench/RESULTS.md, branch mem).
        self._unapplied: deque[str] | None = None
        self._inbox_len = 0
        self._login_waiting = False  # cluster mode: input waits for the login (start)
        self._pump_scheduled = False
        self._eof = False
        self._reading_paused = False
        self._writable = asyncio.Event()
        self._writable.set()
        self._closing = False
        self._stopped = False
        self._task: asyncio.Task[None] | None = None
        self._last_write = -1e9  # loop time; see coalesce_seconds
        self._hold_until = -1e9  # loop time before which nothing is written
        self._holding = False  # waiting for the Flusher's timer
        self._flush_queued = False  # in the Flusher's ready list
        # The write loop holds a batch that could not be written at once (or
        # has not started yet): nothing else is written until it is done, so
        # lines keep their order.
        self._writer_busy = True
        self._pending: list[str] | None = None  # that batch
        self._flusher: Flusher | None = None

    # -- life cycle ------------------------------------------------------------

    def raw_line_limit(self) -> int:
        """How many raw characters one input line may have before it is refused."""
        return self.max_line

    def start(self) -> None:
        """Join the hub and start the session's task.

        Raises :class:`~sshchat.core.hub.HubError` when the hub refuses the login
        (e.g. a ban that started after authentication).
        """
        if self.welcome:
            self.outbox.deliver(Notice(self.welcome))
        self.client = self.hub.connect(
            self.login, self.outbox, key_fingerprint=self._key_fingerprint, source=self._source
        )
        if not self.hub.is_live(self.client):
            # Cluster mode: the login is applied once the shared log has it. What
            # the client types meanwhile waits in the inbox (bounded like any
            # input, see _pace_reading) until then, or until it is refused. Not
            # by pausing the channel: asyncssh resumes reading right after
            # session_started returns, so a script's first commands ran against
            # a state without its session ("this session has ended").
            self._login_waiting = True
            self.hub.when_applied(self._login_settled, self._login_settled)
        account = self.client.account
        self.renderer.prefs = account.prefs
        self.renderer.set_own_nick(lambda: account.nick)
        self._task = asyncio.get_running_loop().create_task(self._main())

    async def _main(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("session of %s failed", self.login)
        finally:
            self._leave_hub()
            with contextlib.suppress(Exception):
                self.transport.exit(0)

    async def _run(self) -> None:
        await self._write_loop()

    def request_close(self) -> None:
        """End the session after what is queued has been written."""
        if self._closing:
            return
        self._closing = True
        self._leave_hub()
        self.outbox.seal()

    def connection_lost(self) -> None:
        """The client is gone: leave the hub at once and stop all work."""
        self._stopped = True
        self._leave_hub()
        self._inbox.clear()
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def _leave_hub(self) -> None:
        if self.client is not None:
            self.hub.disconnect(self.client)
            self.outbox.seal()

    def _closed_by_hub(self, reason: str) -> None:
        self.outbox.deliver(Notice(reason))
        self.request_close()

    # -- output ----------------------------------------------------------------

    def pause_writing(self) -> None:
        self._writable.clear()
        self._pace_reading()

    def resume_writing(self) -> None:
        self._writable.set()
        self._pace_reading()
        if len(self.outbox) or self.outbox.dropped:
            self._ready()

    def _ready(self) -> None:
        """The outbox got something: flush it in this fan-out pass's callback.

        Not while a flush could write nothing: a held session is flushed when
        its hold ends (:meth:`_hold_over`), a busy write loop calls this again
        once its batch is out, and a stopped session never writes. Why: under
        overload nearly every session is held, and each line the hub hands out
        put all of them on the next pass only for :meth:`_flush` to return (a
        tenth of the server's CPU at 300,000 deliveries/s offered,
        ``bench/RESULTS.md``, 2026-12-01 night).
        """
        if not (self._flush_queued or self._holding or self._writer_busy or self._stopped):
            self._flush_queued = True
            if self._flusher is None:
                self._flusher = flusher()
            self._flusher.ready(self)

    def _flush_ready(self) -> None:
        self._flush_queued = False
        self._flush()

    def _hold_over(self) -> None:
        self._holding = False
        self._flush()

    def _flush(self) -> None:
        """Write what the outbox holds now, in this callback, when nothing stands in the way.

        Called from the shared :class:`Flusher` (never from a session's task).
        Waits instead, leaving the events queued (bounded, drops counted), while
        the write loop holds an earlier batch, while the client is not reading,
        and during a coalescing hold. A batch :meth:`_emit_now` cannot write
        synchronously goes to the write loop, in the session's own task.
        """
        if self._stopped or self._writer_busy or self._holding:
            return
        try:
            outbox = self.outbox
            if len(outbox) or outbox.dropped:
                if not self._writable.is_set():
                    return  # resume_writing() flushes
                flusher = self._flusher
                assert flusher is not None  # set by _ready(), which led here
                now = flusher.loop.time()
                if now < self._hold_until and not self._closing:
                    self._holding = True
                    flusher.hold(self, self._hold_until)
                    return
                events, dropped = outbox.take_now()
                lines = self._lines(events, dropped)
                if lines:
                    if self._emit_now(lines):
                        self._wrote(now, len(events))
                    else:
                        self._pending = lines
                        self._writer_busy = True
                        outbox.wake()
                        return
            if self._closing and not len(outbox):
                outbox.wake()  # the write loop ends the session
        except Exception:
            log.exception("output failed for %s", self.login)
            self.connection_lost()

    def _lines(self, events: list[Event], dropped: int) -> list[str]:
        """Render a batch taken from the outbox (with a notice of what was dropped)."""
        lines: list[str] = []
        if dropped:
            self.hub.stats.queue_drops += dropped
            lines.extend(
                self.renderer.render(
                    Notice(
                        f"{plural(dropped, 'line')} {'was' if dropped == 1 else 'were'} "
                        "dropped because they arrived too fast"
                    ),
                    self._current_channel(),
                )
            )
        current = self._current_channel()
        for event in events:
            lines.extend(self.renderer.render(event, current))
            if type(event) is SessionEnded:  # the hub ended the session: say why, close
                self.request_close()
        if lines and self.renderer.take_bell():
            lines[-1] += "\a"
        return lines

    def _wrote(self, now: float, batch: int = 1) -> None:
        """After a write: hold what follows for a while if the session is busy.

        A batch of :data:`LONG_HOLD_BATCH` lines or more means the session
        receives far faster than it is written: it is held twice as long, so
        that its packets (each costing both ends more than a line in it) carry
        more lines. A session receiving a line at a time is never held longer.
        """
        busy = now - self._last_write < 2 * self.coalesce_seconds
        self._last_write = now
        if busy or self.coalesce_always:
            hold = self.coalesce_seconds * (2 if batch >= LONG_HOLD_BATCH else 1)
            self._hold_until = now + hold

    async def _write_loop(self) -> None:
        """Write the batches :meth:`_flush` could not, in the session's own task.

        Returns once the session is closing and everything queued has gone out.
        """
        loop = asyncio.get_running_loop()
        self._writer_busy = False
        self._ready()
        while True:
            await self.outbox.wait()
            lines, self._pending = self._pending, None
            if lines:
                try:
                    await self._writable.wait()
                    await self._emit(lines)
                finally:
                    self._writer_busy = False
                self._wrote(loop.time(), len(lines))
                self._ready()  # what arrived meanwhile, or the end of the session
            elif self._closing and not len(self.outbox):
                return

    def _emit_now(self, lines: list[str]) -> bool:
        """Write ``lines`` now if this front end can; False leaves them to :meth:`_emit`."""
        return False

    def _current_channel(self) -> str:
        return self.client.current.name if self.client is not None else ""

    async def _emit(self, lines: list[str]) -> None:
        raise NotImplementedError

    # -- input -----------------------------------------------------------------

    def feed(self, data: str) -> None:
        """Characters from the client; handed on in slices on later loop turns."""
        if self._stopped or self._closing or not data:
            return
        self._inbox.append(data)
        self._inbox_len += len(data)
        self._pace_reading()
        if not self._pump_scheduled:
            self._pump_scheduled = True
            asyncio.get_running_loop().call_soon(self._pump)

    def _login_settled(self) -> None:
        """The login came back from the shared log (or was refused): take input now."""
        self._login_waiting = False
        self._resume_input()

    def _pump(self) -> None:
        self._pump_scheduled = False
        if self._stopped or self._login_waiting or self._input_held():
            return
        if not self._inbox:
            if self._eof:
                self._eof = False
                self._input_ended()
            return
        data = self._inbox.popleft()
        if len(data) > SLICE:
            self._inbox.appendleft(data[SLICE:])
            data = data[:SLICE]
        self._inbox_len -= len(data)
        try:
            # An over-long line is thrown away before the text after it is handled.
            for kept, overflowed in self.guard.split(data):
                if kept:
                    self._consume(kept)
                if overflowed:
                    self._line_overflowed()
        except Exception:
            log.exception("input handling failed for %s", self.login)
        self._pace_reading()
        if (self._inbox or self._eof) and not self._stopped:
            self._pump_scheduled = True
            asyncio.get_running_loop().call_soon(self._pump)

    def _pace_reading(self) -> None:
        """Pause reading from the client while much input waits, or while
        output waits when :attr:`input_waits_for_output`; resume after."""
        stalled = self.input_waits_for_output and not self._writable.is_set()
        if self._reading_paused:
            if self._inbox_len < INBOX_LOW and not stalled:
                self._reading_paused = False
                self.transport.resume_reading()
        elif self._inbox_len > INBOX_HIGH or stalled:
            self._reading_paused = True
            self.transport.pause_reading()

    def _consume(self, data: str) -> None:
        raise NotImplementedError

    def _input_held(self) -> bool:
        """Whether typed lines are being held back (see :class:`LineFrontEnd`):
        no more input is taken until they have gone out."""
        return False

    def _resume_input(self) -> None:
        """Take input again after it was held."""
        if not self._pump_scheduled and not self._stopped:
            self._pump_scheduled = True
            asyncio.get_running_loop().call_soon(self._pump)

    def _line_overflowed(self) -> None:
        self.outbox.deliver(
            Notice(
                f"line too long (the limit is {self.max_line} characters); "
                "it was discarded and nothing was sent",
                NoticeKind.ERROR,
            )
        )

    def submit(self, line: str) -> Outcome:
        """Hand one complete line (or a pasted block) to the command layer.

        In cluster mode a command takes effect once the shared log hands it
        back: the next line waits until then, so that lines act in the order
        typed (with the in-process log nothing ever waits). A line said after
        lines said does not wait: the log keeps them in order anyway.
        """
        if self.client is None or self._closing:
            return Outcome.CONTINUE
        held = self._unapplied
        if held or self.hub.has_pending(self.client, saying=is_said(line)):
            if held is None:
                held = self._unapplied = deque()
            if len(held) >= HELD_LINES:
                self.outbox.deliver(
                    Notice("not sent: too many lines are waiting to be sent", NoticeKind.ERROR)
                )
                return Outcome.CONTINUE
            held.append(line)
            if len(held) == 1:
                self.hub.when_applied(self._release, self._release)
            return Outcome.CONTINUE
        return self._handle(line)

    def _release(self) -> None:
        """Handle held lines, each once the one before it has been applied."""
        held = self._unapplied
        while held and self.client is not None and not self._closing:
            if self.hub.has_pending(self.client, saying=is_said(held[0])):
                self.hub.when_applied(self._release, self._release)
                return
            self._handle(held.popleft())
        self._unapplied = None

    def _handle(self, line: str) -> Outcome:
        assert self.client is not None
        outcome = handle_line(self.hub, self.client, line, self.registry, self.session_info())
        if outcome is Outcome.QUIT:
            self.request_close()
        elif outcome is Outcome.CLEAR:
            self.clear_screen()
        return outcome

    def say_goodbye(self) -> None:
        """The user left without ``/quit`` (Ctrl-D, end of input): say what ``/quit`` says."""
        if not self._closing:
            self.outbox.deliver(Notice(GOODBYE))

    def session_info(self) -> Session:
        """What commands may know about this session (width, screen, welcome)."""
        return Session(width=80, pty=False, welcome=self.current_welcome())

    def current_welcome(self) -> str:
        """The welcome in force now (what ``/motd`` shows)."""
        return self._motd() if self._motd is not None else self.welcome

    def clear_screen(self) -> None:
        """``/clear``: front ends with a screen override this."""

    def end_of_input(self) -> None:
        """The client sent EOF: finish what it typed, then close."""
        self._eof = True
        if not self._pump_scheduled:
            self._pump_scheduled = True
            asyncio.get_running_loop().call_soon(self._pump)

    def _input_ended(self) -> None:
        self.say_goodbye()
        self.request_close()


class LineFrontEnd(FrontEnd):
    """Plain line mode for sessions without a pty (scripts, bots, ``ssh -T``).

    Lines in, lines out: no prompt, no colour, no escape sequences. Each line
    is one message. Lines faster than the rate limits allow are not refused
    but held back, in order, and sent as the limits allow (the user is told
    once); meanwhile no more input is read, so a flood waits at the sender,
    and a bot piping a file loses nothing. Why not one message per burst, as
    on a terminal: where a network splits a script's output is chance, and a
    bot must know what becomes a message.
    """

    color = False

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self._partial: list[str] = []
        self._held: deque[str] = deque()
        self._held_timer: asyncio.TimerHandle | None = None
        self._held_told = False

    def _consume(self, data: str) -> None:
        start = 0
        while True:
            cut = _next_break(data, start)
            if cut < 0:
                if start < len(data):
                    self._partial.append(data[start:])
                break
            line = "".join(self._partial) + data[start:cut]
            self._partial.clear()
            if line.strip():  # the empty "line" inside "\r\n" is nothing
                self._held.append(line)
            start = cut + 1
        self._send_held()

    def _input_held(self) -> bool:
        return bool(self._held)

    def _release_held(self) -> None:
        """The wait is over: send what may go now; take input again once all went."""
        self._held_timer = None
        self._send_held()
        if not self._held:
            self._resume_input()

    def _send_held(self) -> None:
        """Send the held lines that the rate limits allow now; wait for the rest."""
        while self._held and not self._stopped and self.client is not None:
            wait = line_wait(self.hub, self.client, self._held[0], self.registry)
            if wait > 0:
                if not self._held_told:
                    self._held_told = True
                    self.outbox.deliver(Notice(self._held_text(wait)))
                self._held_timer = asyncio.get_running_loop().call_later(wait, self._release_held)
                return
            self.submit(self._held.popleft())
        self._held.clear()
        self._held_told = False

    def _held_text(self, wait: float) -> str:
        settings = self.hub.state.settings
        rate = settings.message_rate or 0.0
        return (
            f"you are sending faster than the limit ({settings.message_burst} lines at once, "
            f"then {rate:g} per second): your lines are held and sent at that rate, none is lost"
        )

    def connection_lost(self) -> None:
        if self._held_timer is not None:
            self._held_timer.cancel()
        self._held.clear()
        super().connection_lost()

    def _line_overflowed(self) -> None:
        self._partial.clear()
        super()._line_overflowed()

    def _input_ended(self) -> None:
        if self._partial:
            line = "".join(self._partial)
            self._partial.clear()
            self._held.append(line)
            self._send_held()
            if self._held:  # wait for them to go out; the pump ends the input then
                self._eof = True
                return
        super()._input_ended()

    async def _emit(self, lines: list[str]) -> None:
        self._emit_now(lines)

    def _emit_now(self, lines: list[str]) -> bool:
        self.transport.write("".join(line + "\n" for line in lines))
        return True
