"""The replicated fact log of cluster mode: one Redis Stream that every node applies.

Every node's hub appends the facts it decides here (:meth:`RedisFactLog.append`
queues them and, in the steady state, XADDs each batch as one stream entry at
once on a connection of its own); a reader XREADs the stream in order and hands
every batch -- this node's included -- to ``Hub.apply_batch`` on the event loop,
in the turn the reply arrives (:mod:`sshchat.cluster.streamread`: on a busy node
each loop turn is tens of ms, and redis-py's task-based client took ~8 turns per
line). Errors, leases, epochs and re-seeding stay on redis-py, in the writer and
reader tasks, which also do all the work when the raw connections cannot be used.
So a line is echoed to its sender only once Redis has it, and every node sees the same facts in the
same order (see :mod:`sshchat.core.replication` for what is re-checked when
applied).

**Idempotent appends.** An entry carries ``n`` (node), ``i`` (incarnation:
random per process start), ``s`` (sequence, counted per incarnation) and ``f``
(the encoded facts, one per line). A retry after a timeout may store a batch
twice; readers skip an entry whose sequence their (node, incarnation) has
already passed, all in the same way, so nothing is applied twice.

**Leases.** Each incarnation keeps a key ``lease:<prefix>`` alive (renewed every
``renew`` seconds, expiring after ``expire``) holding its status (host, pid,
sessions, applied position), and is listed in the ``nodes`` hash. Any node
that finds a listed node's lease gone declares it gone -- atomically, once, by
a script -- and appends one :class:`~sshchat.core.facts.NodeGone`, whose apply
ends that node's sessions everywhere. A node that was paused (or cut off)
past its lease checks the lease before reading or writing anything else: if
it was declared gone it starts a new incarnation (its sessions end, told why,
when the ``NodeGone`` is applied); if not, it renews and carries on.

Session and fact ids are ``<node>/<incarnation>/<n>`` (:meth:`ids`), so a
``NodeGone`` names the sessions it ends by their prefix.

**Snapshots and trimming.** Every ``snapshot_every`` seconds a node that
applied more since writes its state (:mod:`sshchat.core.snapshot`) with the
stream id it covers to ``snapshot`` -- a script keeps only a newer one -- and
the stream is trimmed (XTRIM MINID) behind the snapshot it replaced, so that a
node that has just read the older one can still read on. ``trimmed`` records
where: a base older than that cannot be continued. The same checkpoint goes
to the node's own SQLite file (``checkpoint``). A node starting takes the
newer of its own checkpoint (same epoch, not trimmed past) and the snapshot
in Redis, then reads the stream after it (:meth:`catch_up`).

**Re-seeding after Redis lost everything.** A node that finds the epoch key
gone (Redis restarted without persistence) sets a new epoch and appends a
*candidate* marker to the new stream with the position it had applied, then,
``reseed_window`` seconds later, a *close* marker. At the first close marker
of that epoch every node -- reading the same entries in the same order --
picks the same winner: the candidate with the highest position (the earliest
marker on a tie). The winner writes its state at exactly that entry as the
snapshot; every other node stops reading there, loads that snapshot (keeping
its own sessions' sinks) and reads on after it. So the nodes agree again, and
a node that was behind gets back what it had missed before the loss. Should
the winner die before writing its state, the next candidate (the same ranking
on every node) writes its own once the winner's lease is gone or a deadline
passed; Redis keeps the first state written at that marker, and every node --
a slow winner too -- loads that one (:meth:`_adopt_base`).

What Redis lost in flight: from losing Redis until its re-seed is settled a
node appends nothing new; then the batches it had appended but that are in no
base are sent again under their own sequences, or refused with a message to
their proposer if decided against a state the re-seed replaced and not safe to
repeat (:meth:`_reseed_settled`). Nodes that did not come back (not listed in
the new Redis, no lease) have their sessions ended once (:meth:`_watch_orphans`).

Redis unreachable while running: the reader and writer retry (with a
socket timeout above the XREAD block time, so a dead connection is noticed);
users stay connected; a batch that cannot be appended within ``give_up``
seconds is refused and its proposer told (``Hub.unsent``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from sshchat.cluster import streamread
from sshchat.core.facts import Fact, FactDecodeError, NodeGone, decode, encode
from sshchat.core.ports import Applier, BatchApplier, Unsent
from sshchat.core.replication import resendable
from sshchat.errors import StartupError
from sshchat.ops.logs import log_event

__all__ = [
    "DEFAULT_EXPIRE",
    "DEFAULT_RENEW",
    "NODE_GONE_REASON",
    "ClusterKeys",
    "RedisFactLog",
    "connect_redis",
]

log = logging.getLogger(__name__)

DEFAULT_RENEW = 5.0  # seconds between lease renewals
DEFAULT_EXPIRE = 15.0  # seconds after which a lease not renewed expires
BLOCK_MS = 1000  # XREAD BLOCK time; the socket timeout is above it
GIVE_UP = 30.0  # seconds a batch may wait for Redis before it is refused
CONNECT_WITHIN = 10.0  # seconds start-up keeps trying to reach Redis
SNAPSHOT_EVERY = 60.0  # seconds between snapshots (and checkpoints)
READ_COUNT = 500
WRITE_BATCH = 200

#: What the sessions of a node declared gone are told, should it still run.
NODE_GONE_REASON = (
    "This server lost contact with the rest of the chat for too long, so your session "
    "ended. Please reconnect."
)

_RETRYABLE = (RedisError, OSError, asyncio.TimeoutError)
_Raw = TypeVar("_Raw", bound=asyncio.Protocol)

ADOPT_WITHIN = 30.0  # seconds a node waits for the winner's snapshot after a re-seed

# A candidate of a re-seed writes its state as the snapshot at the close marker:
# only the first to do so (so every node loads the same base, should a slow winner
# and a runner-up both try) -- nor over a newer snapshot (written since by a node
# that had settled) -- and not if the epoch changed again meanwhile (-1).
_RESEED = """
local function older(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
if redis.call('GET', KEYS[2]) ~= ARGV[3] then return -1 end
local current = redis.call('HGET', KEYS[1], 'id')
if current and not older(current, ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'body', ARGV[2], 'by', ARGV[4])
return 1
"""

# After a re-seed: a node that has sessions in the adopted state but no lease and
# is not listed (it died while Redis was away, or before registering again) is
# declared gone, once -- the listing Redis lost cannot be the evidence here.
_DECLARE_ORPHAN = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('HEXISTS', KEYS[3], ARGV[2]) == 1 then return 0 end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', 86400) then return 1 end
return 0
"""

# Declare a node gone, once, only if its lease really is gone (atomic) -- and it is
# still listed: a listing read just before Redis restarted empty is not evidence.
_DECLARE_GONE = """
if redis.call('HEXISTS', KEYS[3], ARGV[2]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', 86400) then
  redis.call('HDEL', KEYS[3], ARGV[2])
  return 1
end
redis.call('HDEL', KEYS[3], ARGV[2])
return 0
"""

# Renew a lease unless the node was declared gone meanwhile (atomic).
_RENEW = """
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
return 1
"""

# Keep a snapshot only if it is newer than the one kept, and trim the stream
# behind the one it replaces (a node may be reading on from that one).
_SNAPSHOT = """
local function older(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
if redis.call('GET', KEYS[4]) ~= ARGV[3] then return 0 end
local current = redis.call('HGET', KEYS[1], 'id')
if current and not older(current, ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'body', ARGV[2])
redis.call('HDEL', KEYS[1], 'by')
if current then
  redis.call('XTRIM', KEYS[2], 'MINID', current)
  redis.call('SET', KEYS[3], current)
end
return 1
"""


def stream_key(entry_id: str) -> tuple[int, int]:
    """A stream id (``ms-seq``) as numbers, to compare ids."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True)
class ClusterKeys:
    """The Redis keys of one cluster (``namespace`` lets several share a database)."""

    namespace: str = "sshchat"

    @property
    def stream(self) -> str:
        return f"{self.namespace}:log"

    @property
    def nodes(self) -> str:
        return f"{self.namespace}:nodes"

    @property
    def epoch(self) -> str:
        return f"{self.namespace}:epoch"

    @property
    def snapshot(self) -> str:
        return f"{self.namespace}:snapshot"

    @property
    def trimmed(self) -> str:
        return f"{self.namespace}:trimmed"

    def lease(self, prefix: str) -> str:
        return f"{self.namespace}:lease:{prefix}"

    def gone(self, prefix: str) -> str:
        return f"{self.namespace}:gone:{prefix}"


def connect_redis(url: str, *, block_ms: int = BLOCK_MS) -> aioredis.Redis:
    """A client for ``url`` whose socket timeout is above the XREAD block time."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=block_ms / 1000 + 4.0,
        socket_connect_timeout=3.0,
        health_check_interval=10,
        socket_keepalive=True,
    )


