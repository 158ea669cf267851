"""Persistent state in SQLite: channel history, channels, account state, offline PMs.

The hub stays pure: it tells its ``observers`` about every fact it applies
(:mod:`sshchat.core.facts`) and this module writes what lasts of them to disk.

* :meth:`Store.open` opens (or creates) the database in WAL mode and brings
  its schema up to date (:data:`MIGRATIONS`, tracked by ``PRAGMA user_version``).
* :meth:`Store.load` reads what the hub needs back at start-up, as plain
  values (:class:`Snapshot`); :func:`restore` applies them through small pure
  ``Hub.restore_*`` methods.
* :meth:`Store.attach` subscribes to the hub and starts the writer thread.
  The observer runs on the event loop: it puts each fact (immutable, plain
  values) on a queue; it never blocks, never reads hub objects, never does I/O.
* :meth:`Store.prune` applies the retention rules (``[storage] history_days``,
  ``history_max_lines``; delivered private messages go), at start-up and then
  periodically from a worker thread on a connection of its own.
* The data directory is created 0700 and the database file 0600 (see
  :meth:`Store.open`): the stored messages are nobody else's business.
* One writer thread owns the connection. It commits a batch as soon as the
  first record arrives if the last commit is at least ``commit_interval``
  seconds old, otherwise when that interval has passed: at most one commit
  (one fsync) per interval under load, no waiting when idle.

**Durability bound.** A record is committed (``synchronous=FULL``: written and
fsynced to the write-ahead log) at most ``commit_interval`` (default 100 ms)
plus two commit times (a few milliseconds on a local disk) after the hub
produced it: a message acknowledged to the room survives ``kill -9`` of the
server, and a power cut, once that time has passed. :meth:`Store.close`
writes everything still queued.

All methods except :meth:`Store.observe` block on disk: call them with
:func:`asyncio.to_thread` from the event loop.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import queue
import sqlite3
import stat
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sshchat.config.schema import MEMORY_PATH
from sshchat.config.schema import Storage as StorageSettings
from sshchat.core import facts as f
from sshchat.core.events import ChatMessage, PrivateMessage
from sshchat.core.hub import Hub
from sshchat.core.model import FOREVER, HISTORY_KEEP, MAX_PENDING, ModerationAction
from sshchat.core.prefs import BELL_MODES, Prefs
from sshchat.errors import FixError
from sshchat.ops.logs import log_event

__all__ = [
    "DEFAULT_COMMIT_INTERVAL",
    "MEMORY",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Pruned",
    "SavedAccount",
    "SavedChannel",
    "Snapshot",
    "Store",
    "StoreError",
    "migrate",
    "restore",
]

log = logging.getLogger(__name__)

MEMORY = MEMORY_PATH  # a throwaway database that lives as long as the server
#: Seconds a record may wait to be committed (``[storage] commit_interval``).
DEFAULT_COMMIT_INTERVAL: float = StorageSettings.commit_interval
MAX_BATCH = 5000  # records in one transaction

# Each step takes the schema from version i to i + 1. Never edit a released
# step: append a new one. A step runs in one transaction with the new
# ``user_version``, so a failed upgrade leaves the file as it was.
MIGRATIONS: tuple[str, ...] = (
    # 1: messages, channels, account state, offline private messages.
    """
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        time REAL NOT NULL,
        kind TEXT NOT NULL,               -- 'chat', 'pm' or 'broadcast'
        channel TEXT,                     -- chat lines only
        sender TEXT NOT NULL,             -- login name
        sender_nick TEXT NOT NULL,
        recipient TEXT,                   -- private messages only
        recipient_nick TEXT,
        text TEXT NOT NULL,
        action INTEGER NOT NULL DEFAULT 0 -- /me
    );
    CREATE INDEX messages_channel ON messages (channel, id);
    CREATE TABLE channels (
        name TEXT PRIMARY KEY COLLATE NOCASE,
        owner TEXT,
        private INTEGER NOT NULL DEFAULT 0,
        topic TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL,
        ops TEXT NOT NULL DEFAULT '[]',      -- JSON list of logins
        invited TEXT NOT NULL DEFAULT '[]'   -- JSON list of logins
    );
    CREATE TABLE accounts (
        login TEXT PRIMARY KEY,
        nick TEXT NOT NULL,
        last_seen REAL,
        prefs TEXT NOT NULL DEFAULT '{}',    -- JSON object
        ignored TEXT NOT NULL DEFAULT '[]',  -- JSON list of logins
        banned_until REAL,                   -- NULL: not banned (or for good, see the flag)
        banned_forever INTEGER NOT NULL DEFAULT 0,
        ban_reason TEXT NOT NULL DEFAULT '',
        muted_until REAL,
        muted_forever INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE pending (
        id INTEGER PRIMARY KEY,
        recipient TEXT NOT NULL,
        message INTEGER NOT NULL REFERENCES messages (id)
    );
    CREATE INDEX pending_recipient ON pending (recipient, id);
    """,
    # 2: moderation audit log; channel history looked up ignoring case.
    """
    CREATE TABLE moderation (
        id INTEGER PRIMARY KEY,
        time REAL NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        channel TEXT,
        reason TEXT NOT NULL DEFAULT '',
        until REAL,
        forever INTEGER NOT NULL DEFAULT 0
    );
    DROP INDEX messages_channel;
    CREATE INDEX messages_channel ON messages (channel COLLATE NOCASE, id);
    """,
    # 3: channel membership belongs to the account and outlives its sessions;
    # the channel a login lands in.
    """
    CREATE TABLE members (
        channel TEXT NOT NULL COLLATE NOCASE,
        login TEXT NOT NULL,
        since REAL NOT NULL,
        PRIMARY KEY (channel, login)
    );
    CREATE INDEX members_login ON members (login);
    ALTER TABLE accounts ADD COLUMN last_channel TEXT;
    """,
    # 4: cluster mode: the hub state this node applied and the stream id it covers,
    # written in the same transaction as the records of the facts before it.
    """
    CREATE TABLE cluster_checkpoint (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        applied TEXT NOT NULL,               -- the last stream entry applied
        body TEXT NOT NULL                   -- JSON: epoch, applied, seen, state
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

_FIX_ELSEWHERE = "or point [storage] path in the config at another file"


class StoreError(FixError):
    """The database cannot be used; the message names the file and the fix."""


@dataclass(frozen=True)
class Pruned:
    """How many stored messages :meth:`Store.prune` deleted, and why."""

    delivered: int = 0  # private messages already delivered
    old: int = 0  # older than history_days
    surplus: int = 0  # beyond history_max_lines in their channel

    @property
    def total(self) -> int:
        return self.delivered + self.old + self.surplus


# ---------------------------------------------------------------------------
# What is read back at start-up
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SavedChannel:
    """A channel's lasting settings as stored."""

    name: str
    owner: str | None
    private: bool
    topic: str
    created: float
    ops: tuple[str, ...]
    invited: tuple[str, ...]


@dataclass(frozen=True)
class SavedAccount:
    """An account's lasting state as stored (``pending``: offline PMs, oldest first;
    ``channels``: the channels it is a member of; ``last_channel``: where it lands)."""

    login: str
    nick: str
    last_seen: float | None
    prefs: Prefs
    ignored: tuple[str, ...]
    banned_until: float | None
    ban_reason: str
    muted_until: float | None
    pending: tuple[PrivateMessage, ...] = ()
    channels: tuple[str, ...] = ()  # memberships, oldest first
    last_channel: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """Everything :meth:`Store.load` read. ``history`` maps channel names
    (case-folded) to their last lines, oldest first."""

    channels: tuple[SavedChannel, ...] = ()
    accounts: tuple[SavedAccount, ...] = ()
    history: dict[str, tuple[ChatMessage, ...]] = field(default_factory=dict)


def restore(hub: Hub, snapshot: Snapshot) -> None:
    """Apply ``snapshot`` to a freshly built ``hub`` (pure: no I/O).

    State of accounts that are no longer configured is skipped by the hub.
    """
    for saved in snapshot.channels:
        hub.restore_channel(
            saved.name,
            owner=saved.owner,
            private=saved.private,
            topic=saved.topic,
            created=saved.created,
            ops=saved.ops,
            invited=saved.invited,
        )
    for name, lines in snapshot.history.items():
        hub.restore_history(name, lines)
    for acct in snapshot.accounts:
        hub.restore_account(
            acct.login,
            nick=acct.nick,
            last_seen=acct.last_seen,
            prefs=acct.prefs,
            ignored=acct.ignored,
            banned_until=acct.banned_until,
            ban_reason=acct.ban_reason,
            muted_until=acct.muted_until,
            pending=acct.pending,
            channels=acct.channels,
            last_channel=acct.last_channel,
        )


# ---------------------------------------------------------------------------
# Schema
# ---------------------------------------------------------------------------


def migrate(conn: sqlite3.Connection, path: str, target: int = SCHEMA_VERSION) -> int:
    """Bring the database on ``conn`` (autocommit mode) up to schema ``target``.

    Returns the version found. Raises :class:`StoreError` for a database made
    by a newer sshchat.
    """
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        raise StoreError(
            path,
            f"the database has schema version {found}, but this sshchat only knows "
            f"versions up to {SCHEMA_VERSION} (it was written by a newer sshchat)",
            f"run the newer sshchat again, {_FIX_ELSEWHERE}",
        )
    for version in range(found, target):
        try:
            # One transaction per step: executescript runs BEGIN ... COMMIT as written.
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{MIGRATIONS[version]}\n"
                f"PRAGMA user_version = {version + 1};\nCOMMIT;"
            )
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if found:
            log_event(log, "store.migrated", path=path, version=version + 1)
    return found


# ---------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------


class _Flush:
    """A queue marker: set once everything queued before it is committed."""

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class Store:
    """The database of one server: open, load, attach, then close."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: str,
        *,
        commit_interval: float = DEFAULT_COMMIT_INTERVAL,
    ) -> None:
        """Use :meth:`open`; this only wraps an open, migrated connection."""
        self.path = path
        self.commit_interval = commit_interval
        self.commits = 0  # transactions committed by the writer
        self.records = 0  # records written
        self.failures = 0  # records lost to write errors
        self._conn = conn
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._hub: Hub | None = None
        self._closed = False

    # -- opening and loading (blocking: run in a thread) ----------------------

    @classmethod
    def open(
        cls, path: Path | str | None, *, commit_interval: float = DEFAULT_COMMIT_INTERVAL
    ) -> Store:
        """Open or create the database at ``path`` (None or ``":memory:"``: in memory).

        Creates the directory, turns on WAL and migrates the schema. Raises
        :class:`StoreError` naming the file and the fix.

        The stored messages are nobody else's business: a directory it
        creates is made mode 0700 and a database file 0600 (whatever the
        umask; SQLite gives the ``-wal`` and ``-shm`` files the database's
        mode). Existing ones are left alone, with a ``store.permissions``
        warning naming the ``chmod`` that fixes them if others may read them.
        """
        where = MEMORY if path is None or str(path) == MEMORY else str(path)
        if where != MEMORY:
            _prepare_private_location(Path(where))
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(
                where, isolation_level=None, check_same_thread=False, timeout=10.0
            )
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if where != MEMORY and str(mode).lower() != "wal":
                log_event(log, "store.no_wal", logging.WARNING, path=where, mode=mode)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn, where)
        except StoreError:
            if conn is not None:
                conn.close()
            raise
        except sqlite3.Error as err:
            if conn is not None:
                conn.close()
            raise _open_error(where, err) from None
        if where != MEMORY:
            _warn_if_readable_by_others(Path(where))
        return cls(conn, where, commit_interval=commit_interval)

    # -- retention (blocking: run in a thread) ---------------------------------

    def prune(self, *, days: int = 0, max_lines: int = 0, now: float | None = None) -> Pruned:
        """Delete what is kept no longer: delivered private messages, messages
        older than ``days`` days and channel lines beyond the newest
        ``max_lines`` of their channel (0: no such limit).

        Private messages still waiting for an offline recipient stay until
        delivered. Before :meth:`attach` this uses the store's connection;
        afterwards (the writer thread owns that one) a connection of its own,
        so it can run in any thread next to the writer; an in-memory database
        is then left alone. Deleted text is overwritten on disk
        (``secure_delete``). Raises :class:`StoreError` if the file cannot be used.
        """
        when = time.time() if now is None else now
        if self._thread is None:
            return self._prune_on(self._conn, days, max_lines, when)
        if self.path == MEMORY or self._closed:
            return Pruned()
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        except sqlite3.Error as err:
            raise _open_error(self.path, err) from None
        try:
            return self._prune_on(conn, days, max_lines, when)
        finally:
            conn.close()

    def _prune_on(self, conn: sqlite3.Connection, days: int, max_lines: int, now: float) -> Pruned:
        waiting = "id NOT IN (SELECT message FROM pending)"
        try:
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute("BEGIN IMMEDIATE")
            try:
                delivered = conn.execute(
                    f"DELETE FROM messages WHERE kind = 'pm' AND {waiting}"
                ).rowcount
                old = 0
                if days > 0:
                    old = conn.execute(
                        f"DELETE FROM messages WHERE time < ? AND {waiting}",
                        (now - days * 86400.0,),
                    ).rowcount
                surplus = 0
                if max_lines > 0:
                    channels = conn.execute(
                        "SELECT MIN(channel) FROM messages WHERE channel IS NOT NULL"
                        " GROUP BY channel COLLATE NOCASE"
                    ).fetchall()
                    for (channel,) in channels:
                        surplus += conn.execute(
                            "DELETE FROM messages WHERE channel = ? COLLATE NOCASE AND id <="
                            " (SELECT id FROM messages WHERE channel = ? COLLATE NOCASE"
                            "  ORDER BY id DESC LIMIT 1 OFFSET ?)",
                            (channel, channel, max_lines),
                        ).rowcount
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as err:
            raise _open_error(self.path, err) from None
        return Pruned(delivered=delivered, old=old, surplus=surplus)

    def load(
        self,
        channels: Iterable[str] = (),
        *,
        history: int = HISTORY_KEEP,
        pending: int = MAX_PENDING,
    ) -> Snapshot:
        """Read the saved state back: every stored channel, the last ``history``
        lines of those and of ``channels`` (e.g. the home channel), every
        account and its last ``pending`` offline private messages.

        Call before :meth:`attach`. Raises :class:`StoreError` for a damaged file.
        """
        if self._thread is not None:
            raise RuntimeError("load() must be called before attach()")
        try:
            return self._load(channels, history, pending)
        except sqlite3.Error as err:
            raise _open_error(self.path, err) from None

    def _load(self, extra: Iterable[str], history: int, pending: int) -> Snapshot:
        conn = self._conn
        saved_channels = tuple(
            SavedChannel(
                name=name,
                owner=owner,
                private=bool(private),
                topic=topic,
                created=created,
                ops=_json_names(ops),
                invited=_json_names(invited),
            )
            for name, owner, private, topic, created, ops, invited in conn.execute(
                "SELECT name, owner, private, topic, created, ops, invited FROM channels"
            )
        )
        names = {c.name.casefold(): c.name for c in saved_channels}
        for name in extra:
            names.setdefault(name.casefold(), name)
        lines: dict[str, tuple[ChatMessage, ...]] = {}
        for folded, name in names.items():
            rows = conn.execute(
                "SELECT time, channel, sender, sender_nick, text, action FROM messages"
                " WHERE channel = ? COLLATE NOCASE ORDER BY id DESC LIMIT ?",
                (name, history),
            ).fetchall()
            if rows:
                lines[folded] = tuple(
                    ChatMessage(channel, sender, nick, text, bool(action), when)
                    for when, channel, sender, nick, text, action in reversed(rows)
                )
        waiting: dict[str, list[PrivateMessage]] = {}
        for row in conn.execute(
            "SELECT p.recipient, m.time, m.sender, m.sender_nick, m.recipient_nick, m.text,"
            " m.action FROM pending p JOIN messages m ON m.id = p.message ORDER BY p.id"
        ):
            recipient, when, sender, sender_nick, recipient_nick, text, action = row
            message = PrivateMessage(
                sender,
                sender_nick,
                recipient,
                recipient_nick or recipient,
                text,
                bool(action),
                when,
            )
            waiting.setdefault(recipient, []).append(message)
        memberships: dict[str, list[str]] = {}
        for channel, login in conn.execute(
            "SELECT channel, login FROM members ORDER BY since, rowid"
        ):
            memberships.setdefault(login, []).append(channel)
        accounts = []
        for row in conn.execute(
            "SELECT login, nick, last_seen, prefs, ignored, banned_until, banned_forever,"
            " ban_reason, muted_until, muted_forever, last_channel FROM accounts"
        ):
            login, nick, seen, prefs, ignored, ban, ban_ever, reason, mute, mute_ever, last = row
            accounts.append(
                SavedAccount(
                    login=login,
                    nick=nick,
                    last_seen=seen,
                    prefs=_prefs(prefs),
                    ignored=_json_names(ignored),
                    banned_until=FOREVER if ban_ever else ban,
                    ban_reason=reason,
                    muted_until=FOREVER if mute_ever else mute,
                    pending=tuple(waiting.pop(login, ())[-pending:]) if pending else (),
                    channels=tuple(memberships.pop(login, ())),
                    last_channel=last if isinstance(last, str) else None,
                )
            )
        # Logins with no row of their own: nothing lasting besides these.
        for login in sorted(waiting.keys() | memberships.keys()):
            messages = waiting.get(login, [])
            accounts.append(
                SavedAccount(
                    login=login,
                    nick=login,
                    last_seen=None,
                    prefs=Prefs(),
                    ignored=(),
                    banned_until=None,
                    ban_reason="",
                    muted_until=None,
                    pending=tuple(messages[-pending:]) if pending else (),
                    channels=tuple(memberships.get(login, ())),
                )
            )
        return Snapshot(saved_channels, tuple(accounts), lines)

    # -- writing -------------------------------------------------------------

    def attach(self, hub: Hub) -> None:
        """Receive ``hub``'s records from now on and start the writer thread."""
        if self._thread is not None:
            raise RuntimeError("the store is already attached")
        self._hub = hub
        hub.observers.append(self.observe)
        self._thread = threading.Thread(target=self._run, name="sshchat-store", daemon=True)
        self._thread.start()

    def observe(self, fact: f.Fact) -> None:
        """The hub observer: queue what lasts of ``fact``. Never blocks.

        Runs on the event loop. Facts are immutable plain values, so they are
        queued as they are; the writer thread turns them into rows.
        """
        if self._closed:
            return
        writer = _WRITERS.get(type(fact))
        if writer is not None:
            self._queue.put((writer, fact))

    def checkpoint(self, applied: str, body: str) -> None:
        """Queue cluster mode's checkpoint: the state applied up to stream id ``applied``.

        Queued behind the records of every fact applied before it, so it is
        committed in the same transaction as the last of them (or a later one):
        a restart never loads a state older than the records on disk, nor one
        whose records are missing. Never blocks.
        """
        if not self._closed:
            self._queue.put((_write_checkpoint, applied, body))

    def load_checkpoint(self) -> tuple[str, str] | None:
        """The last committed checkpoint as ``(applied, body)``, or None (blocking)."""
        try:
            row = self._conn.execute(
                "SELECT applied, body FROM cluster_checkpoint WHERE id = 1"
            ).fetchone()
        except sqlite3.Error as err:
            raise StoreError(
                f"database {self.path}",
                f"cannot read the cluster checkpoint ({err})",
                "delete the file to rebuild it from the cluster, " + _FIX_ELSEWHERE,
            ) from None
        return None if row is None else (str(row[0]), str(row[1]))

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything observed so far is committed; False on timeout."""
        if self._thread is None or not self._thread.is_alive():
            return True
        marker = _Flush()
        self._queue.put(marker)
        return marker.done.wait(timeout)

    def close(self) -> None:
        """Write what is still queued, stop the writer and close the database."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
        if self._hub is not None and self.observe in self._hub.observers:
            self._hub.observers.remove(self.observe)
        try:
            if self.path != MEMORY:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as err:  # pragma: no cover - only tidies the WAL file
            log_event(log, "store.checkpoint_failed", logging.WARNING, error=str(err))
        finally:
            self._conn.close()

    def _run(self) -> None:
        """The writer thread: batch records and commit at most once per interval."""
        last_commit = 0.0
        stop = False
        while not stop:
            batch = [self._queue.get()]
            deadline = max(time.monotonic(), last_commit + self.commit_interval)
            while len(batch) < MAX_BATCH and batch[-1] is not _STOP:
                remaining = deadline - time.monotonic()
                try:
                    if remaining > 0:
                        batch.append(self._queue.get(timeout=remaining))
                    else:
                        batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
                if isinstance(batch[-1], _Flush):
                    break  # someone is waiting: commit now
            stop = batch[-1] is _STOP
            self._write(batch)
            last_commit = time.monotonic()

    def _write(self, batch: Sequence[Any]) -> None:
        records = [item for item in batch if isinstance(item, tuple)]
        if records:
            for attempt in (1, 2):
                try:
                    self._commit(records)
                    break
                except sqlite3.Error as err:
                    if attempt == 2:
                        self.failures += len(records)
                        log_event(
                            log,
                            "store.write_failed",
                            logging.ERROR,
                            path=self.path,
                            records=len(records),
                            error=str(err),
                        )
                    else:
                        time.sleep(0.5)
                except Exception:  # pragma: no cover - a bug: keep the writer alive
                    self.failures += len(records)
                    log.exception("store writer failed on a batch of %d records", len(records))
                    break
        for item in batch:
            if isinstance(item, _Flush):
                item.done.set()

    def _commit(self, records: Sequence[tuple[Any, ...]]) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for writer, *args in records:
                writer(conn, *args)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.commits += 1
        self.records += len(records)


# ---------------------------------------------------------------------------
# One writer per record kind (run on the writer thread)
# ---------------------------------------------------------------------------


def _insert_message(
    conn: sqlite3.Connection,
    when: float,
    kind: str,
    channel: str | None,
    sender: str,
    sender_nick: str,
    text: str,
    action: bool,
    recipient: str | None = None,
    recipient_nick: str | None = None,
) -> int:
    cursor = conn.execute(
        "INSERT INTO messages (time, kind, channel, sender, sender_nick, recipient,"
        " recipient_nick, text, action) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (when, kind, channel, sender, sender_nick, recipient, recipient_nick, text, int(action)),
    )
    return int(cursor.lastrowid or 0)


def _write_checkpoint(conn: sqlite3.Connection, applied: str, body: str) -> None:
    conn.execute(
        "INSERT INTO cluster_checkpoint (id, applied, body) VALUES (1, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET applied = excluded.applied, body = excluded.body",
        (applied, body),
    )


def _write_chat(conn: sqlite3.Connection, m: f.MessageSaid) -> None:
    _insert_message(conn, m.time, "chat", m.channel, m.sender, m.nick, m.text, m.action)


def _write_private(conn: sqlite3.Connection, m: f.PrivateMessageSent) -> None:
    rowid = _insert_message(
        conn,
        m.time,
        "pm",
        None,
        m.sender,
        m.sender_nick,
        m.text,
        False,
        m.recipient,
        m.recipient_nick,
    )
    # The recipient was offline: keep it for their next login, unless they ignore
    # the sender (the hub keeps nothing either; the ignores here are up to date,
    # written in the order of the facts).
    if m.queued and m.sender not in _json_names(_account_value(conn, m.recipient, "ignored")):
        conn.execute("INSERT INTO pending (recipient, message) VALUES (?, ?)", (m.recipient, rowid))
        _trim_pending(conn, m.recipient, MAX_PENDING)


def _trim_pending(conn: sqlite3.Connection, login: str, keep: int) -> None:
    conn.execute(
        "DELETE FROM pending WHERE recipient = ? AND id NOT IN"
        " (SELECT id FROM pending WHERE recipient = ? ORDER BY id DESC LIMIT ?)",
        (login, login, keep),
    )


def _write_broadcast(conn: sqlite3.Connection, m: f.Broadcasted) -> None:
    _insert_message(conn, m.time, "broadcast", None, m.sender, m.nick, m.text, False)


def _write_moderation(conn: sqlite3.Connection, m: ModerationAction) -> None:
    forever = m.until == FOREVER
    conn.execute(
        "INSERT INTO moderation (time, actor, action, target, channel, reason, until, forever)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            m.time,
            m.actor,
            m.action,
            m.target,
            m.channel,
            m.reason,
            None if forever else m.until,
            int(forever),
        ),
    )


