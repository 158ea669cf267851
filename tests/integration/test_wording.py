"""What people read: taken nicks, plurals, durations, away, repeated /op and
/invite, goodbyes, the shutdown notice and /motd after a reload."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
from helpers.client import ChatClient, connect
from helpers.sinks import RecordingSink

from sshchat.app import RunningServer, start_server
from sshchat.commands.refusals import duration_text, notice_text, refusal_text, until_text
from sshchat.commands.registry import handle_line
from sshchat.config.schema import Config
from sshchat.core import refusals as r
from sshchat.core.events import History, LinesNotSent, MutedBy
from sshchat.core.hub import Hub
from sshchat.core.prefs import Prefs
from sshchat.frontends.render import Renderer


class Room:
    def __init__(self) -> None:
        self.hub = Hub([("alice", True), ("bob", False), ("carol", False)], default_channel="lobby")
        self.sinks: dict[str, RecordingSink] = {}
        self.clients = {}
        for login in ("alice", "bob", "carol"):
            self.sinks[login] = RecordingSink()
            self.clients[login] = self.hub.connect(login, self.sinks[login])

    def do(self, login: str, line: str) -> RecordingSink:
        sink = self.sinks[login]
        sink.take()
        handle_line(self.hub, self.clients[login], line)
        return sink


@pytest.fixture
def room() -> Room:
    return Room()


def test_an_exact_nick_is_taken_a_look_alike_looks_too_much_like(room: Room) -> None:
    assert room.do("bob", "/nick alice").last_error() == "'alice' is taken; choose another nick"
    assert room.do("bob", "/nick Alice").last_error() == (
        "'Alice' is taken by alice; choose another nick"
    )
    assert room.do("bob", "/nick a1ice").last_error() == (
        "'a1ice' looks too much like 'alice', someone else's name; choose another nick"
    )


def test_singular_and_plural() -> None:
    assert "already has 1 private message waiting" in refusal_text(r.PendingFull("bob", 1))
    assert "already has 2 private messages waiting" in refusal_text(r.PendingFull("bob", 2))
    assert notice_text(LinesNotSent(1))[0].startswith("1 line was not sent")
    assert notice_text(LinesNotSent(3))[0].startswith("3 lines were not sent")
    renderer = Renderer(color=False, own_login="bob", prefs=Prefs(timestamps=False))
    room = Room()
    handle_line(room.hub, room.clients["alice"], "only one line")
    room.sinks["bob"].take()
    room.hub.history(room.clients["bob"], 50)
    [history] = room.sinks["bob"].of(History)
    assert renderer.render(history, "lobby")[0] == "--- history: the last line of #lobby ---"
    room.do("alice", "/create solo")
    listing = room.do("alice", "/list").last_info()
    assert "#solo *  1/1 member" in listing and "1 members" not in listing


def test_durations_read_naturally() -> None:
    assert duration_text(1) == "1 second"
    assert duration_text(59.2) == "1 minute"
    assert duration_text(45) == "45 seconds"
    assert duration_text(60) == "1 minute"
    assert duration_text(61) == "2 minutes"
    assert duration_text(7200) == "2 hours"
    assert duration_text(3600 + 25 * 60) == "1 hour 25 minutes"
    now = time.time()
    assert until_text(now + 60, since=now) == "for 1 minute"
    assert until_text(now + 59.4) == "for another 1 minute"
    assert until_text(now + 30.2) == "for another 31 seconds"


def test_a_fresh_mute_says_its_length(room: Room) -> None:
    assert room.do("alice", "/mute bob 1m").last_info() == "Muted bob for 1 minute."
    [muted] = [e for e in room.sinks["bob"].typed if isinstance(e, MutedBy)]
    assert notice_text(muted)[0] == "You were muted by alice for 1 minute."
    error = room.do("bob", "hello").last_error()
    assert error.startswith("you are muted for another ") and "1m" not in error


def test_away_without_a_reason(room: Room) -> None:
    assert room.do("bob", "/away").last_info() == "You are marked away. Type /back when you return."
    assert room.do("alice", "/msg bob hi").last_info() == "bob is away."
    assert "bob (away)," in room.do("alice", "/who").last_info()
    room.do("bob", "/away lunch")
    assert room.do("alice", "/msg bob hi").last_info() == "bob is away: lunch"


def test_repeating_op_or_invite_says_it_is_already_done(room: Room) -> None:
    room.do("alice", "/create dev private")
    assert room.do("alice", "/op bob").errors() == []
    assert room.do("alice", "/op bob").last_error() == "bob is already an op of #alice/dev"
    assert room.do("alice", "/invite carol").last_info() == "Invited carol to #alice/dev."
    assert (
        room.do("alice", "/invite carol").last_error() == "carol is already invited to #alice/dev"
    )


# -- over SSH -------------------------------------------------------------------------


@pytest.mark.parametrize("pty", [True, False], ids=["pty", "plain"])
async def test_ctrl_d_says_goodbye_like_quit(
    server: RunningServer, clients: list[ChatClient], pty: bool
) -> None:
    alice = await connect(server, "alice", pty=pty)
    clients.append(alice)
    if pty:
        alice.send_raw("\x04")  # Ctrl-D on an empty line
    else:
        alice.process.stdin.write_eof()
    await alice.expect(r"Bye!")
    await asyncio.wait_for(alice.process.wait_closed(), 5)


async def test_shutdown_notice_comes_first_and_nothing_follows(config: Config) -> None:
    running = await start_server(config)
    users = [
        await connect(running, "alice"),
        await connect(running, "bob", pty=False),
        await connect(running, "carol", pty=False),
        await connect(running, "dave"),
    ]
    try:
        for user in users[:-1]:
            await user.expect(r"dave connected")
        await running.close(notice="The server is shutting down. Bye for now!", grace=5)
        for user in users:
            await user.expect(r"The server is shutting down")
            await asyncio.wait_for(user.process.wait_closed(), 5)
            after = user.text.split("The server is shutting down", 1)[1]
            assert "disconnected" not in after, after
    finally:
        for user in users:
            await user.close()


async def test_motd_shows_the_current_welcome_after_a_reload(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await connect(server, "alice", pty=False)
    clients.append(alice)
    config = server.state.config
    server.apply_config(dataclasses.replace(config, motd="New rules: be brief."), "manual")
    alice.send("/motd")
    await alice.expect(r"New rules: be brief\.")
    newcomer = await connect(server, "bob", pty=False)
    clients.append(newcomer)
    assert "New rules: be brief." in newcomer.text
