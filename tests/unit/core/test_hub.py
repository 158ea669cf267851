"""The hub without SSH: sessions, presence, fan-out, channels, identity, sanitising.

Clients are connected straight to a :class:`Hub` with a recording sink; user
actions go through :func:`handle_line` like a front end would send them.
"""

from __future__ import annotations

import re

import pytest
from helpers.sinks import RecordingSink as Sink

from sshchat.commands.refusals import refusal_text
from sshchat.commands.registry import handle_line
from sshchat.core.events import (
    Broadcast,
    ChatMessage,
    Presence,
    PresenceKind,
    PrivateMessage,
)
from sshchat.core.hub import Client, Hub, HubError
from sshchat.frontends.render import Renderer

ACCOUNTS = [("alice", True), ("bob", False), ("carol", False), ("dave", False)]


@pytest.fixture
def hub() -> Hub:
    return Hub(ACCOUNTS, default_channel="lobby")


def join(hub: Hub, login: str, **kwargs) -> tuple[Client, Sink]:
    sink = Sink()
    return hub.connect(login, sink, **kwargs), sink


def run(hub: Hub, client: Client, line: str) -> None:
    handle_line(hub, client, line)


def clear(*sinks: Sink) -> None:
    for sink in sinks:
        sink.take()


# -- connecting and presence ----------------------------------------------------


def test_connect_lands_in_default_channel(hub: Hub) -> None:
    a, _ = join(hub, "alice")
    assert a.current is hub.default_channel
    assert a.current.name == "lobby"
    assert "alice" in hub.default_channel.members
    assert hub.accounts["alice"].status == "online"


def test_connect_unknown_login_is_refused(hub: Hub) -> None:
    with pytest.raises(HubError):
        hub.connect("mallory", Sink())


def test_others_get_connect_presence_not_join(hub: Hub) -> None:
    _, bob_sink = join(hub, "bob")
    _, carol_sink = join(hub, "carol")
    clear(bob_sink, carol_sink)
    _, alice_sink = join(hub, "alice")
    for sink in (bob_sink, carol_sink):
        assert sink.presence() == [(PresenceKind.CONNECT, "alice", None)]
    # the newcomer is not told about their own arrival
    assert alice_sink.of(Presence) == []


def test_disconnect_presence_on_last_session_only(hub: Hub) -> None:
    _, bob_sink = join(hub, "bob")
    a1, _ = join(hub, "alice")
    a2, _ = join(hub, "alice")
    clear(bob_sink)
    hub.disconnect(a1)
    assert bob_sink.of(Presence) == []
    assert hub.accounts["alice"].online
    hub.disconnect(a2)
    assert bob_sink.presence() == [(PresenceKind.DISCONNECT, "alice", None)]
    assert not hub.accounts["alice"].online
    assert "alice" in hub.default_channel.members  # membership outlives the session
    assert "alice" not in hub.default_channel.online


def test_disconnect_twice_is_harmless(hub: Hub) -> None:
    _, bob_sink = join(hub, "bob")
    a, _ = join(hub, "alice")
    clear(bob_sink)
    hub.disconnect(a)
    hub.disconnect(a)
    assert bob_sink.presence() == [(PresenceKind.DISCONNECT, "alice", None)]


def test_disconnect_presence_once_per_recipient_across_channels(hub: Hub) -> None:
    a, _ = join(hub, "alice")
    b, bob_sink = join(hub, "bob")
    run(hub, a, "/create dev")
    run(hub, b, "/join dev")
    clear(bob_sink)
    hub.disconnect(a)
    assert bob_sink.presence() == [(PresenceKind.DISCONNECT, "alice", None)]


