"""The benchmark harness runs end to end on a tiny load and writes well-formed results.

This checks bench/run.py, bench/loadgen.py and bench/floor_server.py, not the
server's speed: no timing is asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers.paths import REPO

RUN = REPO / "bench" / "run.py"

FANOUT_KEYS = {
    "members",
    "offered_deliveries_per_s",
    "sent",
    "expected_deliveries",
    "deliveries",
    "undelivered",
    "deliveries_per_s",
    "p50_ms",
    "p99_ms",
    "lag_s",
    "fell_behind",
    "server_cpu_pct",
    "loadgen_cpu_pct",
}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    proc = subprocess.run(
        [sys.executable, str(RUN), "--smoke", "--output", str(out), "--no-plot"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), proc


def test_every_scenario_ran(smoke: tuple[dict, subprocess.CompletedProcess]) -> None:
    results, _ = smoke
    for name in ("handshakes", "sessions", "fanout", "floor", "storm", "bruteforce"):
        assert name in results, name
        assert "error" not in results[name], results[name]
        assert results[name]["server_exit"] == 0, results[name]
        assert results[name]["client_lost_sessions"] == 0, results[name]
    assert results["meta"]["smoke"] is True


def test_result_shapes(smoke: tuple[dict, subprocess.CompletedProcess]) -> None:
    results, _ = smoke
    hs = results["handshakes"]
    for kind in ("key", "password"):
        assert hs[kind]["ok"] == hs[kind]["count"] > 0
        assert hs[kind]["per_second"] > 0
    ss = results["sessions"]
    assert ss["connected"] == ss["target"]
    assert ss["rss_kb"] > ss["rss_baseline_kb"] > 0
    assert isinstance(ss["rss_per_session_kb"], float)
    fo = results["fanout"]
    runs = [*fo["sshchat"].values(), fo["spread"], fo["spread_saturation"]]
    runs += [v for v in results["floor"].values() if isinstance(v, dict) and "members" in v]
    assert len(runs) == 8
    for run in runs:
        assert run.keys() >= FANOUT_KEYS
        assert run["sent"] > 0
        assert run["deliveries"] > 0
        assert run["deliveries"] + run["undelivered"] == run["expected_deliveries"]
    assert fo["presence"]["server_cpu_ms_per_login"] is not None
    st = results["storm"]
    assert st["ok"] == st["users"] and st["all_prompted_s"] is not None
    bf = results["bruteforce"]
    assert bf["attempts"] > 0 and bf["valid_count"] > 0
    assert sum(bf["attack_outcomes"].values()) > 0
    assert "accepted?!" not in bf["attack_outcomes"]


def test_table_and_targets(smoke: tuple[dict, subprocess.CompletedProcess]) -> None:
    results, proc = smoke
    rows = results["targets"]
    assert rows and all({"metric", "value", "target", "met"} <= row.keys() for row in rows)
    assert "metric" in proc.stdout and "results:" in proc.stdout
    assert set(results["ratios"]) >= {"6", "12"}