# Accounts and channels: a fact changes a column or two of a row, which is
# created (with defaults) the first time anything lasting happens to it.

_ACCOUNT_COLUMNS = frozenset(
    {
        "nick",
        "last_seen",
        "prefs",
        "ignored",
        "banned_until",
        "banned_forever",
        "ban_reason",
        "muted_until",
        "muted_forever",
        "last_channel",
    }
)
_CHANNEL_COLUMNS = frozenset({"owner", "private", "topic", "created", "ops", "invited"})


def _set_account(conn: sqlite3.Connection, login: str, **values: Any) -> None:
    assert set(values) <= _ACCOUNT_COLUMNS
    names = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    updates = ", ".join(f"{name} = excluded.{name}" for name in values)
    nick = () if "nick" in values else (login,)
    conn.execute(
        f"INSERT INTO accounts (login, {'' if 'nick' in values else 'nick, '}{names})"
        f" VALUES (?, {'' if 'nick' in values else '?, '}{marks})"
        f" ON CONFLICT (login) DO UPDATE SET {updates}",
        (login, *nick, *values.values()),
    )


def _account_value(conn: sqlite3.Connection, login: str, column: str) -> Any:
    assert column in _ACCOUNT_COLUMNS
    row = conn.execute(f"SELECT {column} FROM accounts WHERE login = ?", (login,)).fetchone()
    return None if row is None else row[0]


