"""Live config reload: a running server picks up added, removed and changed users.

Reloads are triggered three ways: directly (``watcher.reload()``), by the file
watcher noticing the change, and by SIGHUP to a server run with ``serve()``.
The last part checks :meth:`Hub.sync_accounts` on its own, without SSH.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest
from helpers.accounts import FAST_HASHER, PASSWORDS
from helpers.client import connect
from helpers.options import changed, edit_config
from helpers.sinks import RecordingSink as Sink
from helpers.waits import until

from sshchat.app import ACCOUNT_REMOVED, RunningServer, serve, start_server
from sshchat.cli import main as cli
from sshchat.config import edit as accounts
from sshchat.config.schema import OPTIONS, Config
from sshchat.config.watch import ConfigWatcher
from sshchat.core.events import Notice, Presence, PresenceKind
from sshchat.core.facts import AccountRemoved
from sshchat.core.hub import Hub


@pytest.fixture
async def running(config: Config) -> AsyncIterator[RunningServer]:
    """A server that reloads only when a test asks (no file polling)."""
    server = await start_server(config, watch_interval=None)
    try:
        yield server
    finally:
        await server.close()


def watcher(server: RunningServer) -> ConfigWatcher:
    assert server.watcher is not None
    return server.watcher


def add_erin(path: Path) -> None:
    hashed = FAST_HASHER.hash("erin-pw")
    edit_config(path, lambda text, p: accounts.add_user(text, p, "erin", password_hash=hashed))


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict]:
    return [r.fields for r in caplog.records if getattr(r, "event", None) == name]


async def refused(server: RunningServer, user: str, password: str) -> bool:
    try:
        client = await connect(server, user, password=password)
    except asyncssh.PermissionDenied:
        return True
    await client.close()
    return False


# ---------------------------------------------------------------------------
# Against a running server
# ---------------------------------------------------------------------------


async def test_added_user_can_log_in_after_reload(running: RunningServer, caplog) -> None:
    caplog.set_level(logging.INFO, logger="sshchat")
    assert await refused(running, "erin", "erin-pw")
    add_erin(running.state.config.path)
    result = await watcher(running).reload()
    assert result is not None
    assert (result.added, result.removed, result.changed) == (("erin",), (), ())
    erin = await connect(running, "erin", password="erin-pw")
    try:
        erin.send("/whois erin")
        await erin.expect("erin")
    finally:
        await erin.close()
    [logged] = events(caplog, "config.reloaded")
    assert (logged["added"], logged["removed"], logged["changed"]) == (1, 0, 0)
    assert logged["trigger"] == "manual"


async def test_file_change_is_noticed_by_the_watcher(config: Config, monkeypatch, caplog) -> None:
    caplog.set_level(logging.INFO, logger="sshchat")
    server = await start_server(config, watch_interval=0.05)
    try:
        # The operator's way: `sshchat user add` edits the file, nobody signals.
        stdin = io.StringIO("erin-pw\n")
        monkeypatch.setattr(sys, "stdin", stdin)
        assert cli.main(["user", "add", "erin", "--config", str(config.path)]) == 0
        await until(lambda: watcher(server).reloads >= 1, 10.0, what="a reload")
        assert watcher(server).last_result.trigger == "file"
        assert watcher(server).last_result.added == ("erin",)
        erin = await connect(server, "erin", password="erin-pw")
        await erin.close()
        assert events(caplog, "config.reloaded")[-1]["trigger"] == "file"
    finally:
        await server.close()


async def test_sighup_reloads_a_server_run_by_serve(config: Config) -> None:
    started: asyncio.Future[RunningServer] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(config, watch_interval=None, on_start=started.set_result))
    server = await asyncio.wait_for(started, 10)
    try:
        # serve() installed its handler in this process: the signal cannot kill pytest.
        assert signal.getsignal(signal.SIGHUP) not in (signal.SIG_DFL, signal.SIG_IGN, None)
        add_erin(config.path)
        os.kill(os.getpid(), signal.SIGHUP)
        await until(lambda: watcher(server).reloads >= 1, 10.0, what="a reload")
        assert watcher(server).last_result.trigger == "signal"
        erin = await connect(server, "erin", password="erin-pw")
        await erin.close()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL  # handler removed again


async def test_removed_user_sessions_end_and_logins_are_refused(
    running: RunningServer, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="sshchat")
    alice = await connect(running, "alice")
    bob = await connect(running, "bob")
    bob_plain = await connect(running, "bob", pty=False)
    try:
        running.removed_grace = 0.2
        edit_config(running.state.config.path, lambda t, p: accounts.remove_user(t, p, "bob"))
        result = await watcher(running).reload()
        assert result is not None and result.removed == ("bob",)
        for session in (bob, bob_plain):
            await session.expect("Your account was removed from the server")
            await asyncio.wait_for(session.process.wait_closed(), 5)
            await asyncio.wait_for(session.conn.wait_closed(), 5)
            assert "Traceback" not in session.text
        await alice.expect("bob.*(disconnected|left|offline)")
        assert "bob" not in running.hub.accounts
        assert await refused(running, "bob", PASSWORDS["bob"])
        assert events(caplog, "config.reloaded")[-1]["removed_users"] == "bob"
        # Everyone else carries on.
        alice.send("still here")
        await alice.expect("still here")
    finally:
        for client in (alice, bob, bob_plain):
            await client.close()


async def test_changed_password_applies_to_new_logins(running: RunningServer) -> None:
    alice = await connect(running, "alice")
    bob = await connect(running, "bob")
    try:
        watcher(running).removed_grace = 0.2
        hashed = FAST_HASHER.hash("alice-new-pw")
        edit_config(
            running.state.config.path, lambda t, p: accounts.set_password(t, p, "alice", hashed)
        )
        result = await watcher(running).reload()
        assert result is not None and result.changed == ("alice",)
        assert await refused(running, "alice", PASSWORDS["alice"])
        second = await connect(running, "alice", password="alice-new-pw")
        await second.close()
        # The session opened with the old password ends (tests/test_security.py has more).
        await alice.expect("Your password was changed")
        await asyncio.wait_for(alice.conn.wait_closed(), 5)
        # Everyone else carries on.
        bob.send("bob still here")
        await bob.expect("bob still here")
    finally:
        await alice.close()
        await bob.close()


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda text: text.replace("[server]", "[server"), "invalid TOML"),
        (lambda text: text.replace('name = "testchat"', "name = 5"), "server.name"),
        (lambda text: text + '\n[users.mallory]\npassword_hash = "hunter2"\n', "users.mallory"),
    ],
)
async def test_broken_config_is_rejected_and_old_users_still_log_in(
    running: RunningServer, caplog, damage, expected: str
) -> None:
    caplog.set_level(logging.INFO, logger="sshchat")
    path = running.state.config.path
    before = running.state.config
    path.write_text(damage(path.read_text()))
    assert await watcher(running).reload() is None
    [logged] = events(caplog, "config.rejected")
    assert expected in logged["error"] and "Fix:" in logged["error"]
    assert str(path) in logged["error"]
    assert watcher(running).rejections == 1 and watcher(running).reloads == 0
    assert running.state.config is before
    for user in ("alice", "bob"):
        client = await connect(running, user)
        await client.close()
    assert await refused(running, "mallory", "hunter2")


async def test_settings_apply_live_or_are_logged_as_needing_a_restart(
    running: RunningServer, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="sshchat")
    path = running.state.config.path
    text = path.read_text()
    text = text.replace("Be excellent to each other.", "New rules today.")
    text = text.replace("port = 0", "port = 2999").replace('listen = "127.0.0.1"', 'listen = "::1"')
    text = text.replace("message_burst = 100000", "message_burst = 7")
    path.write_text(text)
    result = await watcher(running).reload()
    assert result is not None
    assert "server.motd" in result.settings and "limits.message_burst" in result.settings
    assert result.restart == ("server.listen", "server.port")
    [restart] = events(caplog, "config.restart_needed")
    assert restart["settings"] == "server.listen,server.port"
    # Still listening where it was; the new motd greets new sessions.
    config = running.state.config
    assert (config.listen_host, config.listen_port) == ("127.0.0.1", 0)
    assert running.hub.message_burst == 7
    alice = await connect(running, "alice")
    try:
        assert "New rules today." in alice.text
    finally:
        await alice.close()


async def test_new_home_channel(running: RunningServer) -> None:
    alice = await connect(running, "alice")
    try:
        path = running.state.config.path
        path.write_text(
            path.read_text().replace('default_channel = "lobby"', 'default_channel = "hall"')
        )
        result = await watcher(running).reload()
        assert result is not None and result.settings == ("server.default_channel",)
        await alice.expect("#hall is now the home channel")
        bob = await connect(running, "bob", wait_prompt=False)
        try:
            await bob.expect("You are in #hall")
        finally:
            await bob.close()
    finally:
        await alice.close()


async def test_close_stops_the_watcher(config: Config) -> None:
    server = await start_server(config, watch_interval=0.05)
    await server.close()
    add_erin(config.path)
    await asyncio.sleep(0.3)
    assert watcher(server).reloads == 0
    assert await watcher(server).reload() is None  # closed: nothing is applied


# ---------------------------------------------------------------------------
# Hub.sync_accounts, without SSH
# ---------------------------------------------------------------------------


def test_sync_adds_updates_and_removes_accounts() -> None:
    hub = Hub([("alice", True), ("bob", False), ("carol", False)], message_rate=1.0)
    records: list = []
    hub.observers.append(records.append)
    alice, bob, carol = Sink(), Sink(), Sink()
    a = hub.connect("alice", alice)
    hub.connect("bob", bob)
    c = hub.connect("carol", carol)
    hub.create_channel(c, "den", private=True)
    hub.set_op(c, "bob", op=True)
    hub.invite(c, "bob")
    hub.ignore(a, "bob")

    sync = hub.sync_accounts([("alice", True), ("carol", True), ("dave", False)], ACCOUNT_REMOVED)

    assert (sync.added, sync.removed, sync.admin_changed) == (("dave",), ("bob",), ("carol",))
    assert bob.closed == [ACCOUNT_REMOVED]
    assert set(hub.accounts) == {"alice", "carol", "dave"}
    assert hub.accounts["dave"].bucket is not None  # the rate limit covers new accounts
    assert hub.accounts["carol"].admin
    assert any(isinstance(e, Notice) and "now an administrator" in e.text for e in carol.events)
    den = hub.channels["carol/den"]
    assert "bob" not in den.ops | den.invited | set(den.members)
    assert "bob" not in hub.accounts["alice"].ignored
    assert "bob" not in hub.default_channel.members
    assert any(  # (alice ignored bob, so carol is the one who sees him go)
        isinstance(e, Presence) and e.kind is PresenceKind.DISCONNECT and e.login == "bob"
        for e in carol.events
    )
    [removed] = [r for r in records if isinstance(r, AccountRemoved)]
    assert (removed.login, removed.reason) == ("bob", ACCOUNT_REMOVED)


def test_sync_frees_a_nick_that_looks_like_a_new_login() -> None:
    hub = Hub([("alice", False), ("bob", False)])
    bob = Sink()
    client = hub.connect("bob", bob)
    hub.set_nick(client, "dave")
    hub.sync_accounts([("alice", False), ("bob", False), ("dave", False)], ACCOUNT_REMOVED)
    assert hub.accounts["bob"].nick == "bob"
    assert hub.find_account("dave") is hub.accounts["dave"]


def test_a_readded_account_starts_afresh() -> None:
    hub = Hub([("alice", True), ("bob", False)])
    a = hub.connect("alice", Sink())
    hub.ban(a, "bob", None, "spam")
    hub.sync_accounts([("alice", True)], ACCOUNT_REMOVED)
    hub.sync_accounts([("alice", True), ("bob", False)], ACCOUNT_REMOVED)
    assert hub.ban_refusal("bob") is None
    assert hub.accounts["bob"].admin is False


async def test_every_live_option_is_applied(running: RunningServer) -> None:
    """What is declared live (config.schema.option) is what apply_config puts in force."""
    state = running.state
    gate, hub = state.gate, running.hub
    where = {
        "server.name": lambda: state.settings.welcome,
        "server.motd": lambda: state.settings.welcome,
        "server.default_channel": lambda: hub.default_channel.name,
        "limits.max_line_length": lambda: (hub.max_text, state.settings.max_line),
        "limits.outbound_queue": lambda: state.settings.queue_limit,
        "limits.message_burst": lambda: hub.message_burst,
        "limits.message_rate": lambda: hub.message_rate,
        "limits.max_auth_attempts": lambda: state.config.limits.max_auth_attempts,
        "limits.max_unauthenticated": lambda: gate.max_unauthenticated,
        "limits.max_handshakes": lambda: gate.max_handshakes,
        "limits.max_connections": lambda: gate.max_connections,
        "limits.max_connections_per_source": lambda: gate.max_per_source,
        "limits.max_sessions_per_account": lambda: state.settings.max_sessions,
        "limits.auth_free_failures": lambda: gate.throttle.free_failures,
        "limits.auth_max_delay": lambda: gate.throttle.max_delay,
        "limits.auth_block_after": lambda: gate.throttle.block_after,
        "limits.auth_block_seconds": lambda: gate.throttle.block_seconds,
        "limits.presence_summary_over": lambda: hub.presence_summary_over,
        "limits.max_channels_per_user": lambda: hub.max_channels_per_user,
        "limits.command_burst": lambda: hub.state.settings.command_burst,
        "limits.command_rate": lambda: hub.state.settings.command_rate,
        "limits.max_paste_lines": lambda: hub.max_paste_lines,
    }
    assert set(where) == {key for key, o in OPTIONS.items() if o.live}
    for key, seen in where.items():
        before = seen()
        result = running.apply_config(changed(state.config, key), "manual")
        assert result.settings == (key,)
        assert seen() != before, f"{key} was reported as applied but nothing changed"
