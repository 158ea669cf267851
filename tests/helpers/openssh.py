"""Driving the real OpenSSH ``ssh`` binary (through pexpect) against ``sshchat serve``."""

from __future__ import annotations

import shutil
import subprocess

import pexpect

from helpers.accounts import PASSWORDS

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