def _set_channel(conn: sqlite3.Connection, name: str, when: float, **values: Any) -> None:
    """Change columns of channel ``name``; a row made now is ``created`` at ``when``."""
    assert set(values) <= _CHANNEL_COLUMNS
    names = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    updates = ", ".join(f"{name} = excluded.{name}" for name in values)
    conn.execute(
        f"INSERT INTO channels (name, created, {names}) VALUES (?, ?, {marks})"
        f" ON CONFLICT (name) DO UPDATE SET {updates}",
        (name, when, *values.values()),
    )


def _channel_names(conn: sqlite3.Connection, name: str, column: str) -> set[str]:
    assert column in ("ops", "invited")
    row = conn.execute(f"SELECT {column} FROM channels WHERE name = ?", (name,)).fetchone()
    return set(_json_names(row[0] if row else None))


def _names(values: set[str]) -> str:
    return json.dumps(sorted(values))


def _write_channel_created(conn: sqlite3.Connection, c: f.ChannelCreated) -> None:
    conn.execute(
        "INSERT INTO channels (name, owner, private, topic, created, ops, invited)"
        " VALUES (?, ?, ?, '', ?, '[]', '[]') ON CONFLICT (name) DO UPDATE SET"
        " owner = excluded.owner, private = excluded.private, topic = excluded.topic,"
        " created = excluded.created, ops = excluded.ops, invited = excluded.invited",
        (c.name, c.owner, int(c.private), c.time),
    )


