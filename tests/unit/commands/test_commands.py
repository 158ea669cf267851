"""Slash-commands driven through handle_line against a real Hub (no SSH)."""

from __future__ import annotations

import re

import pytest
from helpers.hubs import Chat

from sshchat.commands import build_registry
from sshchat.commands.registry import Outcome, handle_line
from sshchat.config.schema import NAME_RULE
from sshchat.core.events import ChatMessage, History, Notice, Presence, PresenceKind


@pytest.fixture
def chat() -> Chat:
    return Chat()


# -- parsing and dispatch ----------------------------------------------------------


@pytest.mark.parametrize("line", ["/JOIN dev", "/Join dev", "/jOiN #dev"])
def test_command_names_are_case_insensitive(chat: Chat, line: str) -> None:
    a = chat.connect("alice")
    chat.do(a, "/create dev")
    chat.do(a, "/join lobby")
    sink = chat.do(a, line)
    assert sink.errors() == []
    assert a.current.name == "dev"


@pytest.mark.parametrize(
    ("line", "usage"),
    [
        ("/join", "usage: /join NAME"),
        ("/join a b", "usage: /join NAME"),
        ("/create", "usage: /create NAME [private]"),
        ("/create a private extra", "usage: /create NAME [private]"),
        ("/create a secret", "usage: /create NAME [private]"),
        ("/msg", "usage: /msg NICK TEXT"),
        ("/msg bob", "usage: /msg NICK TEXT"),
        ("/msg bob    ", "usage: /msg NICK TEXT"),
        ("/nick", "usage: /nick NEW"),
        ("/nick two words", "usage: /nick NEW"),
        ("/invite", "usage: /invite NICK"),
        ("/whois", "usage: /whois NICK"),
        ("/me", "usage: /me ACTION"),
        ("/me   ", "usage: /me ACTION"),
        ("/leave now", "usage: /leave"),
        ("/back now", "usage: /back"),
        ("/list a b", "usage: /list [PAGE|WORD]"),
        ("/who all", "usage: /who"),
        ("/users all", "usage: /users"),
        ("/quit now", "usage: /quit"),
        ("/help a b", "usage: /help [COMMAND]"),
        ("/broadcast", "usage: /broadcast TEXT"),
    ],
)
def test_wrong_usage_prints_usage(chat: Chat, line: str, usage: str) -> None:
    a = chat.connect("alice")
    b = chat.connect("bob")
    chat.clear()
    sink = chat.do(a, line)
    assert usage in sink.last_error()
    assert chat.sink(b).events == []
    assert a.current.name == "lobby"


@pytest.mark.parametrize("sep", ["\t", "  ", " \t ", "\u00a0"])
def test_any_whitespace_separates_command_and_arguments(chat: Chat, sep: str) -> None:
    a = chat.connect("alice")
    b = chat.connect("bob")
    chat.clear()
    assert chat.do(a, f"/create{sep}dev").errors() == []
    assert a.current.name == "dev"
    assert chat.do(a, f"/msg{sep}bob{sep}hi there").errors() == []
    assert [e.text for e in chat.sink(b).events if not isinstance(e, Notice)] == ["hi there"]


def test_unknown_command_mentions_help(chat: Chat) -> None:
    a = chat.connect("alice")
    error = chat.do(a, "/frobnicate now").last_error()
    assert "/frobnicate" in error and "/help" in error
    assert "Did you mean" not in error


@pytest.mark.parametrize(("typo", "meant"), [("jion", "join"), ("lsit", "list"), ("WHOS", "who")])
def test_unknown_command_suggests_near_miss(chat: Chat, typo: str, meant: str) -> None:
    a = chat.connect("alice")
    error = chat.do(a, f"/{typo} x").last_error()
    assert f"/{meant}" in error and "/help" in error


def test_lone_slash_is_an_unknown_command(chat: Chat) -> None:
    a = chat.connect("alice")
    b = chat.connect("bob")
    chat.clear()
    assert "/help" in chat.do(a, "/").last_error()
    assert chat.sink(b).events == []


def test_unknown_command_name_is_sanitized_in_error(chat: Chat) -> None:
    a = chat.connect("alice")
    error = chat.do(a, "/\x1b[31mzap\x07").last_error()
    assert "\x1b" not in error and "\x07" not in error
    assert "/zap" in error


