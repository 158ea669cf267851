"""CPU per typed line in one process, on in-memory transports: the input path alone.

    python bench/micro/typed.py [--sessions 50] [--lines 2000] [--keys line|key] [--profile FILE]

Each of ``--sessions`` pty sessions (``TerminalFrontEnd`` with its
prompt_toolkit application) sits alone in a channel of its own and types
lines through ``FrontEnd.feed`` as a client would: each line and its Enter
in one read (``--keys line``, what the spread load sends) or one read per
character (``--keys key``, a person typing). The line comes back to its
sender only, so what is measured is the typed line: reading it, the editor,
the hub, and printing it once. Reports process CPU per typed line.
``SSHCHAT_CODE`` points at another copy of sshchat/ (see ``ab.sh``).
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

sys.path.insert(0, os.environ.get("SSHCHAT_CODE") or str(Path(__file__).resolve().parents[2]))

from sshchat.core.hub import Hub
from sshchat.frontends.terminal import TerminalFrontEnd


class Typist(TerminalFrontEnd):
    said = 0

    def submit(self, line: str):  # type: ignore[no-untyped-def]
        self.said += 1
        return super().submit(line)


class CountingTransport:
    def __init__(self) -> None:
        self.received = 0

    def write(self, data: str) -> None:
        self.received += data.count("TQ1.")

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def exit(self, status: int) -> None:
        pass


async def settle(condition, seconds: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition() and loop.time() < deadline:
        await asyncio.sleep(0.005)


async def run(args: argparse.Namespace) -> dict[str, float]:
    logins = [f"typist{i:03d}" for i in range(args.sessions)]
    hub = Hub([(login, False) for login in logins], default_channel="lobby", message_rate=None)
    fronts = []
    for login in logins:
        transport = CountingTransport()
        front = Typist(hub, transport, login, queue_limit=10_000)
        front.start()
        fronts.append((front, transport))
    await asyncio.sleep(0.5)
    for i, (front, _) in enumerate(fronts):
        front.feed(f"/create t{i}\r")
    await settle(lambda: all(f.client.current.name.startswith("t") for f, _ in fronts))
    await asyncio.sleep(0.5)
    for front, _ in fronts:
        front.said = 0  # the /create lines
    gc.collect()
    gc.freeze()
    profiler = cProfile.Profile() if args.profile else None
    start_cpu, start = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    rounds = max(1, args.lines // len(fronts))
    for n in range(rounds):
        for front, _ in fronts:
            line = f"TQ1.{n} " + "t" * 40 + "\r"
            if args.keys == "line":
                front.feed(line)
            else:
                for ch in line:
                    front.feed(ch)
        # Like a client waiting for its line to come back before the next one.
        # (Typed key by key, the line's echo holds the marker too: count the
        # lines sent, and wait for the session's output to be written.)
        if args.keys == "line":
            await settle(lambda n=n: all(t.received > n for _, t in fronts))
        else:
            await settle(lambda n=n: all(f.said > n and not len(f.outbox) for f, _ in fronts))
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    cpu = time.process_time() - start_cpu
    lines = rounds * len(fronts)
    got = sum(t.received if args.keys == "line" else f.said for f, t in fronts)
    return {
        "sessions": len(fronts),
        "keys": args.keys,
        "lines": lines,
        "lost": lines - got,
        "cpu_s": round(cpu, 3),
        "wall_s": round(time.perf_counter() - start, 2),
        "us_per_line": round(cpu / max(1, got) * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--keys", choices=["line", "key"], default="line")
    parser.add_argument("--profile")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    result["load"] = round(os.getloadavg()[0], 1)
    print(result)


if __name__ == "__main__":
    main()
