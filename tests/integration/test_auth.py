"""End-to-end authentication: real server, real asyncssh clients."""

from __future__ import annotations

import asyncssh
import pytest
from helpers.client import ChatClient, connect

from sshchat.app import RunningServer


async def test_password_login(server: RunningServer, clients: list[ChatClient]) -> None:
    alice = await connect(server, "alice")
    clients.append(alice)
    assert "Welcome to testchat!" in alice.text
    assert "Be excellent to each other." in alice.text
    alice.send("/whois alice")
    await alice.expect(r"login: alice \(admin\)")
    await alice.expect(r"status: online")
    # Logged in with a password: no key is shown.
    await alice.absent(r"key: ")


async def test_key_login_shows_fingerprint(
    server: RunningServer, clients: list[ChatClient], client_key: asyncssh.SSHKey
) -> None:
    carol = await connect(server, "carol", key=client_key)
    clients.append(carol)
    bob = await connect(server, "bob")
    clients.append(bob)
    bob.send("/whois carol")
    match = await bob.expect(r"key: (SHA256:[A-Za-z0-9+/]+)")
    assert match.group(1) == client_key.get_fingerprint("sha256")


async def _refused(server: RunningServer, user: str, **kwargs: object) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        client = await connect(server, user, **kwargs)  # type: ignore[arg-type]
        await client.close()  # pragma: no cover - only reached if login wrongly succeeds


async def test_refusals_then_server_still_serves(
    server: RunningServer, clients: list[ChatClient], client_key: asyncssh.SSHKey
) -> None:
    # Wrong password for a real user.
    await _refused(server, "alice", password="not-alice-pw")
    # Unknown user: refused the same way, whatever the password.
    await _refused(server, "mallory", password="alice-pw")
    # A valid key that is not configured for the user (carol's key for bob).
    await _refused(server, "bob", key=client_key)
    # A key configured for nobody, offered for carol.
    await _refused(server, "carol", key=asyncssh.generate_private_key("ssh-ed25519"))
    # Empty password.
    await _refused(server, "bob", password="")

    assert not server.hub.accounts["alice"].online
    assert not server.hub.accounts["bob"].online

    # The server keeps serving after the refusals.
    alice = await connect(server, "alice")
    clients.append(alice)
    carol = await connect(server, "carol", key=client_key)
    clients.append(carol)
    alice.send("hello after refusals")
    await carol.expect(r"<alice> hello after refusals")


async def test_login_sets_up_no_gssapi(
    server: RunningServer, clients: list[ChatClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    # asyncssh rebuilds its options at every login; with its default gss_host
    # that looked up the host's FQDN and built a GSS server (failing without
    # Kerberos) for each connection: wasted work a guessing wave multiplies.
    import asyncssh.connection

    calls: list[object] = []

    def no_gss(*args: object) -> None:
        calls.append(args)
        raise asyncssh.connection.GSSError(0, 0)

    monkeypatch.setattr(asyncssh.connection, "GSSServer", no_gss)
    client = await connect(server, "alice")
    clients.append(client)
    assert calls == []
