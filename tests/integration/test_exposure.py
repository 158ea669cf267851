"""Warnings at start-up and in check-config: a readable config file, metrics off loopback."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from helpers.accounts import make_config_text

from sshchat.app import start_server
from sshchat.cli import main as cli
from sshchat.config.schema import parse_config
from sshchat.security.exposure import config_file_warning, exposure_warnings, metrics_warning

USER = '[users.alice]\npassword_hash = "$argon2id$v=19$m=65536,t=3,p=4$B2uSPdaSaZYVrK8SRFnG+A$7kaNUangfEARYZNOrPLiaIpmqju+mSphI/t8OxvHTW0"\n'  # noqa: E501


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize(
    ("listen", "warned"),
    [
        ("0.0.0.0", "on every network interface"),
        ("::", "on every network interface"),
        ("192.168.1.20", "on 192.168.1.20"),
        ("chat.example.org", "on chat.example.org"),
        ("127.0.0.1", None),
        ("127.0.0.53", None),
        ("::1", None),
        ("localhost", None),
    ],
)
def test_metrics_beyond_loopback_are_warned_about(
    tmp_path: Path, listen: str, warned: str | None
) -> None:
    text = f'[metrics]\nenabled = true\nlisten = "{listen}"\nport = 9108\n{USER}'
    config = parse_config(text, tmp_path / "c.toml")
    warning = metrics_warning(config)
    if warned is None:
        assert warning is None
    else:
        assert warning is not None and warned in warning
        assert "metrics.listen" in warning and "port 9108" in warning
        assert 'Fix: set listen = "127.0.0.1"' in warning
    disabled = parse_config(text.replace("enabled = true", "enabled = false"), tmp_path / "c")
    assert metrics_warning(disabled) is None  # nothing listens


def test_a_config_file_others_can_read_is_warned_about(tmp_path: Path) -> None:
    path = write(tmp_path, USER, 0o644)
    warning = config_file_warning(path)
    assert warning is not None
    assert str(path) in warning and "0644" in warning and "password hashes" in warning
    assert warning.endswith(f"Fix: chmod 600 {path}")
    os.chmod(path, 0o600)
    assert config_file_warning(path) is None
    os.chmod(path, 0o640)
    assert config_file_warning(path) is not None  # the group counts too


def test_check_config_prints_the_warnings(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, '[metrics]\nenabled = true\nlisten = "0.0.0.0"\n' + USER, 0o644)
    assert cli.main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "warning: " + str(path.resolve()) + ": metrics.listen:" in out
    assert f"Fix: chmod 600 {path.resolve()}" in out
    assert out.rstrip().endswith("OK (1 user, listening on 127.0.0.1:2222)")

    safe = write(tmp_path, USER, 0o600)
    assert cli.main(["check-config", "--config", str(safe)]) == 0
    assert "warning" not in capsys.readouterr().out


async def test_the_server_logs_the_warnings_at_start(
    tmp_path: Path, password_hashes, caplog
) -> None:
    caplog.set_level(logging.WARNING, logger="sshchat")
    metrics = '[metrics]\nenabled = true\nlisten = "0.0.0.0"\nport = 0\n'
    path = write(tmp_path, make_config_text(password_hashes, None, extra=metrics), 0o644)
    config = parse_config(path.read_text(), path)
    assert len(exposure_warnings(config)) == 2
    server = await start_server(config, watch_interval=None)
    await server.close()
    logged = [
        r.fields["message"] for r in caplog.records if getattr(r, "event", "") == "security.warning"
    ]
    assert logged == exposure_warnings(config)
