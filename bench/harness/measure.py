"""Readings from /proc (RSS, CPU time of a process and of the machine) and summary statistics."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")


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


def time_summary(times: Sequence[float]) -> dict[str, Any]:
    """p50/p99/max of durations given in seconds, reported in ms."""
    return {
        "p50_ms": rounded(percentile(times, 50) * 1000 if times else None),
        "p99_ms": rounded(percentile(times, 99) * 1000 if times else None),
        "max_ms": rounded(max(times) * 1000 if times else None),
    }


class CpuMeter:
    """CPU used by some processes since the meter was made, as % of one core.

    ``CpuMeter(pool.cpu)`` around a measured phase gives the load generator's
    share, reported beside the phase's figures: a generator that needs most
    of a core on this 2-core machine leaves little for the server.
    """

    def __init__(self, read: Callable[[], float]) -> None:
        self.read = read
        self.wall0 = time.monotonic()
        self.cpu0 = read()

    def pct(self) -> float:
        wall = time.monotonic() - self.wall0
        return round((self.read() - self.cpu0) / wall * 100, 1) if wall > 0 else 0.0