# -- /help ------------------------------------------------------------------------


def test_help_lists_every_command_a_user_may_use(chat: Chat) -> None:
    a = chat.connect("alice")  # an admin
    b = chat.connect("bob")
    registry = build_registry()
    assert len(registry) >= 30
    admin_text = chat.do(a, "/help").last_info()
    user_text = chat.do(b, "/help").last_info()
    for cmd in registry:
        entry = rf"(?:^|  )/{cmd.name} +{re.escape(cmd.summary)}(?:  |$)"
        assert re.search(entry, admin_text, re.M), cmd.name
        # Admin-only commands are listed for admins only.
        assert bool(re.search(rf"/{cmd.name}\b", user_text)) is not cmd.admin, cmd.name


@pytest.mark.parametrize("arg", ["join", "/join", "JOIN"])
def test_help_command_shows_usage(chat: Chat, arg: str) -> None:
    a = chat.connect("alice")
    text = chat.do(a, f"/help {arg}").last_info()
    assert text.startswith("usage: /join NAME")


def test_help_unknown_command(chat: Chat) -> None:
    a = chat.connect("alice")
    error = chat.do(a, "/help nope").last_error()
    assert "/nope" in error and "/help" in error


# -- /list ------------------------------------------------------------------------


def test_list_shows_channels_counts_and_topics(chat: Chat) -> None:
    a = chat.connect("alice")
    b = chat.connect("bob")
    chat.connect("carol")
    chat.do(b, "/create dev")
    chat.hub.channels["dev"].topic = "all things dev"
    text = chat.do(a, "/list").last_info()
    lines = text.splitlines()
    lobby = next(line for line in lines if "#lobby" in line)
    dev = next(line for line in lines if "#dev" in line)
    assert "3 members" in lobby
    assert "1 member" in dev and "members" not in dev
    assert "all things dev" in dev


def test_private_channel_hidden_from_non_members_until_invited(chat: Chat) -> None:
    b = chat.connect("bob")
    c = chat.connect("carol")
    d = chat.connect("dave")
    chat.do(b, "/create secret private")
    assert "#bob/secret" in chat.do(b, "/list").last_info()
    assert "#bob/secret" not in chat.do(c, "/list").last_info()
    chat.do(b, "/invite carol")
    listing = chat.do(c, "/list").last_info()
    assert "#bob/secret" in listing and "(private)" in listing
    assert "#bob/secret" not in chat.do(d, "/list").last_info()


def test_admin_sees_private_channels(chat: Chat) -> None:
    a = chat.connect("alice")
    b = chat.connect("bob")
    chat.do(b, "/create secret private")
    assert "#bob/secret" in chat.do(a, "/list").last_info()


# -- /create --------------------------------------------------------------------------


def test_create_owns_and_enters(chat: Chat) -> None:
    b = chat.connect("bob")
    sink = chat.do(b, "/create dev")
    assert "dev" in sink.last_info()
    assert b.current.name == "dev"
    assert chat.hub.channels["dev"].owner == "bob"
    assert not chat.hub.channels["dev"].private
    assert "bob" in chat.hub.channels["dev"].members


def test_create_private(chat: Chat) -> None:
    b = chat.connect("bob")
    sink = chat.do(b, "/create secret PRIVATE")
    assert "private" in sink.last_info() and "/invite" in sink.last_info()
    assert chat.hub.channels["bob/secret"].private
    assert b.current.name == "bob/secret"


def test_create_with_hash_prefix(chat: Chat) -> None:
    b = chat.connect("bob")
    chat.do(b, "/create #dev")
    assert b.current.name == "dev"


@pytest.mark.parametrize("name", ["dev", "DEV", "Dev", "#DeV"])
def test_create_duplicate_name_refused_with_join_hint(chat: Chat, name: str) -> None:
    b = chat.connect("bob")
    c = chat.connect("carol")
    chat.do(b, "/create dev")
    error = chat.do(c, f"/create {name}").last_error()
    assert "already exists" in error and "/join" in error
    assert c.current.name == "lobby"
    assert chat.hub.channels["dev"].owner == "bob"


def test_create_default_channel_name_refused(chat: Chat) -> None:
    b = chat.connect("bob")
    assert "/join" in chat.do(b, "/create Lobby").last_error()


