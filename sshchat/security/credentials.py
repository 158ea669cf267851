"""What a connection logged in with, and whether that still lets it in.

An SSH connection authenticates once and may then open sessions for as long
as it stays up. When the operator changes a password or removes a key, a
connection that logged in with the old one must not keep that power: the
server keeps the :class:`Credential` each connection used and asks
:meth:`Credential.revoked` after every config reload and before every new
session. Pure: no SSH library, no I/O.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from sshchat.config.schema import AuthorizedKey, UserConfig

__all__ = ["ACCOUNT_GONE", "KEY_REMOVED", "PASSWORD_CHANGED", "Credential"]

#: What a user is told when the credential of their connection no longer stands.
PASSWORD_CHANGED = "Your password was changed; log in again with the new one. Goodbye."
KEY_REMOVED = (
    "The key you logged in with ({fingerprint}) is no longer authorized for your account. Goodbye."
)
ACCOUNT_GONE = "Your account was removed from the server. Goodbye."


@dataclass(frozen=True)
class Credential:
    """The password (by its hash) or the public key a login was accepted with."""

    method: str  # "password" or "key"
    password_hash: str | None = field(default=None, repr=False)
    key: AuthorizedKey | None = None

    @classmethod
    def password(cls, password_hash: str | None) -> Credential:
        return cls("password", password_hash=password_hash)

    @classmethod
    def public_key(cls, key: AuthorizedKey) -> Credential:
        return cls("key", key=key)

    @property
    def fingerprint(self) -> str | None:
        """The key's fingerprint for a key login; None for a password login."""
        return self.key.fingerprint if self.key is not None else None

    def revoked(self, user: UserConfig | None) -> str | None:
        """Why this credential no longer lets ``user`` in (the line to tell them), or None.

        A password login stands while the account's password hash is the one
        it was checked against; a key login while that key is still one of
        the account's keys. Changing the other credential changes nothing.
        """
        if user is None:
            return ACCOUNT_GONE
        if self.method == "password":
            if user.password_hash is None or user.password_hash != self.password_hash:
                return PASSWORD_CHANGED
            return None
        assert self.key is not None
        if any(hmac.compare_digest(k.blob, self.key.blob) for k in user.public_keys):
            return None
        return KEY_REMOVED.format(fingerprint=self.key.fingerprint)
