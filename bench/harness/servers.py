"""The servers under test: their configs, their processes, and the code they run.

Each scenario starts its own server, sshchat (``python -m sshchat serve``) or the
floor (``bench/floor_server.py``), on 127.0.0.1 port 0; the port is read from its log.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from .measure import cpu_seconds, percentile, rounded, rss_kb
from .settings import BENCH, PASSWORD_USER, REPO, Scale

# sshchat logs `server.listening address=HOST port=PORT`; the floor server `listening on HOST:PORT`.
LISTENING = re.compile(
    r"server\.listening address=\S+ port=(?P<port>\d+)|listening on \S+:(?P<floor_port>\d+)"
)


def write_config(
    directory: Path,
    scale: Scale,
    public_key: str,
    password_hash: str,
    *,
    limits: dict[str, Any],
    go_users: int = 0,
) -> Path:
    """The server's config: users ``bench0..``, ``benchpw``, and ``go_users`` more
    named like the Go load generator logs in (``bench0000..``), all with one key.
    """
    lines = [
        "[server]",
        'listen = "127.0.0.1"',
        "port = 0",
        'host_keys = ["host_key"]',
        'name = "sshchat-bench"',
        'motd = "Benchmark server."',
        'default_channel = "lobby"',
        "",
        "[limits]",
        *(f"{key} = {value}" for key, value in limits.items()),
        "",
        f"[users.{PASSWORD_USER}]",
        f'password_hash = "{password_hash}"',
        "",
    ]
    for i in range(scale.users):
        lines += [f"[users.bench{i}]", f'public_keys = ["{public_key} bench"]', ""]
    for i in range(go_users):
        lines += [f"[users.bench{i:04d}]", f'public_keys = ["{public_key} bench"]', ""]
    path = directory / "sshchat.toml"
    path.write_text("\n".join(lines))
    path.chmod(0o600)  # it holds a password hash: the server warns about a readable one
    return path


class ServerProcess:
    """A server subprocess whose log says where it listens (see :data:`LISTENING`)."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.gc_log: Path | None = None  # garbage collections, see write_probe()
        self.loop_log: Path | None = None  # slow event-loop callbacks, see write_probe()
        self._log_offset = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> None:
        with open(self.log_path, "wb") as logfile:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.log_path.parent,  # not the repo: `-m sshchat` must use PYTHONPATH
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = LISTENING.search(self.log_path.read_text(errors="replace"))
            if match:
                self.port = int(match.group("port") or match.group("floor_port"))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        tail = self.log_path.read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"{self.name} did not start listening:\n{tail}")

    def rss_kb(self) -> int:
        return rss_kb(self.pid)

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def problems(self) -> list[str]:
        """Tracebacks, errors and warnings the server logged (first lines only)."""
        text = self.log_path.read_text(errors="replace")
        found: Counter[str] = Counter()
        for line in text.splitlines():
            if "Traceback" in line or " ERROR " in line or " CRITICAL " in line:
                found[re.sub(r"^\S+ \S+ ", "", line)[:200]] += 1
            elif " WARNING " in line:
                event = re.sub(r"^\S+ \S+ WARNING ", "", line)
                found["WARNING " + re.sub(r" .*", "", event.split(": ", 1)[-1])] += 1
        return [f"{count} x {line}" for line, count in found.most_common(20)]

    def stop(self) -> dict[str, Any]:
        """SIGTERM (then SIGKILL); returns exit status and what the log complained about."""
        if self.proc is None:
            return {}
        code = self.proc.poll()
        early = code is not None
        if code is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait(timeout=10)
                code = f"killed after SIGTERM timeout ({code})"
        result: dict[str, Any] = {"exit": code, "log_problems": self.problems()}
        if early:
            # It ended before the benchmark stopped it: crash, or killed from outside.
            result["exited_early"] = True
            result["log_tail"] = self.log_path.read_text(errors="replace")[-1500:]
        return result