@pytest.mark.parametrize("name", ["9lives", "-dash", "has.dot", "x" * 25, "caf\u00e9", "#"])
def test_create_invalid_name_refused_with_rule(chat: Chat, name: str) -> None:
    b = chat.connect("bob")
    error = chat.do(b, f"/create {name}").last_error()
    assert NAME_RULE in error
    assert b.current.name == "lobby"
    assert len(chat.hub.channels) == 1


# -- /invite and private channels ------------------------------------------------------


def test_invite_lets_the_invitee_join(chat: Chat) -> None:
    b = chat.connect("bob")
    c = chat.connect("carol")
    chat.do(b, "/create secret private")
    chat.clear()
    assert "carol" in chat.do(b, "/invite carol").last_info()
    told = chat.sink(c).infos()
    assert len(told) == 1 and "#bob/secret" in told[0] and "/join bob/secret" in told[0]
    sink = chat.do(c, "/join secret")  # without the owner's name, as it is the only one
    assert sink.errors() == []
    assert c.current.name == "bob/secret"


def test_uninvited_cannot_join_private_and_it_looks_nonexistent(chat: Chat) -> None:
    b = chat.connect("bob")
    d = chat.connect("dave")
    chat.do(b, "/create secret private")
    error = chat.do(d, "/join secret").last_error()
    assert d.current.name == "lobby"
    assert "dave" not in chat.hub.channels["bob/secret"].members
    # exactly what a channel that does not exist at all produces
    other = Chat()
    d2 = other.connect("dave")
    assert error == other.do(d2, "/join secret").last_error()
    assert (
        chat.do(d, "/join bob/secret").last_error() == other.do(d2, "/join bob/secret").last_error()
    )
    assert "private" not in error and "bob" not in error


def test_whois_does_not_leak_private_channels(chat: Chat) -> None:
    b = chat.connect("bob")
    d = chat.connect("dave")
    chat.do(b, "/create secret private")
    text = chat.do(d, "/whois bob").last_info()
    assert "#bob/secret" not in text and "#lobby" in text


def test_only_owner_or_admin_can_invite_to_private(chat: Chat) -> None:
    a = chat.connect("alice")  # admin
    b = chat.connect("bob")
    c = chat.connect("carol")
    d = chat.connect("dave")
    chat.do(b, "/create secret private")
    chat.do(b, "/invite carol")
    chat.do(c, "/join secret")
    error = chat.do(c, "/invite dave").last_error()
    assert "owner" in error
    assert "dave" not in chat.hub.channels["bob/secret"].invited
    chat.do(a, "/join secret")  # admins may enter any channel
    assert a.current.name == "bob/secret"
    assert chat.do(a, "/invite dave").errors() == []
    assert chat.do(d, "/join secret").errors() == []


def test_only_those_running_a_public_channel_may_invite(chat: Chat) -> None:
    b = chat.connect("bob")
    c = chat.connect("carol")
    d = chat.connect("dave")
    chat.do(b, "/create dev")
    chat.do(c, "/join dev")
    chat.clear()
    assert "only the owner, ops and admins" in chat.do(c, "/invite dave").last_error()
    assert chat.sink(d).infos() == []
    chat.do(b, "/op carol")
    assert chat.do(c, "/invite dave").errors() == []
    assert any("#dev" in t for t in chat.sink(d).infos())


def test_invite_errors(chat: Chat) -> None:
    b = chat.connect("bob")
    chat.connect("carol")
    chat.do(b, "/create secret private")
    assert "no user" in chat.do(b, "/invite nobody").last_error()
    assert "already" in chat.do(b, "/invite bob").last_error()


# -- /join and /leave -----------------------------------------------------------------


def test_join_missing_channel_suggests_create(chat: Chat) -> None:
    b = chat.connect("bob")
    error = chat.do(b, "/join nowhere").last_error()
    assert "#nowhere" in error and "/create nowhere" in error


def test_join_invalid_name_shows_rule(chat: Chat) -> None:
    b = chat.connect("bob")
    assert NAME_RULE in chat.do(b, "/join 9x").last_error()


@pytest.mark.parametrize("arg", ["dev", "#dev", "DEV", "#Dev"])
def test_join_by_name_or_hash_name(chat: Chat, arg: str) -> None:
    a = chat.connect("alice")
    b = chat.connect("bob")
    chat.do(a, "/create dev")
    sink = chat.do(b, f"/join {arg}")
    assert sink.errors() == []
    assert "#dev" in sink.last_info()
    assert b.current.name == "dev"


