"""The benchmark harness runs end to end on a tiny load and writes well-formed results.

This checks bench/run.py (the bench/harness package), bench/loadgen.py and
bench/floor_server.py, and the Go load generator's fan-out windows when it can be
built, not the server's speed: no timing is asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

import pytest
from helpers.paths import REPO

RUN = REPO / "bench" / "run.py"
sys.path.insert(0, str(REPO / "bench"))
from harness import gogen  # noqa: E402  (bench/ is not a package)

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


@dataclass
class Run:
    results: dict
    stdout: str


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run | str]:
    """Both smoke runs at once, to keep the module fast: the full smoke with the Python
    generator, and (when Go is available) the fanout scenario with the Go generator.
    A string in place of a run says why it did not run.
    """
    argvs = {"python": ["--smoke", "--generator", "python"]}
    missing = go_generator_missing()
    if missing is None:
        argvs["go"] = ["--smoke", "--only", "fanout", "--generator", "go", "--pin"]
    procs = {}
    for name, args in argvs.items():
        out = tmp_path_factory.mktemp(f"bench-{name}") / "results.json"
        command = [sys.executable, str(RUN), *args, "--no-plot", "--output", str(out)]
        proc = subprocess.Popen(
            command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        procs[name] = (proc, out)
    found: dict[str, Run | str] = {"go": f"the Go load generator is not available: {missing}"}
    for name, (proc, out) in procs.items():
        try:
            stdout, stderr = proc.communicate(timeout=900)  # a first Go run builds it
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        assert proc.returncode == 0, f"{name}: " + stdout[-3000:] + stderr[-3000:]
        found[name] = Run(json.loads(out.read_text()), stdout)
    return found


@pytest.fixture(scope="module")
def smoke(runs: dict[str, Run | str]) -> tuple[dict, Run]:
    run = runs["python"]
    assert isinstance(run, Run)
    return run.results, run


@pytest.fixture(scope="module")
def go_smoke(runs: dict[str, Run | str]) -> dict:
    run = runs["go"]
    if isinstance(run, str):
        pytest.skip(run)
    return run.results


def test_every_scenario_ran(smoke: tuple[dict, Run]) -> None:
    results, _ = smoke
    for name in ("handshakes", "sessions", "fanout", "floor", "storm", "bruteforce"):
        assert name in results, name
        assert "error" not in results[name], results[name]
        assert results[name]["server_exit"] == 0, results[name]
        assert results[name]["client_lost_sessions"] == 0, results[name]
    assert results["meta"]["smoke"] is True


def test_result_shapes(smoke: tuple[dict, Run]) -> None:
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


def test_table_and_targets(smoke: tuple[dict, Run]) -> None:
    results, run = smoke
    rows = results["targets"]
    assert rows and all({"metric", "value", "target", "met"} <= row.keys() for row in rows)
    assert "metric" in run.stdout and "results:" in run.stdout
    assert set(results["ratios"]) >= {"6", "12"}
    # The load generator's CPU is beside every figure.
    assert all(row["loadgen_cpu"].endswith(" py") for row in rows), rows
    assert "gen CPU %" in run.stdout
    assert results["meta"]["generator"]["fanout_windows"] == "python"


def go_generator_missing() -> str | None:
    """Why the Go generator cannot run here (None: it can)."""
    try:
        gogen.find_source()
    except gogen.GeneratorUnavailable as exc:
        return str(exc)
    if shutil.which("go") is None and not os.access(gogen.BINARY, os.X_OK):
        return "Go is not installed (apt-get install -y golang-go)"
    return None


def test_go_generator_fanout_windows(go_smoke: dict) -> None:
    fo = go_smoke["fanout"]
    assert "error" not in fo, fo
    assert go_smoke["meta"]["generator"]["fanout_windows"] == "go"
    assert fo["server_exit"] == 0 and fo["client_lost_sessions"] == 0, fo
    assert set(fo["sshchat"]) == {"6", "12", "saturation_6"}
    for key, run in fo["sshchat"].items():
        assert run["generator"] == "go"
        assert run.keys() >= FANOUT_KEYS
        assert run["members"] == (6 if key != "12" else 12)
        assert run["sent"] > 0 and run["deliveries"] > 0
        assert run["deliveries"] + run["undelivered"] == run["expected_deliveries"]
        assert len(run["loadgen_cpu_pct"]) == 1  # one generator process
        assert run["server"]["server_exit"] == 0
    # spread and presence still come from the Python generator, on their own server
    assert fo["presence"]["server_cpu_ms_per_login"] is not None
    # --pin: the generator ran off the server loop's core, and the table says so
    can_pin = len(os.sched_getaffinity(0)) >= 2 and shutil.which("taskset") is not None
    for run in fo["sshchat"].values():
        assert bool(run["pinned"]) == can_pin
    rows = [r for r in go_smoke["targets"] if r["metric"].startswith("sshchat")]
    assert rows and all(r["loadgen_cpu"].endswith(" go pinned" if can_pin else " go") for r in rows)
