"""Tests for sshchat.config.schema."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import struct
import subprocess
import sys
import tomllib
from pathlib import Path

import argon2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from helpers.paths import EXAMPLE, REPO
from hypothesis import given
from hypothesis import strategies as st

from sshchat.config.schema import (
    NAME_RULE,
    OPTIONS,
    AuthorizedKey,
    Config,
    ConfigError,
    Limits,
    load_config,
    parse_authorized_key,
    parse_config,
    valid_name,
)

CHEAP = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
HASH = CHEAP.hash("secret")


def ed25519_line(comment: str = "me@host") -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    text = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{text.decode()} {comment}".strip()


KEY = ed25519_line()


def cfg(body: str, users: str | None = None) -> str:
    """A config text with *body* plus a valid user (unless *users* replaces it)."""
    if users is None:
        users = f'[users.alice]\npassword_hash = "{HASH}"\n'
    return f"{body}\n{users}"


# ---------------------------------------------------------------------------
# The example file
# ---------------------------------------------------------------------------


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE)
    assert isinstance(config, Config)
    assert config.path == EXAMPLE
    assert config.listen_host == "127.0.0.1"
    assert config.listen_port == 2222
    assert config.host_keys == (REPO / "keys" / "ssh_host_ed25519_key",)
    assert config.default_channel == "lobby"
    assert config.limits == Limits()
    assert set(config.users) == {"alice", "bob", "carol"}
    assert config.users["alice"].admin is True
    assert config.users["bob"].admin is False
    assert config.users["carol"].admin is False
    assert "\n" in config.motd


def test_example_demo_passwords_match() -> None:
    config = load_config(EXAMPLE)
    ph = argon2.PasswordHasher()
    for name in ("alice", "bob", "carol"):
        user = config.users[name]
        assert user.name == name
        assert user.password_hash is not None
        assert user.password_hash.startswith("$argon2id$")
        # Library defaults, so timing matches the Authenticator's dummy hash.
        assert not ph.check_needs_rehash(user.password_hash)
        assert ph.verify(user.password_hash, f"{name}-demo-pw")


# ---------------------------------------------------------------------------
# Defaults and good values
# ---------------------------------------------------------------------------


def test_defaults(tmp_path: Path) -> None:
    config = parse_config(cfg(""), tmp_path / "c.toml")
    assert config.path == tmp_path / "c.toml"
    assert config.listen_host == "127.0.0.1"
    assert config.listen_port == 2222
    assert config.host_keys == (tmp_path / "keys" / "ssh_host_ed25519_key",)
    assert config.server_name == "sshchat"
    assert config.motd
    assert config.default_channel == "lobby"
    assert config.limits == Limits(max_line_length=2000, outbound_queue=1000, auth_workers=2)
    alice = config.users["alice"]
    assert alice.password_hash == HASH
    assert alice.public_keys == ()
    assert alice.admin is False


def test_full_config(tmp_path: Path) -> None:
    text = f"""
[server]
listen = "0.0.0.0"
port = 0
host_keys = ["a/key1", "/abs/key2"]
name = "My chat"
motd = \"\"\"
line one
line two
\"\"\"
default_channel = "general"

[limits]
max_line_length = 10
outbound_queue = 5
auth_workers = 1

[users.bob]
public_keys = ["{KEY}"]
admin = true

