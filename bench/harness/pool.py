"""The Python load generator, driven from here: ``bench/loadgen.py`` worker processes.

Each worker holds many asyncssh client sessions on one event loop and answers
JSON-line requests on stdin/stdout; ``Pool`` spreads a request over the workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .measure import cpu_seconds
from .settings import BENCH


class WorkerError(Exception):
    pass


class Worker:
    """One ``loadgen.py`` process and its pending requests."""

    def __init__(self, index: int, proc: asyncio.subprocess.Process, stderr: Path) -> None:
        self.index = index
        self.proc = proc
        self.stderr = stderr
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(
        cls, index: int, port: int, key: Path, workdir: Path, env: dict[str, str]
    ) -> Worker:
        stderr = workdir / f"loadgen{index}.err"
        with open(stderr, "ab") as err:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(BENCH / "loadgen.py"),
                "--port",
                str(port),
                "--key",
                str(key),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env=env,
                limit=256 * 1024 * 1024,
            )
        return cls(index, proc, stderr)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                break
            message = json.loads(line)
            future = self._pending.pop(message["id"], None)
            if future is None or future.done():
                continue
            if message["ok"]:
                future.set_result(message["result"])
            else:
                future.set_exception(WorkerError(f"loadgen {self.index}: {message['error']}"))
        tail = self.stderr.read_text(errors="replace")[-1500:] if self.stderr.exists() else ""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(WorkerError(f"loadgen {self.index} exited: {tail}"))
        self._pending.clear()

    async def call(self, cmd: str, wait: float, /, **kwargs: Any) -> Any:
        assert self.proc.stdin is not None
        rid = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        self.proc.stdin.write((json.dumps({"id": rid, "cmd": cmd, **kwargs}) + "\n").encode())
        await self.proc.stdin.drain()
        try:
            async with asyncio.timeout(wait):
                return await future
        finally:
            self._pending.pop(rid, None)

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(Exception):
                assert self.proc.stdin is not None
                self.proc.stdin.write(b'{"id": 0, "cmd": "exit"}\n')
                await self.proc.stdin.drain()
                self.proc.stdin.close()
            try:
                async with asyncio.timeout(20):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self._reader.cancel()


class Pool:
    """The load generator workers. Login ``bench<i>`` always lives on worker ``i % n``."""

    def __init__(self, workers: list[Worker], settle: float = 1.0) -> None:
        self.workers = workers
        self.settle = settle

    @classmethod
    async def start(
        cls, count: int, port: int, key: Path, workdir: Path, env: dict[str, str]
    ) -> Pool:
        return cls([await Worker.start(i, port, key, workdir, env) for i in range(count)])

    def owner(self, name: str) -> int:
        """The worker of a session name: ``bench<i>`` or ``bench<i>#<tag>``."""
        login, _, tag = name.partition("#")
        digits = tag or re.sub(r"\D", "", login)
        return int(digits) % len(self.workers) if digits.isdigit() else 0

    def split(self, logins: Sequence[str]) -> list[list[str]]:
        parts: list[list[str]] = [[] for _ in self.workers]
        for login in logins:
            parts[self.owner(login)].append(login)
        return parts

    async def each(
        self,
        cmd: str,
        wait: float,
        per_worker: list[dict[str, Any]] | None = None,
        /,
        **kwargs: Any,
    ) -> list[Any]:
        """Send ``cmd`` to every worker (with its own kwargs if given)."""
        calls = []
        for i, worker in enumerate(self.workers):
            args = dict(kwargs)
            if per_worker is not None:
                args.update(per_worker[i])
            calls.append(worker.call(cmd, wait, **args))
        return await asyncio.gather(*calls)

    async def connect(
        self, logins: Sequence[str], *, concurrency: int, timeout: float
    ) -> dict[str, Any]:
        parts = self.split(logins)
        per_worker = [{"logins": part} for part in parts]
        results = await self.each(
            "connect", timeout + 60, per_worker, concurrency=concurrency, timeout=timeout
        )
        return merge_connects(results)

    async def lines(self, logins: Sequence[str], line: str, spacing: float = 0.0) -> int:
        parts = self.split(logins)
        per_worker = [{"logins": part} for part in parts]
        timeout = 30 + spacing * len(logins)
        results = await self.each("lines", timeout, per_worker, line=line, spacing=spacing)
        return sum(r["sent"] for r in results)

    async def quiet(self, idle: float, timeout: float) -> float:
        """Wait until no session has received anything for ``idle`` (scaled) seconds.

        Returns how long it took, not counting that idle period.
        """
        idle *= self.settle
        t0 = time.monotonic()
        await self.each("quiet", timeout + 10, idle=idle, timeout=timeout)
        return max(0.0, time.monotonic() - t0 - idle)

    async def pause(self, seconds: float) -> None:
        await asyncio.sleep(seconds * self.settle)

    async def close_all(self) -> None:
        await self.each("close", 120)

    async def stats(self) -> dict[str, Any]:
        results = await self.each("stats", 30)
        reasons: Counter[str] = Counter()
        for r in results:
            reasons.update(r["lost_reasons"])
        return {
            "sessions": sum(r["sessions"] for r in results),
            "lost_sessions": sum(r["lost_sessions"] for r in results),
            "lost_reasons": dict(reasons),
        }

    def cpu(self) -> float:
        return sum(w.cpu() for w in self.workers)

    def cpus(self) -> list[float]:
        return [w.cpu() for w in self.workers]

    async def stop(self) -> None:
        await asyncio.gather(*(w.stop() for w in self.workers))


def merge_connects(results: list[dict[str, Any]]) -> dict[str, Any]:
    errors: Counter[str] = Counter()
    for r in results:
        errors.update(r["errors"])
    times = [t for r in results for t in r["times"]]
    return {
        "start": min(r["start"] for r in results),
        "end": max(r["end"] for r in results),
        "ok": sum(r["ok"] for r in results),
        "times": times,
        "done_at": [t for r in results for t in r.get("done_at", [])],
        "errors": dict(errors),
    }