def test_join_and_leave_presence_go_to_channel_members(hub: Hub) -> None:
    a, alice_sink = join(hub, "alice")
    b, bob_sink = join(hub, "bob")
    _c, carol_sink = join(hub, "carol")
    run(hub, a, "/create dev")
    clear(alice_sink, bob_sink, carol_sink)
    run(hub, b, "/join dev")
    assert alice_sink.presence() == [(PresenceKind.JOIN, "bob", "dev")]
    assert bob_sink.presence() == [(PresenceKind.JOIN, "bob", "dev")]
    assert carol_sink.of(Presence) == []  # not a member of #dev
    clear(alice_sink, bob_sink, carol_sink)
    run(hub, b, "/leave")
    assert alice_sink.presence() == [(PresenceKind.LEAVE, "bob", "dev")]
    assert bob_sink.presence() == [(PresenceKind.LEAVE, "bob", "dev")]
    assert carol_sink.of(Presence) == []


def test_nick_presence_goes_to_members_of_all_my_channels(hub: Hub) -> None:
    a, alice_sink = join(hub, "alice")
    b, bob_sink = join(hub, "bob")
    c, carol_sink = join(hub, "carol")
    run(hub, b, "/create dev")
    run(hub, c, "/create ops")
    run(hub, c, "/leave")  # carol is only in the lobby now
    run(hub, a, "/join dev")
    run(hub, a, "/join ops")
    clear(alice_sink, bob_sink, carol_sink)
    run(hub, a, "/nick queen")
    for sink in (alice_sink, bob_sink, carol_sink):
        nicks = [e for e in sink.of(Presence) if e.kind is PresenceKind.NICK]
        assert len(nicks) == 1, sink.events  # once, although alice shares 2 channels with bob
        assert (nicks[0].login, nicks[0].nick, nicks[0].detail) == ("alice", "alice", "queen")


# -- talking -------------------------------------------------------------------


def test_line_goes_to_every_member_once_and_not_to_others(hub: Hub) -> None:
    a, alice_sink = join(hub, "alice")
    b, bob_sink = join(hub, "bob")
    _c, carol_sink = join(hub, "carol")
    run(hub, a, "/create dev")
    run(hub, b, "/join dev")
    clear(alice_sink, bob_sink, carol_sink)
    run(hub, a, "hello dev")
    assert alice_sink.chats() == ["hello dev"]
    assert bob_sink.chats() == ["hello dev"]
    assert carol_sink.events == []
    msg = bob_sink.of(ChatMessage)[0]
    assert (msg.channel, msg.sender, msg.nick, msg.action) == ("dev", "alice", "alice", False)


def test_each_session_of_a_multi_session_account_gets_a_line_once(hub: Hub) -> None:
    _a1, alice1 = join(hub, "alice")
    _a2, alice2 = join(hub, "alice")
    b, bob_sink = join(hub, "bob")
    clear(alice1, alice2, bob_sink)
    run(hub, b, "hi all")
    assert alice1.chats() == ["hi all"]
    assert alice2.chats() == ["hi all"]
    assert bob_sink.chats() == ["hi all"]


def test_double_slash_sends_literal_slash(hub: Hub) -> None:
    a, alice_sink = join(hub, "alice")
    _b, bob_sink = join(hub, "bob")
    clear(alice_sink, bob_sink)
    run(hub, a, "//join dev")
    assert bob_sink.chats() == ["/join dev"]
    assert alice_sink.errors() == []
    assert "dev" not in hub.channels


def test_blank_line_is_ignored(hub: Hub) -> None:
    a, alice_sink = join(hub, "alice")
    _b, bob_sink = join(hub, "bob")
    clear(alice_sink, bob_sink)
    for line in ("", "   ", "\r\n", "\n"):
        run(hub, a, line)
    assert alice_sink.events == [] and bob_sink.events == []


def test_messages_from_other_joined_channels_still_arrive(hub: Hub) -> None:
    a, alice_sink = join(hub, "alice")
    b, bob_sink = join(hub, "bob")
    run(hub, a, "/create dev")  # alice is now talking in #dev but still in #lobby
    assert a.current.name == "dev"
    clear(alice_sink, bob_sink)
    run(hub, b, "lobby news")
    [msg] = alice_sink.of(ChatMessage)
    assert msg.channel == "lobby" and msg.text == "lobby news"
    [line] = Renderer(color=False, own_login="alice").render(msg, a.current.name)
    assert line.endswith("#lobby <bob> lobby news")
    [line] = Renderer(color=False, own_login="bob").render(msg, b.current.name)
    assert line.endswith(" <bob> lobby news") and "#lobby" not in line