[users.Carol_2]
password_hash = "{HASH}"
public_keys = []
"""
    config = parse_config(text, tmp_path / "x" / "config.toml")
    assert config.listen_host == "0.0.0.0"
    assert config.listen_port == 0
    assert config.host_keys == (tmp_path / "x" / "a" / "key1", Path("/abs/key2"))
    assert config.server_name == "My chat"
    assert config.motd == "line one\nline two"
    assert config.default_channel == "general"
    assert config.limits == Limits(max_line_length=10, outbound_queue=5, auth_workers=1)
    bob = config.users["bob"]
    assert bob.admin is True
    assert bob.password_hash is None
    assert len(bob.public_keys) == 1
    assert bob.public_keys[0].comment == "me@host"
    assert config.users["Carol_2"].password_hash == HASH


def test_relative_host_key_resolved_against_config_dir(tmp_path: Path, monkeypatch) -> None:
    conf_dir = tmp_path / "etc" / "sshchat"
    conf_dir.mkdir(parents=True)
    path = conf_dir / "config.toml"
    path.write_text(cfg('[server]\nhost_keys = ["keys/hk", "../other/hk2"]'))
    monkeypatch.chdir(tmp_path)  # a different cwd must not matter
    config = load_config(Path("etc/sshchat/config.toml"))
    assert config.path == path
    assert config.path.is_absolute()
    assert config.host_keys[0] == conf_dir / "keys" / "hk"
    assert config.host_keys[1].resolve() == tmp_path / "etc" / "other" / "hk2"
    assert all(p.is_absolute() for p in config.host_keys)


def test_users_mapping_is_read_only(tmp_path: Path) -> None:
    config = parse_config(cfg(""), tmp_path / "c.toml")
    with pytest.raises(TypeError):
        config.users["eve"] = config.users["alice"]  # type: ignore[index]


def test_password_hash_not_in_repr(tmp_path: Path) -> None:
    config = parse_config(cfg(""), tmp_path / "c.toml")
    assert HASH not in repr(config)


# ---------------------------------------------------------------------------
# Errors: each names the key and gives a fix
# ---------------------------------------------------------------------------

ARGON2I = argon2.PasswordHasher(
    time_cost=1, memory_cost=8192, parallelism=1, type=argon2.Type.I
).hash("x")
BCRYPT = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"

ERROR_CASES = [
    # (id, config text, expected key, fragment expected in the message)
    ("bad-toml", cfg("[server\nport = 1"), None, "line 1"),
    ("unknown-table", cfg("[sever]\nport = 1"), "sever", "'server'"),
    ("unknown-server-key", cfg("[server]\nprot = 1"), "server.prot", "'port'"),
    ("unknown-limits-key", cfg("[limits]\nmax_line = 1"), "limits.max_line", "max_line_length"),
    ("top-level-server-key", cfg("port = 2222"), "port", "[server]"),
    (
        "unknown-user-key",
        cfg("", f'[users.alice]\npasword_hash = "{HASH}"'),
        "users.alice.pasword_hash",
        "'password_hash'",
    ),
    ("server-not-table", cfg('server = "x"'), "server", "[server]"),
    ("port-string", cfg('[server]\nport = "2222"'), "server.port", "without quotes"),
    ("port-bool", cfg("[server]\nport = true"), "server.port", "boolean"),
    ("port-float", cfg("[server]\nport = 22.5"), "server.port", "whole number"),
    ("port-too-big", cfg("[server]\nport = 65536"), "server.port", "between 0 and 65535"),
    ("port-negative", cfg("[server]\nport = -1"), "server.port", "between 0 and 65535"),
    ("listen-int", cfg("[server]\nlisten = 127"), "server.listen", "string"),
    ("listen-empty", cfg('[server]\nlisten = ""'), "server.listen", "0.0.0.0"),
    ("host-keys-empty", cfg("[server]\nhost_keys = []"), "server.host_keys", "host_keys = ["),
    ("host-keys-string", cfg('[server]\nhost_keys = "k"'), "server.host_keys", "list"),
    ("host-keys-item", cfg("[server]\nhost_keys = [1]"), "server.host_keys[0]", "string"),
    ("name-empty", cfg('[server]\nname = ""'), "server.name", "non-empty"),
    ("motd-int", cfg("[server]\nmotd = 3"), "server.motd", "string"),
    (
        "bad-channel",
        cfg('[server]\ndefault_channel = "#lobby"'),
        "server.default_channel",
        NAME_RULE,
    ),
    ("limit-zero", cfg("[limits]\nmax_line_length = 0"), "limits.max_line_length", "between 1"),
    ("limit-bool", cfg("[limits]\noutbound_queue = true"), "limits.outbound_queue", "boolean"),
    ("limit-negative", cfg("[limits]\nauth_workers = -2"), "limits.auth_workers", "between 1"),
    ("rate-string", cfg('[limits]\nmessage_rate = "fast"'), "limits.message_rate", "number"),
    ("rate-zero", cfg("[limits]\nmessage_rate = 0"), "limits.message_rate", "between"),
    ("limit-typo", cfg("[limits]\nmessage_brust = 3"), "limits.message_brust", "message_burst"),
    ("no-users", cfg("[server]", users=""), "users", "hash-password"),
    ("users-empty", cfg("", users="[users]"), "users", "[users.<name>]"),
    ("users-not-table", cfg("", users='users = "alice"'), "users", "[users]"),
    (
        "bad-login-name",
        cfg("", f'[users."9lives"]\npassword_hash = "{HASH}"'),
        "users.",
        NAME_RULE,
    ),
    (
        "login-name-too-long",
        cfg("", f'[users.{"a" * 25}]\npassword_hash = "{HASH}"'),
        "users.",
        NAME_RULE,
    ),
    (
        "case-duplicate-names",
        cfg(
            "", f'[users.alice]\npassword_hash = "{HASH}"\n[users.Alice]\npassword_hash = "{HASH}"'
        ),
        "users.Alice",
        "different names",
    ),
    ("user-not-table", cfg("", "[users]\nalice = 1"), "users.alice", "[users.alice]"),
    (
        "no-credentials",
        cfg("", "[users.alice]\nadmin = true"),
        "users.alice",
        "can never log in",
    ),
    (
        "hash-not-string",
        cfg("", "[users.alice]\npassword_hash = 1"),
        "users.alice.password_hash",
        "sshchat hash-password",
    ),
    (
        "hash-plaintext",
        cfg("", '[users.alice]\npassword_hash = "hunter2"'),
        "users.alice.password_hash",
        "sshchat hash-password",
    ),
    (
        "hash-empty",
        cfg("", '[users.alice]\npassword_hash = ""'),
        "users.alice.password_hash",
        "sshchat hash-password",
    ),
    (
        "hash-argon2i",
        cfg("", f'[users.alice]\npassword_hash = "{ARGON2I}"'),
        "users.alice.password_hash",
        "sshchat hash-password",
    ),
    (
        "hash-bcrypt",
        cfg("", f'[users.alice]\npassword_hash = "{BCRYPT}"'),
        "users.alice.password_hash",
        "sshchat hash-password",
    ),
    (
        "hash-truncated",
        cfg("", f'[users.alice]\npassword_hash = "{HASH.rsplit("$", 1)[0]}"'),
        "users.alice.password_hash",
        "sshchat hash-password",
    ),
    (
        "hash-huge-memory",
        cfg(
            "",
            '[users.alice]\npassword_hash = "' + HASH.replace("m=8192", "m=8388608") + '"',
        ),
        "users.alice.password_hash",
        "unreasonable",
    ),
    (
        "keys-string",
        cfg("", f'[users.alice]\npublic_keys = "{KEY}"'),
        "users.alice.public_keys",
        "list",
    ),
    (
        "key-not-string",
        cfg("", "[users.alice]\npublic_keys = [1]"),
        "users.alice.public_keys[0]",
        ".pub",
    ),
    (
        "key-garbage",
        cfg("", '[users.alice]\npublic_keys = ["not a key"]'),
        "users.alice.public_keys[0]",
        ".pub",
    ),
    (
        "key-with-options",
        cfg("", f"[users.alice]\npublic_keys = ['no-pty {KEY}']"),
        "users.alice.public_keys[0]",
        "options",
    ),
    (
        "admin-string",
        cfg("", f'[users.alice]\npassword_hash = "{HASH}"\nadmin = "yes"'),
        "users.alice.admin",
        "admin = true",
    ),
]


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_config_errors(tmp_path: Path, text: str, key: str | None, fragment: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    message = str(err)
    assert message.startswith(f"{path}: ")
    assert "Fix: " in message
    assert err.fix
    assert err.problem
    if key is None:
        assert err.key is None
    else:
        assert err.key is not None
        assert err.key.startswith(key)
        assert f": {err.key}: " in message
    assert fragment in message
    assert "\n" not in message


def test_config_error_format() -> None:
    err = ConfigError(
        "config.toml",
        "users.alice.password_hash",
        "not an argon2id hash",
        "run `sshchat hash-password` and paste its output.",
    )
    assert str(err) == (
        "config.toml: users.alice.password_hash: not an argon2id hash. "
        "Fix: run `sshchat hash-password` and paste its output."
    )
    assert (err.path, err.key) == ("config.toml", "users.alice.password_hash")
    err = ConfigError(Path("c.toml"), None, "file not found.", "create it")
    assert str(err) == "c.toml: file not found. Fix: create it."


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml")
    assert "not found" in str(info.value)
    assert info.value.key is None


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="directory"):
        load_config(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b"[server]\nname = '\xff'\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(path)


def test_bad_toml_reports_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("[server]\nport = = 3\n", tmp_path / "c.toml")
    assert "line 2" in str(info.value)
    assert "column" in str(info.value)


def test_unknown_key_suggests_closest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(cfg("[server]\ndefault_chanel = 'x'"), tmp_path / "c.toml")
    assert "did you mean 'default_channel'" in str(info.value)


# ---------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "alice", "Bob_2", "x-y", "a" * 24, "Z9"])
def test_valid_names(name: str) -> None:
    assert valid_name(name)


@pytest.mark.parametrize(
    "name", ["", "1abc", "_a", "-a", "a" * 25, "al ice", "alice\n", "é", "a.b", "#x", "a@b"]
)
def test_invalid_names(name: str) -> None:
    assert not valid_name(name)


def test_valid_name_rejects_non_strings() -> None:
    assert not valid_name(None)  # type: ignore[arg-type]
    assert not valid_name(b"alice")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Public keys
# ---------------------------------------------------------------------------


def test_fingerprint_matches_hashlib() -> None:
    key = parse_authorized_key(KEY)
    b64 = KEY.split()[1]
    blob = base64.b64decode(b64)
    assert key.algorithm == "ssh-ed25519"
    assert key.blob == blob
    assert key.comment == "me@host"
    expected = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    assert key.fingerprint == f"SHA256:{expected}"
    assert "=" not in key.fingerprint


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")
def test_fingerprint_matches_ssh_keygen(tmp_path: Path) -> None:
    pub = tmp_path / "id.pub"
    pub.write_text(KEY + "\n")
    out = subprocess.run(
        ["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    # "256 SHA256:xxxx me@host (ED25519)"
    assert out.split()[1] == parse_authorized_key(KEY).fingerprint


def _openssh(public_key) -> str:
    return public_key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


@pytest.mark.parametrize(
    ("make", "algorithm"),
    [
        (lambda: rsa.generate_private_key(65537, 1024).public_key(), "ssh-rsa"),
        (lambda: ec.generate_private_key(ec.SECP256R1()).public_key(), "ecdsa-sha2-nistp256"),
        (lambda: ec.generate_private_key(ec.SECP384R1()).public_key(), "ecdsa-sha2-nistp384"),
        (lambda: ec.generate_private_key(ec.SECP521R1()).public_key(), "ecdsa-sha2-nistp521"),
    ],
)
def test_other_key_types(make, algorithm: str) -> None:
    line = _openssh(make())
    key = parse_authorized_key(line)
    assert key.algorithm == algorithm
    assert key.comment == ""
    assert key.blob == base64.b64decode(line.split()[1])


def test_security_key_type() -> None:
    def string(b: bytes) -> bytes:
        return struct.pack(">I", len(b)) + b

    raw = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    blob = string(b"sk-ssh-ed25519@openssh.com") + string(raw) + string(b"ssh:")
    line = f"sk-ssh-ed25519@openssh.com {base64.b64encode(blob).decode()} me@yubikey"
    key = parse_authorized_key(line)
    assert key.algorithm == "sk-ssh-ed25519@openssh.com"
    assert key.blob == blob
    assert key.comment == "me@yubikey"


def test_comment_with_spaces_and_surrounding_whitespace() -> None:
    key = parse_authorized_key(f"  {KEY.rsplit(' ', 1)[0]}   Alice's laptop  \n")
    assert key.comment == "Alice's laptop"


def test_authorized_key_is_frozen() -> None:
    key = parse_authorized_key(KEY)
    assert isinstance(key, AuthorizedKey)
    with pytest.raises(AttributeError):
        key.comment = "x"  # type: ignore[misc]


def _blob_with_name(name: bytes, rest: bytes = b"\x00\x00\x00\x20" + b"\x01" * 32) -> str:
    return base64.b64encode(struct.pack(">I", len(name)) + name + rest).decode()


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("", "empty"),
        ("ssh-ed25519", "missing"),
        ("ssh-ed25519 !!!notbase64", "base64"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB", "base64"),  # truncated
        ("ssh-ed25519 AAAA", "too short"),
        (f"ssh-ed25519 {_blob_with_name(b'ssh-rsa')}", "says it is a 'ssh-rsa' key"),
        (f"ssh-ed25519 {_blob_with_name(b'ssh-ed25519', b'')}", "corrupt"),
        (f"ssh-ed25519 {_blob_with_name(b'ssh-ed25519', b'junk')}", "corrupt"),
        (f'from="10.0.0.1" {KEY}', "options"),
        (f'command="echo hi there",no-pty {KEY}', "options"),
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "obsolete"),
        ("ssh-foo AAAA", "unsupported key type"),
        ("ssh-ed25519-cert-v01@openssh.com AAAA", "certificates"),
        ("hello world", "not a key type"),
        (f"{KEY}\nssh-ed25519 AAAA", "single line"),
    ],
)
def test_bad_public_keys(line: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_authorized_key(line)
    assert fragment in str(info.value)


def test_public_key_trailing_garbage_rejected() -> None:
    algo, b64, *_ = KEY.split()
    blob = base64.b64decode(b64) + b"\x00\x00\x00\x01x"
    with pytest.raises(ValueError, match="corrupt"):
        parse_authorized_key(f"{algo} {base64.b64encode(blob).decode()}")


@given(st.text(max_size=200))
def test_parse_authorized_key_only_raises_value_error(text: str) -> None:
    try:
        key = parse_authorized_key(text)
    except ValueError:
        return
    assert key.fingerprint.startswith("SHA256:")


@given(st.text(max_size=30))
def test_valid_name_matches_rule(name: str) -> None:
    expected = (
        1 <= len(name) <= 24
        and name[0].isascii()
        and name[0].isalpha()
        and all(c.isascii() and (c.isalnum() or c in "_-") for c in name)
    )
    assert valid_name(name) == expected


def test_pure_layers_do_not_import_ssh_or_ui_libraries() -> None:
    code = (
        "import sys, sshchat.config.schema, sshchat.security.passwords; "
        "bad = [m for m in ('asyncssh', 'prompt_toolkit') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_limits_accept_fractional_rate_and_keep_defaults() -> None:
    config = parse_config(cfg("[limits]\nmessage_rate = 2.5\nmessage_burst = 40"), Path("c.toml"))
    assert config.limits.message_rate == 2.5
    assert config.limits.message_burst == 40
    assert config.limits.max_auth_attempts == Limits.max_auth_attempts
    whole = parse_config(cfg("[limits]\nmessage_rate = 3"), Path("c.toml"))
    assert whole.limits.message_rate == 3.0


def test_example_config_shows_every_option_with_its_declared_default() -> None:
    text = EXAMPLE.read_text()
    doc = tomllib.loads(text)
    # The example shows a demo message of the day rather than the built-in one.
    shown_otherwise = {"server.motd"}
    for key, declared in OPTIONS.items():
        section, _, name = key.partition(".")
        if section == "cluster":  # shown commented out: without [cluster], a single node
            shown = f"# {name} = {json.dumps(declared.default)}"
            assert re.search(rf"^{re.escape(shown)}$", text, flags=re.MULTILINE), key
            continue
        assert name in doc[section], f"config.example.toml does not show {key}"
        if key not in shown_otherwise:
            assert doc[section][name] == declared.default, key
    for key in Limits.__dataclass_fields__:
        assert re.search(rf"^{key} = ", text, flags=re.MULTILINE), key
