"""The benchmark harness's own logic, without servers: the Go load generator's
figures, finding and refusing the generator, the code hash and the table.

The end-to-end runs are in test_bench_smoke.py; nothing here asserts timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
from harness import gogen, report, servers, settings  # noqa: E402  (bench/ is not a package)
from harness.scenarios import cluster as cluster_scenario  # noqa: E402

# What the Go generator printed for 12 sessions, 2 senders, 10 lines/s for 1 s.
GO_FIGURES = {
    "label": "server",
    "n": 12,
    "senders": 2,
    "rate": 10.0,
    "rss_before_kb": 53976,
    "connected": 12,
    "connect_s": 0.09,
    "connects_per_s": 139.7,
    "connect_errors": 0,
    "connect_retries": 0,
    "first_errors": [],
    "server_cpu_connect_pct": 69.9,
    "silent_sessions": 0,
    "settle_s": 0.55,
    "rss_connected_kb": 55452,
    "rss_per_session_kb": 123.0,
    "probe_s": 0.05,
    "probe_missing": 0,
    "members": 12,
    "sent": 10,
    "send_s": 0.9,
    "send_lag_max_ms": 0.0,
    "expected": 110,
    "received": 110,
    "lost": 0,
    "duplicates": 0,
    "window_s": 1.0,
    "offered_per_s": 110,
    "deliveries_per_s": 110,
    "p50_ms": 3.7,
    "p90_ms": 4.8,
    "p99_ms": 5.7,
    "max_received_ms": 6.2,
    "server_cpu_fanout_pct": 5.3,
    "loadgen_cpu_fanout_pct": 1.8,
    "rss_after_kb": 55756,
    "cpr_answers": 0,
    "cut_short": False,
}


def test_go_figures_become_a_fanout_window() -> None:
    r = gogen.window_result(GO_FIGURES, rate=10.0, seconds=1.0)
    assert r["generator"] == "go"
    assert r["deliveries"] + r["undelivered"] == r["expected_deliveries"] == 110
    assert r["offered_deliveries_per_s"] == 110.0
    assert r["loadgen_cpu_pct"] == [1.8]  # one number per generator process
    assert r["server_cpu_pct"] == 5.3
    assert r["lag_s"] == 0.1  # last delivery 0.1 s after the sending ended
    assert r["fell_behind"] is False
    # The table shows the generator's CPU beside each of its figures.
    rows = report.judge({"fanout": {"sshchat": {"12": r}}})
    assert rows and all(row["loadgen_cpu"] == "2 go" for row in rows)


def test_go_window_that_lost_deliveries_fell_behind() -> None:
    lossy = GO_FIGURES | {"received": 100, "lost": 10, "p99_ms": None}
    r = gogen.window_result(lossy, rate=10.0, seconds=1.0)
    assert r["undelivered"] == 10 and r["fell_behind"] is True
    rows = {row["metric"]: row for row in report.judge({"fanout": {"sshchat": {"12": r}}})}
    assert rows["sshchat, 12 members: p50 / p99 ms"]["met"] is False
    assert rows["sshchat, 12 members: lag s / undelivered"]["met"] is False


def test_issue_12_windows_are_judged_by_their_own_targets() -> None:
    """500 members at 8 lines/s: p99 <= 30 ms and CPU <= 35 %; at 20 lines/s: 40 ms, 50 %."""
    figures = GO_FIGURES | {"members": 500, "p99_ms": 31.0, "server_cpu_fanout_pct": 20.0}
    slow = gogen.window_result(figures, rate=8.0, seconds=1.0)
    busy = gogen.window_result(figures | {"server_cpu_fanout_pct": 52.0}, rate=20.0, seconds=1.0)
    judged = report.judge({"fanout": {"sshchat": {"500@8": slow, "500@20": busy}}})
    rows = {row["metric"]: row for row in judged}
    assert rows["sshchat, 500@8 members: p50 / p99 ms"]["target"] == "p99 <= 30"
    assert rows["sshchat, 500@8 members: p50 / p99 ms"]["met"] is False
    assert rows["sshchat, 500@8 members: server CPU % of a core"]["met"] is True
    assert rows["sshchat, 500@20 members: p50 / p99 ms"]["met"] is True
    assert rows["sshchat, 500@20 members: server CPU % of a core"]["met"] is False
    # Other windows keep the generic target and show no CPU row.
    other = report.judge(
        {"fanout": {"sshchat": {"12": gogen.window_result(GO_FIGURES, rate=10.0, seconds=1.0)}}}
    )
    assert [r["target"] for r in other if "p99" in r["metric"]] == ["p99 <= 250"]
    assert not any("CPU %" in r["metric"] for r in other)


def test_generator_cpu_of_python_windows_and_old_results() -> None:
    assert report.generator_cpu({"loadgen_cpu_pct": [30.2, 31.0]}) == "61 py"
    assert report.generator_cpu({"loadgen_cpu_pct": 12.4}, {"loadgen_cpu_pct": [3.0]}) == (
        "12 py / 3 py"
    )
    assert report.generator_cpu({"p99_ms": 3.0}) == ""  # recorded before it was measured


def test_pin_puts_the_server_loop_on_the_first_cpu_and_the_generator_on_the_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("one CPU: nothing to pin apart")
    monkeypatch.setattr(gogen.shutil, "which", lambda name: f"/usr/bin/{name}")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        pinned = gogen.pinned_cpus(child.pid)
        assert pinned == {"server_loop_cpu": cpus[0], "generator_cpu": cpus[-1]}
        assert os.sched_getaffinity(child.pid) == {cpus[0]}
    finally:
        child.kill()
        child.wait()
    monkeypatch.setattr(gogen.os, "sched_getaffinity", lambda pid: {0})
    assert gogen.pinned_cpus(os.getpid()) is None  # one CPU: the window runs unpinned
    window = {"loadgen_cpu_pct": [9.5], "generator": "go", "pinned": pinned}
    assert report.generator_cpu(window) == "10 go pinned"


def test_missing_go_source_names_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "loadgen-go"
    with pytest.raises(gogen.GeneratorUnavailable) as caught:
        gogen.find_source([missing])
    message = str(caught.value)
    assert str(missing) in message and "Fix:" in message and "--generator python" in message


def test_default_falls_back_to_python_without_the_go_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(gogen.SOURCE_ENV, str(tmp_path / "nowhere"))
    name, binary, why = gogen.choose(None)
    assert (name, binary) == ("python", None) and "no Go load generator" in why
    assert gogen.choose("python")[0] == "python"


def refused(*args: str, env: dict[str, str] | None = None) -> str:
    """What ``bench/run.py args`` says when it refuses them: exit 2, a message, no traceback."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    return proc.stderr


