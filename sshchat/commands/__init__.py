"""Slash-commands: the registry, argument parsing, /help and completion.

:func:`build_registry` makes a registry holding every built-in command; the
composition root builds one and hands it to the front ends, and extensions
may add their own commands to it.
"""

from __future__ import annotations

from sshchat.commands import channels, chat, help, moderation, people, settings
from sshchat.commands.registry import CommandRegistry

__all__ = ["build_registry"]


def build_registry() -> CommandRegistry:
    """A new registry with every built-in command (one per call: extend it freely)."""
    return CommandRegistry(
        [
            *help.COMMANDS,
            *chat.COMMANDS,
            *channels.COMMANDS,
            *people.COMMANDS,
            *settings.COMMANDS,
            *moderation.COMMANDS,
        ]
    )
