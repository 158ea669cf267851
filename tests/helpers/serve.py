"""``sshchat serve`` in a subprocess, as an operator runs it, for the end-to-end tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.paths import REPO

__all__ = ["start_serve"]

LISTENING = re.compile(r"server\.listening address=\S+ port=(\d+)")


def start_serve(
    config: Path, log: Path, *, timeout: float = 60.0
) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``sshchat serve --config CONFIG`` (in the config's folder), its output
    appended to ``log``; return the process and its port once it listens.

    The port is read from what this start wrote to the log, so a node restarted
    on the same log is found on its new port. A server that exits or does not
    listen within ``timeout`` seconds fails the test with its log.
    """
    start = log.stat().st_size if log.exists() else 0
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sshchat", "serve", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=config.parent,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with log.open("rb") as f:
            f.seek(start)
            text = f.read().decode(errors="replace")
        match = LISTENING.search(text)
        if match:
            return proc, int(match.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    pytest.fail("sshchat serve did not start:\n" + log.read_text(errors="replace"))
