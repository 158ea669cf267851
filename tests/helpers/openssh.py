"""Driving the real OpenSSH ``ssh`` binary against ``sshchat serve``.

Two ways: :func:`spawn_password_user` runs it on a pty through pexpect (a
terminal session, as a person types); :func:`open_ssh` runs ``ssh -T`` without
a terminal, the password given by an ``SSH_ASKPASS`` helper, as a scripted user
with the same waiting methods as the asyncssh client (for the cluster tests).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pexpect

from helpers.accounts import PASSWORDS
from helpers.client import ScriptedOutput
from helpers.waits import CLOSE_TIMEOUT

SSH = shutil.which("ssh")
SGR = r"(?:\x1b\[[0-9;]*m)*"  # colour codes that may sit between a nick and ">"


class ServerProcess:
    def __init__(self, proc: subprocess.Popen[str], port: int, log: list[str]) -> None:
        self.proc = proc
        self.port = port
        self.log = log


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


ASKPASS = Path(__file__).with_name("askpass.sh")  # prints $SSHCHAT_TEST_PASSWORD


class OpenSSHClient(ScriptedOutput):
    """A user on the real ``ssh -T`` (no terminal: the server's plain line mode)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.output = ""
        self._seen = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while chunk := await self.proc.stdout.read(65536):
            self.output += self._decoder.decode(chunk)

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\r").encode())

    async def wait_closed(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Wait until the server has ended the session (``ssh`` exits)."""
        await asyncio.wait_for(self.proc.wait(), timeout)
        await self._reader

    @property
    def closed(self) -> bool:
        return self.proc.returncode is not None

    async def close(self) -> None:
        if self.proc.returncode is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()  # end of input: the session ends as on Ctrl-D
            try:
                await asyncio.wait_for(self.proc.wait(), CLOSE_TIMEOUT)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        with contextlib.suppress(Exception):
            await self._reader


async def open_ssh(port: int, user: str, *, wait_prompt: bool = True) -> OpenSSHClient:
    """Log ``user`` in with the real ``ssh -T`` and its password; wait for the welcome."""
    assert SSH is not None, "OpenSSH's ssh is not installed (apt-get install openssh-client)"
    args = ssh_args(
        port,
        user,
        "-T",
        "-o",
        "PreferredAuthentications=password,keyboard-interactive",
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "NumberOfPasswordPrompts=1",
    )
    env = {
        **os.environ,
        "SSH_ASKPASS": str(ASKPASS),
        "SSH_ASKPASS_REQUIRE": "force",
        "SSHCHAT_TEST_PASSWORD": PASSWORDS[user],
    }
    proc = await asyncio.create_subprocess_exec(
        SSH,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        start_new_session=True,  # no controlling terminal: ssh asks SSH_ASKPASS
    )
    client = OpenSSHClient(proc)
    if wait_prompt:
        # Generous: a cluster node answers a login only once Redis has it.
        await client.expect(r"Type\s+/help\s+for\s+commands", timeout=20)
    return client
