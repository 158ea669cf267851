"""Loop turns and time from a line said to it applied, on one cluster node with a real Redis.

    python bench/micro/cluster_turns.py [--lines 200] [--turn-ms 20] [--read raw|redispy|both]

Why: at 500 members a turn of the event loop (one fan-out pass and the session
writes around it) takes tens of ms, so every extra turn a line waits on its way
through Redis costs that much latency. This counts the turns directly: a
callback that re-schedules itself every turn numbers them and burns
``--turn-ms`` ms of CPU in each (standing in for the fan-out work), a line is
appended from inside a turn, and the stages of its path are stamped with the
turn number and the loop time: said/queued -> XADD sent (the writer builds the
entry) -> applied (the ``BatchApplier`` is called). With the raw reader the XREAD
reply is applied in the turn it is read; with redis-py's client, one turn later.

Starts its own redis-server on a free port (no persistence). Needs ``redis-server``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.environ.get("SSHCHAT_CODE") or str(Path(__file__).resolve().parents[2]))

from sshchat.cluster.redislog import RedisFactLog
from sshchat.core.facts import MessageSaid


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def measure(url: str, raw: bool, lines: int, turn_ms: float) -> dict[str, float]:
    log = RedisFactLog(url, f"turns-{raw}", raw=raw)
    await log.connect(within=5)
    loop = asyncio.get_running_loop()
    turn = 0
    stamps: dict[str, dict[str, tuple[int, float]]] = {}
    applied = asyncio.Event()

    def on_batch(facts: object) -> None:
        for fact in facts:  # type: ignore[attr-defined]
            if fact.id in stamps:
                stamps[fact.id]["applied"] = (turn, loop.time())
                if len(stamps) == lines and all("applied" in s for s in stamps.values()):
                    applied.set()

    log.subscribe_batches(on_batch, lambda facts, waited, replaced=False: None)
    fields = log._fields

    def stamped_fields(seq: int, facts: list) -> dict:  # the writer builds the XADD here
        for fact in facts:
            if fact.id in stamps:
                stamps[fact.id].setdefault("sent", (turn, loop.time()))
        return fields(seq, facts)

    log._fields = stamped_fields  # type: ignore[method-assign]
    await log.catch_up()
    await log.start()
    await log.settled(10)
    running = True

    def tick() -> None:
        nonlocal turn
        turn += 1
        end = time.perf_counter() + turn_ms / 1000
        while time.perf_counter() < end:
            pass
        if running:
            loop.call_soon(tick)

    loop.call_soon(tick)
    cpu0 = time.process_time()
    for n in range(lines):
        await asyncio.sleep(0.05 + turn_ms / 1000)

        def say(n: int = n) -> None:
            fact = MessageSaid(f"t{n}", time.time(), "lobby", "s", "s", f"line {n}", False)
            stamps[fact.id] = {"said": (turn, loop.time())}
            log.append([fact])

        loop.call_soon(say)
    await asyncio.wait_for(applied.wait(), 30)
    cpu = time.process_time() - cpu0
    running = False
    await log.close(flush=1)
    turns = [s["applied"][0] - s["said"][0] for s in stamps.values()]
    to_sent = [s["sent"][0] - s["said"][0] for s in stamps.values()]
    ms = sorted((s["applied"][1] - s["said"][1]) * 1000 for s in stamps.values())
    return {
        "turns_said_to_sent": statistics.median(to_sent),
        "turns_said_to_applied_median": statistics.median(turns),
        "turns_said_to_applied_max": max(turns),
        "ms_p50": round(ms[len(ms) // 2], 1),
        "ms_p99": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 1),
        "cpu_s": round(cpu, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--turn-ms", type=float, default=20.0)
    parser.add_argument("--read", choices=("raw", "redispy", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=1, help="alternate the read paths")
    args = parser.parse_args()
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install -y redis-server)")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", tmp]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            url = f"redis://127.0.0.1:{port}/0"
            modes = {"raw": [True], "redispy": [False], "both": [False, True]}[args.read]
            for _ in range(args.rounds):
                for raw in modes:
                    result = asyncio.run(measure(url, raw, args.lines, args.turn_ms))
                    print("raw" if raw else "redispy", result, flush=True)
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
