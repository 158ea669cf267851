"""Tests for sshchat.cli.main (run in-process, plus one `python -m sshchat` subprocess)."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import types
from pathlib import Path

import argon2
import pytest
from helpers.fakes import FakeStdin
from helpers.paths import EXAMPLE, REPO

from sshchat import __version__
from sshchat.cli import main as cli
from sshchat.config.schema import Config

CHEAP_HASH = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw")


def write_config(tmp_path: Path, server: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[server]\n{server}\n[users.alice]\npassword_hash = "{CHEAP_HASH}"\n')
    return path


# ---------------------------------------------------------------------------
# A stand-in for sshchat.ssh.server (written separately): records the call.
# ---------------------------------------------------------------------------


class FakeServer:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, behaviour=None) -> None:
        self.calls: list[Config] = []
        self.behaviour = behaviour
        module = types.ModuleType("sshchat.ssh.server")

        class StartupError(Exception):
            pass

        async def serve(config: Config) -> None:
            self.calls.append(config)
            if self.behaviour is not None:
                await self.behaviour(config)

        module.StartupError = StartupError
        module.serve = serve
        self.module = module
        monkeypatch.setitem(sys.modules, "sshchat.ssh.server", module)


# ---------------------------------------------------------------------------
# General
# ---------------------------------------------------------------------------


def test_version(capsys) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"sshchat {__version__}"


def test_no_command_is_usage_error(capsys) -> None:
    assert cli.main([]) == 2
    assert "usage" in capsys.readouterr().err


def test_help(capsys) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("serve", "hash-password", "check-config"):
        assert command in out


# ---------------------------------------------------------------------------
# hash-password
# ---------------------------------------------------------------------------


def test_hash_password_from_stdin(capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", FakeStdin("s3cret pass \n"))
    assert cli.main(["hash-password"]) == 0
    captured = capsys.readouterr()
    hashed = captured.out.strip()
    assert captured.out.count("\n") == 1
    assert argon2.extract_parameters(hashed).type is argon2.Type.ID
    assert argon2.PasswordHasher().verify(hashed, "s3cret pass ")  # only the newline stripped
    assert captured.err == ""  # no hint when not on a terminal


def test_hash_password_stdin_without_newline_and_crlf(capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", FakeStdin("abc"))
    assert cli.main(["hash-password"]) == 0
    assert argon2.PasswordHasher().verify(capsys.readouterr().out.strip(), "abc")
    monkeypatch.setattr(sys, "stdin", FakeStdin("abc\r\n"))
    assert cli.main(["hash-password"]) == 0
    assert argon2.PasswordHasher().verify(capsys.readouterr().out.strip(), "abc")


def test_hash_password_reads_only_first_line(capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", FakeStdin("first\nsecond\n"))
    assert cli.main(["hash-password"]) == 0
    assert argon2.PasswordHasher().verify(capsys.readouterr().out.strip(), "first")


@pytest.mark.parametrize("text", ["", "\n"])
def test_hash_password_empty_stdin_refused(capsys, monkeypatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", FakeStdin(text))
    assert cli.main(["hash-password"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "empty" in captured.err


def _fake_getpass(monkeypatch, answers: list[str]) -> list[str]:
    prompts: list[str] = []
    it = iter(answers)

    def getpass(prompt: str = "Password: ") -> str:
        prompts.append(prompt)
        return next(it)

    monkeypatch.setattr(cli.getpass, "getpass", getpass)
    monkeypatch.setattr(sys, "stdin", FakeStdin(tty=True))
    return prompts


def test_hash_password_tty(capsys, monkeypatch) -> None:
    prompts = _fake_getpass(monkeypatch, ["tty-pw", "tty-pw"])
    assert cli.main(["hash-password"]) == 0
    assert prompts == ["Password: ", "Again: "]
    captured = capsys.readouterr()
    hashed = captured.out.strip()
    assert argon2.PasswordHasher().verify(hashed, "tty-pw")
    assert "password_hash" in captured.err  # the paste hint
    assert hashed in captured.err


def test_hash_password_tty_mismatch(capsys, monkeypatch) -> None:
    _fake_getpass(monkeypatch, ["one", "two"])
    assert cli.main(["hash-password"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "do not match" in captured.err


def test_hash_password_tty_empty(capsys, monkeypatch) -> None:
    prompts = _fake_getpass(monkeypatch, ["", ""])
    assert cli.main(["hash-password"]) == 1
    assert prompts == ["Password: "]
    assert "empty" in capsys.readouterr().err


def test_hash_password_tty_ctrl_c(capsys, monkeypatch) -> None:
    def getpass(prompt: str = "") -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.getpass, "getpass", getpass)
    monkeypatch.setattr(sys, "stdin", FakeStdin(tty=True))
    assert cli.main(["hash-password"]) == 1
    assert "aborted" in capsys.readouterr().err


def test_hash_password_too_long(capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", FakeStdin("x" * 100_000 + "\n"))
    assert cli.main(["hash-password"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "longer than" in captured.err


# ---------------------------------------------------------------------------
# check-config
# ---------------------------------------------------------------------------


def test_check_config_example(capsys) -> None:
    assert cli.main(["check-config", "--config", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert f"{EXAMPLE}: OK (3 users, listening on 127.0.0.1:2222)" in out


def test_check_config_reports_missing_host_key(tmp_path, capsys) -> None:
    path = write_config(tmp_path, 'port = 0\nhost_keys = ["hk"]')
    assert cli.main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 'hk'} does not exist yet" in out
    assert "created at first start" in out
    assert out.rstrip().endswith(f"{path}: OK (1 user, listening on 127.0.0.1:0)")


def test_check_config_existing_host_key(tmp_path, capsys) -> None:
    (tmp_path / "hk").write_text("key")
    path = write_config(tmp_path, 'host_keys = ["hk"]')
    assert cli.main(["check-config", "--config", str(path)]) == 0
    assert "does not exist" not in capsys.readouterr().out


def test_check_config_unreadable_host_key(tmp_path, capsys) -> None:
    (tmp_path / "hk").mkdir()  # unreadable as a file, even for root
    path = write_config(tmp_path, 'host_keys = ["hk"]')
    assert cli.main(["check-config", "--config", str(path)]) == 2
    captured = capsys.readouterr()
    assert "OK" not in captured.out
    assert "server.host_keys[0]" in captured.err
    assert "Fix:" in captured.err


def test_check_config_broken(tmp_path, capsys) -> None:
    path = write_config(tmp_path, "port = 99999")
    assert cli.main(["check-config", "--config", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert err.startswith(f"sshchat: {path}: server.port: ")
    assert "Fix:" in err
    assert "Traceback" not in err
    assert err.count("\n") == 0


def test_check_config_missing_file(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check-config"]) == 2
    err = capsys.readouterr().err
    assert "config.toml" in err
    assert "not found" in err
    assert "config.example.toml" in err


def test_python_dash_m_check_config() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sshchat", "check-config", "--config", "config.example.toml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "config.example.toml: OK (3 users, listening on 127.0.0.1:2222)" in result.stdout
    assert result.stderr == ""


# ---------------------------------------------------------------------------
# serve
# ---------------------------------------------------------------------------


def test_serve_runs_server_with_loaded_config(tmp_path, monkeypatch, capsys) -> None:
    fake = FakeServer(monkeypatch)
    path = write_config(tmp_path, "port = 0")
    assert cli.main(["serve", "--config", str(path), "--log-level", "debug"]) == 0
    assert len(fake.calls) == 1
    config = fake.calls[0]
    assert isinstance(config, Config)
    assert config.path == path
    assert config.listen_port == 0


def test_serve_logs_while_serving_and_leaves_logging_as_it_was(tmp_path, monkeypatch) -> None:
    """An in-process `serve` (tests, embedding) must not leave its handler on the
    root logger: it would write to a stream its host may close."""
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    seen: list[tuple[list[logging.Handler], int]] = []

    async def record_logging(config: Config) -> None:
        seen.append((list(root.handlers), root.level))

    FakeServer(monkeypatch, record_logging)
    path = write_config(tmp_path, "port = 0")
    assert cli.main(["serve", "--config", str(path), "--log-level", "warning"]) == 0
    ((handlers, level),) = seen
    assert level == logging.WARNING and len(handlers) == 1 and handlers[0] not in before[0]
    assert (list(root.handlers), root.level) == before


def test_serve_broken_config_exits_2_without_traceback(tmp_path, monkeypatch, capsys) -> None:
    fake = FakeServer(monkeypatch)
    path = write_config(tmp_path, "prot = 2222")
    assert cli.main(["serve", "--config", str(path)]) == 2
    captured = capsys.readouterr()
    assert fake.calls == []
    assert captured.err.startswith(f"sshchat: {path}: server.prot: unknown key.")
    assert "did you mean 'port'" in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_serve_missing_default_config(tmp_path, monkeypatch, capsys) -> None:
    fake = FakeServer(monkeypatch)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["serve"]) == 2
    err = capsys.readouterr().err
    assert fake.calls == []
    assert err.startswith("sshchat: config.toml: config file not found.")
    assert "--config config.example.toml" in err
    assert "copy config.example.toml" in err
    assert "Traceback" not in err


def test_serve_missing_explicit_config(tmp_path, monkeypatch, capsys) -> None:
    FakeServer(monkeypatch)
    missing = tmp_path / "nope.toml"
    assert cli.main(["serve", "--config", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err
    assert "not found" in err


def test_serve_keyboard_interrupt_is_quiet(tmp_path, monkeypatch, capsys) -> None:
    async def interrupted(config: Config) -> None:
        raise KeyboardInterrupt

    FakeServer(monkeypatch, interrupted)
    assert cli.main(["serve", "--config", str(write_config(tmp_path))]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out == ""


def test_serve_startup_error(tmp_path, monkeypatch, capsys) -> None:
    fake: FakeServer

    async def fail(config: Config) -> None:
        raise fake.module.StartupError("cannot create host key keys/hk: read-only file system")

    fake = FakeServer(monkeypatch, fail)
    assert cli.main(["serve", "--config", str(write_config(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert err == "sshchat: cannot create host key keys/hk: read-only file system\n"


def test_serve_address_in_use(tmp_path, monkeypatch, capsys) -> None:
    async def bind(config: Config) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_server(asyncio.Protocol, config.listen_host, config.listen_port)

    FakeServer(monkeypatch, bind)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        path = write_config(tmp_path, f"port = {port}")
        assert cli.main(["serve", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"sshchat: cannot listen on 127.0.0.1:{port}: address already in use.")
    assert "`port` in the [server] table" in err
    assert "Traceback" not in err


def test_serve_file_oserror_names_file(tmp_path, monkeypatch, capsys) -> None:
    async def fail(config: Config) -> None:
        raise PermissionError(13, "Permission denied", "/srv/keys/hk")

    FakeServer(monkeypatch, fail)
    assert cli.main(["serve", "--config", str(write_config(tmp_path))]) == 1
    err = capsys.readouterr().err
    assert err == "sshchat: /srv/keys/hk: Permission denied\n"


def test_serve_bad_log_level(tmp_path, monkeypatch, capsys) -> None:
    FakeServer(monkeypatch)
    assert cli.main(["serve", "--config", str(write_config(tmp_path)), "--log-level", "x"]) == 2
    assert "log-level" in capsys.readouterr().err
