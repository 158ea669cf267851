"""Moderation and per-user preferences: the hub and commands, then over real SSH.

Every privileged command is refused to users without the right, with a message
saying who may use it; the allowed paths do what the README says; preferences
(/ignore, /reply, /quiet, /timestamps, /color, /bell) change only what the user
who set them sees; moderation acts are logged with their actor.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

import asyncssh
import pytest
from helpers.accounts import PASSWORDS
from helpers.client import ChatClient, ended, login
from helpers.hubs import Chat

from sshchat.app import RunningServer
from sshchat.commands.refusals import refusal_text
from sshchat.core.events import ChatMessage, Notice, Presence, PresenceKind, PrivateMessage
from sshchat.core.hub import Client, HubError

SGR = r"(?:\x1b\[[0-9;]*m)*"  # colour codes that may sit between pieces of a line
COLOR_SGR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-7]|9[0-7]|38;[0-9;]+)m")


# -- unit: hub + handle_line ---------------------------------------------------------


class Room:
    """alice (admin) owns nothing; bob owns #dev with carol as op; dave is a member."""

    def __init__(self) -> None:
        self.chat = Chat()
        self.alice = self.chat.connect("alice")
        self.bob = self.chat.connect("bob")
        self.carol = self.chat.connect("carol")
        self.dave = self.chat.connect("dave")
        self.do(self.bob, "/create dev")
        for client in (self.alice, self.carol, self.dave):
            self.do(client, "/join dev")
        self.do(self.bob, "/op carol")
        self.chat.clear()

    def do(self, client: Client, line: str):  # type: ignore[no-untyped-def]
        sink = self.chat.do(client, line)
        return sink

    @property
    def dev(self):  # type: ignore[no-untyped-def]
        return self.chat.hub.channels["dev"]

    def others_got_nothing(self, client: Client) -> None:
        for other in (self.alice, self.bob, self.carol, self.dave):
            if other is not client:
                assert self.chat.sink(other).events == [], other.account.login


@pytest.fixture
def room() -> Room:
    return Room()


# (line typed by dave, a plain member of #dev; what the refusal must say)
REFUSALS = [
    ("/topic new topic", "only the owner, ops and admins can set the topic of #dev"),
    ("/topic -", "only the owner, ops and admins can set the topic of #dev"),
    ("/op dave", "only the owner of #dev (or an admin) can change its ops"),
    ("/deop carol", "only the owner of #dev (or an admin) can change its ops"),
    ("/kick carol", "only the owner, ops and admins can kick from #dev"),
    ("/kick carol bye", "only the owner, ops and admins can kick from #dev"),
    ("/ban carol", "/ban is for admins only"),
    ("/ban carol 1d spam", "/ban is for admins only"),
    ("/unban carol", "/unban is for admins only"),
    ("/mute carol", "/mute is for admins only"),
    ("/mute carol 10m", "/mute is for admins only"),
    ("/unmute carol", "/unmute is for admins only"),
    ("/broadcast hello all", "/broadcast is for admins only"),
]


