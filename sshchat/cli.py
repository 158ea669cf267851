"""The ``sshchat`` command line: serve, hash-password, check-config.

Errors the user can fix (bad config, port in use...) are printed as one
``sshchat: ...`` line on stderr, never as a traceback.  Exit codes: 0 ok,
1 runtime failure (e.g. cannot bind, bad password input), 2 configuration or
usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import getpass
import os
import socket
import sys
from pathlib import Path

from sshchat import __version__
from sshchat.config import Config, ConfigError, load_config
from sshchat.logs import configure_logging

__all__ = ["main"]

DEFAULT_CONFIG = "config.toml"
EXAMPLE_CONFIG = "config.example.toml"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2


def _error(message: str) -> None:
    print(f"sshchat: {message}", file=sys.stderr)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sshchat",
        description="A multi-user chat server reached with a stock SSH client.",
    )
    parser.add_argument("--version", action="version", version=f"sshchat {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    config_help = f"path of the TOML config file (default: {DEFAULT_CONFIG})"

    serve = sub.add_parser("serve", help="run the chat server until Ctrl-C / SIGTERM")
    serve.add_argument("--config", default=DEFAULT_CONFIG, metavar="PATH", help=config_help)
    serve.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=LOG_LEVELS,
        help="logging verbosity (default: INFO)",
    )
    serve.add_argument(
        "--log-format",
        default="text",
        choices=("text", "json"),
        help="one line per event as key=value text (default) or as JSON objects",
    )
    serve.set_defaults(func=_cmd_serve)

    hashpw = sub.add_parser(
        "hash-password",
        help="print an argon2id hash to paste as password_hash",
        description=(
            "Print an argon2id hash of a password for the password_hash key. "
            "On a terminal the password is asked twice; otherwise one line is read from stdin."
        ),
    )
    hashpw.set_defaults(func=_cmd_hash_password)

    check = sub.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("--config", default=DEFAULT_CONFIG, metavar="PATH", help=config_help)
    check.set_defaults(func=_cmd_check_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line with *argv* (default ``sys.argv[1:]``); return the exit code."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return int(args.func(args))


# ---------------------------------------------------------------------------
# Config loading shared by serve and check-config
# ---------------------------------------------------------------------------


def _load(path_arg: str) -> Config | None:
    """Load the config, printing a one-line error and returning None on failure."""
    path = Path(path_arg)
    if not path.exists() and not path.is_symlink():
        hint = f"copy {EXAMPLE_CONFIG} to {DEFAULT_CONFIG} and edit it"
        if path_arg == DEFAULT_CONFIG:
            hint += f", or try the demo with --config {EXAMPLE_CONFIG}"
        else:
            hint = f"check the path, or {hint}"
        _error(f"{path_arg}: config file not found. Fix: {hint}.")
        return None
    try:
        return load_config(path)
    except ConfigError as exc:
        _error(str(exc))
        return None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# ---------------------------------------------------------------------------
# serve
# ---------------------------------------------------------------------------


def _cmd_serve(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    configure_logging(args.log_level, args.log_format)

    from sshchat.server import StartupError, serve  # lazy: pulls in asyncssh

    address = _address(config.listen_host, config.listen_port)
    try:
        asyncio.run(serve(config))
    except KeyboardInterrupt:
        return EXIT_OK
    except StartupError as exc:
        _error(str(exc))
        return EXIT_CONFIG
    except socket.gaierror as exc:
        _error(
            f"cannot resolve the listen address {config.listen_host!r} ({exc.strerror or exc}). "
            f"Fix: set `listen` in the [server] table of {args.config} to an IP address "
            'such as "127.0.0.1" or "0.0.0.0".'
        )
        return EXIT_FAILURE
    except OSError as exc:
        if exc.filename is not None:  # a file problem, not the socket
            _error(f"{exc.filename}: {exc.strerror or exc}")
            return EXIT_FAILURE
        _error(_bind_message(exc, address, config, args.config))
        return EXIT_FAILURE
    return EXIT_OK


def _bind_message(exc: OSError, address: str, config: Config, config_arg: str) -> str:
    # asyncio's strerror repeats the address; the plain errno text reads better.
    reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
    if exc.errno == errno.EADDRINUSE:
        fix = (
            f"stop the other program using port {config.listen_port}, or choose another "
            f"`port` in the [server] table of {config_arg}"
        )
    elif exc.errno == errno.EACCES:
        fix = (
            f"ports below 1024 need root; choose a `port` of 1024 or more in the "
            f"[server] table of {config_arg}"
        )
    elif exc.errno == errno.EADDRNOTAVAIL:
        fix = (
            f"`listen` in the [server] table of {config_arg} must be an address of this "
            'machine, e.g. "127.0.0.1" or "0.0.0.0"'
        )
    else:
        fix = f"check `listen` and `port` in the [server] table of {config_arg}"
    return f"cannot listen on {address}: {reason}. Fix: {fix}."


# ---------------------------------------------------------------------------
# hash-password
# ---------------------------------------------------------------------------


def _read_password() -> str | None:
    """Get the password from the terminal (twice) or one stdin line; None on refusal."""
    if sys.stdin is not None and sys.stdin.isatty():
        try:
            first = getpass.getpass("Password: ")
            if not first:
                _error("empty password refused")
                return None
            second = getpass.getpass("Again: ")
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            _error("aborted")
            return None
        if first != second:
            _error("the passwords do not match; nothing printed")
            return None
        return first
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if line.endswith("\n"):
        line = line[:-1]
        if line.endswith("\r"):
            line = line[:-1]
    if not line:
        _error("empty password refused (expected one line on stdin)")
        return None
    return line


def _cmd_hash_password(args: argparse.Namespace) -> int:
    from sshchat.auth import hash_password  # argon2 import only when needed

    password = _read_password()
    if password is None:
        return EXIT_FAILURE
    try:
        hashed = hash_password(password)
    except ValueError as exc:
        _error(f"{exc}; nothing printed")
        return EXIT_FAILURE
    print(hashed)
    if sys.stdin is not None and sys.stdin.isatty():
        print(
            "\nPaste it into your config file under the user's table, e.g.:\n\n"
            "    [users.alice]\n"
            f'    password_hash = "{hashed}"\n',
            file=sys.stderr,
        )
    return EXIT_OK


# ---------------------------------------------------------------------------
# check-config
# ---------------------------------------------------------------------------


def _check_host_keys(config: Config, config_arg: str) -> list[str] | None:
    """Return notes about host keys, or None after printing an error."""
    notes = []
    for i, key_path in enumerate(config.host_keys):
        shown = str(key_path)
        if not key_path.exists():
            notes.append(
                f"note: host key {shown} does not exist yet; it will be created at first start"
            )
            continue
        try:
            with open(key_path, "rb") as fh:
                fh.read(1)
        except OSError as exc:
            _error(
                f"{config_arg}: server.host_keys[{i}]: cannot read {shown} "
                f"({exc.strerror or exc}). Fix: make the file readable by the user running "
                "sshchat, or point host_keys at another file."
            )
            return None
    return notes


def _cmd_check_config(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    notes = _check_host_keys(config, args.config)
    if notes is None:
        return EXIT_CONFIG
    for note in notes:
        print(note)
    address = _address(config.listen_host, config.listen_port)
    print(f"{args.config}: OK ({_plural(len(config.users), 'user')}, listening on {address})")
    return EXIT_OK
