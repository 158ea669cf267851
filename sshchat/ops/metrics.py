"""Optional Prometheus endpoint (``[metrics] enabled = true``), off by default.

The counters live in :class:`~sshchat.core.stats.Stats` and the server's own
bookkeeping; this module only reads them when Prometheus scrapes, so it costs
nothing on the hot path. It needs the ``prometheus-client`` package
(``pip install 'sshchat[metrics]'``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sshchat.core.stats import Stats

__all__ = ["Gauges", "MetricsEndpoint", "start_metrics"]


@dataclass(frozen=True)
class Gauges:
    """Callables returning the current value of each live gauge."""

    sessions: Callable[[], int]
    connections: Callable[[], int]
    unauthenticated: Callable[[], int]
    online_users: Callable[[], int]


class _Collector:
    def __init__(self, stats: Stats, gauges: Gauges) -> None:
        self._stats = stats
        self._gauges = gauges

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        stats, gauges = self._stats, self._gauges
        for name, doc, value in (
            ("sshchat_sessions", "Chat sessions open", gauges.sessions()),
            ("sshchat_connections", "SSH connections open", gauges.connections()),
            ("sshchat_unauthenticated", "Connections still logging in", gauges.unauthenticated()),
            ("sshchat_online_users", "Accounts with at least one session", gauges.online_users()),
        ):
            yield GaugeMetricFamily(name, doc, value=value)
        for name, doc, value in (
            (
                "sshchat_messages",
                "Messages sent (channel, action, private, broadcast)",
                stats.messages,
            ),
            ("sshchat_deliveries", "Events handed to session queues", stats.deliveries),
            ("sshchat_queue_drops", "Events dropped from full session queues", stats.queue_drops),
            (
                "sshchat_rate_limited_lines",
                "Lines refused by the rate limit",
                stats.lines_rate_limited,
            ),
            ("sshchat_throttled_auth", "Password checks delayed by penalties", stats.throttled),
        ):
            yield CounterMetricFamily(name, doc, value=value)
        failures = CounterMetricFamily(
            "sshchat_auth_failures", "Failed authentication attempts", labels=["reason"]
        )
        for reason, count in sorted(stats.auth_failures.items()):
            failures.add_metric([reason], count)
        yield failures
        refused = CounterMetricFamily(
            "sshchat_connections_refused", "Connections refused at admission", labels=["reason"]
        )
        for reason, count in sorted(stats.connections_refused.items()):
            refused.add_metric([reason], count)
        yield refused


class MetricsEndpoint:
    """A running metrics HTTP server."""

    def __init__(self, server: Any, thread: Any) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def start_metrics(host: str, port: int, stats: Stats, gauges: Gauges) -> MetricsEndpoint:
    """Serve ``/metrics`` on ``host:port`` in a background thread.

    Raises ImportError when prometheus-client is not installed.
    """
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(stats, gauges))
    server, thread = start_http_server(port, addr=host, registry=registry)
    return MetricsEndpoint(server, thread)
