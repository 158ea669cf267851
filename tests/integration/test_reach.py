"""What a logged-in user can still do to others who muted (admin), ignored or hid from them.

Hub unit tests with recording sinks first, then the same over real SSH. The
mute, ignore and private-channel rules are described in the README ("Safety").
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from helpers.client import ChatClient, connect
from helpers.hubs import Chat
from helpers.sinks import RecordingSink
from helpers.stores import attached, reload, rows

from sshchat.app import RunningServer
from sshchat.commands.completion import candidates
from sshchat.commands.registry import handle_line
from sshchat.config.schema import Config
from sshchat.core.events import History, Presence, PresenceKind, PrivateMessage
from sshchat.core.hub import Client
from sshchat.core.model import MAX_PENDING

# -- 1. a mute silences every text others see ------------------------------------------


class Muted:
    """alice (admin) muted dave; dave owns #den (with bob in it) and was away with a reason."""

    def __init__(self) -> None:
        self.chat = Chat()
        self.alice = self.chat.connect("alice")
        self.bob = self.chat.connect("bob")
        self.dave = self.chat.connect("dave")
        self.chat.do(self.dave, "/create den")
        self.chat.do(self.bob, "/join den")
        self.chat.do(self.dave, "/away some reason everyone reads")
        self.chat.do(self.alice, "/mute dave")
        self.chat.clear()

    def others_got_nothing(self) -> None:
        for other in (self.alice, self.bob):
            assert self.chat.sink(other).events == [], other.account.login


@pytest.fixture
def muted() -> Muted:
    return Muted()


MUTED_REFUSALS = [
    ("/away back at 5, call 555-SPAM", "others would see that reason, so nothing was changed"),
    ("/topic buy my stuff", "you cannot change topics; nothing was changed"),
    ("/topic -", "you cannot change topics; nothing was changed"),
    ("/nick buy_my_stuff", "you cannot change your nick; nothing was changed"),
    ("/create spam", "you cannot create channels; nothing was created"),
    ("/create spam private", "you cannot create channels; nothing was created"),
    ("/invite carol", "you cannot invite anyone; nobody was invited"),
    ("/kick bob you are all idiots", "others would see that reason, so nobody was kicked"),
    ("hello", "nothing was sent"),
    ("/me waves", "nothing was sent"),
    ("/msg bob psst", "nothing was sent"),
]


@pytest.mark.parametrize(("line", "said"), MUTED_REFUSALS)
def test_a_muted_user_cannot_put_text_in_front_of_others(
    muted: Muted, line: str, said: str
) -> None:
    hub = muted.chat.hub
    before = hub.digest()
    error = muted.chat.do(muted.dave, line).last_error()
    assert error.startswith("you are muted for good"), error
    assert said in error
    muted.others_got_nothing()
    assert hub.digest() == before  # nothing changed at all


def test_a_muted_admin_cannot_broadcast() -> None:
    chat = Chat()
    alice, bob = chat.connect("alice"), chat.connect("bob")
    chat.hub.accounts["bob"].admin = True  # two admins: one mutes the other
    chat.do(bob, "/mute alice")
    chat.clear()
    assert chat.do(alice, "/broadcast hear ye").last_error().endswith("nothing was sent")
    assert chat.sink(bob).events == []


def test_a_mute_hides_the_away_reason_already_set(muted: Muted) -> None:
    dave = muted.chat.hub.accounts["dave"]
    assert dave.away == ""  # away, with no reason shown
    for line in ("/users", "/whois dave"):
        text = muted.chat.do(muted.bob, line).last_info()
        assert "everyone reads" not in text, text
        assert re.search(r"(dave.*|status): away$", text, re.M), text
    muted.chat.do(muted.bob, "/msg dave hi")
    assert "everyone reads" not in "\n".join(muted.chat.sink(muted.bob).texts())


def test_what_a_muted_user_may_still_do(muted: Muted) -> None:
    chat, dave = muted.chat, muted.dave
    for line in (
        "/away",  # no reason: nothing of theirs to read
        "/back",
        "/who",
        "/users",
        "/list",
        "/whois bob",
        "/history",
        "/help",
        "/quiet on",
        "/ignore bob",
        "/unignore bob",
        "/join lobby",
        "/join den",
        "/kick bob",  # a kick without a reason says nothing of theirs
        "/leave",
    ):
        assert chat.do(dave, line).errors() == [], line
    assert "bob" not in chat.hub.channels["den"].members


