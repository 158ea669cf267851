"""The ``sshchat`` command line: init, serve, check-config, hash-password, user.

``--config PATH`` may come before the command (``sshchat --config c.toml user
list``) or after it; without it, commands use ``config.toml`` in the current
directory and, when there is none, say how to make one.

Errors the user can fix (bad config, port in use...) are printed as one
``sshchat: ...`` line on stderr, never as a traceback.  Exit codes: 0 ok,
1 runtime failure (e.g. cannot bind, bad password input), 2 configuration or
usage error.  The ``sshchat user ...`` commands, which edit the config file,
use 1 for their usage errors and refusals (no such user, duplicate key...)
and 2 for config problems (unreadable file, a result that would not be valid).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import getpass
import os
import shlex
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from sshchat import __version__
from sshchat.config.schema import Config, ConfigError, load_config, parse_config
from sshchat.errors import StartupError
from sshchat.ops.logs import configure_logging

if TYPE_CHECKING:
    from sshchat.config.edit import FileStamp
    from sshchat.config.schema import AuthorizedKey

__all__ = ["main"]

DEFAULT_CONFIG = "config.toml"
EXAMPLE_CONFIG = "config.example.toml"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2


def _error(message: str) -> None:
    print(f"sshchat: {message}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors exit with :attr:`usage_status`."""

    usage_status = EXIT_CONFIG

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(self.usage_status, f"{self.prog}: error: {message}\n")


CONFIG_HELP = (
    f"path of the TOML config file (default: {DEFAULT_CONFIG} in the current directory); "
    "may also be given before the command"
)


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: when absent here, the value given before the command stays.
    parser.add_argument("--config", default=argparse.SUPPRESS, metavar="PATH", help=CONFIG_HELP)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sshchat",
        description=(
            "A multi-user chat server reached with a stock SSH client. Start with "
            "`sshchat init` (writes config.toml with a first administrator), then "
            "`sshchat serve`. `sshchat COMMAND --help` explains each command."
        ),
    )
    parser.add_argument("--version", action="version", version=f"sshchat {__version__}")
    parser.add_argument(
        "--config", dest="global_config", default=None, metavar="PATH", help=CONFIG_HELP
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    init = sub.add_parser(
        "init",
        help="write a new config file with a first administrator",
        description=(
            "Write a new, commented config file (every setting at its default, documented "
            "as in config.example.toml) with one administrator account, readable by you "
            "only (mode 0600). Asks for the administrator's login name and password (twice) "
            "on a terminal; otherwise give --admin NAME and the password as one line on "
            "stdin. Never overwrites an existing file."
        ),
    )
    _add_config_option(init)
    init.add_argument("--admin", metavar="NAME", help="login name of the first administrator")
    init.set_defaults(func=_cmd_init)

    serve = sub.add_parser(
        "serve",
        help="run the chat server until Ctrl-C / SIGTERM",
        description=(
            "Run the chat server with the config file until Ctrl-C or SIGTERM, which tell "
            "every user and save state first. The first start creates the host key; the "
            "server.listening log line gives the address, port and host key fingerprint. "
            "The config file is reloaded when it changes (or at once on SIGHUP)."
        ),
    )
    _add_config_option(serve)
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
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help=(
            "run N processes sharing the listening port (SO_REUSEPORT), joined through "
            "the [cluster] table; worker i is node <node>-i with its own database "
            "<name>-i.db beside the configured one; a worker that dies is restarted"
        ),
    )
    serve.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    serve.add_argument("--port-override", type=int, default=None, help=argparse.SUPPRESS)
    serve.set_defaults(func=_cmd_serve)

    cluster = sub.add_parser(
        "cluster",
        help="look at a cluster of nodes (cluster status)",
        description="Commands about the nodes that share the [cluster] table's Redis.",
    )
    _add_config_option(cluster)
    cluster_actions = cluster.add_subparsers(dest="cluster_command", metavar="ACTION")
    status = cluster_actions.add_parser(
        "status",
        help="every node: host, pid, sessions, applied position, lag, lease age",
        description=(
            "Show every node of the cluster: its host and pid, its sessions, the last "
            "log entry it applied and how far it is behind the head (lag), and how long "
            "ago it renewed its lease. Figures are as of each node's last renewal."
        ),
    )
    _add_config_option(status)
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(func=_cmd_cluster_status)
    cluster.set_defaults(func=_usage_of(cluster))

    hashpw = sub.add_parser(
        "hash-password",
        help="print an argon2id hash to paste as password_hash",
        description=(
            "Print an argon2id hash of a password for the password_hash key. "
            "On a terminal the password is asked twice; otherwise one line is read from stdin. "
            "`sshchat user add` and `sshchat user passwd` do this and edit the file for you."
        ),
    )
    hashpw.set_defaults(func=_cmd_hash_password)

    check = sub.add_parser(
        "check-config",
        help="validate a config file and exit",
        description=(
            "Validate the config file as the server would, without starting it: prints OK "
            "with the number of users and the listen address, or one line naming the key "
            "that is wrong and the fix (exit status 2)."
        ),
    )
    _add_config_option(check)
    check.set_defaults(func=_cmd_check_config)

    _add_user_parsers(sub)
    return parser


