"""Slash-commands: the registry, argument parsing, /help and completion."""