PROBE = """\
# Written by bench/run.py --gc-log / --loop-log: what the server's interpreter did.
import gc, os, sys, time
if sys.argv[:2] == ["-m", "serve"]:
    _path = os.environ.get("SSHCHAT_BENCH_GC_LOG")
    if _path:  # --gc-log: every garbage collection
        _log = open(_path, "a")
        _start = [0.0, 0.0]  # this collection's start, the last flush

        def _gc_probe(phase, info):
            now = time.perf_counter()
            if phase == "start":
                _start[0] = now
                return
            _log.write(f"{time.time():.3f} {info['generation']} {(now - _start[0]) * 1000:.3f}\\n")
            if now - _start[1] > 0.5:  # buffered: a write per collection would be a cost of its own
                _start[1] = now
                _log.flush()

        gc.callbacks.append(_gc_probe)
    _loop_path = os.environ.get("SSHCHAT_BENCH_LOOP_LOG")
    if _loop_path:  # --loop-log: every event-loop callback over 1 ms
        import asyncio.events

        _loop_log = open(_loop_path, "a")
        _stock_run = asyncio.events.Handle._run
        _clock, _cpu = time.perf_counter, time.thread_time
        _flushed = [0.0]

        def _timed_run(self):
            wall0, cpu0 = _clock(), _cpu()
            try:
                return _stock_run(self)
            finally:
                wall = _clock() - wall0
                if wall > 0.001:
                    callback = self._callback
                    name = getattr(callback, "__qualname__", None) or type(callback).__name__
                    cpu = (_cpu() - cpu0) * 1000
                    _loop_log.write(f"{time.time():.4f} {wall * 1000:.2f} {cpu:.2f} {name}\\n")
                    if wall0 - _flushed[0] > 0.5:
                        _flushed[0] = wall0
                        _loop_log.flush()

        asyncio.events.Handle._run = _timed_run
"""


def write_probe(workdir: Path) -> Path:
    """A directory with a sitecustomize.py that logs what the server's interpreter did.

    With ``SSHCHAT_BENCH_GC_LOG`` set, each line of that log is a garbage
    collection: wall time, generation, pause in ms. With
    ``SSHCHAT_BENCH_LOOP_LOG``, each line is an event-loop callback that ran
    for over 1 ms: wall time at its end, wall and thread CPU ms, its name (the
    fan-out passes are ``Flusher._run``). Both are flushed at least every half
    second, so a window's lines are all there once it has ended and the server
    has been idle for a moment. No change to sshchat: only a server started
    with ``-m sshchat serve`` runs them.
    """
    directory = workdir / "probe"
    directory.mkdir(exist_ok=True)
    (directory / "sitecustomize.py").write_text(PROBE)
    return directory


def gc_pauses(path: Path | None, start: float, end: float) -> dict[str, Any] | None:
    """Garbage-collection pauses the probe logged between two ``time.time()`` values.

    The old keys (generation-2 count, max and total; younger ones over 5 ms)
    and the distribution of all pauses: count, p50, p99, max, per generation.
    """
    if path is None or not path.exists():
        return None
    by_gen: dict[str, list[float]] = {"0": [], "1": [], "2": []}
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            when, generation, ms = line.split()
            if start <= float(when) <= end:
                by_gen.setdefault(generation, []).append(float(ms))
    full = by_gen["2"]
    other = [ms for gen, pauses in by_gen.items() if gen != "2" for ms in pauses if ms > 5.0]
    every = [ms for pauses in by_gen.values() for ms in pauses]
    return {
        "gen2_count": len(full),
        "gen2_max_ms": max(full, default=0.0),
        "gen2_total_ms": round(sum(full), 1),
        "young_over_5ms": len(other),
        "young_total_ms": round(sum(other), 1),
        "seconds": round(end - start, 1),
        "pauses": _distribution(every),
        "by_generation": {gen: _distribution(pauses) for gen, pauses in by_gen.items()},
    }


