"""Settings that expose more than an operator may realise, found at start-up.

Nothing here refuses to start: each finding is a one-line warning naming the
file or key and the fix, logged by the server when it starts and printed by
``sshchat check-config``.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from pathlib import Path

from sshchat.config.schema import Config

__all__ = ["config_file_warning", "exposure_warnings", "is_loopback", "metrics_warning"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable from this machine only."""
    if host.strip().lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may well resolve to a public address


def metrics_warning(config: Config) -> str | None:
    """A warning when the (unauthenticated) metrics endpoint listens beyond loopback."""
    metrics = config.metrics
    if not metrics.enabled or is_loopback(metrics.listen):
        return None
    everywhere = metrics.listen in ("0.0.0.0", "::", "")
    where = "on every network interface" if everywhere else f"on {metrics.listen}"
    return (
        f"{config.path}: metrics.listen: the metrics endpoint listens {where}, so anyone who "
        f"can reach port {metrics.port} can read it (it has no password). Fix: set "
        'listen = "127.0.0.1" and scrape it through an SSH tunnel or a proxy, or firewall '
        "the port."
    )


def config_file_warning(path: Path) -> str | None:
    """A warning when other users of this machine may read ``path`` (it holds password hashes)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None
    if not mode & 0o077:
        return None
    return (
        f"{path}: other users of this machine can read this file (mode {mode:04o}), and it "
        f"holds the password hashes. Fix: chmod 600 {path}"
    )


def exposure_warnings(config: Config) -> list[str]:
    """Every warning that applies to ``config``."""
    found = [config_file_warning(config.path), metrics_warning(config)]
    return [warning for warning in found if warning is not None]
