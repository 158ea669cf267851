"""Persistence end to end: state survives a restart of the real server, and a crash.

Each test runs two server lifetimes on the same config file and database.
The crash test runs ``python -m sshchat serve`` in a subprocess and kills it
with SIGKILL once the message is on disk.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest
from helpers.accounts import make_config_text
from helpers.client import ChatClient, connect
from helpers.paths import REPO
from helpers.serve import start_serve

from sshchat.app import RunningServer, StartupError, start_server
from sshchat.config.schema import Config
from sshchat.core.hub import FOREVER
from sshchat.core.prefs import Prefs

STORAGE = '[storage]\npath = "data/chat.db"\ncommit_interval = 0.05\n'


@pytest.fixture
def limits_toml() -> str:
    """The conftest config, plus a [storage] table."""
    return "[limits]\nmessage_burst = 100000\nmessage_rate = 100000\n\n" + STORAGE


@asynccontextmanager
async def lifetime(config: Config) -> AsyncIterator[Session]:
    """One run of the server; its clients are closed and the server stopped at the end."""
    running = await start_server(config)
    session = Session(running)
    try:
        yield session
    finally:
        for client in session.clients:
            await client.close()
        await running.close()


@dataclass
class Session:
    server: RunningServer
    clients: list[ChatClient]

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.clients = []

    async def login(self, user: str, **options: object) -> ChatClient:
        client = await connect(self.server, user, **options)  # type: ignore[arg-type]
        self.clients.append(client)
        return client

    async def logout(self, client: ChatClient) -> None:
        account = self.server.hub.accounts[client.conn.get_extra_info("username")]
        await client.close()
        self.clients.remove(client)
        for _ in range(200):  # the session ends on the server a moment later
            if not account.online:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{account.login} is still online")


async def test_history_and_channels_survive_a_restart(config: Config) -> None:
    async with lifetime(config) as first:
        alice = await first.login("alice")
        bob = await first.login("bob")
        alice.send("first words in the lobby")
        await bob.expect("first words in the lobby")
        alice.send("/create secret private")
        await alice.expect(r"Created private channel #alice/secret")
        alice.send("/topic plans for the party")
        await alice.expect("plans for the party")
        alice.send("/invite carol")
        await alice.expect("Invited carol")
        alice.send("the cake is in the fridge")
        await alice.expect(r"<alice> the cake is in the fridge")

    async with lifetime(config) as second:
        alice = await second.login("alice", channel="alice/secret")  # where she talked last
        assert "the cake is in the fridge" in alice.text  # its history, shown on landing
        assert "first words in the lobby" not in alice.text  # only the current channel's
        alice.send("/list")
        await alice.expect(
            r"#lobby  1/2 members\n  #alice/secret \(private\) \*  1/1 member  plans"
        )
        alice.send("/join lobby")  # still a member: a switch, with the history not seen yet
        await alice.expect(r"first words in the lobby(?s:.)*Now talking in #lobby")
        alice.send("/history 5")
        await alice.expect(r"history: the last line of #lobby(?s:.)*first words in the lobby")
        alice.send("/list")
        await alice.expect(r"#alice/secret \(private\)  1/1 member  plans for the party")

        carol = await second.login("carol")  # invited before the restart
        carol.send("/join secret")
        await carol.expect(
            r"the cake is in the fridge(?s:.)*Now talking in #alice/secret\. Topic: plans"
        )

        bob = await second.login("bob", pty=False)  # not invited: the channel stays hidden
        bob.send("/join secret")
        await bob.expect("there is no channel #secret")
        bob.send("/list")
        await bob.expect(r"Channels \(1\), biggest first:\n  #lobby")
        await bob.absent("secret", wait=0.1)

        alice.send("/join secret")
        await alice.expect(r"Now talking in #alice/secret")
        alice.send("/who")
        await alice.expect(r"alice \[owner\] \[admin\]")


async def test_bans_and_mutes_survive_a_restart(config: Config) -> None:
    async with lifetime(config) as first:
        alice = await first.login("alice")
        alice.send("/ban bob spamming")
        await alice.expect("Banned bob")
        alice.send("/mute carol 1h")
        await alice.expect("Muted carol")
        alice.send("/ban dave 1s")
        await alice.expect("Banned dave")

    async with lifetime(config) as second:
        with pytest.raises(asyncssh.PermissionDenied):
            await connect(second.server, "bob")
        assert second.server.hub.accounts["bob"].banned_until == FOREVER
        assert second.server.hub.accounts["bob"].ban_reason == "spamming"
        await asyncio.sleep(1.0)  # dave's ban has run out meanwhile
        await second.login("dave")
        carol = await second.login("carol")
        carol.send("anyone there?")
        await carol.expect("you are muted for another")


async def test_nick_prefs_last_seen_and_offline_messages_survive(config: Config) -> None:
    async with lifetime(config) as first:
        bob = await first.login("bob")
        for line in ("/nick bobby", "/quiet on", "/bell off", "/timestamps off", "/color off"):
            bob.send(line)
        await bob.expect("Colour off")
        bob.send("/ignore carol")
        await bob.expect(r"Ignoring carol")
        await bob.expect_screen(r"^#lobby bobby>")
        await first.logout(bob)
        alice = await first.login("alice")
        alice.send("/msg bobby while you were out")
        await alice.expect("is offline and will see it at their next login")

    async with lifetime(config) as second:
        alice = await second.login("alice")
        alice.send("/users")
        await alice.expect(r"bobby \(bob\): offline, last seen just now")
        await alice.expect(r"carol: offline, never seen")

        bob = await second.login("bob", wait_prompt=False)
        await bob.expect(r"\n\[PM from alice\] while you were out")  # no time: prefs kept
        await bob.expect_screen(r"^#lobby bobby>")
        account = second.server.hub.accounts["bob"]
        assert account.prefs == Prefs(quiet=True, bell="off", timestamps=False, color=False)
        assert account.ignored == {"carol"}
        await second.logout(bob)

    async with lifetime(config) as third:  # delivered once, not again
        assert not third.server.hub.accounts["bob"].pending


async def test_an_unusable_database_stops_start_up(config: Config, tmp_path: Path) -> None:
    db = tmp_path / "data" / "chat.db"
    db.parent.mkdir()
    db.write_bytes(b"\x00garbage, not SQLite" * 100)
    with pytest.raises(StartupError) as err:
        await start_server(config)
    assert str(err.value).startswith(f"{db}: cannot use the database")
    assert "Fix: move the file away" in str(err.value)

    result = subprocess.run(
        [sys.executable, "-m", "sshchat", "serve", "--config", str(config.path)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 2
    assert f"sshchat: {db}: cannot use the database" in result.stderr
    assert "Traceback" not in result.stderr


# -- a crash -----------------------------------------------------------------


@dataclass
class Address:
    port: int


def serve(config: Path, log: Path) -> tuple[subprocess.Popen[bytes], Address]:
    """``sshchat serve`` in a subprocess, its output in ``log``; waits until it listens."""
    proc, port = start_serve(config, log, timeout=20)
    return proc, Address(port)


async def wait_for_row(db: Path, text: str, timeout: float = 10.0) -> None:
    """Poll the database read-only until the message ``text`` is committed."""
    deadline = time.monotonic() + timeout
    while True:
        if db.exists():
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
            try:
                found = conn.execute("SELECT 1 FROM messages WHERE text = ?", (text,)).fetchone()
            except sqlite3.OperationalError:  # tables not created yet
                found = None
            finally:
                conn.close()
            if found:
                return
        assert time.monotonic() < deadline, f"{text!r} never reached {db}"
        await asyncio.sleep(0.02)


async def test_a_sent_message_survives_kill_9(
    tmp_path: Path, password_hashes: dict[str, str], limits_toml: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(make_config_text(password_hashes, None, extra=limits_toml))
    db = tmp_path / "data" / "chat.db"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        proc, address = serve(config, tmp_path / "first.log")
        procs.append(proc)
        alice = await connect(address, "alice", pty=False)  # type: ignore[arg-type]
        alice.send("this line outlives a crash")
        await alice.expect(r"<alice> this line outlives a crash")  # acknowledged to the room
        await wait_for_row(db, "this line outlives a crash")
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
        await alice.close()

        proc, address = serve(config, tmp_path / "second.log")
        procs.append(proc)
        alice = await connect(address, "alice", pty=False)  # type: ignore[arg-type]
        shown = r"history: the last line of #lobby ---\n.*<alice> this line outlives a crash"
        await alice.expect(shown)  # on joining
        alice.send("/history 10")
        await alice.expect(shown)
        await alice.close()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    for log in ("first.log", "second.log"):
        assert "Traceback" not in (tmp_path / log).read_text(errors="replace")
