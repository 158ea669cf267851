"""The errors a person sees: one base class, one "Fix:" shape.

Every error meant for a person -- an operator starting the server or editing
the config, a user refused by the hub -- derives from :class:`SshchatError`,
so that an entry point can catch them all and print the message instead of a
traceback.  Most of them also say how to put things right; those derive from
:class:`FixError`, which renders one line::

    where: problem. Fix: what to do.

This module imports nothing, so every layer (the chat core included) may use it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["FixError", "SshchatError", "StartupError"]


class SshchatError(Exception):
    """An error whose message is meant for a person; ``str(err)`` is that message."""


class FixError(SshchatError):
    """A problem with where it is and how to fix it: ``"where: problem. Fix: fix."``.

    *where* names the file, key, command or object concerned; None leaves it
    out (the problem then says it). A trailing full stop on *problem* is not
    doubled, and one is added to *fix* unless it ends with ".", "!" or "?".
    """

    def __init__(self, where: Path | str | None, problem: str, fix: str) -> None:
        self.where = where
        self.problem = problem
        self.fix = fix
        super().__init__(self._render())

    def _render(self) -> str:
        problem = self.problem.rstrip().rstrip(".")
        fix = self.fix.strip()
        if fix and fix[-1] not in ".!?":
            fix += "."
        text = f"{problem}. Fix: {fix}"
        return text if self.where is None or self.where == "" else f"{self.where}: {text}"

    def __str__(self) -> str:
        return self._render()


class StartupError(FixError):
    """The server cannot start; the message says why and how to fix it."""
