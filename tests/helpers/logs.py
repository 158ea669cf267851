"""A replicated log held in memory: batches wait until a test releases them.

What a cluster node's hub sees between appending a batch and the shared log
handing it back, without Redis: tests decide when that happens.
"""

from __future__ import annotations

from collections.abc import Sequence

from sshchat.core.facts import Fact
from sshchat.core.ports import Applier, BatchApplier, Unsent

__all__ = ["HeldLog"]


class HeldLog:
    """A :class:`~sshchat.core.ports.ReplicatedLog` whose batches wait for :meth:`release`."""

    def __init__(self) -> None:
        self.queued: list[list[Fact]] = []
        self._apply: BatchApplier | None = None

    def subscribe(self, apply: Applier) -> None:
        raise AssertionError("a hub subscribes to a replicated log with subscribe_batches")

    def subscribe_batches(self, apply: BatchApplier, unsent: Unsent) -> None:
        self._apply = apply

    def append(self, facts: Sequence[Fact]) -> None:
        self.queued.append(list(facts))

    def release(self) -> int:
        """Apply the batches queued so far (not those appended meanwhile); how many."""
        assert self._apply is not None
        batches, self.queued = self.queued, []
        for batch in batches:
            self._apply(batch)
        return len(batches)
