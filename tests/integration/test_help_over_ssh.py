"""/help, aliases, /clear and Tab listings over real SSH sessions, on narrow terminals."""

from __future__ import annotations

import asyncio
import re

from helpers.client import ChatClient, connect

from sshchat.app import RunningServer

FOOTER = r"Ctrl-D or /quit leaves\.\n"


def help_block(client: ChatClient) -> list[str]:
    """The lines of the last /help listing the client received."""
    text = client.text
    start = text.rindex("Commands by topic.")
    end = re.search(FOOTER, text[start:])
    assert end is not None
    return text[start : start + end.end()].splitlines()


async def test_help_fits_a_narrow_terminal(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    bob = await connect(server, "bob", term_size=(40, 24))
    clients.append(bob)
    bob.send("/help")
    await bob.expect(r"Commands by topic\.(.|\n)*" + FOOTER)
    lines = help_block(bob)
    assert all(len(line) <= 40 for line in lines), [ln for ln in lines if len(ln) > 40]
    words = " ".join(lines).split()
    for name in ("/timestamps", "/unignore", "/history", "/msg", "/kick"):
        assert name in words  # whole, never split over two lines
    assert "/ban" not in words  # bob is no admin
    # The window grows: the next /help uses the new width, two commands a line.
    bob.process.change_terminal_size(100, 30)
    await asyncio.sleep(0.2)
    bob.send("/help")
    await bob.expect(r"Commands by topic\.(.|\n)*" + FOOTER)
    wide = help_block(bob)
    assert len(wide) < len(lines) and any(len(line) > 60 for line in wide)


async def test_plain_line_mode_help_is_80_wide(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    dave = await connect(server, "dave", pty=False)
    clients.append(dave)
    dave.send("/help")
    await dave.expect(r"Commands by topic\.(.|\n)*" + FOOTER)
    lines = help_block(dave)
    assert max(len(line) for line in lines) <= 80
    assert len(lines) <= 24


async def test_aliases_over_ssh(server: RunningServer, clients: list[ChatClient]) -> None:
    alice = await connect(server, "alice")
    bob = await connect(server, "bob", pty=False)
    clients += [alice, bob]
    await alice.expect(r"-- bob connected")
    alice.send("/create dev")
    await alice.expect(r"Created channel #dev")
    bob.send("/j dev")
    await bob.expect(r"Now talking in #dev\.")
    alice.send("/names")
    await alice.expect(r"In #dev: alice \[owner\] \[admin\], bob\n")
    alice.send("/w bob psst")
    await bob.expect(r"\[PM from alice\] psst")
    alice.send("/help part")
    await alice.expect(r"usage: /leave\n(.|\n)*aliases: /part")
    bob.send("/exit")
    await bob.expect(r"Bye!")
    await asyncio.wait_for(bob.process.wait_closed(), 5.0)


async def test_clear_and_motd_and_refusals_on_a_pty(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await connect(server, "alice")
    clients.append(alice)
    alice.send("/motd")
    await alice.expect(r"Welcome to testchat!\nBe excellent to each other\.\nType /help")
    alice.send("/whois nosuch")
    await alice.expect(r"error: no user called 'nosuch'")
    alice.send("/quit now")
    await alice.expect(r"error: usage: /quit — /quit takes nothing after it")
    before = len(alice.output)
    alice.send("/clear")
    # The screen is erased and the prompt drawn again at the top.
    deadline = asyncio.get_running_loop().time() + 5.0
    while not re.search(r"\x1b\[2J(.|\n)*#lobby", alice.output[before:]):
        assert asyncio.get_running_loop().time() < deadline, repr(alice.output[before:])
        await asyncio.sleep(0.01)
    alice.send("still here")
    await alice.expect(r"<alice> still here")


async def test_clear_in_plain_line_mode_says_so(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    dave = await connect(server, "dave", pty=False)
    clients.append(dave)
    dave.send("/clear")
    await dave.expect(r"nothing to clear: this session has no terminal")
    assert "\x1b" not in dave.output


async def test_tab_listing_keeps_names_whole_on_a_narrow_terminal(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await connect(server, "alice", term_size=(30, 24))
    clients.append(alice)
    alice.send_raw("/u\t")
    await alice.expect(r"/unban +/unmute\n/unignore +/users\n")