def test_switching_back_to_a_joined_channel(hub: Hub) -> None:
    a, alice_sink = join(hub, "alice")
    _b, bob_sink = join(hub, "bob")
    run(hub, a, "/create dev")
    clear(alice_sink, bob_sink)
    run(hub, a, "/join lobby")
    assert a.current is hub.default_channel
    assert bob_sink.of(Presence) == []  # a switch is not a join
    assert set(hub.accounts["alice"].channels) == {"lobby", "dev"}
    run(hub, a, "in the lobby")
    assert [m.channel for m in bob_sink.of(ChatMessage)] == ["lobby"]


def test_leave_moves_every_session_of_the_account_home(hub: Hub) -> None:
    a1, _ = join(hub, "alice")
    a2, _ = join(hub, "alice")
    run(hub, a1, "/create dev")
    run(hub, a2, "/join dev")
    run(hub, a1, "/leave")
    assert a1.current is hub.default_channel
    assert a2.current is hub.default_channel
    assert "alice" not in hub.channels["dev"].members


def test_private_message_reaches_all_sessions_of_both_sides(hub: Hub) -> None:
    a1, alice1 = join(hub, "alice")
    _a2, alice2 = join(hub, "alice")
    _b1, bob1 = join(hub, "bob")
    _b2, bob2 = join(hub, "bob")
    _c, carol_sink = join(hub, "carol")
    clear(alice1, alice2, bob1, bob2, carol_sink)
    run(hub, a1, "/msg bob psst")
    for sink in (alice1, alice2, bob1, bob2):
        [pm] = sink.of(PrivateMessage)
        assert (pm.sender, pm.recipient, pm.text) == ("alice", "bob", "psst")
    assert carol_sink.events == []


def test_broadcast_reaches_every_online_session_wherever_they_are(hub: Hub) -> None:
    a, alice_sink = join(hub, "alice")
    b, bob_sink = join(hub, "bob")
    c1, carol1 = join(hub, "carol")
    c2, carol2 = join(hub, "carol")
    run(hub, b, "/create private-room private")
    run(hub, c1, "/create elsewhere")  # carol's 1st session talks in #elsewhere
    assert (b.current.name, c1.current.name, c2.current.name) == (
        "bob/private-room",
        "elsewhere",
        "lobby",
    )
    clear(alice_sink, bob_sink, carol1, carol2)
    run(hub, a, "/broadcast server restarts at noon")
    for sink in (alice_sink, bob_sink, carol1, carol2):
        [ev] = sink.of(Broadcast)
        assert (ev.sender, ev.text) == ("alice", "server restarts at noon")


def test_broadcast_refused_for_non_admin_in_hub_too(hub: Hub) -> None:
    b, _ = join(hub, "bob")
    with pytest.raises(HubError) as refused:
        hub.broadcast(b, "hi")
    assert re.search("admins", refusal_text(refused.value))


# -- multi-session accounts ------------------------------------------------------


def test_account_stays_online_until_last_session_ends(hub: Hub) -> None:
    a1, _ = join(hub, "alice")
    a2, _ = join(hub, "alice")
    b, bob_sink = join(hub, "bob")
    hub.disconnect(a1)
    clear(bob_sink)
    run(hub, b, "/users")
    [users] = bob_sink.infos()
    assert "alice: online" in users
    run(hub, b, "/msg alice still there?")
    assert bob_sink.errors() == []
    hub.disconnect(a2)
    clear(bob_sink)
    run(hub, b, "/users")
    [users] = bob_sink.infos()
    assert "alice: offline, last seen just now" in users
    run(hub, b, "/msg alice hello?")
    assert any("offline and will see it" in e for e in bob_sink.infos())


def test_second_session_does_not_announce_or_reset_state(hub: Hub) -> None:
    a1, _ = join(hub, "alice")
    _b, bob_sink = join(hub, "bob")
    run(hub, a1, "/create dev")
    run(hub, a1, "/away lunch")
    clear(bob_sink)
    a2, _alice2 = join(hub, "alice")
    assert bob_sink.events == []
    assert hub.accounts["alice"].away == "lunch"
    assert a2.current is hub.channels["dev"]  # where the account last switched to
    assert set(hub.accounts["alice"].channels) == {"lobby", "dev"}


