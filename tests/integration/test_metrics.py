"""The optional Prometheus endpoint: off by default, on loopback when enabled."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import asyncssh
import pytest
from helpers.accounts import FAST_HASHER
from helpers.client import connect

from sshchat.config.schema import ConfigError, parse_config


@pytest.fixture
def limits_toml() -> str:
    return (
        "[limits]\nmessage_burst = 100000\nmessage_rate = 100000\n"
        '[metrics]\nenabled = true\nlisten = "127.0.0.1"\nport = 0\n'
    )


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


async def test_metrics_endpoint_counts_sessions_messages_and_failures(server, clients) -> None:
    assert server.metrics is not None
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect(
            "127.0.0.1", server.port, username="bob", password="nope", known_hosts=None
        )
    alice = await connect(server, "alice")
    bob = await connect(server, "bob")
    clients += [alice, bob]
    alice.send("hello metrics")
    await bob.expect("hello metrics")
    text = await asyncio.to_thread(_scrape, server.metrics.port)
    assert "sshchat_sessions 2.0" in text
    assert "sshchat_online_users 2.0" in text
    assert 'sshchat_auth_failures_total{reason="password"} 1.0' in text
    assert "sshchat_messages_total 1.0" in text
    assert "sshchat_deliveries_total" in text


def test_metrics_off_by_default() -> None:
    text = f'[users.alice]\npassword_hash = "{FAST_HASHER.hash("pw")}"\n'
    config = parse_config(text, Path("c.toml"))
    assert config.metrics.enabled is False
    assert config.metrics.listen == "127.0.0.1"


def test_metrics_enabled_must_be_boolean() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config('[metrics]\nenabled = "yes"\n[users.a]\npublic_keys = []\n', Path("c.toml"))
    assert "metrics.enabled" in str(err.value)
