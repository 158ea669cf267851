"""The pty line editor: Tab completion, history, Ctrl-R search and Emacs keys.

Keys are sent raw over a real SSH session with a pty; the assertions are on
what another user receives, so they check what was really sent, not what the
screen happened to show.
"""

from __future__ import annotations

import asyncio
import re

from helpers.client import ChatClient, login

from sshchat.app import RunningServer
from sshchat.commands.completion import candidates, common_prefix, format_candidates
from sshchat.core.hub import Hub

UP = "\x1b[A"
DOWN = "\x1b[B"
CTRL_A = "\x01"
CTRL_E = "\x05"
CTRL_K = "\x0b"
CTRL_R = "\x12"
CTRL_U = "\x15"
CTRL_W = "\x17"
CTRL_Y = "\x19"
ALT_B = "\x1bb"
ALT_F = "\x1bf"


async def pair(server: RunningServer, clients: list[ChatClient]) -> tuple[ChatClient, ChatClient]:
    """alice types on a pty; bob (plain line mode) reads what she really sent."""
    alice = await login(server, clients, "alice")
    bob = await login(server, clients, "bob", pty=False)
    await alice.expect(r"-- bob connected")
    return alice, bob


async def keys(client: ChatClient, *chunks: str) -> None:
    """Send ``chunks`` as separate reads, letting the editor handle each."""
    for chunk in chunks:
        client.send_raw(chunk)
        await asyncio.sleep(0.05)


# -- completion rules, without SSH ----------------------------------------------


def _hub() -> tuple[Hub, object]:
    class Sink:
        def deliver(self, event) -> None:
            pass

        def close(self, reason: str) -> None:
            pass

    hub = Hub([("alice", True), ("alex", False), ("bob", False), ("carol", False)])
    me = hub.connect("bob", Sink())
    for name in ("alice", "alex"):
        hub.connect(name, Sink())
    return hub, me


def test_candidates_for_commands_arguments_and_messages() -> None:
    hub, bob = _hub()
    hub.create_channel(bob, "dev")
    assert candidates(hub, bob, "/jo") == ("/jo", ["/join"])
    # Admin-only commands complete for admins only (bob is not one).
    assert candidates(hub, bob, "/")[1][:3] == ["/away", "/back", "/bell"]
    alice = hub.accounts["alice"].clients[0]
    assert candidates(hub, alice, "/")[1][:3] == ["/away", "/back", "/ban"]
    assert candidates(hub, bob, "/JO") == ("/JO", ["/join"])
    assert candidates(hub, bob, "/join d") == ("d", ["dev"])
    assert candidates(hub, bob, "/join #l") == ("#l", ["#lobby"])
    # NICK and USER arguments: every account, online or not, including me.
    assert candidates(hub, bob, "/msg c") == ("c", ["carol"])
    assert candidates(hub, bob, "/whois B") == ("B", ["bob"])
    assert candidates(hub, bob, "/ban al") == ("al", ["alex", "alice"])
    # Free text of a command is like a message; other arguments complete nothing.
    assert candidates(hub, bob, "/msg carol hi al") == ("al", ["alex", "alice"])
    assert candidates(hub, bob, "/create d") == ("d", [])
    assert candidates(hub, bob, "/nick al") == ("al", [])
    assert candidates(hub, bob, "/bell m") == ("m", ["mentions"])
    assert candidates(hub, bob, "/help jo") == ("jo", ["join"])
    assert candidates(hub, bob, "/help /jo") == ("/jo", ["/join"])
    assert candidates(hub, bob, "/frobnicate a") == ("a", [])
    # In a message: online users other than me, channels after "#", "@nick".
    assert candidates(hub, bob, "hello al") == ("al", ["alex", "alice"])
    assert candidates(hub, bob, "hello c") == ("c", [])  # carol is offline
    assert candidates(hub, bob, "hello b") == ("b", [])  # that is me
    assert candidates(hub, bob, "see #d") == ("#d", ["#dev"])
    assert candidates(hub, bob, "hi @ali") == ("ali", ["alice"])
    assert candidates(hub, bob, "//jo") == ("//jo", [])
    assert candidates(hub, bob, "") == ("", [])
    assert candidates(hub, bob, "hello ") == ("", [])


def test_candidates_follow_nick_changes_and_hidden_channels() -> None:
    hub, bob = _hub()
    alice = hub.accounts["alice"].clients[0]
    hub.set_nick(alice, "Ally")
    hub.create_channel(alice, "secret", private=True)
    assert candidates(hub, bob, "hi al") == ("al", ["alex", "Ally"])
    # An argument naming a user also takes the login name.
    assert candidates(hub, bob, "/whois ali") == ("ali", ["alice"])
    assert candidates(hub, bob, "/join s") == ("s", [])


def test_common_prefix_and_listing() -> None:
    assert common_prefix(["alex", "alice"]) == "al"
    assert common_prefix(["Ally", "alex"]) == "Al"
    assert common_prefix(["join"]) == "join"
    assert common_prefix([]) == ""
    assert format_candidates(["a", "b"]) == "a  b"
    assert format_candidates([str(i) for i in range(5)], limit=2) == "0  1\n... and 3 more"


# -- completion over SSH ----------------------------------------------------------


