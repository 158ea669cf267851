"""Credential checks: argon2id passwords and SSH public keys.

This is a pure layer (no SSH library).  Password verification is
deliberately slow (argon2id with the library defaults takes roughly 100 ms
and 64 MiB), so it runs in a small bounded thread pool and never blocks the
event loop.

Timing: a refusal for an unknown user, or for a user without a password,
still runs one argon2 verify against a dummy hash made once per process
(when the first Authenticator is created) with the library's default
parameters.  Hashes made by ``sshchat hash-password``
use the same defaults, so refusing an unknown name costs as much as refusing
a wrong password for a real one and the response time does not reveal which
names exist.  (If an administrator pastes hashes made with other
parameters, those users' verifies take a different time; that only reveals
that *some* configured user has unusual parameters.)
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import secrets
import stringprep
import threading
import unicodedata
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType

import argon2

from sshchat.config.schema import AuthorizedKey, UserConfig

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_GOOD_LENGTH",
    "Authenticator",
    "PasswordError",
    "hash_password",
    "password_warnings",
    "prepare_password",
]

log = logging.getLogger(__name__)

#: Longer passwords are refused without hashing them in full (denial-of-service guard).
MAX_PASSWORD_LENGTH = 4096


#: Shorter passwords are accepted, with a warning.
MIN_GOOD_LENGTH = 8

_CHOOSE_ANOTHER = "choose a password without it"


class PasswordError(ValueError):
    """A password that cannot be used: ``problem`` says why, ``fix`` what to do."""

    def __init__(self, problem: str, fix: str = "choose another password") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}. Fix: {fix}.")


def prepare_password(password: str) -> str:
    """*password* as the server receives it from an SSH client.

    The SSH layer (asyncssh, RFC 4013 SASLprep) normalises every password a
    client sends before sshchat sees it: no-break and other spaces become
    ASCII spaces, soft hyphens and zero-width characters vanish, and NFKC
    folds compatibility characters (full-width ``ｐ`` becomes ``p``). A hash
    of the raw text would never match what a login delivers, so hashes are
    made of this form. Passwords the SSH layer refuses outright (control
    characters such as a tab, unassigned code points, mixed-direction text)
    could be stored but never used: they raise :class:`PasswordError`.

    The steps are asyncssh's ``saslprep``, in its order, written out here so
    that this layer needs no SSH library and can say *what* is refused; a
    property test checks that both agree.
    """
    if not isinstance(password, str):
        raise TypeError(f"password must be a str, not {type(password).__name__}")
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        raise PasswordError(
            "the password is not valid text (it holds bytes that are not UTF-8)",
            "type it again in a UTF-8 terminal",
        ) from None
    for char in password:
        if stringprep.in_table_a1(char):
            raise PasswordError(
                f"the password contains {_char_name(char)}, a character SSH logins refuse "
                "(not assigned in the Unicode version SSH uses)",
                _CHOOSE_ANOTHER,
            )
    mapped = "".join(  # non-ASCII spaces become spaces, then "commonly mapped to nothing" go
        " " if stringprep.in_table_c12(c) else c
        for c in password
        if stringprep.in_table_c12(c) or not stringprep.in_table_b1(c)
    )
    prepared = unicodedata.normalize("NFKC", mapped)
    for char in prepared:
        if char == "\t":
            raise PasswordError(
                "the password contains a tab, which SSH logins refuse", _CHOOSE_ANOTHER
            )
        if stringprep.in_table_c21_c22(char):
            raise PasswordError(
                f"the password contains a control character ({_char_name(char)}), "
                "which SSH logins refuse",
                _CHOOSE_ANOTHER,
            )
        if any(check(char) for check in _PROHIBITED):
            raise PasswordError(
                f"the password contains {_char_name(char)}, which SSH logins refuse",
                _CHOOSE_ANOTHER,
            )
    if prepared and _bidi_refused(prepared):
        raise PasswordError(
            "the password mixes right-to-left and left-to-right letters (or has right-to-left "
            "letters but does not start and end with one), which SSH logins refuse",
            "choose a password written in one direction, or start and end it with a "
            "right-to-left letter",
        )
    if not prepared:
        raise PasswordError(
            "the password is empty once invisible characters are removed",
            "choose a password with visible characters",
        )
    return prepared


# RFC 4013 prohibited output besides the controls (C.2): SASLprep's tables C.1.2, C.3-C.9.
_PROHIBITED = (
    stringprep.in_table_c12,
    stringprep.in_table_c3,
    stringprep.in_table_c4,
    stringprep.in_table_c5,
    stringprep.in_table_c6,
    stringprep.in_table_c7,
    stringprep.in_table_c8,
    stringprep.in_table_c9,
)


def _bidi_refused(text: str) -> bool:
    """RFC 3454 section 6: right-to-left text must not mix in left-to-right letters
    and must start and end with a right-to-left character."""
    rtl = any(stringprep.in_table_d1(c) for c in text)
    if not rtl:
        return False
    ltr = any(stringprep.in_table_d2(c) for c in text)
    return ltr or not (stringprep.in_table_d1(text[0]) and stringprep.in_table_d1(text[-1]))


_UNNAMED = {"Co": "a private-use character", "Cs": "a surrogate", "Cn": "a non-character"}


def _char_name(char: str) -> str:
    code = f"U+{ord(char):04X}"
    name = unicodedata.name(char, "").lower() or _UNNAMED.get(unicodedata.category(char), "")
    return f"{name} ({code})" if name else code


def password_warnings(password: str) -> list[str]:
    """Advice about a usable password (already prepared), e.g. that it is short."""
    if len(password) < MIN_GOOD_LENGTH:
        return [
            f"the password has only {len(password)} characters; short passwords are guessed "
            f"quickly. Use at least {MIN_GOOD_LENGTH} (a few words are easy to remember)."
        ]
    return []


def hash_password(password: str) -> str:
    """Return an argon2id hash of *password* using ``argon2.PasswordHasher()`` defaults.

    What is hashed is the password as :func:`prepare_password` makes it: what
    an SSH login with that password delivers. Raises :class:`PasswordError` (a
    :class:`ValueError`) if *password* is empty, longer than
    :data:`MAX_PASSWORD_LENGTH` characters or could never be sent over SSH,
    and :class:`TypeError` if it is not a string.
    """
    if not isinstance(password, str):
        raise TypeError(f"password must be a str, not {type(password).__name__}")
    if not password:
        raise PasswordError("the password is empty", "type a password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordError(
            f"the password is longer than {MAX_PASSWORD_LENGTH} characters",
            "choose a shorter password",
        )
    prepared = prepare_password(password)
    if len(prepared) > MAX_PASSWORD_LENGTH:
        raise PasswordError(
            f"the password is longer than {MAX_PASSWORD_LENGTH} characters once normalised",
            "choose a shorter password",
        )
    return argon2.PasswordHasher().hash(prepared)


@functools.cache
def _dummy_hash() -> str:
    """A hash nobody can match, made once per process with the default parameters.

    Same parameters as `sshchat hash-password`, so verifying against it costs
    the same as verifying a real user's password.  The secret is random and
    discarded.
    """
    return argon2.PasswordHasher().hash(secrets.token_urlsafe(32))


class Authenticator:
    """Checks credentials against the configured users.

    Password verification runs in a bounded thread pool so it never blocks
    the event loop.  Usernames are case-sensitive.
    """

    def __init__(self, users: Mapping[str, UserConfig], *, workers: int = 2) -> None:
        """Create the checker for *users*, verifying with at most *workers* threads."""
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive int, not {workers!r}")
        self._users: Mapping[str, UserConfig] = MappingProxyType(dict(users))
        self._hasher = argon2.PasswordHasher()
        self._dummy_hash = _dummy_hash()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sshchat-auth")
        self._closed = False
        self._lock = threading.Lock()

    def update_users(self, users: Mapping[str, UserConfig]) -> None:
        """Replace the set of users (e.g. after a config reload)."""
        self._users = MappingProxyType(dict(users))

    def user_exists(self, username: str) -> bool:
        """Return True if *username* is a configured login name (case-sensitive)."""
        return isinstance(username, str) and username in self._users

    def _verify(self, password_hash: str, password: str | bytes) -> bool:
        """Run one argon2 verify (in a worker thread); never raises."""
        try:
            return self._hasher.verify(password_hash, password)
        except argon2.exceptions.VerifyMismatchError:
            return False
        except Exception as exc:  # bad hash, encoding error, ...: refuse, do not crash
            log.debug("password verification failed: %s", type(exc).__name__)
            return False

    async def check_password(self, username: str, password: str) -> bool:
        """Return True if *password* is right for *username*.

        Unknown users, users without a password, wrong types and over-long
        passwords are refused after a full verify against the dummy hash, so
        refusals take the same time either way.  Never raises for bad input.
        Returns False once :meth:`close` has been called.
        """
        user = self._users.get(username) if isinstance(username, str) else None
        password_hash = user.password_hash if user is not None else None
        usable = isinstance(password, str | bytes) and len(password) <= MAX_PASSWORD_LENGTH
        if password_hash is None or not usable:
            candidate: str | bytes = password if usable else ""
            await self._run(self._dummy_hash, candidate)
            return False
        return await self._run(password_hash, password) is True

    async def _run(self, password_hash: str, password: str | bytes) -> bool:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._closed:
                return False
            try:
                future = loop.run_in_executor(self._executor, self._verify, password_hash, password)
            except RuntimeError:  # executor shut down concurrently
                return False
        return await future

    def check_public_key(self, username: str, key_blob: bytes) -> AuthorizedKey | None:
        """Return the configured key of *username* whose blob equals *key_blob*, or None."""
        if not isinstance(username, str) or not isinstance(
            key_blob, bytes | bytearray | memoryview
        ):
            return None
        user = self._users.get(username)
        if user is None:
            return None
        blob = bytes(key_blob)
        for key in user.public_keys:
            if hmac.compare_digest(key.blob, blob):
                return key
        return None

    def close(self) -> None:
        """Shut the thread pool down; later password checks return False."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=False)
