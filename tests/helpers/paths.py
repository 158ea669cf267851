"""Where the repository is, for tests that read its files or run its scripts."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config.example.toml"