def test_join_already_joined_switches(chat: Chat) -> None:
    a = chat.connect("alice")
    b = chat.connect("bob")
    chat.do(a, "/create dev")
    chat.do(a, "/create ops")
    chat.clear()
    sink = chat.do(a, "/join #dev")
    assert sink.errors() == [] and a.current.name == "dev"
    assert not [e for e in chat.sink(a).events if isinstance(e, Presence)]
    chat.do(a, "back in dev")
    assert chat.sink(b).events == []


def test_leave_returns_to_default(chat: Chat) -> None:
    a = chat.connect("alice")
    chat.do(a, "/create dev")
    sink = chat.do(a, "/leave")
    assert sink.errors() == []
    assert a.current.name == "lobby"
    assert "#dev" in sink.last_info() and "#lobby" in sink.last_info()
    assert "dev" not in chat.hub.accounts["alice"].channels


def test_default_channel_cannot_be_left(chat: Chat) -> None:
    a = chat.connect("alice")
    b = chat.connect("bob")
    chat.clear()
    error = chat.do(a, "/leave").last_error()
    assert "#lobby" in error
    assert a.current.name == "lobby" and "alice" in chat.hub.default_channel.members
    assert chat.sink(b).events == []


# -- /nick -------------------------------------------------------------------------


@pytest.mark.parametrize("nick", ["alice", "ALICE", "Alice", "a1ice", "AIice", "al1ce", "aLiCe"])
def test_nick_cannot_take_or_mimic_another_login(chat: Chat, nick: str) -> None:
    chat.connect("alice")
    b = chat.connect("bob")
    error = chat.do(b, f"/nick {nick}").last_error()
    assert "alice" in error
    assert chat.hub.accounts["bob"].nick == "bob"


def test_nick_login_protection_holds_while_offline(chat: Chat) -> None:
    b = chat.connect("bob")
    assert chat.do(b, "/nick carol").errors()
    assert chat.do(b, "/nick dave").errors()
    assert chat.hub.accounts["bob"].nick == "bob"


@pytest.mark.parametrize("nick", ["Queen", "queen", "QUEEN", "qUeEn"])
def test_nick_unique_case_insensitive(chat: Chat, nick: str) -> None:
    a = chat.connect("alice")
    c = chat.connect("carol")
    chat.do(a, "/nick queen")
    assert chat.do(c, f"/nick {nick}").errors()
    assert chat.hub.accounts["carol"].nick == "carol"


def test_nick_confusable_with_other_nick_refused(chat: Chat) -> None:
    a = chat.connect("alice")
    c = chat.connect("carol")
    chat.do(a, "/nick b0ss_1")
    for lookalike in ("boss-l", "BOSS_I", "b0ss-1", "bo55_1"):
        assert chat.do(c, f"/nick {lookalike}").errors(), lookalike
    assert chat.hub.accounts["carol"].nick == "carol"


def test_freed_nick_can_be_taken(chat: Chat) -> None:
    a = chat.connect("alice")
    c = chat.connect("carol")
    chat.do(a, "/nick queen")
    chat.do(a, "/nick alice")
    assert chat.do(c, "/nick queen").errors() == []
    assert chat.hub.accounts["carol"].nick == "queen"


@pytest.mark.parametrize("nick", ["9lives", "bad.nick", "x" * 25, "caf\u00e9", "-x", "a!"])
def test_nick_invalid_characters_refused_with_rule(chat: Chat, nick: str) -> None:
    b = chat.connect("bob")
    assert NAME_RULE in chat.do(b, f"/nick {nick}").last_error()
    assert chat.hub.accounts["bob"].nick == "bob"


def test_nick_change_seen_by_channel_mates_and_rendered_for_self(chat: Chat) -> None:
    a = chat.connect("alice")
    b = chat.connect("bob")
    d = chat.connect("dave")
    chat.do(b, "/create dev")
    chat.do(a, "/join dev")
    chat.clear()
    chat.do(a, "/nick queen")
    assert chat.hub.accounts["alice"].nick == "queen"
    for client in (b, d):
        assert any(
            "alice is now known as queen" in line for line in chat.sink(client).rendered("x")
        )
    mine = chat.sink(a).rendered("alice")
    assert any("you are now known as queen" in line for line in mine)
    assert not any("alice is now known as" in line for line in mine)
    # later lines carry the new nick, the login is unchanged
    chat.clear()
    chat.do(a, "hello")
    [msg] = [e for e in chat.sink(b).events if isinstance(e, ChatMessage)]
    assert (msg.sender, msg.nick) == ("alice", "queen")


