"""The asyncssh patches that keep less per connection (sshchat.ssh.connpatches)."""

from __future__ import annotations

from types import SimpleNamespace

from asyncssh.connection import SSHConnection, SSHServerConnection

from sshchat.ssh import connpatches
from sshchat.ssh.algorithms import algorithm_options


def _conn(*, loaded: bool, rdns: bool) -> SimpleNamespace:
    return SimpleNamespace(
        _options=SimpleNamespace(config=SimpleNamespace(loaded=loaded)), _rdns_lookup=rdns
    )


async def _reloads(monkeypatch, conn: SimpleNamespace) -> list[object]:
    calls: list[object] = []

    async def original(self: object) -> None:
        calls.append(self)

    monkeypatch.setattr(connpatches, "_ORIGINAL_RELOAD", original)
    await connpatches.reload_config(conn)
    return calls


async def test_config_is_not_rebuilt_when_no_file_could_match(monkeypatch) -> None:
    assert await _reloads(monkeypatch, _conn(loaded=False, rdns=False)) == []


async def test_config_is_rebuilt_when_a_file_was_loaded_or_the_address_is_looked_up(
    monkeypatch,
) -> None:
    loaded = _conn(loaded=True, rdns=False)
    assert await _reloads(monkeypatch, loaded) == [loaded]
    looked_up = _conn(loaded=False, rdns=True)
    assert await _reloads(monkeypatch, looked_up) == [looked_up]


def test_kexinits_are_forgotten_once_the_new_keys_are_sent(monkeypatch) -> None:
    seen: list[bytes] = []

    def original(self: SimpleNamespace, k: bytes, h: bytes) -> None:
        # the exchange hash has been taken before this: the KEXINITs are still there
        seen.append(self._client_kexinit + self._server_kexinit)

    monkeypatch.setattr(connpatches, "_ORIGINAL_NEWKEYS", original)
    conn = SimpleNamespace(_client_kexinit=b"client", _server_kexinit=b"server")
    connpatches.send_newkeys(conn, b"k", b"h")
    assert seen == [b"clientserver"]
    assert conn._client_kexinit == b"" and conn._server_kexinit == b""


def test_listener_options_install_both_patches_once() -> None:
    algorithm_options()
    algorithm_options()
    assert connpatches.installed()
    assert SSHServerConnection.reload_config is connpatches.reload_config
    assert SSHConnection.send_newkeys is connpatches.send_newkeys
    assert connpatches._ORIGINAL_NEWKEYS is not connpatches.send_newkeys


def test_a_kexinit_sent_while_sending_the_new_keys_is_kept(monkeypatch) -> None:
    """The next re-key can start inside send_newkeys (rekey_bytes passed): keep its KEXINIT."""

    def original(self: SimpleNamespace, k: bytes, h: bytes) -> None:
        self._client_kexinit = b"the next exchange's"

    monkeypatch.setattr(connpatches, "_ORIGINAL_NEWKEYS", original)
    conn = SimpleNamespace(_client_kexinit=b"client", _server_kexinit=b"server")
    connpatches.send_newkeys(conn, b"k", b"h")
    assert conn._client_kexinit == b"the next exchange's"
    assert conn._server_kexinit == b""