# -- channels ----------------------------------------------------------------------


def test_private_channel_owner_can_rejoin_after_leaving(hub: Hub) -> None:
    b, bob_sink = join(hub, "bob")
    run(hub, b, "/create secret private")
    run(hub, b, "/leave")
    clear(bob_sink)
    run(hub, b, "/list")
    assert "#bob/secret" in bob_sink.infos()[0]
    run(hub, b, "/join secret")
    assert bob_sink.errors() == []
    assert b.current.name == "bob/secret"


def test_private_channel_owner_can_rejoin_after_reconnecting(hub: Hub) -> None:
    b, _ = join(hub, "bob")
    run(hub, b, "/create secret private")
    hub.disconnect(b)
    b, bob_sink = join(hub, "bob")
    run(hub, b, "/join secret")
    assert bob_sink.errors() == []
    assert b.current.name == "bob/secret"
    run(hub, b, "/invite carol")  # and is in control of it again
    assert bob_sink.errors() == []


def test_invitation_lasts_after_leaving_and_reconnecting(hub: Hub) -> None:
    b, _ = join(hub, "bob")
    c, carol_sink = join(hub, "carol")
    run(hub, b, "/create secret private")
    run(hub, b, "/invite carol")
    run(hub, c, "/join secret")
    run(hub, c, "/leave")
    run(hub, c, "/join secret")
    assert carol_sink.errors() == []
    hub.disconnect(c)
    c, carol_sink = join(hub, "carol")
    run(hub, c, "/join secret")
    assert carol_sink.errors() == []
    assert c.current.name == "bob/secret"


def test_creating_over_a_hidden_private_channel_does_not_suggest_join(hub: Hub) -> None:
    # Only a private channel made before private names were OWNER/NAME can clash.
    hub.restore_channel("secret", owner="bob", private=True)
    d, dave_sink = join(hub, "dave")
    run(hub, d, "/create secret")
    [error] = dave_sink.errors()
    # dave cannot /join it (he is told it does not exist), so pointing him there
    # would send him round in circles.
    assert "/join" not in error
    assert "private" not in error
    assert hub.channels["secret"].owner == "bob"


# -- sanitising -----------------------------------------------------------------

NASTY = [
    ("CSI colour", "\x1b[31mred\x1b[0m", "red"),
    ("CSI clear screen", "\x1b[2J\x1b[Hhome", "home"),
    ("OSC title with BEL", "\x1b]0;pwned\x07title", "title"),
    ("OSC title with ST", "\x1b]0;pwned\x1b\\title", "title"),
    ("OSC 8 hyperlink", "\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link"),
    ("8-bit CSI", "\x9b31mred", "red"),
    ("C0 controls", "b\x07e\x08l\x00l", "bell"),
    ("C1 controls", "c\x80o\x8dn\x9ctro\x81l", "control"),
    ("bidi override", "evil\u202etxt.exe", "eviltxt.exe"),
    ("zero width space", "zero\u200bwidth", "zerowidth"),
    ("BOM", "\ufeffbom", "bom"),
    ("DEL", "de\x7fl", "del"),
]


@pytest.mark.parametrize(("what", "raw", "clean"), NASTY, ids=[n[0] for n in NASTY])
def test_messages_arrive_cleaned(hub: Hub, what: str, raw: str, clean: str) -> None:
    a, _ = join(hub, "alice")
    _b, bob_sink = join(hub, "bob")
    clear(bob_sink)
    run(hub, a, f"say {raw} now")
    assert bob_sink.chats() == [f"say {clean} now"]
    run(hub, a, f"/msg bob {raw}")
    assert [pm.text for pm in bob_sink.of(PrivateMessage)] == [clean]
    run(hub, a, f"/me {raw}")
    assert bob_sink.chats()[-1] == clean
    run(hub, a, f"/broadcast {raw}")
    assert [e.text for e in bob_sink.of(Broadcast)] == [clean]


