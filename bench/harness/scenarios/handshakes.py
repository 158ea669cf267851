"""Scenario 1, handshakes: connect + auth (key or password) + pty + first prompt, then close."""

from __future__ import annotations

from typing import Any

from ..bench import Bench
from ..measure import CpuMeter, time_summary
from ..pool import merge_connects
from ..settings import PASSWORD, PASSWORD_USER, log


async def run(bench: Bench) -> dict[str, Any]:
    s = bench.scale
    result: dict[str, Any] = {}
    async with bench.sshchat("handshakes") as (server, pool):
        conc = max(1, s.handshake_concurrency // len(pool.workers))
        # Warm up: imports and first-use caches are not part of a handshake.
        await pool.each("handshake", 60, logins=["bench0"], count=2, concurrency=1)
        n = len(pool.workers)
        key_parts = pool.split(bench.logins(min(s.users, 200)))
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
            gen = CpuMeter(pool.cpu)
            expected = count / (60 if password is None else 8)
            async with bench.profiler.window(f"handshake_{kind}", server.pid, expected):
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
                "loadgen_cpu_pct": gen.pct(),
                **time_summary(merged["times"]),
            }
            log(
                f"handshakes {kind}: {result[kind]['per_second']}/s, "
                f"p50 {result[kind]['p50_ms']} ms, {merged['ok']}/{count} ok"
            )
            await pool.pause(0.5)
    return result | bench.server_report(server)
