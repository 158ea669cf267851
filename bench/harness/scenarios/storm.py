"""Scenario 6, storm: many users connect at once; time until every one has its prompt."""

from __future__ import annotations

from typing import Any

from ..bench import Bench
from ..measure import CpuMeter, rounded, time_summary
from ..settings import TARGETS, log


async def run(bench: Bench) -> dict[str, Any]:
    s = bench.scale
    async with bench.sshchat("storm") as (server, pool):
        # Warm baseline: the server has served a few sessions before the storm.
        await pool.each("handshake", 60, logins=["bench0", "bench1"], count=4, concurrency=2)
        await pool.quiet(1.0, 10)
        baseline = server.rss_kb()
        logins = bench.logins(s.storm)
        gen = CpuMeter(pool.cpu)
        async with bench.profiler.window("storm", server.pid, 30):
            merged = await pool.connect(logins, concurrency=s.storm, timeout=s.connect_timeout)
        gen_cpu = gen.pct()
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
            "prompted_by_target": sum(1 for t in done if t - merged["start"] < TARGETS["storm_s"]),
            "settle_s": round(await pool.quiet(1.0, 120), 1),
            "rss_baseline_kb": baseline,
            "loadgen_cpu_pct": gen_cpu,  # while connecting
            "rss_kb": server.rss_kb(),
        }
        result["rss_per_session_kb"] = rounded((result["rss_kb"] - baseline) / max(1, merged["ok"]))
        log(f"storm: {merged['ok']}/{s.storm} prompted, all in {result['all_prompted_s']} s")
    return result | bench.server_report(server)
