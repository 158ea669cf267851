"""Membership in the SQLite store: kept across a restart, and an older database upgraded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from helpers.sinks import RecordingSink as Sink
from helpers.stores import ACCOUNTS, attached, rows

from sshchat.commands.registry import handle_line
from sshchat.core.events import History, OnlineNow
from sshchat.core.hub import Client, Hub
from sshchat.storage.sqlite import SCHEMA_VERSION, Store, migrate


def run(hub: Hub, client: Client, *lines: str) -> None:
    for line in lines:
        handle_line(hub, client, line)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "chat.db"


def test_membership_and_the_last_channel_survive_a_restart(db: Path) -> None:
    hub, store = attached(db)
    alice = hub.connect("alice", Sink())
    bob = hub.connect("bob", Sink())
    carol = hub.connect("carol", Sink())
    run(hub, alice, "/create secret private", "/invite bob", "/invite carol", "/create Dev")
    run(hub, bob, "/join secret", "/join dev", "/join secret", "a secret")
    run(hub, carol, "/join secret", "/join dev")
    run(hub, carol, "/leave")  # left #Dev: back home, and lands home
    run(hub, alice, "/join secret", "/kick carol")
    store.close()

    hub, store = attached(db)
    try:
        secret, dev = hub.channels["alice/secret"], hub.channels["dev"]
        assert set(secret.members) == {"alice", "bob"} and not secret.online
        assert set(dev.members) == {"alice", "bob"}
        assert set(hub.default_channel.members) == {"alice", "bob", "carol"}
        assert hub.accounts["bob"].last_channel == "alice/secret"
        assert hub.accounts["carol"].last_channel is None
        assert hub.accounts["dave"].channels == {}  # never logged in

        sink = Sink()
        bob = hub.connect("bob", sink)
        assert bob.current is secret
        assert set(hub.accounts["bob"].channels) == {"lobby", "Dev", "alice/secret"}
        [history] = sink.of(History)
        assert (history.channel, [m.text for m in history.messages]) == (
            "alice/secret",
            ["a secret"],
        )
        [online] = sink.of(OnlineNow)
        assert (online.channel, online.count, online.nicks) == ("alice/secret", 1, ("bob",))
        sink.take()
        handle_line(hub, bob, "/who")
        assert sink.last_info() == "In #alice/secret: bob, alice [owner] [admin] (offline)"
        carol = hub.connect("carol", Sink())
        assert carol.current is hub.default_channel
    finally:
        store.close()


def test_a_removed_account_loses_its_stored_memberships(db: Path) -> None:
    hub, store = attached(db)
    bob = hub.connect("bob", Sink())
    run(hub, bob, "/create dev")
    hub.sync_accounts([("alice", True), ("carol", False)], "gone")
    store.close()
    assert rows(db, "SELECT channel, login FROM members WHERE login = 'bob'") == []
    hub, store = attached(db, [*ACCOUNTS])  # bob is back in the config: he starts afresh
    store.close()
    assert hub.accounts["bob"].channels == {}


def test_the_home_membership_of_a_first_login_is_stored(db: Path) -> None:
    hub, store = attached(db)
    bob = hub.connect("bob", Sink())
    hub.disconnect(bob)
    hub.connect("bob", Sink())
    store.close()
    assert rows(db, "SELECT channel, login FROM members") == [("lobby", "bob")]
    assert rows(db, "SELECT last_channel FROM accounts WHERE login = 'bob'") == [(None,)]


def test_a_version_2_database_is_upgraded_in_place(db: Path) -> None:
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db, isolation_level=None)
    migrate(conn, str(db), target=2)
    conn.execute(
        "INSERT INTO channels (name, owner, private, topic, created)"
        " VALUES ('dev', 'bob', 0, 't', 2)"
    )
    conn.execute("INSERT INTO accounts (login, nick, last_seen) VALUES ('bob', 'bobby', 3)")
    conn.close()

    hub, store = attached(db)
    try:
        assert rows(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)] == [(4,)]
        assert rows(db, "SELECT count(*) FROM members") == [(0,)]
        bob = hub.accounts["bob"]
        assert (bob.nick, bob.last_seen, bob.last_channel, bob.channels) == ("bobby", 3, None, {})
        client = hub.connect("bob", Sink())  # no memberships were stored: home, and joins it
        assert client.current is hub.default_channel
        run(hub, client, "/join dev")
        store.flush()
        assert rows(db, "SELECT channel, login FROM members ORDER BY channel") == [
            ("dev", "bob"),
            ("lobby", "bob"),
        ]
        assert rows(db, "SELECT nick, last_channel FROM accounts") == [("bobby", "dev")]
    finally:
        store.close()


def test_memberships_of_channels_that_are_gone_are_dropped(db: Path) -> None:
    db.parent.mkdir(parents=True)
    store = Store.open(db)
    store.close()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("INSERT INTO members (channel, login, since) VALUES ('nowhere', 'bob', 1)")
    conn.execute("INSERT INTO members (channel, login, since) VALUES ('LOBBY', 'bob', 2)")
    conn.execute("INSERT INTO members (channel, login, since) VALUES ('lobby', 'mallory', 2)")
    conn.execute(
        "INSERT INTO accounts (login, nick, last_channel) VALUES ('bob', 'bob', 'nowhere')"
    )
    conn.close()
    hub, store = attached(db)
    store.close()
    bob = hub.accounts["bob"]
    assert set(bob.channels) == {"lobby"} and bob.last_channel is None
    assert set(hub.default_channel.members) == {"bob"}
