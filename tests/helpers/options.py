"""Config options changed one at a time (for tests of reloads and declarations)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from sshchat.config import edit as accounts
from sshchat.config.schema import Config, Option, options_of

__all__ = ["changed", "edit_config", "other"]


def other(value: Any, declared: Option) -> Any:
    """A valid value different from *value* (a parsed setting)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        assert declared.range is not None
        low, high = declared.range
        return value + 1 if value + 1 <= high else low
    if isinstance(value, str):
        return value + "x" if declared.key != "server.default_channel" else "hall"
    if isinstance(value, tuple):
        return (Path("/elsewhere/key"),)
    return Path("/elsewhere/db")  # storage.path


def changed(config: Config, key: str) -> Config:
    """*config* with only the option *key* changed."""
    for f in dataclasses.fields(Config):
        declared = f.metadata.get("option")
        if isinstance(declared, Option) and declared.key == key:
            value = getattr(config, f.name)
            return dataclasses.replace(config, **{f.name: other(value, declared)})
        section = getattr(config, f.name)
        if dataclasses.is_dataclass(section):
            for sub, sub_declared in options_of(type(section)):
                if sub_declared.key == key:
                    value = other(getattr(section, sub.name), sub_declared)
                    return dataclasses.replace(
                        config, **{f.name: dataclasses.replace(section, **{sub.name: value})}
                    )
    raise AssertionError(f"no option {key}")


def edit_config(path: Path, change) -> None:
    """Apply ``change(text, path) -> text`` to the config file, as `sshchat user` does."""
    text, stamp = accounts.read_config_text(path)
    accounts.write_atomic(path, change(text, path), expect=stamp)