def _resolve_config(args: argparse.Namespace) -> str | None:
    """The config path from ``--config`` before or after the command; None if they differ."""
    before = getattr(args, "global_config", None)
    after = getattr(args, "config", None)
    if before is not None and after is not None and before != after:
        _error(
            f"--config was given twice, as {before} and as {after}. "
            "Fix: give it once, before or after the command."
        )
        return None
    return after or before or DEFAULT_CONFIG


def main(argv: list[str] | None = None) -> int:
    """Run the command line with *argv* (default ``sys.argv[1:]``); return the exit code."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    config = _resolve_config(args)
    if config is None:
        return EXIT_CONFIG
    args.config = config
    return int(args.func(args))


# ---------------------------------------------------------------------------
# Config loading shared by serve and check-config
# ---------------------------------------------------------------------------


def _load(path_arg: str, *, demo: bool = False) -> Config | None:
    """Load the config, printing a one-line error and returning None on failure."""
    path = Path(path_arg)
    if _missing_config(path_arg, demo=demo):
        return None
    try:
        return load_config(path)
    except ConfigError as exc:
        _error(str(exc))
        return None


def _missing_config(path_arg: str, *, demo: bool = False) -> bool:
    """Print the "config file not found" message and return True if it is missing.

    *demo* adds the hint to try the example config (for serve and check-config).
    """
    path = Path(path_arg)
    if path.exists() or path.is_symlink():
        return False
    if path_arg == DEFAULT_CONFIG:
        where = f"{path_arg}: config file not found in the current directory ({Path.cwd()})"
        fix = (
            "create one with `sshchat init` (it asks for a first administrator), or copy "
            f"{EXAMPLE_CONFIG} to {DEFAULT_CONFIG} and edit it"
        )
        if demo:
            fix += f", or try the demo with --config {EXAMPLE_CONFIG}"
        fix += "; to use another file, give --config PATH"
    else:
        where = f"{path_arg}: config file not found"
        fix = (
            f"check the path, or create it with `sshchat init --config {path_arg}`, or copy "
            f"{EXAMPLE_CONFIG} there and edit it"
        )
    _error(f"{where}. Fix: {fix}.")
    return True


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# ---------------------------------------------------------------------------
# init
# ---------------------------------------------------------------------------


def _ask_admin_name() -> str | None:
    """Ask for the administrator's login name on the terminal (three tries)."""
    from sshchat.config.schema import NAME_RULE, valid_name

    for _ in range(3):
        print("Login name of the first administrator: ", end="", file=sys.stderr, flush=True)
        try:
            line = sys.stdin.readline()
        except KeyboardInterrupt:
            line = ""
        if not line:
            print(file=sys.stderr)
            _error("aborted; nothing written")
            return None
        name = line.strip()
        if valid_name(name):
            return name
        _error(f"{name[:40]!r} is not a valid login name: use {NAME_RULE}.")
    _error("no valid login name given; nothing written")
    return None