@pytest.mark.parametrize(("line", "refusal"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_privileged_commands_refused_without_the_right(room: Room, line: str, refusal: str) -> None:
    room.dev.topic = "old"
    sink = room.do(room.dave, line)
    assert refusal in sink.last_error()
    assert sink.infos() == []
    room.others_got_nothing(room.dave)
    assert room.dev.topic == "old"
    assert room.dev.ops == {"carol"}
    assert set(room.dev.members) == {"alice", "bob", "carol", "dave"}
    carol = room.chat.hub.accounts["carol"]
    assert carol.banned_until is None and carol.muted_until is None
    assert carol.clients


def test_op_may_moderate_the_channel_but_not_give_ops_or_ban(room: Room) -> None:
    # carol is an op of #dev: topic and kick yes; ops and server-wide acts no.
    assert room.do(room.carol, "/topic carol's topic").errors() == []
    assert room.dev.topic == "carol's topic"
    assert room.do(room.carol, "/kick dave").errors() == []
    assert "dave" not in room.dev.members
    assert "only the owner of #dev (or an admin)" in room.do(room.carol, "/op dave").last_error()
    assert "/ban is for admins only" in room.do(room.carol, "/ban dave").last_error()
    assert "/broadcast is for admins only" in room.do(room.carol, "/broadcast x").last_error()
    # An op cannot kick the owner; an admin can.
    error = room.do(room.carol, "/kick bob").last_error()
    assert "bob owns #dev and cannot be kicked" in error
    assert room.do(room.alice, "/kick bob").errors() == []


def test_owner_is_not_an_admin(room: Room) -> None:
    for line in ("/ban dave", "/mute dave", "/unban dave", "/unmute dave", "/broadcast x"):
        assert "is for admins only" in room.do(room.bob, line).last_error()


def test_hub_refuses_privileged_acts_itself() -> None:
    """The hub checks rights too, for front ends that do not go through the commands."""
    chat = Chat()
    bob = chat.connect("bob")
    chat.connect("carol")
    hub = chat.hub
    for act, args in (
        (hub.ban, ("carol", None, "")),
        (hub.unban, ("carol",)),
        (hub.mute, ("carol", None)),
        (hub.unmute, ("carol",)),
        (hub.broadcast, ("hello",)),
    ):
        with pytest.raises(HubError) as refused:
            act(bob, *args)
        assert re.search("is for admins only", refusal_text(refused.value))


def test_topic_is_announced_and_shown_on_join(room: Room) -> None:
    room.do(room.bob, "/topic release on Friday")
    for client in (room.alice, room.bob, room.carol, room.dave):
        lines = room.chat.sink(client).rendered(client.account.login, "dev")
        assert any("bob set the topic of #dev: release on Friday" in line for line in lines)
    assert room.do(room.dave, "/topic").last_info() == "Topic of #dev: release on Friday"
    room.do(room.dave, "/leave")
    assert room.do(room.dave, "/join dev").last_info() == (
        "Now talking in #dev. Topic: release on Friday"
    )
    assert "release on Friday" in room.do(room.dave, "/list").last_info()
    room.do(room.bob, "/topic -")
    assert room.dev.topic == ""
    lines = room.chat.sink(room.dave).rendered("dave", "dev")
    assert any("bob cleared the topic of #dev" in line for line in lines)
    assert room.do(room.dave, "/topic").last_info() == "Topic of #dev: (no topic set)"


def test_op_and_deop(room: Room) -> None:
    room.do(room.bob, "/op dave")
    assert "dave" in room.dev.ops
    assert "dave is now an op of #dev (bob)" in room.chat.sink(room.carol).infos()
    assert room.do(room.dave, "/topic dave was here").errors() == []
    room.do(room.bob, "/deop dave")
    assert "dave is no longer an op of #dev (bob)" in room.chat.sink(room.carol).infos()
    assert "only the owner" in room.do(room.dave, "/topic again").last_error()
    assert "dave is not an op of #dev" in room.do(room.bob, "/deop dave").last_error()
    # An admin may change the ops of a channel they do not own.
    assert room.do(room.alice, "/op dave").errors() == []


def test_kicked_user_leaves_the_channel_and_is_told(room: Room) -> None:
    sink = room.do(room.carol, "/kick dave flooding")
    assert sink.errors() == []
    dave = room.chat.sink(room.dave)
    assert any(
        "you were kicked from #dev by carol: flooding" in line
        for line in dave.rendered("dave", "dev")
    )
    bob_lines = room.chat.sink(room.bob).rendered("bob", "dev")
    assert any("dave was kicked from #dev by carol: flooding" in line for line in bob_lines)
    assert "dave" not in room.dev.members
    assert room.dave.current.name == "lobby"
    room.chat.clear()
    room.do(room.dave, "still here?")  # dave now talks in the home channel
    said = [e for e in room.chat.sink(room.bob).events if isinstance(e, ChatMessage)]
    assert [(e.channel, e.text) for e in said] == [("lobby", "still here?")]
    room.do(room.dave, "/join dev")  # and may come back: a kick is not a ban
    assert "dave" in room.dev.members
    # Nobody can be kicked from the home channel.
    room.do(room.alice, "/join lobby")
    assert "home channel" in room.do(room.alice, "/kick dave").last_error()


def test_ban_ends_sessions_and_refuses_login(room: Room) -> None:
    second = room.chat.connect("dave")
    reply = room.do(room.alice, "/ban dave spamming links").last_info()
    assert reply == "Banned dave for good: spamming links."
    for client in (room.dave, second):
        assert room.chat.sink(client).closed == [
            "you are banned from this server for good: spamming links"
        ]
    with pytest.raises(HubError) as refused:
        room.chat.connect("dave")
    assert re.search(
        "banned from this server for good: spamming links", refusal_text(refused.value)
    )
    assert "you cannot ban yourself" in room.do(room.alice, "/ban alice").last_error()
    assert room.do(room.alice, "/unban dave").last_info() == "dave may log in again."
    room.chat.connect("dave")
    assert "dave is not banned" in room.do(room.alice, "/unban dave").last_error()


def test_ban_and_mute_with_a_duration_expire(room: Room, monkeypatch) -> None:
    now = [1_800_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    assert room.do(room.alice, "/ban dave 10m").last_info() == "Banned dave for 10 minutes."
    with pytest.raises(HubError) as refused:
        room.chat.connect("dave")
    refused_text = refusal_text(refused.value)
    assert re.search(r"banned from this server for another 10 minutes$", refused_text)
    room.do(room.alice, "/mute carol 1h")
    assert "you are muted for another 1 hour;" in room.do(room.carol, "hello").last_error()
    # Under a minute left is said in seconds, and never as 0.
    room.do(room.alice, "/ban bob 30s flood")
    assert room.chat.sink(room.alice).last_info() == "Banned bob for 30 seconds: flood."
    assert room.chat.sink(room.bob).closed == [
        "you are banned from this server for 30 seconds: flood"
    ]
    now[0] += 29.5
    with pytest.raises(HubError) as refused:
        room.chat.connect("bob")
    assert re.search("for another 1 second: flood", refusal_text(refused.value))
    now[0] += 601
    room.chat.connect("dave")  # the ban is over
    assert "you are muted" in room.do(room.carol, "hello").last_error()
    now[0] += 3000
    assert room.do(room.carol, "hello").errors() == []


def test_muted_user_cannot_send_and_is_told(room: Room) -> None:
    assert room.do(room.alice, "/mute dave").last_info() == "Muted dave for good."
    assert "You were muted by alice for good." in room.chat.sink(room.dave).infos()
    room.chat.clear()
    for line in ("hello", "/me waves", "/msg bob psst", "//slash"):
        error = room.do(room.dave, line).last_error()
        assert error == "you are muted for good; nothing was sent", line
        room.others_got_nothing(room.dave)
    # Reading still works.
    room.do(room.bob, "can you hear me?")
    assert [e.text for e in room.chat.sink(room.dave).events if isinstance(e, ChatMessage)] == [
        "can you hear me?"
    ]
    assert room.do(room.alice, "/unmute dave").last_info() == "Unmuted dave."
    assert "You were unmuted by alice." in room.chat.sink(room.dave).infos()
    assert room.do(room.dave, "free again").errors() == []
    assert "dave is not muted" in room.do(room.alice, "/unmute dave").last_error()
    assert "you cannot mute yourself" in room.do(room.alice, "/mute alice").last_error()


def test_mute_with_a_bad_duration_is_refused(room: Room) -> None:
    assert "usage: /mute USER [DURATION]" in room.do(room.alice, "/mute dave soon").last_error()
    assert room.chat.hub.accounts["dave"].muted_until is None


def test_ignore_hides_channel_and_private_messages_for_the_ignorer_only(room: Room) -> None:
    assert room.do(room.carol, "/ignore").last_info() == "You ignore nobody."
    reply = room.do(room.carol, "/ignore dave").last_info()
    assert reply == "Ignoring dave; /unignore dave to see them again."
    assert room.do(room.carol, "/ignore").last_info() == "You ignore: dave"
    room.chat.clear()
    room.do(room.dave, "in the channel")
    room.do(room.dave, "/msg carol in private")
    room.do(room.dave, "/msg bob to bob")
    assert room.chat.sink(room.carol).events == []
    bob_texts = [e.text for e in room.chat.sink(room.bob).events if not isinstance(e, Notice)]
    assert bob_texts == ["in the channel", "to bob"]
    # A broadcast from an admin is never hidden; nor are others' messages.
    room.do(room.alice, "/ignore dave")
    room.chat.clear()
    room.do(room.bob, "from bob")
    assert [e.text for e in room.chat.sink(room.carol).events] == ["from bob"]
    assert "you cannot ignore yourself" in room.do(room.carol, "/ignore carol").last_error()
    assert "you already ignore dave" in room.do(room.carol, "/ignore dave").last_error()
    room.do(room.carol, "/unignore dave")
    assert room.do(room.carol, "/ignore").last_info() == "You ignore nobody."
    room.chat.clear()
    room.do(room.dave, "back in view")
    assert [e.text for e in room.chat.sink(room.carol).events] == ["back in view"]
    assert "you do not ignore dave" in room.do(room.carol, "/unignore dave").last_error()


def test_broadcast_reaches_everyone_even_ignorers(room: Room) -> None:
    room.do(room.bob, "/ignore alice")
    room.do(room.alice, "/broadcast restart at noon")
    for client in (room.alice, room.bob, room.carol, room.dave):
        lines = room.chat.sink(client).rendered(client.account.login)
        assert "[broadcast from alice] restart at noon" in " ".join(lines)


def test_reply_answers_the_last_private_message(room: Room) -> None:
    assert "nobody has sent you a private message" in room.do(room.dave, "/reply hi").last_error()
    room.do(room.bob, "/msg dave first")
    room.do(room.carol, "/msg dave second")
    room.chat.clear()
    room.do(room.dave, "/reply answering the last one")
    pms = [e for e in room.chat.sink(room.carol).events if isinstance(e, PrivateMessage)]
    assert [(e.sender, e.recipient, e.text) for e in pms] == [
        ("dave", "carol", "answering the last one")
    ]
    assert room.chat.sink(room.bob).events == []


def test_quiet_hides_join_and_leave(room: Room) -> None:
    assert room.do(room.carol, "/quiet on").last_info() == "Join and leave notices are now hidden."
    room.chat.clear()
    room.do(room.dave, "/leave")
    room.do(room.dave, "/join dev")
    eve = room.chat.connect("alice")  # a second session of alice: no notice either way
    room.chat.hub.disconnect(eve)
    carol_events = room.chat.sink(room.carol).events
    assert not [e for e in carol_events if isinstance(e, Presence)]
    kinds = [e.kind for e in room.chat.sink(room.bob).events if isinstance(e, Presence)]
    assert kinds == [PresenceKind.LEAVE, PresenceKind.JOIN]
    # Chat lines and other notices still arrive.
    room.do(room.dave, "still talking")
    assert [e.text for e in room.chat.sink(room.carol).events] == ["still talking"]
    assert room.do(room.carol, "/quiet off").last_info() == "Join and leave notices are now shown."
    room.chat.clear()
    room.do(room.dave, "/leave")
    assert [e.kind for e in room.chat.sink(room.carol).events] == [PresenceKind.LEAVE]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("/quiet maybe", "usage: /quiet [on|off] — expected on or off, not 'maybe'"),
        ("/timestamps sometimes", "usage: /timestamps [on|off] — expected on or off"),
        ("/color blue", "usage: /color [on|off] — expected on or off, not 'blue'"),
        ("/bell loud", "usage: /bell [on|off|mentions] — expected on, off or mentions"),
        ("/bell on off", "usage: /bell [on|off|mentions] — 'off' is more than it takes"),
    ],
)
def test_bad_preference_values_are_refused(room: Room, line: str, error: str) -> None:
    prefs = room.chat.hub.accounts["dave"].prefs
    before = (prefs.quiet, prefs.timestamps, prefs.color, prefs.bell)
    assert error in room.do(room.dave, line).last_error()
    assert (prefs.quiet, prefs.timestamps, prefs.color, prefs.bell) == before


# -- over SSH ------------------------------------------------------------------------


class BannerClient(asyncssh.SSHClient):
    """Keeps the authentication banners the server sends."""

    def __init__(self) -> None:
        self.banners: list[str] = []

    def auth_banner_received(self, msg: str, lang: str) -> None:
        self.banners.append(msg)


async def refused_login(server: RunningServer, user: str) -> str:
    """Try to log in as ``user``; expect PermissionDenied and return the banner text."""
    holder: list[BannerClient] = []

    def factory() -> BannerClient:
        holder.append(BannerClient())
        return holder[-1]

    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect(
            "127.0.0.1",
            server.port,
            username=user,
            password=PASSWORDS[user],
            known_hosts=None,
            client_keys=None,
            preferred_auth="password",
            client_factory=factory,
        )
    return "".join(b for client in holder for b in client.banners)


async def test_refusals_over_ssh_name_who_may(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    bob = await login(server, clients, "bob")
    carol = await login(server, clients, "carol", pty=False)
    carol.send("/create dev")
    await carol.expect(r"Created channel #dev")
    bob.send("/join dev")
    await bob.expect(r"Now talking in #dev")
    for line, refusal in REFUSALS:
        bob.send(line)
        await bob.expect(r"error: " + re.escape(refusal))
    await carol.absent(r"topic|op of|kicked|broadcast|muted|banned")


async def test_topic_announced_and_shown_on_join(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await login(server, clients, "alice")
    bob = await login(server, clients, "bob")
    alice.send("/create dev")
    await alice.expect_screen(r"^#dev alice>")
    bob.send("/join dev")
    await alice.expect(r"-- bob joined #dev")
    alice.send("/topic ship it on Friday")
    await alice.expect(r"-- alice set the topic of #dev: ship it on Friday")
    await bob.expect(r"-- alice set the topic of #dev: ship it on Friday")
    carol = await login(server, clients, "carol", pty=False)
    carol.send("/join dev")
    await carol.expect(r"Now talking in #dev\. Topic: ship it on Friday")


async def test_kicked_user_leaves_and_is_told(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await login(server, clients, "alice")
    bob = await login(server, clients, "bob")
    alice.send("/create dev")
    await alice.expect_screen(r"^#dev alice>")
    bob.send("/join dev")
    await bob.expect(r"Now talking in #dev")
    alice.send("/kick bob too loud")
    await bob.expect(r"-- you were kicked from #dev by alice: too loud")
    await alice.expect(r"-- bob was kicked from #dev by alice: too loud")
    alice.send("/who")
    await alice.expect(r"In #dev: alice \[owner\] \[admin\]\n")
    bob.send("back home")  # bob talks in the home channel again
    await bob.expect(r"<bob> back home")
    await alice.expect(r"#lobby <bob> back home")


async def test_ban_ends_sessions_and_refuses_login_with_reason(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await login(server, clients, "alice")
    bob_pty = await login(server, clients, "bob")
    bob_plain = await login(server, clients, "bob", pty=False)
    alice.send("/ban bob spamming links")
    await alice.expect(r"Banned bob")
    for session in (bob_pty, bob_plain):
        await session.expect(r"you are banned from this server for good: spamming links")
        await ended(session)
    banner = await refused_login(server, "bob")
    assert "you are banned from this server for good: spamming links" in banner
    alice.send("/unban bob")
    await alice.expect(r"bob may log in again\.")
    await login(server, clients, "bob")


async def test_ban_with_a_duration_expires(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await login(server, clients, "alice")
    bob = await login(server, clients, "bob", pty=False)
    alice.send("/ban bob 1s cool off")
    await bob.expect(r"you are banned from this server .*: cool off")
    await ended(bob)
    assert "cool off" in await refused_login(server, "bob")
    await asyncio.sleep(1.2)
    again = await login(server, clients, "bob", pty=False)
    again.send("/whois bob")
    await again.expect(r"status: online")


async def test_muted_user_cannot_send_and_is_told_over_ssh(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await login(server, clients, "alice")
    bob = await login(server, clients, "bob")
    carol = await login(server, clients, "carol", pty=False)
    alice.send("/mute bob")
    await alice.expect(r"Muted bob for good\.")
    await bob.expect(r"You were muted by alice for good\.")
    bob.send("can anyone hear me")
    await bob.expect(r"error: you are muted for good; nothing was sent")
    bob.send("/msg carol psst")
    await bob.expect(r"error: you are muted for good; nothing was sent")
    await carol.absent(r"can anyone hear me|psst")
    alice.send("/unmute bob")
    await bob.expect(r"You were unmuted by alice\.")
    bob.send("thanks")
    await carol.expect(r"<bob> thanks")


async def test_ignore_hides_messages_only_for_the_ignorer(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await login(server, clients, "alice", pty=False)
    bob = await login(server, clients, "bob", pty=False)
    carol = await login(server, clients, "carol", pty=False)
    alice.send("/ignore bob")
    await alice.expect(r"Ignoring bob; /unignore bob to see them again\.")
    alice.send("/ignore")
    await alice.expect(r"You ignore: bob")
    bob.send("channel words")
    bob.send("/msg alice private words")
    await carol.expect(r"<bob> channel words")
    await bob.expect(r"\[PM to alice\] private words")
    carol.send("carol speaks")
    await alice.expect(r"<carol> carol speaks")
    assert "channel words" not in alice.text
    assert "private words" not in alice.text
    alice.send("/unignore bob")
    await alice.expect(r"You see bob's messages again\.")
    bob.send("visible again")
    await alice.expect(r"<bob> visible again")


async def test_reply_answers_the_last_pm(server: RunningServer, clients: list[ChatClient]) -> None:
    alice = await login(server, clients, "alice", pty=False)
    bob = await login(server, clients, "bob", pty=False)
    carol = await login(server, clients, "carol", pty=False)
    bob.send("/msg alice from bob")
    await alice.expect(r"\[PM from bob\] from bob")
    carol.send("/msg alice from carol")
    await alice.expect(r"\[PM from carol\] from carol")
    alice.send("/reply got it")
    await alice.expect(r"\[PM to carol\] got it")
    await carol.expect(r"\[PM from alice\] got it")
    await bob.absent(r"got it")


async def test_quiet_hides_join_and_leave_over_ssh(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await login(server, clients, "alice", pty=False)
    alice.send("/quiet on")
    await alice.expect(r"Join and leave notices are now hidden\.")
    bob = await login(server, clients, "bob", pty=False)
    bob.send("/create dev")
    await bob.expect(r"Created channel")
    alice.send("/join dev")
    await alice.expect(r"Now talking in #dev")
    bob.send("/leave")
    await bob.expect(r"You left #dev")
    await bob.close()
    alice.send("/quiet off")
    await alice.expect(r"Join and leave notices are now shown\.")
    assert not re.search(r"-- bob (connected|joined|left|disconnected)", alice.text)
    carol = await login(server, clients, "carol", pty=False)
    await alice.expect(r"-- carol connected")
    del carol


async def test_timestamps_off_removes_the_time(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await login(server, clients, "alice", pty=False)
    bob = await login(server, clients, "bob", pty=False)
    bob.send("with time")
    await alice.expect(r"\n\d\d:\d\d <bob> with time\n")
    alice.send("/timestamps off")
    await alice.expect(r"Timestamps off\.")
    bob.send("without time")
    await alice.expect(r"\n<bob> without time\n")
    alice.send("/timestamps on")
    await alice.expect(r"Timestamps on\.")
    bob.send("time again")
    await alice.expect(r"\n\d\d:\d\d <bob> time again\n")


async def test_color_off_removes_colour_codes_on_a_pty(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await login(server, clients, "alice")
    bob = await login(server, clients, "bob", pty=False)
    bob.send("coloured")
    await alice.expect(r"<bob> coloured")
    assert COLOR_SGR.search(alice.output)  # colour is on by default
    alice.send("/color off")
    await alice.expect(r"Colour off\.")
    start = len(alice.output)
    bob.send("hello alice, in black and white")
    bob.send("/msg alice psst")
    await alice.expect(r"\[PM from bob\] psst")
    alice.send("/who")
    await alice.expect(r"In #lobby:")
    await alice.expect(r"#lobby alice>")
    raw = alice.output[start:]
    assert not COLOR_SGR.search(raw), raw
    # It names alice, so it rings the bell: at the end of its line, or of a later
    # line when the PM arrives in the same batch (one bell per batch).
    assert re.search(r"<bob> hello alice, in black and white\x07?\r\n", raw), raw
    alice.send("/color on")
    await alice.expect(r"Colour on\.")
    bob.send("colour is back")
    await alice.expect(r"<bob> colour is back")
    assert COLOR_SGR.search(alice.output[start:])


async def bell_after(reader: ChatClient, writer: ChatClient, line: str, shown: str) -> bool:
    """``writer`` types ``line``; return whether ``reader``'s line ``shown`` rang the bell."""
    writer.send(line)
    match = await reader.expect(re.escape(shown) + r"(\x07?)\n")
    return match.group(1) == "\x07"


async def test_bell_modes(server: RunningServer, clients: list[ChatClient]) -> None:
    alice = await login(server, clients, "alice")
    bob = await login(server, clients, "bob", pty=False)
    await alice.expect(r"-- bob connected")
    # Default: mentions and private messages only.
    assert not await bell_after(alice, bob, "hello everyone", "hello everyone")
    assert await bell_after(alice, bob, "hello alice", "hello alice")
    assert await bell_after(alice, bob, "/msg alice psst", "psst")
    assert not await bell_after(alice, bob, "malice is no mention", "malice is no mention")
    alice.send("/bell on")
    await alice.expect(r"Bell: on\.")
    assert await bell_after(alice, bob, "anything at all", "anything at all")
    alice.send("/bell off")
    await alice.expect(r"Bell: off\.")
    assert not await bell_after(alice, bob, "alice! alice!", "alice! alice!")
    assert not await bell_after(alice, bob, "/msg alice quiet pm", "quiet pm")
    alice.send("/bell mentions")
    await alice.expect(r"Bell: mentions\.")
    assert not await bell_after(alice, bob, "no name here", "no name here")
    assert await bell_after(alice, bob, "ping ALICE", "ping ALICE")
    # Her own lines never ring.
    alice.send("I am alice")
    await alice.expect(r"<alice> I am alice\n")


async def test_mentions_highlighted_and_own_nick_bold_on_a_pty(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await login(server, clients, "alice")
    bob = await login(server, clients, "bob", pty=False)
    bob.send("hey alice, look")
    await alice.expect(r"<bob> hey alice, look")
    # The text of a line that names her is bold yellow; bob's nick is not bold.
    assert "\x1b[1m\x1b[33mhey alice, look\x1b[0m" in alice.output
    assert re.search(r"<\x1b\[[\d;]+mbob\x1b\[0m> ", alice.output)
    bob.send("nothing special")
    await alice.expect(r"<bob> nothing special")
    assert re.search(r"<\x1b\[[\d;]+mbob\x1b\[0m> nothing special", alice.output)
    # Her own lines: her nick in bold.
    alice.send("my own line")
    await alice.expect(r"<alice> my own line")
    assert re.search(r"<\x1b\[[\d;]+m\x1b\[1malice\x1b\[0m> my own line", alice.output)


async def test_plain_line_mode_never_sends_escapes_or_bells(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await login(server, clients, "alice")
    dave = await login(server, clients, "dave", pty=False)
    dave.send("/bell on")
    await dave.expect(r"Bell: on\.")
    alice.send("hello dave, you are mentioned")
    alice.send("/msg dave a private word")
    alice.send("/broadcast to all")
    alice.send("/me waves at dave")
    alice.send("/frobnicate")
    await dave.expect(r"\* alice waves at dave\n")
    dave.send("/who")
    await dave.expect(r"In #lobby:")
    dave.send("/help")
    await dave.expect(r"Ctrl-D or /quit leaves")
    assert "hello dave, you are mentioned" in dave.output
    assert "\x1b" not in dave.output
    assert "\x07" not in dave.output
    assert "\r" not in dave.output


async def test_moderation_is_logged_with_the_actor(
    server: RunningServer, clients: list[ChatClient], caplog
) -> None:
    caplog.set_level(logging.INFO, logger="sshchat")
    alice = await login(server, clients, "alice", pty=False)
    bob = await login(server, clients, "bob", pty=False)
    alice.send("/create dev")
    bob.send("/join dev")
    await alice.expect(r"-- bob joined #dev")
    for line in (
        "/topic a topic",
        "/op bob",
        "/deop bob",
        "/kick bob out",
        "/mute bob 10m",
        "/unmute bob",
        "/ban bob 1d spam",
        "/unban bob",
    ):
        alice.send(line)
    await alice.expect(r"bob may log in again\.")
    records = [r.fields for r in caplog.records if getattr(r, "event", "") == "moderation"]
    got = [(f["actor"], f["action"], f["target"]) for f in records]
    assert got == [
        ("alice", "topic", "dev"),
        ("alice", "op", "bob"),
        ("alice", "deop", "bob"),
        ("alice", "kick", "bob"),
        ("alice", "mute", "bob"),
        ("alice", "unmute", "bob"),
        ("alice", "ban", "bob"),
        ("alice", "unban", "bob"),
    ]
    kick = records[3]
    assert (kick["channel"], kick["reason"]) == ("dev", "out")
    ban = records[6]
    assert ban["reason"] == "spam" and ban["until"].endswith("Z")
    # A refused attempt is not a moderation act.
    caplog.clear()
    carol = await login(server, clients, "carol", pty=False)
    carol.send("/ban alice")
    await carol.expect(r"error: /ban is for admins only")
    assert not [r for r in caplog.records if getattr(r, "event", "") == "moderation"]
