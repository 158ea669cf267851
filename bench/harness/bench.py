"""What every scenario shares: a server and its load generator, and the fan-out window."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .measure import cpu_seconds, machine_cpu, percentile, rounded
from .pool import Pool
from .profiling import Profiler
from .servers import (
    ServerProcess,
    floor_server,
    gc_pauses,
    slow_callbacks,
    sshchat_server,
    write_config,
    write_probe,
)
from .settings import BENCH_LIMITS, OTHER_CPU_QUIET, Scale, log


@dataclass
class Bench:
    """One run's shared state: sizes, the client key, the servers' environment and options.

    Scenarios (``harness.scenarios``) get it and start their servers through it,
    so that every server is configured, logged and stopped the same way.
    """

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
    loop_log: bool = False  # --loop-log: see servers.write_probe
    pin: bool = False  # --pin: see gogen.pinned_cpus
    # "go": the fan-out windows of fanout and floor use the Go load generator
    # (harness.gogen, binary ``go_binary``); everything else uses the Python one.
    generator: str = "python"
    go_binary: Path | None = None
    deadline: float = math.inf  # time.time() by which the whole run must end
    # The cluster scenario's setups and windows to run (None: all of them).
    cluster_setups: list[str] | None = None
    cluster_windows: list[str] | None = None
    cluster_saturation_rate: float | None = None  # lines/s; None: the scenario's own

    def logins(self, count: int, start: int = 0) -> list[str]:
        return [f"bench{i}" for i in range(start, start + count)]

    @contextlib.asynccontextmanager
    async def sshchat(
        self, name: str, limits: dict[str, Any] | None = None
    ) -> AsyncIterator[tuple[ServerProcess, Pool]]:
        """An sshchat server with the Python load generator's workers connected to it."""
        server, directory = self.sshchat_process(name, limits)
        async with self._running(server, directory) as pool:
            yield server, pool

    @contextlib.asynccontextmanager
    async def alone(self, server: ServerProcess) -> AsyncIterator[ServerProcess]:
        """A server without the Python workers: the Go load generator brings its own clients."""
        await asyncio.to_thread(server.start)
        try:
            yield server
        finally:
            t0 = time.monotonic()
            self.last_stop = await asyncio.to_thread(server.stop)
            self.last_stop["shutdown_s"] = round(time.monotonic() - t0, 1)
            self.last_client_stats = {}

    def go_users(self) -> int:
        """How many ``benchNNNN`` users the Go generator's windows need."""
        s = self.scale
        members = [*s.fanout_members, s.saturation_members, *(m for m, _ in s.fanout_windows)]
        return max(members)

    def sshchat_process(
        self, name: str, limits: dict[str, Any] | None = None
    ) -> tuple[ServerProcess, Path]:
        """An sshchat server (not started yet), its config in a directory of its own."""
        directory = self.workdir / name
        directory.mkdir(parents=True, exist_ok=True)
        config = write_config(
            directory,
            self.scale,
            self.public_key,
            self.password_hash,
            limits=BENCH_LIMITS if limits is None else limits,
            go_users=self.go_users() if self.generator == "go" else 0,
        )
        env = self.env
        if self.gc_log or self.loop_log:
            env = dict(env)
            env["PYTHONPATH"] = str(write_probe(self.workdir)) + os.pathsep + env["PYTHONPATH"]
        if self.gc_log:
            env["SSHCHAT_BENCH_GC_LOG"] = str(directory / "gc.log")
        if self.loop_log:
            env["SSHCHAT_BENCH_LOOP_LOG"] = str(directory / "loop.log")
        server = sshchat_server(directory, config, env, name)
        if self.gc_log:
            server.gc_log = directory / "gc.log"
        if self.loop_log:
            server.loop_log = directory / "loop.log"
        return server, directory

    @contextlib.asynccontextmanager
    async def floor(self, users: int) -> AsyncIterator[tuple[ServerProcess, Pool]]:
        server, directory = self.floor_process(users)
        async with self._running(server, directory) as pool:
            yield server, pool

    def floor_process(self, users: int, name: str = "floor") -> tuple[ServerProcess, Path]:
        directory = self.workdir / name
        directory.mkdir(parents=True, exist_ok=True)
        return floor_server(directory, users, self.env, name), directory

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
            "generator": "python",
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
            "callbacks": slow_callbacks(server.loop_log, wall_start, time.time()),
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

    async def quiet_machine(self, server: ServerProcess, pool: Pool | None) -> float:
        """Wait (bounded) until other programs use under OTHER_CPU_QUIET % of a core.

        The machine is shared: a window measured while someone else's job takes
        a core says little about the server. Returns the seconds waited.
        """
        if self.quiet_wait <= 0:
            return 0.0
        t0 = time.monotonic()
        deadline = t0 + self.quiet_wait
        while True:
            ours0 = server.cpu() + (pool.cpu() if pool else 0.0) + cpu_seconds(os.getpid())
            box0, w0 = machine_cpu(), time.monotonic()
            await asyncio.sleep(0.5)
            ours1 = server.cpu() + (pool.cpu() if pool else 0.0) + cpu_seconds(os.getpid())
            box1 = machine_cpu()
            others = box1[0] - box0[0] - (box1[1] - box0[1]) - (ours1 - ours0)
            other = others / (time.monotonic() - w0) * 100
            if other < OTHER_CPU_QUIET or time.monotonic() >= deadline:
                return round(time.monotonic() - t0, 1)
