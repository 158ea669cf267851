"""A hub with the SQLite store attached, and reading the database behind its back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sshchat.core.hub import Hub
from sshchat.storage.sqlite import Store, restore

__all__ = ["ACCOUNTS", "attached", "reload", "rows"]

ACCOUNTS = [("alice", True), ("bob", False), ("carol", False), ("dave", False)]


def attached(path: Path | None, accounts=ACCOUNTS, **options) -> tuple[Hub, Store]:
    """A hub restored from the database at ``path``, with the store observing it."""
    hub = Hub(accounts, default_channel="lobby")
    store = Store.open(path, **options)
    restore(hub, store.load([hub.default_channel.name]))
    store.attach(hub)
    return hub, store


def reload(path: Path, accounts=ACCOUNTS) -> Hub:
    """A fresh hub given what the database at ``path`` holds."""
    hub, store = attached(path, accounts)
    store.close()
    return hub


def rows(path: Path, sql: str, *args) -> list[tuple]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()
