"""What a logged-in user can still do to others who muted (admin), ignored or hid from them.

Hub unit tests with recording sinks first, then the same over real SSH. The
mute, ignore and private-channel rules are described in the README ("Safety").
"""

from __future__ import annotations

import pytest
from conftest import ChatClient, connect
from test_commands import Chat

from sshchat.app import RunningServer

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
    assert dave.away == "away"
    for line in ("/users", "/whois dave"):
        text = muted.chat.do(muted.bob, line).last_info()
        assert "everyone reads" not in text and "away (away)" in text
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
