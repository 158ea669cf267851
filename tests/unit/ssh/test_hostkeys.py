"""Host keys: created once (ed25519, mode 0600), then reused; bad ones stop start-up clearly."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sshchat.app import StartupError, start_server
from sshchat.cli.main import main
from sshchat.config.schema import Config
from sshchat.ssh.server import load_host_key


async def test_host_key_created_once_and_reused(config: Config) -> None:
    path = config.host_keys[0]
    assert not path.exists()
    first = await start_server(config)
    fingerprint = first.fingerprint
    await first.close()
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert fingerprint.startswith("SHA256:")
    second = await start_server(config)
    try:
        assert second.fingerprint == fingerprint
    finally:
        await second.close()


def test_created_key_is_ed25519(tmp_path: Path) -> None:
    key = load_host_key(tmp_path / "sub" / "dir" / "key")
    assert key.get_algorithm() == "ssh-ed25519"


def test_garbage_host_key_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("not a key\n")
    with pytest.raises(StartupError) as err:
        load_host_key(path)
    assert str(path) in str(err.value)
    assert "Fix:" in str(err.value)


def test_serve_with_garbage_host_key_exits_2_without_traceback(
    tmp_path: Path, config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    config.host_keys[0].parent.mkdir(parents=True, exist_ok=True)
    config.host_keys[0].write_text("garbage")
    status = main(["serve", "--config", str(config.path)])
    captured = capsys.readouterr()
    assert status == 2
    assert "Traceback" not in captured.err + captured.out
    assert "host key" in captured.err
