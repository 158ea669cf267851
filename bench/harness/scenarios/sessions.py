"""Scenario 2, sessions: memory per idle pty session, and the idle server's CPU."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from ..bench import Bench
from ..measure import CpuMeter, rounded, time_summary
from ..settings import log


async def run(bench: Bench) -> dict[str, Any]:
    s = bench.scale
    curve = []
    async with bench.sshchat("sessions") as (server, pool):
        await pool.each("handshake", 60, logins=["bench0"], count=3, concurrency=1)
        await pool.quiet(1.0, 10)
        await pool.pause(1.0)
        baseline = server.rss_kb()
        curve.append({"sessions": 0, "rss_kb": baseline, "seconds": 0.0})
        t0 = time.monotonic()
        gen = CpuMeter(pool.cpu)
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
        ramp_gen_cpu = gen.pct()
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
            "loadgen_cpu_pct": ramp_gen_cpu,  # while the sessions were being opened
            "rss_baseline_kb": baseline,
            "rss_kb": rss,
            "rss_per_session_kb": rounded(per_session),
            "connect": time_summary(times),
            "curve": curve,
        }
        idle = 5 * s.settle
        async with bench.profiler.window("sessions_idle", server.pid, idle):
            cpu0 = server.cpu()
            await asyncio.sleep(idle)
            result["idle_server_cpu_pct"] = round((server.cpu() - cpu0) / idle * 100, 1)
    return result | bench.server_report(server)
