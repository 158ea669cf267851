"""Config options are declared once, on their fields; the parser and the reload code obey that.

See :func:`sshchat.config.schema.option`. Each test walks every declaration,
so a new option is covered as soon as it is declared.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import argon2
import pytest
from helpers.options import changed

from sshchat.config.schema import (
    OPTIONS,
    Config,
    ConfigError,
    Limits,
    Metrics,
    Storage,
    options_of,
    parse_config,
    settings_of,
)
from sshchat.config.watch import effective_config, live_settings, restart_settings
from sshchat.core import model as core

HASH = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw")
USERS = f'[users.alice]\npassword_hash = "{HASH}"\n'


def base() -> Config:
    return parse_config(USERS, Path("/srv/chat/c.toml"))


def toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return repr(value)


def test_every_field_of_every_section_is_declared() -> None:
    # An undeclared field would have no default, range or live flag in one place.
    for cls in (Limits, Metrics, Storage):
        assert [f.name for f, _ in options_of(cls)] == [f.name for f in dataclasses.fields(cls)]
    undeclared = {f.name for f in dataclasses.fields(Config)} - {
        f.name for f, _ in options_of(Config)
    }
    assert undeclared == {"path", "users", "limits", "metrics", "storage", "cluster"}
    assert len(list(settings_of(base()))) == len(OPTIONS)


def test_keys_are_their_tables_and_names() -> None:
    for cls, table in ((Limits, "limits"), (Metrics, "metrics"), (Storage, "storage")):
        for f, declared in options_of(cls):
            assert declared.key == f"{table}.{f.name}"
    assert all(declared.key.startswith("server.") for _, declared in options_of(Config))


def test_an_empty_file_gives_the_declared_defaults() -> None:
    config = base()
    for declared, value in settings_of(config):
        if declared.key == "server.host_keys":
            assert value == tuple(Path("/srv/chat") / p for p in declared.default)
        elif declared.key == "storage.path":
            assert value == Path("/srv/chat") / declared.default
        else:
            assert value == declared.default, declared.key
    # The dataclasses' own defaults agree with what the file's defaults parse to.
    assert config.limits == Limits()
    assert config.metrics == Metrics()


def test_core_defaults_are_the_config_defaults() -> None:
    assert OPTIONS["limits.max_line_length"].default == core.DEFAULT_MAX_TEXT
    assert OPTIONS["storage.history_lines"].range == (0, core.HISTORY_KEEP)
    assert OPTIONS["server.default_channel"].default == core.DEFAULT_CHANNEL


@pytest.mark.parametrize("key", [k for k, o in OPTIONS.items() if o.range is not None])
def test_the_declared_range_is_what_the_parser_accepts(key: str) -> None:
    declared = OPTIONS[key]
    assert declared.range is not None
    low, high = declared.range
    table, _, name = key.partition(".")
    for good in (low, high):
        config = parse_config(f"[{table}]\n{name} = {toml(good)}\n{USERS}", Path("c.toml"))
        assert dict((o.key, v) for o, v in settings_of(config))[key] == good
    too_big = high + 1 if isinstance(high, int) else high * 2
    too_small = low - 1 if isinstance(low, int) else low / 2
    for bad in (too_small, too_big):
        with pytest.raises(ConfigError) as err:
            parse_config(f"[{table}]\n{name} = {toml(bad)}\n{USERS}", Path("c.toml"))
        assert f"c.toml: {key}: {bad} is out of range" in str(err.value)


@pytest.mark.parametrize("key", list(OPTIONS))
def test_a_change_is_live_or_waits_for_a_restart_as_declared(key: str) -> None:
    old = base()
    new = changed(old, key)
    declared = OPTIONS[key]
    effective = effective_config(old, new)
    values = dict((o.key, v) for o, v in settings_of(effective))
    if declared.live:
        assert live_settings(old, new) == (key,)
        assert restart_settings(old, new) == ()
        assert values[key] == dict((o.key, v) for o, v in settings_of(new))[key]
    else:
        assert restart_settings(old, new) == (key,)
        assert live_settings(old, new) == ()
        assert effective == old  # the running value stays
