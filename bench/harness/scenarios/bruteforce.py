"""Scenario 7, bruteforce: valid password logins while wrong guesses arrive at a fixed rate."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from typing import Any

from ..bench import Bench
from ..measure import CpuMeter, rounded
from ..settings import PASSWORD, PASSWORD_USER, log


async def run(bench: Bench) -> dict[str, Any]:
    s = bench.scale
    # Production-like limits: every abuse control at its default value.
    async with bench.sshchat("bruteforce", limits={}) as (server, pool):
        await pool.each("handshake", 60, logins=["bench0"], count=1, concurrency=1)
        before = await pool.workers[0].call(
            "probe_logins", 60, login=PASSWORD_USER, password=PASSWORD, interval=0.1, count=2
        )
        addrs = [f"127.0.0.{i}" for i in range(2, 10)]
        targets = ["root", "admin", *bench.logins(min(s.users, 40))]
        n = len(pool.workers)
        per_worker = [{"addrs": addrs[i::n], "logins": targets[i::n]} for i in range(n)]
        probes = max(1, int(s.brute_seconds / s.probe_interval) + 1)
        cpu0 = server.cpu()
        gen = CpuMeter(pool.cpu)
        t0 = time.monotonic()
        async with bench.profiler.window("bruteforce", server.pid, s.brute_seconds):
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
            "loadgen_cpu_pct": gen.pct(),
        }
        log(
            f"bruteforce: valid logins {result['valid_ok']}/{len(logins)}, "
            f"max {result['valid_max_s']} s"
        )
    return result | bench.server_report(server)
