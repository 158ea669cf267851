"""The command line: ``python bench/run.py [options]`` runs the chosen scenarios."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib.metadata
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import gogen, scenarios
from .bench import Bench
from .profiling import Profiler, find_py_spy
from .report import judge, plot, print_table
from .servers import server_tree
from .settings import (
    BENCH,
    DEFAULT_SCENARIOS,
    FULL,
    OTHER_CPU_QUIET,
    PASSWORD,
    SCENARIOS,
    SMOKE,
    log,
    parse_window,
)


def machine_note() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError):
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    versions = {}
    for dist in ("asyncssh", "prompt_toolkit", "argon2-cffi", "cryptography"):
        with contextlib.suppress(Exception):
            versions[dist] = importlib.metadata.version(dist)
    with contextlib.suppress(OSError):
        load = Path("/proc/loadavg").read_text().split()[:3]
        versions["loadavg_at_start"] = " ".join(load)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        **versions,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import asyncssh
    from argon2 import PasswordHasher

    scale = SMOKE if args.smoke else FULL
    if args.fanout_window:
        scale = dataclasses.replace(scale, fanout_windows=tuple(args.fanout_window))
    if args.saturation:
        members, rate = args.saturation
        scale = dataclasses.replace(scale, saturation_members=members, saturation_rate=rate)
    if args.spread_saturation:
        scale = dataclasses.replace(scale, spread_saturation_rate=args.spread_saturation)
    if args.fanout_seconds:
        scale = dataclasses.replace(scale, fanout_seconds=args.fanout_seconds)
    only = set(args.only.split(",")) if args.only else set(DEFAULT_SCENARIOS)
    unknown = only - set(SCENARIOS)
    if unknown:
        raise SystemExit(
            f"unknown scenario(s): {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIOS)}"
        )
    started = time.time()
    results: dict[str, Any] = {
        "meta": {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "smoke": args.smoke,
            "scenarios": [s for s in SCENARIOS if s in only],
            "workers": args.workers,
            "generator": {"fanout_windows": args.generator_name, "why": args.generator_why},
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "machine": machine_note(),
            "scale": {
                k: (v if not isinstance(v, dict) else {str(a): b for a, b in v.items()})
                for k, v in scale.__dict__.items()
            },
        }
    }
    with contextlib.ExitStack() as stack:
        if args.keep:
            workdir = Path(tempfile.mkdtemp(prefix="sshchat-bench-"))
            log(f"configs and logs are kept in {workdir}")
        else:
            workdir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="sshchat-bench-"))
            )
        key = asyncssh.generate_private_key("ssh-ed25519")
        key_path = workdir / "client_key"
        key_path.write_bytes(key.export_private_key())
        key_path.chmod(0o600)
        public_key = key.export_public_key("openssh").decode().strip()
        password_hash = PasswordHasher().hash(PASSWORD)  # library defaults, like hash-password
        tree, results["meta"]["server_code"] = server_tree(args.server_rev, workdir)
        log(f"server code: {results['meta']['server_code']}")
        env = dict(os.environ)
        env["PYTHONPATH"] = str(tree) + (
            os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
        )
        profiler = Profiler(
            Path(args.profile_dir) if args.profile else None, rate=args.profile_rate
        )
        bench = Bench(
            scale, workdir, key_path, public_key, password_hash, env, args.workers, profiler
        )
        bench.quiet_wait = 0.0 if args.smoke else args.quiet_wait
        bench.gc_log = args.gc_log
        bench.loop_log = args.loop_log
        bench.pin = args.pin
        bench.generator, bench.go_binary = args.generator_name, args.go_binary
        bench.deadline = started + args.time_limit
        bench.cluster_setups = args.cluster_setups.split(",") if args.cluster_setups else None
        bench.cluster_windows = args.cluster_windows.split(",") if args.cluster_windows else None
        bench.cluster_saturation_rate = args.cluster_saturation
        plan: list[tuple[str, Any]] = []
        if "handshakes" in only:
            plan.append(("handshakes", lambda: scenarios.handshakes.run(bench)))
        if "sessions" in only:
            plan.append(("sessions", lambda: scenarios.sessions.run(bench)))
        if "fanout" in only or "spread" in only:
            plan.append(
                (
                    "fanout",
                    lambda: scenarios.fanout.run(
                        bench, spread="spread" in only, fanout="fanout" in only
                    ),
                )
            )
        if "floor" in only:
            plan.append(("floor", lambda: scenarios.floor.run(bench)))
        if "storm" in only:
            plan.append(("storm", lambda: scenarios.storm.run(bench)))
        if "bruteforce" in only:
            plan.append(("bruteforce", lambda: scenarios.bruteforce.run(bench)))
        if "cluster" in only:
            plan.append(("cluster", lambda: scenarios.cluster.run(bench)))
        if "cluster_failover" in only:
            plan.append(("cluster_failover", lambda: scenarios.cluster.run_failover(bench)))
        if "cluster_two_nodes" in only:
            plan.append(("cluster_two_nodes", lambda: scenarios.cluster.run_two_nodes(bench)))
        deadline = time.monotonic() + args.time_limit
        for name, scenario in plan:
            remaining = deadline - time.monotonic()
            if remaining <= 5:
                results[name] = {"error": "skipped: the run's time limit was reached"}
                continue
            log(f"--- {name}")
            t0 = time.monotonic()
            bench.last_stop = {}
            try:
                async with asyncio.timeout(remaining):
                    results[name] = await scenario()
            except Exception as exc:  # one failed scenario must not lose the others
                results[name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
                log(f"{name} failed: {results[name]['error']}")
            results[name]["scenario_seconds"] = round(time.monotonic() - t0, 1)
            if bench.last_stop.get("exited_early"):
                results[name]["server_exited_early"] = True
                results[name]["server_log_tail"] = bench.last_stop.get("log_tail", "")
                log(f"{name}: the server ended before the benchmark stopped it")
        if profiler.results:
            results["profiles"] = profiler.results
    results["meta"]["duration_s"] = round(time.time() - started, 1)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark sshchat against a bare asyncssh floor.")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny load: checks the harness, not the server"
    )
    parser.add_argument("--only", help=f"comma-separated scenarios: {','.join(SCENARIOS)}")
    parser.add_argument(
        "--output",
        help="results JSON path (default bench/results.json; with --smoke a temporary directory)",
    )
    parser.add_argument(
        "--plot", default=None, help="plot PNG path (default: plot.png next to --output)"
    )
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument(
        "--workers", type=int, default=2, help="load generator processes (default 2)"
    )
    parser.add_argument("--time-limit", type=float, default=590.0, help="seconds for the whole run")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy record the server in each measured window"
    )
    parser.add_argument("--profile-dir", default=str(BENCH / "profiles"))
    parser.add_argument(
        "--profile-rate",
        type=int,
        default=100,
        metavar="HZ",
        help="py-spy samples per second with --profile (default 100; more costs the server more)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the configs and server/loadgen logs"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=10.0,
        metavar="S",
        help="before each fan-out window, wait up to S seconds for other programs on this "
        f"machine to use under {OTHER_CPU_QUIET:.0f}%% of a core (default 10; 0: never wait)",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="Go generator windows of fanout and floor: the server's event-loop thread on "
        "the first CPU and the generator on the last (taskset), so that the generator's "
        "threads, woken by every packet, do not run on the server's core, as with clients "
        "on other machines (default: the scheduler places both)",
    )
    parser.add_argument(
        "--gc-log",
        action="store_true",
        help="log the server's garbage-collection pauses (adds a sitecustomize.py to its path)",
    )
    parser.add_argument(
        "--loop-log",
        action="store_true",
        help="log the server's event-loop callbacks that run over 1 ms, fan-out passes among "
        "them (wall and CPU ms; adds a sitecustomize.py to its path)",
    )
    parser.add_argument(
        "--server-rev",
        metavar="REV",
        help="benchmark sshchat as committed at REV (e.g. HEAD), not the working tree",
    )
    parser.add_argument(
        "--cluster-setups",
        metavar="LIST",
        help="cluster scenario: only these setups (comma-separated: single,one_node,workers_2)",
    )
    parser.add_argument(
        "--cluster-windows",
        metavar="LIST",
        help="cluster scenario: only these windows (comma-separated: fanout_10k,saturation)",
    )
    parser.add_argument(
        "--replot",
        metavar="RESULTS",
        help="only print the table and draw the plot of an earlier results JSON",
    )
    parser.add_argument(
        "--generator",
        choices=gogen.GENERATORS,
        help="load generator for the fan-out windows of fanout and floor: go "
        "(../shared/loadgen-go, built into bench/.loadgen; about a third of the Python one's CPU) "
        "or python; the other scenarios always use python (default: go when it is there and Go "
        "is installed)",
    )
    parser.add_argument(
        "--fanout-window",
        action="append",
        type=_window,
        metavar="MEMBERS@RATE",
        help="Go generator: measure this fan-out window (members, lines/s) instead of the "
        "default ones; repeat for more (e.g. --fanout-window 500@20 --fanout-window 500@8)",
    )
    parser.add_argument(
        "--saturation",
        type=_window,
        metavar="MEMBERS@RATE",
        help="the saturation window's members and offered lines/s (default 100@600)",
    )
    parser.add_argument(
        "--spread-saturation",
        type=float,
        metavar="RATE",
        help="the 50-channel saturation window's offered lines/s in all (default 1000, "
        "i.e. 10,000 deliveries/s with 10 members a channel)",
    )
    parser.add_argument(
        "--fanout-seconds",
        type=float,
        metavar="S",
        help="how long each fan-out window sends (default 15): at 8 lines/s a 15 s window "
        "has 120 fan-out passes, so its p99 is its one or two slowest; a longer window "
        "measures the p99 more steadily",
    )
    parser.add_argument(
        "--cluster-saturation",
        type=float,
        metavar="RATE",
        help="the cluster scenario's saturation window: offered lines/s to its 500 members "
        "(default 200, i.e. 99,800 deliveries/s)",
    )
    args = parser.parse_args(argv)
    for flag in ("spread_saturation", "cluster_saturation"):
        if getattr(args, flag) is not None and getattr(args, flag) <= 0:
            parser.error(f"--{flag.replace('_', '-')}: the rate must be above 0 lines/s")
    if args.fanout_seconds is not None and args.fanout_seconds < 1:
        parser.error("--fanout-seconds: at least 1 (the Go generator sends whole seconds)")
    if args.profile and find_py_spy() is None:
        parser.exit(
            2,
            "bench/run.py: --profile needs py-spy, which is not installed. "
            "Fix: pip install py-spy (into the Python that runs bench/run.py).\n",
        )
    if args.replot:
        results = json.loads(Path(args.replot).read_text())
        print_table(judge(results))
        plot_path = Path(args.plot) if args.plot else Path(args.replot).with_name("plot.png")
        problem = plot(results, plot_path)
        print(f"\n{problem}" if problem else f"\nplot: {plot_path}")
        return 0
    if args.output is None:
        smoke_dir = Path(tempfile.gettempdir()) / "sshchat-bench-smoke"
        args.output = str(smoke_dir / "results.json" if args.smoke else BENCH / "results.json")
    try:
        args.generator_name, args.go_binary, args.generator_why = gogen.choose(args.generator)
    except gogen.GeneratorUnavailable as exc:
        parser.exit(2, f"bench/run.py: {exc}\n")
    log(f"fan-out load generator: {args.generator_name} ({args.generator_why})")
    if args.fanout_window and args.generator_name != "go":
        parser.exit(2, "bench/run.py: --fanout-window needs the Go generator (--generator go)\n")
    results = asyncio.run(run(args))
    rows = judge(results)
    results["targets"] = rows
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=1) + "\n")
    print_table(rows)
    errors = {k: v["error"] for k, v in results.items() if isinstance(v, dict) and "error" in v}
    for name, error in errors.items():
        print(f"\n{name}: {error}")
    if not args.no_plot:
        plot_path = Path(args.plot) if args.plot else output.with_name("plot.png")
        problem = plot(results, plot_path)
        print(f"\n{problem}" if problem else f"\nplot: {plot_path}")
    print(f"results: {output} ({results['meta']['duration_s']} s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())


def _window(text: str) -> tuple[int, float]:
    try:
        return parse_window(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
