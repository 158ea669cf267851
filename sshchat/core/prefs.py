"""Per-user display preferences, set with slash-commands and kept per account."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BELL_MODES", "Prefs"]

BELL_MODES = ("on", "off", "mentions")


@dataclass
class Prefs:
    """How one user wants to see the chat."""

    quiet: bool = False  # hide join/leave/connect/disconnect notices
    bell: str = "mentions"  # ring the bell for every message, never, or on mentions
    timestamps: bool = True
    color: bool = True  # only matters on a pty; plain line mode never has colour