def _write_topic(conn: sqlite3.Connection, t: f.TopicSet) -> None:
    _set_channel(conn, t.channel, t.time, topic=t.topic)
    _write_moderation_of(conn, t)


def _write_op(conn: sqlite3.Connection, o: f.OpSet) -> None:
    ops = _channel_names(conn, o.channel, "ops")
    if o.op:
        ops.add(o.login)
    else:
        ops.discard(o.login)
    _set_channel(conn, o.channel, o.time, ops=_names(ops))
    _write_moderation_of(conn, o)


def _write_invited(conn: sqlite3.Connection, i: f.Invited) -> None:
    invited = _channel_names(conn, i.channel, "invited")
    invited.add(i.login)
    _set_channel(conn, i.channel, i.time, invited=_names(invited))


def _write_kicked(conn: sqlite3.Connection, k: f.Kicked) -> None:
    invited = _channel_names(conn, k.channel, "invited")
    if k.login in invited:
        invited.discard(k.login)
        _set_channel(conn, k.channel, k.time, invited=_names(invited))
    _end_membership(conn, k.channel, k.login)
    _write_moderation_of(conn, k)


def _add_member(conn: sqlite3.Connection, channel: str, login: str, when: float) -> None:
    conn.execute(
        "INSERT INTO members (channel, login, since) VALUES (?, ?, ?)"
        " ON CONFLICT (channel, login) DO NOTHING",
        (channel, login, when),
    )


