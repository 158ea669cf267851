"""What every part of the hub is given: the state, delivery, a clock and ids."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sshchat.core.delivery import Delivery
from sshchat.core.facts import Fact
from sshchat.core.ports import Clock, IdSource
from sshchat.core.state import HubState

__all__ = ["Part"]


class Part:
    """A collaborator of the hub: decides with the clock, applies without it.

    Deciding methods return facts; ``appliers`` maps each fact type the part
    owns to the method that applies it.
    """

    def __init__(self, state: HubState, delivery: Delivery, clock: Clock, ids: IdSource) -> None:
        self.state = state
        self.delivery = delivery
        self.clock = clock
        self.ids = ids

    def appliers(self) -> dict[type[Fact], Callable[[Any], None]]:
        raise NotImplementedError
