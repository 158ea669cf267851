"""py-spy profiles of the server during measured windows (``--profile``)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def find_py_spy() -> str | None:
    """``py-spy`` on PATH, or beside this Python (a virtualenv that is not activated)."""
    beside = Path(sys.executable).with_name("py-spy")
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


@dataclass
class Profiler:
    """Runs ``py-spy record`` on the server for a measured window when enabled.

    Each window gives ``<name>.txt`` (collapsed stacks, summarised into the
    results) and ``<name>.svg`` (a flame graph to open in a browser).
    """

    directory: Path | None
    results: dict[str, Any] = field(default_factory=dict)
    rate: int = 100  # samples per second

    @contextlib.asynccontextmanager
    async def window(self, name: str, pid: int, seconds: float) -> AsyncIterator[None]:
        py_spy = find_py_spy() if self.directory is not None else None
        if self.directory is None or py_spy is None:
            yield
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        raw = self.directory / f"{name}.txt"
        procs = []
        for fmt, path in (("raw", raw), ("flamegraph", raw.with_suffix(".svg"))):
            argv = [py_spy, "record", "--pid", str(pid), "--rate", str(self.rate), "--nonblocking"]
            argv += ["--duration", str(max(1, round(seconds))), "--format", fmt, "-o", str(path)]
            procs.append(
                await asyncio.create_subprocess_exec(
                    *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
                )
            )
        try:
            yield
        finally:
            for proc in procs:
                try:
                    async with asyncio.timeout(seconds + 30):
                        await proc.wait()
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            if raw.exists():
                self.results[name] = summarize_profile(raw, seconds)


def summarize_profile(path: Path, seconds: float, top: int = 15) -> dict[str, Any]:
    """Top functions by own ("self") and inclusive ("total") share of the samples."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    package: Counter[str] = Counter()  # own samples by top-level package of the code
    samples = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        frames = [f for f in frames if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
        where = re.search(r"\(([^)]*)\)$", frames[-1])
        module = where.group(1) if where else "?"
        package[module.split("/")[0] if "/" in module else f"stdlib {module}"] += count
    share = lambda n: round(100 * n / samples, 1) if samples else 0.0  # noqa: E731
    # The entry-point chain (main, run_forever, ...) is in nearly every sample: skip it.
    entry = re.compile(
        r"^(<module>|main|_cmd_serve|_run_module_as_main|_run_code|run|serve|"
        r"BaseEventLoop\.(run_until_complete|run_forever|_run_once)|Runner\.run|Handle\._run) "
    )
    inclusive = [(f, n) for f, n in total.most_common() if not entry.match(f)]
    return {
        "file": str(path),
        "samples": samples,
        "busy_pct": round(100 * samples / (seconds * 100), 1) if seconds else None,
        "by_package": [[p, share(n)] for p, n in package.most_common(8)],
        "self": [[f, share(n)] for f, n in own.most_common(top)],
        "total": [[f, share(n)] for f, n in inclusive[: top * 2]],
    }
