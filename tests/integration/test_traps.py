"""Regression tests for the asyncssh + prompt_toolkit pitfalls in shared/stack-notes.md.

Each test names the pitfall it guards against.
"""

from __future__ import annotations

import os
import re

import asyncssh
import pytest
from helpers.client import connect


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
async def test_sessions_use_no_pipes_or_extra_descriptors(server, clients) -> None:
    """Pitfall 5: a select()-based pipe input per session caps the server near 340 users.

    Sessions are fed from the channel, so a session costs the server its socket
    and nothing more (the client side adds one socket per connection too).
    """
    await connect(server, "alice")  # warm up lazily created resources
    before = open_fds()
    for _ in range(10):
        clients.append(await connect(server, "bob"))
    grown = open_fds() - before
    # 10 client sockets + 10 server sockets in this process; pipes would add 20 more.
    assert grown <= 22, grown


async def test_sender_sees_own_line_once_and_others_too(server, clients) -> None:
    """Pitfalls 6 and 9: prints landing on the sender's screen; accepted lines echoed twice."""
    alice = await connect(server, "alice")
    bob = await connect(server, "bob")
    clients += [alice, bob]
    await alice.expect("bob connected")
    alice.send("exactly-once-marker")
    await bob.expect("<alice> exactly-once-marker")
    await alice.expect("<alice> exactly-once-marker")
    bob.send("second-marker")
    await alice.expect("<bob> second-marker")
    await bob.expect("<bob> second-marker")
    assert alice.text.count("exactly-once-marker") == 1
    assert bob.text.count("exactly-once-marker") == 1
    assert bob.text.count("second-marker") == 1
    assert alice.text.count("second-marker") == 1


async def test_no_cursor_position_requests(server, clients) -> None:
    """Pitfall 8: CPR requests stall clients that never answer them."""
    alice = await connect(server, "alice")
    clients.append(alice)
    alice.send("/who")
    await alice.expect("In #lobby")
    assert "\x1b[6n" not in alice.output


async def test_no_bracketed_paste_mode(server, clients) -> None:
    """Pitfall 4: pastes must arrive as lines the server can pace, not one huge key event."""
    alice = await connect(server, "alice")
    clients.append(alice)
    alice.send("/who")
    await alice.expect("In #lobby")
    assert "\x1b[?2004h" not in alice.output


async def test_unknown_users_are_not_let_in(server) -> None:
    """Pitfall 1: prompt_toolkit's stock SSH server accepts everyone."""
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect(
            "127.0.0.1",
            server.port,
            username="nobody",
            password="x",
            known_hosts=None,
            client_keys=None,
        )


async def test_bracketed_paste_marker_from_client_is_ignored(server, clients) -> None:
    """A hostile client sending the paste start marker must not make the parser hoard input."""
    alice = await connect(server, "alice")
    bob = await connect(server, "bob")
    clients += [alice, bob]
    alice.send_raw("\x1b[200~pasted line\r")
    await bob.expect("<alice> pasted line")
    assert not re.search(r"200~", bob.text)
