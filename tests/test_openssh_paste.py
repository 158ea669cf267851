"""A paste through the real OpenSSH client arrives whole, as one message."""

from __future__ import annotations

import pexpect
from test_openssh import (  # noqa: F401 - fixtures
    SGR,
    ServerProcess,
    key_file,
    spawn_password_user,
    sshchat_server,
)


def test_paste_of_30_lines_arrives_whole_with_real_ssh(sshchat_server: ServerProcess) -> None:
    """The server runs with the default limits: 15 lines at once, then 1 per second."""
    alice = spawn_password_user(sshchat_server.port, "alice")
    bob = spawn_password_user(sshchat_server.port, "bob")
    try:
        alice.expect("bob")  # "bob connected"
        # One write to the terminal, as a terminal emulator delivers a paste.
        alice.send("".join(f"pasted row {i:02d}\r" for i in range(30)))
        bob.expect("<.*alice.*> " + SGR + "pasted row 00")
        for i in range(1, 30):
            bob.expect(rf"\r\n +pasted row {i:02d}")
        alice.sendline("/quit")
        alice.expect("Bye!")
        alice.expect(pexpect.EOF)
    finally:
        alice.close(force=True)
        bob.close(force=True)
