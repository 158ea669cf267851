"""Scenario 5, floor: the fan-out windows against a bare asyncssh broadcast server."""

from __future__ import annotations

from typing import Any

from .. import gogen
from ..bench import Bench


async def run(bench: Bench) -> dict[str, Any]:
    s = bench.scale
    if bench.generator == "go":
        windows, report = await gogen.fresh_windows(
            bench, gogen.fanout_plan(bench, "floor"), floor=True
        )
        return windows | report
    result: dict[str, Any] = {}
    async with bench.floor(max(s.fanout_members)) as (server, pool):
        await pool.each("handshake", 60, logins=["bench0"], count=2, concurrency=1)
        connected = 0
        for members in sorted(s.fanout_members):
            merged = await pool.connect(
                bench.logins(members - connected, connected),
                concurrency=100,
                timeout=s.connect_timeout,
            )
            connected += merged["ok"]
            await pool.quiet(1.0, 30)
            result[str(members)] = await bench.fanout_window(
                server,
                pool,
                name=f"floor_{members}",
                members=connected,
                senders=bench.logins(s.fanout_senders),
                rate=s.fanout_rate[members],
                seconds=s.fanout_seconds,
            )
            await pool.quiet(1.0, 30)
            if members == s.saturation_members:
                m = s.saturation_members
                result[f"saturation_{m}"] = await bench.fanout_window(
                    server,
                    pool,
                    name=f"floor_saturation_{m}",
                    members=connected,
                    senders=bench.logins(s.fanout_senders),
                    rate=s.saturation_rate,
                    seconds=s.saturation_seconds,
                )
                await pool.quiet(1.0, s.drain_timeout)
        result["rss_kb"] = server.rss_kb()
    return result | bench.server_report(server)
