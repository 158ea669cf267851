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
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType

import argon2

from sshchat.config.schema import AuthorizedKey, UserConfig

__all__ = ["MAX_PASSWORD_LENGTH", "Authenticator", "hash_password"]

log = logging.getLogger(__name__)

#: Longer passwords are refused without hashing them in full (denial-of-service guard).
MAX_PASSWORD_LENGTH = 4096


def hash_password(password: str) -> str:
    """Return an argon2id hash of *password* using ``argon2.PasswordHasher()`` defaults.

    Raises :class:`ValueError` if *password* is empty or longer than
    :data:`MAX_PASSWORD_LENGTH` characters, and :class:`TypeError` if it is
    not a string.
    """
    if not isinstance(password, str):
        raise TypeError(f"password must be a str, not {type(password).__name__}")
    if not password:
        raise ValueError("the password is empty")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"the password is longer than {MAX_PASSWORD_LENGTH} characters")
    return argon2.PasswordHasher().hash(password)


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