def _init_exists(config_arg: str) -> bool:
    path = Path(config_arg)
    if not (path.exists() or path.is_symlink()):
        return False
    _error(
        f"{config_arg}: already exists; nothing was written. Fix: to add an administrator "
        f"to it, run `sshchat user add NAME --admin --config {config_arg}`; to start afresh, "
        "move it away first, or give another path with --config PATH."
    )
    return True


def _cmd_init(args: argparse.Namespace) -> int:
    from sshchat.config.edit import write_new_file
    from sshchat.config.schema import NAME_RULE, OPTIONS, valid_name
    from sshchat.config.template import initial_config

    config_arg = args.config
    if _init_exists(config_arg):
        return EXIT_FAILURE
    on_tty = sys.stdin is not None and sys.stdin.isatty()
    name = args.admin
    if name is None:
        if not on_tty:
            _error(
                "--admin NAME is needed when stdin is not a terminal (the password is then "
                "read as one line from stdin). Nothing written."
            )
            return EXIT_FAILURE
        name = _ask_admin_name()
        if name is None:
            return EXIT_FAILURE
    elif not valid_name(name):
        _error(f"--admin {name[:40]!r} is not a valid login name: use {NAME_RULE}. Nothing written")
        return EXIT_FAILURE
    password_hash = _hash_new_password(name)
    if password_hash is None:
        return EXIT_FAILURE
    text = initial_config(config=config_arg, admin=name, password_hash=password_hash)
    try:
        parse_config(text, Path(config_arg))  # what serve will read; never write a bad file
        write_new_file(Path(config_arg), text)
    except FileExistsError:  # created while the password was being typed
        _init_exists(config_arg)
        return EXIT_FAILURE
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_FAILURE
    quoted = shlex.quote(config_arg)
    print(
        f"{config_arg}: written, with administrator {name} (readable by you only, mode 0600).\n"
        "Next, check it and start the server (the first start creates its host key):\n\n"
        f"    sshchat check-config --config {quoted}\n"
        f"    sshchat serve --config {quoted}\n\n"
        f"then log in:  ssh -p {OPTIONS['server.port'].default} "
        f"{name}@{OPTIONS['server.listen'].default}\n"
        f"Add more users with `sshchat user add NAME --config {quoted}`."
    )
    return EXIT_OK


# ---------------------------------------------------------------------------
# serve
# ---------------------------------------------------------------------------


def _cmd_serve(args: argparse.Namespace) -> int:
    config = _load(args.config, demo=True)
    if config is None:
        return EXIT_CONFIG
    if args.workers < 1 or args.workers > 64:
        _error(f"--workers {args.workers}: out of range. Fix: give a number from 1 to 64.")
        return EXIT_CONFIG
    if args.workers > 1 and not config.cluster.enabled:
        _error(
            f"{args.config}: --workers {args.workers} needs a [cluster] table: the workers "
            "share one chat through Redis. Fix: add a [cluster] table with redis_url (see "
            "config.example.toml), or run without --workers."
        )
        return EXIT_CONFIG
    restore_logging = configure_logging(args.log_level, args.log_format)
    try:
        if args.workers > 1:
            from sshchat.cli.workers import run_workers  # lazy: pulls in asyncssh

            return run_workers(config, args)
        if args.worker_index:
            from sshchat.cli.workers import worker_config

            config = worker_config(config, args.worker_index, args.port_override)
        return _serve(config, args)
    finally:
        restore_logging()


def _serve(config: Config, args: argparse.Namespace) -> int:
    from sshchat.app import serve  # lazy: pulls in asyncssh

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
# cluster status
# ---------------------------------------------------------------------------


