"""Pastes are never silently cut; commands have a rate limit of their own.

A paste (several lines at once) is one message of several lines, up to
``[limits] max_paste_lines``, refused whole beyond that. Plain sessions keep
one message per line, paced to the rate limit instead of refused. Commands
that answer only their user count against their own, generous limit;
commands that speak to others count as messages; /quit is never limited.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from helpers.client import ChatClient, connect
from helpers.sinks import RecordingSink

from sshchat.app import RunningServer
from sshchat.commands.registry import Outcome, handle_line
from sshchat.core.events import ChatMessage, History, PrivateMessage
from sshchat.core.facts import MessageSaid, decode, encode
from sshchat.core.hub import Hub
from sshchat.core.prefs import Prefs
from sshchat.frontends.render import Renderer

PLAIN = Prefs(timestamps=False)
PASTE = [f"line {i}: some pasted text" for i in range(50)]


def make_hub(**kwargs) -> Hub:
    return Hub([("alice", True), ("bob", False)], default_channel="lobby", **kwargs)


def test_a_paste_is_one_message_of_several_lines() -> None:
    hub = make_hub()
    alice_sink, bob_sink = RecordingSink(), RecordingSink()
    alice = hub.connect("alice", alice_sink)
    hub.connect("bob", bob_sink)
    bob_sink.take()
    code = "def f():\n    return 1\n\n\treturn 2\n"
    assert handle_line(hub, alice, code) is Outcome.CONTINUE
    [message] = bob_sink.of(ChatMessage)
    # Indentation is kept (a tab is four spaces); blank lines inside stay, at the end go.
    assert message.text == "def f():\n    return 1\n\n    return 2"
    rendered = Renderer(color=False, own_login="bob", prefs=PLAIN).render(message, "lobby")
    assert rendered == ["<alice> def f():", "            return 1", "", "            return 2"]
    # In history like any message.
    hub.history(alice, 5)
    [history] = alice_sink.of(History)
    assert history.messages[-1].text == message.text


def test_a_multi_line_message_wraps_under_its_text_on_a_terminal() -> None:
    message = ChatMessage("lobby", "alice", "alice", "short\n" + "word " * 20, time=0)
    lines = Renderer(color=False, own_login="bob", prefs=PLAIN, width=40).render(message, "lobby")
    assert lines[0] == "<alice> short"
    assert len(lines) > 2
    assert all(line.startswith(" " * 8) and len(line) <= 40 for line in lines[1:])


def test_a_50_line_paste_is_sent_whole_despite_the_rate_limit() -> None:
    hub = make_hub(message_rate=1.0, message_burst=15)
    alice_sink, bob_sink = RecordingSink(), RecordingSink()
    alice = hub.connect("alice", alice_sink)
    hub.connect("bob", bob_sink)
    bob_sink.take()
    handle_line(hub, alice, "\n".join(PASTE) + "\n")
    [message] = bob_sink.of(ChatMessage)
    assert message.text.split("\n") == PASTE
    assert alice_sink.errors() == []
    # The paste used the burst: a flood of separate lines right after is stopped.
    for i in range(20):
        handle_line(hub, alice, f"flood {i}")
    assert [t for t in bob_sink.chats() if t.startswith("flood")] == []
    assert any("sending too fast" in t for t in alice_sink.errors())


def test_a_paste_over_the_cap_is_refused_whole_and_kept() -> None:
    hub = make_hub(max_paste_lines=50)
    alice_sink, bob_sink = RecordingSink(), RecordingSink()
    alice = hub.connect("alice", alice_sink)
    hub.connect("bob", bob_sink)
    bob_sink.take()
    outcome = handle_line(hub, alice, "\n".join([*PASTE, "one too many"]))
    assert outcome is Outcome.KEEP  # an editor gives it back
    assert bob_sink.of(ChatMessage) == []
    assert alice_sink.last_error() == (
        "your paste was not sent: a message may have at most 50 lines and this one has 51; "
        "send it in parts, or share a link to it."
    )


def test_a_paste_refused_by_the_rate_limit_says_when_to_retry() -> None:
    hub = make_hub(message_rate=1.0, message_burst=2)
    sink = RecordingSink()
    alice = hub.connect("alice", sink)
    handle_line(hub, alice, "one")
    handle_line(hub, alice, "two")
    assert handle_line(hub, alice, "a\nb\nc") is Outcome.KEEP
    assert re.fullmatch(
        r"your paste was not sent: you are sending lines too fast \(the limit is 2 at once, "
        r"then 1 per second\); try again in 1 second\.",
        sink.last_error(),
    )


def test_a_paste_starting_with_msg_is_one_private_message() -> None:
    hub = make_hub()
    alice_sink, bob_sink = RecordingSink(), RecordingSink()
    alice = hub.connect("alice", alice_sink)
    hub.connect("bob", bob_sink)
    bob_sink.take()
    handle_line(hub, alice, "/msg bob here is the log:\nerror 1\nerror 2")
    [pm] = bob_sink.of(PrivateMessage)
    assert pm.text == "here is the log:\nerror 1\nerror 2"
    assert bob_sink.of(ChatMessage) == []  # nothing of it leaked to the channel


def test_a_paste_of_commands_runs_each_line() -> None:
    hub = make_hub()
    sink = RecordingSink()
    alice = hub.connect("alice", sink)
    handle_line(hub, alice, "/create dev\n/topic work\nhello dev")
    assert alice.current.name == "dev"
    assert alice.current.topic == "work"
    assert [m.text for m in alice.current.history] == ["hello dev"]


def test_a_multi_line_fact_survives_encoding() -> None:
    fact = MessageSaid("id1", 1.5, "lobby", "alice", "alice", "a\n  b\n\nc", False)
    assert decode(encode(fact)) == fact


# -- commands have their own budget ---------------------------------------------------


def test_commands_that_answer_only_you_do_not_use_the_message_budget() -> None:
    hub = make_hub(message_rate=1.0, message_burst=2, command_rate=10.0, command_burst=30)
    alice_sink, bob_sink = RecordingSink(), RecordingSink()
    alice = hub.connect("alice", alice_sink)
    hub.connect("bob", bob_sink)
    for line in ("/who", "/whois bob", "/help", "/list", "/history", "/timestamps"):
        handle_line(hub, alice, line)
    assert alice_sink.errors() == []
    handle_line(hub, alice, "still")
    handle_line(hub, alice, "talking")
    assert bob_sink.chats()[-2:] == ["still", "talking"]


def test_commands_that_speak_count_as_messages_and_say_when_refused() -> None:
    hub = make_hub(message_rate=1.0, message_burst=1, command_rate=10.0, command_burst=30)
    sink = RecordingSink()
    alice = hub.connect("alice", sink)
    handle_line(hub, alice, "/me waves")
    for line in ("/me waves again", "/nick al", "/msg bob hi"):
        sink.take()
        handle_line(hub, alice, line)
        name = line.split()[0]
        assert sink.last_error().startswith(
            f"{name} was not run: you are sending lines too fast (the limit is 1 at once"
        ), line
    assert alice.account.nick == "alice"


def test_a_refused_command_always_says_so_and_quit_is_never_limited() -> None:
    hub = make_hub(message_rate=1.0, message_burst=15, command_rate=0.001, command_burst=3)
    sink = RecordingSink()
    alice = hub.connect("alice", sink)
    for _ in range(3):
        handle_line(hub, alice, "/who")
    for line in ("/whois nosuch", "/who", "/nosuch", "/whois"):
        sink.take()
        handle_line(hub, alice, line)
        [error] = sink.errors()
        assert "was not run: you are sending commands too fast" in error, line
    assert handle_line(hub, alice, "/quit") is Outcome.QUIT
    handle_line(hub, alice, "chat still works")
    assert "chat still works" in [m.text for m in alice.current.history]


# -- over SSH -------------------------------------------------------------------------


class TestOverSsh:
    @pytest.fixture
    def limits_toml(self) -> str:
        return ""  # the defaults: 15 lines at once, then 1 per second

    async def test_pty_paste_of_50_lines_arrives_whole(
        self, server: RunningServer, clients: list[ChatClient]
    ) -> None:
        alice = await connect(server, "alice")
        bob = await connect(server, "bob", pty=False)
        clients += [alice, bob]
        await alice.expect(r"-- bob connected")
        alice.send_raw("".join(line + "\r" for line in PASTE))
        expected = r"<alice> line 0: some pasted text\n"
        expected += "".join(rf" +line {i}: some pasted text\n" for i in range(1, 50))
        await bob.expect(expected)
        await alice.expect(r"line 49: some pasted text")
        assert "not sent" not in alice.text and "too fast" not in alice.text

    async def test_pty_paste_over_the_cap_is_refused_with_a_message(
        self, server: RunningServer, clients: list[ChatClient]
    ) -> None:
        alice = await connect(server, "alice")
        bob = await connect(server, "bob", pty=False)
        clients += [alice, bob]
        alice.send_raw("".join(f"row {i}\r" for i in range(60)))
        await alice.expect(r"your paste was not sent: a message may have at most 50 lines")
        alice.send("after the paste")
        await bob.expect(r"<alice> after the paste")
        assert "row " not in bob.text

    async def test_pty_paste_without_final_newline_waits_in_the_input_line(
        self, server: RunningServer, clients: list[ChatClient]
    ) -> None:
        alice = await connect(server, "alice")
        bob = await connect(server, "bob", pty=False)
        clients += [alice, bob]
        alice.send_raw("first half\rsecond half")
        await alice.expect(r"second half")  # echoed in the input line
        await bob.absent(r"first half")
        alice.send_raw("\r")
        await bob.expect(r"<alice> first half\n +second half\n")

    async def test_plain_session_paces_piped_lines_and_loses_none(
        self, server: RunningServer, clients: list[ChatClient]
    ) -> None:
        alice = await connect(server, "alice", pty=False)
        bob = await connect(server, "bob", pty=False)
        clients += [alice, bob]
        bucket = server.hub.accounts["alice"].bucket
        assert bucket is not None
        bucket.tokens = 0.0  # as if the burst had just been used: every line must wait
        alice.send_raw("".join(f"bot line {i}\n" for i in range(3)))
        await alice.expect(r"your lines are held and sent at that rate, none is lost")
        for i in range(3):
            await bob.expect(rf"<alice> bot line {i}\n", timeout=10)
        assert "not sent" not in alice.text

    async def test_commands_are_answered_when_sent_quickly(
        self, server: RunningServer, clients: list[ChatClient]
    ) -> None:
        alice = await connect(server, "alice", pty=False)
        clients.append(alice)
        for line in ("/whois nosuch", "/who", "/list") * 7:  # more than the message burst
            alice.send(line)
        for _ in range(7):
            await alice.expect(r"no user called 'nosuch'")
        assert "too fast" not in alice.text
        alice.send("/quit now")
        await alice.expect(r"usage: /quit")


async def test_plain_pacing_holds_lines_until_the_budget_refills() -> None:
    """The plain front end waits as long as the rate limit says, then sends in order."""
    from helpers.frontends import Recorder

    from sshchat.frontends.base import LineFrontEnd

    hub = make_hub(message_rate=20.0, message_burst=1)
    bob = RecordingSink()
    hub.connect("bob", bob)
    front = LineFrontEnd(hub, Recorder(), "alice")
    front.start()
    try:
        front.feed("".join(f"l{i}\n" for i in range(5)))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if len(bob.chats()) == 5:
                break
        assert bob.chats() == [f"l{i}" for i in range(5)]
    finally:
        front.connection_lost()