async def test_tab_completes_command_and_channel(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice, _bob = await pair(server, clients)
    alice.send("/create dev")
    await alice.expect_screen(r"^#dev alice>")
    await keys(alice, "/jo\t", " lob\t", "\r")
    await alice.expect(r"Now talking in #lobby\.")
    await keys(alice, "/join #d\t\r")
    await alice.expect(r"Now talking in #dev\.")


async def test_tab_completes_nick_in_message(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice, bob = await pair(server, clients)
    await keys(alice, "hello b\t", "and welcome\r")
    await bob.expect(r"<alice> hello bob and welcome\n")
    await keys(alice, "/msg b\t", "psst\r")
    await bob.expect(r"\[PM from alice\] psst")
    # In the middle of a line: the word before the cursor completes.
    await keys(alice, "hi  there", "\x1b[D" * 6, "b\t", "\r")
    await bob.expect(r"<alice> hi bob there\n")


async def test_bob_completes_alice(server: RunningServer, clients: list[ChatClient]) -> None:
    alice = await login(server, clients, "alice", pty=False)
    bob = await login(server, clients, "bob")
    await keys(bob, "hello al\t\r")
    await alice.expect(r"<bob> hello alice\n")


async def test_ambiguous_tab_extends_common_prefix_then_lists(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice, _bob = await pair(server, clients)
    # /u... is /unban, /unignore, /unmute, /users: Tab adds nothing, so lists them.
    await keys(alice, "/u\t")
    await alice.expect(r"/unban +/unignore +/unmute +/users")
    # /unm is unique: completed, then sent.
    await keys(alice, "nm\t", "bob\r")
    await alice.expect(r"error: bob is not muted")
    # /wh: /who and /whois share "/who", which is inserted.
    await keys(alice, CTRL_U, "/wh\t", "is bob\r")
    await alice.expect(r"bob:\n  login: bob")


async def test_tab_with_nothing_to_complete_changes_nothing(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice, bob = await pair(server, clients)
    await keys(alice, "zz\t", "top\r")
    await bob.expect(r"<alice> zztop\n")


# -- history, search and editing keys ------------------------------------------------


async def test_up_recalls_earlier_lines_and_down_comes_back(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice, bob = await pair(server, clients)
    for line in ("first line", "second line"):
        alice.send(line)
        await bob.expect(rf"<alice> {line}\n")
    await keys(alice, UP, "\r")
    await bob.expect(r"<alice> second line\n")
    await keys(alice, UP, UP, UP, " again\r")
    await bob.expect(r"<alice> first line again\n")
    # Down past the newest line gives back what was being typed.
    await keys(alice, "draft", UP, DOWN, "\r")
    await bob.expect(r"<alice> draft\n")


async def test_history_is_per_session(server: RunningServer, clients: list[ChatClient]) -> None:
    alice, bob = await pair(server, clients)
    alice.send("only in the first session")
    await bob.expect(r"only in the first session\n")
    second = await login(server, clients, "alice")
    await keys(second, UP, "x\r")
    await bob.expect(r"<alice> x\n")


async def test_ctrl_r_finds_an_earlier_line(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice, bob = await pair(server, clients)
    for line in ("apples are red", "bananas are yellow", "cherries are red too"):
        alice.send(line)
        await bob.expect(rf"<alice> {line}\n")
    await keys(alice, CTRL_R, "APPLE")
    await alice.expect(r"reverse-i-search:")
    await keys(alice, "\r")
    await bob.expect(r"<alice> apples are red\n")
    # Ctrl-R again goes further back; Ctrl-C abandons the search and the line.
    await keys(alice, CTRL_R, "are", CTRL_R, CTRL_R, "\x03", "fresh\r")
    await bob.expect(r"<alice> fresh\n")
    await keys(alice, CTRL_R, "red", CTRL_R, "\r")
    await bob.expect(r"<alice> cherries are red too\n")  # the second match back
    await keys(alice, CTRL_R, "ban", "\x1b", CTRL_E, "!\r")
    await bob.expect(r"<alice> bananas are yellow!\n")


async def test_emacs_editing_keys(server: RunningServer, clients: list[ChatClient]) -> None:
    alice, bob = await pair(server, clients)
    await keys(alice, "world", CTRL_A, "hello ", CTRL_E, "!\r")
    await bob.expect(r"<alice> hello world!\n")
    await keys(alice, "keep this drop that", ALT_B, ALT_B, CTRL_K, "\r")
    await bob.expect(r"<alice> keep this\n")
    await keys(alice, "garbage", CTRL_U, "clean\r")
    await bob.expect(r"<alice> clean\n")
    await keys(alice, "cut", CTRL_U, "paste ", CTRL_Y, "\r")  # Ctrl-Y pastes what was cut
    await bob.expect(r"<alice> paste cut\n")
    # Ctrl-U cuts from the cursor to the start of the line, as in bash; the rest stays.
    await keys(alice, "drop this keep", ALT_B, CTRL_U, "\r")
    await bob.expect(r"<alice> keep\n")
    await keys(alice, "one two three", CTRL_W, CTRL_W, "2\r")
    await bob.expect(r"<alice> one 2\n")
    await keys(alice, "alpha gamma", CTRL_A, ALT_F, " beta", "\r")
    await bob.expect(r"<alice> alpha beta gamma\n")


async def test_wrapped_line_survives_resizes(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice, bob = await pair(server, clients)
    first = "a line long enough to wrap on a narrow terminal, " * 2
    await keys(alice, first)
    alice.resize(30, 10)
    alice.resize(25, 10)  # a burst: one re-layout
    await asyncio.sleep(0.2)
    bob.send("meanwhile")  # printed above the prompt at the new width
    await alice.expect(r"<bob> meanwhile")
    await keys(alice, "then more")
    alice.resize(120, 30)
    await asyncio.sleep(0.2)
    await keys(alice, " and the end", UP, DOWN, "\r")
    await bob.expect(re.escape(f"<alice> {first}then more and the end") + r"\n")
