"""Scenarios 3 and 4, fanout and spread: deliveries/s and latency in big and small channels.

Also the CPU cost of one login announced to a lobby full of users (``presence``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

from .. import gogen
from ..bench import Bench
from ..measure import CpuMeter, rounded
from ..pool import Pool
from ..servers import ServerProcess
from ..settings import log


async def run(bench: Bench, *, spread: bool, fanout: bool) -> dict[str, Any]:
    s = bench.scale
    largest = max(*s.fanout_members, s.spread_channels * s.spread_per_channel if spread else 0)
    result: dict[str, Any] = {}
    go_report: dict[str, Any] = {}
    if fanout and bench.generator == "go":
        # The fan-out windows with the Go generator, each on a server of its own;
        # spread and presence below still need the Python one.
        result["sshchat"], go_report = await gogen.fresh_windows(
            bench, gogen.fanout_plan(bench, "fanout"), floor=False
        )
        fanout = False
    async with bench.sshchat("fanout") as (server, pool):
        merged = await pool.connect(
            bench.logins(largest), concurrency=100, timeout=s.connect_timeout
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
                result["setup"][f"join_{members}_seconds"] = await join_all(
                    pool, f"fan{members}", bench.logins(members)
                )
            sshchat: dict[str, Any] = {}
            for members in s.fanout_members:
                smaller = [m for m in s.fanout_members if m < members]
                first = max(smaller) if smaller else 0  # senders whose current channel is this one
                senders = bench.logins(s.fanout_senders, first)
                sshchat[str(members)] = await bench.fanout_window(
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
            sshchat[f"saturation_{m}"] = await bench.fanout_window(
                server,
                pool,
                name=f"saturation_{m}",
                members=m,
                senders=bench.logins(s.fanout_senders),
                rate=s.saturation_rate,
                seconds=s.saturation_seconds,
            )
            await pool.quiet(1.0, s.drain_timeout)
            result["sshchat"] = sshchat
        if spread:
            channels, per = s.spread_channels, s.spread_per_channel
            t0 = time.monotonic()
            for c in range(channels):
                group = bench.logins(per, c * per)
                await pool.lines(group[:1], f"/create sp{c}")
            await pool.quiet(0.5, 30)
            for c in range(channels):
                await pool.lines(bench.logins(per - 1, c * per + 1), f"/join sp{c}")
            await pool.quiet(1.0, 60)
            result["setup"]["spread_join_seconds"] = round(time.monotonic() - t0, 1)
            senders = [f"bench{c * per}" for c in range(channels)]
            result["spread"] = await bench.fanout_window(
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
            result["spread_saturation"] = await bench.fanout_window(
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
        result["presence"] = await presence_cost(bench, server, pool, online=largest)
        result["rss_kb"] = server.rss_kb()
    report = bench.server_report(server)
    if go_report:
        result["go_servers"] = go_report
        if report["server_exit"] == 0:
            report["server_exit"] = go_report["server_exit"]
        report["server_exited_early"] |= go_report["server_exited_early"]
        report["server_log_problems"] = go_report["server_log_problems"] + list(
            report["server_log_problems"]
        )
    return result | report


async def presence_cost(
    bench: Bench, server: ServerProcess, pool: Pool, online: int
) -> dict[str, Any]:
    """Server CPU for one more user logging in while ``online`` users are in the lobby.

    Every login is announced to every member of the lobby, and each
    announcement is a separate screen update for each of them.
    """
    s = bench.scale
    cpu0, t0 = server.cpu(), time.monotonic()
    await pool.pause(1.0)
    idle_rate = (server.cpu() - cpu0) / (time.monotonic() - t0)  # keepalives, timers
    costs, settle = [], []
    gen = CpuMeter(pool.cpu)
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
        "loadgen_cpu_pct": gen.pct(),
    }


async def join_all(pool: Pool, channel: str, logins: Sequence[str]) -> float:
    """First login creates ``channel``, the rest join it; returns seconds to settle."""
    t0 = time.monotonic()
    await pool.lines(logins[:1], f"/create {channel}")
    await pool.quiet(0.3, 10)
    await pool.lines(logins[1:], f"/join {channel}", spacing=0.002)
    await pool.quiet(1.0, 120)
    return round(time.monotonic() - t0, 1)
