#!/usr/bin/env python3
"""sshchat benchmark: one command runs every scenario and writes the results.

    python bench/run.py                      # everything (< 10 minutes)
    python bench/run.py --smoke              # tiny load, a few seconds per scenario
    python bench/run.py --only fanout,floor  # some scenarios
    python bench/run.py --profile            # also py-spy the server in each measured window

Writes ``bench/results.json`` (``--output``), prints a table and draws
``bench/plot.png`` (``--plot``; needs matplotlib, ``pip install -e '.[bench]'``).

Each scenario starts its own server, ``python -m sshchat serve --config <temp>``
on 127.0.0.1 port 0 (the port is read from its log), with users bench0..benchN-1
who all log in with one ed25519 key, plus ``benchpw`` who logs in with a
password (argon2id, library-default cost). The load comes from a few
``bench/loadgen.py`` worker processes; the driver (this file) only coordinates
them and reads the server's RSS and CPU time from ``/proc``. See
``bench/README.md`` for what each scenario does and ``bench/RESULTS.md`` for
measured figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import importlib.metadata
import itertools
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SCENARIOS = ("handshakes", "sessions", "fanout", "spread", "floor", "storm", "bruteforce")
PASSWORD_USER = "benchpw"
PASSWORD = "correct horse battery staple"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# sshchat logs `server.listening address=HOST port=PORT`; the floor server `listening on HOST:PORT`.
LISTENING = re.compile(
    r"server\.listening address=\S+ port=(?P<port>\d+)|listening on \S+:(?P<floor_port>\d+)"
)

# Limits that must not get in the way of a load test (one source address,
# thousands of sessions, senders far above a human typing rate).
BENCH_LIMITS = {
    "message_burst": 100_000,
    "message_rate": 100_000,
    "max_unauthenticated": 100_000,
    "max_connections": 100_000,
    "max_connections_per_source": 100_000,
    "max_sessions_per_account": 1_000,
    "login_grace_time": 300,
}


@dataclass(frozen=True)
class Scale:
    """How big each scenario is. ``FULL`` is the real benchmark, ``SMOKE`` a quick check."""

    users: int
    handshake_key: int
    handshake_password: int
    handshake_concurrency: int
    sessions: int
    session_batch: int
    session_accounts: int  # the sessions are spread over this many accounts
    fanout_members: tuple[int, ...]
    fanout_rate: dict[int, float]  # members -> messages/s (aggregate)
    fanout_seconds: float
    fanout_senders: int
    saturation_members: int
    saturation_rate: float
    saturation_seconds: float
    spread_channels: int
    spread_per_channel: int
    spread_rate: float
    spread_seconds: float
    spread_saturation_rate: float
    presence_logins: int
    storm: int
    brute_rate: float
    brute_seconds: float
    probe_interval: float
    drain_timeout: float
    connect_timeout: float
    settle: float  # multiplier for the quiet periods and pauses between steps


FULL = Scale(
    users=2000,
    handshake_key=200,
    handshake_password=40,
    handshake_concurrency=8,
    sessions=2000,
    session_batch=200,
    session_accounts=20,
    fanout_members=(100, 500),
    fanout_rate={100: 100.0, 500: 20.0},
    fanout_seconds=15.0,
    fanout_senders=4,
    saturation_members=100,
    saturation_rate=600.0,
    saturation_seconds=8.0,
    spread_channels=50,
    spread_per_channel=10,
    spread_rate=200.0,
    spread_seconds=15.0,
    spread_saturation_rate=1000.0,
    presence_logins=8,
    storm=1000,
    brute_rate=100.0,
    brute_seconds=10.0,
    probe_interval=2.0,
    drain_timeout=20.0,
    connect_timeout=150.0,
    settle=1.0,
)

SMOKE = Scale(
    users=24,
    handshake_key=6,
    handshake_password=2,
    handshake_concurrency=4,
    sessions=12,
    session_batch=6,
    session_accounts=3,
    fanout_members=(6, 12),
    fanout_rate={6: 20.0, 12: 10.0},
    fanout_seconds=0.6,
    fanout_senders=2,
    saturation_members=6,
    saturation_rate=50.0,
    saturation_seconds=0.6,
    spread_channels=3,
    spread_per_channel=4,
    spread_rate=15.0,
    spread_seconds=0.6,
    spread_saturation_rate=30.0,
    presence_logins=2,
    storm=12,
    brute_rate=10.0,
    brute_seconds=1.0,
    probe_interval=0.5,
    drain_timeout=5.0,
    connect_timeout=30.0,
    settle=0.25,
)

# Before each measured window, wait up to Bench.quiet_wait seconds until other
# programs on this shared machine use less than this much CPU (% of one core).
OTHER_CPU_QUIET = 15.0

# A fixed-rate run keeps up when this share of the offered deliveries/s arrives
# while the senders send (the rest is measurement edge).
SUSTAINED = 0.98

TARGETS = {
    "session_kb": 250.0,  # per idle pty session, at most
    "fanout_500_deliveries": 10_000.0,  # deliveries/s sustained, at least
    "fanout_p99_ms": 250.0,  # at most
    "floor_ratio": 0.5,  # sshchat / floor deliveries/s, at least
    "storm_s": 30.0,  # 1,000 users to first prompt, at most
    "brute_login_s": 2.0,  # valid password login under attack, at most
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# /proc readings
# ---------------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    """VmRSS of ``pid`` in KiB (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def machine_cpu() -> tuple[float, float, float]:
    """CPU seconds of the whole machine so far (all cores): busy, softirq, stolen.

    Loopback TCP is processed in softirqs, which /proc does not charge to any
    process, so the softirq time is mostly the benchmark's own traffic.
    """
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0.0, 0.0, 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    busy = user + nice + system + irq + softirq + steal
    return busy / CLK_TCK, softirq / CLK_TCK, steal / CLK_TCK


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) of ``values``, nearest rank; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


# ---------------------------------------------------------------------------
# The servers under test
# ---------------------------------------------------------------------------


def write_config(
    directory: Path, scale: Scale, public_key: str, password_hash: str, *, limits: dict[str, Any]
) -> Path:
    lines = [
        "[server]",
        'listen = "127.0.0.1"',
        "port = 0",
        'host_keys = ["host_key"]',
        'name = "sshchat-bench"',
        'motd = "Benchmark server."',
        'default_channel = "lobby"',
        "",
        "[limits]",
        *(f"{key} = {value}" for key, value in limits.items()),
        "",
        f"[users.{PASSWORD_USER}]",
        f'password_hash = "{password_hash}"',
        "",
    ]
    for i in range(scale.users):
        lines += [f"[users.bench{i}]", f'public_keys = ["{public_key} bench"]', ""]
    path = directory / "sshchat.toml"
    path.write_text("\n".join(lines))
    return path


