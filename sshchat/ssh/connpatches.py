"""Two asyncssh patches that cut what each server connection costs after login.

Why: an idle chat session is mostly memory, and issue 12 caps it at 100 KB per
session at 2,000 sessions. A tracemalloc diff around opening sessions
(``bench/micro/sessions_mem.py``, ``bench/RESULTS.md`` section "branch mem")
found two things asyncssh 2.24 keeps per connection for no use:

* **A second copy of the connection options.** ``SSHServerConnection.reload_config``
  runs at the first authentication request of every connection: it rebuilds the
  whole ``SSHServerConnectionOptions`` (in a thread of the default executor) so
  that ``Match`` blocks of an sshd-style config file can apply to the user and
  address. With no config file loaded and no reverse-DNS lookup there is nothing
  to match, and the rebuilt options equal the listener's: keeping the listener's
  object saves ~4 KB per connection (the options' attributes, their ``kwargs``
  copy, the algorithm lists) and an executor round trip per login.
  :func:`reload_config` does exactly that and otherwise calls asyncssh's.
* **Both KEXINIT messages.** asyncssh keeps the client's and its own KEXINIT
  payload (1.5-2.5 KB together) because the exchange hash of a key exchange
  covers them (``get_hash_prefix``). Once ``send_newkeys`` has run, that hash
  is computed; a later re-key sends and receives new KEXINITs, which set both
  again before any hash is taken. :func:`send_newkeys` forgets them afterwards
  (unless the next re-key began within the call and replaced one).

Both are written so that they could go upstream as they are;
``tests/unit/ssh/test_connpatches.py`` checks them, and
``tests/e2e/test_openssh*.py`` log in with OpenSSH through them.
:func:`install` is idempotent and checks the installed asyncssh has the methods
it replaces (it leaves asyncssh alone otherwise).
"""

from __future__ import annotations

from typing import Any

from asyncssh.connection import SSHConnection, SSHServerConnection

__all__ = ["install", "installed", "reload_config", "send_newkeys"]

_ORIGINAL_RELOAD = SSHServerConnection.reload_config
_ORIGINAL_NEWKEYS = SSHConnection.send_newkeys


async def reload_config(self: Any) -> None:
    """asyncssh's ``reload_config``, skipped when it could not change anything.

    That is when no config file was loaded (``options.config.loaded`` is False:
    no ``Match`` block exists) and no reverse lookup of the client's address is
    asked for (its only use is matching).
    """
    options = self._options
    config = getattr(options, "config", None)
    if config is not None and not config.loaded and not self._rdns_lookup:
        return
    await _ORIGINAL_RELOAD(self)


def send_newkeys(self: Any, k: bytes, h: bytes) -> None:
    """asyncssh's ``send_newkeys``, then forget the KEXINITs the finished exchange hashed.

    Only those: sending the new keys also sends what was queued during the
    exchange, and when that passes ``rekey_bytes`` the next exchange starts at
    once, inside the call, with a KEXINIT of its own that must be kept.
    """
    client, server = self._client_kexinit, self._server_kexinit
    _ORIGINAL_NEWKEYS(self, k, h)
    if self._client_kexinit is client:
        self._client_kexinit = b""
    if self._server_kexinit is server:
        self._server_kexinit = b""


def _compatible() -> bool:
    """Whether asyncssh still has what the patches rely on (2.24's internals)."""
    return all(
        hasattr(cls, name)
        for cls, name in (
            (SSHServerConnection, "reload_config"),
            (SSHConnection, "send_newkeys"),
            (SSHConnection, "get_hash_prefix"),
        )
    )


def install() -> None:
    """Put both patches in place (once; nothing if asyncssh changed shape)."""
    if not _compatible():
        return
    SSHServerConnection.reload_config = reload_config  # type: ignore[method-assign]
    SSHConnection.send_newkeys = send_newkeys  # type: ignore[method-assign]


def installed() -> bool:
    """Whether :func:`install` has put both patches in place."""
    return (
        SSHServerConnection.reload_config is reload_config  # type: ignore[comparison-overlap]
        and SSHConnection.send_newkeys is send_newkeys  # type: ignore[comparison-overlap]
    )
