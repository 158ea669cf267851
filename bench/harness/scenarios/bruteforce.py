"""Scenario 7, bruteforce: valid password logins while wrong guesses arrive at a fixed rate.

Why one address per guess: an attacker with many addresses (a botnet, an IPv6
prefix) is what per-address throttling cannot stop, so it is what shows
whether a valid login still gets through. Guesses from a handful of addresses
are blocked after a few dozen failures and measure only the block.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from typing import Any

from ..bench import Bench
from ..measure import CpuMeter, rounded
from ..settings import PASSWORD, PASSWORD_USER, log


def attack_sources(count: int) -> list[str]:
    """``count`` distinct loopback addresses for the guesses: 127.20.0.1, ... (250 per /24).

    Linux answers on all of 127.0.0.0/8; the valid logins come from 127.0.0.1.
    """
    if count > 250 * 256 * 200:
        raise ValueError(f"too many attack sources: {count}")
    return [f"127.{20 + i // (250 * 256)}.{i // 250 % 256}.{i % 250 + 1}" for i in range(count)]


async def run(bench: Bench) -> dict[str, Any]:
    s = bench.scale
    # Production-like limits: every abuse control at its default value.
    async with bench.sshchat("bruteforce", limits={}) as (server, pool):
        await pool.each("handshake", 60, logins=["bench0"], count=1, concurrency=1)
        before = await pool.workers[0].call(
            "probe_logins", 60, login=PASSWORD_USER, password=PASSWORD, interval=0.1, count=2
        )
        attempts = round(s.brute_rate * s.brute_seconds)
        addrs = attack_sources(attempts)
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
            "sources": len(addrs),
            "sources_range": [addrs[0], addrs[-1]],
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
