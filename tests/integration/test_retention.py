"""What the store keeps, for how long, and who may read it: retention and file modes."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import stores
from helpers.sinks import RecordingSink as Sink
from helpers.stores import rows

from sshchat.commands.registry import handle_line
from sshchat.config.schema import ConfigError, parse_config
from sshchat.core.hub import Hub
from sshchat.storage.sqlite import Pruned, Store

ACCOUNTS = [("alice", True), ("bob", False), ("carol", False)]


def attached(path: Path | None) -> tuple[Hub, Store]:
    return stores.attached(path, ACCOUNTS)


DAY = 86400.0
USER = '[users.alice]\npassword_hash = "$argon2id$v=19$m=65536,t=3,p=4$B2uSPdaSaZYVrK8SRFnG+A$7kaNUangfEARYZNOrPLiaIpmqju+mSphI/t8OxvHTW0"\n'  # noqa: E501


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "chat.db"


def age(path: Path, days: float, where: str) -> None:
    """Make the messages matching ``where`` ``days`` days old."""
    conn = sqlite3.connect(path)
    try:
        conn.execute(f"UPDATE messages SET time = ? WHERE {where}", (time.time() - days * DAY,))
        conn.commit()
    finally:
        conn.close()


def fill(path: Path) -> None:
    """Five lobby lines, one in #dev, a private message delivered and one waiting."""
    hub, store = attached(path)
    alice = hub.connect("alice", Sink())
    hub.connect("bob", Sink())
    for i in range(5):
        handle_line(hub, alice, f"lobby line {i}")
    handle_line(hub, alice, "/create dev")
    handle_line(hub, alice, "dev line")
    handle_line(hub, alice, "/msg bob read at once")  # bob is online: delivered
    handle_line(hub, alice, "/msg carol waiting for you")  # carol is offline
    store.close()


def texts(path: Path) -> list[str]:
    return [text for (text,) in rows(path, "SELECT text FROM messages ORDER BY id")]


def test_old_lines_surplus_lines_and_delivered_messages_are_deleted(db: Path) -> None:
    fill(db)
    age(db, 40, "text IN ('lobby line 0', 'lobby line 1', 'waiting for you')")
    store = Store.open(db)
    try:
        pruned = store.prune(days=30, max_lines=2)
    finally:
        store.close()
    assert pruned == Pruned(delivered=1, old=2, surplus=1)
    # The undelivered message stays however old; each channel keeps its newest lines.
    assert texts(db) == ["lobby line 3", "lobby line 4", "dev line", "waiting for you"]
    assert rows(db, "SELECT count(*) FROM pending") == [(1,)]
    hub, store = attached(db)  # and the hub still starts from what is left
    store.close()
    assert [m.text for m in hub.channels["lobby"].history] == ["lobby line 3", "lobby line 4"]
    assert [m.text for m in hub.accounts["carol"].pending] == ["waiting for you"]


def test_zero_keeps_history_but_delivered_messages_still_go(db: Path) -> None:
    fill(db)
    age(db, 4000, "1")
    store = Store.open(db)
    try:
        assert store.prune(days=0, max_lines=0) == Pruned(delivered=1)
    finally:
        store.close()
    assert "read at once" not in texts(db) and len(texts(db)) == 7


def test_prune_runs_beside_the_writer(db: Path) -> None:
    hub, store = attached(db)
    try:
        alice = hub.connect("alice", Sink())
        hub.connect("bob", Sink())
        handle_line(hub, alice, "/msg bob delivered")
        assert store.flush(5)
        # From another thread than the writer's, with a connection of its own.
        assert store.prune(days=30, max_lines=1000).delivered == 1
        handle_line(hub, alice, "still written")
        assert store.flush(5)
    finally:
        store.close()
    assert texts(db) == ["still written"]
    _, memory = attached(None)
    try:
        assert memory.prune(days=1) == Pruned()  # the writer owns the only connection
    finally:
        memory.close()


