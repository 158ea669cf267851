"""Loading and validating the sshchat TOML configuration.

This is a pure layer: it reads the config file and nothing else (no sockets,
no SSH library).  Every problem is reported as a :class:`ConfigError` that
names the file, the dotted key, what is wrong and how to fix it, so that the
command line can print one clear line instead of a traceback.

The file layout is documented in ``config.example.toml``.

Every option is declared once, on its dataclass field, with :func:`option`:
its default (as written in the file), the range of accepted values and
whether a running server applies a change at once (``live``).  The parser,
the reload code (:mod:`sshchat.config.watch`) and the test that compares
``config.example.toml`` all read those declarations (:data:`OPTIONS`).
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import re
import socket
import struct
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import argon2
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from sshchat.core.model import (
    DEFAULT_CHANNEL,
    DEFAULT_COMMAND_BURST,
    DEFAULT_COMMAND_RATE,
    DEFAULT_HISTORY_LINES,
    DEFAULT_MAX_CHANNELS_PER_USER,
    DEFAULT_MAX_PASTE_LINES,
    DEFAULT_MAX_TEXT,
    DEFAULT_MESSAGE_BURST,
    DEFAULT_PRESENCE_SUMMARY_OVER,
    HISTORY_KEEP,
)
from sshchat.core.names import NAME_RULE, valid_name
from sshchat.errors import FixError

__all__ = [
    "MEMORY_PATH",
    "NAME_RULE",
    "OPTIONS",
    "AuthorizedKey",
    "Cluster",
    "Config",
    "ConfigError",
    "Limits",
    "Metrics",
    "Option",
    "Storage",
    "UserConfig",
    "load_config",
    "option",
    "options_of",
    "parse_authorized_key",
    "parse_config",
    "settings_of",
    "valid_name",
]

# ---------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------

# NAME_RULE and valid_name live in sshchat.core.names (the hub checks names too).


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class ConfigError(FixError):
    """One clear, human message: names the file, the key and the fix.

    ``str(err)`` looks like::

        config.toml: users.alice.password_hash: not an argon2id hash. Fix: run
        `sshchat hash-password` and paste its output.

    The key part is omitted when *key* is None (e.g. the file is missing).
    """

    def __init__(self, path: Path | str, key: str | None, problem: str, fix: str) -> None:
        self.path = path
        self.key = key
        super().__init__(f"{path}: {key}" if key else f"{path}", problem, fix)


# ---------------------------------------------------------------------------
# Data model
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizedKey:
    """One SSH public key allowed to log in as a user."""

    algorithm: str  # e.g. "ssh-ed25519"
    blob: bytes  # the base64-decoded key blob (what SSH sends as the public key data)
    comment: str
    fingerprint: str  # "SHA256:<base64 of sha256(blob), no padding>" like ssh-keygen -l


@dataclass(frozen=True)
class UserConfig:
    """One configured account."""

    name: str  # login name
    password_hash: str | None = field(repr=False)  # kept out of logs
    public_keys: tuple[AuthorizedKey, ...]
    admin: bool


# ---------------------------------------------------------------------------
# Options: each config key declared once, on its field
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """What the file may say about one setting, read by everything that handles it."""

    key: str  # dotted key in the file, e.g. "limits.max_line_length"
    default: Any  # the value when the key is absent, as written in the file
    range: tuple[float, float] | None  # lowest and highest accepted value, for numbers
    live: bool  # a running server applies a change on reload (else: at the next start)
    doc: str  # one line: what it is

    @property
    def name(self) -> str:
        """The key within its table, e.g. "max_line_length"."""
        return self.key.rpartition(".")[2]


def option(
    key: str,
    default: Any,
    *,
    range: tuple[float, float] | None = None,
    live: bool = False,
    doc: str,
    value: Any = MISSING,
) -> Any:
    """A dataclass field that is a config option (see :class:`Option`).

    The field's own default is *default*, unless *value* gives the parsed
    form (e.g. ``host_keys``: the file says a list of strings, the field
    holds a tuple of paths).
    """
    declared = Option(key, default, range, live, doc)
    initial = default if value is MISSING else value
    metadata = {"option": declared}
    if isinstance(initial, list | dict | set):
        return field(default_factory=lambda: type(initial)(initial), metadata=metadata)
    return field(default=initial, metadata=metadata)


def options_of(cls: type) -> Iterator[tuple[Field[Any], Option]]:
    """The fields of dataclass *cls* declared with :func:`option`, in order."""
    for f in fields(cls):
        declared = f.metadata.get("option")
        if isinstance(declared, Option):
            yield f, declared


# ---------------------------------------------------------------------------
# Data model
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """Resource limits and abuse controls (all under ``[limits]``)."""

    max_line_length: int = option(
        "limits.max_line_length",
        DEFAULT_MAX_TEXT,
        range=(1, 1_000_000),
        live=True,
        doc="characters in one chat line",
    )
    outbound_queue: int = option(
        "limits.outbound_queue",
        1000,
        range=(1, 1_000_000),
        live=True,
        doc="lines queued per session before the oldest are dropped (new sessions)",
    )
    auth_workers: int = option(
        "limits.auth_workers", 2, range=(1, 64), doc="threads verifying argon2 passwords"
    )
    message_burst: int = option(
        "limits.message_burst",
        DEFAULT_MESSAGE_BURST,
        range=(1, 100_000),
        live=True,
        doc="lines a user may send at once ...",
    )
    message_rate: float = option(
        "limits.message_rate",
        1.0,
        range=(0.001, 100_000),
        live=True,
        doc="... then this many per second",
    )
    command_burst: int = option(
        "limits.command_burst",
        DEFAULT_COMMAND_BURST,
        range=(1, 100_000),
        live=True,
        doc="commands that answer only their user (/who, /help...) at once ...",
    )
    command_rate: float = option(
        "limits.command_rate",
        DEFAULT_COMMAND_RATE,
        range=(0.001, 100_000),
        live=True,
        doc="... then this many per second",
    )
    max_paste_lines: int = option(
        "limits.max_paste_lines",
        DEFAULT_MAX_PASTE_LINES,
        range=(1, 10_000),
        live=True,
        doc="lines of one pasted (multi-line) message; a longer paste is refused whole",
    )
    max_auth_attempts: int = option(
        "limits.max_auth_attempts",
        6,
        range=(1, 100),
        live=True,
        doc="failed attempts per connection before it is closed",
    )
    login_grace_time: int = option(
        "limits.login_grace_time", 30, range=(1, 3600), doc="seconds a connection has to log in"
    )
    max_unauthenticated: int = option(
        "limits.max_unauthenticated",
        64,
        range=(1, 1_000_000),
        live=True,
        doc="connections still logging in, server-wide",
    )
    max_handshakes: int = option(
        "limits.max_handshakes",
        16,
        range=(1, 1_000_000),
        live=True,
        doc="key exchanges at once from new addresses while logins fail in a wave",
    )
    max_connections: int = option(
        "limits.max_connections",
        5000,
        range=(1, 1_000_000),
        live=True,
        doc="all connections, server-wide",
    )
    max_connections_per_source: int = option(
        "limits.max_connections_per_source",
        64,
        range=(1, 1_000_000),
        live=True,
        doc="connections from one address",
    )
    max_sessions_per_account: int = option(
        "limits.max_sessions_per_account",
        16,
        range=(1, 1_000_000),
        live=True,
        doc="sessions one account may have open",
    )
    auth_free_failures: int = option(
        "limits.auth_free_failures",
        3,
        range=(0, 1000),
        live=True,
        doc="failed logins from a source or on an account before delays",
    )
    auth_max_delay: int = option(
        "limits.auth_max_delay",
        10,
        range=(0, 3600),
        live=True,
        doc="seconds, the longest delay a failing source waits per attempt",
    )
    auth_block_after: int = option(
        "limits.auth_block_after",
        20,
        range=(1, 1_000_000),
        live=True,
        doc="failures in a row that block the source / account ...",
    )
    auth_block_seconds: int = option(
        "limits.auth_block_seconds",
        600,
        range=(0, 31_536_000),
        live=True,
        doc="... for this long",
    )
    keepalive_interval: int = option(
        "limits.keepalive_interval",
        30,
        range=(0, 86400),
        doc="seconds between keepalives to idle clients (0: off)",
    )
    keepalive_count_max: int = option(
        "limits.keepalive_count_max",
        3,
        range=(1, 1000),
        doc="unanswered keepalives before a client is dropped",
    )
    presence_summary_over: int = option(
        "limits.presence_summary_over",
        DEFAULT_PRESENCE_SUMMARY_OVER,
        range=(0, 1_000_000),
        live=True,
        doc="members above which presence lines are summarised",
    )
    max_channels_per_user: int = option(
        "limits.max_channels_per_user",
        DEFAULT_MAX_CHANNELS_PER_USER,
        range=(0, 1_000_000),
        live=True,
        doc="channels one user may own (admins: any number)",
    )


@dataclass(frozen=True)
class Metrics:
    """The optional Prometheus endpoint (``[metrics]``), off by default."""

    enabled: bool = option("metrics.enabled", False, doc="serve /metrics")
    listen: str = option("metrics.listen", "127.0.0.1", doc="address of the endpoint")
    port: int = option("metrics.port", 9108, range=(0, 65535), doc="port of the endpoint")


#: What ``[storage] path`` says for a database kept in memory only.
MEMORY_PATH = ":memory:"


@dataclass(frozen=True)
class Storage:
    """Where history and lasting state are kept (``[storage]``).

    ``path`` None keeps everything in memory only (``path = ":memory:"``);
    the config file's default is ``data/sshchat.db`` next to it.
    """

    path: Path | None = option(
        "storage.path",
        "data/sshchat.db",
        value=None,  # absolute, or None for an in-memory database
        doc="the SQLite database, relative to the config file",
    )
    history_lines: int = option(
        "storage.history_lines",
        DEFAULT_HISTORY_LINES,
        range=(0, HISTORY_KEEP),  # the lines a channel keeps in memory
        doc="lines of a channel shown on joining it",
    )
    commit_interval: float = option(
        "storage.commit_interval",
        0.1,
        range=(0, 10),
        doc="seconds; the longest a record waits to be committed",
    )
    history_days: int = option(
        "storage.history_days",
        30,
        range=(0, 36_500),
        live=False,
        doc="days of channel history kept on disk; older lines are deleted (0: kept forever)",
    )
    history_max_lines: int = option(
        "storage.history_max_lines",
        1000,
        range=(0, 100_000_000),
        live=False,
        doc="lines of history kept on disk per channel, newest first (0: no limit)",
    )


@dataclass(frozen=True)
class Cluster:
    """Cluster mode (``[cluster]``): several nodes, one chat, through Redis.

    ``enabled`` is whether the file has a ``[cluster]`` table at all: without
    one the server runs alone, as always (in-process log, SQLite). ``node``
    "" means the host name and the listening port (``host-2222``).
    """

    enabled: bool = False  # not an option: the table's presence
    worker: int = 0  # not an option: `serve --workers N` sets 1..N (shares the port)
    redis_url: str = option(
        "cluster.redis_url",
        "redis://127.0.0.1:6379/0",
        doc="the Redis (or Valkey) server every node shares",
    )
    node: str = option(
        "cluster.node", "", doc="this node's name, unique in the cluster; default: host-port"
    )
    lease_renew: float = option(
        "cluster.lease_renew", 5, range=(0.05, 60), doc="seconds between lease renewals"
    )
    lease_expire: float = option(
        "cluster.lease_expire",
        15,
        range=(0.2, 600),
        doc="seconds without renewal after which a node is declared gone (> 2 x lease_renew)",
    )
    snapshot_every: float = option(
        "cluster.snapshot_every",
        60,
        range=(0.1, 86400),
        doc="seconds between snapshots of the state in Redis (the log is trimmed behind them)",
    )


#: What a ``[cluster] redis_url`` may start with.
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True)
class Config:
    """The whole validated configuration.

    ``path`` and ``users`` are not options: they always follow the file.
    """

    path: Path  # the config file (absolute)
    listen_host: str = option("server.listen", "127.0.0.1", doc="address to bind")
    listen_port: int = option(
        "server.port", 2222, range=(0, 65535), doc='TCP port; 0 means "pick a free port" (tests)'
    )
    host_keys: tuple[Path, ...] = option(
        "server.host_keys",
        ["keys/ssh_host_ed25519_key"],
        value=(),  # absolute paths
        doc="SSH host key files, relative to the config file",
    )
    server_name: str = option("server.name", "sshchat", live=True, doc="shown to users")
    motd: str = option(
        "server.motd",
        "Welcome to sshchat! Type a message and press Enter to talk.",
        live=True,
        doc="message of the day, shown after logging in",
    )
    default_channel: str = option(
        "server.default_channel",
        DEFAULT_CHANNEL,
        live=True,
        doc="the channel every user joins after logging in",
    )
    users: Mapping[str, UserConfig] = field(default_factory=lambda: MappingProxyType({}))
    limits: Limits = field(default_factory=Limits)
    metrics: Metrics = field(default_factory=Metrics)
    storage: Storage = field(default_factory=Storage)
    cluster: Cluster = field(default_factory=Cluster)


def _declared() -> dict[str, Option]:
    found: dict[str, Option] = {}
    for cls in (Config, Limits, Metrics, Storage, Cluster):
        for _, declared in options_of(cls):
            found[declared.key] = declared
    return found


#: Every option, by dotted key ("server.port", "limits.max_line_length"...).
OPTIONS: Mapping[str, Option] = MappingProxyType(_declared())


def settings_of(config: Config) -> Iterator[tuple[Option, Any]]:
    """Each option of *config* with its value, sections included ([limits]...)."""
    for f in fields(config):
        value = getattr(config, f.name)
        declared = f.metadata.get("option")
        if isinstance(declared, Option):
            yield declared, value
        elif is_dataclass(value):
            for sub, sub_declared in options_of(type(value)):
                yield sub_declared, getattr(value, sub.name)


# ---------------------------------------------------------------------------
# authorized_keys lines
# ---------------------------------------------------------------------------

# Key types that cryptography can load and sshchat accepts.
_KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)
# Recognised, but refused with a specific message.
_OBSOLETE_KEY_TYPES = frozenset({"ssh-dss"})
_KEY_LINE_FORMAT = (
    "expected '<type> <base64-key> [comment]', e.g. 'ssh-ed25519 AAAAC3Nz... me@host'"
)


def _looks_like_key_type(token: str) -> bool:
    if token in _KEY_TYPES or token in _OBSOLETE_KEY_TYPES:
        return True
    return token.startswith(("ssh-", "ecdsa-", "sk-")) and "=" not in token and '"' not in token


def _fingerprint(blob: bytes) -> str:
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def parse_authorized_key(line: str) -> AuthorizedKey:
    """Parse one public key line in OpenSSH format (``<type> <base64> [comment]``).

    This is the format of a ``*.pub`` file or of one ``authorized_keys`` line
    *without* options.  Raises :class:`ValueError` with a human message if the
    line is malformed, uses options (``from=...``, ``no-pty``...), is a
    certificate, uses an unsupported key type, or the key data is corrupt.
    """
    if not isinstance(line, str):
        raise ValueError(f"a public key must be a string, not {type(line).__name__}")
    text = line.strip()
    if not text:
        raise ValueError(f"empty public key; {_KEY_LINE_FORMAT}")
    if "\n" in text or "\r" in text:
        raise ValueError("a public key must be a single line; put each key in its own string")
    parts = text.split(None, 2)
    algorithm = parts[0]

    if algorithm not in _KEY_TYPES and algorithm not in _OBSOLETE_KEY_TYPES:
        if "-cert-" in algorithm:
            raise ValueError(
                f"SSH certificates ({algorithm}) are not supported; use the plain public key"
            )
        later = text.split()[1:]
        if any(tok in _KEY_TYPES or tok in _OBSOLETE_KEY_TYPES for tok in later):
            raise ValueError(
                "authorized_keys options (like from=, command=, no-pty) are not supported; "
                "remove everything before the key type"
            )
        if _looks_like_key_type(algorithm):
            raise ValueError(
                f"unsupported key type {algorithm!r}; supported: {', '.join(sorted(_KEY_TYPES))}"
            )
        raise ValueError(f"{algorithm[:40]!r} is not a key type; {_KEY_LINE_FORMAT}")
    if algorithm in _OBSOLETE_KEY_TYPES:
        raise ValueError(
            f"{algorithm} (DSA) keys are obsolete and not supported; "
            "create an ed25519 key with `ssh-keygen -t ed25519`"
        )
    if len(parts) < 2:
        raise ValueError(f"missing the base64 key data after {algorithm!r}; {_KEY_LINE_FORMAT}")
    b64 = parts[1]
    comment = parts[2].strip() if len(parts) > 2 else ""

    try:
        blob = base64.b64decode(b64.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ValueError(
            "the key data is not valid base64 (was the line cut, wrapped or edited?)"
        ) from None
    if len(blob) < 4:
        raise ValueError("the key data is too short to be an SSH public key")
    (name_len,) = struct.unpack(">I", blob[:4])
    embedded = blob[4 : 4 + name_len]
    if name_len > 64 or len(embedded) != name_len:
        raise ValueError("the key data is corrupt (cannot read the embedded key type)")
    if embedded != algorithm.encode("ascii"):
        shown = embedded.decode("ascii", "replace")
        raise ValueError(
            f"the key data says it is a {shown!r} key but the line says {algorithm!r}; "
            "copy the whole line from the .pub file unchanged"
        )
    try:
        serialization.load_ssh_public_key(f"{algorithm} {b64}".encode("ascii"))
    except (ValueError, UnsupportedAlgorithm, TypeError) as exc:
        raise ValueError(f"the {algorithm} key data is corrupt or invalid ({exc})") from None
    return AuthorizedKey(
        algorithm=algorithm, blob=blob, comment=comment, fingerprint=_fingerprint(blob)
    )


# ---------------------------------------------------------------------------
# Password hashes
# ---------------------------------------------------------------------------

_HASH_FIX = "run `sshchat hash-password` and paste its output"
_B64_NOPAD = re.compile(r"[A-Za-z0-9+/]+")
# Refuse absurd costs: a verify with m=4 GiB would take the server down.
_MAX_MEMORY_KIB = 1024 * 1024  # 1 GiB
_MAX_TIME_COST = 100


def _check_password_hash(value: str) -> str | None:
    """Return a problem description, or None if *value* is a usable argon2id hash."""
    if not value.startswith("$"):
        if value.strip() != value:
            return "has leading or trailing spaces"
        return "not an argon2id hash (is it a plain-text password?)"
    if value.startswith(("$2a$", "$2b$", "$2y$")):
        return "is a bcrypt hash, sshchat only accepts argon2id hashes"
    if value.startswith(("$argon2i$", "$argon2d$")):
        variant = value.split("$")[1]
        return f"is an {variant} hash, sshchat only accepts argon2id hashes"
    if not value.startswith("$argon2id$"):
        return "not an argon2id hash"
    try:
        params = argon2.extract_parameters(value)
    except (argon2.exceptions.InvalidHashError, ValueError):
        return "not a well-formed argon2id hash (was it cut or edited?)"
    salt, digest = value.split("$")[4:6]
    if not (_B64_NOPAD.fullmatch(salt) and _B64_NOPAD.fullmatch(digest)):
        return "not a well-formed argon2id hash (was it cut or edited?)"
    if params.type is not argon2.Type.ID:
        return "not an argon2id hash"
    if params.version != 19:
        return f"uses argon2 version {params.version}, only version 19 is supported"
    if params.salt_len < 8 or params.hash_len < 4:
        return "not a well-formed argon2id hash (salt or hash too short)"
    if not (
        1 <= params.parallelism <= 255
        and 8 * params.parallelism <= params.memory_cost <= _MAX_MEMORY_KIB
        and 1 <= params.time_cost <= _MAX_TIME_COST
    ):
        return "has unreasonable argon2 cost parameters"
    return None


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


def _keys(cls: type) -> tuple[str, ...]:
    return tuple(declared.name for _, declared in options_of(cls))


_SERVER_KEYS = _keys(Config)
_LIMITS_KEYS = _keys(Limits)
_USER_KEYS = ("password_hash", "public_keys", "admin")
_METRICS_KEYS = _keys(Metrics)
_STORAGE_KEYS = _keys(Storage)
_CLUSTER_KEYS = _keys(Cluster)
_TOP_KEYS = ("server", "limits", "metrics", "storage", "cluster", "users")


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number with a fraction"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


class _Parser:
    """Validates the decoded TOML document; one instance per parse."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, key: str | None, problem: str, fix: str) -> ConfigError:
        return ConfigError(self.path, key, problem, fix)

    # -- generic checks ---------------------------------------------------

    def check_keys(self, table: Mapping[str, Any], known: tuple[str, ...], prefix: str) -> None:
        for key in table:
            if key in known:
                continue
            dotted = f"{prefix}.{key}" if prefix else key
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            if close:
                fix = f"did you mean {close[0]!r}? (known keys: {', '.join(known)})"
            else:
                fix = f"remove it; known keys here are: {', '.join(known)}"
            if not prefix:
                # A key written above the first [table] header lands at top level.
                for section, keys in (("server", _SERVER_KEYS), ("limits", _LIMITS_KEYS)):
                    if key in keys:
                        fix = f"move it under the [{section}] table"
                        break
                problem = f"unknown top-level {'table' if isinstance(table[key], dict) else 'key'}"
            else:
                problem = "unknown key"
            raise self.error(dotted, problem, fix)

    def table(self, doc: Mapping[str, Any], key: str, dotted: str) -> Mapping[str, Any]:
        value = doc.get(key, {})
        if not isinstance(value, dict):
            raise self.error(
                dotted,
                f"must be a table, not {_type_name(value)}",
                f"write it as a [{dotted}] section",
            )
        return value

    def string(
        self, table: Mapping[str, Any], key: str, dotted: str, default: str, *, example: str
    ) -> str:
        value = table.get(key, default)
        if not isinstance(value, str):
            raise self.error(
                dotted, f"must be a string, not {_type_name(value)}", f"write it as {example}"
            )
        return value

    def integer(
        self,
        table: Mapping[str, Any],
        key: str,
        dotted: str,
        default: int,
        *,
        minimum: int,
        maximum: int | None = None,
    ) -> int:
        value = table.get(key, default)
        # bool is a subclass of int: `port = true` must not mean port 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(
                dotted,
                f"must be a whole number, not {_type_name(value)}",
                f"write it without quotes, e.g. {key} = {default}",
            )
        if value < minimum or (maximum is not None and value > maximum):
            if maximum is None:
                wanted = "a positive number" if minimum == 1 else f"at least {minimum}"
            else:
                wanted = f"a value between {minimum} and {maximum}"
            raise self.error(
                dotted, f"{value} is out of range", f"use {wanted} (default: {default})"
            )
        return value

    def bounded(self, table: Mapping[str, Any], dotted: str) -> int:
        """A whole number within the range its :class:`Option` declares."""
        declared = OPTIONS[dotted]
        assert declared.range is not None
        low, high = declared.range
        return self.integer(
            table, declared.name, dotted, declared.default, minimum=int(low), maximum=int(high)
        )

    def limit(self, table: Mapping[str, Any], key: str) -> int | float:
        """One ``[limits]`` value: a whole number, or any number for ``message_rate``."""
        dotted = f"limits.{key}"
        declared = OPTIONS[dotted]
        default = declared.default
        assert declared.range is not None
        low, high = declared.range
        if isinstance(default, int):
            return self.integer(table, key, dotted, default, minimum=int(low), maximum=int(high))
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(
                dotted,
                f"must be a number, not {_type_name(value)}",
                f"write it without quotes, e.g. {key} = {default}",
            )
        if not low <= value <= high:
            raise self.error(
                dotted, f"{value} is out of range", f"use a value between {low} and {high}"
            )
        return float(value)

    # -- sections ---------------------------------------------------------

    def parse(self, doc: Mapping[str, Any]) -> Config:
        self.check_keys(doc, _TOP_KEYS, "")
        server = self.table(doc, "server", "server")
        self.check_keys(server, _SERVER_KEYS, "server")
        limits_table = self.table(doc, "limits", "limits")
        self.check_keys(limits_table, _LIMITS_KEYS, "limits")

        listen = self.string(
            server,
            "listen",
            "server.listen",
            OPTIONS["server.listen"].default,
            example='listen = "127.0.0.1"',
        ).strip()
        if not listen:
            raise self.error(
                "server.listen",
                "is empty",
                'use "127.0.0.1" for this machine only or "0.0.0.0" for all interfaces',
            )
        port = self.bounded(server, "server.port")
        host_keys = self.host_keys(server)
        name = self.string(
            server,
            "name",
            "server.name",
            OPTIONS["server.name"].default,
            example='name = "sshchat"',
        ).strip()
        if not name or "\n" in name or "\r" in name:
            raise self.error(
                "server.name", "must be a non-empty single line", 'write it as name = "sshchat"'
            )
        motd = self.string(
            server,
            "motd",
            "server.motd",
            OPTIONS["server.motd"].default,
            example='motd = """Welcome!"""',
        )
        motd = motd.replace("\r\n", "\n").rstrip()
        channel = self.string(
            server,
            "default_channel",
            "server.default_channel",
            OPTIONS["server.default_channel"].default,
            example='default_channel = "lobby"',
        )
        if not valid_name(channel):
            raise self.error(
                "server.default_channel",
                f"{channel[:40]!r} is not a valid channel name",
                f'use {NAME_RULE}, e.g. "lobby"',
            )

        values: dict[str, Any] = {key: self.limit(limits_table, key) for key in _LIMITS_KEYS}
        limits = Limits(**values)
        metrics = self.metrics(doc)
        storage = self.storage(doc)
        cluster = self.cluster(doc, port)
        users = self.users(doc)
        return Config(
            path=self.path.resolve(),
            listen_host=listen,
            listen_port=port,
            host_keys=host_keys,
            server_name=name,
            motd=motd,
            default_channel=channel,
            users=users,
            limits=limits,
            metrics=metrics,
            storage=storage,
            cluster=cluster,
        )

    def cluster(self, doc: Mapping[str, Any], port: int) -> Cluster:
        if "cluster" not in doc:
            return Cluster()
        table = self.table(doc, "cluster", "cluster")
        self.check_keys(table, _CLUSTER_KEYS, "cluster")
        default_url = OPTIONS["cluster.redis_url"].default
        url = self.string(
            table,
            "redis_url",
            "cluster.redis_url",
            default_url,
            example=f'redis_url = "{default_url}"',
        ).strip()
        if not url.startswith(REDIS_SCHEMES):
            raise self.error(
                "cluster.redis_url",
                f"{url[:60]!r} is not a Redis URL",
                f'write it as redis_url = "{default_url}" (or rediss://, unix://)',
            )
        node = self.string(table, "node", "cluster.node", "", example='node = "chat-1"').strip()
        if not node:
            host = socket.gethostname().split(".")[0] or "node"
            node = re.sub(r"[^A-Za-z0-9_.-]", "-", host) + f"-{port}"
        elif not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", node):
            raise self.error(
                "cluster.node",
                f"{node[:70]!r} is not a valid node name",
                'use 1-64 letters, digits, "_", "-" or ".", e.g. node = "chat-1"',
            )
        renew = self.seconds(table, "cluster.lease_renew")
        expire = self.seconds(table, "cluster.lease_expire")
        every = self.seconds(table, "cluster.snapshot_every")
        return Cluster(
            enabled=True,
            redis_url=url,
            node=node,
            lease_renew=renew,
            lease_expire=expire,
            snapshot_every=every,
        )

    def seconds(self, table: Mapping[str, Any], dotted: str) -> float:
        """A number of seconds within its option's declared range."""
        declared = OPTIONS[dotted]
        assert declared.range is not None
        low, high = declared.range
        value = table.get(declared.name, declared.default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(
                dotted,
                f"must be a number of seconds, not {_type_name(value)}",
                f"write it without quotes, e.g. {declared.name} = {declared.default}",
            )
        if not low <= value <= high:
            raise self.error(
                dotted, f"{value} is out of range", f"use a value between {low:g} and {high:g}"
            )
        return float(value)

    def metrics(self, doc: Mapping[str, Any]) -> Metrics:
        table = self.table(doc, "metrics", "metrics")
        self.check_keys(table, _METRICS_KEYS, "metrics")
        enabled = table.get("enabled", OPTIONS["metrics.enabled"].default)
        if not isinstance(enabled, bool):
            raise self.error(
                "metrics.enabled",
                f"must be true or false, not {_type_name(enabled)}",
                "write enabled = true or enabled = false (no quotes)",
            )
        listen = self.string(
            table,
            "listen",
            "metrics.listen",
            OPTIONS["metrics.listen"].default,
            example='listen = "127.0.0.1"',
        ).strip()
        if not listen:
            raise self.error("metrics.listen", "is empty", 'use "127.0.0.1" (loopback only)')
        port = self.bounded(table, "metrics.port")
        return Metrics(enabled=enabled, listen=listen, port=port)

    def storage(self, doc: Mapping[str, Any]) -> Storage:
        table = self.table(doc, "storage", "storage")
        self.check_keys(table, _STORAGE_KEYS, "storage")
        default_path = OPTIONS["storage.path"].default
        raw = self.string(
            table,
            "path",
            "storage.path",
            default_path,
            example=f'path = "{default_path}"',
        ).strip()
        if not raw:
            raise self.error(
                "storage.path",
                "is empty",
                f'write path = "{default_path}", or "{MEMORY_PATH}" to keep nothing on disk',
            )
        path: Path | None = None
        if raw != MEMORY_PATH:
            path = Path(raw).expanduser()
            if not path.is_absolute():
                path = self.path.resolve().parent / path
        history_lines = self.bounded(table, "storage.history_lines")
        interval_option = OPTIONS["storage.commit_interval"]
        assert interval_option.range is not None
        low, high = interval_option.range
        interval = table.get("commit_interval", interval_option.default)
        if isinstance(interval, bool) or not isinstance(interval, int | float):
            raise self.error(
                "storage.commit_interval",
                f"must be a number of seconds, not {_type_name(interval)}",
                f"write it without quotes, e.g. commit_interval = {interval_option.default}",
            )
        if not low <= interval <= high:
            raise self.error(
                "storage.commit_interval",
                f"{interval} is out of range",
                f"use a value between {low} and {high} seconds "
                f"(default: {interval_option.default})",
            )
        history_days = self.bounded(table, "storage.history_days")
        history_max_lines = self.bounded(table, "storage.history_max_lines")
        return Storage(
            path=path,
            history_lines=history_lines,
            commit_interval=float(interval),
            history_days=history_days,
            history_max_lines=history_max_lines,
        )

    def host_keys(self, server: Mapping[str, Any]) -> tuple[Path, ...]:
        default = OPTIONS["server.host_keys"].default
        value = server.get("host_keys", list(default))
        example = f'write it as host_keys = ["{default[0]}"]'
        if isinstance(value, str):
            raise self.error(
                "server.host_keys", "must be a list of paths, not a single string", example
            )
        if not isinstance(value, list):
            raise self.error(
                "server.host_keys", f"must be a list of paths, not {_type_name(value)}", example
            )
        if not value:
            raise self.error(
                "server.host_keys",
                "is empty; the server needs at least one host key",
                f"{example} (the file is created on first start)",
            )
        base = self.path.resolve().parent
        paths = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise self.error(
                    f"server.host_keys[{i}]",
                    f"must be a non-empty string path, not {_type_name(item)}",
                    example,
                )
            p = Path(item.strip()).expanduser()
            paths.append(p if p.is_absolute() else base / p)
        return tuple(paths)

    def users(self, doc: Mapping[str, Any]) -> Mapping[str, UserConfig]:
        add_user = (
            "add a [users.<name>] table with password_hash (from `sshchat hash-password`) "
            "or public_keys; see config.example.toml"
        )
        if "users" not in doc:
            raise self.error("users", "no users are configured, so nobody can log in", add_user)
        table = self.table(doc, "users", "users")
        if not table:
            raise self.error("users", "no users are configured, so nobody can log in", add_user)
        users: dict[str, UserConfig] = {}
        folded: dict[str, str] = {}
        for name, entry in table.items():
            dotted = f"users.{name}" if valid_name(name) else f'users."{name}"'
            if not valid_name(name):
                raise self.error(
                    dotted, "is not a valid login name", f"rename the user: {NAME_RULE}"
                )
            if name.lower() in folded:
                other = folded[name.lower()]
                raise self.error(
                    dotted,
                    f"differs from user {other!r} only by letter case, which is confusing",
                    "give the users clearly different names",
                )
            folded[name.lower()] = name
            if not isinstance(entry, dict):
                raise self.error(
                    dotted,
                    f"must be a table, not {_type_name(entry)}",
                    f"write it as a [users.{name}] section with password_hash or public_keys",
                )
            users[name] = self.user(name, entry)
        return MappingProxyType(users)

    def user(self, name: str, entry: Mapping[str, Any]) -> UserConfig:
        prefix = f"users.{name}"
        self.check_keys(entry, _USER_KEYS, prefix)

        password_hash: str | None = None
        if "password_hash" in entry:
            value = entry["password_hash"]
            key = f"{prefix}.password_hash"
            if not isinstance(value, str):
                raise self.error(key, f"must be a string, not {_type_name(value)}", _HASH_FIX)
            problem = _check_password_hash(value)
            if problem:
                raise self.error(key, problem, _HASH_FIX)
            password_hash = value

        keys: list[AuthorizedKey] = []
        raw_keys = entry.get("public_keys", [])
        key = f"{prefix}.public_keys"
        key_example = 'write it as public_keys = ["ssh-ed25519 AAAA... you@laptop"]'
        if isinstance(raw_keys, str):
            raise self.error(key, "must be a list of strings, not a single string", key_example)
        if not isinstance(raw_keys, list):
            raise self.error(
                key, f"must be a list of strings, not {_type_name(raw_keys)}", key_example
            )
        for i, line in enumerate(raw_keys):
            if not isinstance(line, str):
                raise self.error(
                    f"{key}[{i}]", f"must be a string, not {_type_name(line)}", key_example
                )
            try:
                keys.append(parse_authorized_key(line))
            except ValueError as exc:
                raise self.error(
                    f"{key}[{i}]",
                    str(exc),
                    "paste the single line from the user's ~/.ssh/id_*.pub file",
                ) from None

        admin = entry.get("admin", False)
        if not isinstance(admin, bool):
            raise self.error(
                f"{prefix}.admin",
                f"must be true or false, not {_type_name(admin)}",
                "write admin = true or admin = false (no quotes)",
            )

        if password_hash is None and not keys:
            raise self.error(
                prefix,
                "can never log in: add password_hash or public_keys",
                f"add password_hash (from `sshchat hash-password`) or public_keys "
                f"under [users.{name}]",
            )
        return UserConfig(
            name=name, password_hash=password_hash, public_keys=tuple(keys), admin=admin
        )


def parse_config(text: str, path: Path) -> Config:
    """Parse and validate config *text*; *path* is used for messages and relative paths.

    Raises :class:`ConfigError` for every problem.
    """
    path = Path(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            path,
            None,
            f"invalid TOML: {exc}",
            "correct the syntax at that line and column (strings need double quotes, "
            "tables are written [server]); see config.example.toml",
        ) from None
    return _Parser(path).parse(doc)


def load_config(path: str | Path) -> Config:
    """Read and validate the config file at *path*.

    Raises :class:`ConfigError` for everything wrong, including a missing or
    unreadable file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            path,
            None,
            "file not found",
            "check the path, or copy config.example.toml and edit it",
        ) from None
    except IsADirectoryError:
        raise ConfigError(path, None, "is a directory", "give the path of the TOML file") from None
    except OSError as exc:
        raise ConfigError(
            path,
            None,
            f"cannot read the file ({exc.strerror or exc})",
            "check the file's permissions",
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            path,
            None,
            f"not valid UTF-8 text (byte {exc.start})",
            "save the file as UTF-8",
        ) from None
    return parse_config(text, path)