def test_nick_same_as_current_says_so(chat: Chat) -> None:
    b = chat.connect("bob")
    c = chat.connect("carol")
    chat.clear()
    assert "already known as bob" in chat.do(b, "/nick bob").last_info()
    assert chat.sink(c).events == []


def test_nick_own_login_case_change_allowed(chat: Chat) -> None:
    b = chat.connect("bob")
    assert chat.do(b, "/nick Bob").errors() == []
    assert chat.hub.accounts["bob"].nick == "Bob"


# -- /who, /users, /whois ----------------------------------------------------------------


def test_who_lists_current_channel_with_status(chat: Chat) -> None:
    a = chat.connect("alice")
    b = chat.connect("bob")
    c = chat.connect("carol")
    chat.do(a, "/create dev")
    chat.do(b, "/join dev")
    chat.do(b, "/away lunch break")
    text = chat.do(a, "/who").last_info()
    assert text == "In #dev: alice [owner] [admin], bob (away: lunch break)"
    assert "carol" not in text
    chat.do(c, "/nick cee")
    text = chat.do(c, "/who").last_info()
    assert "cee (carol)" in text


def test_users_lists_everyone_with_last_seen(chat: Chat) -> None:
    a = chat.connect("alice")
    b = chat.connect("bob")
    chat.connect("carol")
    chat.do(b, "/away brb")
    chat.hub.disconnect(chat.hub.accounts["carol"].clients[0])
    text = chat.do(a, "/users").last_info()
    assert "2 of 4 online" in text
    assert "alice: online" in text
    assert "bob: away (brb)" in text
    assert "carol: offline, last seen just now" in text
    assert "dave: offline, never seen" in text


def test_whois_shows_login_nick_status_since_and_key(chat: Chat) -> None:
    b = chat.connect("bob")
    c = chat.connect("carol", key_fingerprint="SHA256:x")
    chat.do(c, "/nick cee")
    text = chat.do(b, "/whois cee").last_info()
    assert text.startswith("cee:")
    assert "login: carol" in text
    assert "status: online" in text
    assert "connected since:" in text and "1 session" in text
    assert "key: SHA256:x" in text
    assert chat.do(b, "/whois CAROL").last_info() == text  # by login too


def test_whois_without_key_and_offline(chat: Chat) -> None:
    a = chat.connect("alice")
    b = chat.connect("bob")
    text = chat.do(b, "/whois alice").last_info()
    assert "login: alice (admin)" in text
    assert "key:" not in text
    text = chat.do(b, "/whois dave").last_info()
    assert "status: offline" in text and "connected since" not in text
    assert "no user" in chat.do(a, "/whois nobody").last_error()


def test_whois_lists_keys_of_all_sessions(chat: Chat) -> None:
    b = chat.connect("bob")
    chat.connect("carol", key_fingerprint="SHA256:one")
    chat.connect("carol", key_fingerprint="SHA256:two")
    chat.connect("carol")
    text = chat.do(b, "/whois carol").last_info()
    assert "key: SHA256:one" in text and "key: SHA256:two" in text
    assert "3 sessions" in text


# -- /msg -------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["bobby", "BOBBY", "bob", "Bob"])
def test_msg_by_nick_or_login_shown_to_both_sides(chat: Chat, target: str) -> None:
    a1 = chat.connect("alice")
    a2 = chat.connect("alice")
    b = chat.connect("bob")
    c = chat.connect("carol")
    chat.do(b, "/nick bobby")
    chat.clear()
    sink = chat.do(a1, f"/msg {target} secret plans  with  spaces")
    assert sink.errors() == []
    assert "[PM to bobby] secret plans  with  spaces" in sink.rendered("alice")[0]
    assert "[PM to bobby]" in chat.sink(a2).rendered("alice")[0]
    assert "[PM from alice] secret plans  with  spaces" in chat.sink(b).rendered("bob")[0]
    assert chat.sink(c).events == []


