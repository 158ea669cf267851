"""Tests for sshchat.cli.main (run in-process, plus one `python -m sshchat` subprocess)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import stat
import subprocess
import sys
import types
from pathlib import Path

import argon2
import asyncssh
import pytest
from helpers.fakes import FakeStdin
from helpers.paths import EXAMPLE, REPO

from sshchat import __version__
from sshchat.cli import main as cli
from sshchat.config.schema import Config, Limits, load_config, parse_config
from sshchat.config.template import documented_settings
from sshchat.errors import StartupError

CHEAP_HASH = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw")


def write_config(tmp_path: Path, server: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[server]\n{server}\n[users.alice]\npassword_hash = "{CHEAP_HASH}"\n')
    return path


# ---------------------------------------------------------------------------
# A stand-in for sshchat.app (the composition root): records the call.
# ---------------------------------------------------------------------------


class FakeServer:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, behaviour=None) -> None:
        self.calls: list[Config] = []
        self.behaviour = behaviour
        module = types.ModuleType("sshchat.app")

        async def serve(config: Config) -> None:
            self.calls.append(config)
            if self.behaviour is not None:
                await self.behaviour(config)

        module.serve = serve
        self.module = module
        monkeypatch.setitem(sys.modules, "sshchat.app", module)


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


def test_hash_password_hashes_what_ssh_delivers(capsys, monkeypatch) -> None:
    # SSH logins arrive SASLprep-normalised: the no-break space as a space, ｐ as p.
    monkeypatch.setattr(sys, "stdin", FakeStdin("café\u00a0ｐassword\n"))
    assert cli.main(["hash-password"]) == 0
    captured = capsys.readouterr()
    assert argon2.PasswordHasher().verify(captured.out.strip(), "café password")
    assert captured.err == ""


def test_hash_password_refuses_what_ssh_cannot_send(capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", FakeStdin("tab\tin the middle\n"))
    assert cli.main(["hash-password"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "sshchat: the password contains a tab, which SSH logins refuse; nothing printed. "
        "Fix: choose a password without it.\n"
    )


def test_hash_password_warns_about_a_short_password(capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", FakeStdin("short\n"))
    assert cli.main(["hash-password"]) == 0
    captured = capsys.readouterr()
    assert argon2.PasswordHasher().verify(captured.out.strip(), "short")
    assert "sshchat: warning: the password has only 5 characters" in captured.err


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
    assert err.startswith(
        f"sshchat: config.toml: config file not found in the current directory ({tmp_path})."
    )
    assert "`sshchat init`" in err
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
    async def fail(config: Config) -> None:
        raise StartupError(
            None,
            "cannot create host key keys/hk: read-only file system",
            "make its directory writable",
        )

    FakeServer(monkeypatch, fail)
    assert cli.main(["serve", "--config", str(write_config(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert err == (
        "sshchat: cannot create host key keys/hk: read-only file system. "
        "Fix: make its directory writable.\n"
    )


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


# ---------------------------------------------------------------------------
# --config before the command, the default config, --help of every command
# ---------------------------------------------------------------------------


def _all_parsers(parser, path=("sshchat",)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _all_parsers(child, (*path, name))


def test_every_command_has_a_description() -> None:
    seen = []
    for path, parser in _all_parsers(cli._build_parser()):
        seen.append(" ".join(path))
        assert parser.description and len(parser.description) > 20, path
    for command in ("sshchat init", "sshchat serve", "sshchat check-config", "sshchat user"):
        assert command in seen
    assert "sshchat user key list" in seen and "sshchat user key del" in seen


@pytest.mark.parametrize(
    "argv", [["serve", "--help"], ["user", "key", "del", "--help"], ["init", "--help"]]
)
def test_help_of_a_command_shows_its_description(capsys, argv: list[str]) -> None:
    assert cli.main(argv) == 0
    out = " ".join(capsys.readouterr().out.split())
    parser = dict(_all_parsers(cli._build_parser()))[("sshchat", *argv[:-1])]
    assert " ".join(parser.description.split()) in out


def test_config_before_the_command(tmp_path, capsys) -> None:
    path = write_config(tmp_path, "port = 0")
    assert cli.main(["--config", str(path), "check-config"]) == 0
    assert f"{path}: OK (1 user" in capsys.readouterr().out
    assert cli.main(["--config", str(path), "user", "list"]) == 0
    assert "alice" in capsys.readouterr().out
    assert cli.main(["--config", str(path), "user", "key", "list", "alice"]) == 0
    assert "alice has no public keys" in capsys.readouterr().out
    # Given twice: the same file is fine, two different files are a usage error.
    assert cli.main(["--config", str(path), "check-config", "--config", str(path)]) == 0
    capsys.readouterr()
    assert cli.main(["--config", str(path), "check-config", "--config", "other.toml"]) == 2
    err = capsys.readouterr().err
    assert "--config was given twice" in err and "other.toml" in err


def test_without_config_the_current_directory_is_used(tmp_path, capsys, monkeypatch) -> None:
    write_config(tmp_path, "port = 0")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["user", "list"]) == 0
    assert "alice" in capsys.readouterr().out


def test_missing_default_config_says_how_to_make_one(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["user", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sshchat: config.toml: config file not found in the current directory")
    assert "`sshchat init`" in err and "config.example.toml" in err and "--config PATH" in err
    missing = tmp_path / "elsewhere.toml"
    assert cli.main(["user", "list", "--config", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"`sshchat init --config {missing}`" in err and "config.example.toml" in err


# ---------------------------------------------------------------------------
# init
# ---------------------------------------------------------------------------


def test_init_writes_a_documented_config_with_one_admin(tmp_path, capsys, monkeypatch) -> None:
    path = tmp_path / "new" / "config.toml"  # the directory is created
    monkeypatch.setattr(sys, "stdin", FakeStdin("root-secret\n"))
    assert cli.main(["init", "--config", str(path), "--admin", "root"]) == 0
    out = capsys.readouterr().out
    assert f"{path}: written, with administrator root" in out
    assert f"sshchat serve --config {path}" in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = load_config(path)
    assert list(config.users) == ["root"]  # no demo users
    root = config.users["root"]
    assert root.admin is True
    assert argon2.PasswordHasher().verify(root.password_hash, "root-secret")
    # Every setting at this version's defaults, documented as in the example.
    defaults = parse_config('[users.x]\npassword_hash = "' + CHEAP_HASH + '"\n', path)
    assert config.limits == defaults.limits == Limits()
    assert (config.listen_host, config.listen_port) == (defaults.listen_host, defaults.listen_port)
    assert config.host_keys == defaults.host_keys
    assert config.storage == defaults.storage and config.metrics == defaults.metrics
    assert config.motd == defaults.motd
    text = path.read_text()
    assert "demo" not in text.lower()
    assert documented_settings() in text
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"]  # no temp file
    assert cli.main(["check-config", "--config", str(path)]) == 0
    assert f"{path}: OK (1 user, listening on 127.0.0.1:2222)" in capsys.readouterr().out


def test_the_example_config_documents_the_same_settings() -> None:
    # The documentation init writes is the example's, and the example shows the defaults.
    example = EXAMPLE.read_text()
    demo_motd = example.split('motd = """\n', 1)[1].split('\n"""', 1)[0]
    assert documented_settings(motd=demo_motd) in example


def test_init_refuses_an_existing_file(tmp_path, capsys, monkeypatch) -> None:
    path = write_config(tmp_path)
    before = path.read_bytes()
    stdin = FakeStdin("pw\n")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert cli.main(["init", "--config", str(path), "--admin", "root"]) == 1
    err = capsys.readouterr().err
    assert f"{path}: already exists; nothing was written" in err
    assert "sshchat user add NAME --admin" in err
    assert stdin.tell() == 0  # not even asked for the password
    assert path.read_bytes() == before
    dangling = tmp_path / "link.toml"
    dangling.symlink_to(tmp_path / "nowhere.toml")
    assert cli.main(["init", "--config", str(dangling), "--admin", "root"]) == 1
    assert not (tmp_path / "nowhere.toml").exists()


def test_init_default_path_and_bad_input(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", FakeStdin("pw\n"))
    assert cli.main(["init"]) == 1  # no terminal to ask the name on
    assert "--admin NAME is needed" in capsys.readouterr().err
    assert cli.main(["init", "--admin", "9root"]) == 1
    assert "not a valid login name" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", FakeStdin("\n"))
    assert cli.main(["init", "--admin", "root"]) == 1
    assert "empty password" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(sys, "stdin", FakeStdin("pw\n"))
    assert cli.main(["init", "--admin", "root"]) == 0
    assert list(load_config(tmp_path / "config.toml").users) == ["root"]


def test_init_on_a_terminal_asks_name_and_password_twice(tmp_path, capsys, monkeypatch) -> None:
    prompts = _fake_getpass(monkeypatch, ["tty-pw", "tty-pw"])
    monkeypatch.setattr(sys, "stdin", FakeStdin("not valid\nroot\n", tty=True))
    path = tmp_path / "config.toml"
    assert cli.main(["init", "--config", str(path)]) == 0
    err = capsys.readouterr().err
    assert err.count("Login name of the first administrator: ") == 2
    assert "'not valid' is not a valid login name" in err
    assert prompts == ["New password for root: ", "Again: "]
    root = load_config(path).users["root"]
    assert root.admin and argon2.PasswordHasher().verify(root.password_hash, "tty-pw")


def test_init_then_serve_then_log_in_as_the_admin(tmp_path) -> None:
    path = tmp_path / "config.toml"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    init = subprocess.run(
        [sys.executable, "-m", "sshchat", "init", "--config", str(path), "--admin", "root"],
        input="root-secret\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert init.returncode == 0, init.stderr
    # The operator's one edit for a test: any free port instead of 2222.
    path.write_text(path.read_text().replace("\nport = 2222\n", "\nport = 0\n", 1))
    server = subprocess.Popen(
        [sys.executable, "-m", "sshchat", "--config", str(path), "serve", "--log-format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    try:
        assert server.stdout is not None
        listening = None
        for line in server.stdout:
            event = json.loads(line)
            if event.get("event") == "server.listening":
                listening = event
                break
        assert listening is not None, "the server did not start"
        assert listening["address"] == "127.0.0.1" and listening["port"] > 0
        assert listening["host_key"].startswith("SHA256:")

        async def log_in() -> str:
            async with asyncssh.connect(
                "127.0.0.1",
                listening["port"],
                username="root",
                password="root-secret",
                known_hosts=None,
                client_keys=None,
                preferred_auth="password",
            ) as conn:
                result = await conn.run(input="/broadcast hello from root\n/whois root\n")
                return str(result.stdout)

        out = asyncio.run(asyncio.wait_for(log_in(), 60))
        assert "Welcome to sshchat!" in out
        assert "[broadcast from root] hello from root" in out  # only administrators may
        assert "login: root (admin)" in out
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