def _end_membership(conn: sqlite3.Connection, channel: str, login: str) -> None:
    conn.execute(
        "DELETE FROM members WHERE channel = ? COLLATE NOCASE AND login = ?", (channel, login)
    )
    conn.execute(
        "UPDATE accounts SET last_channel = NULL WHERE login = ?"
        " AND last_channel = ? COLLATE NOCASE",
        (login, channel),
    )


def _write_joined(conn: sqlite3.Connection, j: f.MemberJoined) -> None:
    """A join or a switch: a member (if not yet) and where the next login lands."""
    _add_member(conn, j.channel, j.login, j.time)
    _set_account(conn, j.login, last_channel=j.channel)


def _write_left(conn: sqlite3.Connection, m: f.MemberLeft) -> None:
    _end_membership(conn, m.channel, m.login)


def _write_dropped(conn: sqlite3.Connection, d: f.ChannelDropped) -> None:
    """A dropped channel is forgotten with its history (overwritten on disk).

    The moderation log keeps who dropped it.
    """
    conn.execute("PRAGMA secure_delete = ON")
    conn.execute("DELETE FROM channels WHERE name = ?", (d.channel,))
    conn.execute("DELETE FROM messages WHERE channel = ? COLLATE NOCASE", (d.channel,))
    _write_moderation_of(conn, d)


