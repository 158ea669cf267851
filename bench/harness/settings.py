"""What the benchmark runs: scenario names, sizes (full and smoke), limits and targets."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
REPO = BENCH.parent
SCENARIOS = (
    "handshakes",
    "sessions",
    "fanout",
    "spread",
    "floor",
    "storm",
    "bruteforce",
    "cluster",
    "cluster_failover",
    "cluster_two_nodes",
)
# What runs without --only: the cluster scenario needs redis-server and the Go
# generator and takes minutes of its own, so it is asked for by name.
DEFAULT_SCENARIOS = tuple(s for s in SCENARIOS if not s.startswith("cluster"))
PASSWORD_USER = "benchpw"
PASSWORD = "correct horse battery staple"

# Limits that must not get in the way of a load test (one source address,
# thousands of sessions, senders far above a human typing rate).
BENCH_LIMITS = {
    "message_burst": 100_000,
    "message_rate": 100_000,
    "max_unauthenticated": 100_000,
    "max_connections": 100_000,
    "max_connections_per_source": 100_000,
    "max_sessions_per_account": 1_000,
    "login_grace_time": 300,
}


@dataclass(frozen=True)
class Scale:
    """How big each scenario is. ``FULL`` is the real benchmark, ``SMOKE`` a quick check."""

    users: int
    handshake_key: int
    handshake_password: int
    handshake_concurrency: int
    sessions: int
    session_batch: int
    session_accounts: int  # the sessions are spread over this many accounts
    fanout_members: tuple[int, ...]
    fanout_rate: dict[int, float]  # members -> messages/s (aggregate)
    fanout_seconds: float
    fanout_senders: int
    saturation_members: int
    saturation_rate: float
    saturation_seconds: float
    spread_channels: int
    spread_per_channel: int
    spread_rate: float
    spread_seconds: float
    spread_saturation_rate: float
    presence_logins: int
    storm: int
    brute_rate: float
    brute_seconds: float
    probe_interval: float
    drain_timeout: float
    connect_timeout: float
    settle: float  # multiplier for the quiet periods and pauses between steps
    # Go generator only (``--fanout-window``): these (members, lines/s) windows
    # instead of fanout_members x fanout_rate, keyed "MEMBERS@RATE".
    fanout_windows: tuple[tuple[int, float], ...] = ()


FULL = Scale(
    users=2000,
    handshake_key=200,
    handshake_password=40,
    handshake_concurrency=8,
    sessions=2000,
    session_batch=200,
    session_accounts=20,
    fanout_members=(100, 500),
    fanout_rate={100: 100.0, 500: 20.0},
    fanout_seconds=15.0,
    fanout_senders=4,
    saturation_members=100,
    saturation_rate=600.0,
    saturation_seconds=8.0,
    spread_channels=50,
    spread_per_channel=10,
    spread_rate=200.0,
    spread_seconds=15.0,
    spread_saturation_rate=1000.0,
    presence_logins=8,
    storm=1000,
    brute_rate=100.0,
    brute_seconds=10.0,
    probe_interval=2.0,
    drain_timeout=20.0,
    connect_timeout=150.0,
    settle=1.0,
)

SMOKE = Scale(
    users=24,
    handshake_key=6,
    handshake_password=2,
    handshake_concurrency=4,
    sessions=12,
    session_batch=6,
    session_accounts=3,
    fanout_members=(6, 12),
    fanout_rate={6: 20.0, 12: 10.0},
    fanout_seconds=0.6,
    fanout_senders=2,
    saturation_members=6,
    saturation_rate=50.0,
    saturation_seconds=0.6,
    spread_channels=3,
    spread_per_channel=4,
    spread_rate=15.0,
    spread_seconds=0.6,
    spread_saturation_rate=30.0,
    presence_logins=2,
    storm=12,
    brute_rate=10.0,
    brute_seconds=1.0,
    probe_interval=0.5,
    drain_timeout=5.0,
    connect_timeout=30.0,
    settle=0.25,
)

# Before each measured window, wait up to Bench.quiet_wait seconds until other
# programs on this shared machine use less than this much CPU (% of one core).
OTHER_CPU_QUIET = 15.0

# A fixed-rate run keeps up when this share of the offered deliveries/s arrives
# while the senders send (the rest is measurement edge).
SUSTAINED = 0.98

TARGETS = {
    "session_kb": 250.0,  # per idle pty session, at most
    "fanout_500_deliveries": 10_000.0,  # deliveries/s sustained, at least
    "fanout_p99_ms": 250.0,  # at most
    "floor_ratio": 0.5,  # sshchat / floor deliveries/s, at least
    "storm_s": 10.0,  # 1,000 users to first prompt, at most
    "brute_login_s": 1.0,  # valid password login under attack, at most
}


# Issue 12's targets for particular windows (members, lines/s in all), where
# they are stricter than the generic ones above; the report judges these.
WINDOW_P99_MS = {(500, 20.0): 40.0, (500, 8.0): 30.0, (10, 200.0): 30.0}
WINDOW_SERVER_CPU_PCT = {(500, 20.0): 50.0, (500, 8.0): 35.0}  # of one core
SATURATION_MIN = {500: 20_000.0, "spread": 15_000.0}  # deliveries/s
SESSION_KB_AT_2000 = 100.0  # per idle pty session with 2,000 open


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_window(text: str) -> tuple[int, float]:
    """``MEMBERS@LINES_PER_S`` (e.g. ``500@8``) as a pair; ValueError with the reason."""
    members, sep, rate = text.partition("@")
    try:
        pair = (int(members), float(rate))
    except ValueError:
        pair = (0, 0.0)
    if not sep or pair[0] < 2 or pair[1] <= 0:
        raise ValueError(f"{text!r}: expected MEMBERS@LINES_PER_S, e.g. 500@8 (members >= 2)")
    return pair
