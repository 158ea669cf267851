"""The README stays in step with the code and with CI."""

from __future__ import annotations

import re

from helpers.paths import REPO

from sshchat.commands.registry import REGISTRY

README = (REPO / "README.md").read_text()


def test_every_command_is_in_the_readme_table() -> None:
    rows = set()
    for first_cell in re.findall(r"^\| (`/.*?) \|", README, flags=re.MULTILINE):
        rows.update(re.findall(r"`/(\w+)", first_cell))
    assert rows == set(REGISTRY.names())


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    command = [line for line in ci.splitlines() if line.strip() and not line.startswith("#")][-1]
    assert command.strip() in README


def test_quick_start_serves_the_example_config() -> None:
    assert "sshchat serve --config config.example.toml" in README