def _write_moderation_of(conn: sqlite3.Connection, fact: f.Fact) -> None:
    action = f.moderation_action(fact)
    if action is not None:
        _write_moderation(conn, action)


def _write_session_opened(conn: sqlite3.Connection, s: f.SessionOpened) -> None:
    conn.execute("DELETE FROM pending WHERE recipient = ?", (s.login,))  # shown at login
    if s.home is not None:  # a first login: a member of the home channel from now on
        _add_member(conn, s.home, s.login, s.time)


def _write_session_closed(conn: sqlite3.Connection, s: f.SessionClosed) -> None:
    _set_account(conn, s.login, last_seen=s.time)


def _write_nick(conn: sqlite3.Connection, n: f.NickChanged) -> None:
    _set_account(conn, n.login, nick=n.new)


def _write_preference(conn: sqlite3.Connection, p: f.PreferenceSet) -> None:
    try:
        prefs = json.loads(_account_value(conn, p.login, "prefs") or "{}")
    except ValueError:
        prefs = {}
    if not isinstance(prefs, dict):
        prefs = {}
    prefs[p.key] = p.value
    _set_account(conn, p.login, prefs=json.dumps(prefs))


def _write_ignore(conn: sqlite3.Connection, i: f.Ignored | f.Unignored) -> None:
    ignored = set(_json_names(_account_value(conn, i.login, "ignored")))
    if isinstance(i, f.Ignored):
        ignored.add(i.other)
        # What the ignored user sent while this one was away is never shown: forget it.
        conn.execute(
            "DELETE FROM pending WHERE recipient = ? AND message IN"
            " (SELECT id FROM messages WHERE sender = ?)",
            (i.login, i.other),
        )
    else:
        ignored.discard(i.other)
    _set_account(conn, i.login, ignored=_names(ignored))


