"""End to end with the real OpenSSH client against ``sshchat serve`` in a subprocess.

These tests run the server exactly as an operator would (the console entry
point with a config file) and talk to it with the stock ``ssh`` binary, driven
through a pseudo-terminal by pexpect.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pexpect
import pytest
from conftest import PASSWORDS, make_config_text

SSH = shutil.which("ssh")
pytestmark = pytest.mark.skipif(SSH is None, reason="OpenSSH client not installed")

REPO = Path(__file__).resolve().parent.parent
SGR = r"(?:\x1b\[[0-9;]*m)*"  # colour codes that may sit between a nick and ">"


class ServerProcess:
    def __init__(self, proc: subprocess.Popen[str], port: int, log: list[str]) -> None:
        self.proc = proc
        self.port = port
        self.log = log


@pytest.fixture
def key_file(tmp_path: Path, client_key: asyncssh.SSHKey) -> Path:
    path = tmp_path / "carol_key"
    path.write_bytes(client_key.export_private_key())
    path.chmod(0o600)
    return path


@pytest.fixture
def sshchat_server(
    tmp_path: Path, password_hashes: dict[str, str], client_key: asyncssh.SSHKey
) -> Iterator[ServerProcess]:
    config = tmp_path / "config.toml"
    config.write_text(make_config_text(password_hashes, client_key))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sshchat", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    log: list[str] = []
    port = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        log.append(line)
        match = re.search(r"server\.listening address=\S+ port=(\d+)", line)
        if match:
            port = int(match.group(1))
            break
    if not port:
        proc.kill()
        pytest.fail("server did not start:\n" + "".join(log))
    try:
        yield ServerProcess(proc, port, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        rest = proc.stdout.read() if proc.stdout else ""
        assert "Traceback" not in rest, rest


def ssh_args(port: int, user: str, *extra: str) -> list[str]:
    return [
        "-F",
        "/dev/null",
        "-p",
        str(port),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        *extra,
        f"{user}@127.0.0.1",
    ]


def spawn_password_user(port: int, user: str) -> pexpect.spawn:
    child = pexpect.spawn(
        SSH,
        ssh_args(port, user, "-o", "PubkeyAuthentication=no", "-o", "IdentitiesOnly=yes"),
        encoding="utf-8",
        timeout=15,
        dimensions=(30, 100),
    )
    child.expect("assword:")
    child.sendline(PASSWORDS[user])
    child.expect("Type /help for commands")
    child.expect(user + SGR + ">")
    return child


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
