"""Shared fixtures: a real sshchat server on an ephemeral port and scripted SSH clients.

Also gives every test its tier marker from the directory it lives in, so that a new
test cannot forget it: ``tests/unit/`` (no sockets, no subprocess servers),
``tests/integration/`` (the real server in-process, asyncssh clients) and ``tests/e2e/``
(``sshchat serve`` in a subprocess and/or the OpenSSH ``ssh`` binary, external tools).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncssh
import pytest
from helpers.accounts import FAST_HASHER, PASSWORDS, make_config_text
from helpers.client import ChatClient
from helpers.openssh import ServerProcess
from helpers.paths import REPO

from sshchat.app import RunningServer, start_server
from sshchat.config.schema import Config, parse_config

TESTS = Path(__file__).resolve().parent
TIERS = {
    "unit": "fast tests of one module or layer; no server, no network",
    "integration": "the real server in-process on an ephemeral port, driven by asyncssh clients",
    "e2e": "a real `sshchat serve` process, the OpenSSH ssh binary or other external tools",
}
# The lightest tier a test using these fixtures may live in (in-process server: integration;
# `sshchat serve` in a subprocess, driven by OpenSSH: e2e).
FIXTURE_TIERS = {"server": "integration", "clients": "integration", "sshchat_server": "e2e"}


def pytest_configure(config: pytest.Config) -> None:
    for name, description in TIERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with the tier of its directory; refuse tests outside the tiers."""
    misplaced: list[str] = []
    for item in items:
        try:
            tier = item.path.resolve().relative_to(TESTS).parts[0]
        except ValueError:
            continue  # a path outside tests/ given on the command line: not ours to judge
        if tier not in TIERS:
            misplaced.append(
                f"{item.nodeid}: a test must live under tests/unit/<area>/, "
                "tests/integration/ or tests/e2e/ (the directory gives its marker)"
            )
            continue
        order = list(TIERS)
        heavier = [
            (order.index(needs), fixture, needs)
            for fixture, needs in FIXTURE_TIERS.items()
            if fixture in getattr(item, "fixturenames", ())
            and order.index(needs) > order.index(tier)
        ]
        if heavier:
            _, fixture, needs = max(heavier)
            misplaced.append(
                f"{item.nodeid}: uses the fixture {fixture!r}, which belongs in "
                f"tests/{needs}/; move the test there"
            )
            continue
        item.add_marker(getattr(pytest.mark, tier))
    if misplaced:
        raise pytest.UsageError("misplaced tests:\n  " + "\n  ".join(misplaced))


@pytest.fixture(scope="session")
def client_key() -> asyncssh.SSHKey:
    """An ed25519 key that the test config authorizes for ``carol``."""
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture(scope="session")
def password_hashes() -> dict[str, str]:
    return {name: FAST_HASHER.hash(pw) for name, pw in PASSWORDS.items()}


@pytest.fixture
def limits_toml() -> str:
    """The [limits] table of the test config.

    Most tests send lines as fast as a script can, so the message rate limit is
    lifted; tests of the limits override this fixture in their module.
    """
    return "[limits]\nmessage_burst = 100000\nmessage_rate = 100000\n"


@pytest.fixture
def config(
    tmp_path: Path,
    password_hashes: dict[str, str],
    client_key: asyncssh.SSHKey,
    limits_toml: str,
) -> Config:
    path = tmp_path / "config.toml"
    text = make_config_text(password_hashes, client_key, extra=limits_toml)
    path.write_text(text)
    return parse_config(text, path)


@pytest.fixture
async def server(config: Config) -> AsyncIterator[RunningServer]:
    running = await start_server(config)
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture
async def clients(server: RunningServer) -> AsyncIterator[list[ChatClient]]:
    """A list that tests append connected clients to; all are closed at the end."""
    opened: list[ChatClient] = []
    try:
        yield opened
    finally:
        for client in opened:
            await client.close()


@pytest.fixture
def sshchat_server(
    tmp_path: Path, password_hashes: dict[str, str], client_key: asyncssh.SSHKey
) -> Iterator[ServerProcess]:
    """``sshchat serve`` in a subprocess, as an operator runs it; its port is read from its log."""
    config = tmp_path / "config.toml"
    config.write_text(make_config_text(password_hashes, client_key))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sshchat", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    log: list[str] = []
    port = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        log.append(line)
        match = re.search(r"server\.listening address=\S+ port=(\d+)", line)
        if match:
            port = int(match.group(1))
            break
    if not port:
        proc.kill()
        pytest.fail("server did not start:\n" + "".join(log))
    try:
        yield ServerProcess(proc, port, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        rest = proc.stdout.read() if proc.stdout else ""
        assert "Traceback" not in rest, rest