def test_run_py_refuses_go_when_absent_with_a_message(tmp_path: Path) -> None:
    env = dict(os.environ, **{gogen.SOURCE_ENV: str(tmp_path / "nowhere")})
    stderr = refused("--smoke", "--generator", "go", env=env)
    assert "Fix:" in stderr and str(tmp_path / "nowhere") in stderr


def test_code_digest_covers_subpackages(tmp_path: Path) -> None:
    package = tmp_path / "sshchat"
    (package / "core").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "core" / "hub.py").write_text("x = 1\n")
    before = servers.code_digest(package)
    (package / "core" / "hub.py").write_text("x = 2\n")
    assert servers.code_digest(package) != before


@pytest.mark.parametrize("ending", [', "cut_short": true', ""])
async def test_go_generator_that_stops_early_is_a_clear_error(tmp_path: Path, ending: str) -> None:
    """A generator that could not connect anyone gives the scenario an error naming why.

    Without ``cut_short`` the generator died (a Go panic prints the figures so far).
    """
    fake = tmp_path / "loadgen"
    figures = '{"connected": 0, "first_errors": ["bench0000: refused"]' + ending + "}"
    fake.write_text(
        "#!/bin/sh\n"
        "echo '# loadgen: 0/6 connected in 0.1s, 6 failed' >&2\n"
        f"echo '{figures}'\n"
        "exit 1\n"
    )
    fake.chmod(0o755)

    async def quiet_machine(server: object, pool: object) -> float:
        return 0.0

    bench = SimpleNamespace(
        scale=settings.SMOKE,
        go_binary=fake,
        key_path=tmp_path / "key",
        deadline=float("inf"),
        quiet_machine=quiet_machine,
    )
    server = SimpleNamespace(
        port=1, pid=os.getpid(), log_path=tmp_path / "server.log", gc_log=None, cpu=lambda: 0.0
    )
    with pytest.raises(RuntimeError) as caught:
        await gogen.window(
            bench, server, name="fanout_6", members=6, senders=2, rate=10.0, seconds=1.0
        )
    message = str(caught.value)
    assert "fanout_6" in message and "0/6 connected" in message and "refused" in message


def test_cluster_scenario_is_only_run_when_asked_for() -> None:
    """It needs redis-server and the Go generator and takes minutes: the default run
    (and so the smoke test) leaves it out, ``--only cluster`` selects it."""
    assert "cluster" in settings.SCENARIOS
    assert "cluster_failover" in settings.SCENARIOS
    assert "cluster" not in settings.DEFAULT_SCENARIOS
    cluster = {"cluster", "cluster_failover", "cluster_two_nodes"}
    assert set(settings.DEFAULT_SCENARIOS) == set(settings.SCENARIOS) - cluster


