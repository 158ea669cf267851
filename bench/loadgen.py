#!/usr/bin/env python3
"""Load generator worker for the sshchat benchmark.

One worker process holds many asyncssh client connections on one event loop.
``bench/run.py`` starts a few of them (never inside the server process) and
drives them with JSON lines on stdin; each request gets one JSON line back on
stdout, tagged with the request's ``id``. Requests run concurrently, so the
driver can, say, start a brute-force wave on one request and probe logins on
another.

What the sessions measure
-------------------------
Every session asks for a pty (``xterm``, 80x24) like an interactive user and
parses what the server draws: ANSI escapes are stripped and chat lines
(``HH:MM [#chan ]<nick> text``) are picked out of the stream. Senders type
lines of the form ``BQ<run>.<seq>.<time_ns> <padding>`` followed by Enter;
``time.time_ns()`` is the same clock in every process of this machine, so a
receiver's ``time_ns() - embedded`` is the send-to-screen latency of one
delivery. Only deliveries tagged with the run being measured are counted.

The "first prompt" of a session is the first time ``#<channel> <login>>``
appears in its stripped output (sshchat draws ``#lobby alice>``; the floor
server writes the same shape).

Every loop is bounded by a count and every wait by a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
import time
from array import array
from collections import Counter
from typing import Any

import asyncssh

# CSI sequences, OSC strings, charset selection, single-character escapes, CR.
ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Z0-9]|\x1b[=>78DEM]|\r"
)
# A chat line carrying a benchmark message: run, sequence number, send time (ns).
CHAT = re.compile(r"\d\d:\d\d (?:#[\w-]+ )?<([^>\s]+)> BQ(\d+)\.(\d+)\.(\d+)")
PROMPT = re.compile(r"#[\w-]+ ([\w-]+)>")
DROPPED = re.compile(r"(\d+) lines were dropped")
MAX_PENDING = 16384  # characters of an unfinished line kept per session
PAD = "lorem ipsum dolor sit amet, consectetur adipiscing"  # ~ a typical chat line
TERM_SIZE = (80, 24)


class BenchSession(asyncssh.SSHClientSession[str]):
    """One interactive client session: parses the screen output it receives."""

    def __init__(self, worker: Worker, login: str) -> None:
        self.worker = worker
        self.login = login
        self.chan: asyncssh.SSHClientChannel[str] | None = None
        self.conn: asyncssh.SSHClientConnection | None = None
        self.pending = ""
        self.prompt = asyncio.get_running_loop().create_future()
        self.closed = False
        self.closing = False  # we closed it on purpose
        self.bytes = 0

    def connection_made(self, chan: asyncssh.SSHClientChannel[str]) -> None:  # type: ignore[override]
        self.chan = chan

    def data_received(self, data: str, datatype: Any) -> None:
        worker = self.worker
        worker.last_data = time.monotonic()
        self.bytes += len(data)
        buf = self.pending + data if self.pending else data
        cut = buf.rfind("\n")
        if cut < 0:
            complete = ""
            self.pending = buf[-MAX_PENDING:]
        else:
            complete = buf[:cut]
            self.pending = buf[cut + 1 :][-MAX_PENDING:]
        if not self.prompt.done():
            for match in PROMPT.finditer(ANSI.sub("", buf)):
                if match.group(1) == self.login:
                    self.prompt.set_result(time.monotonic())
                    break
        if not complete:
            return
        if "BQ" in complete:
            text = ANSI.sub("", complete)
            now = time.time_ns()
            for match in CHAT.finditer(text):
                worker.delivered(int(match.group(2)), int(match.group(4)), now)
        if "dropped" in complete:
            for match in DROPPED.finditer(ANSI.sub("", complete)):
                worker.dropped_lines += int(match.group(1))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.closing:
            self.worker.lost_sessions += 1
            self.worker.lost_reasons[str(exc) if exc else "closed by server"] += 1
        if not self.prompt.done():
            self.prompt.set_exception(ConnectionError(str(exc) if exc else "session closed"))


def _error_name(exc: BaseException) -> str:
    if isinstance(exc, asyncssh.DisconnectError):
        return f"{type(exc).__name__}: {exc.reason}"[:120]
    if isinstance(exc, TimeoutError):
        return "timeout"
    return f"{type(exc).__name__}: {exc}"[:120]


class Worker:
    """Many client connections and their counters; see the module docstring."""

    def __init__(self, host: str, port: int, key_path: str | None) -> None:
        self.host = host
        self.port = port
        self.key = asyncssh.read_private_key(key_path) if key_path else None
        self.sessions: dict[str, BenchSession] = {}
        self.last_data = time.monotonic()
        self.run = -1  # run whose deliveries are being counted
        self.run_t0 = 0
        self.latencies = array("q")  # microseconds
        self.buckets: Counter[int] = Counter()  # deliveries per 10 ms since run start
        self.stray = 0  # deliveries of other runs
        self.dropped_lines = 0  # "N lines were dropped" notices seen
        self.lost_sessions = 0  # sessions the server ended on its own
        self.lost_reasons: Counter[str] = Counter()
        self.seq = 0
        self._key_options = self._options(public_key=True)
        self._password_options = self._options(public_key=False)

    def _options(self, *, public_key: bool) -> asyncssh.SSHClientConnectionOptions:
        common: dict[str, Any] = {
            "known_hosts": None,
            "agent_path": None,
            "config": [],
            "connect_timeout": 60,
        }
        if public_key:
            return asyncssh.SSHClientConnectionOptions(
                client_keys=[self.key] if self.key else None,
                preferred_auth="publickey",
                **common,
            )
        return asyncssh.SSHClientConnectionOptions(
            client_keys=None, preferred_auth="password", **common
        )

    # -- counting ------------------------------------------------------------

    def delivered(self, run: int, sent_ns: int, now_ns: int) -> None:
        if run != self.run:
            self.stray += 1
            return
        self.latencies.append((now_ns - sent_ns) // 1000)
        self.buckets[(now_ns - self.run_t0) // 10_000_000] += 1

    # -- connections -----------------------------------------------------------

    async def open_session(
        self,
        name: str,
        *,
        password: str | None = None,
        local_addr: str | None = None,
        timeout: float = 60.0,
        keep: bool = True,
    ) -> float:
        """Connect, authenticate, open a pty session and wait for the prompt.

        ``name`` is a login, or ``login#tag`` for one of several sessions of
        that login. Returns the seconds it took. With ``keep`` the session
        stays open, found under ``name``.
        """
        login = name.split("#", 1)[0]
        t0 = time.monotonic()
        options = self._password_options if password is not None else self._key_options
        conn: asyncssh.SSHClientConnection | None = None
        session: BenchSession | None = None
        try:
            async with asyncio.timeout(timeout):
                conn = await asyncssh.connect(
                    self.host,
                    self.port,
                    username=login,
                    password=password,
                    local_addr=(local_addr, 0) if local_addr else None,
                    options=options,
                )
                _chan, session = await conn.create_session(
                    lambda: BenchSession(self, login),
                    term_type="xterm",
                    term_size=TERM_SIZE,
                )
                session.conn = conn
                await session.prompt
            elapsed = time.monotonic() - t0
        except BaseException:
            if session is not None:
                session.closing = True
            if conn is not None:
                conn.abort()
            raise
        if keep:
            old = self.sessions.pop(name, None)
            if old is not None:
                await self._close(old)
            self.sessions[name] = session
        else:
            session.closing = True
            conn.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await conn.wait_closed()
        return elapsed

    async def _close(self, session: BenchSession) -> None:
        session.closing = True
        if session.conn is not None:
            session.conn.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await session.conn.wait_closed()

    # -- commands ----------------------------------------------------------------

    async def cmd_connect(
        self,
        logins: list[str],
        concurrency: int = 8,
        timeout: float = 120.0,
        password: str | None = None,
    ) -> dict[str, Any]:
        """Open (and keep) one pty session per name, ``concurrency`` at a time.

        A name is a login or ``login#tag`` (several sessions of one login).

        Returns wall-clock start/end (``time.time()``) and each session's
        seconds to its first prompt, so the driver can merge workers.
        """
        sem = asyncio.Semaphore(max(1, concurrency))
        times: list[float] = []
        done_at: list[float] = []
        errors: Counter[str] = Counter()

        async def one(login: str) -> None:
            async with sem:
                try:
                    times.append(await self.open_session(login, password=password, timeout=timeout))
                    done_at.append(time.time())
                except Exception as exc:
                    errors[_error_name(exc)] += 1

        start = time.time()
        await asyncio.gather(*(one(login) for login in logins))
        return {
            "start": start,
            "end": time.time(),
            "ok": len(times),
            "times": times,
            "done_at": done_at,
            "errors": dict(errors),
        }

    async def cmd_handshake(
        self,
        logins: list[str],
        count: int,
        concurrency: int = 4,
        password: str | None = None,
        timeout: float = 60.0,
        local_addrs: list[str] | None = None,
    ) -> dict[str, Any]:
        """``count`` times: connect + auth + pty session + first prompt, then close.

        With ``local_addrs``, each attempt in flight uses its own source address
        from that list (at most ``len(local_addrs)`` attempts run at once).
        """
        sem = asyncio.Semaphore(max(1, concurrency))
        addrs: asyncio.Queue[str | None] = asyncio.Queue()
        for i in range(max(1, concurrency)):
            addrs.put_nowait(local_addrs[i % len(local_addrs)] if local_addrs else None)
        times: list[float] = []
        errors: Counter[str] = Counter()

        async def one(i: int) -> None:
            async with sem:
                addr = await addrs.get()
                try:
                    times.append(
                        await self.open_session(
                            logins[i % len(logins)],
                            password=password,
                            local_addr=addr,
                            timeout=timeout,
                            keep=False,
                        )
                    )
                except Exception as exc:
                    errors[_error_name(exc)] += 1
                finally:
                    addrs.put_nowait(addr)

        start = time.time()
        await asyncio.gather(*(one(i) for i in range(count)))
        return {
            "start": start,
            "end": time.time(),
            "ok": len(times),
            "times": times,
            "errors": dict(errors),
        }

    async def cmd_lines(self, logins: list[str], line: str, spacing: float = 0.0) -> dict[str, Any]:
        """Type ``line`` and Enter in the session of each of ``logins``."""
        sent = 0
        for name in logins:
            session = self.sessions.get(name)
            if session is None or session.closed or session.chan is None:
                continue
            session.chan.write(line + "\r")
            sent += 1
            if spacing:
                await asyncio.sleep(spacing)
        return {"sent": sent}

    async def cmd_quiet(self, idle: float = 0.5, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until no session has received anything for ``idle`` seconds."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if time.monotonic() - self.last_data >= idle:
                return {"waited": time.monotonic() - t0, "quiet": True}
            await asyncio.sleep(min(0.05, idle / 4))
        return {"waited": time.monotonic() - t0, "quiet": False}

    async def cmd_measure_start(self, run: int, t0_ns: int) -> dict[str, Any]:
        self.run = run
        self.run_t0 = t0_ns
        self.latencies = array("q")
        self.buckets = Counter()
        self.stray = 0
        self.dropped_lines = 0
        return {}

    async def cmd_measure_stop(self) -> dict[str, Any]:
        result = {
            "deliveries": len(self.latencies),
            "latencies_us": self.latencies.tolist(),
            "buckets": {str(k): v for k, v in sorted(self.buckets.items())},
            "stray": self.stray,
            "dropped_lines": self.dropped_lines,
        }
        self.run = -1
        self.latencies = array("q")
        self.buckets = Counter()
        return result

    async def cmd_send(
        self, run: int, logins: list[str], rate: float, duration: float
    ) -> dict[str, Any]:
        """Senders type benchmark lines at ``rate`` lines/s in total for ``duration`` s.

        Lines are spread round-robin over the senders on an absolute schedule;
        a late loop catches up by sending what is due, never more.
        """
        senders = [s for s in (self.sessions.get(x) for x in logins) if s and s.chan]
        if not senders or rate <= 0:
            return {"sent": 0, "start_ns": time.time_ns(), "seconds": 0.0, "per_sender": {}}
        total = round(rate * duration)
        per_sender: Counter[str] = Counter()
        start_ns = time.time_ns()
        t0 = time.monotonic()
        sent = 0
        end = t0 + duration + 5.0  # hard stop even if the loop is starved
        while sent < total and time.monotonic() < end:
            due = min(total, int((time.monotonic() - t0) * rate) + 1)
            while sent < due:
                session = senders[sent % len(senders)]
                if not session.closed and session.chan is not None:
                    self.seq += 1
                    session.chan.write(f"BQ{run}.{self.seq}.{time.time_ns()} {PAD}\r")
                    per_sender[session.login] += 1
                sent += 1
            next_at = t0 + sent / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        return {
            "sent": sum(per_sender.values()),
            "start_ns": start_ns,
            "seconds": time.monotonic() - t0,
            "per_sender": dict(per_sender),
        }

    async def cmd_bruteforce(
        self,
        addrs: list[str],
        logins: list[str],
        rate: float,
        duration: float,
        max_inflight: int = 200,
        timeout: float = 15.0,
    ) -> dict[str, Any]:
        """Wrong-password logins at ``rate`` attempts/s from the ``addrs`` source addresses."""
        outcomes: Counter[str] = Counter()
        inflight: set[asyncio.Task[None]] = set()
        total = round(rate * duration)

        async def attempt(i: int) -> None:
            addr = addrs[i % len(addrs)]
            login = logins[i % len(logins)]
            try:
                async with asyncio.timeout(timeout):
                    conn = await asyncssh.connect(
                        self.host,
                        self.port,
                        username=login,
                        password=f"wrong-{i}",
                        local_addr=(addr, 0),
                        options=self._password_options,
                    )
                conn.abort()
                outcomes["accepted?!"] += 1
            except asyncssh.PermissionDenied:
                outcomes["denied"] += 1
            except asyncssh.DisconnectError as exc:
                outcomes[f"disconnected: {exc.reason}"[:80]] += 1
            except TimeoutError:
                outcomes["timeout"] += 1
            except OSError as exc:
                outcomes[f"os error: {exc.strerror or exc}"[:80]] += 1
            except Exception as exc:
                outcomes[_error_name(exc)] += 1

        t0 = time.monotonic()
        started = 0
        while started < total and time.monotonic() < t0 + duration + 5.0:
            due = min(total, int((time.monotonic() - t0) * rate) + 1)
            while started < due:
                if len(inflight) >= max_inflight:
                    outcomes["not started (too many in flight)"] += 1
                else:
                    task = asyncio.create_task(attempt(started))
                    inflight.add(task)
                    task.add_done_callback(inflight.discard)
                started += 1
            await asyncio.sleep(max(0.0, t0 + started / rate - time.monotonic()))
        send_seconds = time.monotonic() - t0
        if inflight:
            await asyncio.wait(set(inflight), timeout=timeout + 5)
        return {
            "attempts": started,
            "seconds": send_seconds,
            "outcomes": dict(outcomes),
        }

    async def cmd_probe_logins(
        self, login: str, password: str, interval: float, count: int, timeout: float = 30.0
    ) -> dict[str, Any]:
        """A valid password login every ``interval`` s, ``count`` times; each is timed."""
        results: list[dict[str, Any]] = []

        async def one(at: float) -> None:
            try:
                seconds = await self.open_session(
                    login, password=password, timeout=timeout, keep=False
                )
                results.append({"at": at, "seconds": seconds})
            except Exception as exc:
                results.append({"at": at, "error": _error_name(exc)})

        t0 = time.monotonic()
        tasks = []
        for i in range(count):
            await asyncio.sleep(max(0.0, t0 + i * interval - time.monotonic()))
            tasks.append(asyncio.create_task(one(round(time.monotonic() - t0, 3))))
        await asyncio.gather(*tasks)
        results.sort(key=lambda r: r["at"])
        return {"logins": results}

    async def cmd_close(self, logins: list[str] | None = None) -> dict[str, Any]:
        names = list(self.sessions) if logins is None else logins
        targets = [self.sessions.pop(n) for n in names if n in self.sessions]
        await asyncio.gather(*(self._close(s) for s in targets))
        return {"closed": len(targets)}

    async def cmd_stats(self) -> dict[str, Any]:
        return {
            "sessions": sum(1 for s in self.sessions.values() if not s.closed),
            "lost_sessions": self.lost_sessions,
            "lost_reasons": dict(self.lost_reasons),
            "bytes": sum(s.bytes for s in self.sessions.values()),
        }


async def serve_requests(worker: Worker) -> None:
    """Read JSON requests from stdin until EOF; answer each on stdout."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=16 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks: set[asyncio.Task[None]] = set()

    def reply(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    async def handle(request: dict[str, Any]) -> None:
        rid = request.pop("id")
        cmd = request.pop("cmd")
        try:
            method = getattr(worker, f"cmd_{cmd}")
            result = await method(**request)
            reply({"id": rid, "ok": True, "result": result})
        except Exception as exc:
            reply({"id": rid, "ok": False, "error": _error_name(exc)})

    while True:
        line = await reader.readline()
        if not line:
            break
        request = json.loads(line)
        if request.get("cmd") == "exit":
            break
        task = asyncio.create_task(handle(request))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    for task in list(tasks):
        task.cancel()
    await worker.cmd_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", help="private key file for public-key logins")
    args = parser.parse_args(argv)
    if not args.host.startswith("127."):
        parser.error("the load generator only talks to loopback (127.0.0.0/8)")
    worker = Worker(args.host, args.port, args.key)
    asyncio.run(serve_requests(worker))
    return 0


if __name__ == "__main__":
    sys.exit(main())
