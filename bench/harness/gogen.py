"""The Go load generator (``../shared/loadgen-go``): find it, build it, run fan-out windows.

Why: on this 2-core machine the Python generator needs 0.6-0.9 of a core at
10,000 deliveries/s, so the server under test gets what is left and a figure
says as much about the client as about the server. The Go generator costs
about a third of that CPU.

What it can do: one run is one fan-out window (connect ``--n`` sessions, all in
the default channel; wait until quiet; a probe line from each sender; send at
a fixed rate; drain) and it prints one JSON object. So it replaces the Python
generator for the fan-out windows of the ``fanout`` and ``floor`` scenarios,
each window on a fresh server. Everything else (handshakes, idle sessions,
spread over many channels, presence, storm, brute force) needs the Python
generator's requests and keeps using it.

Its source is not copied into this repository: it is looked up at
``../shared/loadgen-go`` relative to the repository root (for a git worktree,
also relative to the main checkout), or wherever ``SSHCHAT_LOADGEN_GO`` says,
and built with its own ``build.sh`` into ``bench/.loadgen/`` (git-ignored).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .measure import cpu_seconds, machine_cpu
from .servers import ServerProcess, gc_pauses, slow_callbacks
from .settings import BENCH, REPO, log

if TYPE_CHECKING:
    from .bench import Bench

SOURCE_ENV = "SSHCHAT_LOADGEN_GO"
RELATIVE_SOURCE = Path("..") / "shared" / "loadgen-go"
BUILD_DIR = BENCH / ".loadgen"
BINARY = BUILD_DIR / "loadgen"
GENERATORS = ("go", "python")
# A moment during a Go run: monotonic time, machine_cpu(), CPU of the driver + generator + server.
Mark = tuple[float, tuple[float, float, float], float]


class GeneratorUnavailable(Exception):
    """The Go generator cannot be used; the message says why and what to do."""


def _main_checkout() -> Path | None:
    """The main checkout when this is a git worktree (``git rev-parse --git-common-dir``)."""
    try:
        common = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(common).parent if common else None


def source_candidates() -> list[Path]:
    """Where the source may be, in order: $SSHCHAT_LOADGEN_GO, then ../shared/loadgen-go."""
    if os.environ.get(SOURCE_ENV):
        return [Path(os.environ[SOURCE_ENV])]
    found = [(REPO / RELATIVE_SOURCE).resolve()]
    main = _main_checkout()
    if main is not None and (main / RELATIVE_SOURCE).resolve() not in found:
        found.append((main / RELATIVE_SOURCE).resolve())
    return found


def find_source(candidates: list[Path] | None = None) -> Path:
    """The directory holding ``build.sh`` and the Go source, or GeneratorUnavailable."""
    candidates = source_candidates() if candidates is None else candidates
    for path in candidates:
        if (path / "build.sh").is_file():
            return path
    looked = ", ".join(str(p) for p in candidates)
    raise GeneratorUnavailable(
        f"--generator go: the Go load generator's source is not there (looked in {looked}). "
        f"Fix: make it available at {RELATIVE_SOURCE} next to the repository, or set "
        f"{SOURCE_ENV}=/path/to/loadgen-go, or use --generator python."
    )


def build(source: Path, binary: Path = BINARY) -> Path:
    """Build (or find up to date) the binary with the source's own ``build.sh``.

    The build cache stays in ``bench/.loadgen`` too. ``build.sh`` installs Go
    from the distribution's packages when it is missing (that needs root).
    """
    binary.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("GOCACHE", str(binary.parent / "cache"))
    env.setdefault("GOPATH", str(binary.parent / "gopath"))
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            ["sh", str(source / "build.sh"), str(binary)],
            capture_output=True,
            text=True,
            env=env,
            timeout=1200,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GeneratorUnavailable(
            f"--generator go: {source / 'build.sh'} did not run: {exc}. "
            "Fix: install Go from the distribution's packages (apt-get install -y golang-go), "
            "or use --generator python."
        ) from None
    if proc.returncode != 0 or not os.access(binary, os.X_OK):
        tail = (proc.stderr or proc.stdout).strip()[-800:]
        raise GeneratorUnavailable(
            f"--generator go: {source / 'build.sh'} failed (exit {proc.returncode}): {tail}\n"
            "Fix: install Go from the distribution's packages (apt-get install -y golang-go; "
            "build.sh needs Go 1.23 and golang-golang-x-crypto-dev), or use --generator python."
        )
    if time.monotonic() - t0 > 2:
        log(f"built the Go load generator: {binary} ({time.monotonic() - t0:.0f} s)")
    return binary


def choose(requested: str | None) -> tuple[str, Path | None, str]:
    """The generator to use: ``(name, binary or None, why)``.

    ``requested`` None means the default: Go when its source is there and a Go
    toolchain is installed (nothing is installed for a default), else Python.
    An explicit ``go`` that cannot be built raises GeneratorUnavailable.
    """
    if requested == "python":
        return "python", None, "asked for (--generator python)"
    if requested == "go":
        binary = build(find_source())
        return "go", binary, "asked for (--generator go)"
    try:
        source = find_source()
    except GeneratorUnavailable:
        return "python", None, f"default: no Go load generator source at {RELATIVE_SOURCE}"
    if shutil.which("go") is None and not os.access(BINARY, os.X_OK):
        return "python", None, "default: Go is not installed (apt-get install -y golang-go)"
    try:
        return "go", build(source), f"default: Go load generator from {source}"
    except GeneratorUnavailable as exc:
        return "python", None, f"default: the Go load generator did not build: {exc}"


def argv(
    bench: Bench,
    server: ServerProcess,
    *,
    name: str,
    members: int,
    senders: int,
    rate: float,
    seconds: float,
) -> list[str]:
    s = bench.scale
    assert bench.go_binary is not None
    return [
        str(bench.go_binary),
        "--port",
        str(server.port),
        "--server-pid",
        str(server.pid),
        "--shared-key",
        str(bench.key_path),
        "--label",
        name,
        "--n",
        str(members),
        "--senders",
        str(senders),
        "--rate",
        str(rate),
        "--secs",
        str(seconds),
        "--conc",
        "50",
        "--quiet",
        str(max(0.5, 1.0 * s.settle)),
        "--drain-idle",
        "1",
        "--drain-max",
        str(s.drain_timeout),
        "--connect-max",
        str(s.connect_timeout),
        *(["--deadline", str(int(bench.deadline))] if math.isfinite(bench.deadline) else []),
    ]


async def window(
    bench: Bench,
    server: ServerProcess,
    *,
    name: str,
    members: int,
    senders: int,
    rate: float,
    seconds: float,
    pin: bool = False,
) -> dict[str, Any]:
    """One fan-out window with the Go generator on a running server (no other clients).

    ``pin``: keep the generator off the core of the server's event loop
    (:func:`pinned_cpus`); only for a server of one process.

    The generator measures the server's and its own CPU over the fan-out (send
    and drain); this driver samples the machine over the same span, found by
    the generator's progress lines, for the CPU used by other programs.
    """
    seconds = max(1.0, seconds)  # the generator sends only when it has a second or more
    waited_for_quiet = await bench.quiet_machine(server, None)
    wall_start = time.time()
    command = argv(
        bench, server, name=name, members=members, senders=senders, rate=rate, seconds=seconds
    )
    stderr_log = server.log_path.with_name(f"{name}.loadgen.err")
    pinned = pinned_cpus(server.pid) if pin else None
    if pinned is not None:
        command = ["taskset", "--cpu-list", str(pinned["generator_cpu"]), *command]
    proc = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=64 * 1024 * 1024,
    )
    assert proc.stdout is not None and proc.stderr is not None
    marks: dict[str, Mark] = {}
    profiling: list[asyncio.Task[None]] = []

    async def profile() -> None:
        """py-spy on the server over the fan-out (``--profile``), not the connects."""
        async with bench.profiler.window(name, server.pid, seconds):
            await asyncio.sleep(seconds)

    def mark(label: str) -> None:
        ours = cpu_seconds(os.getpid()) + cpu_seconds(proc.pid) + server.cpu()
        marks[label] = (time.monotonic(), machine_cpu(), ours)

    async def follow_progress() -> None:
        assert proc.stderr is not None
        with open(stderr_log, "w") as out:
            while line := (await proc.stderr.readline()).decode(errors="replace"):
                out.write(line)
                if "loadgen: probe:" in line:
                    mark("fanout_start")
                    profiling.append(asyncio.create_task(profile()))
                elif "loadgen: fan-out:" in line:
                    mark("fanout_end")

    limit = bench.scale.connect_timeout + seconds + 3 * bench.scale.drain_timeout + 60
    try:
        async with asyncio.timeout(limit):
            stdout, _ = await asyncio.gather(proc.stdout.read(), follow_progress())
            await proc.wait()
            await asyncio.gather(*profiling)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise RuntimeError(f"{name}: the Go load generator ran over {limit:.0f} s") from None
    try:
        figures = json.loads(stdout)
    except ValueError:
        tail = stderr_log.read_text(errors="replace")[-1500:]
        raise RuntimeError(
            f"{name}: the Go load generator printed no figures (exit {proc.returncode}): {tail}"
        ) from None
    if figures.get("cut_short") or "deliveries_per_s" not in figures:
        tail = stderr_log.read_text(errors="replace")[-1500:]
        raise RuntimeError(
            f"{name}: the Go load generator stopped before the fan-out "
            f"({figures.get('connected')}/{members} connected, "
            f"errors {figures.get('first_errors')}): {tail}"
        )
    result = window_result(figures, rate=rate, seconds=seconds)
    result |= machine_share(marks) or {"other_cpu_pct": None}
    result["waited_for_quiet_s"] = waited_for_quiet
    result["gc"] = gc_pauses(server.gc_log, wall_start, time.time())
    # The fan-out itself (send and drain), not the logins before it.
    to_wall = time.time() - time.monotonic()
    span = [marks[k][0] + to_wall for k in ("fanout_start", "fanout_end") if k in marks]
    result["callbacks"] = slow_callbacks(server.loop_log, *span) if len(span) == 2 else None
    result["pinned"] = pinned
    where = (
        f", loop on CPU {pinned['server_loop_cpu']}, generator on CPU {pinned['generator_cpu']}"
        if pinned
        else ""
    )
    log(
        f"{name} (go): {result['deliveries_per_s']}/s (offered "
        f"{result['offered_deliveries_per_s']:.0f}), p50 {result['p50_ms']} ms, "
        f"p99 {result['p99_ms']} ms, undelivered {result['undelivered']}, "
        f"generator CPU {result['loadgen_cpu_pct'][0]} %{where}"
    )
    return result


def pinned_cpus(server_pid: int) -> dict[str, int] | None:
    """Put the server's event-loop thread on the first CPU; the generator goes on the last.

    Why (``--pin``): on this 2-core machine every packet the server sends wakes
    a generator thread, and the scheduler often runs it on the server's core
    (it favours the waker's CPU), so a fan-out pass of 500 writes is preempted
    again and again. Measured: a pass took 25 % more wall time than the loop's
    own CPU time for it; pinned, the two were equal (``bench/RESULTS.md``,
    2026-12-01 late). Clients on other machines take nothing from the server's core.
    Only the loop thread is pinned (the thread whose id is the pid); the
    server's helper threads (storage, password hashing) run anywhere.
    None, with a log line, when the machine has one CPU or no ``taskset``.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or shutil.which("taskset") is None:
        log("--pin: needs two CPUs and taskset (util-linux); not pinned")
        return None
    os.sched_setaffinity(server_pid, {cpus[0]})
    return {"server_loop_cpu": cpus[0], "generator_cpu": cpus[-1]}


def machine_share(marks: dict[str, Mark]) -> dict[str, float] | None:
    """CPU of other programs, softirqs and the host over the fan-out (100 = one core)."""
    if "fanout_start" not in marks or "fanout_end" not in marks:
        return None
    (w0, box0, ours0), (w1, box1, ours1) = marks["fanout_start"], marks["fanout_end"]
    wall = w1 - w0
    if wall <= 0:
        return None
    busy, softirq, steal = (b - a for a, b in zip(box0, box1, strict=True))
    return {
        "other_cpu_pct": round(max(0.0, busy - softirq - (ours1 - ours0)) / wall * 100, 1),
        "softirq_cpu_pct": round(softirq / wall * 100, 1),
        "steal_cpu_pct": round(steal / wall * 100, 1),
    }


def window_result(figures: dict[str, Any], *, rate: float, seconds: float) -> dict[str, Any]:
    """The Go generator's JSON in the shape of a Python fan-out window (same key names).

    Differences, by the generator's design: a sender's own lines are not
    counted (``expected = sent x (members - 1)``), ``deliveries_per_s`` is all
    deliveries over the window (sending, or longer if deliveries trailed), and a
    p99 is None when over 1 % of the deliveries were lost.
    """
    expected = figures["expected"]
    lost = figures["lost"]
    lag = max(0.0, figures["window_s"] - figures["send_s"])
    return {
        "generator": "go",
        "members": figures["members"],
        "senders": min(figures["senders"], figures["members"]),
        "rate_msgs": rate,
        "offered_deliveries_per_s": float(figures["offered_per_s"]),
        "seconds": seconds,
        "sent": figures["sent"],
        "expected_deliveries": expected,
        "deliveries": figures["received"],
        "undelivered": lost,
        "duplicates": figures["duplicates"],
        "deliveries_per_s": float(figures["deliveries_per_s"]),
        "p50_ms": figures["p50_ms"],
        "p90_ms": figures["p90_ms"],
        "p99_ms": figures["p99_ms"],
        "max_ms": figures["max_received_ms"],
        "lag_s": round(lag, 2),
        "send_lag_max_ms": figures["send_lag_max_ms"],
        "fell_behind": bool(lag > 1.0 or lost > 0.01 * expected),
        "server_cpu_pct": figures["server_cpu_fanout_pct"],
        # One number per load generator process, as for the Python workers.
        "loadgen_cpu_pct": [figures["loadgen_cpu_fanout_pct"]],
        "connect": {
            "connected": figures["connected"],
            "seconds": figures["connect_s"],
            "errors": figures["connect_errors"],
            "first_errors": figures["first_errors"],
            "server_cpu_pct": figures["server_cpu_connect_pct"],
        },
        "rss_per_session_kb": figures.get("rss_per_session_kb"),
        "rss_after_kb": figures.get("rss_after_kb"),
    }


# One window on a fresh server: result key, window name, members, rate (lines/s), seconds.
Window = tuple[str, str, int, float, float]


def fanout_plan(bench: Bench, prefix: str) -> list[Window]:
    """The fan-out windows of the ``fanout`` scenario (``prefix`` "fanout") or the floor."""
    s = bench.scale
    plan: list[Window] = [
        (str(m), f"{prefix}_{m}", m, s.fanout_rate[m], s.fanout_seconds) for m in s.fanout_members
    ]
    if s.fanout_windows:
        plan = [
            (f"{m}@{r:g}", f"{prefix}_{m}at{r:g}", m, r, s.fanout_seconds)
            for m, r in s.fanout_windows
        ]
    m = s.saturation_members
    name = f"{prefix}_saturation_{m}" if prefix != "fanout" else f"saturation_{m}"
    plan.append((f"saturation_{m}", name, m, s.saturation_rate, s.saturation_seconds))
    return plan


async def fresh_windows(
    bench: Bench, plan: list[Window], *, floor: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each window of ``plan`` with the Go generator, each on a server of its own.

    A fresh server per window, because the generator's sessions all land in
    the default channel and leave when it exits. Returns the windows and one
    server report for all of them (the first bad exit, every log problem).
    """
    windows: dict[str, Any] = {}
    reports: list[dict[str, Any]] = []
    for key, name, members, rate, seconds in plan:
        if floor:
            server, _ = bench.floor_process(members, name=name)
        else:
            server, _ = bench.sshchat_process(name)
        async with bench.alone(server):
            result = await window(
                bench,
                server,
                name=name,
                members=members,
                senders=bench.scale.fanout_senders,
                rate=rate,
                seconds=seconds,
                pin=bench.pin,
            )
            result["rss_kb"] = server.rss_kb()
        report = bench.server_report(server)
        report["client_lost_sessions"] = result["connect"]["connected"] - result["members"]
        result["server"] = report
        reports.append(report)
        windows[key] = result
    exits = [r["server_exit"] for r in reports]
    merged = {
        "server_exit": next((e for e in exits if e != 0), 0),
        "server_exited_early": any(r["server_exited_early"] for r in reports),
        "server_shutdown_s": max((r["server_shutdown_s"] or 0.0 for r in reports), default=None),
        "server_log_problems": [p for r in reports for p in r["server_log_problems"]],
        "client_lost_sessions": sum(r["client_lost_sessions"] for r in reports),
        "client_lost_reasons": {},
    }
    return windows, merged