NASTY_NAMES = [
    ("CSI", "\x1b[31mrobert\x1b[0m"),
    ("OSC BEL", "\x1b]0;x\x07robert"),
    ("OSC ST", "rob\x1b]2;x\x1b\\ert"),
    ("8-bit CSI", "\x9b1mrobert"),
    ("C1", "rob\x9cer\x80t"),
    ("bidi", "\u202erobert"),
    ("zero width", "rob\u200bert\ufeff"),
]


@pytest.mark.parametrize(("what", "raw"), NASTY_NAMES, ids=[n[0] for n in NASTY_NAMES])
def test_nicks_and_channel_names_arrive_cleaned(hub: Hub, what: str, raw: str) -> None:
    a, alice_sink = join(hub, "alice")
    b, bob_sink = join(hub, "bob")
    clear(alice_sink, bob_sink)
    run(hub, b, f"/nick {raw}")
    assert bob_sink.errors() == []
    assert hub.accounts["bob"].nick == "robert"
    [ev] = alice_sink.of(Presence)
    assert ev.detail == "robert"
    run(hub, a, f"/create {raw}")
    assert alice_sink.errors() == []
    assert "robert" in hub.channels
    assert hub.channels["robert"].name == "robert"
    run(hub, b, f"/join #{raw}")
    assert bob_sink.errors() == []
    assert b.current.name == "robert"


def test_away_reason_arrives_cleaned(hub: Hub) -> None:
    a, alice_sink = join(hub, "alice")
    b, _bob_sink = join(hub, "bob")
    run(hub, b, "/away \x1b]0;x\x07out \x1b[5mto\u202e lunch\u200b\x9b2J")
    assert hub.accounts["bob"].away == "out to lunch"
    clear(alice_sink)
    run(hub, a, "/msg bob hi")
    assert alice_sink.infos() == ["bob is away: out to lunch"]


def test_away_reason_is_capped(hub: Hub) -> None:
    b, _ = join(hub, "bob")
    run(hub, b, "/away " + "z" * 1000)
    away = hub.accounts["bob"].away
    assert away is not None and 0 < len(away) <= 200


@pytest.mark.parametrize("line", ["\x1b[31m", "\x07\x1b]0;t\x07", "\u200b\ufeff\u202e", "\x9b2J"])
def test_message_of_only_controls_is_refused(hub: Hub, line: str) -> None:
    a, alice_sink = join(hub, "alice")
    _b, bob_sink = join(hub, "bob")
    clear(alice_sink, bob_sink)
    run(hub, a, line)
    assert alice_sink.errors() == ["nothing to send"]
    assert bob_sink.events == []
    run(hub, a, f"/msg bob {line}")
    assert alice_sink.errors()[-1] == "nothing to send"
    assert bob_sink.events == []


def test_message_at_limit_is_sent_and_over_limit_refused_not_truncated() -> None:
    hub = Hub(ACCOUNTS, default_channel="lobby", max_text=50)
    a, alice_sink = join(hub, "alice")
    _b, bob_sink = join(hub, "bob")
    clear(alice_sink, bob_sink)
    run(hub, a, "x" * 50)
    assert bob_sink.chats() == ["x" * 50]
    clear(alice_sink, bob_sink)
    run(hub, a, "y" * 51)
    assert bob_sink.events == []
    [error] = alice_sink.errors()
    assert "too long" in error and "51" in error and "50" in error
    run(hub, a, "/msg bob " + "y" * 51)
    run(hub, a, "/broadcast " + "y" * 51)
    assert bob_sink.events == []
    assert len(alice_sink.errors()) == 3


def test_length_limit_counts_cleaned_text() -> None:
    hub = Hub(ACCOUNTS, default_channel="lobby", max_text=10)
    a, _alice_sink = join(hub, "alice")
    _b, bob_sink = join(hub, "bob")
    clear(bob_sink)
    run(hub, a, "\x1b[31m" * 20 + "0123456789")
    assert bob_sink.chats() == ["0123456789"]