def startup_error(url: str, err: BaseException, config: str = "the config file") -> StartupError:
    return StartupError(
        f"[cluster] redis_url = {url!r}",
        f"cannot reach Redis there ({err or type(err).__name__})",
        f"start Redis at that address (e.g. `redis-server --appendonly yes`), correct "
        f"redis_url in the [cluster] table of {config}, or remove the [cluster] table to "
        "run a single node",
    )


def entry_prefix(node: str, incarnation: str) -> str:
    return f"{node}/{incarnation}/"


class RedisFactLog:
    """A :class:`~sshchat.core.ports.ReplicatedLog` over one Redis Stream."""

    def __init__(
        self,
        url: str,
        node: str,
        *,
        keys: ClusterKeys | None = None,
        renew: float = DEFAULT_RENEW,
        expire: float = DEFAULT_EXPIRE,
        give_up: float = GIVE_UP,
        block_ms: int = BLOCK_MS,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        status: Callable[[], dict[str, Any]] | None = None,
        on_reset: Callable[[], None] | None = None,
        snapshot_every: float = SNAPSHOT_EVERY,
        checkpoint: Callable[[str, str], None] | None = None,
        reseed_window: float | None = None,
        adopt_within: float = ADOPT_WITHIN,
        raw: bool | None = None,
    ) -> None:
        """``renew`` / ``expire``: the lease intervals (seconds; tests make them short).

        ``status`` adds to what the lease shows ``sshchat cluster status``
        (the app gives the session count). ``on_reset`` is called once when
        Redis is found to have lost everything (restarted without persistence).
        ``snapshot_every``: seconds between snapshots; ``checkpoint(applied, body)``
        is given the same body for the node's own store (see :meth:`attach_state`).
        ``reseed_window``: seconds between noticing that Redis lost everything and
        closing the election of the node whose state re-seeds it (default: one lease
        renewal plus two seconds, so that every running node has noticed and stood).
        ``raw``: append and read the stream through connections of
        :mod:`sshchat.cluster.streamread` (several loop turns less per line;
        default: whenever the URL is plain TCP) rather than through redis-py.
        """
        self.url = url
        self.node = node
        self.keys = keys or ClusterKeys()
        self.renew = renew
        self.expire = expire
        self.give_up = give_up
        self.block_ms = block_ms
        self._monotonic = monotonic
        self._wall = wall
        self._status = status
        self._on_reset = on_reset
        self.resets = 0  # times Redis was found emptied
        self.redis = connect_redis(url, block_ms=block_ms)
        # Append and read through streamread when it can (None: whenever it can).
        can = streamread.available(self.redis.connection_pool.connection_kwargs)
        self.raw_read = self.raw_write = can if raw is None else raw and can
        self._appending: streamread.StreamAppending | None = None
        self._raw_sent = 0  # the last sequence sent on _appending (this incarnation)
        self.incarnation = os.urandom(4).hex()
        self.started = wall()
        self.applied_id = "0-0"  # the last stream entry applied here
        self.epoch: str | None = None
        self._counter = 0  # ids
        self._seq = 0  # batches appended by this incarnation
        self._done_seq = 0  # batches of this incarnation applied (or given up)
        self._skipped: set[int] = set()  # refused after a re-seed: done once those before are
        self._seen: dict[str, int] = {}  # entry prefix -> last sequence applied
        self._queue: deque[tuple[int, list[Fact], float]] = deque()
        # Appended but not yet seen applied: what Redis losing everything would lose.
        self._inflight: deque[tuple[int, list[Fact], float]] = deque()
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._lease_ok = asyncio.Event()
        self._renewed = monotonic()
        self._apply: BatchApplier | None = None
        self._unsent: Unsent | None = None
        self._appliers: list[Applier] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._declare = self.redis.register_script(_DECLARE_GONE)
        self._declare_orphan = self.redis.register_script(_DECLARE_ORPHAN)
        self._renew_script = self.redis.register_script(_RENEW)
        self._redis_down_since: float | None = None
        self._grace_until = 0.0  # no node is declared gone before (after Redis came back)
        self.closed = False
        self._halted = False
        self._leaving = False
        self.snapshot_every = snapshot_every
        self._checkpoint = checkpoint
        self._dump: Callable[[], dict[str, Any]] | None = None
        self._load: Callable[[dict[str, Any]], None] | None = None
        self._snapshot_script = self.redis.register_script(_SNAPSHOT)
        self._snapshot_at = monotonic()
        self._snapshot_id = "0-0"  # the position of the last snapshot written here
        self.base = "0-0"  # where this node's state started (a snapshot's id, or 0-0)
        self.base_from = "log"  # "log", "local" (own checkpoint) or "redis" (a snapshot)
        self.reseed_window = renew + 2.0 if reseed_window is None else reseed_window
        self.adopt_within = adopt_within
        self._reseed_script = self.redis.register_script(_RESEED)
        self._epoch_lock = asyncio.Lock()
        self._recheck_epoch = False  # the reader lost Redis: look at the epoch before reading
        # Re-seed elections: epoch -> candidates (position, marker id, prefix) seen so far.
        self._candidates: dict[str, list[tuple[tuple[int, int], str, str]]] = {}
        self._standing: set[str] = set()  # epochs this node stood in, not yet closed
        self._closed: set[str] = set()  # epochs whose election is settled
        self._closing: set[str] = set()  # epochs this node will append a close marker for
        # (epoch, close id, candidates best first): the base this node is waiting for.
        self._adopt: tuple[str, str, list[str]] | None = None
        # The epoch whose re-seed this node has not settled yet (writes wait for it),
        # and the position it stands with.
        self._reseeding: str | None = None
        self._reseed_position = "0-0"
        self._sessions: Callable[[], Iterable[str]] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.reseeds = 0  # elections settled here
        self.reseeded_from: str | None = None  # the winner's prefix, at the last one

    # -- the FactLog port -----------------------------------------------------------

    @property
    def prefix(self) -> str:
        """What this incarnation's session and fact ids start with."""
        return entry_prefix(self.node, self.incarnation)

    def ids(self) -> str:
        """A new id, unique in the cluster: ``<node>/<incarnation>/<n>``."""
        self._counter += 1
        return f"{self.prefix}{self._counter}"

    def subscribe(self, apply: Applier) -> None:
        """Per-fact appliers (a hub subscribes with :meth:`subscribe_batches` instead)."""
        self._appliers.append(apply)

    def subscribe_batches(self, apply: BatchApplier, unsent: Unsent) -> None:
        self._apply = apply
        self._unsent = unsent

    def attach_state(
        self,
        dump: Callable[[], dict[str, Any]],
        load: Callable[[dict[str, Any]], None],
        sessions: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        """How to take the hub's state for a snapshot, and give it one to start from.

        Without them a node replays the whole stream and writes no snapshot.
        ``sessions``: the ids of the sessions the state has open (every node's),
        so that after a re-seed the sessions of a node that did not come back
        are ended (see :meth:`_watch_orphans`).
        """
        self._dump = dump
        self._load = load
        self._sessions = sessions

    # -- snapshots and checkpoints --------------------------------------------------

    def checkpoint_body(self) -> str:
        """The state applied so far, with the stream id and the duplicates filter it goes with.

        Taken between two entries (on the event loop), so it is exactly the
        state after ``applied``.
        """
        if self._dump is None:
            raise RuntimeError("no state attached (attach_state)")
        body = {
            "epoch": self.epoch,
            "applied": self.applied_id,
            "seen": self._seen,
            "state": self._dump(),
        }
        return json.dumps(body, separators=(",", ":"))

    async def snapshot(self) -> bool:
        """Write a checkpoint to the store and, if newer than Redis's, a snapshot there.

        Returns whether Redis kept it (the stream was then trimmed behind the one before).
        """
        if self._dump is None or self.applied_id == "0-0" or self._electing:
            return False  # during a re-seed only the winner's state may become the base
        applied = self.applied_id
        body = self.checkpoint_body()
        self._snapshot_at = self._monotonic()
        if self._checkpoint is not None:
            try:
                self._checkpoint(applied, body)
            except Exception:
                log.exception("keeping the checkpoint failed")
        if applied == self._snapshot_id:
            return False
        kept = await self._snapshot_script(
            keys=[self.keys.snapshot, self.keys.stream, self.keys.trimmed, self.keys.epoch],
            args=[applied, zlib.compress(body.encode()), self.epoch or ""],
        )
        self._snapshot_id = applied
        if kept:
            log_event(log, "cluster.snapshot", node=self.node, applied=applied, bytes=len(body))
        return bool(kept)

    async def _choose_base(self, local: str | None) -> dict[str, Any] | None:
        """The newest usable start: this node's checkpoint or the snapshot in Redis."""
        candidates: list[tuple[str, dict[str, Any]]] = []
        if local is not None:
            try:
                body = json.loads(local)
                if body.get("epoch") == self.epoch:
                    candidates.append(("local", body))
                else:
                    log_event(log, "cluster.checkpoint_other_epoch", node=self.node)
            except (ValueError, AttributeError) as err:
                log_event(log, "cluster.bad_checkpoint", logging.ERROR, error=str(err))
        raw: Any = await self.redis.hget(self.keys.snapshot, "body")
        if raw:
            try:
                candidates.append(("redis", json.loads(zlib.decompress(raw))))
            except (ValueError, zlib.error) as err:
                log_event(log, "cluster.bad_snapshot", logging.ERROR, error=str(err))
        trimmed_raw = await self.redis.get(self.keys.trimmed)
        trimmed = trimmed_raw.decode() if isinstance(trimmed_raw, bytes) else "0-0"
        usable = [
            (source, body)
            for source, body in candidates
            if isinstance(body.get("applied"), str)
            and stream_key(body["applied"]) >= stream_key(trimmed)
        ]
        if not usable:
            if stream_key(trimmed) > (0, 0):
                raise StartupError(
                    f"Redis key {self.keys.snapshot!r} at {self.url}",
                    f"the log was trimmed to {trimmed} but no usable snapshot covers it",
                    "start this node again once a running node has written a snapshot "
                    f"(every [cluster] snapshot_every seconds), or delete {self.keys.trimmed!r} "
                    "to start from what is left of the log",
                )
            return None
        source, best = max(usable, key=lambda c: stream_key(c[1]["applied"]))
        best["source"] = source
        return best

    def append(self, facts: Sequence[Fact]) -> None:
        """Queue ``facts`` as one entry; the writer task sends it (never blocks)."""
        if not facts or self.closed:
            return
        self._seq += 1
        entry = (self._seq, list(facts), self._monotonic())
        self._queue.append(entry)
        if self._raw_sent == self._seq - 1 and self._raw_ready():
            self._send_raw(entry)  # on its way to Redis in this very turn
        else:
            self._wake.set()

    # -- start-up ------------------------------------------------------------------------

    async def connect(
        self, within: float = CONNECT_WITHIN, config: str = "the config file"
    ) -> None:
        """Reach Redis (trying for ``within`` seconds) or raise a :class:`StartupError`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            try:
                await asyncio.wait_for(self.redis.ping(), timeout=5.0)
                break
            except (*_RETRYABLE, ValueError) as err:
                if loop.time() >= deadline or isinstance(err, ValueError):
                    await self._close_client()
                    raise startup_error(self.url, err, config) from None
                await asyncio.sleep(0.5)
        await self.redis.set(self.keys.epoch, os.urandom(8).hex(), nx=True)
        raw = await self.redis.get(self.keys.epoch)
        self.epoch = raw.decode() if isinstance(raw, bytes) else None

    async def catch_up(self, local: str | None = None) -> int:
        """Start from the newest base, then apply every entry after it; returns how many.

        ``local`` is this node's last checkpoint (from its store), if any. The
        base is that or the snapshot in Redis, whichever is newer and still
        continuable (see the module docstring); none: the whole stream.
        """
        if self._load is not None:
            base = await self._choose_base(local)
            if base is not None and stream_key(base["applied"]) > stream_key(self.applied_id):
                self._load(base["state"])
                self.applied_id = self.base = self._snapshot_id = base["applied"]
                self._seen = {str(k): int(v) for k, v in base["seen"].items()}
                self.base_from = base["source"]
                log_event(
                    log, "cluster.base", node=self.node, source=self.base_from, applied=self.base
                )
        count = 0
        while True:
            entries: Any = await self.redis.xrange(
                self.keys.stream, min=f"({self.applied_id}", count=READ_COUNT
            )
            if not entries:
                return count
            for entry_id, fields in entries:
                count += 1
                if self._deliver(entry_id, fields):
                    await self._adopt_base()
                    break  # read on after the adopted base

    async def start(self) -> None:
        """Register this node's lease and start the reader, writer and lease tasks."""
        self._halted = False
        self._recheck_epoch = True  # Redis may have lost everything while this node was away
        for attempt in (1, 2):
            try:
                await self._register()
            except LeaseLost:  # resumed after being declared gone
                await self._new_incarnation()
            except _RETRYABLE as err:
                # A pooled connection Redis closed while this node was halted fails
                # once (redis-py then drops it); still failing, the lease loop retries.
                if attempt == 2:
                    self._redis_failed("lease", err)
                continue
            break
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._read_loop()),
            loop.create_task(self._write_loop()),
            loop.create_task(self._lease_loop()),
        ]

    async def halt(self) -> None:
        """Stop reading, writing and renewing the lease, without leaving the cluster.

        What a node killed or paused looks like to the others (tests); :meth:`start`
        resumes -- and first finds out whether the lease was lost meanwhile.
        """
        self._halted = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    @property
    def running(self) -> bool:
        return not (self.closed or self._halted)

    async def settled(self, timeout: float | None = None) -> None:
        """Wait until every batch appended so far has been applied here (or given up)."""
        target = self._seq

        async def wait() -> None:
            while self._done_seq < target and not self.closed:
                self._progress.clear()
                await self._progress.wait()

        await asyncio.wait_for(wait(), timeout)

    async def close(self, *, flush: float = 3.0) -> None:
        """Send what is queued (for up to ``flush`` seconds), leave the cluster, disconnect.

        Leaving appends this node's own :class:`NodeGone`, so that sessions it
        could not close cleanly end everywhere at once rather than at lease expiry.
        """
        if self.closed:
            return
        with contextlib.suppress(asyncio.TimeoutError, RedisError, OSError):
            await self._leave(flush)
        self.closed = True
        for task in [*self._tasks, *self._background]:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._close_client()

    async def _leave(self, flush: float) -> None:
        if not self._tasks:
            return
        self._leaving = True  # its own NodeGone is a goodbye, not news (see _deliver)
        declared = await self._declare_self_gone()
        if declared:
            self.append([NodeGone(self.ids(), self._wall(), self.prefix, "")])
        await self.settled(flush)
        if self._checkpoint is not None and self._dump is not None:
            # A clean restart reads on from exactly here.
            self._checkpoint(self.applied_id, self.checkpoint_body())
        await self.redis.delete(self.keys.lease(self.prefix))

    async def _declare_self_gone(self) -> bool:
        prefix = self.prefix
        await self.redis.delete(self.keys.lease(prefix))
        result = await self._declare(
            keys=[self.keys.lease(prefix), self.keys.gone(prefix), self.keys.nodes],
            args=[self.node, prefix],
        )
        return bool(result)

    async def _close_client(self) -> None:
        self._drop_appending()
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    # -- reading -------------------------------------------------------------------------

    def _deliver(self, entry_id: Any, fields: Any) -> bool:
        """Apply one stream entry (skipping a duplicate of a retried append).

        Returns True when reading must stop here: a re-seed was settled at
        this entry and this node is to adopt the winner's state
        (:meth:`_adopt_base`) before it applies anything after it.
        """
        ident = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        self.applied_id = ident
        if b"m" in fields:
            return self._marker(ident, fields)
        try:
            node = fields[b"n"].decode()
            incarnation = fields[b"i"].decode()
            seq = int(fields[b"s"])
            facts = [decode(line) for line in fields[b"f"].split(b"\n") if line]
        except (KeyError, ValueError, UnicodeDecodeError, FactDecodeError) as err:
            log_event(log, "cluster.bad_entry", logging.ERROR, entry=ident, error=str(err))
            return False
        prefix = entry_prefix(node, incarnation)
        if seq <= self._seen.get(prefix, 0):
            return False  # a retried append stored twice: applied once, everywhere
        self._seen[prefix] = seq
        if not self._leaving and any(
            isinstance(fact, NodeGone) and fact.prefix == self.prefix for fact in facts
        ):
            self._incarnate()  # declared gone: its sessions end now, new ones are decided anew
            self._spawn(self._register_soon())
        try:
            if self._apply is not None:
                self._apply(facts)
            else:
                for fact in facts:
                    for apply in self._appliers:
                        apply(fact)
        except Exception:
            log.exception("applying stream entry %s failed", ident)
        if prefix == self.prefix:
            self._done(seq)
        return False

    def _done(self, seq: int) -> None:
        if seq > self._done_seq:
            self._done_seq = seq
        while self._done_seq + 1 in self._skipped:
            self._skipped.discard(self._done_seq + 1)
            self._done_seq += 1
        inflight = self._inflight
        while inflight and inflight[0][0] <= self._done_seq:
            inflight.popleft()
        # Applied before the writer saw its XADD reply (the reader handles replies in
        # the turn they arrive): not waiting for Redis any more, whatever happens next.
        queue = self._queue
        while queue and queue[0][0] <= self._done_seq:
            queue.popleft()
        self._progress.set()

    async def _read_loop(self) -> None:
        while self.running:
            await self._lease_valid()
            try:
                if self._recheck_epoch:
                    # Back after losing Redis: if it lost everything, stand in the
                    # re-seed with the position applied before the loss, before
                    # applying anything of the new log.
                    await self._check_epoch()
                    self._recheck_epoch = False
                if self.raw_read:
                    if await self._read_raw():
                        await self._adopt_base()
                    continue
                response: Any = await self.redis.xread(
                    {self.keys.stream: self.applied_id}, block=self.block_ms, count=READ_COUNT
                )
            except _RETRYABLE as err:
                self._redis_failed("read", err)
                self._recheck_epoch = True
                await asyncio.sleep(0.5)
                continue
            self._redis_ok()
            if await self._apply_entries(response):
                await self._adopt_base()

    async def _read_raw(self) -> bool:
        """Read with :class:`StreamReading` until it hands back; True to adopt a re-seed.

        In the steady state each XREAD reply is applied, and the next XREAD sent,
        in the loop turn the reply arrives (see :mod:`sshchat.cluster.streamread`).
        It hands back to :meth:`_read_loop` when anything needs its slower path:
        a lease to check, the epoch to look at, a re-seed to adopt, or an error.
        """
        adopt = False

        def on_reply(reply: Any) -> bool:
            nonlocal adopt
            self._redis_ok()
            if not self.raw_read:  # switched off meanwhile: the read loop reads this again
                return False
            for stream, entries in reply or ():
                del stream
                for entry_id, flat in entries:
                    fields = dict(zip(flat[::2], flat[1::2], strict=True))
                    if self._deliver(entry_id, fields):
                        adopt = True
                        return False
            return (
                self.running
                and not self._recheck_epoch
                and self._monotonic() - self._renewed <= self.expire
            )

        setup = self._setup()
        transport, reading = await self._raw_connect(
            lambda: streamread.StreamReading(
                self.keys.stream,
                lambda: self.applied_id,
                on_reply,
                block_ms=self.block_ms,
                count=READ_COUNT,
                timeout=self.block_ms / 1000 + 4.0,
                setup=setup,
            )
        )
        try:
            await reading.done
        finally:
            transport.close()
        return adopt

    async def _raw_connect(self, protocol: Callable[[], _Raw]) -> tuple[asyncio.Transport, _Raw]:
        """A raw connection (:mod:`~sshchat.cluster.streamread`) to the URL's host and port."""
        kwargs = self.redis.connection_pool.connection_kwargs
        loop = asyncio.get_running_loop()
        transport, connection = await asyncio.wait_for(
            loop.create_connection(protocol, kwargs["host"], kwargs["port"]), timeout=3.0
        )
        return transport, connection

    async def _apply_entries(self, response: Any) -> bool:
        """Apply what XREAD returned; True if it stopped at a re-seed to adopt."""
        for _stream, entries in response or ():
            for entry_id, fields in entries:
                if self._deliver(entry_id, fields):
                    return True
        return False

    # -- re-seeding after Redis lost everything -----------------------------------------

    @property
    def _electing(self) -> bool:
        return bool(self._standing or self._candidates or self._adopt)

    async def _stand(self, position: str) -> None:
        """Stand in the re-seed of the current epoch with ``position``; close it later."""
        epoch = self.epoch or ""
        if epoch in self._standing or epoch in self._closed:
            return
        await self.redis.xadd(
            self.keys.stream,
            {"m": "candidate", "e": epoch, "p": position, "n": self.node, "i": self.incarnation},
        )
        self._standing.add(epoch)
        log_event(log, "cluster.reseed_stand", node=self.node, epoch=epoch, position=position)
        self._schedule_close(epoch)

    def _schedule_close(self, epoch: str) -> None:
        """Close the election of ``epoch`` after the window (every node that saw it does)."""
        if epoch not in self._closing:
            self._closing.add(epoch)
            self._spawn(self._close_election(epoch))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _close_election(self, epoch: str) -> None:
        await asyncio.sleep(self.reseed_window)
        while self.running and epoch not in self._closed and epoch == self.epoch:
            try:
                await self.redis.xadd(self.keys.stream, {"m": "close", "e": epoch})
                return
            except _RETRYABLE as err:
                self._redis_failed("reseed", err)
                await asyncio.sleep(0.5)

    def _marker(self, ident: str, fields: Any) -> bool:
        """A re-seed marker: count a candidate, or settle the election at its close."""
        try:
            kind = fields[b"m"].decode()
            epoch = fields[b"e"].decode()
            if kind == "candidate":
                prefix = entry_prefix(fields[b"n"].decode(), fields[b"i"].decode())
                position = stream_key(fields[b"p"].decode())
        except (KeyError, ValueError, UnicodeDecodeError) as err:
            log_event(log, "cluster.bad_entry", logging.ERROR, entry=ident, error=str(err))
            return False
        if epoch in self._closed:
            return False  # a late candidate or a second close: settled already
        if kind == "candidate":
            self._candidates.setdefault(epoch, []).append((position, ident, prefix))
            if epoch == self.epoch:  # should every candidate die, the election still ends
                self._schedule_close(epoch)
            return False
        if kind != "close":
            return False
        self._closed.add(epoch)
        self._standing.discard(epoch)
        candidates = self._candidates.pop(epoch, [])
        if not candidates:
            self._reseed_settled(epoch, replaced=False)
            return False
        # The highest position wins; on a tie, the earliest marker (same on every node).
        # The others are ranked the same way: should the winner die before writing
        # its state, the next one writes its own (see _adopt_base).
        ordered = sorted(
            candidates, key=lambda c: (c[0], tuple(-n for n in stream_key(c[1]))), reverse=True
        )
        ranked = list(dict.fromkeys(prefix for _position, _marker, prefix in ordered))
        best = ordered[0]
        winner = ranked[0]
        self.reseeds += 1
        self.reseeded_from = winner
        log_event(
            log,
            "cluster.reseed",
            logging.WARNING,
            node=self.node,
            winner=winner,
            position=f"{best[0][0]}-{best[0][1]}",
            at=ident,
        )
        if self._load is None or self._dump is None:
            self._reseed_settled(epoch, replaced=False)
            return False
        self._adopt = (epoch, ident, ranked)
        return True

    async def _adopt_base(self) -> None:
        """Settle the base at the close marker: write this node's state, or load another's.

        Every node stops reading at the close marker, so its state is exactly
        what it was there. The best-ranked candidate writes its state as the
        new base at once; a lower-ranked one writes its own only when every
        candidate above it has no lease (it died, or lost Redis, after winning;
        looked at no sooner than one renewal after the close, so that a live
        winner has registered) or ``adopt_within`` seconds per rank above it
        have passed. Redis keeps only the first base written at that marker
        (:data:`_RESEED`), and every node -- a slow winner included -- loads
        that one, so the nodes agree whoever wrote it. Should nobody write one
        within the deadline of every rank, this node goes on with its own state.
        """
        if self._adopt is None:
            return
        epoch, ident, ranked = self._adopt
        rank = ranked.index(self.prefix) if self.prefix in ranked else None
        body = None
        if rank is not None and self._dump is not None:
            body = zlib.compress(self.checkpoint_body().encode())  # the state at the marker
        started = self._monotonic()
        deadline = started + self.adopt_within * (len(ranked) + 1)
        replaced = False
        try:
            while self.running:
                try:
                    raw: Any = await self.redis.hmget(self.keys.snapshot, ["id", "body", "by"])
                    kept = raw[0].decode() if raw[0] is not None else None
                    # The base at the marker -- or a newer snapshot, should this node
                    # have been cut off while the others settled and went on.
                    if kept is not None and stream_key(kept) >= stream_key(ident) and raw[1]:
                        by = raw[2].decode() if raw[2] is not None else "?"
                        self.reseeded_from = by
                        if by != self.prefix or kept != ident:
                            replaced = self._load_base(kept, raw[1], by)
                        else:
                            self._snapshot_id = ident
                        return
                    if (
                        body is not None
                        and rank is not None
                        and await self._my_turn(ranked[:rank], started)
                    ):
                        written = await self._reseed_script(
                            keys=[self.keys.snapshot, self.keys.epoch],
                            args=[ident, body, epoch, self.prefix],
                        )
                        if written == -1:  # Redis was reset again: that re-seed decides
                            return
                        continue  # read back what was kept: this one, or an earlier one
                except _RETRYABLE as err:
                    self._redis_failed("reseed", err)
                if self._monotonic() > deadline:
                    log_event(
                        log,
                        "cluster.reseed_missing",
                        logging.ERROR,
                        node=self.node,
                        winner=ranked[0],
                    )
                    return
                await asyncio.sleep(0.05)
        finally:
            self._adopt = None
            self._reseed_settled(epoch, replaced=replaced)

    async def _my_turn(self, above: list[str], started: float) -> bool:
        """Whether this candidate writes its state: nobody ranked above it can any more."""
        if not above:
            return True
        waited = self._monotonic() - started
        if waited >= self.adopt_within * len(above):
            return True
        if waited < self.renew + 1.0:
            return False
        alive = await self.redis.exists(*(self.keys.lease(prefix) for prefix in above))
        return not alive

    def _load_base(self, ident: str, raw: bytes, winner: str) -> bool:
        try:
            body = json.loads(zlib.decompress(raw))
            if self._load is None:
                return False
            self._load(body["state"])
            seen = {str(k): int(v) for k, v in body["seen"].items()}
        except Exception as err:  # a damaged base: keep our own state, say so
            log_event(log, "cluster.reseed_bad", logging.ERROR, node=self.node, error=str(err))
            return False
        self._seen = seen
        self.applied_id = self.base = self._snapshot_id = ident
        self.base_from = "reseed"
        self._done(seen.get(self.prefix, 0))
        log_event(log, "cluster.reseed_adopted", node=self.node, winner=winner, at=ident)
        return True

    def _reseed_settled(self, epoch: str, *, replaced: bool) -> None:
        """The base of ``epoch`` is settled here: send again what Redis lost, or refuse it.

        What is still in flight was appended before Redis lost everything and
        is in no base (the base's sequence for this incarnation is below it):
        it goes back to the front of the queue under the same sequences (the
        writer has held everything newer back, so the order and the
        (node, incarnation, sequence) dedup hold). Batches decided against a
        state that the re-seed ``replaced`` are refused instead, unless safe
        to send again (:func:`~sshchat.core.replication.resendable`); their
        proposers are told. Writing resumes.
        """
        if self._reseeding != epoch:
            return
        self._reseeding = None
        lost = [batch for batch in self._inflight if batch[0] > self._seen.get(self.prefix, 0)]
        self._inflight.clear()
        now = self._monotonic()
        again: list[tuple[int, list[Fact], float]] = []
        refused = 0
        for seq, facts, since in lost:
            if replaced and not resendable(facts):
                refused += 1
                self._skipped.add(seq)
                self._done(self._done_seq)
                if self._unsent is not None:
                    try:
                        self._unsent(facts, now - since, True)
                    except Exception:
                        log.exception("telling of a refused batch failed")
            else:
                again.append((seq, facts, since))
        self._queue.extendleft(reversed(again))
        if lost:
            log_event(
                log,
                "cluster.reseed_resend",
                logging.WARNING,
                node=self.node,
                resent=len(again),
                refused=refused,
            )
        self._wake.set()

    # -- writing -------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        while self.running:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._lease_valid()
            if self._recheck_epoch or self._reseeding is not None:
                # Redis was away, or lost everything: nothing newer goes to the log
                # before this node knows which of its batches the log still has
                # (see _reseed_settled); what waits too long is still refused.
                self._drop_appending()
                self._give_up_old()
                await asyncio.sleep(0.05)
                continue
            if self.raw_write:
                try:
                    await self._write_raw()
                except _RETRYABLE as err:
                    self._drop_appending()
                    self._redis_failed("append", err)
                    self._recheck_epoch = True
                    self._give_up_old()
                    await asyncio.sleep(0.3)
                continue
            batch = list(self._queue)[:WRITE_BATCH]
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for seq, facts, _since in batch:
                        pipe.xadd(self.keys.stream, self._fields(seq, facts))
                    await pipe.execute()
            except _RETRYABLE as err:
                self._redis_failed("append", err)
                self._recheck_epoch = True  # the reader looks at the epoch before writes resume
                self._give_up_old()
                await asyncio.sleep(0.3)
                continue
            self._redis_ok()
            sent_seqs = {seq for seq, _facts, _since in batch}
            self._stored(sent_seqs.__contains__)

    def _raw_ready(self) -> bool:
        """Whether an append may go out at once on :attr:`_appending` (else: the writer task)."""
        appending = self._appending
        return (
            appending is not None
            and appending.open
            and not self._recheck_epoch
            and self._reseeding is None
            and not self._halted
            and not self.closed
            and self._lease_ok.is_set()
            and self._monotonic() - self._renewed <= self.expire
        )

    def _send_raw(self, entry: tuple[int, list[Fact], float]) -> None:
        assert self._appending is not None
        seq, facts, _since = entry
        fields = self._fields(seq, facts)
        args: list[Any] = ["XADD", self.keys.stream, "*"]
        for key, value in fields.items():
            args += [key, value]
        self._appending.send((self.incarnation, seq), streamread.pack(*args))
        self._raw_sent = seq

    def _raw_acked(self, tag: tuple[str, int]) -> None:
        """Redis has the entry: it waits to be applied here now (as after a pipeline)."""
        self._redis_ok()
        incarnation, seq = tag
        if incarnation != self.incarnation:
            return  # the previous incarnation's, whose queue was dropped
        self._stored(lambda queued: queued <= seq)

    def _stored(self, has: Callable[[int], bool]) -> None:
        """Redis has the queued batches at the front whose sequence ``has`` accepts: they
        leave the queue and wait to be applied here (in flight)."""
        queue = self._queue
        while queue and has(queue[0][0]):
            sent = queue.popleft()
            if sent[0] > self._done_seq:  # else applied already (the reader was quicker)
                self._inflight.append(sent)

    def _drop_appending(self) -> None:
        """Stop appending on the raw connection; what it had not acknowledged is sent again."""
        if self._appending is not None:
            done = self._appending.done
            if done.done() and not done.cancelled():
                done.exception()  # retrieved: the caller has reported it, or has no need
            self._appending.close()
            self._appending = None
        self._raw_sent = 0

    async def _write_raw(self) -> None:
        """Send what waits on :attr:`_appending`, then wait for an append it could not send.

        Connects first when needed; raises the error that ended the connection.
        """
        appending = self._appending
        if appending is None or not appending.open:
            self._drop_appending()
            _transport, appending = await self._raw_connect(
                lambda: streamread.StreamAppending(
                    self._raw_acked, timeout=self.block_ms / 1000 + 4.0, setup=self._setup()
                )
            )
            self._appending = appending
        assert appending is not None
        self._wake.clear()
        for entry in list(self._queue):
            if entry[0] > self._raw_sent:
                self._send_raw(entry)
        waiter: asyncio.Future[Any] = asyncio.ensure_future(self._wake.wait())
        ended: asyncio.Future[Any] = appending.done
        try:
            await asyncio.wait({waiter, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if appending.done.done() and not appending.done.cancelled():
            self._drop_appending()
            appending.done.result()  # raises what ended it

    def _setup(self) -> list[bytes]:
        """AUTH and SELECT for a raw connection, as the URL says."""
        kwargs = self.redis.connection_pool.connection_kwargs
        setup: list[bytes] = []
        if kwargs.get("password"):
            auth = [kwargs["username"]] if kwargs.get("username") else []
            setup.append(streamread.pack("AUTH", *auth, kwargs["password"]))
        if kwargs.get("db"):
            setup.append(streamread.pack("SELECT", kwargs["db"]))
        return setup

    def _fields(self, seq: int, facts: list[Fact]) -> dict[Any, Any]:
        return {
            "n": self.node,
            "i": self.incarnation,
            "s": seq,
            "f": b"\n".join(encode(fact) for fact in facts),
        }

    def _give_up_old(self) -> None:
        """Refuse the batches that waited for Redis longer than ``give_up`` seconds."""
        now = self._monotonic()
        while self._queue and now - self._queue[0][2] > self.give_up:
            seq, facts, since = self._queue.popleft()
            self._done(seq)
            if self._unsent is not None:
                try:
                    self._unsent(facts, now - since)
                except Exception:
                    log.exception("telling of an unsent batch failed")

    def _redis_failed(self, what: str, err: BaseException) -> None:
        if self._redis_down_since is None:
            self._redis_down_since = self._monotonic()
            log_event(
                log,
                "cluster.redis_unreachable",
                logging.WARNING,
                url=self.url,
                during=what,
                error=str(err) or type(err).__name__,
            )

    def _redis_ok(self) -> None:
        if self._redis_down_since is not None:
            down = self._monotonic() - self._redis_down_since
            self._redis_down_since = None
            # Leases could not be renewed meanwhile: give every node a full lease
            # period to renew before anyone is declared gone.
            self._grace_until = self._monotonic() + self.expire
            self._renewed = self._monotonic()
            log_event(log, "cluster.redis_back", url=self.url, seconds=round(down, 1))

    # -- leases --------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What this node's lease shows ``sshchat cluster status``."""
        body: dict[str, Any] = {
            "node": self.node,
            "incarnation": self.incarnation,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "applied": self.applied_id,
            "started": self.started,
            "renewed": self._wall(),
            "queued": len(self._queue),
        }
        if self._status is not None:
            body.update(self._status())
        return body

    async def _register(self) -> None:
        prefix = self.prefix
        result = await self._renew_script(
            keys=[self.keys.lease(prefix), self.keys.gone(prefix), self.keys.nodes],
            args=[
                json.dumps(self.status()),
                int(self.expire * 1000),
                prefix,
                json.dumps({"node": self.node, "host": socket.gethostname(), "pid": os.getpid()}),
            ],
        )
        if result == -1:
            if prefix != self.prefix:
                # The reader applied that incarnation's NodeGone meanwhile and took a
                # new one (see _incarnate): register that one, not a second new one.
                await self._register()
                return
            raise LeaseLost()
        self._renewed = self._monotonic()
        self._lease_ok.set()

    async def _lease_valid(self) -> None:
        """Before reading or writing: a lease not renewed for ``expire`` s is checked first."""
        if self._monotonic() - self._renewed > self.expire:
            self._lease_ok.clear()
        await self._lease_ok.wait()

    async def _check_epoch(self) -> None:
        """Notice Redis restarted empty: its epoch key (set by the first node) is gone.

        The stream is gone with it: the first node to notice sets a new epoch,
        every node stands in the re-seed with the position it had applied (see
        the module docstring) and tells its users once (``on_reset``) that
        history written meanwhile may be incomplete.
        """
        async with self._epoch_lock:  # the reader and the lease loop both look
            position = self.applied_id
            raw = await self.redis.get(self.keys.epoch)
            current = raw.decode() if isinstance(raw, bytes) else None
            if current is not None and current == self.epoch:
                if self._reseeding == current:  # standing failed (Redis away again): retry
                    await self._stand(self._reseed_position)
                return
            await self.redis.set(self.keys.epoch, os.urandom(8).hex(), nx=True)
            raw = await self.redis.get(self.keys.epoch)
            self.epoch = raw.decode() if isinstance(raw, bytes) else None
            self.resets += 1
            self._reseeding = self.epoch
            self._reseed_position = position
            log_event(log, "cluster.redis_reset", logging.WARNING, url=self.url, node=self.node)
            if self._on_reset is not None:
                try:
                    self._on_reset()
                except Exception:
                    log.exception("telling of a Redis reset failed")
            # Registered before standing: a runner-up takes a candidate without a
            # lease for dead (see _my_turn). A lost lease is the lease loop's to handle.
            with contextlib.suppress(LeaseLost):
                await self._register()
            await self._stand(position)

    async def _lease_loop(self) -> None:
        while self.running:
            overdue = self._monotonic() - self._renewed > self.expire
            try:
                await self._check_epoch()
                await self._register()
            except LeaseLost:
                await self._new_incarnation()
            except _RETRYABLE as err:
                self._redis_failed("lease", err)
                if overdue:
                    self._lease_ok.set()  # Redis is away: reading and writing retry by themselves
            try:
                if self._monotonic() >= self._grace_until:
                    await self._watch_others()
                if self._monotonic() - self._snapshot_at >= self.snapshot_every:
                    await self.snapshot()
            except _RETRYABLE as err:
                self._redis_failed("lease", err)
            await asyncio.sleep(min(self.renew, self.snapshot_every))

    async def _new_incarnation(self) -> None:
        """This node was declared gone (paused or cut off too long): start afresh."""
        self._incarnate()
        await self._register()

    async def _register_soon(self) -> None:
        """Register the incarnation the reader just took; the lease loop retries on failure."""
        with contextlib.suppress(LeaseLost, *_RETRYABLE):
            await self._register()

    def _incarnate(self) -> None:
        """Take a new incarnation, at once (no await), after this one was declared gone.

        The ``NodeGone`` in the log ends the old incarnation's sessions here
        too, telling their users; batches the old incarnation still had
        queued are dropped (their sessions are ending). Called by the lease
        loop on a lost lease, or by the reader just before it applies this
        incarnation's own ``NodeGone`` -- whichever comes first: a user told
        "reconnect" by that ``NodeGone`` must be let in under the new prefix,
        not decided under the gone one and refused.
        """
        old = self.prefix
        dropped = len(self._queue)
        now = self._monotonic()
        for seq, facts, since in list(self._queue):
            self._done(seq)
            if self._unsent is not None:  # their proposers are told, nothing waits for them
                self._unsent(facts, now - since)
        self._queue.clear()
        self._inflight.clear()  # in the log (applied with the old sessions) or lost with them
        self._skipped.clear()
        self.incarnation = os.urandom(4).hex()
        self._seq = 0
        self._done_seq = 0
        self._drop_appending()
        log_event(
            log,
            "cluster.lease_lost",
            logging.WARNING,
            node=self.node,
            old=old,
            new=self.prefix,
            dropped=dropped,
        )

    async def _watch_others(self) -> None:
        """Declare gone, once, every listed node whose lease expired."""
        listed = await self.redis.hgetall(self.keys.nodes)
        for raw in listed:
            prefix = raw.decode() if isinstance(raw, bytes) else str(raw)
            if prefix == self.prefix:
                continue
            declared = await self._declare(
                keys=[self.keys.lease(prefix), self.keys.gone(prefix), self.keys.nodes],
                args=[self.node, prefix],
            )
            if declared:
                log_event(log, "cluster.node_gone", logging.WARNING, prefix=prefix, by=self.node)
                self.append([NodeGone(self.ids(), self._wall(), prefix, NODE_GONE_REASON)])
        if self.resets:
            await self._watch_orphans(listed)

    async def _watch_orphans(self, listed: Any) -> None:
        """After Redis lost everything: end the sessions of nodes that did not come back.

        A node that died while Redis was away (or a re-seed winner that died
        before registering again) is not listed in the new Redis, so its lease
        can never be seen to expire; its sessions in the (re-seeded) state
        would show online for ever. Once every node had a full lease period to
        register (``_grace_until``), such a node is declared gone, once.
        """
        if self._sessions is None or self._reseeding is not None or self._adopt is not None:
            return
        known = {raw.decode() if isinstance(raw, bytes) else str(raw) for raw in listed}
        prefixes = {session.rpartition("/")[0] + "/" for session in self._sessions()}
        for prefix in sorted(prefixes - known - {self.prefix}):
            declared = await self._declare_orphan(
                keys=[self.keys.lease(prefix), self.keys.gone(prefix), self.keys.nodes],
                args=[self.node, prefix],
            )
            if declared:
                log_event(log, "cluster.node_gone", logging.WARNING, prefix=prefix, by=self.node)
                self.append([NodeGone(self.ids(), self._wall(), prefix, NODE_GONE_REASON)])


class LeaseLost(Exception):
    """This incarnation was declared gone by another node."""
