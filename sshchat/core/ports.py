"""The hub's seams: where facts go, where time and ids come from.

A :class:`FactLog` takes the facts the hub decided and, in order, hands each
to the appliers it was given (:meth:`FactLog.subscribe`). The default
:class:`InProcessLog` applies them at once, in the caller's stack: a single
process behaves as if there were no log. A replicated log (a Redis Stream in
cluster mode) appends instead, and every node's reader applies what comes back,
in the stream's order, through the same ``Hub.apply``.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from sshchat.core.facts import Fact

__all__ = [
    "Applier",
    "BatchApplier",
    "Clock",
    "FactLog",
    "IdSource",
    "InProcessLog",
    "ReplicatedLog",
    "Unsent",
    "new_id_source",
    "wall_clock",
]

Applier = Callable[[Fact], None]
BatchApplier = Callable[[Sequence[Fact]], None]
"""Applies one batch (facts appended together): all of them, or none if refused."""


class Unsent(Protocol):
    """Told of a batch the log gave up appending, and after how many seconds.

    ``replaced``: not given up for want of the log, but because the state it
    was decided against was replaced (a re-seed after the log lost everything)
    and it is not safe to send it again (see
    :func:`sshchat.core.replication.resendable`).
    """

    def __call__(self, facts: Sequence[Fact], seconds: float, replaced: bool = False) -> None: ...


Clock = Callable[[], float]
"""Unix time in seconds (injectable in tests)."""
IdSource = Callable[[], str]
"""Returns a new id, unique among all nodes, each call (fact and session ids)."""


class FactLog(Protocol):
    """Where decided facts go; appliers get them back in one total order."""

    def subscribe(self, apply: Applier) -> None:
        """Call ``apply`` with every fact from now on, in the log's order."""

    def append(self, facts: Sequence[Fact]) -> None:
        """Add ``facts`` (in order, together) to the log."""


@runtime_checkable
class ReplicatedLog(FactLog, Protocol):
    """A log shared by several hubs (cluster mode): batches are applied later.

    Appending only queues the batch; the log hands every batch, this node's
    included, back in the shared order to the :data:`BatchApplier`, which may
    refuse a batch that no longer holds (see :mod:`sshchat.core.replication`).
    """

    def subscribe_batches(self, apply: BatchApplier, unsent: Unsent) -> None:
        """Call ``apply`` with every batch in the log's order; ``unsent`` with batches given up."""


class InProcessLog:
    """The single-process log: appending applies at once, in order.

    Facts appended while others are being applied (an observer acting on a
    fact) wait their turn, so the order is the same for every subscriber.
    """

    __slots__ = ("_appliers", "_busy", "_queue")

    def __init__(self) -> None:
        self._appliers: list[Applier] = []
        self._busy = False
        self._queue: list[Fact] = []

    def subscribe(self, apply: Applier) -> None:
        self._appliers.append(apply)

    def append(self, facts: Sequence[Fact]) -> None:
        if self._busy:
            self._queue.extend(facts)
            return
        self._busy = True
        try:
            for fact in facts:
                for apply in self._appliers:
                    apply(fact)
            while self._queue:
                fact = self._queue.pop(0)
                for apply in self._appliers:
                    apply(fact)
        finally:
            self._busy = False
            self._queue.clear()


def wall_clock() -> float:
    """:func:`time.time`, looked up at each call (tests may patch it)."""
    return time.time()


def new_id_source() -> IdSource:
    """Ids ``<random prefix>-<counter>``: unique across processes, cheap to make."""
    prefix = os.urandom(6).hex()
    counter = itertools.count(1)

    def next_id() -> str:
        return f"{prefix}-{next(counter)}"

    return next_id
