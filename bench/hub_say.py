#!/usr/bin/env python3
"""Micro-benchmark of the hub's hot path: ``Hub.say`` to a big channel, two code versions.

    python bench/hub_say.py [--before REV] [--after REV] [--members 500] [--says 2000]

Measures the time of one ``Hub.say`` (decide, apply, fan-out to every online
member's sink) with ``sshchat/`` as committed at ``--before`` and at
``--after`` (default: the working tree), in the same run: each round runs
both versions, one after the other, in fresh subprocesses, so that the load
of a shared machine hits both alike. Reports the best and the median round.

Two channels:

* ``all online``: ``--members`` accounts, all connected, all in the channel;
* ``mostly offline``: the same, then all but ``--online`` of them disconnect.
  Where membership outlives sessions they stay members, offline; a line must
  still cost what the online members cost, not what all members cost.

No SSH, no terminal: the sinks only count. Timing is ``time.perf_counter``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Run in a subprocess whose sys.path starts with the version's tree.
CHILD = r"""
import json, sys, time
from sshchat.core.hub import Hub

members, online, says = (int(a) for a in sys.argv[1:4])

class Sink:
    __slots__ = ("n",)
    def __init__(self):
        self.n = 0
    def deliver(self, event):
        self.n += 1

logins = [f"user{i}" for i in range(members)]
hub = Hub([(login, False) for login in logins], history_lines=0)
sinks = [Sink() for _ in logins]
clients = [hub.connect(login, sink) for login, sink in zip(logins, sinks)]
speaker = clients[0]
hub.create_channel(speaker, "big")
for client in clients[1:]:
    hub.join(client, "big")
for client in clients[online:]:
    hub.disconnect(client)
hub.flush_presence()
for _ in range(50):  # warm up
    hub.say(speaker, "warm up")
before = sum(s.n for s in sinks)
start = time.perf_counter()
for _ in range(says):
    hub.say(speaker, "hello, everyone")
elapsed = time.perf_counter() - start
delivered = sum(s.n for s in sinks) - before
channel = hub.channels["big"]
print(json.dumps({
    "us_per_say": elapsed / says * 1e6,
    "deliveries_per_say": delivered / says,
    "members": len(channel.members),
    "online": sum(1 for a in channel.members.values() if a.online),
}))
"""


def extract(rev: str, into: Path) -> Path:
    """``sshchat/`` as committed at ``rev``, unpacked under ``into``."""
    data = subprocess.run(
        ["git", "archive", "--format=tar", rev, "sshchat"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def measure(tree: Path, members: int, online: int, says: int) -> dict[str, float]:
    code = f"import sys; sys.path.insert(0, {str(tree)!r})\n{CHILD}"
    out = subprocess.run(
        [sys.executable, "-c", code, str(members), str(online), str(says)],
        check=True,
        capture_output=True,
        text=True,
        cwd=tree,
    ).stdout
    result: dict[str, float] = json.loads(out)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="main", help="git revision (default: main)")
    parser.add_argument("--after", default=None, help="git revision (default: working tree)")
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--online", type=int, default=50, help="online in 'mostly offline'")
    parser.add_argument("--says", type=int, default=2000, help="lines per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hub-say-") as tmp:
        trees = {"before": extract(args.before, Path(tmp) / "before")}
        if args.after is None:
            trees["after"] = REPO
        else:
            trees["after"] = extract(args.after, Path(tmp) / "after")
        scenarios = {"all online": args.members, "mostly offline": args.online}
        runs: dict[tuple[str, str], list[dict[str, float]]] = {}
        for _ in range(args.rounds):
            for scenario, online in scenarios.items():
                for version, tree in trees.items():
                    result = measure(tree, args.members, online, args.says)
                    runs.setdefault((scenario, version), []).append(result)
    label_after = args.after or "working tree"
    print(f"Hub.say, {args.members} accounts, {args.says} lines x {args.rounds} rounds")
    print(f"before = {args.before}, after = {label_after}")
    print(
        f"{'channel':<16}{'version':<8}{'members':>8}{'online':>7}{'recipients':>11}"
        f"{'best us/say':>12}{'median':>9}{'deliveries/s':>14}"
    )
    for (scenario, version), results in runs.items():
        times = [r["us_per_say"] for r in results]
        best = min(times)
        last = results[-1]
        per_second = last["deliveries_per_say"] / best * 1e6
        print(
            f"{scenario:<16}{version:<8}{last['members']:>8.0f}{last['online']:>7.0f}"
            f"{last['deliveries_per_say']:>11.0f}{best:>12.1f}{statistics.median(times):>9.1f}"
            f"{per_second:>14,.0f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
