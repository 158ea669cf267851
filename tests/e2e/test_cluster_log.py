"""The Redis fact log (cluster mode) with hubs on one event loop and a real redis-server."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from helpers.redis_server import RedisServer, free_port
from helpers.sinks import RecordingSink
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sshchat.cluster.redislog import RedisFactLog
from sshchat.commands.refusals import refusal_text
from sshchat.commands.registry import handle_line
from sshchat.core import facts as f
from sshchat.core import refusals
from sshchat.core.events import ChatMessage, Overruled, Presence, PresenceKind, SessionEnded
from sshchat.core.hub import Hub, HubError
from sshchat.core.replication import LogUnavailable, StateReplaced
from sshchat.core.snapshot import dump_state, load_state
from sshchat.errors import StartupError
from sshchat.storage.sqlite import Store

ACCOUNTS = [("alice", True), ("bob", False), ("carol", False), ("dave", False)]


class Node:
    """A hub whose log is a :class:`RedisFactLog`, as ``sshchat serve`` builds it."""

    def __init__(self, log: RedisFactLog, hub: Hub) -> None:
        self.log = log
        self.hub = hub

    store: Store | None = None

    @classmethod
    async def start(
        cls, url: str, name: str, *, store: Path | None = None, hub: dict | None = None, **options
    ) -> Node:
        """``store``: a SQLite file that keeps this node's checkpoints, as the app's does.

        ``hub``: options of the :class:`Hub` (its rate limits).
        """
        opened = Store.open(store) if store is not None else None
        if opened is not None:
            options["checkpoint"] = opened.checkpoint
        log = RedisFactLog(url, name, **options)
        await log.connect(within=5)
        hub_ = Hub(ACCOUNTS, ids=log.ids, log=log, **(hub or {}))
        log.attach_state(
            lambda: dump_state(hub_.state),
            lambda data: load_state(hub_.state, data),
            lambda: list(hub_.state.sessions),
        )
        local = opened.load_checkpoint() if opened is not None else None
        if opened is not None:
            opened.attach(hub_)
        await log.catch_up(local[1] if local is not None else None)
        await log.start()
        await log.settled(10)
        node = cls(log, hub_)
        node.store = opened
        return node

    async def stop(self) -> None:
        await self.log.close(flush=1)
        if self.store is not None:
            self.store.close()

    async def kill(self) -> None:
        """Stop as ``kill -9`` would: no leaving, nothing more written."""
        await self.log.halt()
        self.log.closed = True
        await self.log._close_client()
        if self.store is not None:
            self.store.close()

    async def connect(self, login: str) -> tuple:
        sink = RecordingSink()
        client = self.hub.connect(login, sink)
        await self.log.settled(10)
        assert self.hub.is_live(client)
        return client, sink


async def quiesce(redis_server: RedisServer, *nodes: Node, timeout: float = 20) -> None:
    """Wait until every node has sent what it queued and applied the whole stream."""
    client = redis_server.client()
    deadline = time.monotonic() + timeout
    try:
        while True:
            for node in nodes:
                await node.log.settled(timeout)
            last = client.xrevrange("sshchat:log", count=1)
            head = last[0][0].decode() if last else "0-0"
            if all(n.log.applied_id == head and not n.log._queue for n in nodes):
                return
            assert time.monotonic() < deadline, "the nodes did not catch up"
            await asyncio.sleep(0.02)
    finally:
        client.close()


@contextlib.asynccontextmanager
async def cluster(redis_server: RedisServer, count: int, **options) -> AsyncIterator[list[Node]]:
    nodes = [await Node.start(redis_server.url, f"n{i}", **options) for i in range(count)]
    try:
        yield nodes
    finally:
        for node in nodes:
            await node.stop()


def said(sink: RecordingSink) -> list[str]:
    return [e.text for e in sink.events if isinstance(e, ChatMessage)]


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "redis-py"])
async def test_a_line_reaches_every_node_once_in_order_and_is_echoed_once_redis_has_it(
    redis_server, raw: bool
) -> None:
    """Also through redis-py alone (``raw=False``): the path of TLS and unix-socket URLs."""
    async with cluster(redis_server, 2, raw=raw) as (a, b):
        assert a.log.raw_read is a.log.raw_write is raw
        alice, alice_sink = await a.connect("alice")
        bob, bob_sink = await b.connect("bob")
        _carol, carol_sink = await b.connect("carol")
        for i in range(20):
            a.hub.say(alice, f"a{i}")
            b.hub.say(bob, f"b{i}")
        # Nothing is echoed before Redis has it: the hub only queued the facts.
        assert said(alice_sink) == [] and said(bob_sink) == []
        await quiesce(redis_server, a, b)
        seen = said(alice_sink)
        assert sorted(seen) == sorted([f"a{i}" for i in range(20)] + [f"b{i}" for i in range(20)])
        assert said(bob_sink) == seen == said(carol_sink)  # once each, in one order
        assert [t for t in seen if t.startswith("a")] == [f"a{i}" for i in range(20)]
        assert a.hub.digest() == b.hub.digest()
        # Presence is cluster-wide: both nodes know both users are online.
        for node in (a, b):
            assert node.hub.accounts["alice"].online and node.hub.accounts["bob"].online


async def test_a_nick_race_gives_the_name_to_exactly_one(redis_server) -> None:
    async with cluster(redis_server, 2) as (a, b):
        alice, alice_sink = await a.connect("alice")
        bob, bob_sink = await b.connect("bob")
        # Both decide against a state where "zed" is free; the log settles it.
        a.hub.set_nick(alice, "zed")
        b.hub.set_nick(bob, "zed")
        await quiesce(redis_server, a, b)
        nicks = {a.hub.accounts["alice"].nick, a.hub.accounts["bob"].nick}
        assert "zed" in nicks and len(nicks) == 2
        loser_sink = bob_sink if a.hub.accounts["alice"].nick == "zed" else alice_sink
        overruled = [e for e in loser_sink.typed if isinstance(e, Overruled)]
        assert len(overruled) == 1 and isinstance(overruled[0].refusal, refusals.NickTaken)
        assert a.hub.digest() == b.hub.digest()


async def test_a_channel_race_confirms_only_the_winner(redis_server) -> None:
    async with cluster(redis_server, 2) as (a, b):
        alice, alice_sink = await a.connect("alice")
        bob, bob_sink = await b.connect("bob")
        # (private channels are named OWNER/NAME, so only two public ones can race)
        handle_line(a.hub, alice, "/create dev")
        handle_line(b.hub, bob, "/create dev")
        await quiesce(redis_server, a, b)
        channel = a.hub.channels["dev"]
        winner, loser = ("alice", bob_sink) if channel.owner == "alice" else ("bob", alice_sink)
        win_sink = alice_sink if winner == "alice" else bob_sink
        texts = [e.text for e in win_sink.events if hasattr(e, "text")]
        assert any(t.startswith("Created channel #dev") for t in texts)
        lost = [e.text for e in loser.events if hasattr(e, "text")]
        assert not any("Created" in t for t in lost)  # never first told it is theirs
        assert any("#dev" in t for t in lost)  # told it exists or is not available
        assert list(channel.members) == [winner]
        assert a.hub.digest() == b.hub.digest()


async def test_a_retried_append_is_applied_once(redis_server) -> None:
    async with cluster(redis_server, 2) as (a, b):
        alice, _ = await a.connect("alice")
        _bob, bob_sink = await b.connect("bob")
        a.hub.say(alice, "once")
        await quiesce(redis_server, a, b)
        client = redis_server.client()
        try:
            entry = client.xrevrange("sshchat:log", count=1)[0][1]
            client.xadd("sshchat:log", entry)  # what a retry after a lost reply stores
        finally:
            client.close()
        a.hub.say(alice, "twice?")
        await quiesce(redis_server, a, b)
        assert said(bob_sink) == ["once", "twice?"]
        assert len(a.hub.channels["lobby"].history) == 2
        assert a.hub.digest() == b.hub.digest()


async def test_a_ban_on_one_node_ends_the_session_on_the_other(redis_server) -> None:
    async with cluster(redis_server, 2) as (a, b):
        alice, _ = await a.connect("alice")
        bob, bob_sink = await b.connect("bob")
        handle_line(a.hub, alice, "/ban bob 10m spam")
        await quiesce(redis_server, a, b)
        assert bob_sink.closed and "banned" in bob_sink.closed[0]
        assert not b.hub.is_live(bob)
        with pytest.raises(refusals.BannedFromServer):
            b.hub.connect("bob", RecordingSink())


async def test_a_login_racing_a_ban_is_refused_when_applied(redis_server) -> None:
    async with cluster(redis_server, 2) as (a, b):
        alice, _ = await a.connect("alice")
        handle_line(a.hub, alice, "/ban bob 10m")  # not applied on b yet
        sink = RecordingSink()
        client = b.hub.connect("bob", sink)
        await quiesce(redis_server, a, b)
        assert not b.hub.is_live(client) and "banned" in sink.closed[0]
        assert not a.hub.accounts["bob"].online
        assert a.hub.digest() == b.hub.digest()


async def test_a_node_whose_lease_expires_is_declared_gone_once(redis_server) -> None:
    options = {"renew": 0.1, "expire": 0.5}
    async with cluster(redis_server, 3, **options) as (a, b, c):
        _alice, alice_sink = await a.connect("alice")
        _bob, _ = await b.connect("bob")
        await b.connect("bob")  # two sessions, one user
        await quiesce(redis_server, a, b, c)
        # b dies without a word: its tasks stop, its lease runs out.
        await b.log.halt()
        deadline = time.monotonic() + 20
        while a.hub.accounts["bob"].online or c.hub.accounts["bob"].online:
            assert time.monotonic() < deadline, "bob is still online"
            await asyncio.sleep(0.05)
        await quiesce(redis_server, a, c)
        gone = [
            e
            for e in alice_sink.events
            if isinstance(e, Presence) and e.kind is PresenceKind.DISCONNECT and e.login == "bob"
        ]
        assert len(gone) == 1
        client = redis_server.client()
        try:
            entries = client.xrange("sshchat:log")
        finally:
            client.close()
        node_gone = [e for e in entries if b"NodeGone" in e[1][b"f"]]
        assert len(node_gone) == 1
        assert a.hub.digest() == c.hub.digest()


async def test_a_node_paused_past_its_lease_notices_before_acting(redis_server) -> None:
    now = [1000.0]
    options = {"renew": 0.1, "expire": 0.5}
    async with cluster(redis_server, 1, **options) as (a,):
        b = await Node.start(redis_server.url, "paused", monotonic=lambda: now[0], **options)
        try:
            bob, bob_sink = await b.connect("bob")
            old = b.log.prefix
            # "Pause" b: its clock stands still, its lease is not renewed ...
            await b.log.halt()
            deadline = time.monotonic() + 20
            while a.hub.accounts["bob"].online:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            # ... then it resumes, much later by its own clock: before it acts on
            # anything, it finds its lease lost and starts a new incarnation.
            now[0] += 60
            await b.log.start()
            await quiesce(redis_server, a, b)
            assert b.log.prefix != old
            assert bob_sink.closed and "lost contact" in bob_sink.closed[0]
            assert not b.hub.is_live(bob)
            again, _ = await b.connect("bob")
            await quiesce(redis_server, a, b)
            assert a.hub.accounts["bob"].online and b.hub.is_live(again)
            assert a.hub.digest() == b.hub.digest()
        finally:
            await b.log.close(flush=1)


async def test_a_node_declared_gone_takes_a_new_incarnation_before_its_users_are_told(
    redis_server,
) -> None:
    """A node that reads its own NodeGone before its lease loop notices starts afresh first.

    Applied as it was, that NodeGone told bob "lost contact, reconnect" while
    the node still decided under its old (gone) prefix, so bob's reconnection
    was refused when applied (seen as a flaky e2e test: a node resumed about
    when its lease expired, its reader ahead of its lease loop).
    """
    options = {"renew": 0.1, "expire": 0.5}
    async with cluster(redis_server, 1, **options) as (a,):
        b = await Node.start(redis_server.url, "paused", **options)
        try:
            bob, bob_sink = await b.connect("bob")
            await quiesce(redis_server, a, b)
            old = b.log.prefix
            told_under: list[str] = []
            deliver = bob_sink.deliver

            def recording(event) -> None:
                if isinstance(event, SessionEnded):
                    told_under.append(b.log.prefix)
                deliver(event)

            bob_sink.deliver = recording
            # b's lease loop stalls (its reader still runs): a declares b gone.
            lease_task = b.log._tasks[2]
            lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lease_task
            deadline = time.monotonic() + 20
            while not bob_sink.closed:
                assert time.monotonic() < deadline, "bob was never told"
                await asyncio.sleep(0.05)
            assert "lost contact" in bob_sink.closed[0]
            assert told_under == [b.log.prefix] and b.log.prefix != old
            assert not b.hub.is_live(bob)
            b.log._tasks[2] = asyncio.get_running_loop().create_task(b.log._lease_loop())
            # So bob, told to reconnect, is let in at once.
            again, _ = await b.connect("bob")
            await quiesce(redis_server, a, b)
            assert a.hub.accounts["bob"].online and b.hub.is_live(again)
            assert a.hub.digest() == b.hub.digest()
        finally:
            await b.log.close(flush=1)


async def test_a_new_node_catches_up_with_the_whole_log(redis_server) -> None:
    async with cluster(redis_server, 1) as (a,):
        alice, _ = await a.connect("alice")
        for line in ["/create dev", "hello dev", "/nick ally"]:
            handle_line(a.hub, alice, line)
            await quiesce(redis_server, a)  # as a front end waits before the next line
        late = await Node.start(redis_server.url, "late")
        try:
            await quiesce(redis_server, a, late)
            assert late.hub.digest() == a.hub.digest()
            assert late.hub.accounts["alice"].nick == "ally"
            assert [m.text for m in late.hub.channels["dev"].history] == ["hello dev"]
        finally:
            await late.log.close(flush=1)


async def test_redis_unreachable_at_start_is_one_clear_error() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    log = RedisFactLog(url, "n")
    with pytest.raises(StartupError) as err:
        await log.connect(within=1)
    text = str(err.value)
    assert url in text and "Fix:" in text and "[cluster]" in text


async def test_a_line_typed_while_redis_is_away_is_refused_with_a_message(redis_server) -> None:
    async with cluster(redis_server, 1) as (a,):
        alice, alice_sink = await a.connect("alice")
        # Short only from here: with it from the start, a loaded machine let the
        # batches of start-up (the accounts) or of the login wait past it behind the
        # first epoch check, and they were refused too (an account missing, or a
        # second refusal for this user).
        a.log.give_up = 0.3
        redis_server.kill()
        a.hub.say(alice, "into the void")
        deadline = time.monotonic() + 20
        while not any(isinstance(e, Overruled) for e in alice_sink.typed):
            assert time.monotonic() < deadline, "the sender was never told"
            await asyncio.sleep(0.05)
        (notice,) = [e for e in alice_sink.typed if isinstance(e, Overruled)]
        assert isinstance(notice.refusal, LogUnavailable)
        assert "not sent" in alice_sink.events[-1].text
        assert said(alice_sink) == []
        redis_server.start()


async def test_redis_restarted_with_its_aof_keeps_users_connected(tmp_path) -> None:
    server = RedisServer(tmp_path / "aof", aof=True).start()
    try:
        async with cluster(server, 2) as (a, b):
            alice, _alice_sink = await a.connect("alice")
            bob, bob_sink = await b.connect("bob")
            a.hub.say(alice, "before")
            await quiesce(server, a, b)
            server.restart()
            a.hub.say(alice, "after")  # typed while Redis is (briefly) away, or just back
            await quiesce(server, a, b, timeout=30)
            assert said(bob_sink) == ["before", "after"]
            assert a.hub.is_live(alice) and b.hub.is_live(bob)
            assert a.hub.digest() == b.hub.digest()
    finally:
        server.kill()


# -- the property: random commands on several nodes end in equal digests -------------

LOGINS = [login for login, _ in ACCOUNTS]
NAMES = st.sampled_from([*LOGINS, "bobby", "dev", "ops"])
LINES = st.one_of(
    st.sampled_from(
        [
            "hello",
            "/me waves",
            "/create dev",
            "/create ops private",
            "/join dev",
            "/join ops",
            "/leave",
            "/away lunch",
            "/back",
            "/topic a topic",
            "/broadcast hear ye",
        ]
    ),
    st.builds(lambda n: f"/msg {n} hi", NAMES),
    st.builds(lambda n: f"/nick {n}", NAMES),
    st.builds(lambda n: f"/invite {n}", NAMES),
    st.builds(lambda n: f"/op {n}", NAMES),
    st.builds(lambda n: f"/kick {n} out", NAMES),
    st.builds(lambda n: f"/ban {n} 1m", NAMES),
    st.builds(lambda n: f"/unban {n}", NAMES),
    st.builds(lambda n: f"/mute {n} 30s", NAMES),
    st.builds(lambda n: f"/ignore {n}", NAMES),
)
STEPS = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.sampled_from(LOGINS),
        st.sampled_from(["line", "line", "connect", "quit", "settle"]),
        LINES,
    ),
    max_size=30,
)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=STEPS)
def test_random_commands_on_three_nodes_end_with_equal_digests(tmp_path_factory, steps) -> None:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        asyncio.run(_run_steps(server, steps))
    finally:
        server.kill()


async def _run_steps(server: RedisServer, steps) -> None:
    async with cluster(server, 3) as nodes:
        sessions: dict[tuple[int, str], list] = {}
        recorded: list[list[f.Fact]] = []
        original = nodes[0].log._apply  # keep what node 0 applies

        def keep(facts) -> None:
            recorded.append(list(facts))
            original(facts)

        nodes[0].log._apply = keep
        for index, login, what, line in steps:
            node = nodes[index]
            mine = sessions.setdefault((index, login), [])
            mine[:] = [c for c in mine if node.hub.is_live(c) or c.id in node.hub.state.pending]
            if what == "settle":
                await quiesce(server, *nodes)
            elif what == "connect" or not mine:
                try:
                    mine.append(node.hub.connect(login, RecordingSink()))
                except HubError:
                    continue
            elif what == "quit":
                node.hub.disconnect(mine.pop())
            elif node.hub.is_live(mine[-1]):
                handle_line(node.hub, mine[-1], line)
        await quiesce(server, *nodes)
        digests = {node.hub.digest() for node in nodes}
        assert len(digests) == 1
        # Replaying the batches (through the same re-validation) rebuilds the state.
        fresh = Hub(ACCOUNTS, clock=lambda: 0.0)  # a cluster's home channel dates from 0
        for facts in recorded:
            fresh.apply_batch(facts)
        assert fresh.digest() == nodes[0].hub.digest()


async def test_redis_restarted_empty_is_detected_once_and_the_chat_goes_on(
    redis_server,
) -> None:
    told: list[str] = []
    options = {"renew": 0.1, "expire": 1.0}
    a = await Node.start(redis_server.url, "a", on_reset=lambda: told.append("a"), **options)
    b = await Node.start(redis_server.url, "b", on_reset=lambda: told.append("b"), **options)
    try:
        alice, _ = await a.connect("alice")
        _bob, bob_sink = await b.connect("bob")
        a.hub.say(alice, "before")
        await quiesce(redis_server, a, b)
        redis_server.restart()  # no append-only file: everything is gone
        deadline = time.monotonic() + 20
        while sorted(told) != ["a", "b"]:
            assert time.monotonic() < deadline, told
            await asyncio.sleep(0.05)
        a.hub.say(alice, "after")
        await quiesce(redis_server, a, b)
        assert said(bob_sink) == ["before", "after"]
        await asyncio.sleep(0.5)  # several lease periods: told once, not at every renewal
        assert sorted(told) == ["a", "b"]
        assert a.hub.digest() == b.hub.digest()
        assert a.hub.accounts["bob"].online and b.hub.accounts["alice"].online
    finally:
        for node in (a, b):
            await node.log.close(flush=1)


def stream(redis_server: RedisServer) -> list:
    client = redis_server.client()
    try:
        return client.xrange("sshchat:log")
    finally:
        client.close()


async def test_a_restarted_node_reads_on_from_its_own_store_without_duplicates(
    redis_server, tmp_path
) -> None:
    options = {"renew": 0.1, "expire": 0.5}
    db = tmp_path / "a.db"
    async with cluster(redis_server, 1, **options) as (b,):
        a = await Node.start(redis_server.url, "a", store=db, **options)
        alice, _ = await a.connect("alice")
        bob, _ = await b.connect("bob")
        for i in range(5):
            a.hub.say(alice, f"early {i}")
        await quiesce(redis_server, a, b)
        await a.log.snapshot()  # the periodic checkpoint, now
        checkpointed = a.log.applied_id
        await a.kill()
        # While a is down, the chat goes on (and a's users are declared gone).
        for i in range(5):
            b.hub.say(bob, f"missed {i}")
        deadline = time.monotonic() + 20
        while b.hub.accounts["alice"].online:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await quiesce(redis_server, b)
        restarted = await Node.start(redis_server.url, "a", store=db, **options)
        try:
            assert restarted.log.base_from == "local"
            assert restarted.log.base == checkpointed
            await quiesce(redis_server, restarted, b)
            history = [m.text for m in restarted.hub.default_channel.history]
            expected = [f"early {i}" for i in range(5)] + [f"missed {i}" for i in range(5)]
            assert history == expected  # what it missed, each line once
            assert restarted.hub.digest() == b.hub.digest()
            # Its database has each line once too.
            rows = restarted.store._conn.execute(
                "SELECT text FROM messages WHERE kind = 'chat' ORDER BY id"
            ).fetchall()
            assert [r[0] for r in rows] == expected
        finally:
            await restarted.stop()


async def test_a_cleanly_stopped_node_restarts_from_exactly_where_it_left(
    redis_server, tmp_path
) -> None:
    db = tmp_path / "a.db"
    async with cluster(redis_server, 1) as (b,):
        a = await Node.start(redis_server.url, "a", store=db)
        alice, _ = await a.connect("alice")
        a.hub.say(alice, "hello")
        await quiesce(redis_server, a, b)
        await a.stop()  # leaving writes a last checkpoint
        await quiesce(redis_server, b)
        head = stream(redis_server)[-1][0].decode()
        restarted = await Node.start(redis_server.url, "a", store=db)
        try:
            assert restarted.log.base_from == "local" and restarted.log.base == head
            await quiesce(redis_server, restarted, b)
            assert restarted.hub.digest() == b.hub.digest()
        finally:
            await restarted.stop()


async def test_a_node_joining_after_trimming_starts_from_the_snapshot(redis_server) -> None:
    async with cluster(redis_server, 2) as (a, b):
        alice, _ = await a.connect("alice")
        bob, _ = await b.connect("bob")
        for round_ in range(3):
            for line in [f"/create dev{round_}", f"line {round_}", f"/nick al{round_}"]:
                handle_line(a.hub, alice, line)
                await quiesce(redis_server, a, b)
            b.hub.say(bob, f"bob {round_}")
            await quiesce(redis_server, a, b)
            await (a if round_ % 2 else b).log.snapshot()
        entries = stream(redis_server)
        client = redis_server.client()
        try:
            trimmed = client.get("sshchat:trimmed").decode()
        finally:
            client.close()
        first = entries[0][0].decode()
        assert first == trimmed != "0-0"  # the stream was trimmed behind the older snapshot
        late = await Node.start(redis_server.url, "late")
        try:
            assert late.log.base_from == "redis"
            await quiesce(redis_server, a, b, late)
            assert late.hub.digest() == a.hub.digest() == b.hub.digest()
            assert late.hub.accounts["alice"].nick == "al2"
            assert [m.text for m in late.hub.channels["dev0"].history] == ["line 0"]
        finally:
            await late.stop()
        # Without the snapshot, what is left of the log alone gives another state.
        replayed = Hub(ACCOUNTS)
        for _id, fields in entries:
            for raw in fields[b"f"].split(b"\n"):
                replayed.apply(f.decode(raw))
        assert replayed.digest() != a.hub.digest()
        # The snapshot lost (deleted by hand): a new node refuses to start half-blind.
        client = redis_server.client()
        try:
            client.delete("sshchat:snapshot")
        finally:
            client.close()
        with pytest.raises(StartupError, match=r"no usable snapshot.*snapshot_every"):
            await Node.start(redis_server.url, "blind")


async def test_a_users_message_rate_limit_holds_across_nodes(redis_server) -> None:
    limits = {"hub": {"message_rate": 0.05, "message_burst": 5}}  # no refill to speak of
    a = await Node.start(redis_server.url, "a", **limits)
    b = await Node.start(redis_server.url, "b", **limits)
    try:
        on_a, _ = await a.connect("alice")
        on_b, _ = await b.connect("alice")  # the same user on the other node
        for i in range(5):  # the whole burst, through node a
            assert a.hub.admit_line(on_a)
            a.hub.say(on_a, f"a{i}")
        await quiesce(redis_server, a, b)
        # Node b counted them: the user has nothing left there either.
        assert not b.hub.admit_line(on_b)
        assert not a.hub.admit_line(on_a)
        # Lines are charged once: a's own lines did not cost twice on a.
        assert a.hub.accounts["alice"].bucket.tokens > -1
    finally:
        for node in (a, b):
            await node.stop()


async def test_after_redis_restarted_empty_the_most_advanced_node_re_seeds_the_others(
    redis_server,
) -> None:
    told: list[str] = []
    options = {"renew": 0.1, "expire": 30.0, "reseed_window": 0.5}
    a = await Node.start(redis_server.url, "a", on_reset=lambda: told.append("a"), **options)
    b = await Node.start(redis_server.url, "b", on_reset=lambda: told.append("b"), **options)
    try:
        alice, _ = await a.connect("alice")
        _bob, bob_sink = await b.connect("bob")
        a.hub.say(alice, "both saw this")
        await quiesce(redis_server, a, b)
        # b falls behind (paused), while a applies more ...
        await b.log.halt()
        handle_line(a.hub, alice, "/topic set while b was away")
        await a.log.settled(10)
        a.hub.say(alice, "only a saw this")
        await a.log.settled(10)
        assert a.hub.digest() != b.hub.digest()
        # ... then Redis restarts empty: what b missed is gone from the log.
        redis_server.restart()
        await b.log.start()
        deadline = time.monotonic() + 20
        while not (a.log.reseeds and b.log.reseeds and not b.log._adopt):
            assert time.monotonic() < deadline, "the re-seed was never settled"
            await asyncio.sleep(0.05)
        # The node with the highest applied position won; the other took its state.
        assert a.log.reseeded_from == b.log.reseeded_from == a.log.prefix
        assert b.log.base_from == "reseed"
        await quiesce(redis_server, a, b)
        assert a.hub.digest() == b.hub.digest()
        assert [m.text for m in b.hub.default_channel.history] == [
            "both saw this",
            "only a saw this",
        ]
        assert b.hub.default_channel.topic == "set while b was away"
        assert sorted(told) == ["a", "b"]  # every node told its users, once
        # b's own session kept its sink: the chat goes on there.
        a.hub.say(alice, "after the re-seed")
        await quiesce(redis_server, a, b)
        assert said(bob_sink)[-1] == "after the re-seed"
        assert "only a saw this" not in said(bob_sink)  # adopted, not replayed to users
        assert a.hub.digest() == b.hub.digest()
        # A node started now begins from the re-seeded base.
        late = await Node.start(redis_server.url, "late", **options)
        try:
            await quiesce(redis_server, a, b, late)
            assert late.hub.digest() == a.hub.digest()
        finally:
            await late.log.close(flush=1)
    finally:
        for node in (a, b):
            await node.log.close(flush=1)


def stop_reading(node: Node) -> asyncio.Event:
    """Hold ``node``'s reader: what it appends from now on is in Redis, not applied here.

    What it had read meanwhile is dropped, as if lost with Redis; setting the
    returned event lets it read again (it looks at the epoch first).
    """
    gate = asyncio.Event()
    original = node.log._apply_entries

    async def held(response) -> bool:
        await gate.wait()
        node.log._apply_entries = original
        node.log._recheck_epoch = True
        return False

    node.log._apply_entries = held
    # The redis-py read path, which calls _apply_entries (the raw one hands back to it).
    node.log.raw_read = False
    return gate


async def test_batches_redis_lost_in_flight_are_sent_again_or_refused_after_the_re_seed(
    redis_server,
) -> None:
    options = {"renew": 0.1, "expire": 30.0, "reseed_window": 0.5}
    a = await Node.start(redis_server.url, "a", **options)
    b = await Node.start(redis_server.url, "b", **options)
    try:
        bob, bob_sink = await a.connect("bob")
        alice, alice_sink = await b.connect("alice")
        # a gets ahead of b (it will win the re-seed) ...
        b_reads = stop_reading(b)
        a.hub.say(bob, "only a applied this")
        await a.log.settled(10)
        a_reads = stop_reading(a)
        # ... and b appends batches that nobody applies before Redis loses everything.
        a_said = len(said(bob_sink))
        b.hub.say(alice, "typed just before the loss")
        handle_line(b.hub, alice, "/nick alicia")
        deadline = time.monotonic() + 10
        while b.log._queue:
            assert time.monotonic() < deadline, "never appended"
            await asyncio.sleep(0.02)
        assert len(b.log._inflight) == 2
        redis_server.restart()  # empty
        a_reads.set()
        b_reads.set()
        await quiesce(redis_server, a, b)
        assert a.log.reseeded_from == b.log.reseeded_from == a.log.prefix
        assert b.log.base_from == "reseed"
        # The line is delivered (once) after the re-seed; the nick claim, decided
        # against the state the re-seed replaced, is refused and its user told.
        assert said(bob_sink)[a_said:] == ["typed just before the loss"]
        assert said(alice_sink).count("typed just before the loss") == 1
        (refused,) = [e for e in alice_sink.typed if isinstance(e, Overruled)]
        assert isinstance(refused.refusal, StateReplaced)
        assert "try again" in refusal_text(refused.refusal)
        assert a.hub.accounts["alice"].nick == b.hub.accounts["alice"].nick == "alice"
        assert a.hub.digest() == b.hub.digest()
        assert not b.log._inflight and not b.log._queue
        # The (node, incarnation, sequence) dedup still holds afterwards.
        b.hub.say(alice, "after the re-seed")
        await quiesce(redis_server, a, b)
        assert said(bob_sink)[-1] == "after the re-seed"
        assert a.hub.digest() == b.hub.digest()
    finally:
        for node in (a, b):
            await node.log.close(flush=1)


async def test_a_re_seed_winner_dying_before_writing_its_state_is_replaced_by_the_next(
    redis_server,
) -> None:
    told: list[str] = []
    options = {"renew": 0.1, "expire": 1.0, "reseed_window": 1.0}
    nodes = [
        await Node.start(redis_server.url, name, on_reset=lambda n=name: told.append(n), **options)
        for name in ("a", "b", "c")
    ]
    a, b, c = nodes
    try:
        alice, _ = await a.connect("alice")
        await b.connect("bob")
        await c.connect("carol")
        a.hub.say(alice, "everyone saw this")
        await quiesce(redis_server, a, b, c)
        await b.log.halt()  # b falls behind: it will be last
        a.hub.say(alice, "b missed this")
        await a.log.settled(10)
        handle_line(a.hub, alice, "/topic a's topic")  # a gets ahead of c: a will win
        c_reads = stop_reading(c)
        await a.log.settled(10)
        redis_server.restart()  # empty
        c_reads.set()
        await b.log.start()
        # a stands (highest position), then dies before the close: it never writes its state.
        client = redis_server.client()
        deadline = time.monotonic() + 20
        try:
            while not any(
                fields.get(b"m") == b"candidate" and fields.get(b"n") == b"a"
                for _id, fields in client.xrange("sshchat:log")
            ):
                assert time.monotonic() < deadline, "a never stood"
                await asyncio.sleep(0.01)
        finally:
            client.close()
        await a.kill()
        deadline = time.monotonic() + 20
        while not (b.log.reseeds and c.log.reseeds and b.log._adopt is None and not c.log._adopt):
            assert time.monotonic() < deadline, "the re-seed was never settled"
            await asyncio.sleep(0.05)
        # The runner-up (c, ahead of b) wrote its state; b loaded it: they agree.
        assert b.log.reseeded_from == c.log.reseeded_from == c.log.prefix
        assert b.log.base_from == "reseed"
        await quiesce(redis_server, b, c)
        assert b.hub.digest() == c.hub.digest()
        assert [m.text for m in b.hub.default_channel.history] == [
            "everyone saw this",
            "b missed this",
        ]
        # a's session ends everywhere (its lease runs out), and users were told once.
        deadline = time.monotonic() + 20
        while b.hub.accounts["alice"].online or c.hub.accounts["alice"].online:
            assert time.monotonic() < deadline, "a's user stayed online"
            await asyncio.sleep(0.05)
        await quiesce(redis_server, b, c)
        assert b.hub.digest() == c.hub.digest()
        assert sorted(told) == ["a", "b", "c"]
    finally:
        for node in (b, c):
            await node.log.close(flush=1)


async def test_a_node_that_died_while_redis_was_away_has_its_users_shown_offline(
    redis_server,
) -> None:
    options = {"renew": 0.1, "expire": 1.0, "reseed_window": 0.5}
    a = await Node.start(redis_server.url, "a", **options)
    b = await Node.start(redis_server.url, "b", **options)
    try:
        await a.connect("alice")
        _bob, bob_sink = await b.connect("bob")
        await quiesce(redis_server, a, b)
        redis_server.kill()
        await a.kill()  # dies while Redis is away: it never registers in the new Redis
        redis_server.start()  # empty
        deadline = time.monotonic() + 20
        while b.hub.accounts["alice"].online:
            assert time.monotonic() < deadline, "a's user stayed online"
            await asyncio.sleep(0.05)
        await quiesce(redis_server, b)
        assert a.log.prefix in b.hub.state.gone
        await asyncio.sleep(0.5)  # several lease periods: declared gone once
        await quiesce(redis_server, b)
        gone = [e for _id, e in stream(redis_server) if b"NodeGone" in e.get(b"f", b"")]
        assert len(gone) == 1
        left = [
            e
            for e in bob_sink.typed + bob_sink.events
            if isinstance(e, Presence) and e.kind is PresenceKind.DISCONNECT and e.login == "alice"
        ]
        assert len(left) == 1
    finally:
        await b.log.close(flush=1)


async def test_a_line_reaches_redis_in_the_turn_it_is_said_and_is_applied_outside_any_task(
    redis_server,
) -> None:
    """Each loop turn on a busy node is tens of ms: a line must not wait for tasks to wake.

    The append is written to Redis before the caller yields (the loop is blocked
    below, yet Redis gets it), and the XREAD reply is applied by the connection's
    own ``data_received`` (no task), in the turn it arrives.
    """
    a = await Node.start(redis_server.url, "a")
    client = redis_server.client()
    try:
        alice, _ = await a.connect("alice")
        applied_in: list[object] = []
        apply = a.log._apply
        assert apply is not None

        def watching(facts) -> None:
            applied_in.append(asyncio.current_task())
            apply(facts)

        a.log._apply = watching
        before = client.xlen("sshchat:log")
        a.hub.say(alice, "hello")
        deadline = time.monotonic() + 10
        while client.xlen("sshchat:log") == before:  # blocking: the loop cannot turn
            assert time.monotonic() < deadline, "the line was not sent before the loop turned"
            time.sleep(0.01)
        await a.log.settled(10)
        assert applied_in == [None]
    finally:
        client.close()
        await a.stop()