class ServerProcess:
    """A server subprocess whose log says where it listens (see :data:`LISTENING`)."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.gc_log: Path | None = None  # garbage collections, see write_gc_probe()
        self._log_offset = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> None:
        with open(self.log_path, "wb") as logfile:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.log_path.parent,  # not the repo: `-m sshchat` must use PYTHONPATH
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = LISTENING.search(self.log_path.read_text(errors="replace"))
            if match:
                self.port = int(match.group("port") or match.group("floor_port"))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        tail = self.log_path.read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"{self.name} did not start listening:\n{tail}")

    def rss_kb(self) -> int:
        return rss_kb(self.pid)

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def problems(self) -> list[str]:
        """Tracebacks, errors and warnings the server logged (first lines only)."""
        text = self.log_path.read_text(errors="replace")
        found: Counter[str] = Counter()
        for line in text.splitlines():
            if "Traceback" in line or " ERROR " in line or " CRITICAL " in line:
                found[re.sub(r"^\S+ \S+ ", "", line)[:200]] += 1
            elif " WARNING " in line:
                event = re.sub(r"^\S+ \S+ WARNING ", "", line)
                found["WARNING " + re.sub(r" .*", "", event.split(": ", 1)[-1])] += 1
        return [f"{count} x {line}" for line, count in found.most_common(20)]

    def stop(self) -> dict[str, Any]:
        """SIGTERM (then SIGKILL); returns exit status and what the log complained about."""
        if self.proc is None:
            return {}
        code = self.proc.poll()
        early = code is not None
        if code is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait(timeout=10)
                code = f"killed after SIGTERM timeout ({code})"
        result: dict[str, Any] = {"exit": code, "log_problems": self.problems()}
        if early:
            # It ended before the benchmark stopped it: crash, or killed from outside.
            result["exited_early"] = True
            result["log_tail"] = self.log_path.read_text(errors="replace")[-1500:]
        return result


GC_PROBE = """\
# Written by bench/run.py --gc-log: logs the server's slow garbage collections.
import gc, os, sys, time
_path = os.environ.get("SSHCHAT_BENCH_GC_LOG")
if _path and sys.argv[:2] == ["-m", "serve"]:
    _log = open(_path, "a", buffering=1)
    _start = [0.0]

    def _gc_probe(phase, info):
        if phase == "start":
            _start[0] = time.perf_counter()
            return
        pause = time.perf_counter() - _start[0]
        if info["generation"] == 2 or pause > 0.005:
            _log.write(f"{time.time():.3f} {info['generation']} {pause * 1000:.1f}\\n")

    gc.callbacks.append(_gc_probe)
"""


def write_gc_probe(workdir: Path) -> Path:
    """A directory with a sitecustomize.py that logs the server's garbage collections.

    Each line of the log: wall time, generation, pause in ms (generation-2
    collections, and any other longer than 5 ms).
    """
    directory = workdir / "gcprobe"
    directory.mkdir(exist_ok=True)
    (directory / "sitecustomize.py").write_text(GC_PROBE)
    return directory


def gc_pauses(path: Path | None, start: float, end: float) -> dict[str, Any] | None:
    """Garbage-collection pauses the probe logged between two ``time.time()`` values."""
    if path is None or not path.exists():
        return None
    full, other = [], []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            when, generation, ms = line.split()
            if start <= float(when) <= end:
                (full if generation == "2" else other).append(float(ms))
    return {
        "gen2_count": len(full),
        "gen2_max_ms": max(full, default=0.0),
        "gen2_total_ms": round(sum(full), 1),
        "young_over_5ms": len(other),
        "young_total_ms": round(sum(other), 1),
    }


def sshchat_server(workdir: Path, config: Path, env: dict[str, str], name: str) -> ServerProcess:
    argv = [sys.executable, "-m", "sshchat", "serve", "--config", str(config)]
    return ServerProcess(name, argv, workdir / f"{name}.log", env)


def floor_server(workdir: Path, users: int, env: dict[str, str]) -> ServerProcess:
    argv = [sys.executable, str(BENCH / "floor_server.py"), "--users", str(users)]
    return ServerProcess("floor", argv, workdir / "floor.log", env)


# ---------------------------------------------------------------------------
# Load generator workers
# ---------------------------------------------------------------------------


class WorkerError(Exception):
    pass


class Worker:
    """One ``loadgen.py`` process and its pending requests."""

    def __init__(self, index: int, proc: asyncio.subprocess.Process, stderr: Path) -> None:
        self.index = index
        self.proc = proc
        self.stderr = stderr
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(
        cls, index: int, port: int, key: Path, workdir: Path, env: dict[str, str]
    ) -> Worker:
        stderr = workdir / f"loadgen{index}.err"
        with open(stderr, "ab") as err:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(BENCH / "loadgen.py"),
                "--port",
                str(port),
                "--key",
                str(key),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env=env,
                limit=256 * 1024 * 1024,
            )
        return cls(index, proc, stderr)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                break
            message = json.loads(line)
            future = self._pending.pop(message["id"], None)
            if future is None or future.done():
                continue
            if message["ok"]:
                future.set_result(message["result"])
            else:
                future.set_exception(WorkerError(f"loadgen {self.index}: {message['error']}"))
        tail = self.stderr.read_text(errors="replace")[-1500:] if self.stderr.exists() else ""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(WorkerError(f"loadgen {self.index} exited: {tail}"))
        self._pending.clear()

    async def call(self, cmd: str, wait: float, /, **kwargs: Any) -> Any:
        assert self.proc.stdin is not None
        rid = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        self.proc.stdin.write((json.dumps({"id": rid, "cmd": cmd, **kwargs}) + "\n").encode())
        await self.proc.stdin.drain()
        try:
            async with asyncio.timeout(wait):
                return await future
        finally:
            self._pending.pop(rid, None)

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(Exception):
                assert self.proc.stdin is not None
                self.proc.stdin.write(b'{"id": 0, "cmd": "exit"}\n')
                await self.proc.stdin.drain()
                self.proc.stdin.close()
            try:
                async with asyncio.timeout(20):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self._reader.cancel()


class Pool:
    """The load generator workers. Login ``bench<i>`` always lives on worker ``i % n``."""

    def __init__(self, workers: list[Worker], settle: float = 1.0) -> None:
        self.workers = workers
        self.settle = settle

    @classmethod
    async def start(
        cls, count: int, port: int, key: Path, workdir: Path, env: dict[str, str]
    ) -> Pool:
        return cls([await Worker.start(i, port, key, workdir, env) for i in range(count)])

    def owner(self, name: str) -> int:
        """The worker of a session name: ``bench<i>`` or ``bench<i>#<tag>``."""
        login, _, tag = name.partition("#")
        digits = tag or re.sub(r"\D", "", login)
        return int(digits) % len(self.workers) if digits.isdigit() else 0

    def split(self, logins: Sequence[str]) -> list[list[str]]:
        parts: list[list[str]] = [[] for _ in self.workers]
        for login in logins:
            parts[self.owner(login)].append(login)
        return parts

    async def each(
        self,
        cmd: str,
        wait: float,
        per_worker: list[dict[str, Any]] | None = None,
        /,
        **kwargs: Any,
    ) -> list[Any]:
        """Send ``cmd`` to every worker (with its own kwargs if given)."""
        calls = []
        for i, worker in enumerate(self.workers):
            args = dict(kwargs)
            if per_worker is not None:
                args.update(per_worker[i])
            calls.append(worker.call(cmd, wait, **args))
        return await asyncio.gather(*calls)

    async def connect(
        self, logins: Sequence[str], *, concurrency: int, timeout: float
    ) -> dict[str, Any]:
        parts = self.split(logins)
        per_worker = [{"logins": part} for part in parts]
        results = await self.each(
            "connect", timeout + 60, per_worker, concurrency=concurrency, timeout=timeout
        )
        return merge_connects(results)

    async def lines(self, logins: Sequence[str], line: str, spacing: float = 0.0) -> int:
        parts = self.split(logins)
        per_worker = [{"logins": part} for part in parts]
        timeout = 30 + spacing * len(logins)
        results = await self.each("lines", timeout, per_worker, line=line, spacing=spacing)
        return sum(r["sent"] for r in results)

    async def quiet(self, idle: float, timeout: float) -> float:
        """Wait until no session has received anything for ``idle`` (scaled) seconds.

        Returns how long it took, not counting that idle period.
        """
        idle *= self.settle
        t0 = time.monotonic()
        await self.each("quiet", timeout + 10, idle=idle, timeout=timeout)
        return max(0.0, time.monotonic() - t0 - idle)

    async def pause(self, seconds: float) -> None:
        await asyncio.sleep(seconds * self.settle)

    async def close_all(self) -> None:
        await self.each("close", 120)

    async def stats(self) -> dict[str, Any]:
        results = await self.each("stats", 30)
        reasons: Counter[str] = Counter()
        for r in results:
            reasons.update(r["lost_reasons"])
        return {
            "sessions": sum(r["sessions"] for r in results),
            "lost_sessions": sum(r["lost_sessions"] for r in results),
            "lost_reasons": dict(reasons),
        }

    def cpu(self) -> float:
        return sum(w.cpu() for w in self.workers)

    def cpus(self) -> list[float]:
        return [w.cpu() for w in self.workers]

    async def stop(self) -> None:
        await asyncio.gather(*(w.stop() for w in self.workers))


