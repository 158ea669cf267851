"""``sshchat serve --workers N``: N worker processes on one port, one chat through Redis.

The parent makes sure the host keys exist (so that the workers do not race to
create them), picks the port when the config says 0, and starts worker i as
``sshchat serve --worker-index i``: node ``<node>-i``, its own SQLite file
``<name>-i.db`` beside the configured one, listening with SO_REUSEPORT so
the kernel spreads connections over the workers. A worker that dies is
started again (after a short back-off); to the other nodes it is a node
fault meanwhile (its lease expires, its users go offline). SIGTERM or SIGINT
stops every worker (each tells its users) and then the parent.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from sshchat.config.schema import Config
from sshchat.ops.logs import log_event
from sshchat.ssh.server import load_host_key

__all__ = ["run_workers", "worker_config", "worker_store"]

log = logging.getLogger(__name__)

RESTART_DELAY = 1.0  # seconds before a dead worker is started again (doubling, up to 30)


def worker_store(path: Path | None, index: int) -> Path | None:
    """``data/sshchat.db`` -> ``data/sshchat-<index>.db`` (None: in memory, as configured)."""
    if path is None:
        return None
    return path.with_name(f"{path.stem}-{index}{path.suffix}")


def worker_config(config: Config, index: int, port: int | None = None) -> Config:
    """The configuration of worker ``index``: its node name, database and shared port."""
    cluster = dataclasses.replace(
        config.cluster, node=f"{config.cluster.node}-{index}", worker=index
    )
    storage = dataclasses.replace(config.storage, path=worker_store(config.storage.path, index))
    listen_port = config.listen_port if port is None else port
    return dataclasses.replace(config, cluster=cluster, storage=storage, listen_port=listen_port)


def reserve_port(host: str) -> socket.socket:
    """A socket holding a free port for the workers, bound (not listening) with SO_REUSEPORT.

    Kept open while the parent runs: the workers join it (SO_REUSEPORT), but the
    kernel hands the port to nobody else meanwhile -- a port merely looked up
    and released could be taken by another program before the workers bind it
    (or between a worker's death and its restart).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, 0))
    except OSError:
        sock.close()
        raise
    return sock


def run_workers(config: Config, args: argparse.Namespace) -> int:
    """Run and supervise ``args.workers`` workers until SIGTERM/SIGINT; the exit status."""
    for path in config.host_keys:
        load_host_key(path)  # created once, here, if missing
    reserved = None if config.listen_port else reserve_port(config.listen_host)
    port = int(reserved.getsockname()[1]) if reserved is not None else config.listen_port
    base = [
        sys.executable,
        "-m",
        "sshchat",
        "serve",
        "--config",
        str(config.path),
        "--log-level",
        args.log_level,
        "--log-format",
        args.log_format,
    ]
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log_event(log, "workers.start", workers=args.workers, port=port, node=config.cluster.node)
    procs: dict[int, subprocess.Popen[bytes]] = {}
    delays: dict[int, float] = {}
    due: dict[int, float] = {}

    def spawn(index: int) -> None:
        extra = ["--worker-index", str(index), "--port-override", str(port)]
        procs[index] = subprocess.Popen([*base, *extra])

    for index in range(1, args.workers + 1):
        spawn(index)
    status = 0
    try:
        while not stopping:
            time.sleep(0.2)
            now = time.monotonic()
            for index, proc in list(procs.items()):
                code = proc.poll()
                if code is None or index in due:
                    continue
                if code == 2:  # a configuration or start-up error: restarting will not help
                    log_event(log, "workers.failed", logging.ERROR, worker=index, status=code)
                    stopping = True
                    status = 2
                    break
                delay = delays.get(index, RESTART_DELAY)
                delays[index] = min(delay * 2, 30.0)
                due[index] = now + delay
                log_event(
                    log,
                    "workers.died",
                    logging.WARNING,
                    worker=index,
                    status=code,
                    restart_in=delay,
                )
            for index, when in list(due.items()):
                if when <= now and not stopping:
                    del due[index]
                    spawn(index)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if reserved is not None:
            reserved.close()
        log_event(log, "workers.stop", workers=len(procs))
    return status
