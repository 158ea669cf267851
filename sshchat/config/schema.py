"""Loading and validating the sshchat TOML configuration.

This is a pure layer: it reads the config file and nothing else (no sockets,
no SSH library).  Every problem is reported as a :class:`ConfigError` that
names the file, the dotted key, what is wrong and how to fix it, so that the
command line can print one clear line instead of a traceback.

The file layout is documented in ``config.example.toml``.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import re
import struct
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import argon2
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from sshchat.core.names import NAME_RULE, valid_name

__all__ = [
    "NAME_RULE",
    "AuthorizedKey",
    "Config",
    "ConfigError",
    "Limits",
    "Metrics",
    "Storage",
    "UserConfig",
    "load_config",
    "parse_authorized_key",
    "parse_config",
    "valid_name",
]

# ---------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------

# NAME_RULE and valid_name live in sshchat.core.names (the hub checks names too).


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class ConfigError(Exception):
    """One clear, human message: names the file, the key and the fix.

    ``str(err)`` looks like::

        config.toml: users.alice.password_hash: not an argon2id hash. Fix: run
        `sshchat hash-password` and paste its output.

    The key part is omitted when *key* is None (e.g. the file is missing).
    """

    def __init__(self, path: Path | str, key: str | None, problem: str, fix: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        self.fix = fix
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.path}: {self.key}" if self.key else f"{self.path}"
        problem = self.problem.rstrip().rstrip(".")
        fix = self.fix.strip()
        if fix and fix[-1] not in ".!?":
            fix += "."
        return f"{where}: {problem}. Fix: {fix}"

    def __str__(self) -> str:
        return self._render()


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


@dataclass(frozen=True)
class Limits:
    """Resource limits and abuse controls (all under ``[limits]``)."""

    max_line_length: int = 2000  # characters in one chat line
    outbound_queue: int = 1000  # lines queued per session before the oldest are dropped
    auth_workers: int = 2  # threads verifying argon2 passwords
    message_burst: int = 15  # lines a user may send at once ...
    message_rate: float = 1.0  # ... then this many per second
    max_auth_attempts: int = 6  # failed attempts per connection before it is closed
    login_grace_time: int = 30  # seconds a connection has to log in
    max_unauthenticated: int = 64  # connections still logging in, server-wide
    max_connections: int = 5000  # all connections, server-wide
    max_connections_per_source: int = 64  # connections from one address
    max_sessions_per_account: int = 16  # sessions one account may have open
    auth_free_failures: int = 3  # failed logins from a source or on an account before delays
    auth_max_delay: int = 10  # seconds, the longest delay a failing source waits per attempt
    auth_block_after: int = 20  # failures in a row that block the source / account ...
    auth_block_seconds: int = 600  # ... for this long
    keepalive_interval: int = 30  # seconds between keepalives to idle clients (0: off)
    keepalive_count_max: int = 3  # unanswered keepalives before a client is dropped
    presence_summary_over: int = 50  # members above which presence lines are summarised


# [limits] keys: (lowest, highest) accepted value.
_LIMIT_RANGES: dict[str, tuple[float, float]] = {
    "max_line_length": (1, 1_000_000),
    "outbound_queue": (1, 1_000_000),
    "auth_workers": (1, 64),
    "message_burst": (1, 100_000),
    "message_rate": (0.001, 100_000),
    "max_auth_attempts": (1, 100),
    "login_grace_time": (1, 3600),
    "max_unauthenticated": (1, 1_000_000),
    "max_connections": (1, 1_000_000),
    "max_connections_per_source": (1, 1_000_000),
    "max_sessions_per_account": (1, 1_000_000),
    "auth_free_failures": (0, 1000),
    "auth_max_delay": (0, 3600),
    "auth_block_after": (1, 1_000_000),
    "auth_block_seconds": (0, 31_536_000),
    "keepalive_interval": (0, 86400),
    "keepalive_count_max": (1, 1000),
    "presence_summary_over": (0, 1_000_000),
}


@dataclass(frozen=True)
class Metrics:
    """The optional Prometheus endpoint (``[metrics]``), off by default."""

    enabled: bool = False
    listen: str = "127.0.0.1"
    port: int = 9108


@dataclass(frozen=True)
class Storage:
    """Where history and lasting state are kept (``[storage]``).

    ``path`` None keeps everything in memory only (``path = ":memory:"``);
    the config file's default is ``data/sshchat.db`` next to it.
    """

    path: Path | None = None  # absolute, or None for an in-memory database
    history_lines: int = 50  # lines of a channel shown on joining it
    commit_interval: float = 0.1  # seconds; the longest a record waits to be committed
    history_days: int = 30  # messages older than this are deleted (0: kept forever)
    history_max_lines: int = 1000  # lines kept per channel, newest first (0: no limit)


MEMORY_PATH = ":memory:"
DEFAULT_STORAGE_PATH = "data/sshchat.db"
MAX_HISTORY_LINES = 500  # the lines a channel keeps in memory (hub.HISTORY_KEEP)

DEFAULT_LISTEN_HOST = "127.0.0.1"
DEFAULT_PORT = 2222
DEFAULT_HOST_KEY = "keys/ssh_host_ed25519_key"
DEFAULT_SERVER_NAME = "sshchat"
DEFAULT_MOTD = "Welcome to sshchat! Type a message and press Enter to talk."
DEFAULT_CHANNEL = "lobby"


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    path: Path  # the config file (absolute)
    listen_host: str = DEFAULT_LISTEN_HOST
    listen_port: int = DEFAULT_PORT  # 0 means "pick a free port" (tests)
    host_keys: tuple[Path, ...] = ()  # absolute paths
    server_name: str = DEFAULT_SERVER_NAME
    motd: str = DEFAULT_MOTD
    default_channel: str = DEFAULT_CHANNEL
    users: Mapping[str, UserConfig] = field(default_factory=lambda: MappingProxyType({}))
    limits: Limits = field(default_factory=Limits)
    metrics: Metrics = field(default_factory=Metrics)
    storage: Storage = field(default_factory=Storage)


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

_SERVER_KEYS = ("listen", "port", "host_keys", "name", "motd", "default_channel")
_LIMITS_KEYS = tuple(_LIMIT_RANGES)
_USER_KEYS = ("password_hash", "public_keys", "admin")
_METRICS_KEYS = ("enabled", "listen", "port")
_STORAGE_KEYS = (
    "path",
    "history_lines",
    "commit_interval",
    "history_days",
    "history_max_lines",
)
MAX_HISTORY_DAYS = 36_500
MAX_HISTORY_MAX_LINES = 100_000_000
_TOP_KEYS = ("server", "limits", "metrics", "storage", "users")


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

    def limit(self, table: Mapping[str, Any], key: str) -> float:
        """One ``[limits]`` value: a whole number, or any number for ``message_rate``."""
        default = getattr(Limits, key)
        low, high = _LIMIT_RANGES[key]
        dotted = f"limits.{key}"
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
            server, "listen", "server.listen", DEFAULT_LISTEN_HOST, example='listen = "127.0.0.1"'
        ).strip()
        if not listen:
            raise self.error(
                "server.listen",
                "is empty",
                'use "127.0.0.1" for this machine only or "0.0.0.0" for all interfaces',
            )
        port = self.integer(server, "port", "server.port", DEFAULT_PORT, minimum=0, maximum=65535)
        host_keys = self.host_keys(server)
        name = self.string(
            server, "name", "server.name", DEFAULT_SERVER_NAME, example='name = "sshchat"'
        ).strip()
        if not name or "\n" in name or "\r" in name:
            raise self.error(
                "server.name", "must be a non-empty single line", 'write it as name = "sshchat"'
            )
        motd = self.string(
            server, "motd", "server.motd", DEFAULT_MOTD, example='motd = """Welcome!"""'
        )
        motd = motd.replace("\r\n", "\n").rstrip()
        channel = self.string(
            server,
            "default_channel",
            "server.default_channel",
            DEFAULT_CHANNEL,
            example='default_channel = "lobby"',
        )
        if not valid_name(channel):
            raise self.error(
                "server.default_channel",
                f"{channel[:40]!r} is not a valid channel name",
                f'use {NAME_RULE}, e.g. "lobby"',
            )

        limits = Limits(**{key: self.limit(limits_table, key) for key in _LIMIT_RANGES})
        metrics = self.metrics(doc)
        storage = self.storage(doc)
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
        )

    def metrics(self, doc: Mapping[str, Any]) -> Metrics:
        table = self.table(doc, "metrics", "metrics")
        self.check_keys(table, _METRICS_KEYS, "metrics")
        enabled = table.get("enabled", False)
        if not isinstance(enabled, bool):
            raise self.error(
                "metrics.enabled",
                f"must be true or false, not {_type_name(enabled)}",
                "write enabled = true or enabled = false (no quotes)",
            )
        listen = self.string(
            table, "listen", "metrics.listen", Metrics.listen, example='listen = "127.0.0.1"'
        ).strip()
        if not listen:
            raise self.error("metrics.listen", "is empty", 'use "127.0.0.1" (loopback only)')
        port = self.integer(table, "port", "metrics.port", Metrics.port, minimum=0, maximum=65535)
        return Metrics(enabled=enabled, listen=listen, port=port)

    def storage(self, doc: Mapping[str, Any]) -> Storage:
        table = self.table(doc, "storage", "storage")
        self.check_keys(table, _STORAGE_KEYS, "storage")
        raw = self.string(
            table,
            "path",
            "storage.path",
            DEFAULT_STORAGE_PATH,
            example=f'path = "{DEFAULT_STORAGE_PATH}"',
        ).strip()
        if not raw:
            raise self.error(
                "storage.path",
                "is empty",
                f'write path = "{DEFAULT_STORAGE_PATH}", or ":memory:" to keep nothing on disk',
            )
        path: Path | None = None
        if raw != MEMORY_PATH:
            path = Path(raw).expanduser()
            if not path.is_absolute():
                path = self.path.resolve().parent / path
        history_lines = self.integer(
            table,
            "history_lines",
            "storage.history_lines",
            Storage.history_lines,
            minimum=0,
            maximum=MAX_HISTORY_LINES,
        )
        interval = table.get("commit_interval", Storage.commit_interval)
        if isinstance(interval, bool) or not isinstance(interval, int | float):
            raise self.error(
                "storage.commit_interval",
                f"must be a number of seconds, not {_type_name(interval)}",
                f"write it without quotes, e.g. commit_interval = {Storage.commit_interval}",
            )
        if not 0 <= interval <= 10:
            raise self.error(
                "storage.commit_interval",
                f"{interval} is out of range",
                f"use a value between 0 and 10 seconds (default: {Storage.commit_interval})",
            )
        history_days = self.integer(
            table,
            "history_days",
            "storage.history_days",
            Storage.history_days,
            minimum=0,
            maximum=MAX_HISTORY_DAYS,
        )
        history_max_lines = self.integer(
            table,
            "history_max_lines",
            "storage.history_max_lines",
            Storage.history_max_lines,
            minimum=0,
            maximum=MAX_HISTORY_MAX_LINES,
        )
        return Storage(
            path=path,
            history_lines=history_lines,
            commit_interval=float(interval),
            history_days=history_days,
            history_max_lines=history_max_lines,
        )

    def host_keys(self, server: Mapping[str, Any]) -> tuple[Path, ...]:
        value = server.get("host_keys", [DEFAULT_HOST_KEY])
        example = f'write it as host_keys = ["{DEFAULT_HOST_KEY}"]'
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
