"""``sshchat cluster status``: what every node's lease says, read from Redis.

Each node writes its status into its lease at every renewal (host, pid,
sessions, the last stream entry it applied); this module reads the leases and
the stream's head and works out each node's lag (entries behind the head) and
lease age (seconds since its last renewal). Figures are as of each node's
last renewal (every ``lease_renew`` seconds).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from sshchat.cluster.redislog import ClusterKeys, connect_redis, startup_error

__all__ = ["LAG_CAP", "ClusterStatus", "NodeStatus", "read_status", "status_text"]

LAG_CAP = 10_000  # lag is counted up to this many entries


@dataclass(frozen=True)
class NodeStatus:
    node: str
    prefix: str
    host: str
    pid: int
    sessions: int | None
    applied: str
    lag: int | None  # entries behind the head (None: no lease, so unknown)
    lease_age: float | None  # seconds since the last renewal (None: the lease expired)


@dataclass(frozen=True)
class ClusterStatus:
    redis_url: str
    head: str  # the last entry of the stream
    entries: int  # entries in the stream
    nodes: list[NodeStatus]

    def as_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


async def read_status(
    url: str, *, keys: ClusterKeys | None = None, config: str = ""
) -> ClusterStatus:
    """Read every node's status; a :class:`StartupError`-like message if Redis is unreachable."""
    keys = keys or ClusterKeys()
    redis = connect_redis(url)
    try:
        try:
            await redis.ping()
        except Exception as err:
            raise startup_error(url, err, config or "the config file") from None
        now = time.time()
        last: Any = await redis.xrevrange(keys.stream, count=1)
        head = last[0][0].decode() if last else "0-0"
        entries = int(await redis.xlen(keys.stream))
        listed: Any = await redis.hgetall(keys.nodes)
        nodes: list[NodeStatus] = []
        for raw_prefix, raw_info in sorted(listed.items()):
            prefix = raw_prefix.decode()
            info = _json(raw_info)
            lease = _json(await redis.get(keys.lease(prefix)))
            applied = str(lease.get("applied", "")) if lease else ""
            lag = None
            if lease:
                behind: Any = await redis.xrange(
                    keys.stream, min=f"({applied or '0-0'}", count=LAG_CAP
                )
                lag = len(behind)
            renewed = lease.get("renewed") if lease else None
            nodes.append(
                NodeStatus(
                    node=str(info.get("node", prefix.split("/")[0])),
                    prefix=prefix,
                    host=str((lease or info).get("host", "?")),
                    pid=int((lease or info).get("pid", 0)),
                    sessions=int(lease["sessions"]) if lease and "sessions" in lease else None,
                    applied=applied,
                    lag=lag,
                    lease_age=round(now - float(renewed), 1)
                    if isinstance(renewed, int | float)
                    else None,
                )
            )
        return ClusterStatus(url, head, entries, nodes)
    finally:
        await redis.aclose()


def _json(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def status_text(status: ClusterStatus) -> str:
    """A table for people."""
    lines = [
        f"Redis {status.redis_url}: {status.entries} entries, head {status.head}, "
        f"{len(status.nodes)} node{'s' if len(status.nodes) != 1 else ''}"
    ]
    if not status.nodes:
        lines.append("  (no node is running)")
        return "\n".join(lines)
    header = ("node", "host", "pid", "sessions", "applied", "lag", "lease age")
    rows = [header]
    for n in status.nodes:
        lag = "?" if n.lag is None else (f"{n.lag}+" if n.lag >= LAG_CAP else str(n.lag))
        age = "expired" if n.lease_age is None else f"{n.lease_age:.1f}s"
        sessions = "?" if n.sessions is None else str(n.sessions)
        rows.append((n.node, n.host, str(n.pid), sessions, n.applied or "-", lag, age))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    return "\n".join(lines).rstrip()
