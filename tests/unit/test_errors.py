"""One error base for everything a person sees, and one "where: problem. Fix: fix." shape."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sshchat.config.edit import AccountError
from sshchat.config.schema import ConfigError
from sshchat.core.model import HubError
from sshchat.errors import FixError, SshchatError, StartupError
from sshchat.storage.sqlite import StoreError


@pytest.mark.parametrize("cls", [ConfigError, AccountError, StoreError, StartupError])
def test_fix_errors_share_the_base(cls: type) -> None:
    assert issubclass(cls, FixError)
    assert issubclass(cls, SshchatError)


def test_hub_refusals_are_person_facing_errors() -> None:
    assert issubclass(HubError, SshchatError)
    assert not issubclass(HubError, FixError)  # "no such channel" needs no Fix: line


def test_rendering() -> None:
    err = FixError("config.toml: users.bob", "not an argon2id hash.", "run `sshchat hash-password`")
    assert str(err) == (
        "config.toml: users.bob: not an argon2id hash. Fix: run `sshchat hash-password`."
    )
    assert (err.where, err.problem, err.fix) == (
        "config.toml: users.bob",
        "not an argon2id hash.",
        "run `sshchat hash-password`",
    )
    assert str(FixError(None, "cannot listen on :22", "choose another port!")) == (
        "cannot listen on :22. Fix: choose another port!"
    )
    assert str(FixError(Path("/x/db"), "locked", "stop it")) == "/x/db: locked. Fix: stop it."


def test_subclasses_keep_their_constructors() -> None:
    config = ConfigError(Path("c.toml"), "server.port", "70000 is out of range", "use 0-65535")
    assert str(config) == "c.toml: server.port: 70000 is out of range. Fix: use 0-65535."
    assert (config.path, config.key) == (Path("c.toml"), "server.port")
    assert str(ConfigError("c.toml", None, "file not found", "check the path")) == (
        "c.toml: file not found. Fix: check the path."
    )
    account = AccountError("c.toml: users.bob", "no such user", "check the name")
    assert str(account) == "c.toml: users.bob: no such user. Fix: check the name."


@given(
    where=st.none() | st.text(min_size=1, max_size=20).filter(lambda s: s.strip() == s),
    problem=st.text(min_size=1, max_size=40).filter(lambda s: s.strip(" .") != ""),
    fix=st.text(min_size=1, max_size=40).filter(lambda s: s.strip() != ""),
)
def test_one_fix_and_no_double_full_stop(where: str | None, problem: str, fix: str) -> None:
    text = str(FixError(where, problem, fix))
    assert ". Fix: " in text
    assert ".. Fix: " not in text
    assert text[-1] in ".!?"
    if where is not None:
        assert text.startswith(f"{where}: ")
