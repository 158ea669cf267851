"""The SQLite store without SSH: round trips, migrations, batching, errors, restore.

A hub is driven with :func:`handle_line` like a front end would; the store
observes it, is closed, and a fresh hub is built from what was written.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from helpers.sinks import RecordingSink as Sink
from helpers.stores import ACCOUNTS, attached, reload, rows

from sshchat.commands.registry import handle_line
from sshchat.config.schema import ConfigError, parse_config
from sshchat.core import facts
from sshchat.core.events import History
from sshchat.core.hub import FOREVER, Client, Hub
from sshchat.core.model import MAX_PENDING
from sshchat.core.prefs import Prefs
from sshchat.storage.sqlite import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Store,
    StoreError,
    migrate,
    restore,
)


def run(hub: Hub, client: Client, *lines: str) -> None:
    for line in lines:
        handle_line(hub, client, line)


def said(text: str) -> facts.MessageSaid:
    return facts.MessageSaid(text, time.time(), "lobby", "alice", "alice", text, False)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "chat.db"


# -- round trips -------------------------------------------------------------


def test_every_record_kind_survives_a_restart(db: Path) -> None:
    hub, store = attached(db)
    alice = hub.connect("alice", Sink())
    bob = hub.connect("bob", Sink())
    before = time.time()
    run(hub, alice, "hello lobby", "/me waves")
    run(hub, alice, "/create dev private", "/topic dev talk", "/invite carol", "/op bob")
    run(hub, alice, "in dev", "/msg bob online pm", "/msg carol see you later")
    run(hub, alice, "/broadcast maintenance at noon", "/ban dave 1h spam")
    run(hub, bob, "/nick bobby", "/ignore alice", "/quiet on", "/bell off")
    run(hub, bob, "/timestamps off", "/color off")
    run(hub, alice, "/mute bob")  # a muted user may not change nick: muted last
    hub.disconnect(bob)
    store.close()

    again = reload(db)
    lobby = again.channels["lobby"]
    assert [(m.sender, m.text, m.action) for m in lobby.history] == [
        ("alice", "hello lobby", False),
        ("alice", "waves", True),
    ]
    assert lobby.history[0].time >= before
    dev = again.channels["alice/dev"]  # a private channel is named after its owner
    assert (dev.owner, dev.private, dev.topic) == ("alice", True, "dev talk")
    assert dev.invited == {"carol"} and dev.ops == {"bob"}
    assert [m.text for m in dev.history] == ["in dev"]
    assert dev.created == hub.channels["alice/dev"].created

    carol = again.accounts["carol"]
    assert [(p.sender, p.recipient, p.text) for p in carol.pending] == [
        ("alice", "carol", "see you later")
    ]
    bob_again = again.accounts["bob"]
    assert bob_again.nick == "bobby"
    assert bob_again.ignored == {"alice"}
    assert bob_again.prefs == Prefs(quiet=True, bell="off", timestamps=False, color=False)
    assert bob_again.muted_until == FOREVER
    assert bob_again.last_seen == hub.accounts["bob"].last_seen is not None
    assert not bob_again.pending  # the PM reached bob while he was online
    dave = again.accounts["dave"]
    assert dave.banned_until == pytest.approx(time.time() + 3600, abs=60)
    assert dave.ban_reason == "spam"
    assert again.ban_refusal("dave") is not None

    kinds = rows(db, "SELECT kind, channel, sender, recipient, text FROM messages ORDER BY id")
    assert ("pm", None, "alice", "bob", "online pm") in kinds
    assert ("broadcast", None, "alice", None, "maintenance at noon") in kinds
    actions = rows(db, "SELECT actor, action, target, reason, forever FROM moderation")
    assert ("alice", "ban", "dave", "spam", 0) in actions
    assert ("alice", "mute", "bob", "", 1) in actions
    assert ("alice", "topic", "alice/dev", "dev talk", 0) in actions
    assert ("alice", "op", "bob", "", 0) in actions


def test_a_permanent_ban_and_an_unban_survive(db: Path) -> None:
    hub, store = attached(db)
    alice = hub.connect("alice", Sink())
    run(hub, alice, "/ban bob", "/ban carol 1d", "/unban carol")
    store.close()
    again = reload(db)
    assert again.accounts["bob"].banned_until == FOREVER
    assert again.ban_refusal("bob").until == FOREVER
    assert again.ban_refusal("carol") is None


def test_pending_messages_are_forgotten_once_delivered(db: Path) -> None:
    hub, store = attached(db)
    alice = hub.connect("alice", Sink())
    for i in range(MAX_PENDING + 5):
        run(hub, alice, f"/msg carol note {i}")
    store.close()

    hub, store = attached(db)
    pending = list(hub.accounts["carol"].pending)
    assert len(pending) == MAX_PENDING
    assert pending[-1].text == f"note {MAX_PENDING - 1}"  # later ones were refused
    sink = Sink()
    hub.connect("carol", sink)
    shown = [e for e in sink.events if isinstance(e, History) and e.channel is None]
    assert len(shown[0].messages) == MAX_PENDING
    store.close()
    assert not reload(db).accounts["carol"].pending


def test_facts_observed_before_attach_are_written_in_order(db: Path) -> None:
    hub = Hub(ACCOUNTS)
    store = Store.open(db)
    store.observe(facts.ChannelCreated("1", 100.0, "dev", "alice", False))
    store.observe(facts.TopicSet("2", 101.0, "alice", "dev", "first"))
    store.observe(facts.OpSet("3", 102.0, "alice", "dev", "bob", True))
    store.observe(facts.OpSet("4", 103.0, "alice", "dev", "bob", False))
    store.attach(hub)
    store.close()
    dev = reload(db).channels["dev"]
    assert (dev.owner, dev.topic, dev.ops, dev.created) == ("alice", "first", set(), 100.0)


def test_in_memory_store(tmp_path: Path) -> None:
    hub, store = attached(None)
    alice = hub.connect("alice", Sink())
    run(hub, alice, "said to nobody on disk")
    assert store.flush(5)
    store.close()
    assert list(tmp_path.iterdir()) == []


# -- writing: batching, bound, close -----------------------------------------


def test_a_record_is_committed_without_waiting_for_close(db: Path) -> None:
    hub, store = attached(db, commit_interval=0.05)
    try:
        alice = hub.connect("alice", Sink())
        run(hub, alice, "on disk soon")
        deadline = time.monotonic() + 5
        while not rows(db, "SELECT 1 FROM messages WHERE text = 'on disk soon'"):
            assert time.monotonic() < deadline, "never committed"
            time.sleep(0.01)
    finally:
        store.close()


def test_records_are_batched_into_few_commits(db: Path) -> None:
    _, store = attached(db, commit_interval=0.1)
    try:
        start = time.monotonic()
        sent = 0
        while time.monotonic() - start < 0.5:  # a steady stream for half a second
            store.observe(said(f"line {sent}"))
            sent += 1
            time.sleep(0.002)
        assert store.flush(5)
        assert store.records == sent
        # One commit per interval (plus the first and the flush), not one per line.
        assert 2 <= store.commits <= 12, store.commits
    finally:
        store.close()
    assert rows(db, "SELECT count(*) FROM messages") == [(sent,)]


def test_close_writes_everything_queued(db: Path) -> None:
    _, store = attached(db, commit_interval=10)  # nothing would be due for 10 s
    for i in range(200):
        store.observe(said(f"line {i}"))
    started = time.monotonic()
    store.close()
    assert time.monotonic() - started < 5
    assert rows(db, "SELECT count(*) FROM messages") == [(200,)]
    store.observe(said("after close"))  # ignored, no error
    store.close()  # twice is fine


# -- schema and errors -------------------------------------------------------


def test_a_version_1_database_is_upgraded(db: Path) -> None:
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db, isolation_level=None)
    migrate(conn, str(db), target=1)
    assert conn.execute("PRAGMA user_version").fetchone() == (1,)
    conn.execute(
        "INSERT INTO messages (time, kind, channel, sender, sender_nick, text)"
        " VALUES (1.5, 'chat', 'Lobby', 'bob', 'bobby', 'from version 1')"
    )
    conn.execute(
        "INSERT INTO channels (name, owner, private, topic, created, ops, invited)"
        " VALUES ('dev', 'bob', 1, 'old topic', 2.0, '[\"alice\"]', '[\"carol\"]')"
    )
    conn.execute(
        "INSERT INTO accounts (login, nick, last_seen, banned_forever)"
        " VALUES ('bob', 'bobby', 3, 1)"
    )
    conn.close()

    hub, store = attached(db)
    store.close()
    assert rows(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert SCHEMA_VERSION == len(MIGRATIONS) >= 2
    assert rows(db, "SELECT count(*) FROM moderation") == [(0,)]
    assert [(m.nick, m.text, m.time) for m in hub.channels["lobby"].history] == [
        ("bobby", "from version 1", 1.5)
    ]
    dev = hub.channels["dev"]
    assert (dev.owner, dev.private, dev.topic, dev.ops, dev.invited) == (
        "bob",
        True,
        "old topic",
        {"alice"},
        {"carol"},
    )
    bob = hub.accounts["bob"]
    assert (bob.nick, bob.last_seen, bob.banned_until) == ("bobby", 3, FOREVER)


def test_a_newer_schema_is_refused(db: Path) -> None:
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(StoreError) as err:
        Store.open(db)
    assert str(db) in str(err.value)
    assert "newer sshchat" in str(err.value) and "Fix:" in str(err.value)


def test_a_corrupt_file_is_refused_with_the_fix(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not an SQLite database\n" * 200)
    with pytest.raises(StoreError) as err:
        Store.open(db)
    message = str(err.value)
    assert message.startswith(f"{db}: ")
    assert "Fix: move the file away" in message


def test_an_unusable_location_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the directory should be")
    with pytest.raises(StoreError) as err:
        Store.open(blocker / "chat.db")
    assert "cannot create the database's directory" in str(err.value)
    assert str(blocker / "chat.db") in str(err.value)

    folder = tmp_path / "is-a-directory.db"
    folder.mkdir()
    with pytest.raises(StoreError) as err:
        Store.open(folder)
    assert str(folder) in str(err.value) and "Fix:" in str(err.value)


# -- restoring into the hub --------------------------------------------------


def test_state_of_removed_accounts_is_skipped(db: Path) -> None:
    hub, store = attached(db, [*ACCOUNTS, ("zed", False)])
    zed = hub.connect("zed", Sink())
    alice = hub.connect("alice", Sink())
    run(hub, zed, "/create zedland", "/op alice", "/nick zorro", "/ignore bob")
    run(hub, alice, "/create open", "/op zed", "/ignore zed")
    hub.disconnect(zed)
    run(hub, alice, "/msg zorro are you there")
    store.close()

    again = reload(db, ACCOUNTS)  # zed was removed from the config
    assert "zed" not in again.accounts
    assert again.find_account("zorro") is None
    assert again.channels["zedland"].owner is None
    assert again.channels["zedland"].ops == {"alice"}
    assert again.channels["open"].ops == set()
    assert again.accounts["alice"].ignored == set()


def test_an_account_removed_by_a_reload_starts_afresh_when_added_again(db: Path) -> None:
    everyone = [*ACCOUNTS, ("zed", False)]
    hub, store = attached(db, everyone)
    zed = hub.connect("zed", Sink())
    run(hub, zed, "/nick zorro", "/quiet on", "I was here")
    hub.disconnect(zed)
    run(hub, hub.connect("alice", Sink()), "/ban zed", "/msg zorro come back")
    hub.sync_accounts(ACCOUNTS, "you were removed")  # a config reload dropped zed
    store.close()

    again = reload(db, everyone)  # and a later config brought the name back
    zed_again = again.accounts["zed"]
    assert (zed_again.nick, zed_again.prefs, zed_again.last_seen) == ("zed", Prefs(), None)
    assert zed_again.banned_until is None and not zed_again.pending
    assert [m.text for m in again.channels["lobby"].history] == ["I was here"]


def test_a_saved_nick_that_now_clashes_is_dropped(db: Path) -> None:
    hub, store = attached(db)
    run(hub, hub.connect("bob", Sink()), "/nick eve")
    store.close()
    again = reload(db, [*ACCOUNTS, ("eve", False)])  # a new account took the name
    assert again.accounts["bob"].nick == "bob"
    assert reload(db).accounts["bob"].nick == "eve"


def test_hand_edited_rows_do_not_stop_start_up(db: Path) -> None:
    hub, store = attached(db)
    run(hub, hub.connect("bob", Sink()), "/bell on")
    store.close()
    conn = sqlite3.connect(db)
    conn.execute('UPDATE accounts SET prefs = \'{"bell": "loud", "quiet": 1}\', ignored = \'x\'')
    conn.execute(
        "INSERT INTO channels (name, created, ops) VALUES ('no spaces allowed', 1, 'nope')"
    )
    conn.commit()
    conn.close()
    again = reload(db)
    assert again.accounts["bob"].prefs == Prefs()
    assert "no spaces allowed" not in again.channels


def test_the_home_channel_keeps_its_topic_and_is_never_private(db: Path) -> None:
    hub, store = attached(db)
    run(hub, hub.connect("alice", Sink()), "/topic welcome all", "/create dev private")
    store.close()
    again = Hub(ACCOUNTS, default_channel="dev")  # the config made #dev the home channel
    store = Store.open(db)
    restore(again, store.load(["dev"]))
    store.close()
    assert again.default_channel.private is False
    assert again.channels["lobby"].topic == "welcome all"


def test_pending_message_to_someone_online_is_not_kept(db: Path) -> None:
    hub, store = attached(db)
    alice = hub.connect("alice", Sink())
    hub.connect("bob", Sink())
    run(hub, alice, "/msg bob hi")
    store.close()
    assert rows(db, "SELECT count(*) FROM pending") == [(0,)]
    assert rows(db, "SELECT kind, recipient FROM messages") == [("pm", "bob")]
    assert not reload(db).accounts["bob"].pending


# -- the [storage] config table ----------------------------------------------

USER = '[users.alice]\npassword_hash = "$argon2id$v=19$m=65536,t=3,p=4$B2uSPdaSaZYVrK8SRFnG+A$7kaNUangfEARYZNOrPLiaIpmqju+mSphI/t8OxvHTW0"\n'  # noqa: E501


def test_storage_defaults_to_data_next_to_the_config(tmp_path: Path) -> None:
    config = parse_config(USER, tmp_path / "chat.toml")
    assert config.storage.path == tmp_path.resolve() / "data" / "sshchat.db"
    assert config.storage.history_lines == 50
    assert config.storage.commit_interval == 0.1
    memory = parse_config('[storage]\npath = ":memory:"\nhistory_lines = 0\n' + USER, tmp_path)
    assert memory.storage.path is None and memory.storage.history_lines == 0


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ("path = 3", "storage.path", "must be a string"),
        ('path = ""', "storage.path", "is empty"),
        ('history_lines = "20"', "storage.history_lines", "whole number"),
        ("history_lines = 501", "storage.history_lines", "out of range"),
        ("commit_interval = true", "storage.commit_interval", "number of seconds"),
        ("commit_interval = 60", "storage.commit_interval", "out of range"),
        ('paht = "x.db"', "storage.paht", "did you mean 'path'"),
    ],
)
def test_storage_mistakes_are_config_errors(
    tmp_path: Path, table: str, key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(f"[storage]\n{table}\n{USER}", tmp_path / "chat.toml")
    assert err.value.key == key
    assert words in str(err.value)
