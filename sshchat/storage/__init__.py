"""Persistent state: the SQLite store and its migrations."""