def slow_callbacks(path: Path | None, start: float, end: float) -> dict[str, Any] | None:
    """Event-loop callbacks over 1 ms that the probe logged between two ``time.time()`` values.

    Per callback name, most total wall time first: how many, and the
    distribution of their wall and thread CPU ms. ``Flusher._run`` is one
    fan-out pass; where it is slow with CPU equal to wall, the pass itself cost
    more, where wall exceeds CPU, the loop thread was kept from running.
    """
    if path is None or not path.exists():
        return None
    by_name: dict[str, list[tuple[float, float]]] = {}
    for line in path.read_text().splitlines():
        parts = line.split(" ", 3)
        if len(parts) != 4:
            continue
        with contextlib.suppress(ValueError):
            when, wall, cpu = (float(x) for x in parts[:3])
            if start <= when <= end:
                by_name.setdefault(parts[3], []).append((wall, cpu))
    order = sorted(by_name.items(), key=lambda item: -sum(wall for wall, _ in item[1]))
    return {
        name: {
            "count": len(runs),
            "wall_p50_ms": rounded(percentile([w for w, _ in runs], 50), 2),
            "wall_p90_ms": rounded(percentile([w for w, _ in runs], 90), 2),
            "wall_max_ms": max(w for w, _ in runs),
            "cpu_p50_ms": rounded(percentile([c for _, c in runs], 50), 2),
            "cpu_max_ms": max(c for _, c in runs),
            "slowest": sorted(runs, reverse=True)[:3],  # (wall, cpu) ms
        }
        for name, runs in order
    }


def _distribution(pauses: list[float]) -> dict[str, Any]:
    return {
        "count": len(pauses),
        "p50_ms": rounded(percentile(pauses, 50), 3),
        "p99_ms": rounded(percentile(pauses, 99), 3),
        "max_ms": max(pauses, default=0.0),
        "total_ms": round(sum(pauses), 1),
    }


def sshchat_server(workdir: Path, config: Path, env: dict[str, str], name: str) -> ServerProcess:
    argv = [sys.executable, "-m", "sshchat", "serve", "--config", str(config)]
    return ServerProcess(name, argv, workdir / f"{name}.log", env)


def floor_server(
    workdir: Path, users: int, env: dict[str, str], name: str = "floor"
) -> ServerProcess:
    argv = [sys.executable, str(BENCH / "floor_server.py"), "--users", str(users)]
    return ServerProcess(name, argv, workdir / f"{name}.log", env)


def _git(*argv: str) -> str:
    return subprocess.run(
        ["git", *argv], cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


def server_tree(rev: str | None, workdir: Path) -> tuple[Path, dict[str, Any]]:
    """The directory whose ``sshchat`` package is benchmarked, and what code it holds.

    Without ``rev`` it is this working tree as it is (uncommitted changes are
    listed); with ``rev`` that commit's ``sshchat/`` is extracted with
    ``git archive`` so that edits made during the run do not change the server.
    """
    info: dict[str, Any] = {}
    tree = REPO
    try:
        if rev is None:
            info["tree"] = "working tree"
            info["commit"] = _git("rev-parse", "HEAD")
            info["uncommitted"] = _git("status", "--porcelain", "--", "sshchat").splitlines()
        else:
            commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
            tree = workdir / "server-tree"
            tree.mkdir()
            archive = subprocess.run(
                ["git", "archive", commit, "sshchat"], cwd=REPO, capture_output=True, check=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
            info["tree"] = f"git archive {commit}"
            info["commit"] = commit
            info["subject"] = _git("log", "-1", "--format=%s", commit)
    except (OSError, subprocess.CalledProcessError) as exc:
        if rev is not None:
            raise SystemExit(f"cannot extract sshchat at {rev!r}: {exc}") from None
        info["git"] = f"unavailable: {exc}"
    info["sshchat_sha256"] = code_digest(tree / "sshchat")
    return tree, info


def code_digest(package: Path) -> str:
    """A short hash of every ``.py`` file of ``package``, subpackages included.

    It names the code a results file was measured on; the file paths are part
    of it, so moving a module changes it too.
    """
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        name = path.relative_to(package).as_posix()
        digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]
