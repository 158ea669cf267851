"""`sshchat user ...`: editing the accounts of a config file in place (run in-process).

Every command runs on a copy of config.example.toml and must keep its comments
and layout, write nothing when refused or when the result would be invalid,
and never print a traceback.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import argon2
import asyncssh
import pytest
from helpers.fakes import FakeStdin
from helpers.paths import EXAMPLE

from sshchat.cli import main as cli
from sshchat.config import edit as accounts
from sshchat.config.schema import ConfigError, load_config

ORIGINAL = EXAMPLE.read_text()
COMMENTS = [line for line in ORIGINAL.splitlines() if line.lstrip().startswith("#")]
# Everything above the users: [server], [limits], [metrics] and their comments.
HEAD = ORIGINAL[: ORIGINAL.index("# Demo password: alice")]


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(ORIGINAL)
    return path


@pytest.fixture(autouse=True)
def no_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that need input set their own stdin; the rest get an empty, non-tty one."""
    monkeypatch.setattr(sys, "stdin", FakeStdin(""))


def make_pub(tmp_path: Path, name: str, comment: str = "") -> tuple[Path, str]:
    """A fresh ed25519 public key file: (path, its line)."""
    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment or None)
    line = key.export_public_key("openssh").decode().strip()
    path = tmp_path / f"{name}.pub"
    path.write_text(line + "\n")
    return path, line


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def verifies(password_hash: str | None, password: str) -> bool:
    try:
        return argon2.PasswordHasher().verify(password_hash or "", password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


def assert_layout_kept(text: str, *, except_comments: tuple[str, ...] = ()) -> None:
    """Every original comment line is still there (but those named), [server] etc. untouched."""
    lines = text.splitlines()
    for comment in COMMENTS:
        if any(word in comment for word in except_comments):
            assert comment not in lines, comment
        else:
            assert comment in lines, comment
    assert text.startswith(HEAD)


# ---------------------------------------------------------------------------
# user add
# ---------------------------------------------------------------------------


def test_add_with_password_from_stdin(cfg: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", FakeStdin("dave-secret\n"))
    code, out, err = run(capsys, "user", "add", "dave", "--config", str(cfg))
    assert code == 0, err
    assert "added user dave" in out
    assert "running sshchat server applies this" in out
    text = cfg.read_text()
    assert text.startswith(ORIGINAL)  # appended: nothing above moved by a byte
    assert text[len(ORIGINAL) :].startswith("\n[users.dave]\npassword_hash = ")
    assert_layout_kept(text)
    user = load_config(cfg).users["dave"]
    assert verifies(user.password_hash, "dave-secret")
    assert not verifies(user.password_hash, "wrong")
    assert user.public_keys == () and user.admin is False


def test_add_admin_with_key_asks_twice_on_a_tty(cfg: Path, tmp_path: Path, capsys, monkeypatch):
    pub, line = make_pub(tmp_path, "dave", "dave@laptop")
    prompts: list[str] = []
    answers = iter(["tty-secret", "tty-secret"])

    def getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(cli.getpass, "getpass", getpass)
    monkeypatch.setattr(sys, "stdin", FakeStdin(tty=True))
    code, out, err = run(
        capsys, "user", "add", "dave", "--admin", "--key", str(pub), "--config", str(cfg)
    )
    assert code == 0, err
    assert len(prompts) == 2 and "dave" in prompts[0]
    user = load_config(cfg).users["dave"]
    assert user.admin is True
    assert verifies(user.password_hash, "tty-secret")
    assert [k.fingerprint for k in user.public_keys] == [user.public_keys[0].fingerprint]
    assert user.public_keys[0].fingerprint in out
    assert line in cfg.read_text()
    assert_layout_kept(cfg.read_text())


def test_add_key_only_account(cfg: Path, tmp_path: Path, capsys) -> None:
    pub, _ = make_pub(tmp_path, "bot")
    code, _, err = run(
        capsys, "user", "add", "bot", "--no-password", "--key", str(pub), "--config", str(cfg)
    )
    assert code == 0, err
    user = load_config(cfg).users["bot"]
    assert user.password_hash is None and len(user.public_keys) == 1


def test_add_key_only_from_stdin(cfg: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    _, line = make_pub(tmp_path, "bot")
    monkeypatch.setattr(sys, "stdin", FakeStdin(line + "\n"))
    code, _, err = run(
        capsys, "user", "add", "bot", "--no-password", "--key", "-", "--config", str(cfg)
    )
    assert code == 0, err
    assert len(load_config(cfg).users["bot"].public_keys) == 1


def test_no_password_without_key_is_refused(cfg: Path, capsys) -> None:
    code, _, err = run(capsys, "user", "add", "dave", "--no-password", "--config", str(cfg))
    assert code == 1
    assert "--no-password needs --key" in err
    assert cfg.read_text() == ORIGINAL


def test_key_from_stdin_needs_no_password(cfg: Path, capsys) -> None:
    code, _, err = run(capsys, "user", "add", "dave", "--key", "-", "--config", str(cfg))
    assert code == 1
    assert "--no-password" in err
    assert cfg.read_text() == ORIGINAL


@pytest.mark.parametrize("name", ["alice", "Alice"])
def test_add_existing_user_is_refused_before_asking(cfg: Path, capsys, monkeypatch, name) -> None:
    stdin = FakeStdin("pw\n")
    monkeypatch.setattr(sys, "stdin", stdin)
    code, _, err = run(capsys, "user", "add", name, "--config", str(cfg))
    assert code == 1
    assert "alice" in err and "Fix:" in err
    assert stdin.tell() == 0  # the password was not even asked for
    assert cfg.read_text() == ORIGINAL


@pytest.mark.parametrize("name", ["9lives", "has space", "x" * 25, "é"])
def test_add_invalid_name_is_refused(cfg: Path, capsys, monkeypatch, name: str) -> None:
    monkeypatch.setattr(sys, "stdin", FakeStdin("pw\n"))
    code, _, err = run(capsys, "user", "add", name, "--config", str(cfg))
    assert code == 1
    assert "not a valid login name" in err
    assert cfg.read_text() == ORIGINAL


def test_add_mismatched_tty_passwords_change_nothing(cfg: Path, capsys, monkeypatch) -> None:
    answers = iter(["one", "two"])
    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt="": next(answers))
    monkeypatch.setattr(sys, "stdin", FakeStdin(tty=True))
    code, _, err = run(capsys, "user", "add", "dave", "--config", str(cfg))
    assert code == 1
    assert "do not match; nothing changed" in err
    assert cfg.read_text() == ORIGINAL


def test_add_empty_stdin_password_is_refused(cfg: Path, capsys) -> None:
    code, _, err = run(capsys, "user", "add", "dave", "--config", str(cfg))
    assert code == 1
    assert "empty password" in err
    assert cfg.read_text() == ORIGINAL


# ---------------------------------------------------------------------------
# user passwd
# ---------------------------------------------------------------------------


def test_passwd_changes_only_that_line(cfg: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", FakeStdin("new-bob-pw\n"))
    code, out, err = run(capsys, "user", "passwd", "bob", "--config", str(cfg))
    assert code == 0, err
    assert "logged in with the old password" in out and "running sshchat server" in out
    before, after = ORIGINAL.splitlines(), cfg.read_text().splitlines()
    assert len(before) == len(after)
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert len(changed) == 1
    assert after[changed[0] - 1] == "[users.bob]"
    assert verifies(load_config(cfg).users["bob"].password_hash, "new-bob-pw")
    assert not verifies(load_config(cfg).users["bob"].password_hash, "bob-demo-pw")


def test_passwd_of_missing_user_is_refused(cfg: Path, capsys, monkeypatch) -> None:
    stdin = FakeStdin("pw\n")
    monkeypatch.setattr(sys, "stdin", stdin)
    code, _, err = run(capsys, "user", "passwd", "zed", "--config", str(cfg))
    assert code == 1
    assert "there is no user 'zed'" in err and "sshchat user list" in err
    assert stdin.tell() == 0
    assert cfg.read_text() == ORIGINAL


def test_passwd_adds_a_password_to_a_key_only_user(cfg: Path, tmp_path: Path, capsys, monkeypatch):
    pub, _ = make_pub(tmp_path, "bot")
    assert (
        run(capsys, "user", "add", "bot", "--no-password", "--key", str(pub), "--config", str(cfg))[
            0
        ]
        == 0
    )
    monkeypatch.setattr(sys, "stdin", FakeStdin("bot-pw\n"))
    code, _, err = run(capsys, "user", "passwd", "bot", "--config", str(cfg))
    assert code == 0, err
    user = load_config(cfg).users["bot"]
    assert verifies(user.password_hash, "bot-pw") and len(user.public_keys) == 1
    text = cfg.read_text()
    assert text.index("password_hash", text.index("[users.bot]")) > text.index("[users.bot]")


# ---------------------------------------------------------------------------
# user key add
# ---------------------------------------------------------------------------


def test_key_add_from_file_and_stdin(cfg: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    first, line1 = make_pub(tmp_path, "k1", "alice@laptop")
    code, out, err = run(capsys, "user", "key", "add", "alice", str(first), "--config", str(cfg))
    assert code == 0, err
    assert "alice@laptop" in out and "running sshchat server" in out
    _, line2 = make_pub(tmp_path, "k2", "alice@phone")
    monkeypatch.setattr(sys, "stdin", FakeStdin(f"# my phone\n{line2}\n"))
    code, _, err = run(capsys, "user", "key", "add", "alice", "-", "--config", str(cfg))
    assert code == 0, err
    user = load_config(cfg).users["alice"]
    assert [k.comment for k in user.public_keys] == ["alice@laptop", "alice@phone"]
    assert verifies(user.password_hash, "alice-demo-pw")  # untouched
    text = cfg.read_text()
    assert_layout_kept(text)
    # The key went into alice's table, not under the comment that introduces bob.
    alice = text[text.index("[users.alice]") : text.index("# Demo password: bob")]
    assert line1 in alice and line2 in alice


def test_duplicate_key_is_refused(cfg: Path, tmp_path: Path, capsys) -> None:
    pub, line = make_pub(tmp_path, "k1", "carol@laptop")
    assert run(capsys, "user", "key", "add", "carol", str(pub), "--config", str(cfg))[0] == 0
    after_first = cfg.read_text()
    # The same key with another comment is still the same key.
    other = tmp_path / "same.pub"
    other.write_text(line.rsplit(" ", 1)[0] + " other-comment\n")
    code, _, err = run(capsys, "user", "key", "add", "carol", str(other), "--config", str(cfg))
    assert code == 1
    assert "already has the key SHA256:" in err
    assert cfg.read_text() == after_first


def test_invalid_key_file_is_refused(cfg: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.pub"
    bad.write_text("ssh-ed25519 not-base64!! me@host\n")
    code, _, err = run(capsys, "user", "key", "add", "bob", str(bad), "--config", str(cfg))
    assert code == 1
    assert "bad.pub" in err and "Fix:" in err
    assert cfg.read_text() == ORIGINAL


def test_private_key_is_refused_and_not_echoed(cfg: Path, tmp_path: Path, capsys) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    private = tmp_path / "id_ed25519"
    secret = key.export_private_key().decode()
    private.write_text(secret)
    code, out, err = run(capsys, "user", "key", "add", "bob", str(private), "--config", str(cfg))
    assert code == 1
    assert "private key" in err and ".pub" in err
    body = secret.splitlines()[1]
    assert body not in out + err
    assert cfg.read_text() == ORIGINAL


def test_key_add_missing_file_or_user(cfg: Path, tmp_path: Path, capsys) -> None:
    code, _, err = run(
        capsys, "user", "key", "add", "bob", str(tmp_path / "nope.pub"), "--config", str(cfg)
    )
    assert code == 1 and "cannot read the key file" in err
    pub, _ = make_pub(tmp_path, "k")
    code, _, err = run(capsys, "user", "key", "add", "zed", str(pub), "--config", str(cfg))
    assert code == 1 and "there is no user 'zed'" in err
    assert cfg.read_text() == ORIGINAL


# ---------------------------------------------------------------------------
# user del
# ---------------------------------------------------------------------------


def test_del_removes_the_table_and_its_comment_only(cfg: Path, capsys) -> None:
    code, out, err = run(capsys, "user", "del", "bob", "--yes", "--config", str(cfg))
    assert code == 0, err
    assert "removed user bob" in out and "ends their open sessions" in out
    text = cfg.read_text()
    assert "[users.bob]" not in text
    assert_layout_kept(text, except_comments=("bob-demo-pw",))
    # carol's comment still sits right above carol's table; no blank lines pile up.
    assert "admin = true\n\n# Demo password: carol-demo-pw   (CHANGE IT)\n[users.carol]\n" in text
    assert "\n\n\n" not in text
    assert set(load_config(cfg).users) == {"alice", "carol"}


@pytest.mark.parametrize(
    ("name", "gone"),
    [
        # alice's table holds a commented-out key: a comment inside the table goes with it.
        ("alice", ("alice-demo-pw", "alice@laptop")),
        ("carol", ("carol-demo-pw",)),
    ],
)
def test_del_first_and_last_user(cfg: Path, capsys, name: str, gone: tuple[str, ...]) -> None:
    assert run(capsys, "user", "del", name, "--config", str(cfg))[0] == 0
    text = cfg.read_text()
    assert_layout_kept(text, except_comments=gone)
    assert "\n\n\n" not in text and text.endswith('"\n')
    assert name not in load_config(cfg).users


def test_del_asks_on_a_tty(cfg: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", FakeStdin("n\n", tty=True))
    code, _, err = run(capsys, "user", "del", "bob", "--config", str(cfg))
    assert code == 1
    assert "Remove user bob" in err and "nothing changed" in err
    assert cfg.read_text() == ORIGINAL
    monkeypatch.setattr(sys, "stdin", FakeStdin("y\n", tty=True))
    assert run(capsys, "user", "del", "bob", "--config", str(cfg))[0] == 0
    assert "bob" not in load_config(cfg).users


def test_del_missing_user_is_an_error(cfg: Path, capsys) -> None:
    code, _, err = run(capsys, "user", "del", "zed", "--yes", "--config", str(cfg))
    assert code == 1
    assert "there is no user 'zed'" in err
    assert cfg.read_text() == ORIGINAL


def test_del_the_only_user_is_refused(tmp_path: Path, capsys) -> None:
    path = tmp_path / "one.toml"
    hashed = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw")
    original = f'[users.solo]\npassword_hash = "{hashed}"\n'
    path.write_text(original)
    code, _, err = run(capsys, "user", "del", "solo", "--yes", "--config", str(path))
    assert code == 1
    assert "only user" in err
    assert path.read_text() == original


# ---------------------------------------------------------------------------
# user list
# ---------------------------------------------------------------------------


def test_list(cfg: Path, tmp_path: Path, capsys) -> None:
    pub, _ = make_pub(tmp_path, "k", "carol@laptop")
    assert run(capsys, "user", "key", "add", "carol", str(pub), "--config", str(cfg))[0] == 0
    code, out, err = run(capsys, "user", "list", "--config", str(cfg))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "ADMIN", "PASSWORD", "KEYS"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["alice"] == ["alice", "yes", "yes", "0"]
    assert rows["bob"] == ["bob", "no", "yes", "0"]
    fingerprint = load_config(cfg).users["carol"].public_keys[0].fingerprint
    assert rows["carol"] == ["carol", "no", "yes", "1", fingerprint, "carol@laptop"]


def test_list_of_a_broken_config_is_a_config_error(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[server\n")
    code, out, err = run(capsys, "user", "list", "--config", str(path))
    assert code == 2 and out == ""
    assert "bad.toml" in err and "invalid TOML" in err


# ---------------------------------------------------------------------------
# Config problems, files, usage
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("broken", "where"),
    [
        ('port = "2222"', "server.port"),  # valid TOML, invalid config
        ("port = ", "invalid TOML"),
    ],
)
def test_a_result_that_fails_validation_writes_nothing(
    cfg: Path, capsys, monkeypatch, broken: str, where: str
) -> None:
    text = ORIGINAL.replace("port = 2222", broken)
    cfg.write_text(text)
    os.utime(cfg, ns=(1_000_000_000, 1_000_000_000))
    for argv in (
        ["user", "add", "dave"],
        ["user", "passwd", "bob"],
        ["user", "del", "bob", "--yes"],
    ):
        monkeypatch.setattr(sys, "stdin", FakeStdin("pw\n"))
        code, out, err = run(capsys, *argv, "--config", str(cfg))
        assert code == 2, argv
        assert where in err and "Fix:" in err
        assert out == ""
        assert cfg.read_text() == text
        assert cfg.stat().st_mtime_ns == 1_000_000_000
    assert sorted(p.name for p in cfg.parent.iterdir()) == ["config.toml"]  # no temp files


def test_missing_config_file(tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "user", "del", "bob", "--config", str(tmp_path / "nope.toml"))
    assert code == 2
    assert "config file not found" in err


def test_mode_is_kept_and_no_temp_file_is_left(cfg: Path, capsys) -> None:
    cfg.chmod(0o640)
    assert run(capsys, "user", "del", "bob", "--config", str(cfg))[0] == 0
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o640
    assert sorted(p.name for p in cfg.parent.iterdir()) == ["config.toml"]


def test_a_symlinked_config_is_edited_through_the_link(cfg: Path, tmp_path: Path, capsys) -> None:
    link = tmp_path / "link.toml"
    link.symlink_to(cfg)
    assert run(capsys, "user", "del", "bob", "--config", str(link))[0] == 0
    assert link.is_symlink()
    assert "[users.bob]" not in cfg.read_text()


def test_write_refuses_a_file_changed_since_it_was_read(cfg: Path) -> None:
    text, stamp = accounts.read_config_text(cfg)
    cfg.write_text(ORIGINAL + "\n# edited meanwhile\n")
    with pytest.raises(ConfigError, match="changed by someone else"):
        accounts.write_atomic(cfg, accounts.remove_user(text, cfg, "bob"), expect=stamp)
    assert cfg.read_text().endswith("# edited meanwhile\n")


def test_crlf_files_keep_their_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "crlf.toml"
    text = ORIGINAL.replace("\n", "\r\n")
    out = accounts.add_user(
        text, path, "dave", password_hash=None, public_key=make_pub(tmp_path, "k")[1]
    )
    assert out.startswith(text)
    assert "\n" not in out.replace("\r\n", "")


@pytest.mark.parametrize("argv", [["user"], ["user", "key"], ["user", "frob"], ["user", "add"]])
def test_usage_errors_exit_1(capsys, argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert "usage: sshchat user" in err


# ---------------------------------------------------------------------------
# user key list / key del, keys shared between users
# ---------------------------------------------------------------------------


def test_key_list_numbers_the_keys(cfg: Path, tmp_path: Path, capsys) -> None:
    for name, comment in (("k1", "alice@laptop"), ("k2", "")):
        pub, _ = make_pub(tmp_path, name, comment)
        assert run(capsys, "user", "key", "add", "alice", str(pub), "--config", str(cfg))[0] == 0
    keys = load_config(cfg).users["alice"].public_keys
    code, out, err = run(capsys, "user", "key", "list", "alice", "--config", str(cfg))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["#", "TYPE", "FINGERPRINT", "COMMENT"]
    assert lines[1].split() == ["1", "ssh-ed25519", keys[0].fingerprint, "alice@laptop"]
    assert lines[2].split() == ["2", "ssh-ed25519", keys[1].fingerprint]
    assert len(lines) == 3


def test_key_list_without_keys_or_user(cfg: Path, capsys) -> None:
    code, out, _ = run(capsys, "user", "key", "list", "bob", "--config", str(cfg))
    assert code == 0
    assert "bob has no public keys" in out and "sshchat user key add bob FILE" in out
    code, _, err = run(capsys, "user", "key", "list", "zed", "--config", str(cfg))
    assert code == 1 and "there is no user 'zed'" in err


def _two_keys(cfg: Path, tmp_path: Path, capsys, user: str = "alice") -> list[str]:
    lines = []
    for name, comment in (("k1", f"{user}@laptop"), ("k2", f"{user}@phone")):
        pub, line = make_pub(tmp_path, f"{user}-{name}", comment)
        assert run(capsys, "user", "key", "add", user, str(pub), "--config", str(cfg))[0] == 0
        lines.append(line)
    return lines


@pytest.mark.parametrize("how", ["number", "fingerprint", "bare-fingerprint"])
def test_key_del_by_number_or_fingerprint(cfg: Path, tmp_path: Path, capsys, how: str) -> None:
    laptop, phone = _two_keys(cfg, tmp_path, capsys)
    fingerprint = load_config(cfg).users["alice"].public_keys[0].fingerprint
    which = {
        "number": "1",
        "fingerprint": fingerprint,
        "bare-fingerprint": fingerprint.removeprefix("SHA256:"),
    }[how]
    code, out, err = run(capsys, "user", "key", "del", "alice", which, "--config", str(cfg))
    assert code == 0, err
    assert f"removed key {fingerprint} (alice@laptop) from alice" in out
    assert "running sshchat server" in out
    # A running server ends the connections that logged in with that key (the
    # security round made it so): the message must not promise they stay.
    assert "sessions open now stay" not in out and "connections that logged in with it" in out
    text = cfg.read_text()
    assert laptop not in text and phone in text
    assert [k.comment for k in load_config(cfg).users["alice"].public_keys] == ["alice@phone"]
    assert_layout_kept(text)


def test_key_del_help_says_what_happens_to_open_connections(capsys) -> None:
    code, out, _ = run(capsys, "user", "key", "del", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "open sessions stay" not in text
    assert "connections that logged in with it" in text


def test_key_del_of_the_last_key_removes_the_line(cfg: Path, tmp_path: Path, capsys) -> None:
    pub, _ = make_pub(tmp_path, "k", "bob@laptop")
    assert run(capsys, "user", "key", "add", "bob", str(pub), "--config", str(cfg))[0] == 0
    assert cfg.read_text() != ORIGINAL
    assert run(capsys, "user", "key", "del", "bob", "1", "--config", str(cfg))[0] == 0
    assert cfg.read_text() == ORIGINAL  # back to the byte


def test_key_del_keeps_the_comments_inside_the_list(tmp_path: Path, capsys) -> None:
    lines = [make_pub(tmp_path, f"k{i}", f"me@host{i}")[1] for i in range(3)]
    path = tmp_path / "keys.toml"
    path.write_text(
        "[users.bot]\n"
        "public_keys = [\n"
        f'    "{lines[0]}",  # the laptop\n'
        "    # the old phone, going away:\n"
        f'    "{lines[1]}",\n'
        f'    "{lines[2]}",  # the server\n'
        "]\n"
    )
    assert run(capsys, "user", "key", "del", "bot", "2", "--config", str(path))[0] == 0
    text = path.read_text()
    assert lines[1] not in text
    assert f'"{lines[0]}",  # the laptop\n' in text
    assert f'"{lines[2]}",  # the server\n' in text
    assert [k.comment for k in load_config(path).users["bot"].public_keys] == [
        "me@host0",
        "me@host2",
    ]


def test_key_del_refusals_name_what_is_there(cfg: Path, tmp_path: Path, capsys) -> None:
    _two_keys(cfg, tmp_path, capsys)
    before = cfg.read_text()
    keys = load_config(cfg).users["alice"].public_keys
    code, _, err = run(capsys, "user", "key", "del", "alice", "SHA256:nope", "--config", str(cfg))
    assert code == 1
    assert "user 'alice' has no key 'SHA256:nope'" in err
    assert f"1 {keys[0].fingerprint} (alice@laptop); 2 {keys[1].fingerprint} (alice@phone)" in err
    code, _, err = run(capsys, "user", "key", "del", "alice", "3", "--config", str(cfg))
    assert code == 1 and "has 2 keys, so there is no key number 3" in err
    code, _, err = run(capsys, "user", "key", "del", "bob", "1", "--config", str(cfg))
    assert code == 1 and "user 'bob' has no public keys" in err
    code, _, err = run(capsys, "user", "key", "del", "zed", "1", "--config", str(cfg))
    assert code == 1 and "there is no user 'zed'" in err
    assert cfg.read_text() == before


def test_key_del_of_a_wrong_number_with_one_key(cfg: Path, tmp_path: Path, capsys) -> None:
    # Seen in tmux: "give a number from 1 to 1".
    pub, _ = make_pub(tmp_path, "only", "alice@laptop")
    assert run(capsys, "user", "key", "add", "alice", str(pub), "--config", str(cfg))[0] == 0
    fingerprint = load_config(cfg).users["alice"].public_keys[0].fingerprint
    code, _, err = run(capsys, "user", "key", "del", "alice", "5", "--config", str(cfg))
    assert code == 1 and "has 1 key, so there is no key number 5" in err
    assert "from 1 to 1" not in err
    assert f"its only key is number 1: {fingerprint} (alice@laptop)" in err


def test_key_del_refuses_to_lock_out_a_key_only_user(cfg: Path, tmp_path: Path, capsys) -> None:
    pub, _ = make_pub(tmp_path, "bot")
    args = ("--no-password", "--key", str(pub), "--config", str(cfg))
    assert run(capsys, "user", "add", "bot", *args)[0] == 0
    before = cfg.read_text()
    code, _, err = run(capsys, "user", "key", "del", "bot", "1", "--config", str(cfg))
    assert code == 1
    assert "only way user 'bot' can log in" in err and "sshchat user passwd bot" in err
    assert cfg.read_text() == before


def test_a_key_of_another_user_is_refused_unless_forced(
    cfg: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    pub, _ = make_pub(tmp_path, "shared", "alice@laptop")
    assert run(capsys, "user", "key", "add", "alice", str(pub), "--config", str(cfg))[0] == 0
    fingerprint = load_config(cfg).users["alice"].public_keys[0].fingerprint
    before = cfg.read_text()
    code, _, err = run(capsys, "user", "key", "add", "bob", str(pub), "--config", str(cfg))
    assert code == 1
    assert f"the key {fingerprint} already belongs to user 'alice'" in err
    assert "--force" in err
    assert cfg.read_text() == before
    # user add --key is refused the same way, before the password is asked for.
    stdin = FakeStdin("pw\n")
    monkeypatch.setattr(sys, "stdin", stdin)
    code, _, err = run(capsys, "user", "add", "dave", "--key", str(pub), "--config", str(cfg))
    assert code == 1 and "already belongs to user 'alice'" in err
    assert stdin.tell() == 0
    assert cfg.read_text() == before
    # --force: one person, two accounts, one key.
    code, _, err = run(
        capsys, "user", "key", "add", "bob", str(pub), "--force", "--config", str(cfg)
    )
    assert code == 0, err
    users = load_config(cfg).users
    assert users["bob"].public_keys[0].fingerprint == fingerprint
    assert users["alice"].public_keys[0].fingerprint == fingerprint
