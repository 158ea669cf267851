"""The fan-out path in one process, on in-memory transports: CPU and writes per delivery.

    python bench/micro/fanout.py [--members 500] [--rate 20] [--seconds 5] [--mode pty|plain]
                                 [--channels 1] [--profile FILE]

Builds a real Hub and one real front end per member (``TerminalFrontEnd`` with
its prompt_toolkit application, or ``LineFrontEnd``) on transports that only
count what they are given, so everything sshchat does per delivery is measured
and the SSH packet cost (``bench/micro/cipher.py``) is left out. Senders type
``line + Enter`` through ``FrontEnd.feed`` like a client, at ``--rate`` lines/s
per channel, then waits until every line has arrived (``drain_s``). Reports
process CPU per delivery (sending and draining) and transport writes per delivery
(each write is one SSH packet on a real channel). With ``--channels K`` the
members are split into K channels with one sender each (the 50 x 10 load).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import sys
import time
from pathlib import Path

# SSHCHAT_CODE: a directory holding another version of sshchat/ (from
# ``git archive``), for before/after comparisons run back to back.
sys.path.insert(0, os.environ.get("SSHCHAT_CODE") or str(Path(__file__).resolve().parents[2]))

from sshchat.core.hub import Hub
from sshchat.frontends.base import LineFrontEnd
from sshchat.frontends.terminal import TerminalFrontEnd


class CountingTransport:
    def __init__(self) -> None:
        self.writes = 0
        self.bytes = 0

        self.received = 0  # chat lines of the load ("BQ1." lines)

    def write(self, data: str) -> None:
        self.writes += 1
        self.bytes += len(data)
        self.received += data.count("BQ1.")

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def exit(self, status: int) -> None:
        pass


async def run(args: argparse.Namespace) -> dict[str, float]:
    n = args.members
    logins = [f"bench{i:04d}" for i in range(n)]
    hub = Hub([(login, False) for login in logins], default_channel="lobby", message_rate=None)
    fronts = []
    for login in logins:
        transport = CountingTransport()
        cls = TerminalFrontEnd if args.mode == "pty" else LineFrontEnd
        kwargs = {"term_type": "xterm-256color"} if args.mode == "pty" else {}
        front = cls(hub, transport, login, queue_limit=10_000, **kwargs)
        front.start()
        fronts.append((front, transport))
        if len(fronts) % 100 == 0:
            await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    size = n // args.channels
    senders = []
    for c in range(args.channels):
        group = fronts[c * size : (c + 1) * size]
        if args.channels > 1:
            group[0][0].feed(f"/create c{c}\r")
            await asyncio.sleep(0.05)
            for front, _ in group[1:]:
                front.feed(f"/join c{c}\r")
        senders.append(group[0][0])
    await asyncio.sleep(2.0)
    if args.channels > 1:
        assert all(f.client.current.name == f"c{i // size}" for i, (f, _) in enumerate(fronts))
    for _, transport in fronts:
        transport.writes = transport.bytes = transport.received = 0
    gc.collect()
    gc.freeze()
    interval = 1.0 / args.rate
    profiler = cProfile.Profile() if args.profile else None
    loop = asyncio.get_running_loop()
    start_cpu, start = time.process_time(), loop.time()
    if profiler:
        profiler.enable()
    sent = 0
    while loop.time() - start < args.seconds:
        for sender in senders:
            sender.feed(f"BQ1.{sent}.{time.time_ns()} " + "p" * 40 + "\r")
            sent += 1
        await asyncio.sleep(max(0.0, start + (sent // len(senders)) * interval - loop.time()))
    sending_s = loop.time() - start
    deliveries = sent * (size - 1)
    receivers = [t for f, t in fronts if f not in senders]
    deadline = loop.time() + 30
    while sum(t.received for t in receivers) < deliveries and loop.time() < deadline:
        await asyncio.sleep(0.01)  # drain
    drained_s = loop.time() - start - sending_s
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    cpu = time.process_time() - start_cpu
    received = sum(t.received for t in receivers)
    writes = sum(t.writes for _, t in fronts)
    return {
        "members": n,
        "channels": args.channels,
        "lines": sent,
        "deliveries": deliveries,
        "lost": deliveries - received,
        "drain_s": round(drained_s, 2),
        "cpu_s": round(cpu, 3),
        "cpu_pct": round(cpu / (sending_s + drained_s) * 100),
        "us_per_delivery": round(cpu / received * 1e6, 2),
        "writes_per_delivery": round(writes / deliveries, 3),
        "bytes_per_write": round(sum(t.bytes for _, t in fronts) / max(1, writes), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--rate", type=float, default=20.0, help="lines/s per channel")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--mode", choices=["pty", "plain"], default="pty")
    parser.add_argument("--profile")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    result["load"] = round(os.getloadavg()[0], 1)
    print(result)


if __name__ == "__main__":
    main()
