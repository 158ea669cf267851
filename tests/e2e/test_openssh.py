"""End to end with the real OpenSSH client against ``sshchat serve`` in a subprocess.

These tests run the server exactly as an operator would (the console entry
point with a config file) and talk to it with the stock ``ssh`` binary, driven
through a pseudo-terminal by pexpect.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import asyncssh
import pexpect
import pytest
from helpers.openssh import SGR, SSH, ServerProcess, spawn_password_user, ssh_args

pytestmark = pytest.mark.skipif(SSH is None, reason="OpenSSH client not installed")


@pytest.fixture
def key_file(tmp_path: Path, client_key: asyncssh.SSHKey) -> Path:
    path = tmp_path / "carol_key"
    path.write_bytes(client_key.export_private_key())
    path.chmod(0o600)
    return path


def test_two_users_chat_with_real_ssh(sshchat_server: ServerProcess) -> None:
    alice = spawn_password_user(sshchat_server.port, "alice")
    bob = spawn_password_user(sshchat_server.port, "bob")
    try:
        alice.expect("bob")  # "bob connected"
        alice.sendline("hello bob, from real ssh")
        bob.expect("<.*alice.*> " + SGR + "hello bob, from real ssh")  # highlighted: it names bob
        bob.sendline("/me waves back")
        alice.expect(r"\* .*bob.* waves back")
        bob.sendline("/who")
        bob.expect("In #lobby:")
        bob.expect("alice")
        alice.sendline("/quit")
        alice.expect(pexpect.EOF)
        bob.expect("alice.*disconnected")
    finally:
        alice.close(force=True)
        bob.close(force=True)


def test_wrong_password_is_permission_denied(sshchat_server: ServerProcess) -> None:
    child = pexpect.spawn(
        SSH,
        ssh_args(
            sshchat_server.port,
            "mallory",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "NumberOfPasswordPrompts=1",
        ),
        encoding="utf-8",
        timeout=15,
    )
    child.expect("assword:")
    child.sendline("guess")
    child.expect("Permission denied")
    child.expect(pexpect.EOF)


def test_key_login_plain_line_mode(sshchat_server: ServerProcess, key_file: Path) -> None:
    result = subprocess.run(
        [
            SSH,
            *ssh_args(
                sshchat_server.port,
                "carol",
                "-T",
                "-i",
                str(key_file),
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
            ),
        ],
        input="hello from a script\n/who\n",
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "SSH_AUTH_SOCK": ""},
    )
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    assert "<carol> hello from a script" in result.stdout
    assert "In #lobby:" in result.stdout


def test_exec_request_refused_with_message(sshchat_server: ServerProcess, key_file: Path) -> None:
    result = subprocess.run(
        [
            SSH,
            *ssh_args(
                sshchat_server.port,
                "carol",
                "-i",
                str(key_file),
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
            ),
            "ls",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    assert "only offers interactive chat" in result.stderr
    assert f"e.g.: ssh -p {sshchat_server.port} carol@127.0.0.1" in result.stderr


def test_sigterm_tells_users_and_exits_cleanly(sshchat_server: ServerProcess) -> None:
    alice = spawn_password_user(sshchat_server.port, "alice")
    try:
        sshchat_server.proc.terminate()
        alice.expect("The server is shutting down")
        alice.expect(pexpect.EOF)
        assert sshchat_server.proc.wait(timeout=10) == 0
    finally:
        alice.close(force=True)


# Tab completion in the pty line editor (tests/integration/test_line_editor.py has the rest).
def test_tab_completion_with_openssh(sshchat_server: ServerProcess) -> None:
    """Tab completes a nick and a command through the real client; Up recalls the line."""
    alice = spawn_password_user(sshchat_server.port, "alice")
    bob = spawn_password_user(sshchat_server.port, "bob")
    try:
        alice.expect("bob.*connected")
        bob.send("hello al\t")
        bob.send("and welcome\r")
        alice.expect(r"bob.*> .*hello alice and welcome")
        bob.send("/wh\t")
        bob.send("is al\t\r")
        bob.expect(r"login: alice")
        bob.send("\x1b[A")  # Up: the /whois line again
        bob.send("\r")
        bob.expect(r"login: alice")
    finally:
        alice.close(force=True)
        bob.close(force=True)


def test_paste_of_30_lines_arrives_whole_with_real_ssh(sshchat_server: ServerProcess) -> None:
    """The server runs with the default limits: 15 lines at once, then 1 per second."""
    alice = spawn_password_user(sshchat_server.port, "alice")
    bob = spawn_password_user(sshchat_server.port, "bob")
    try:
        alice.expect("bob")  # "bob connected"
        # One write to the terminal, as a terminal emulator delivers a paste.
        alice.send("".join(f"pasted row {i:02d}\r" for i in range(30)))
        bob.expect("<.*alice.*> " + SGR + "pasted row 00")
        for i in range(1, 30):
            bob.expect(rf"\r\n +pasted row {i:02d}")
        alice.sendline("/quit")
        alice.expect("Bye!")
        alice.expect(pexpect.EOF)
    finally:
        alice.close(force=True)
        bob.close(force=True)