def test_msg_offline_recipient_gets_it_at_next_login(chat: Chat) -> None:
    a = chat.connect("alice")
    sink = chat.do(a, "/msg dave hello")
    assert "offline and will see it at their next login" in sink.infos()[-1]
    d = chat.connect("dave")
    missed = [e for e in chat.sink(d).events if isinstance(e, History)]
    assert len(missed) == 1 and missed[0].channel is None
    assert [m.text for m in missed[0].messages] == ["hello"]
    assert "no user" in chat.do(a, "/msg nobody hello").last_error()


def test_msg_away_recipient_tells_sender(chat: Chat) -> None:
    a = chat.connect("alice")
    b = chat.connect("bob")
    chat.do(b, "/away in a meeting")
    chat.clear()
    sink = chat.do(a, "/msg bob ping")
    assert sink.infos() == ["bob is away: in a meeting"]
    assert [e.text for e in chat.sink(b).events] == ["ping"]


# -- /me, /away, /back, /broadcast, /quit ------------------------------------------------


def test_me_is_an_action(chat: Chat) -> None:
    a = chat.connect("alice")
    b = chat.connect("bob")
    chat.clear()
    chat.do(a, "/me waves  hello")
    [msg] = chat.sink(b).events
    assert isinstance(msg, ChatMessage) and msg.action and msg.text == "waves  hello"
    assert chat.sink(b).rendered("bob")[0].endswith("* alice waves  hello")


def test_away_and_back(chat: Chat) -> None:
    b = chat.connect("bob")
    sink = chat.do(b, "/away")
    assert chat.hub.accounts["bob"].status == "away"
    assert chat.hub.accounts["bob"].away == ""  # away, without a reason
    assert sink.last_info() == "You are marked away. Type /back when you return."
    chat.do(b, "/away gone fishing")
    assert chat.hub.accounts["bob"].away == "gone fishing"
    assert chat.do(b, "/back").errors() == []
    assert chat.hub.accounts["bob"].status == "online"
    assert "not" in chat.do(b, "/back").last_error()


def test_broadcast_admin_only(chat: Chat) -> None:
    a = chat.connect("alice")
    b = chat.connect("bob")
    chat.clear()
    error = chat.do(b, "/broadcast hello everyone").last_error()
    assert "admins" in error
    assert chat.sink(a).events == []


def test_broadcast_delivered_everywhere(chat: Chat) -> None:
    a = chat.connect("alice")
    b = chat.connect("bob")
    c = chat.connect("carol")
    chat.do(b, "/create secret private")
    chat.do(c, "/create dev")
    chat.clear()
    chat.do(a, "/broadcast maintenance at 5")
    for client, login in ((a, "alice"), (b, "bob"), (c, "carol")):
        lines = chat.sink(client).rendered(login, client.current.name)
        assert lines and lines[0].endswith("[broadcast from alice] maintenance at 5")


def test_quit_returns_quit(chat: Chat) -> None:
    a = chat.connect("alice")
    assert handle_line(chat.hub, a, "/quit") is Outcome.QUIT
    assert handle_line(chat.hub, a, "/QUIT") is Outcome.QUIT
    assert handle_line(chat.hub, a, "/quit now") is Outcome.CONTINUE  # usage error


def test_plain_lines_continue(chat: Chat) -> None:
    a = chat.connect("alice")
    assert handle_line(chat.hub, a, "hello") is Outcome.CONTINUE
    assert handle_line(chat.hub, a, "/who") is Outcome.CONTINUE


def test_presence_kinds_rendered(chat: Chat) -> None:
    b = chat.connect("bob")
    a = chat.connect("alice")
    for client, line in ((a, "/create dev"), (b, "/join dev"), (b, "/leave")):
        handle_line(chat.hub, client, line)
    chat.hub.disconnect(a)
    lines = chat.sink(b).rendered("bob")
    kinds = [e.kind for e in chat.sink(b).events if isinstance(e, Presence)]
    assert kinds == [
        PresenceKind.CONNECT,
        PresenceKind.JOIN,
        PresenceKind.LEAVE,
        PresenceKind.DISCONNECT,
    ]
    text = "\n".join(lines)
    assert "-- alice connected" in text
    assert "-- bob joined #dev" in text
    assert "-- bob left #dev" in text
    assert "-- alice disconnected" in text