def merge_connects(results: list[dict[str, Any]]) -> dict[str, Any]:
    errors: Counter[str] = Counter()
    for r in results:
        errors.update(r["errors"])
    times = [t for r in results for t in r["times"]]
    return {
        "start": min(r["start"] for r in results),
        "end": max(r["end"] for r in results),
        "ok": sum(r["ok"] for r in results),
        "times": times,
        "done_at": [t for r in results for t in r.get("done_at", [])],
        "errors": dict(errors),
    }


def time_summary(times: Sequence[float]) -> dict[str, Any]:
    """p50/p99/max of durations given in seconds, reported in ms."""
    return {
        "p50_ms": rounded(percentile(times, 50) * 1000 if times else None),
        "p99_ms": rounded(percentile(times, 99) * 1000 if times else None),
        "max_ms": rounded(max(times) * 1000 if times else None),
    }


# ---------------------------------------------------------------------------
# Profiling (py-spy) of the server during measured windows
# ---------------------------------------------------------------------------


@dataclass
class Profiler:
    """Runs ``py-spy record`` on the server for a measured window when enabled.

    Each window gives ``<name>.txt`` (collapsed stacks, summarised into the
    results) and ``<name>.svg`` (a flame graph to open in a browser).
    """

    directory: Path | None
    results: dict[str, Any] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def window(self, name: str, pid: int, seconds: float) -> AsyncIterator[None]:
        if self.directory is None or shutil.which("py-spy") is None:
            yield
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        raw = self.directory / f"{name}.txt"
        procs = []
        for fmt, path in (("raw", raw), ("flamegraph", raw.with_suffix(".svg"))):
            argv = ["py-spy", "record", "--pid", str(pid), "--rate", "100", "--nonblocking"]
            argv += ["--duration", str(max(1, round(seconds))), "--format", fmt, "-o", str(path)]
            procs.append(
                await asyncio.create_subprocess_exec(
                    *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
                )
            )
        try:
            yield
        finally:
            for proc in procs:
                try:
                    async with asyncio.timeout(seconds + 30):
                        await proc.wait()
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            if raw.exists():
                self.results[name] = summarize_profile(raw, seconds)