def _write_banned(conn: sqlite3.Connection, b: f.Banned) -> None:
    forever = b.until == FOREVER
    _set_account(
        conn,
        b.login,
        banned_until=None if forever else b.until,
        banned_forever=int(forever),
        ban_reason=b.reason,
    )
    _write_moderation_of(conn, b)


def _write_unbanned(conn: sqlite3.Connection, u: f.Unbanned | f.BanExpired) -> None:
    _set_account(conn, u.login, banned_until=None, banned_forever=0, ban_reason="")
    _write_moderation_of(conn, u)


def _write_muted(conn: sqlite3.Connection, m: f.Muted) -> None:
    forever = m.until == FOREVER
    _set_account(
        conn, m.login, muted_until=None if forever else m.until, muted_forever=int(forever)
    )
    _write_moderation_of(conn, m)


def _write_unmuted(conn: sqlite3.Connection, u: f.Unmuted | f.MuteExpired) -> None:
    _set_account(conn, u.login, muted_until=None, muted_forever=0)
    _write_moderation_of(conn, u)


def _write_removed(conn: sqlite3.Connection, r: f.AccountRemoved) -> None:
    """An account left the config: an account added later under its name starts afresh.

    Its messages stay in the channels' history; its memberships, ownership,
    ops and invitations, and other accounts' ignores of it, go.
    """
    login = r.login
    conn.execute("DELETE FROM accounts WHERE login = ?", (login,))
    conn.execute("DELETE FROM members WHERE login = ?", (login,))
    conn.execute("DELETE FROM pending WHERE recipient = ?", (login,))
    conn.execute("UPDATE channels SET owner = NULL WHERE owner = ?", (login,))
    for name, ops, invited in conn.execute("SELECT name, ops, invited FROM channels").fetchall():
        new_ops = set(_json_names(ops)) - {login}
        new_invited = set(_json_names(invited)) - {login}
        if new_ops != set(_json_names(ops)) or new_invited != set(_json_names(invited)):
            conn.execute(
                "UPDATE channels SET ops = ?, invited = ? WHERE name = ?",
                (_names(new_ops), _names(new_invited), name),
            )
    for other, ignored in conn.execute("SELECT login, ignored FROM accounts").fetchall():
        names = set(_json_names(ignored))
        if login in names:
            _set_account(conn, other, ignored=_names(names - {login}))


