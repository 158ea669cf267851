"""sshchat: a multi-user chat server reached with a stock SSH client."""

__version__ = "0.1.0"