def summarize_profile(path: Path, seconds: float, top: int = 15) -> dict[str, Any]:
    """Top functions by own ("self") and inclusive ("total") share of the samples."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    package: Counter[str] = Counter()  # own samples by top-level package of the code
    samples = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        frames = [f for f in frames if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
        where = re.search(r"\(([^)]*)\)$", frames[-1])
        module = where.group(1) if where else "?"
        package[module.split("/")[0] if "/" in module else f"stdlib {module}"] += count
    share = lambda n: round(100 * n / samples, 1) if samples else 0.0  # noqa: E731
    # The entry-point chain (main, run_forever, ...) is in nearly every sample: skip it.
    entry = re.compile(
        r"^(<module>|main|_cmd_serve|_run_module_as_main|_run_code|run|serve|"
        r"BaseEventLoop\.(run_until_complete|run_forever|_run_once)|Runner\.run|Handle\._run) "
    )
    inclusive = [(f, n) for f, n in total.most_common() if not entry.match(f)]
    return {
        "file": str(path),
        "samples": samples,
        "busy_pct": round(100 * samples / (seconds * 100), 1) if seconds else None,
        "by_package": [[p, share(n)] for p, n in package.most_common(8)],
        "self": [[f, share(n)] for f, n in own.most_common(top)],
        "total": [[f, share(n)] for f, n in inclusive[: top * 2]],
    }


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------


@dataclass
class Bench:
    scale: Scale
    workdir: Path
    key_path: Path
    public_key: str
    password_hash: str
    env: dict[str, str]
    workers: int
    profiler: Profiler
    run_ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    last_stop: dict[str, Any] = field(default_factory=dict)
    last_client_stats: dict[str, Any] = field(default_factory=dict)
    quiet_wait: float = 0.0
    gc_log: bool = False

    def logins(self, count: int, start: int = 0) -> list[str]:
        return [f"bench{i}" for i in range(start, start + count)]

    @contextlib.asynccontextmanager
    async def sshchat(
        self, name: str, limits: dict[str, Any] | None = None
    ) -> AsyncIterator[tuple[ServerProcess, Pool]]:
        directory = self.workdir / name
        directory.mkdir(parents=True, exist_ok=True)
        config = write_config(
            directory,
            self.scale,
            self.public_key,
            self.password_hash,
            limits=BENCH_LIMITS if limits is None else limits,
        )
        env = self.env
        if self.gc_log:
            env = dict(env)
            env["PYTHONPATH"] = str(write_gc_probe(self.workdir)) + os.pathsep + env["PYTHONPATH"]
            env["SSHCHAT_BENCH_GC_LOG"] = str(directory / "gc.log")
        server = sshchat_server(directory, config, env, name)
        if self.gc_log:
            server.gc_log = directory / "gc.log"
        async with self._running(server, directory) as pool:
            yield server, pool

    @contextlib.asynccontextmanager
    async def floor(self, users: int) -> AsyncIterator[tuple[ServerProcess, Pool]]:
        directory = self.workdir / "floor"
        directory.mkdir(parents=True, exist_ok=True)
        server = floor_server(directory, users, self.env)
        async with self._running(server, directory) as pool:
            yield server, pool

    @contextlib.asynccontextmanager
    async def _running(self, server: ServerProcess, directory: Path) -> AsyncIterator[Pool]:
        await asyncio.to_thread(server.start)
        pool = await Pool.start(self.workers, server.port, self.key_path, directory, self.env)
        pool.settle = self.scale.settle
        try:
            yield pool
        finally:
            with contextlib.suppress(Exception):
                self.last_client_stats = await pool.stats()
            # Stop the server first: thousands of clients leaving one by one would
            # make it announce every departure to everyone (minutes of work).
            t0 = time.monotonic()
            self.last_stop = await asyncio.to_thread(server.stop)
            self.last_stop["shutdown_s"] = round(time.monotonic() - t0, 1)
            with contextlib.suppress(Exception):
                await pool.close_all()
            await pool.stop()

    def server_report(
        self, server: ServerProcess, extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        report = {
            "server_exit": self.last_stop.get("exit"),
            "server_exited_early": self.last_stop.get("exited_early", False),
            "server_shutdown_s": self.last_stop.get("shutdown_s"),
            "server_log_problems": self.last_stop.get("log_problems", []),
        }
        report["client_lost_sessions"] = self.last_client_stats.get("lost_sessions")
        report["client_lost_reasons"] = self.last_client_stats.get("lost_reasons")
        return report | (extra or {})

    # -- 1. handshakes -----------------------------------------------------------

    async def handshakes(self) -> dict[str, Any]:
        s = self.scale
        result: dict[str, Any] = {}
        async with self.sshchat("handshakes") as (server, pool):
            conc = max(1, s.handshake_concurrency // len(pool.workers))
            # Warm up: imports and first-use caches are not part of a handshake.
            await pool.each("handshake", 60, logins=["bench0"], count=2, concurrency=1)
            n = len(pool.workers)
            key_parts = pool.split(self.logins(min(s.users, 200)))
            runs = (
                # kind, count, password, source addresses (per worker), logins (per worker)
                ("key", s.handshake_key, None, [None] * n, key_parts),
                # One address per attempt in flight, so that the server's per-address
                # fairness limit on waiting password checks does not refuse any.
                (
                    "password",
                    s.handshake_password,
                    PASSWORD,
                    [[f"127.0.1.{10 * w + k}" for k in range(conc)] for w in range(n)],
                    [[PASSWORD_USER]] * n,
                ),
                # The same from one address, as many users behind one NAT would be.
                (
                    "password_one_source",
                    s.handshake_password,
                    PASSWORD,
                    [None] * n,
                    [[PASSWORD_USER]] * n,
                ),
            )
            for kind, count, password, addrs, parts in runs:
                per_worker = [
                    {
                        "count": count // n + (1 if i < count % n else 0),
                        "logins": parts[i],
                        "local_addrs": addrs[i],
                    }
                    for i in range(n)
                ]
                cpu0 = server.cpu()
                expected = count / (60 if password is None else 8)
                async with self.profiler.window(f"handshake_{kind}", server.pid, expected):
                    results = await pool.each(
                        "handshake",
                        600,
                        per_worker,
                        concurrency=conc,
                        password=password,
                        timeout=60,
                    )
                merged = merge_connects(results)
                wall = merged["end"] - merged["start"]
                result[kind] = {
                    "count": count,
                    "ok": merged["ok"],
                    "errors": merged["errors"],
                    "concurrency": conc * n,
                    "seconds": round(wall, 2),
                    "per_second": round(merged["ok"] / wall, 1) if wall > 0 else None,
                    "server_cpu_s": round(server.cpu() - cpu0, 2),
                    **time_summary(merged["times"]),
                }
                log(
                    f"handshakes {kind}: {result[kind]['per_second']}/s, "
                    f"p50 {result[kind]['p50_ms']} ms, {merged['ok']}/{count} ok"
                )
                await pool.pause(0.5)
        return result | self.server_report(server)

    # -- 2. sessions held ---------------------------------------------------------

    async def sessions(self) -> dict[str, Any]:
        s = self.scale
        curve = []
        async with self.sshchat("sessions") as (server, pool):
            await pool.each("handshake", 60, logins=["bench0"], count=3, concurrency=1)
            await pool.quiet(1.0, 10)
            await pool.pause(1.0)
            baseline = server.rss_kb()
            curve.append({"sessions": 0, "rss_kb": baseline, "seconds": 0.0})
            t0 = time.monotonic()
            connected = 0
            errors: Counter[str] = Counter()
            times: list[float] = []
            for start in range(0, s.sessions, s.session_batch):
                # Several sessions per account: only an account's first session
                # announces itself to the lobby (see the storm for that cost).
                end = min(s.sessions, start + s.session_batch)
                batch = [f"bench{i % s.session_accounts}#{i}" for i in range(start, end)]
                merged = await pool.connect(batch, concurrency=8, timeout=s.connect_timeout)
                connected += merged["ok"]
                errors.update(merged["errors"])
                times += merged["times"]
                await pool.quiet(0.5, 60)
                curve.append(
                    {
                        "sessions": connected,
                        "rss_kb": server.rss_kb(),
                        "seconds": round(time.monotonic() - t0, 1),
                    }
                )
                log(f"sessions: {connected} open, RSS {curve[-1]['rss_kb'] // 1024} MiB")
            ramp = time.monotonic() - t0
            await pool.quiet(1.0, 60)
            await pool.pause(2.0)
            rss = server.rss_kb()
            stats = await pool.stats()
            per_session = (rss - baseline) / connected if connected else None
            result = {
                "target": s.sessions,
                "accounts": s.session_accounts,
                "open": stats["sessions"],
                "connected": connected,
                "errors": dict(errors),
                "ramp_seconds": round(ramp, 1),
                "rss_baseline_kb": baseline,
                "rss_kb": rss,
                "rss_per_session_kb": rounded(per_session),
                "connect": time_summary(times),
                "curve": curve,
            }
            idle = 5 * s.settle
            async with self.profiler.window("sessions_idle", server.pid, idle):
                cpu0 = server.cpu()
                await asyncio.sleep(idle)
                result["idle_server_cpu_pct"] = round((server.cpu() - cpu0) / idle * 100, 1)
        return result | self.server_report(server)

    # -- 3./4./5. fan-out -----------------------------------------------------------

    async def fanout_window(
        self,
        server: ServerProcess,
        pool: Pool,
        *,
        name: str,
        members: int,
        senders: Sequence[str],
        rate: float,
        seconds: float,
    ) -> dict[str, Any]:
        """Senders type at ``rate`` lines/s for ``seconds``; every member's screen is read."""
        waited_for_quiet = await self.quiet_machine(server, pool)
        wall_start = time.time()
        run = next(self.run_ids)
        t0_ns = time.time_ns()
        await pool.each("measure_start", 30, run=run, t0_ns=t0_ns)
        parts = pool.split(senders)
        per_worker = [{"logins": part, "rate": rate * len(part) / len(senders)} for part in parts]
        cpu0, gen0, wall0, box0 = server.cpu(), pool.cpus(), time.monotonic(), machine_cpu()
        own0 = cpu_seconds(os.getpid())
        async with self.profiler.window(name, server.pid, seconds):
            sends = await pool.each("send", seconds + 60, per_worker, run=run, duration=seconds)
        cpu1, gen1, wall1, box1 = server.cpu(), pool.cpus(), time.monotonic(), machine_cpu()
        ours = (cpu1 - cpu0) + sum(gen1) - sum(gen0) + cpu_seconds(os.getpid()) - own0
        await pool.quiet(1.0, self.scale.drain_timeout)
        stops = await pool.each("measure_stop", 60)
        sent = sum(r["sent"] for r in sends)
        active = [r for r in sends if r["sent"]]
        start_ns = min((r["start_ns"] for r in active), default=t0_ns)
        send_seconds = max((r["seconds"] for r in active), default=0.0)
        latencies = [x for r in stops for x in r["latencies_us"]]
        buckets: Counter[int] = Counter()  # deliveries per 10 ms since t0_ns
        for r in stops:
            buckets.update({int(k): v for k, v in r["buckets"].items()})
        deliveries = len(latencies)
        expected = sent * members
        # Sustained rate: deliveries that arrived while the senders were sending,
        # after a warm-up, per second.
        start = (start_ns - t0_ns) / 1e7
        low = start + min(1.0, seconds / 4) * 100
        high = start + seconds * 100
        in_window = sum(v for k, v in buckets.items() if low <= k < high)
        rate_in_window = in_window / ((high - low) / 100) if high > low else 0.0
        last = (max(buckets) + 1) / 100 if buckets else 0.0
        offered = rate * members
        p99 = percentile(latencies, 99)
        lag = max(0.0, last - (start / 100 + send_seconds))
        timeline: Counter[int] = Counter()
        for k, v in buckets.items():
            timeline[k // 10] += v
        result = {
            "members": members,
            "senders": len(senders),
            "rate_msgs": rate,
            "offered_deliveries_per_s": round(offered, 1),
            "seconds": seconds,
            "sent": sent,
            "expected_deliveries": expected,
            "deliveries": deliveries,
            "undelivered": expected - deliveries,  # by the end of the drain wait
            "dropped_notices": sum(r["dropped_lines"] for r in stops),
            "deliveries_per_s": round(rate_in_window, 1),
            "deliveries_per_s_overall": round(deliveries / last, 1) if last else None,
            "p50_ms": rounded(percentile(latencies, 50) / 1000 if latencies else None),
            "p99_ms": rounded(p99 / 1000 if p99 is not None else None),
            "max_ms": rounded(max(latencies) / 1000 if latencies else None),
            "lag_s": round(lag, 2),
            "fell_behind": bool(lag > 1.0 or deliveries < 0.99 * expected),
            "server_cpu_pct": round((cpu1 - cpu0) / (wall1 - wall0) * 100, 1),
            # One number per load generator process; 100 is one core.
            "loadgen_cpu_pct": [
                round((b - a) / (wall1 - wall0) * 100, 1) for a, b in zip(gen0, gen1, strict=True)
            ],
            # CPU used on this machine by anything but the server, the load
            # generators and this driver (other tenants), and stolen by the host.
            "other_cpu_pct": round(
                max(0.0, box1[0] - box0[0] - (box1[1] - box0[1]) - ours) / (wall1 - wall0) * 100, 1
            ),
            "softirq_cpu_pct": round((box1[1] - box0[1]) / (wall1 - wall0) * 100, 1),
            "steal_cpu_pct": round((box1[2] - box0[2]) / (wall1 - wall0) * 100, 1),
            "waited_for_quiet_s": waited_for_quiet,
            "gc": gc_pauses(server.gc_log, wall_start, time.time()),
            "timeline_per_s": [
                timeline.get(i, 0) * 10 for i in range(max(timeline, default=-1) + 1)
            ],
        }
        log(
            f"{name}: {result['deliveries_per_s']}/s (offered {offered:.0f}), "
            f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
            f"undelivered {result['undelivered']}, lag {result['lag_s']} s"
        )
        return result

    async def quiet_machine(self, server: ServerProcess, pool: Pool) -> float:
        """Wait (bounded) until other programs use under OTHER_CPU_QUIET % of a core.

        The machine is shared: a window measured while someone else's job takes
        a core says little about the server. Returns the seconds waited.
        """
        if self.quiet_wait <= 0:
            return 0.0
        t0 = time.monotonic()
        deadline = t0 + self.quiet_wait
        while True:
            ours0 = server.cpu() + sum(pool.cpus()) + cpu_seconds(os.getpid())
            box0, w0 = machine_cpu(), time.monotonic()
            await asyncio.sleep(0.5)
            ours1 = server.cpu() + sum(pool.cpus()) + cpu_seconds(os.getpid())
            box1 = machine_cpu()
            others = box1[0] - box0[0] - (box1[1] - box0[1]) - (ours1 - ours0)
            other = others / (time.monotonic() - w0) * 100
            if other < OTHER_CPU_QUIET or time.monotonic() >= deadline:
                return round(time.monotonic() - t0, 1)

    async def join_all(self, pool: Pool, channel: str, logins: Sequence[str]) -> float:
        """First login creates ``channel``, the rest join it; returns seconds to settle."""
        t0 = time.monotonic()
        await pool.lines(logins[:1], f"/create {channel}")
        await pool.quiet(0.3, 10)
        await pool.lines(logins[1:], f"/join {channel}", spacing=0.002)
        await pool.quiet(1.0, 120)
        return round(time.monotonic() - t0, 1)

    async def fanout(self, *, spread: bool, fanout: bool) -> dict[str, Any]:
        s = self.scale
        largest = max(*s.fanout_members, s.spread_channels * s.spread_per_channel if spread else 0)
        result: dict[str, Any] = {}
        async with self.sshchat("fanout") as (server, pool):
            merged = await pool.connect(
                self.logins(largest), concurrency=100, timeout=s.connect_timeout
            )
            await pool.quiet(1.0, 60)
            result["setup"] = {
                "connected": merged["ok"],
                "connect_seconds": round(merged["end"] - merged["start"], 1),
                "errors": merged["errors"],
            }
            log(f"fanout: {merged['ok']} sessions in {result['setup']['connect_seconds']} s")
            if fanout:
                # Largest channel first; smaller channels are subsets, their members'
                # current channel becomes the small one.
                for members in sorted(s.fanout_members, reverse=True):
                    result["setup"][f"join_{members}_seconds"] = await self.join_all(
                        pool, f"fan{members}", self.logins(members)
                    )
                sshchat: dict[str, Any] = {}
                for members in s.fanout_members:
                    smaller = [m for m in s.fanout_members if m < members]
                    first = (
                        max(smaller) if smaller else 0
                    )  # senders whose current channel is this one
                    senders = self.logins(s.fanout_senders, first)
                    sshchat[str(members)] = await self.fanout_window(
                        server,
                        pool,
                        name=f"fanout_{members}",
                        members=members,
                        senders=senders,
                        rate=s.fanout_rate[members],
                        seconds=s.fanout_seconds,
                    )
                    await pool.quiet(1.0, 30)
                m = s.saturation_members
                sshchat[f"saturation_{m}"] = await self.fanout_window(
                    server,
                    pool,
                    name=f"saturation_{m}",
                    members=m,
                    senders=self.logins(s.fanout_senders),
                    rate=s.saturation_rate,
                    seconds=s.saturation_seconds,
                )
                await pool.quiet(1.0, s.drain_timeout)
                result["sshchat"] = sshchat
            if spread:
                channels, per = s.spread_channels, s.spread_per_channel
                t0 = time.monotonic()
                for c in range(channels):
                    group = self.logins(per, c * per)
                    await pool.lines(group[:1], f"/create sp{c}")
                await pool.quiet(0.5, 30)
                for c in range(channels):
                    await pool.lines(self.logins(per - 1, c * per + 1), f"/join sp{c}")
                await pool.quiet(1.0, 60)
                result["setup"]["spread_join_seconds"] = round(time.monotonic() - t0, 1)
                senders = [f"bench{c * per}" for c in range(channels)]
                result["spread"] = await self.fanout_window(
                    server,
                    pool,
                    name="spread",
                    members=per,
                    senders=senders,
                    rate=s.spread_rate,
                    seconds=s.spread_seconds,
                )
                result["spread"]["channels"] = channels
                await pool.quiet(1.0, s.drain_timeout)
                result["spread_saturation"] = await self.fanout_window(
                    server,
                    pool,
                    name="spread_saturation",
                    members=per,
                    senders=senders,
                    rate=s.spread_saturation_rate,
                    seconds=s.saturation_seconds,
                )
                result["spread_saturation"]["channels"] = channels
                await pool.quiet(1.0, s.drain_timeout)
            result["presence"] = await self.presence_cost(server, pool, online=largest)
            result["rss_kb"] = server.rss_kb()
        return result | self.server_report(server)

    async def presence_cost(self, server: ServerProcess, pool: Pool, online: int) -> dict[str, Any]:
        """Server CPU for one more user logging in while ``online`` users are in the lobby.

        Every login is announced to every member of the lobby, and each
        announcement is a separate screen update for each of them.
        """
        s = self.scale
        cpu0, t0 = server.cpu(), time.monotonic()
        await pool.pause(1.0)
        idle_rate = (server.cpu() - cpu0) / (time.monotonic() - t0)  # keepalives, timers
        costs, settle = [], []
        for i in range(s.presence_logins):
            login = f"bench{online + i}"
            cpu0 = server.cpu()
            t0 = time.monotonic()
            await pool.connect([login], concurrency=1, timeout=s.connect_timeout)
            await pool.quiet(0.5, 60)
            elapsed = time.monotonic() - t0
            settle.append(elapsed)
            costs.append(server.cpu() - cpu0 - idle_rate * elapsed)
        return {
            "online": online,
            "logins": s.presence_logins,
            "idle_server_cpu_pct": round(idle_rate * 100, 1),
            "server_cpu_ms_per_login": rounded(statistics.median(costs) * 1000) if costs else None,
            "seconds_until_quiet": rounded(statistics.median(settle), 2) if settle else None,
        }

    async def floor_fanout(self) -> dict[str, Any]:
        s = self.scale
        result: dict[str, Any] = {}
        async with self.floor(max(s.fanout_members)) as (server, pool):
            await pool.each("handshake", 60, logins=["bench0"], count=2, concurrency=1)
            connected = 0
            for members in sorted(s.fanout_members):
                merged = await pool.connect(
                    self.logins(members - connected, connected),
                    concurrency=100,
                    timeout=s.connect_timeout,
                )
                connected += merged["ok"]
                await pool.quiet(1.0, 30)
                result[str(members)] = await self.fanout_window(
                    server,
                    pool,
                    name=f"floor_{members}",
                    members=connected,
                    senders=self.logins(s.fanout_senders),
                    rate=s.fanout_rate[members],
                    seconds=s.fanout_seconds,
                )
                await pool.quiet(1.0, 30)
                if members == s.saturation_members:
                    m = s.saturation_members
                    result[f"saturation_{m}"] = await self.fanout_window(
                        server,
                        pool,
                        name=f"floor_saturation_{m}",
                        members=connected,
                        senders=self.logins(s.fanout_senders),
                        rate=s.saturation_rate,
                        seconds=s.saturation_seconds,
                    )
                    await pool.quiet(1.0, s.drain_timeout)
            result["rss_kb"] = server.rss_kb()
        return result | self.server_report(server)

    # -- 6. reconnect storm --------------------------------------------------------

    async def storm(self) -> dict[str, Any]:
        s = self.scale
        async with self.sshchat("storm") as (server, pool):
            # Warm baseline: the server has served a few sessions before the storm.
            await pool.each("handshake", 60, logins=["bench0", "bench1"], count=4, concurrency=2)
            await pool.quiet(1.0, 10)
            baseline = server.rss_kb()
            logins = self.logins(s.storm)
            async with self.profiler.window("storm", server.pid, 30):
                merged = await pool.connect(logins, concurrency=s.storm, timeout=s.connect_timeout)
            done = merged["done_at"]
            all_in = (max(done) - merged["start"]) if done and merged["ok"] == s.storm else None
            result = {
                "users": s.storm,
                "ok": merged["ok"],
                "errors": merged["errors"],
                "all_prompted_s": rounded(all_in, 2),
                "half_prompted_s": rounded(sorted(done)[len(done) // 2] - merged["start"], 2)
                if done
                else None,
                **time_summary(merged["times"]),
                "prompted_by_target": sum(
                    1 for t in done if t - merged["start"] < TARGETS["storm_s"]
                ),
                "settle_s": round(await pool.quiet(1.0, 120), 1),
                "rss_baseline_kb": baseline,
                "rss_kb": server.rss_kb(),
            }
            result["rss_per_session_kb"] = rounded(
                (result["rss_kb"] - baseline) / max(1, merged["ok"])
            )
            log(f"storm: {merged['ok']}/{s.storm} prompted, all in {result['all_prompted_s']} s")
        return result | self.server_report(server)

    # -- 7. login under brute force ---------------------------------------------------

    async def bruteforce(self) -> dict[str, Any]:
        s = self.scale
        # Production-like limits: every abuse control at its default value.
        async with self.sshchat("bruteforce", limits={}) as (server, pool):
            await pool.each("handshake", 60, logins=["bench0"], count=1, concurrency=1)
            before = await pool.workers[0].call(
                "probe_logins", 60, login=PASSWORD_USER, password=PASSWORD, interval=0.1, count=2
            )
            addrs = [f"127.0.0.{i}" for i in range(2, 10)]
            targets = ["root", "admin", *self.logins(min(s.users, 40))]
            n = len(pool.workers)
            per_worker = [{"addrs": addrs[i::n], "logins": targets[i::n]} for i in range(n)]
            probes = max(1, int(s.brute_seconds / s.probe_interval) + 1)
            cpu0 = server.cpu()
            t0 = time.monotonic()
            async with self.profiler.window("bruteforce", server.pid, s.brute_seconds):
                attack, probe = await asyncio.gather(
                    pool.each(
                        "bruteforce",
                        s.brute_seconds + 60,
                        per_worker,
                        rate=s.brute_rate / n,
                        duration=s.brute_seconds,
                    ),
                    pool.workers[-1].call(
                        "probe_logins",
                        s.brute_seconds + 90,
                        login=PASSWORD_USER,
                        password=PASSWORD,
                        interval=s.probe_interval,
                        count=probes,
                    ),
                )
            wall = time.monotonic() - t0
            outcomes: Counter[str] = Counter()
            for r in attack:
                outcomes.update(r["outcomes"])
            logins = probe["logins"]
            ok = [x["seconds"] for x in logins if "seconds" in x]
            result = {
                "attack_rate": s.brute_rate,
                "attack_seconds": s.brute_seconds,
                "attempts": sum(r["attempts"] for r in attack),
                "attack_outcomes": dict(outcomes),
                "sources": addrs,
                "valid_logins": logins,
                "valid_ok": len(ok),
                "valid_count": len(logins),
                "valid_max_s": rounded(max(ok), 3) if ok else None,
                "valid_median_s": rounded(statistics.median(ok), 3) if ok else None,
                "baseline_login_s": [x.get("seconds") for x in before["logins"]],
                "server_cpu_pct": round((server.cpu() - cpu0) / wall * 100, 1),
            }
            log(
                f"bruteforce: valid logins {result['valid_ok']}/{len(logins)}, "
                f"max {result['valid_max_s']} s"
            )
        return result | self.server_report(server)


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------


def judge(all_results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each figure worth a line in the table, with its target and whether it is met."""
    rows: list[dict[str, Any]] = []
    results = {k: v for k, v in all_results.items() if not (isinstance(v, dict) and "error" in v)}

    def row(name: str, value: Any, target: str = "-", ok: bool | None = None) -> None:
        rows.append({"metric": name, "value": value, "target": target, "met": ok})

    p99_target = TARGETS["fanout_p99_ms"]

    def fixed_rate(label: str, r: dict[str, Any]) -> None:
        offered = r["offered_deliveries_per_s"]
        kept_up = r["deliveries_per_s"] >= SUSTAINED * offered and not r["fell_behind"]
        row(f"{label}: deliveries/s", r["deliveries_per_s"], f">= {offered:.0f} (offered)", kept_up)
        row(
            f"{label}: p50 / p99 ms",
            f"{r['p50_ms']} / {r['p99_ms']}",
            f"p99 < {p99_target:.0f}",
            r["p99_ms"] is not None and r["p99_ms"] < p99_target,
        )
        row(
            f"{label}: lag s / undelivered",
            f"{r['lag_s']} / {r['undelivered']}",
            "<= 1 / 0",
            not r["fell_behind"] and r["undelivered"] == 0,
        )

    hs = results.get("handshakes", {})
    for kind in ("key", "password", "password_one_source"):
        if kind in hs:
            h = hs[kind]
            row(
                f"handshakes/s, {kind.replace('_', ' ')} (conc {h['concurrency']}), p50 ms",
                f"{h['per_second']}, {h['p50_ms']}"
                + (f" ({h['ok']}/{h['count']} ok)" if h["ok"] < h["count"] else ""),
            )
    ss = results.get("sessions")
    if ss:
        v = ss["rss_per_session_kb"]
        row(
            f"RSS per idle pty session ({ss['connected']} sessions)",
            v,
            f"<= {TARGETS['session_kb']:.0f} KB",
            v is not None and v <= TARGETS["session_kb"],
        )
        row("server RSS with those sessions (MiB)", round(ss["rss_kb"] / 1024, 1))
    fo = results.get("fanout", {})
    sshchat = fo.get("sshchat", {})
    floor = results.get("floor", {})
    for key, r in sshchat.items():
        if key.startswith("saturation_"):
            members = key.split("_", 1)[1]
            row(
                f"sshchat saturation, {members} members: deliveries/s", r["deliveries_per_s"], "max"
            )
        else:
            fixed_rate(f"sshchat, {key} members", r)
    for key, r in floor.items():
        if not isinstance(r, dict) or "deliveries_per_s" not in r:
            continue
        words = key.replace("_", " ")
        row(
            f"floor, {words} members: deliveries/s, p99 ms",
            f"{r['deliveries_per_s']}, {r['p99_ms']}",
        )
        if key in sshchat and r["deliveries_per_s"]:
            ratio = sshchat[key]["deliveries_per_s"] / r["deliveries_per_s"]
            all_results.setdefault("ratios", {})[key] = rounded(ratio, 2)
            target = TARGETS["floor_ratio"]
            row(
                f"sshchat / floor deliveries/s, {words}",
                rounded(ratio, 2),
                f">= {target}",
                ratio >= target,
            )
    for key in ("spread", "spread_saturation"):
        r = fo.get(key)
        if not r:
            continue
        label = f"{r['channels']} channels x {r['members']} members"
        if key == "spread":
            fixed_rate(label, r)
        else:
            row(
                f"{label}, saturation: deliveries/s, p99 ms",
                f"{r['deliveries_per_s']}, {r['p99_ms']}",
                "max",
            )
    pr = fo.get("presence")
    if pr:
        row(
            f"server CPU ms for one login with {pr['online']} online", pr["server_cpu_ms_per_login"]
        )
    st = results.get("storm")
    if st:
        v = st["all_prompted_s"]
        row(
            f"reconnect storm: {st['users']} users to first prompt (s)",
            v if v is not None else f"{st['ok']}/{st['users']} made it",
            f"< {TARGETS['storm_s']:.0f} s",
            v is not None and v < TARGETS["storm_s"],
        )
    bf = results.get("bruteforce")
    if bf:
        v = bf["valid_max_s"]
        ok = bf["valid_ok"] == bf["valid_count"] and v is not None and v < TARGETS["brute_login_s"]
        refused = bf["valid_count"] - bf["valid_ok"]
        row(
            f"valid password login under {bf['attack_rate']:.0f} guesses/s: max s",
            f"{v}" + (f" ({refused} of {bf['valid_count']} refused)" if refused else ""),
            f"< {TARGETS['brute_login_s']:.0f} s each",
            ok,
        )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    width = max((len(r["metric"]) for r in rows), default=10)
    vwidth = max((len(str(r["value"])) for r in rows), default=10)
    print(f"\n{'metric':<{width}}  {'value':>{vwidth}}  {'target':<20} met")
    print("-" * (width + vwidth + 28))
    for r in rows:
        met = {True: "yes", False: "NO", None: ""}[r["met"]]
        print(f"{r['metric']:<{width}}  {r['value']!s:>{vwidth}}  {r['target']:<20} {met}")


def plot(results: dict[str, Any], path: Path) -> str | None:
    """Deliveries/s and p99 against channel size, sshchat and floor; RSS against sessions."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -e '.[bench]'); no plot"
    results = {k: v for k, v in results.items() if not (isinstance(v, dict) and "error" in v)}
    fo = results.get("fanout", {}).get("sshchat", {})
    fl = results.get("floor", {})
    ss = results.get("sessions")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    ax_rate, ax_p99, ax_rss = axes
    spread = {k: results.get("fanout", {}).get(k) for k in ("spread", "spread_saturation")}
    small = {"10": spread["spread"], "saturation_10": spread["spread_saturation"]}
    series = (
        ("sshchat", fo, "o-", "C0"),
        ("floor (bare asyncssh)", fl, "s--", "C1"),
        ("sshchat, 50 channels", small, "D", "C2"),
    )
    for name, data, style, color in series:
        points = sorted((int(k), v) for k, v in data.items() if isinstance(v, dict) and k.isdigit())
        if not points:
            continue
        xs = [m for m, _ in points]
        rates = [v["deliveries_per_s"] for _, v in points]
        ax_rate.plot(xs, rates, style, color=color, label=f"{name}, fixed rate")
        ax_p99.plot(xs, [v["p99_ms"] or 0 for _, v in points], style, color=color, label=name)
        sat = [
            (int(k.split("_")[1]), v)
            for k, v in data.items()
            if k.startswith("saturation_") and isinstance(v, dict)
        ]
        if sat:
            ax_rate.plot(
                [m for m, _ in sat],
                [v["deliveries_per_s"] for _, v in sat],
                style[0],
                color=color,
                markersize=12,
                markerfacecolor="none",
                label=f"{name}, saturation",
            )
    offered = [(int(k), v["offered_deliveries_per_s"]) for k, v in fo.items() if k.isdigit()]
    if spread["spread"]:
        offered.append((10, spread["spread"]["offered_deliveries_per_s"]))
    for m, o in offered:
        ax_rate.plot([m], [o], "_", color="grey", markersize=22)
    ax_rate.plot([], [], "_", color="grey", markersize=12, label="offered (fixed rate)")
    ax_rate.set(
        xlabel="channel members",
        ylabel="deliveries/s",
        title="Fan-out throughput",
        ylim=(0, None),
        xscale="log",
    )
    ax_rate.legend(fontsize=8)
    ax_p99.axhline(TARGETS["fanout_p99_ms"], color="red", linestyle=":", label="target p99")
    ax_p99.set(
        xlabel="channel members",
        ylabel="p99 latency (ms)",
        title="Fan-out p99 send-to-screen latency (fixed rate)",
        yscale="log",
        xscale="log",
    )
    ax_p99.legend(fontsize=8)
    if ss:
        curve = ss["curve"]
        ax_rss.plot(
            [c["sessions"] for c in curve],
            [c["rss_kb"] / 1024 for c in curve],
            "o-",
            label="sshchat RSS",
        )
        base = ss["rss_baseline_kb"] / 1024
        xs = [0, max(c["sessions"] for c in curve)]
        ax_rss.plot(
            xs,
            [base, base + xs[1] * TARGETS["session_kb"] / 1024],
            ":",
            color="red",
            label="target 250 KB/session",
        )
        ax_rss.set(
            xlabel="idle pty sessions", ylabel="server RSS (MiB)", title="Memory of idle sessions"
        )
        ax_rss.legend(fontsize=8)
    else:
        ax_rss.set_visible(False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def _git(*argv: str) -> str:
    return subprocess.run(
        ["git", *argv], cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


def server_tree(rev: str | None, workdir: Path) -> tuple[Path, dict[str, Any]]:
    """The directory whose ``sshchat`` package is benchmarked, and what code it holds.

    Without ``rev`` it is this working tree as it is (uncommitted changes are
    listed); with ``rev`` that commit's ``sshchat/`` is extracted with
    ``git archive`` so that edits made during the run do not change the server.
    """
    info: dict[str, Any] = {}
    tree = REPO
    try:
        if rev is None:
            info["tree"] = "working tree"
            info["commit"] = _git("rev-parse", "HEAD")
            info["uncommitted"] = _git("status", "--porcelain", "--", "sshchat").splitlines()
        else:
            commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
            tree = workdir / "server-tree"
            tree.mkdir()
            archive = subprocess.run(
                ["git", "archive", commit, "sshchat"], cwd=REPO, capture_output=True, check=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
            info["tree"] = f"git archive {commit}"
            info["commit"] = commit
            info["subject"] = _git("log", "-1", "--format=%s", commit)
    except (OSError, subprocess.CalledProcessError) as exc:
        if rev is not None:
            raise SystemExit(f"cannot extract sshchat at {rev!r}: {exc}") from None
        info["git"] = f"unavailable: {exc}"
    digest = hashlib.sha256()
    for path in sorted((tree / "sshchat").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    info["sshchat_sha256"] = digest.hexdigest()[:16]
    return tree, info


def machine_note() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError):
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    versions = {}
    for dist in ("asyncssh", "prompt_toolkit", "argon2-cffi", "cryptography"):
        with contextlib.suppress(Exception):
            versions[dist] = importlib.metadata.version(dist)
    with contextlib.suppress(OSError):
        load = Path("/proc/loadavg").read_text().split()[:3]
        versions["loadavg_at_start"] = " ".join(load)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        **versions,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import asyncssh
    from argon2 import PasswordHasher

    scale = SMOKE if args.smoke else FULL
    only = set(args.only.split(",")) if args.only else set(SCENARIOS)
    unknown = only - set(SCENARIOS)
    if unknown:
        raise SystemExit(
            f"unknown scenario(s): {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIOS)}"
        )
    started = time.time()
    results: dict[str, Any] = {
        "meta": {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "smoke": args.smoke,
            "scenarios": [s for s in SCENARIOS if s in only],
            "workers": args.workers,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "machine": machine_note(),
            "scale": {
                k: (v if not isinstance(v, dict) else {str(a): b for a, b in v.items()})
                for k, v in scale.__dict__.items()
            },
        }
    }
    with contextlib.ExitStack() as stack:
        if args.keep:
            workdir = Path(tempfile.mkdtemp(prefix="sshchat-bench-"))
            log(f"configs and logs are kept in {workdir}")
        else:
            workdir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="sshchat-bench-"))
            )
        key = asyncssh.generate_private_key("ssh-ed25519")
        key_path = workdir / "client_key"
        key_path.write_bytes(key.export_private_key())
        key_path.chmod(0o600)
        public_key = key.export_public_key("openssh").decode().strip()
        password_hash = PasswordHasher().hash(PASSWORD)  # library defaults, like hash-password
        tree, results["meta"]["server_code"] = server_tree(args.server_rev, workdir)
        log(f"server code: {results['meta']['server_code']}")
        env = dict(os.environ)
        env["PYTHONPATH"] = str(tree) + (
            os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
        )
        profiler = Profiler(Path(args.profile_dir) if args.profile else None)
        bench = Bench(
            scale, workdir, key_path, public_key, password_hash, env, args.workers, profiler
        )
        bench.quiet_wait = 0.0 if args.smoke else args.quiet_wait
        bench.gc_log = args.gc_log
        plan: list[tuple[str, Any]] = []
        if "handshakes" in only:
            plan.append(("handshakes", bench.handshakes))
        if "sessions" in only:
            plan.append(("sessions", bench.sessions))
        if "fanout" in only or "spread" in only:
            plan.append(
                ("fanout", lambda: bench.fanout(spread="spread" in only, fanout="fanout" in only))
            )
        if "floor" in only:
            plan.append(("floor", bench.floor_fanout))
        if "storm" in only:
            plan.append(("storm", bench.storm))
        if "bruteforce" in only:
            plan.append(("bruteforce", bench.bruteforce))
        deadline = time.monotonic() + args.time_limit
        for name, scenario in plan:
            remaining = deadline - time.monotonic()
            if remaining <= 5:
                results[name] = {"error": "skipped: the run's time limit was reached"}
                continue
            log(f"--- {name}")
            t0 = time.monotonic()
            bench.last_stop = {}
            try:
                async with asyncio.timeout(remaining):
                    results[name] = await scenario()
            except Exception as exc:  # one failed scenario must not lose the others
                results[name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
                log(f"{name} failed: {results[name]['error']}")
            results[name]["scenario_seconds"] = round(time.monotonic() - t0, 1)
            if bench.last_stop.get("exited_early"):
                results[name]["server_exited_early"] = True
                results[name]["server_log_tail"] = bench.last_stop.get("log_tail", "")
                log(f"{name}: the server ended before the benchmark stopped it")
        if profiler.results:
            results["profiles"] = profiler.results
    results["meta"]["duration_s"] = round(time.time() - started, 1)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark sshchat against a bare asyncssh floor.")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny load: checks the harness, not the server"
    )
    parser.add_argument("--only", help=f"comma-separated scenarios: {','.join(SCENARIOS)}")
    parser.add_argument(
        "--output",
        help="results JSON path (default bench/results.json; with --smoke a temporary directory)",
    )
    parser.add_argument(
        "--plot", default=None, help="plot PNG path (default: plot.png next to --output)"
    )
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument(
        "--workers", type=int, default=2, help="load generator processes (default 2)"
    )
    parser.add_argument("--time-limit", type=float, default=590.0, help="seconds for the whole run")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy record the server in each measured window"
    )
    parser.add_argument("--profile-dir", default=str(BENCH / "profiles"))
    parser.add_argument(
        "--keep", action="store_true", help="keep the configs and server/loadgen logs"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=10.0,
        metavar="S",
        help="before each fan-out window, wait up to S seconds for other programs on this "
        f"machine to use under {OTHER_CPU_QUIET:.0f}%% of a core (default 10; 0: never wait)",
    )
    parser.add_argument(
        "--gc-log",
        action="store_true",
        help="log the server's garbage-collection pauses (adds a sitecustomize.py to its path)",
    )
    parser.add_argument(
        "--server-rev",
        metavar="REV",
        help="benchmark sshchat as committed at REV (e.g. HEAD), not the working tree",
    )
    parser.add_argument(
        "--replot",
        metavar="RESULTS",
        help="only print the table and draw the plot of an earlier results JSON",
    )
    args = parser.parse_args(argv)
    if args.replot:
        results = json.loads(Path(args.replot).read_text())
        print_table(judge(results))
        plot_path = Path(args.plot) if args.plot else Path(args.replot).with_name("plot.png")
        problem = plot(results, plot_path)
        print(f"\n{problem}" if problem else f"\nplot: {plot_path}")
        return 0
    if args.output is None:
        smoke_dir = Path(tempfile.gettempdir()) / "sshchat-bench-smoke"
        args.output = str(smoke_dir / "results.json" if args.smoke else BENCH / "results.json")
    results = asyncio.run(run(args))
    rows = judge(results)
    results["targets"] = rows
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=1) + "\n")
    print_table(rows)
    errors = {k: v["error"] for k, v in results.items() if isinstance(v, dict) and "error" in v}
    for name, error in errors.items():
        print(f"\n{name}: {error}")
    if not args.no_plot:
        plot_path = Path(args.plot) if args.plot else output.with_name("plot.png")
        problem = plot(results, plot_path)
        print(f"\n{problem}" if problem else f"\nplot: {plot_path}")
    print(f"results: {output} ({results['meta']['duration_s']} s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
