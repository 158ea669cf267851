"""The offered SSH algorithms pass ssh-audit with no failures."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys

import pytest

from sshchat.ssh.algorithms import CIPHERS, KEX, MACS


def _ssh_audit_command() -> list[str] | None:
    exe = shutil.which("ssh-audit")
    if exe:
        return [exe]
    try:
        import ssh_audit  # noqa: F401
    except ImportError:
        return None
    return [sys.executable, "-m", "ssh_audit.ssh_audit"]


async def test_ssh_audit_reports_no_failures(server) -> None:
    command = _ssh_audit_command()
    if command is None:
        pytest.skip("ssh-audit is not installed (pip install ssh-audit)")
    proc = await asyncio.create_subprocess_exec(
        *command,
        "--skip-rate-test",
        "-j",
        "-p",
        str(server.port),
        "127.0.0.1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    report = json.loads(out)
    # ssh-audit exits 0 when clean, 2 with warnings only, 3 with failures,
    # 1 when it could not connect.
    assert proc.returncode in (0, 2), (proc.returncode, out.decode()[-2000:], err.decode())
    kex = {a["algorithm"] for a in report["kex"]}
    assert kex - {"ext-info-s", "kex-strict-s-v00@openssh.com"} <= set(KEX)
    assert "kex-strict-s-v00@openssh.com" in kex  # Terrapin countermeasure
    assert {a["algorithm"] for a in report["key"]} == {"ssh-ed25519"}
    enc = {a if isinstance(a, str) else a["algorithm"] for a in report["enc"]}
    mac = {a if isinstance(a, str) else a["algorithm"] for a in report["mac"]}
    assert enc <= set(CIPHERS)
    assert mac <= set(MACS)
    for section in ("kex", "key", "enc", "mac"):
        for entry in report[section]:
            if isinstance(entry, dict):
                assert not entry.get("notes", {}).get("fail"), entry