def test_cluster_server_config_is_a_valid_cluster_config(tmp_path: Path) -> None:
    """The config the scenario hands to ``sshchat serve --workers N`` parses, with the
    Redis URL it was given and a file database the workers split per index."""
    from harness.bench import Bench
    from harness.profiling import Profiler
    from harness.scenarios import cluster

    from sshchat.config.schema import load_config

    bench = Bench(
        settings.SMOKE,
        tmp_path,
        tmp_path / "key",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBp0Ydd8Zmm8tbnjgL8NDf9uMSrGOZ5ZwW5BvCR2vnWb",
        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
        dict(os.environ, PYTHONPATH=str(REPO)),
        1,
        Profiler(None),
    )
    bench.generator = "go"
    redis = SimpleNamespace(url="redis://127.0.0.1:6390/0")
    server = cluster.cluster_server(bench, "c", 2, redis)  # type: ignore[arg-type]
    assert server.argv[-2:] == ["--workers", "2"]
    assert isinstance(server, cluster.WorkersProcess) and server.workers == 2
    config = load_config(server.argv[server.argv.index("--config") + 1])
    assert config.cluster.redis_url == "redis://127.0.0.1:6390/0"
    assert config.storage.path is not None and config.storage.path.name == "sshchat.db"


def test_fanout_windows_replace_the_default_plan() -> None:
    import dataclasses

    scale = dataclasses.replace(
        settings.FULL, fanout_windows=((500, 20.0), (500, 8.0)), saturation_members=500
    )
    plan = gogen.fanout_plan(SimpleNamespace(scale=scale), "fanout")  # type: ignore[arg-type]
    assert [(key, members, rate) for key, _, members, rate, _ in plan] == [
        ("500@20", 500, 20.0),
        ("500@8", 500, 8.0),
        ("saturation_500", 500, scale.saturation_rate),
    ]
    assert len({name for _, name, _, _, _ in plan}) == 3  # a server directory each


@pytest.mark.parametrize("text", ["500", "500@", "x@8", "1@8", "500@0", "500@-1"])
def test_a_bad_window_is_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match="MEMBERS@LINES_PER_S"):
        settings.parse_window(text)
    assert "MEMBERS@LINES_PER_S" in refused("--fanout-window", text)


def test_bruteforce_guesses_come_from_as_many_addresses_as_attempts() -> None:
    from harness.scenarios.bruteforce import attack_sources

    sources = attack_sources(1000)
    assert len(set(sources)) == 1000
    assert "127.0.0.1" not in sources  # the valid logins' address
    assert all(s.startswith("127.") and 1 <= int(s.rsplit(".", 1)[1]) <= 250 for s in sources)
    big = attack_sources(70_000)
    assert len(set(big)) == 70_000 and all(0 <= int(p) <= 255 for s in big for p in s.split("."))
    with pytest.raises(ValueError):
        attack_sources(250 * 256 * 200 + 1)


def test_gc_pauses_summarise_every_collection_of_the_window(tmp_path: Path) -> None:
    log = tmp_path / "gc.log"
    log.write_text(
        "9.0 2 400.0\n"  # before the window
        "10.0 0 0.1\n10.1 0 0.3\n11.0 2 12.5\n11.5 1 6.0\nnot a line\n"
        "30.0 0 1.0\n"  # after it
    )
    gc = servers.gc_pauses(log, 10.0, 20.0)
    assert gc is not None
    assert (gc["gen2_count"], gc["gen2_max_ms"], gc["young_over_5ms"]) == (1, 12.5, 1)
    assert gc["pauses"]["count"] == 4 and gc["pauses"]["max_ms"] == 12.5
    assert gc["pauses"]["p50_ms"] == 0.3
    assert gc["by_generation"]["0"]["count"] == 2
    assert servers.gc_pauses(tmp_path / "absent.log", 0, 1) is None
    compile(servers.PROBE, "sitecustomize.py", "exec")


def test_two_nodes_counts_only_nodes_with_a_live_lease() -> None:
    status = {
        "nodes": [
            {"node": "bench-a", "sessions": 1000, "lease_age": 1.2},
            {"node": "bench-b", "sessions": 998, "lease_age": 0.1},
            {"node": "gone", "sessions": 7, "lease_age": None},
            {"node": "new", "lease_age": 0.0},
        ]
    }
    assert cluster_scenario.node_sessions(status) == {"bench-a": 1000, "bench-b": 998, "new": 0}
    assert cluster_scenario.node_sessions({}) == {}


def test_two_nodes_kb_per_session() -> None:
    assert cluster_scenario.per_session_kb(64_000, 114_000, 1000) == 50.0
    assert cluster_scenario.per_session_kb(64_000, 64_000, 0) is None