_WRITERS: dict[type[f.Fact], Any] = {
    f.MessageSaid: _write_chat,
    f.PrivateMessageSent: _write_private,
    f.Broadcasted: _write_broadcast,
    f.ChannelCreated: _write_channel_created,
    f.ChannelDropped: _write_dropped,
    f.TopicSet: _write_topic,
    f.OpSet: _write_op,
    f.Invited: _write_invited,
    f.Kicked: _write_kicked,
    f.MemberJoined: _write_joined,
    f.MemberLeft: _write_left,
    f.SessionOpened: _write_session_opened,
    f.SessionClosed: _write_session_closed,
    f.NickChanged: _write_nick,
    f.PreferenceSet: _write_preference,
    f.Ignored: _write_ignore,
    f.Unignored: _write_ignore,
    f.Banned: _write_banned,
    f.Unbanned: _write_unbanned,
    f.BanExpired: _write_unbanned,
    f.Muted: _write_muted,
    f.Unmuted: _write_unmuted,
    f.MuteExpired: _write_unmuted,
    f.AccountRemoved: _write_removed,
}
"""What each lasting fact does to the database. Not kept: away, sessions,
admin flags (the config has them), the home channel (the config names it).
Membership is kept: it belongs to the account, not to its sessions."""


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


_PRIVATE_DIR = 0o700
_PRIVATE_FILE = 0o600
_DB_FILES = ("", "-wal", "-shm")  # the database and SQLite's companions in WAL mode


def _prepare_private_location(path: Path) -> None:
    """Create ``path``'s directory (0700) and the empty database file (0600) if missing.

    Modes are set explicitly after creation, so the umask cannot widen (or,
    for the owner, narrow) them. SQLite then creates ``-wal`` and ``-shm``
    with the database file's mode.
    """
    directory = path.parent
    try:
        if not directory.is_dir():
            directory.mkdir(parents=True, mode=_PRIVATE_DIR)
            os.chmod(directory, _PRIVATE_DIR)
    except OSError as err:
        raise StoreError(
            path,
            f"cannot create the database's directory ({err.strerror or err})",
            f"create it writable by the user running sshchat, {_FIX_ELSEWHERE}",
        ) from None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE_FILE)
    except FileExistsError:
        return
    except OSError:
        return  # sqlite3 reports an unusable path with its own, clearer error
    try:
        os.fchmod(fd, _PRIVATE_FILE)
    finally:
        os.close(fd)


def _warn_if_readable_by_others(path: Path) -> None:
    """Log ``store.permissions`` for the directory or files others may read or write."""
    places = [(path.parent, "700")] + [(Path(f"{path}{suffix}"), "600") for suffix in _DB_FILES]
    for place, wanted in places:
        try:
            mode = stat.S_IMODE(os.stat(place).st_mode)
        except OSError:
            continue
        if mode & 0o077:
            log_event(
                log,
                "store.permissions",
                logging.WARNING,
                path=str(place),
                mode=f"{mode:04o}",
                problem="other users of this machine can read the stored messages",
                fix=f"chmod {wanted} {place}",
            )


def _open_error(path: str, err: sqlite3.Error) -> StoreError:
    text = str(err)
    if isinstance(err, sqlite3.OperationalError) and (
        "unable to open" in text or "readonly" in text or "read-only" in text
    ):
        fix = (
            "make the file and its directory writable by the user running sshchat "
            f"(and check that the path is not a directory), {_FIX_ELSEWHERE}"
        )
    elif "locked" in text or "busy" in text:
        fix = f"stop the other program (or sshchat server) using it, {_FIX_ELSEWHERE}"
    else:
        fix = (
            "move the file away (a new, empty database is created at the next start) or "
            f"restore it from a backup, {_FIX_ELSEWHERE}"
        )
    return StoreError(path, f"cannot use the database ({text})", fix)


def _json_names(text: str | None) -> tuple[str, ...]:
    """A JSON list of names; anything else (a hand-edited row) reads as empty."""
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return ()
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def _prefs(text: str | None) -> Prefs:
    """Prefs from JSON, keeping only known keys with values of the right type."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        value = {}
    prefs = Prefs()
    if not isinstance(value, dict):
        return prefs
    for spec in dataclasses.fields(Prefs):
        got = value.get(spec.name)
        default = getattr(prefs, spec.name)
        if type(got) is not type(default):
            continue
        if spec.name == "bell" and got not in BELL_MODES:
            continue
        setattr(prefs, spec.name, got)
    return prefs