def test_the_refusals_stop_when_the_mute_runs_out() -> None:
    now = [1_800_000_000.0]
    chat = Chat(clock=lambda: now[0])
    alice, dave = chat.connect("alice"), chat.connect("dave")
    chat.do(alice, "/mute dave 1m")
    assert "you are muted" in chat.do(dave, "/nick davy").last_error()
    now[0] += 61
    assert chat.do(dave, "/nick davy").errors() == []
    assert chat.hub.accounts["dave"].nick == "davy"
    assert chat.hub.accounts["dave"].muted_until is None


async def test_a_muted_user_cannot_set_an_away_reason_or_nick_over_ssh(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await connect(server, "alice", pty=False)
    bob = await connect(server, "bob", pty=False)
    clients += [alice, bob]
    alice.send("/mute bob")
    await bob.expect(r"You were muted by alice for good\.")
    bob.send("/away call 555-SPAM")
    await bob.expect(r"you are muted for good: others would see that reason")
    bob.send("/nick spammer")
    await bob.expect(r"you are muted for good: you cannot change your nick; nothing was changed")
    bob.send("/create spam")
    await bob.expect(r"you cannot create channels; nothing was created")
    alice.send("/whois bob")
    await alice.expect(r"status: online")
    await alice.absent(r"555-SPAM|spammer")


# -- 2. /ignore cannot be got around ---------------------------------------------------


class Ignoring:
    """carol ignores bob; bob owns #dev, where alice and carol are too."""

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.chat = Chat(**kwargs)
        self.alice = self.chat.connect("alice")
        self.bob = self.chat.connect("bob")
        self.carol = self.chat.connect("carol")
        self.chat.do(self.bob, "/create dev")
        self.chat.do(self.alice, "/join dev")
        self.chat.do(self.carol, "/join dev")
        self.chat.do(self.carol, "/ignore bob")
        self.chat.clear()

    @property
    def carol_sink(self):  # type: ignore[no-untyped-def]
        return self.chat.sink(self.carol)

    def reconnect_carol(self) -> None:
        self.chat.hub.disconnect(self.carol)
        self.carol = self.chat.connect("carol")


@pytest.fixture
def ignoring() -> Ignoring:
    return Ignoring()


def test_private_messages_of_an_ignored_user_are_not_kept_for_later(ignoring: Ignoring) -> None:
    chat = ignoring.chat
    chat.hub.disconnect(ignoring.carol)
    bob_sink = chat.do(ignoring.bob, "/msg carol you will read this later")
    # bob is told what anyone is told: he cannot find out that he is ignored.
    assert bob_sink.infos() == ["carol is offline and will see it at their next login"]
    chat.do(ignoring.alice, "/msg carol hello from alice")
    ignoring.carol = chat.connect("carol")
    shown = [m for e in ignoring.carol_sink.of(History) if e.channel is None for m in e.messages]
    assert [(m.sender, m.text) for m in shown] == [("alice", "hello from alice")]
    assert chat.hub.accounts["carol"].pending == type(chat.hub.accounts["carol"].pending)()
    # /reply answers alice, not the ignored bob who wrote after her.
    assert chat.hub.accounts["carol"].last_pm_from == "alice"


def test_an_ignored_user_cannot_fill_the_offline_queue(ignoring: Ignoring) -> None:
    chat = ignoring.chat
    chat.hub.disconnect(ignoring.carol)
    for n in range(MAX_PENDING + 5):
        assert chat.do(ignoring.bob, f"/msg carol spam {n}").errors() == []
    assert chat.do(ignoring.alice, "/msg carol still room").errors() == []


def test_an_ignored_users_live_message_is_not_what_reply_answers(ignoring: Ignoring) -> None:
    chat = ignoring.chat
    chat.do(ignoring.alice, "/msg carol hi")
    chat.do(ignoring.bob, "/msg carol hi too")
    assert ignoring.carol_sink.of(PrivateMessage)[-1].sender == "alice"
    chat.do(ignoring.carol, "/reply hello")
    assert [m.text for m in chat.sink(ignoring.alice).of(PrivateMessage)] == ["hi", "hello"]
    assert chat.sink(ignoring.bob).of(PrivateMessage)[-1].text == "hi too"


def test_the_store_keeps_no_queued_message_of_an_ignored_user(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    hub, store = attached(db)
    bob = hub.connect("bob", RecordingSink())
    alice = hub.connect("alice", RecordingSink())
    carol = hub.connect("carol", RecordingSink())
    hub.ignore(carol, "bob")
    hub.disconnect(carol)
    hub.private_message(bob, "carol", "from the ignored bob")
    hub.private_message(alice, "carol", "from alice")
    store.close()
    # Not on disk either, where it could push older, wanted messages out of the queue.
    waiting = rows(db, "SELECT m.text FROM pending p JOIN messages m ON m.id = p.message")
    assert waiting == [("from alice",)]
    again = reload(db)
    assert [m.text for m in again.accounts["carol"].pending] == ["from alice"]


def test_an_ignored_users_queued_messages_are_dropped_at_restore(tmp_path: Path) -> None:
    hub = Chat().hub
    message = PrivateMessage("bob", "bob", "carol", "carol", "old", False, 1.0)
    other = PrivateMessage("alice", "alice", "carol", "carol", "fine", False, 2.0)
    hub.restore_account("carol", ignored=["bob"], pending=[message, other])
    assert list(hub.accounts["carol"].pending) == [other]


def test_only_those_running_a_channel_may_invite_and_the_inviter_is_named(
    ignoring: Ignoring,
) -> None:
    chat = ignoring.chat
    dave = chat.connect("dave")
    chat.clear()
    # alice is an admin: she may. A plain member may not, even in a public channel.
    error = chat.do(ignoring.carol, "/invite dave").last_error()
    assert error == "only the owner, ops and admins of #dev can invite people to it"
    assert chat.sink(dave).events == []
    chat.do(ignoring.bob, "/invite dave")
    assert chat.sink(dave).infos() == ["bob invites you to #dev: type /join dev"]


def test_an_invitation_from_an_ignored_user_is_not_shown(ignoring: Ignoring) -> None:
    chat = ignoring.chat
    chat.do(ignoring.carol, "/leave")
    chat.clear()
    assert chat.do(ignoring.bob, "/invite carol").errors() == []
    assert ignoring.carol_sink.events == []


def test_what_an_ignored_user_does_does_not_reach_the_ignorer(ignoring: Ignoring) -> None:
    chat, bob = ignoring.chat, ignoring.bob
    chat.do(bob, "/nick bobby")
    chat.do(bob, "/topic look at me")
    chat.do(bob, "/leave")
    chat.do(bob, "/join dev")
    chat.hub.disconnect(bob)
    bob = chat.connect("bob")
    assert ignoring.carol_sink.events == []
    # alice, who ignores nobody, saw all of it.
    kinds = [e.kind for e in chat.sink(ignoring.alice).of(Presence)]
    assert PresenceKind.NICK in kinds and PresenceKind.TOPIC in kinds
    assert PresenceKind.DISCONNECT in kinds and PresenceKind.CONNECT in kinds


def test_a_kick_by_an_ignored_op_comes_without_its_reason(ignoring: Ignoring) -> None:
    chat = ignoring.chat
    chat.do(ignoring.bob, "/kick carol you are a loser")
    kicks = [e for e in ignoring.carol_sink.of(Presence) if e.kind is PresenceKind.KICK]
    assert [(e.login, e.by, e.detail) for e in kicks] == [("carol", "bob", "")]
    seen = [e for e in chat.sink(ignoring.alice).of(Presence) if e.kind is PresenceKind.KICK]
    assert [(e.by, e.detail) for e in seen] == [("bob", "you are a loser")]
    assert "carol" not in chat.hub.channels["dev"].members


def test_history_leaves_out_an_ignored_users_lines(ignoring: Ignoring) -> None:
    chat = ignoring.chat
    chat.do(ignoring.bob, "shout one")
    chat.do(ignoring.alice, "hello")
    chat.do(ignoring.bob, "shout two")
    chat.do(ignoring.carol, "/history 2")
    lines = [m for e in ignoring.carol_sink.of(History) for m in e.messages]
    assert [m.text for m in lines] == ["hello"]
    chat.do(ignoring.carol, "/leave")
    chat.clear()
    chat.do(ignoring.carol, "/join dev")
    lines = [m for e in ignoring.carol_sink.of(History) for m in e.messages]
    assert [m.text for m in lines] == ["hello"]


def test_an_ignored_users_away_reason_is_not_shown(ignoring: Ignoring) -> None:
    chat = ignoring.chat
    chat.do(ignoring.bob, "/away insult of the day")
    for line in ("/users", "/whois bob", "/who"):
        text = chat.do(ignoring.carol, line).last_info()
        assert "insult" not in text and "away" in text, line
        assert "insult" in chat.do(ignoring.alice, line).last_info(), line
    assert chat.do(ignoring.carol, "/msg bob hm").infos() == ["bob is away."]
    assert chat.do(ignoring.alice, "/msg bob hm").infos() == ["bob is away: insult of the day"]


async def test_an_ignored_user_cannot_reach_the_ignorer_over_ssh(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await connect(server, "alice", pty=False)
    bob = await connect(server, "bob", pty=False)
    carol = await connect(server, "carol", pty=False)
    clients += [alice, bob, carol]
    bob.send("/create dev")
    await bob.expect(r"Created channel #dev")
    carol.send("/ignore bob")
    await carol.expect(r"Ignoring bob")
    carol.send("/quit")
    await carol.expect(r"Bye!")
    bob.send("/msg carol psst from bob")
    await bob.expect(r"carol is offline and will see it at their next login")
    alice.send("/msg carol hello from alice")
    await alice.expect(r"carol is offline")
    carol = await connect(server, "carol", pty=False)
    clients.append(carol)
    await carol.expect(r"hello from alice")
    bob.send("/invite carol")
    await bob.expect(r"Invited carol to #dev")
    bob.send("/nick bobby")
    await bob.expect(r"bobby")
    alice.send("/join dev")
    await alice.expect(r"Now talking in #dev")
    alice.send("/invite carol")  # bob's invitation stands, hidden from carol
    await alice.expect(r"carol is already invited to #dev")
    carol.send("/join dev")  # and she may still come in
    await carol.expect(r"Now talking in #dev")
    await carol.absent(r"psst|bob invites|bobby", wait=0.5)
    assert "psst" not in carol.text and "bobby" not in carol.text


# -- 4. channels are capped, can be dropped, and /list stays short ----------------------


def test_a_user_may_own_only_so_many_channels() -> None:
    chat = Chat(max_channels_per_user=3)
    alice, bob = chat.connect("alice"), chat.connect("bob")
    for name in ("one", "two", "three"):
        assert chat.do(bob, f"/create {name}").errors() == []
    error = chat.do(bob, "/create four").last_error()
    assert error == (
        "you already own 3 channels (#one, #three, #two) and may own at most 3; "
        "/drop one of them first"
    )
    assert chat.hub.state.find_channel("four") is None
    for n in range(5):  # admins are exempt
        assert chat.do(alice, f"/create admin{n}").errors() == []
    assert chat.do(bob, "/drop two").errors() == []
    assert chat.do(bob, "/create four").errors() == []
    chat.hub.set_limits(
        max_text=100, message_rate=None, message_burst=1, presence_summary_over=0,
        max_channels_per_user=0,
    )  # fmt: skip
    assert chat.do(bob, "/create five").last_error() == (
        "only admins can create channels on this server"
    )


class Dropping:
    """bob owns #dev (carol and dave in it, carol talking there); the home channel is #lobby."""

    def __init__(self) -> None:
        self.chat = Chat()
        self.alice = self.chat.connect("alice")
        self.bob = self.chat.connect("bob")
        self.carol = self.chat.connect("carol")
        self.dave = self.chat.connect("dave")
        self.chat.do(self.bob, "/create dev")
        self.chat.do(self.bob, "/topic the dev room")
        self.chat.do(self.carol, "/join dev")
        self.chat.do(self.dave, "/join dev")
        self.chat.do(self.dave, "/join lobby")
        self.chat.do(self.carol, "said in dev")
        self.chat.clear()


def test_an_owner_drops_a_channel_and_its_members_are_moved_and_told() -> None:
    d = Dropping()
    chat, hub = d.chat, d.chat.hub
    reply = chat.do(d.bob, "/drop").last_info()
    assert reply == "Dropped #dev and its history; 2 members moved to #lobby."
    assert hub.state.find_channel("dev") is None
    assert d.carol.current is hub.default_channel and d.bob.current is hub.default_channel
    for client in (d.carol, d.dave):
        assert chat.sink(client).infos() == [
            "bob dropped #dev and its history; you are back in #lobby."
        ]
        assert "dev" not in client.account.channels
    assert chat.sink(d.alice).events == []  # not a member: not told
    # The name is free again, with nothing of the old channel.
    chat.do(d.alice, "/create dev")
    assert hub.channels["dev"].history == type(hub.channels["dev"].history)(maxlen=500)
    assert hub.channels["dev"].topic == "" and hub.channels["dev"].owner == "alice"


def test_who_may_drop_what() -> None:
    d = Dropping()
    chat = d.chat
    assert chat.do(d.carol, "/drop dev").last_error() == (
        "only the owner of #dev (or an admin) can drop it"
    )
    assert chat.do(d.bob, "/drop lobby").last_error() == (
        "#lobby is the home channel and cannot be dropped"
    )
    chat.do(d.carol, "/create hideout private")
    # An invisible channel is answered as a missing one is.
    hidden = chat.do(d.dave, "/drop hideout").last_error()
    missing = chat.do(d.dave, "/drop nowhere").last_error()
    assert hidden == missing.replace("nowhere", "hideout")
    assert chat.do(d.alice, "/drop hideout").last_info() == (
        "Dropped #carol/hideout and its history; 1 member moved to #lobby."
    )
    assert chat.do(d.alice, "/drop dev").errors() == []


def test_a_dropped_channel_is_forgotten_by_the_store(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    hub, store = attached(db)
    bob = hub.connect("bob", RecordingSink())
    for line in ("/create dev", "/topic secret plans", "in dev", "/drop"):
        handle_line(hub, bob, line)
    for line in ("/create keep", "kept"):
        handle_line(hub, bob, line)
    store.close()
    assert rows(db, "SELECT name FROM channels") == [("keep",)]
    assert rows(db, "SELECT text FROM messages WHERE channel IS NOT NULL") == [("kept",)]
    assert rows(db, "SELECT actor, action, target FROM moderation WHERE action = 'drop'") == [
        ("bob", "drop", "dev")
    ]
    again = reload(db)
    assert again.state.find_channel("dev") is None


def test_list_pages_biggest_first_and_filters() -> None:
    chat = Chat()
    hub = chat.hub
    alice, bob = chat.connect("alice"), chat.connect("bob")
    for n in range(45):
        chat.do(alice, f"/create room{n:02d}")
    chat.do(bob, "/join room44")
    chat.do(alice, f"/topic {'x' * 300}")
    first = chat.do(bob, "/list").last_info().splitlines()
    assert first[0] == "Channels (46), biggest first, page 1 of 3:"
    assert first[1].startswith("  #lobby  2/2 members")
    assert first[2].startswith("  #room44 *  2/2 members  xxx") and first[2].endswith("x\u2026")
    assert len(first[2]) < 100
    assert len(first) == 1 + 20 + 2
    assert first[-2] == "... and 26 more: /list 2"
    last = chat.do(bob, "/list 3").last_info().splitlines()
    assert last[0] == "Channels (46), biggest first, page 3 of 3:"
    assert [line.split()[0] for line in last[1:-1]] == [f"#room{n:02d}" for n in range(38, 44)]
    assert chat.do(bob, "/list 4").last_error() == (
        "there is no page 4: pages go from 1 to 3 (/list 3 shows the last)"
    )
    filtered = chat.do(bob, "/list M1").last_info().splitlines()
    assert filtered[0] == "Channels with 'M1' in their name (10):"
    assert chat.do(bob, "/list zzz").last_info() == (
        "No channel you can see has 'zzz' in its name; /list shows them all."
    )
    assert len(hub.channels) == 46


async def test_drop_and_a_capped_create_over_ssh(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    server.apply_config(_with_limit(server, 1))
    bob = await connect(server, "bob", pty=False)
    carol = await connect(server, "carol", pty=False)
    clients += [bob, carol]
    bob.send("/create dev")
    await bob.expect(r"Created channel #dev")
    bob.send("/create more")
    await bob.expect(r"error: you already own 1 channel \(#dev\) and may own at most 1; /drop one")
    carol.send("/join dev")
    await carol.expect(r"Now talking in #dev")
    bob.send("/drop dev")
    await bob.expect(r"Dropped #dev and its history; 1 member moved to #lobby\.")
    await carol.expect(r"bob dropped #dev and its history; you are back in #lobby\.")
    carol.send("where am I")
    await bob.expect(r"<carol> where am I")
    bob.send("/create more")
    await bob.expect(r"Created channel #more")


def _with_limit(server: RunningServer, limit: int) -> Config:
    config = server.state.config
    return dataclasses.replace(
        config, limits=dataclasses.replace(config.limits, max_channels_per_user=limit)
    )


# -- 3. a hidden channel cannot be told from a free name ----------------------------------


PROBES = [
    "/create bob/secret private",
    "/create bob/secret",
    "/create secret private",  # dave's own namespace: dave/secret
    "/join bob/secret",
    "/join secret",
    "/join #bob/secret",
    "/drop bob/secret",
    "/drop secret",
    "/list",
    "/list secret",
    "/whois bob",
    "/history 5",
]


def _world(hidden: bool) -> tuple[Chat, Client]:
    chat = Chat(clock=lambda: 1_800_000_000.0)
    bob = chat.connect("bob")
    dave = chat.connect("dave")
    if hidden:
        chat.do(bob, "/create secret private")
        chat.do(bob, "our plans")
        chat.do(bob, "/leave")
    chat.clear()
    return chat, dave


@pytest.mark.parametrize("line", PROBES)
def test_no_command_tells_a_hidden_channel_from_a_free_name(line: str) -> None:
    hidden_chat, dave_h = _world(hidden=True)
    free_chat, dave_f = _world(hidden=False)
    seen_h = hidden_chat.do(dave_h, line).events
    assert seen_h == free_chat.do(dave_f, line).events
    assert seen_h  # every probe answers something
    assert "bob/secret" in hidden_chat.hub.channels  # it is there all the same


@pytest.mark.parametrize("before", ["/join ", "/join bob", "/drop ", "/list ", "hi #"])
def test_tab_completion_does_not_offer_a_hidden_channel(before: str) -> None:
    hidden_chat, dave_h = _world(hidden=True)
    free_chat, dave_f = _world(hidden=False)
    got_h = candidates(hidden_chat.hub, dave_h, before)
    assert got_h == candidates(free_chat.hub, dave_f, before)
    assert not any("secret" in word for word in got_h[1])


def test_private_channels_are_named_after_their_owner() -> None:
    chat = Chat()
    bob, carol = chat.connect("bob"), chat.connect("carol")
    assert chat.do(bob, "/create secret private").last_info() == (
        "Created private channel #bob/secret; you own it. Let people in with /invite NICK."
    )
    assert chat.do(bob, "/create bob/secret private").last_error() == (
        "#bob/secret already exists; /join bob/secret to enter it"
    )
    assert chat.do(carol, "/create bob/other private").last_error() == (
        "#bob/other is not yours to create: your private channels are named carol/NAME "
        "(/create NAME private)"
    )
    assert chat.do(carol, "/create bob/other").last_error() == (
        "'bob/other' is not a public channel name: names with a '/' are private channels "
        "(OWNER/NAME); /create NAME private makes one of yours"
    )
    # Anyone may make a public #secret: it is another channel.
    assert chat.do(carol, "/create secret").errors() == []
    chat.do(bob, "/invite carol")
    # Now carol can see both; the bare name is the public one, and names the other.
    assert chat.do(carol, "/join secret").last_info() == (
        "Now talking in #secret. Did you mean #bob/secret (/join bob/secret)?"
    )
    assert chat.do(carol, "/join bob/secret").last_info() == "Now talking in #bob/secret."


async def test_a_hidden_channel_looks_free_over_ssh(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    bob = await connect(server, "bob", pty=False)
    dave = await connect(server, "dave", pty=False)
    clients += [bob, dave]
    bob.send("/create secret private")
    await bob.expect(r"Created private channel #bob/secret")
    answers = []
    for name in ("secret", "free"):
        dave.send(f"/create bob/{name} private")
        answers.append((await dave.expect(r"error: .*\n")).group(0).replace(name, "NAME"))
        dave.send(f"/join bob/{name}")
        answers.append((await dave.expect(r"error: .*\n")).group(0).replace(name, "NAME"))
    assert answers[:2] == answers[2:]
    dave.send("/create secret")
    await dave.expect(r"Created channel #secret; you own it\.")
