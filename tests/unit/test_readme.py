"""The README stays in step with the code and with CI."""

from __future__ import annotations

import re

from helpers.paths import REPO

from sshchat.commands import build_registry

README = (REPO / "README.md").read_text()


def test_every_command_is_in_the_readme_table() -> None:
    rows = set()
    for first_cell in re.findall(r"^\| (`/.*?) \|", README, flags=re.MULTILINE):
        rows.update(re.findall(r"`/(\w+)", first_cell))
    assert rows == set(build_registry().names())


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    command = [line for line in ci.splitlines() if line.strip() and not line.startswith("#")][-1]
    assert command.strip() in README


def test_quick_start_serves_the_example_config() -> None:
    assert "sshchat serve --config config.example.toml" in README


def test_readme_describes_ctrl_u_as_the_editor_does() -> None:
    # The editor cuts from the cursor to the start of the line (bash's
    # unix-line-discard; test_line_editor checks it), not the whole line.
    text = " ".join(README.split())
    assert "Ctrl-U to the start of the line" in text
    assert "Ctrl-U the whole line" not in text
