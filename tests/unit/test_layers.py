"""The layers depend in one direction: the chat core never pulls in SSH or the terminal UI."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers.paths import REPO


@pytest.mark.parametrize(
    "module",
    [
        "sshchat.core.hub",
        "sshchat.core.model",
        "sshchat.core.moderation",
        "sshchat.commands.registry",
        "sshchat.core.events",
        "sshchat.core.text",
        "sshchat.config.schema",
    ],
)
def test_core_imports_no_ssh_and_no_terminal_ui(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "bad = [m for m in ('asyncssh', 'prompt_toolkit', 'sqlite3') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert result.stdout.strip() == "", f"{module} imports {result.stdout.strip()}"