def _cmd_cluster_status(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    if not config.cluster.enabled:
        _error(
            f"{args.config}: has no [cluster] table, so this server runs alone. Fix: give "
            "the config file of a cluster node."
        )
        return EXIT_CONFIG
    from sshchat.cluster.status import read_status, status_text

    try:
        status = asyncio.run(read_status(config.cluster.redis_url, config=args.config))
    except StartupError as exc:
        _error(str(exc))
        return EXIT_CONFIG
    print(status.as_json() if args.json else status_text(status))
    return EXIT_OK


# ---------------------------------------------------------------------------
# hash-password
# ---------------------------------------------------------------------------


def _read_password(nothing: str = "nothing printed", prompt: str = "Password: ") -> str | None:
    """Get the password from the terminal (twice) or one stdin line; None on refusal.

    *nothing* ends the mismatch message (what was not done).
    """
    if sys.stdin is not None and sys.stdin.isatty():
        try:
            first = getpass.getpass(prompt)
            if not first:
                _error("empty password refused")
                return None
            second = getpass.getpass("Again: ")
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            _error("aborted")
            return None
        if first != second:
            _error(f"the passwords do not match; {nothing}")
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


def _hash_or_explain(password: str, nothing: str) -> str | None:
    """Hash *password* as SSH logins deliver it; None after printing why it cannot be used.

    Short passwords are hashed, with a warning on stderr.
    """
    from sshchat.security import passwords  # argon2 import only when needed

    try:
        hashed = passwords.hash_password(password)
    except passwords.PasswordError as exc:
        _error(f"{exc.problem}; {nothing}. Fix: {exc.fix}.")
        return None
    for warning in passwords.password_warnings(passwords.prepare_password(password)):
        _error(f"warning: {warning}")
    return hashed


def _cmd_hash_password(args: argparse.Namespace) -> int:
    password = _read_password()
    if password is None:
        return EXIT_FAILURE
    hashed = _hash_or_explain(password, "nothing printed")
    if hashed is None:
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
    config = _load(args.config, demo=True)
    if config is None:
        return EXIT_CONFIG
    notes = _check_host_keys(config, args.config)
    if notes is None:
        return EXIT_CONFIG
    for note in notes:
        print(note)
    from sshchat.security.exposure import exposure_warnings

    for warning in exposure_warnings(config):
        print(f"warning: {warning}")
    address = _address(config.listen_host, config.listen_port)
    print(f"{args.config}: OK ({_plural(len(config.users), 'user')}, listening on {address})")
    return EXIT_OK


# ---------------------------------------------------------------------------
# user: edit the accounts in the config file
# ---------------------------------------------------------------------------

RELOAD_NOTE = (
    "A running sshchat server applies this by itself within a few seconds (it watches "
    "its config file; `kill -HUP <pid>` applies it at once)."
)


class _UserParser(_Parser):
    """The ``sshchat user ...`` parsers: usage errors exit with 1."""

    usage_status = EXIT_FAILURE


FORCE_HELP = (
    "authorize the key even if another user has it (one person using one key for two "
    "accounts; the login name then decides which account they get)"
)


def _add_user_parsers(sub: argparse._SubParsersAction) -> None:
    user = sub.add_parser(
        "user",
        help="add, change, remove or list accounts in the config file",
        description=(
            "Edit the [users] of the config file in place, keeping its comments and layout. "
            "The result is validated before anything is written; a running server picks "
            "the change up by itself."
        ),
    )
    user.usage_status = EXIT_FAILURE
    _add_config_option(user)
    user.set_defaults(func=_usage_of(user))
    actions = user.add_subparsers(dest="action", metavar="ACTION", parser_class=_UserParser)

    def leaf(
        parent: argparse._SubParsersAction, name: str, help_text: str, description: str
    ) -> argparse.ArgumentParser:
        parser = parent.add_parser(name, help=help_text, description=description)
        _add_config_option(parser)
        return parser

    add = leaf(
        actions,
        "add",
        "add a user (asks for a password)",
        "Add a user. The password is asked twice on a terminal, otherwise read as one line "
        "from stdin; --no-password (with --key) makes a key-only account.",
    )
    add.add_argument("name", metavar="NAME", help="login name")
    add.add_argument("--admin", action="store_true", help="make the user an administrator")
    add.add_argument(
        "--key", metavar="FILE", help="a public key to authorize (.pub file, or - for stdin)"
    )
    add.add_argument(
        "--no-password", action="store_true", help="no password: log in with --key only"
    )
    add.add_argument("--force", action="store_true", help=FORCE_HELP)
    add.set_defaults(func=_cmd_user_add)

    passwd = leaf(
        actions,
        "passwd",
        "set or change a user's password",
        "Set a user's password (asked twice on a terminal, else one line from stdin). A "
        "running server ends the connections that logged in with the old password.",
    )
    passwd.add_argument("name", metavar="NAME", help="login name")
    passwd.set_defaults(func=_cmd_user_passwd)

    key = actions.add_parser(
        "key",
        help="list, add or remove a user's public keys",
        description=(
            "Manage the SSH public keys a user may log in with: `key list NAME` numbers "
            "them, `key add NAME FILE` authorizes one, `key del NAME NUMBER|FINGERPRINT` "
            "removes one."
        ),
    )
    key.usage_status = EXIT_FAILURE
    _add_config_option(key)
    key.set_defaults(func=_usage_of(key))
    key_actions = key.add_subparsers(dest="key_action", metavar="ACTION", parser_class=_UserParser)
    key_list = leaf(
        key_actions,
        "list",
        "list a user's keys: number, type, fingerprint, comment",
        "List the public keys of a user, numbered in the order of the config file, with "
        "their type, SHA256 fingerprint (as `ssh-keygen -l` shows it) and comment. The "
        "number or the fingerprint names a key for `sshchat user key del`.",
    )
    key_list.add_argument("name", metavar="NAME", help="login name")
    key_list.set_defaults(func=_cmd_user_key_list)

    key_add = leaf(
        key_actions,
        "add",
        "authorize a public key for a user",
        "Authorize a public key (the single line of a .pub file) for a user. A key that "
        "another user already has is refused (whoever holds it could log in as both) "
        "unless --force is given.",
    )
    key_add.add_argument("name", metavar="NAME", help="login name")
    key_add.add_argument("file", metavar="FILE", help="the .pub file, or - to read it from stdin")
    key_add.add_argument("--force", action="store_true", help=FORCE_HELP)
    key_add.set_defaults(func=_cmd_user_key_add)

    key_del = leaf(
        key_actions,
        "del",
        "remove one of a user's public keys",
        "Remove a public key of a user, named by its number in `sshchat user key list NAME` "
        "or by its fingerprint (SHA256:...). It no longer logs in; a running server ends the "
        "connections that logged in with it (telling the user why), other logins stay. The "
        "last key of a user without a password is refused: they could never log in again.",
    )
    key_del.add_argument("name", metavar="NAME", help="login name")
    key_del.add_argument(
        "key", metavar="NUMBER|FINGERPRINT", help="key number (from 1) or SHA256 fingerprint"
    )
    key_del.set_defaults(func=_cmd_user_key_del)

    delete = leaf(
        actions,
        "del",
        "remove a user",
        "Remove a user from the config (asks for confirmation on a terminal). A running "
        "server ends their open sessions.",
    )
    delete.add_argument("name", metavar="NAME", help="login name")
    delete.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(func=_cmd_user_del)

    listing = leaf(
        actions,
        "list",
        "list the users",
        "List the users: admin, password, keys and their fingerprints.",
    )
    listing.set_defaults(func=_cmd_user_list)


def _usage_of(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    def show(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_FAILURE

    return show


def _read_config_for_edit(config_arg: str) -> tuple[Path, str, FileStamp] | None:
    """Read the config for editing; print the error and return None on failure."""
    from sshchat.config.edit import read_config_text

    if _missing_config(config_arg):
        return None
    path = Path(config_arg)
    try:
        text, stamp = read_config_text(path)
    except ConfigError as exc:
        _error(str(exc))
        return None
    return path, text, stamp


def _edit(config_arg: str, edit: Callable[[Path, str], str], message: str) -> int:
    """Apply *edit* (text in, text out) to the config file and print *message*.

    Refusals exit 1, config problems 2; in both cases nothing is written.
    """
    from sshchat.config.edit import AccountError, write_atomic

    loaded = _read_config_for_edit(config_arg)
    if loaded is None:
        return EXIT_CONFIG
    path, text, stamp = loaded
    try:
        write_atomic(path, edit(path, text), expect=stamp)
    except AccountError as exc:
        _error(str(exc))
        return EXIT_FAILURE
    except ConfigError as exc:
        _error(str(exc))
        _error(f"{config_arg} was not changed.")
        return EXIT_CONFIG
    print(f"{config_arg}: {message}")
    print(RELOAD_NOTE)
    return EXIT_OK


def _precheck(config_arg: str, check: Callable[[Path, str], object]) -> int | None:
    """Run a check on the current config before asking for input; exit code on failure."""
    from sshchat.config.edit import AccountError

    loaded = _read_config_for_edit(config_arg)
    if loaded is None:
        return EXIT_CONFIG
    path, text, _ = loaded
    try:
        check(path, text)
    except AccountError as exc:
        _error(str(exc))
        return EXIT_FAILURE
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_CONFIG
    return None


def _read_key_file(file_arg: str) -> tuple[str, str] | None:
    """Read one public key from a .pub file or stdin (``-``): (line, description) or None."""
    from sshchat.config.edit import AccountError, read_public_key

    if file_arg == "-":
        source = "stdin"
        data = sys.stdin.read(64 * 1024) if sys.stdin is not None else ""
    else:
        source = file_arg
        try:
            with open(Path(file_arg).expanduser(), "rb") as fh:
                raw = fh.read(64 * 1024 + 1)
        except OSError as exc:
            _error(
                f"{file_arg}: cannot read the key file ({exc.strerror or exc}). Fix: give the "
                "path of the user's public key file, e.g. ~/.ssh/id_ed25519.pub."
            )
            return None
        if len(raw) > 64 * 1024:
            _error(f"{file_arg}: too large to be a public key. Fix: give the user's .pub file.")
            return None
        data = raw.decode("utf-8", "replace")
    try:
        line, key = read_public_key(data, source)
    except AccountError as exc:
        _error(str(exc))
        return None
    described = key.fingerprint + (f" ({key.comment})" if key.comment else "")
    return line, described


def _hash_new_password(name: str) -> str | None:
    """Ask for *name*'s new password and return its hash; None after printing why not."""
    password = _read_password("nothing changed", prompt=f"New password for {name}: ")
    if password is None:
        return None
    return _hash_or_explain(password, "nothing changed")


def _cmd_user_add(args: argparse.Namespace) -> int:
    from sshchat.config import edit as accounts

    name = args.name
    if args.no_password and not args.key:
        _error(
            f"--no-password needs --key FILE: without a password or a key {name} could never "
            "log in. Nothing changed."
        )
        return EXIT_FAILURE
    if args.key == "-" and not args.no_password:
        _error(
            "--key - reads the key from stdin, where the password is read too. Fix: give the "
            "key as a file, or add --no-password. Nothing changed."
        )
        return EXIT_FAILURE
    failed = _precheck(args.config, lambda path, text: accounts.require_new_user(text, path, name))
    if failed is not None:
        return failed
    key_line, key_text = None, ""
    if args.key:
        read = _read_key_file(args.key)
        if read is None:
            return EXIT_FAILURE
        key_line, key_text = read
        if not args.force:
            line = key_line
            failed = _precheck(
                args.config,
                lambda path, text: accounts.require_unshared_key(text, path, name, line),
            )
            if failed is not None:
                return failed
    password_hash = None
    if not args.no_password:
        password_hash = _hash_new_password(name)
        if password_hash is None:
            return EXIT_FAILURE
    parts = ["administrator" if args.admin else "not an administrator"]
    parts.append("password set" if password_hash else "no password")
    if key_line:
        parts.append(f"key {key_text}")
    return _edit(
        args.config,
        lambda path, text: accounts.add_user(
            text,
            path,
            name,
            password_hash=password_hash,
            public_key=key_line,
            admin=args.admin,
            shared_key=args.force,
        ),
        f"added user {name} ({', '.join(parts)}).",
    )


def _cmd_user_passwd(args: argparse.Namespace) -> int:
    from sshchat.config import edit as accounts

    name = args.name
    failed = _precheck(args.config, lambda path, text: accounts.require_user(text, path, name))
    if failed is not None:
        return failed
    password_hash = _hash_new_password(name)
    if password_hash is None:
        return EXIT_FAILURE
    return _edit(
        args.config,
        lambda path, text: accounts.set_password(text, path, name, password_hash),
        f"set the password of {name}. A running server ends their connections that logged "
        "in with the old password (key logins stay); the new one works from now on.",
    )


def _cmd_user_key_add(args: argparse.Namespace) -> int:
    from sshchat.config import edit as accounts

    name = args.name
    failed = _precheck(args.config, lambda path, text: accounts.require_user(text, path, name))
    if failed is not None:
        return failed
    read = _read_key_file(args.file)
    if read is None:
        return EXIT_FAILURE
    key_line, key_text = read
    return _edit(
        args.config,
        lambda path, text: accounts.add_public_key(
            text, path, name, key_line, shared_key=args.force
        ),
        f"authorized key {key_text} for {name}; it works from their next login.",
    )


def _cmd_user_key_list(args: argparse.Namespace) -> int:
    from sshchat.config import edit as accounts

    name = args.name
    found: list[AuthorizedKey] = []
    failed = _precheck(
        args.config, lambda path, text: found.extend(accounts.user_public_keys(text, path, name))
    )
    if failed is not None:
        return failed
    if not found:
        print(f"{name} has no public keys. `sshchat user key add {name} FILE` authorizes one.")
        return EXIT_OK
    rows = [("#", "TYPE", "FINGERPRINT", "COMMENT")]
    rows += [(str(i), k.algorithm, k.fingerprint, k.comment) for i, k in enumerate(found, 1)]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)]
        print("  ".join([*cells, row[3]]).rstrip())
    return EXIT_OK


def _cmd_user_key_del(args: argparse.Namespace) -> int:
    from sshchat.config import edit as accounts

    name, which = args.name, args.key
    found: list[AuthorizedKey] = []
    failed = _precheck(
        args.config,
        lambda path, text: found.append(accounts.find_public_key(text, path, name, which)[1]),
    )
    if failed is not None:
        return failed
    key = found[0]
    described = key.fingerprint + (f" ({key.comment})" if key.comment else "")
    return _edit(
        args.config,
        lambda path, text: accounts.remove_public_key(text, path, name, key.fingerprint),
        f"removed key {described} from {name}; it no longer logs in. A running server ends "
        "their connections that logged in with it (other logins stay).",
    )


def _confirm(question: str) -> bool:
    """Ask a yes/no question on the terminal; False unless the answer is yes."""
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        answer = ""
    if not answer.endswith("\n"):
        print(file=sys.stderr)
    return answer.strip().lower() in ("y", "yes")


def _cmd_user_del(args: argparse.Namespace) -> int:
    from sshchat.config import edit as accounts

    name = args.name
    failed = _precheck(args.config, lambda path, text: accounts.require_user(text, path, name))
    if failed is not None:
        return failed
    if not args.yes and sys.stdin is not None and sys.stdin.isatty():
        question = f"Remove user {name} from {args.config}? Their open sessions will end."
        if not _confirm(question):
            _error("not confirmed; nothing changed")
            return EXIT_FAILURE
    return _edit(
        args.config,
        lambda path, text: accounts.remove_user(text, path, name),
        f"removed user {name}. A running server ends their open sessions (telling them "
        "their account was removed) and refuses their logins.",
    )


def _cmd_user_list(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    rows = [("NAME", "ADMIN", "PASSWORD", "KEYS")]
    keys: list[list[str]] = [[]]
    for user in config.users.values():
        rows.append(
            (
                user.name,
                "yes" if user.admin else "no",
                "yes" if user.password_hash else "no",
                str(len(user.public_keys)),
            )
        )
        keys.append(
            [k.fingerprint + (f" {k.comment}" if k.comment else "") for k in user.public_keys]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    indent = sum(widths) + 2 * 4
    for row, fingerprints in zip(rows, keys, strict=True):
        cells = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        first = fingerprints[0] if fingerprints else ""
        print(f"{cells}  {first}".rstrip())
        for more in fingerprints[1:]:
            print(" " * indent + more)
    return EXIT_OK