# -- file modes ----------------------------------------------------------------


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: whatever is private is so by sshchat's doing."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_directory_and_database_files_are_private(db: Path, open_umask, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="sshchat")
    hub, store = attached(db)
    try:
        handle_line(hub, hub.connect("alice", Sink()), "private words")
        assert store.flush(5)
        assert mode(db.parent) == 0o700
        for name in ("chat.db", "chat.db-wal", "chat.db-shm"):
            assert mode(db.parent / name) == 0o600, name
    finally:
        store.close()
    assert not [r for r in caplog.records if getattr(r, "event", "") == "store.permissions"]


def test_readable_files_are_reported_with_the_fix(db: Path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="sshchat")
    db.parent.mkdir(mode=0o755)
    os.chmod(db.parent, 0o755)
    Store.open(db).close()
    os.chmod(db, 0o644)
    Store.open(db).close()
    warned = {
        r.fields["path"]: r.fields
        for r in caplog.records
        if getattr(r, "event", "") == "store.permissions"
    }
    assert warned[str(db.parent)]["fix"] == f"chmod 700 {db.parent}"
    assert warned[str(db)]["fix"] == f"chmod 600 {db}"
    assert warned[str(db)]["mode"] == "0644"


# -- the [storage] settings ------------------------------------------------------


def test_retention_defaults_and_settings(tmp_path: Path) -> None:
    config = parse_config(USER, tmp_path / "chat.toml")
    assert (config.storage.history_days, config.storage.history_max_lines) == (30, 1000)
    kept = parse_config(
        "[storage]\nhistory_days = 0\nhistory_max_lines = 0\n" + USER, tmp_path / "c.toml"
    )
    assert (kept.storage.history_days, kept.storage.history_max_lines) == (0, 0)


@pytest.mark.parametrize(
    ("line", "key", "words"),
    [
        ('history_days = "30"', "storage.history_days", "whole number"),
        ("history_days = -1", "storage.history_days", "out of range"),
        ("history_max_lines = 1.5", "storage.history_max_lines", "whole number"),
    ],
)
def test_retention_mistakes_are_config_errors(
    tmp_path: Path, line: str, key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(f"[storage]\n{line}\n{USER}", tmp_path / "chat.toml")
    assert err.value.key == key and words in str(err.value)


async def test_the_server_applies_retention_when_it_starts(config, caplog) -> None:
    from sshchat.app import start_server

    caplog.set_level(logging.INFO, logger="sshchat")
    path = config.storage.path
    assert path is not None
    fill(path)
    age(path, 31, "text = 'lobby line 0'")  # the default keeps 30 days
    server = await start_server(config, watch_interval=None)
    try:
        assert server.hub.channels["lobby"].history[0].text == "lobby line 1"
    finally:
        await server.close()
    assert "lobby line 0" not in texts(path) and "read at once" not in texts(path)
    [pruned] = [r.fields for r in caplog.records if getattr(r, "event", "") == "store.pruned"]
    assert (pruned["old"], pruned["delivered"]) == (1, 1)


async def test_the_server_deletes_delivered_messages_periodically(config, monkeypatch) -> None:
    import asyncio

    from sshchat import app as server_module

    monkeypatch.setattr(server_module, "RETENTION_INTERVAL", 0.05)
    server = await server_module.start_server(config, watch_interval=None)
    try:
        hub = server.hub
        alice = hub.connect("alice", Sink())
        hub.connect("bob", Sink())
        handle_line(hub, alice, "/msg bob gone soon")
        store = server.state.store
        assert store is not None
        await asyncio.to_thread(store.flush, 5)
        assert store.records >= 1  # the message was written ...
        deadline = asyncio.get_running_loop().time() + 10
        while "gone soon" in texts(config.storage.path):  # ... and is deleted again
            assert asyncio.get_running_loop().time() < deadline, "never deleted"
            await asyncio.sleep(0.05)
    finally:
        await server.close()
