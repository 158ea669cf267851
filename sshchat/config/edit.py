"""Editing the accounts of a config file in place, keeping its comments and layout.

The edit functions are pure: config text in, config text out.  They use
tomlkit, so every comment, blank line and unrelated table stays as it was:

* :func:`add_user` appends a ``[users.NAME]`` table after the last user;
* :func:`set_password` replaces (or adds) ``password_hash``;
* :func:`add_public_key` appends to ``public_keys`` (or adds the key);
* :func:`remove_public_key` removes one key, named by its fingerprint or its
  number in :func:`user_public_keys` (the comments inside the list stay);
* :func:`remove_user` removes the user's table together with the comment
  lines directly above its header (no blank line between), which describe it.
  Comments after its last key are kept: they introduce what follows.

Before an edit is returned it is checked three ways.  The change must make
sense (the user exists, the key is not there yet...): otherwise
:class:`AccountError`.  The new text, read back, must hold exactly the old
data plus the one intended change, a guard against a layout that tomlkit
would edit in an unexpected way.  And the new text must pass
:func:`~sshchat.config.schema.parse_config`.  The last two raise
:class:`~sshchat.config.schema.ConfigError`.

:func:`read_config_text`, :func:`write_atomic` and :func:`write_new_file` are
the only functions that touch the disk: the file is replaced atomically (a
temporary file in the same directory, then :func:`os.replace`), keeping its
mode, and only if nobody changed it since it was read.  A new file (``sshchat
init``) appears complete or not at all and never replaces one that exists.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import stat
import tempfile
import tomllib
from pathlib import Path
from typing import Any, BinaryIO

import tomlkit
from tomlkit.container import Container
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Comment, Null, Table, Whitespace

from sshchat.config.schema import (
    NAME_RULE,
    AuthorizedKey,
    ConfigError,
    parse_authorized_key,
    parse_config,
    valid_name,
)
from sshchat.errors import FixError

__all__ = [
    "AccountError",
    "FileStamp",
    "add_public_key",
    "add_user",
    "find_public_key",
    "read_config_text",
    "read_public_key",
    "remove_public_key",
    "remove_user",
    "require_new_user",
    "require_unshared_key",
    "require_user",
    "set_password",
    "user_public_keys",
    "write_atomic",
    "write_new_file",
]

#: Identity of a file's contents on disk: (device, inode, mtime in ns, size).
FileStamp = tuple[int, int, int, int]

_MAX_KEY_FILE = 64 * 1024  # a .pub file is a few hundred bytes
_PUB_FIX = "give the user's public key: the single line of their ~/.ssh/id_*.pub file"


class AccountError(FixError):
    """A refused account change (no such user, duplicate key...).

    ``str(err)`` is one line naming the file and the user, what is wrong and
    the fix, like :class:`~sshchat.config.schema.ConfigError`.
    """

    def __init__(self, where: Path | str, problem: str, fix: str) -> None:
        super().__init__(where, problem, fix)


# ---------------------------------------------------------------------------
# Public keys
# ---------------------------------------------------------------------------


def read_public_key(text: str, source: str) -> tuple[str, AuthorizedKey]:
    """Return the one public key line in *text* (a .pub file's content) and the parsed key.

    Blank lines and ``#`` comments are skipped.  *source* names where the text
    came from, for messages.  Raises :class:`AccountError` for a private key,
    no key, several keys or a malformed key.
    """
    if "PRIVATE KEY" in text:
        raise AccountError(
            source,
            "is a private key, which must never leave the user's machine",
            "give the public key instead: the .pub file next to it (e.g. ~/.ssh/id_ed25519.pub)",
        )
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    if not lines:
        raise AccountError(source, "holds no public key", _PUB_FIX)
    if len(lines) > 1:
        raise AccountError(
            source,
            f"holds {len(lines)} lines, but one public key was expected",
            "add the keys one at a time, one .pub file (or one line on stdin) each",
        )
    try:
        key = parse_authorized_key(lines[0])
    except ValueError as exc:
        raise AccountError(source, str(exc), _PUB_FIX) from None
    return " ".join(lines[0].split(None, 2)), key


# ---------------------------------------------------------------------------
# Checks shared by the edits
# ---------------------------------------------------------------------------


def _data(text: str, path: Path) -> dict[str, Any]:
    """The decoded TOML (plain dicts); :class:`ConfigError` for a syntax error."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        parse_config(text, path)  # raises the standard message for the syntax error
        raise ConfigError(path, None, "invalid TOML", "correct the syntax") from None


def _document(text: str, path: Path) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ConfigError(
            path, None, f"cannot be edited automatically ({exc})", "make the change by hand"
        ) from None


def _users(data: dict[str, Any], path: Path) -> dict[str, Any]:
    users = data.get("users", {})
    if not isinstance(users, dict):
        raise ConfigError(
            path, "users", "must be a table", "write each user as a [users.NAME] section"
        )
    return users


def _check_name(name: str, path: Path) -> None:
    if not valid_name(name):
        raise AccountError(path, f"{name[:40]!r} is not a valid login name", f"use {NAME_RULE}")


def require_new_user(text: str, path: Path, name: str) -> None:
    """Raise unless *name* is a valid login name that no user has yet (ignoring case)."""
    _check_name(name, path)
    for existing in _users(_data(text, path), path):
        if existing.lower() == name.lower():
            same = (
                "already exists"
                if existing == name
                else f"differs from user {existing!r} only by case"
            )
            raise AccountError(
                path,
                f"user {name!r} {same}",
                f"choose another name, or change {existing!r} with `sshchat user passwd "
                f"{existing}` or `sshchat user key add {existing} FILE`",
            )


def require_user(text: str, path: Path, name: str) -> dict[str, Any]:
    """Return the table of the user called *name*; :class:`AccountError` if there is none."""
    users = _users(_data(text, path), path)
    if name not in users:
        close = [n for n in users if n.lower() == name.lower()]
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise AccountError(
            path, f"there is no user {name[:40]!r}", f"{hint}`sshchat user list` shows the users"
        )
    entry = users[name]
    if not isinstance(entry, dict):
        raise ConfigError(
            path,
            f"users.{name}",
            "must be a table",
            f"write it as a [users.{name}] section with password_hash or public_keys",
        )
    return entry


def _key_list(entry: dict[str, Any], path: Path, name: str) -> list[Any]:
    keys = entry.get("public_keys", [])
    if not isinstance(keys, list):
        raise ConfigError(
            path,
            f"users.{name}.public_keys",
            "must be a list of strings",
            'write it as public_keys = ["ssh-ed25519 AAAA... you@laptop"]',
        )
    return keys


def _parsed(line: Any) -> AuthorizedKey | None:
    try:
        return parse_authorized_key(line) if isinstance(line, str) else None
    except ValueError:
        return None


def _describe(key: AuthorizedKey) -> str:
    return key.fingerprint + (f" ({key.comment})" if key.comment else "")


def user_public_keys(text: str, path: Path, name: str) -> list[AuthorizedKey]:
    """The keys of user *name*, in the order of the file (key number N is item N-1).

    Raises :class:`AccountError` if there is no such user and
    :class:`ConfigError` if a key line is not a valid public key.
    """
    keys = []
    for i, line in enumerate(_key_list(require_user(text, path, name), path, name)):
        key = _parsed(line)
        if key is None:
            raise ConfigError(
                path,
                f"users.{name}.public_keys[{i}]",
                "is not a valid public key",
                "correct or remove it by hand (`sshchat check-config` says what is wrong)",
            )
        keys.append(key)
    return keys


def find_public_key(text: str, path: Path, name: str, which: str) -> tuple[int, AuthorizedKey]:
    """The key of user *name* that *which* names: (position in the list, key).

    *which* is a key number as ``sshchat user key list`` shows it (from 1), or
    a fingerprint (``SHA256:...``; the ``SHA256:`` prefix may be left out).
    Raises :class:`AccountError`, listing the user's keys, if none matches.
    """
    keys = user_public_keys(text, path, name)
    listed = "; ".join(f"{i} {_describe(k)}" for i, k in enumerate(keys, 1))
    see = f"`sshchat user key list {name}` shows them"
    if not keys:
        raise AccountError(
            path,
            f"user {name!r} has no public keys",
            f"nothing to remove; `sshchat user key add {name} FILE` adds one",
        )
    wanted = which.strip()
    if wanted.isdigit():
        number = int(wanted)
        if 1 <= number <= len(keys):
            return number - 1, keys[number - 1]
        if len(keys) == 1:
            count, fix = "1 key", f"its only key is number 1: {_describe(keys[0])}"
        else:
            count = f"{len(keys)} keys"
            fix = f"give a number from 1 to {len(keys)} or a fingerprint: {listed}"
        raise AccountError(
            path, f"user {name!r} has {count}, so there is no key number {number}", fix
        )
    if not wanted.upper().startswith("SHA256:"):
        wanted = "SHA256:" + wanted
    wanted = "SHA256:" + wanted[len("SHA256:") :].rstrip("=")
    for i, key in enumerate(keys):
        if key.fingerprint == wanted:
            return i, key
    raise AccountError(
        path,
        f"user {name!r} has no key {which.strip()[:60]!r}",
        f"give a key number or fingerprint ({see}): {listed}",
    )


def require_unshared_key(text: str, path: Path, name: str, key_line: str) -> None:
    """Raise :class:`AccountError` if a user other than *name* already has this key.

    Whoever holds the private key could then log in as either user, which is
    rarely meant; the command line's ``--force`` skips this check for one
    person who deliberately uses one key for two accounts.
    """
    new = parse_authorized_key(key_line)
    for other, entry in _users(_data(text, path), path).items():
        if other == name or not isinstance(entry, dict):
            continue
        keys = entry.get("public_keys", [])
        for line in keys if isinstance(keys, list) else []:
            known = _parsed(line)
            if known is not None and known.blob == new.blob:
                raise AccountError(
                    path,
                    f"the key {new.fingerprint} already belongs to user {other!r}; whoever "
                    f"holds its private key could log in as {other!r} and as {name!r}",
                    f"give {name} a key of their own, or add --force if one person uses "
                    "both accounts",
                )


def _finish(doc: tomlkit.TOMLDocument, path: Path, expected: dict[str, Any], original: str) -> str:
    """Render *doc* in the style of *original*; check it holds *expected* and is valid."""
    text = doc.as_string()
    if "\r\n" in original and "\n" not in original.replace("\r\n", ""):
        text = re.sub(r"(?<!\r)\n", "\r\n", text)  # new lines in the file's line endings
    if not original.endswith(("\n\n", "\n\r\n")) and text.endswith(("\n\n", "\n\r\n")):
        eol = "\r\n" if text.endswith("\r\n") else "\n"
        text = text.rstrip("\r\n") + eol  # no blank lines left at the end
    try:
        got = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        got = None
    if got != expected:
        raise ConfigError(
            path,
            "users",
            "the layout of this file is too unusual to edit automatically",
            "make the change by hand (see config.example.toml)",
        )
    parse_config(text, path)
    return text


# ---------------------------------------------------------------------------
# tomlkit helpers
# ---------------------------------------------------------------------------


def _set_key(table: Any, key: str, value: Any) -> None:
    """Set *key* in a user's table: in place if present, else after its last key.

    tomlkit would append after the comments that end the table, which belong
    to the next table (they sit just above its header).
    """
    if key in table:
        table[key] = value
        return
    if isinstance(table, Table):
        body = table.value.body
        last = max((i for i, (k, _) in enumerate(body) if k is not None), default=-1)
        if last + 1 < len(body):
            with contextlib.suppress(AttributeError, TypeError, ValueError, TOMLKitError):
                table.value._insert_at(last + 1, key, value)
                return
    table[key] = value


def _index_in(container: Container, item: Any) -> int | None:
    for i, (_, value) in enumerate(container.body):
        if value is item:
            return i
    return None


def _last_rendered(table: Table) -> Container:
    """The container whose end is rendered last within *table* (its last sub-table's)."""
    container = table.value
    while True:
        items = [v for _, v in container.body if not isinstance(v, Null)]
        if items and isinstance(items[-1], Table):
            container = items[-1].value
            continue
        return container


def _rendered_before(
    doc: tomlkit.TOMLDocument, users: Table, idx: int
) -> tuple[Container, int] | None:
    """Where the text just above ``users.body[idx]``'s header lives: (container, end index)."""
    parent = users.value
    if idx > 0:
        prev = parent.body[idx - 1][1]
        if isinstance(prev, AoT):
            return None
        if isinstance(prev, Table):
            container = _last_rendered(prev)
            return container, len(container.body)
        return parent, idx
    if not users.is_super_table():
        return None  # right below the [users] header
    j = _index_in(doc, users)
    if j is None:
        return None
    if j > 0:
        prev = doc.body[j - 1][1]
        if isinstance(prev, AoT):
            return None
        if isinstance(prev, Table):
            container = _last_rendered(prev)
            return container, len(container.body)
    return doc, j


def _remove_table(doc: tomlkit.TOMLDocument, name: str) -> bool:
    """Remove ``[users.NAME]`` and the comment lines right above its header.

    Returns False (changing nothing) when the layout is not the usual one;
    the caller then lets tomlkit remove the table.
    """
    users = doc.get("users")
    if not isinstance(users, Table) or _index_in(doc, users) is None:
        return False
    parent = users.value
    idx = next((i for i, (k, _) in enumerate(parent.body) if k is not None and k.key == name), None)
    if idx is None:
        return False
    target = parent.body[idx][1]
    if not isinstance(target, Table) or target.is_super_table():
        return False
    body = target.value.body
    if any(isinstance(v, Table | AoT) for _, v in body):
        return False
    last = max((i for i, (k, _) in enumerate(body) if k is not None), default=-1)
    tail = [v for _, v in body[last + 1 :]]
    if not all(isinstance(v, Comment | Whitespace | Null) for v in tail):
        return False
    # What follows the table's last key introduces the next table: keep it.
    tail_text = "".join(v.as_string() for v in tail)
    before = _rendered_before(doc, users, idx)

    parent.remove(name)  # leaves a placeholder, so indices do not move
    if tail_text:
        parent.body[idx] = (None, Whitespace(tail_text))
    if before is not None:
        container, end = before
        items = container.body
        start = end
        while (
            start > 0 and items[start - 1][0] is None and isinstance(items[start - 1][1], Comment)
        ):
            start -= 1
        # One blank line separated the table from what was above; the kept tail
        # brings its own (or the table was the last thing in the file).
        blank_follows = not tail_text.strip(" \t") or tail_text.lstrip(" \t")[:1] in ("\n", "\r")
        if (
            blank_follows
            and start > 0
            and items[start - 1][0] is None
            and isinstance(items[start - 1][1], Whitespace)
        ):
            start -= 1
        for i in range(start, end):
            items[i] = (None, Null())
    return True


def _follows(doc: tomlkit.TOMLDocument, users: Any) -> bool:
    """Whether anything is rendered after the ``users`` table."""
    j = _index_in(doc, users)
    if j is None:
        return True  # users is split around other tables: keep the new one apart
    return any(not isinstance(v, Whitespace | Null) for _, v in doc.body[j + 1 :])


# ---------------------------------------------------------------------------
# The edits
# ---------------------------------------------------------------------------


def add_user(
    text: str,
    path: Path,
    name: str,
    *,
    password_hash: str | None = None,
    public_key: str | None = None,
    admin: bool = False,
    shared_key: bool = False,
) -> str:
    """Return *text* with a new ``[users.NAME]`` table after the last user.

    *public_key* is one validated public key line (see :func:`read_public_key`);
    another user's key is refused unless *shared_key* (see
    :func:`require_unshared_key`).  ``admin`` is written only when true.
    """
    require_new_user(text, path, name)
    if public_key is not None and not shared_key:
        require_unshared_key(text, path, name, public_key)
    if password_hash is None and public_key is None:
        raise AccountError(
            path,
            f"user {name!r} would have neither a password nor a key, so could never log in",
            "give a password, or a public key with --key FILE",
        )
    expected = copy.deepcopy(_data(text, path))
    entry: dict[str, Any] = {}
    table = tomlkit.table()
    if password_hash is not None:
        table.add("password_hash", password_hash)
        entry["password_hash"] = password_hash
    if public_key is not None:
        table.add("public_keys", [public_key])
        entry["public_keys"] = [public_key]
    if admin:
        table.add("admin", True)
        entry["admin"] = True
    expected.setdefault("users", {})[name] = entry

    doc = _document(text, path)
    users = doc.get("users")
    if users is None:
        users = tomlkit.table(is_super_table=True)
        users.add(name, table)
        doc.add("users", users)
    else:
        if _follows(doc, users):
            table.add(tomlkit.nl())
        users[name] = table
    return _finish(doc, path, expected, text)


def set_password(text: str, path: Path, name: str, password_hash: str) -> str:
    """Return *text* with the ``password_hash`` of user *name* set (replaced or added)."""
    _check_name(name, path)
    require_user(text, path, name)
    expected = copy.deepcopy(_data(text, path))
    expected["users"][name]["password_hash"] = password_hash
    doc = _document(text, path)
    _set_key(doc["users"][name], "password_hash", password_hash)
    return _finish(doc, path, expected, text)


def add_public_key(
    text: str, path: Path, name: str, key_line: str, *, shared_key: bool = False
) -> str:
    """Return *text* with *key_line* appended to the ``public_keys`` of user *name*.

    Refuses (:class:`AccountError`) a key the user already has, whatever its
    comment, and one another user has unless *shared_key*.
    """
    _check_name(name, path)
    entry = require_user(text, path, name)
    new = parse_authorized_key(key_line)
    for line in _key_list(entry, path, name):
        known = _parsed(line)
        if known is not None and known.blob == new.blob:
            raise AccountError(
                path,
                f"user {name!r} already has the key {new.fingerprint}",
                "nothing to do; `sshchat user list` shows each user's keys",
            )
    if not shared_key:
        require_unshared_key(text, path, name, key_line)
    expected = copy.deepcopy(_data(text, path))
    expected["users"][name].setdefault("public_keys", []).append(key_line)
    doc = _document(text, path)
    table = doc["users"][name]
    current = table.get("public_keys")
    if current is None:
        _set_key(table, "public_keys", [key_line])
    else:
        current.append(key_line)
    return _finish(doc, path, expected, text)


def remove_public_key(text: str, path: Path, name: str, which: str) -> str:
    """Return *text* without the key of user *name* that *which* names.

    *which* is a key number or a fingerprint (see :func:`find_public_key`).
    The rest of the list keeps its layout and comments; when the last key
    goes, the ``public_keys`` line goes too.  The only way a user without a
    password logs in is refused (:class:`AccountError`).
    """
    _check_name(name, path)
    entry = require_user(text, path, name)
    index, key = find_public_key(text, path, name, which)
    remaining = len(_key_list(entry, path, name)) - 1
    if remaining == 0 and "password_hash" not in entry:
        raise AccountError(
            path,
            f"{key.fingerprint} is the only way user {name!r} can log in (they have no password)",
            f"set a password first (`sshchat user passwd {name}`), add another key, or remove "
            f"the user (`sshchat user del {name}`)",
        )
    expected = copy.deepcopy(_data(text, path))
    doc = _document(text, path)
    table = doc["users"][name]
    if remaining == 0:
        del expected["users"][name]["public_keys"]
        del table["public_keys"]
    else:
        del expected["users"][name]["public_keys"][index]
        del table["public_keys"][index]
    return _finish(doc, path, expected, text)


def remove_user(text: str, path: Path, name: str) -> str:
    """Return *text* without the table of user *name* (and the comments right above it)."""
    _check_name(name, path)
    require_user(text, path, name)
    expected = copy.deepcopy(_data(text, path))
    del expected["users"][name]
    if not expected["users"]:
        raise AccountError(
            path,
            f"{name!r} is the only user; without users nobody could log in",
            f"add another user first (`sshchat user add NAME`), then remove {name!r}",
        )
    doc = _document(text, path)
    if not _remove_table(doc, name):
        del doc["users"][name]
    return _finish(doc, path, expected, text)


# ---------------------------------------------------------------------------
# Disk
# ---------------------------------------------------------------------------


def _stamp(st: os.stat_result) -> FileStamp:
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


def read_config_text(path: Path) -> tuple[str, FileStamp]:
    """Read the config file for editing: its text (line endings kept) and its stamp.

    Raises :class:`ConfigError` if it is missing, unreadable or not UTF-8.
    """
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            data = fh.read()
    except FileNotFoundError:
        raise ConfigError(
            path, None, "file not found", "check the path, or copy config.example.toml and edit it"
        ) from None
    except IsADirectoryError:
        raise ConfigError(path, None, "is a directory", "give the path of the TOML file") from None
    except OSError as exc:
        raise ConfigError(
            path,
            None,
            f"cannot read the file ({exc.strerror or exc})",
            "run the command as a user who can read and write it",
        ) from None
    try:
        return data.decode("utf-8"), _stamp(st)
    except UnicodeDecodeError as exc:
        raise ConfigError(
            path, None, f"not valid UTF-8 text (byte {exc.start})", "save the file as UTF-8"
        ) from None


def _write_durably(fh: BinaryIO, text: str) -> None:
    """Write *text* (UTF-8) to *fh* and make it reach the disk before returning."""
    fh.write(text.encode("utf-8"))
    fh.flush()
    os.fsync(fh.fileno())


def _sync_directory(directory: Path) -> None:
    """Make a new directory entry (a rename, a link) durable; best effort."""
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_atomic(path: Path, text: str, *, expect: FileStamp | None = None) -> None:
    """Replace the file at *path* (through symlinks) with *text*, atomically.

    The new file gets the old one's mode (and owner, where allowed).  With
    *expect*, the file must still have that stamp (nobody changed it since it
    was read), or nothing is written.  Raises :class:`ConfigError`.
    """
    target = Path(os.path.realpath(path))
    try:
        st = os.stat(target)
    except OSError as exc:
        raise ConfigError(
            path, None, f"cannot stat the file ({exc.strerror or exc})", "check the path"
        ) from None
    if expect is not None and _stamp(st) != expect:
        raise ConfigError(
            path,
            None,
            "was changed by someone else while this command ran; nothing was written",
            "run the command again",
        )
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise ConfigError(
            path,
            None,
            f"cannot write next to the file ({exc.strerror or exc}); nothing was written",
            f"run the command as a user who can write to {target.parent} "
            "(the file is replaced by a new one made there)",
        ) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            _write_durably(fh, text)
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        if (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
            with contextlib.suppress(OSError):
                os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ConfigError(
            path,
            None,
            f"cannot write the file ({exc.strerror or exc}); nothing was written",
            "check the free space and permissions",
        ) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_directory(target.parent)


def write_new_file(path: Path, text: str) -> None:
    """Create the file *path* holding *text*, readable by its owner only (mode 0600).

    Missing parent directories are created.  The file appears complete or
    not at all (written aside, then hard-linked into place), and an existing
    file, even a dangling symlink, is never replaced: :class:`FileExistsError`.
    Other problems raise :class:`ConfigError`.
    """
    target = Path(os.path.abspath(path))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise ConfigError(
            path,
            None,
            f"cannot create the file ({exc.strerror or exc}); nothing was written",
            f"run the command as a user who can write to {target.parent}, or give another "
            "path with --config",
        ) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)
            _write_durably(fh, text)
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise
        except OSError:  # no hard links on this file system: exclusive create instead
            out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(out, "wb") as fh:
                    _write_durably(fh, text)
            except OSError:
                os.unlink(target)  # ours, and incomplete
                raise
    except FileExistsError:
        raise
    except OSError as exc:
        raise ConfigError(
            path,
            None,
            f"cannot write the file ({exc.strerror or exc}); nothing was written",
            "check the free space and permissions",
        ) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    _sync_directory(target.parent)