def test_two_nodes_is_a_scenario_of_its_own_not_run_by_default() -> None:
    assert "cluster_two_nodes" in settings.SCENARIOS
    assert "cluster_two_nodes" not in settings.DEFAULT_SCENARIOS


def test_cpu_budget_bounds_what_two_workers_can_deliver_on_this_machine() -> None:
    """Figures of a recorded run (bench/runs/2026-12-01-late-recorded-cluster-sat300k.json):
    the machine's CPUs over the CPU per delivery of workers, generator, Redis and
    softirqs bound --workers 2, whatever the spread of the sessions."""

    def window(per_s: float, server: float, **more: Any) -> dict[str, Any]:
        return {"deliveries_per_s": per_s, "server_cpu_pct": server, **more}

    result = {
        "single": {"saturation": window(118_440, 91.6, steal_cpu_pct=14.4)},
        "one_node": {"saturation": window(118_643, 94.2)},
        "workers_2": {
            "saturation": window(
                163_913,
                139.8,
                loadgen_cpu_pct=[44.5],
                redis_cpu_pct_whole_window=2.7,
                softirq_cpu_pct=6.9,
                steal_cpu_pct=0.4,
            )
        },
    }
    budget = cluster_scenario.cpu_budget(result, 2)
    assert budget is not None
    assert budget["us_per_delivery"] == {
        "single_server": 7.73,
        "workers_2_servers": 8.53,
        "generator": 2.71,
        "redis": 0.16,
        "softirq": 0.42,
    }
    # 2 CPUs / 11.83 us per delivery; against single's 118,440/s and 118,643/s.
    assert budget["workers_2_max_per_s"] == 169_070
    assert budget["max_ratio_over_single"] == 1.43
    assert budget["max_ratio_over_one_node"] == 1.43
    # A worker as cheap as one process: 2 / (7.73 + 3.29) us, over 1 / 7.73 us.
    assert budget["max_ratio_if_workers_cost_as_single"] == 1.4
    assert budget["workers_2_cores_used"] == 1.94  # the machine was full
    assert budget["steal_cpu_pct"] == {"single": 14.4, "workers_2": 0.4}
    del result["workers_2"]
    assert cluster_scenario.cpu_budget(result, 2) is None  # not measured: no bound


def test_slow_callbacks_sums_up_the_loop_log_of_a_window(tmp_path: Path) -> None:
    log = tmp_path / "loop.log"
    log.write_text(
        "9.0 400.00 399.00 Flusher._run\n"  # before the window
        "10.0 20.00 19.50 Flusher._run\n10.2 48.00 47.00 Flusher._run\n"
        "10.3 2.00 2.00 FrontEnd._pump\n10.4 30.00 19.00 Flusher._run\n"
        "10.5 1.50 1.40 Task.task_wakeup\nnot a line\n"
        "30.0 9.00 9.00 FrontEnd._pump\n"  # after it
    )
    found = servers.slow_callbacks(log, 10.0, 20.0)
    assert found is not None
    assert list(found) == ["Flusher._run", "FrontEnd._pump", "Task.task_wakeup"]
    passes = found["Flusher._run"]
    assert (passes["count"], passes["wall_max_ms"], passes["cpu_max_ms"]) == (3, 48.0, 47.0)
    assert passes["slowest"][:2] == [(48.0, 47.0), (30.0, 19.0)]  # the second kept waiting
    assert found["FrontEnd._pump"]["count"] == 1
    assert servers.slow_callbacks(tmp_path / "absent.log", 0, 1) is None
    assert servers.slow_callbacks(None, 0, 1) is None


def test_the_loop_probe_logs_a_callback_that_runs_over_a_millisecond(tmp_path: Path) -> None:
    """The probe as a server runs it: a sitecustomize.py, only under ``-m ... serve``."""
    probe = servers.write_probe(tmp_path)
    log = tmp_path / "loop.log"
    script = (
        "import sys; sys.argv[:2] = ['-m', 'serve']\n"
        f"exec(open({str(probe / 'sitecustomize.py')!r}).read())\n"
        "import asyncio, time\n"
        "def blocking_callback():\n"
        "    time.sleep(0.005)\n"
        "async def main():\n"
        "    asyncio.get_running_loop().call_soon(blocking_callback)\n"
        "    await asyncio.sleep(0.05)\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "SSHCHAT_BENCH_LOOP_LOG": str(log)}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    [line] = [x for x in log.read_text().splitlines() if x.endswith(" blocking_callback")]
    assert float(line.split()[1]) >= 5.0  # a sleep never ends early


@pytest.mark.parametrize("seconds", ["0", "0.5", "-3"])
def test_a_fan_out_window_under_a_second_is_refused(seconds: str) -> None:
    assert "--fanout-seconds: at least 1" in refused("--fanout-seconds", seconds)
