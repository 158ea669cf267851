"""Channel membership belongs to the account: it outlives sessions, until /leave or a kick.

Hub unit tests (no SSH): reconnecting, presence, /who and /list, the line
"who is online" at login, history on landing and switching, ignores in
history, and fan-out that does not touch offline members.
"""

from __future__ import annotations

import pytest
from helpers.sinks import RecordingSink as Sink

from sshchat.commands.people import WHO_OFFLINE_NAMES
from sshchat.commands.refusals import online_text
from sshchat.commands.registry import handle_line
from sshchat.core import facts as f
from sshchat.core.events import ChatMessage, History, OnlineNow, PresenceKind, PrivateMessage
from sshchat.core.hub import Account, Client, Hub
from sshchat.core.model import ONLINE_NAMES

ACCOUNTS = [("alice", True), ("bob", False), ("carol", False), ("dave", False)]


@pytest.fixture
def hub() -> Hub:
    return Hub(ACCOUNTS, default_channel="lobby")


def login(hub: Hub, name: str) -> tuple[Client, Sink]:
    sink = Sink()
    return hub.connect(name, sink), sink


def run(hub: Hub, client: Client, *lines: str) -> None:
    for line in lines:
        handle_line(hub, client, line)


def said(hub: Hub, client: Client, line: str) -> str:
    """What ``client`` is told in reply to ``line`` (the last info notice)."""
    sink = client.sink
    assert isinstance(sink, Sink)
    sink.take()
    handle_line(hub, client, line)
    return sink.last_info()


def quit_all(hub: Hub, name: str) -> None:
    for client in list(hub.accounts[name].clients):
        hub.disconnect(client)


def consistent(hub: Hub) -> None:
    """The three views of membership agree; ``online`` is exactly the members with a session."""
    for channel in hub.channels.values():
        for login_, account in channel.members.items():
            assert account.channels.get(channel.name) is channel
            assert hub.accounts[login_] is account
        assert channel.online == {k: a for k, a in channel.members.items() if a.online}
    for account in hub.accounts.values():
        for channel in account.channels.values():
            assert channel.members.get(account.login) is account
        for client in account.clients:
            assert client.current.name in account.channels


# -- 1. membership outlives sessions -------------------------------------------------


def test_a_member_stays_a_member_across_a_reconnect(hub: Hub) -> None:
    alice, _ = login(hub, "alice")
    bob, _ = login(hub, "bob")
    run(hub, alice, "/create dev")
    run(hub, bob, "/join dev")
    quit_all(hub, "bob")
    dev = hub.channels["dev"]
    assert "bob" in dev.members and "bob" not in dev.online
    assert set(hub.accounts["bob"].channels) == {"lobby", "dev"}
    consistent(hub)

    bob, _ = login(hub, "bob")
    assert set(hub.accounts["bob"].channels) == {"lobby", "dev"}
    assert "bob" in dev.online and "bob" in hub.default_channel.online
    assert bob.current is dev  # the channel he used last
    run(hub, bob, "back in dev")
    assert [m.text for m in dev.history] == ["back in dev"]
    consistent(hub)


def test_the_owner_of_a_private_channel_keeps_it_while_offline(hub: Hub) -> None:
    alice, _ = login(hub, "alice")
    bob, _ = login(hub, "bob")
    run(hub, bob, "/create secret private")
    quit_all(hub, "bob")
    listing = said(hub, alice, "/list")  # an admin sees private channels
    assert "#bob/secret (private)  0/1 member" in listing
    bob, _ = login(hub, "bob")
    assert bob.current is hub.channels["bob/secret"]
    assert "#bob/secret (private) *  1/1 member" in said(hub, bob, "/list")


def test_leave_and_kick_end_membership_and_the_next_login_lands_home(hub: Hub) -> None:
    alice, _ = login(hub, "alice")
    bob, _ = login(hub, "bob")
    carol, _ = login(hub, "carol")
    run(hub, alice, "/create dev")
    run(hub, bob, "/join dev")
    run(hub, carol, "/join dev")
    run(hub, bob, "/leave")
    run(hub, alice, "/kick carol")
    for name in ("bob", "carol"):
        assert hub.accounts[name].last_channel is None
        quit_all(hub, name)
        client, _ = login(hub, name)
        assert client.current is hub.default_channel
        assert name not in hub.channels["dev"].members
    consistent(hub)


def test_a_ban_ends_sessions_but_not_membership(hub: Hub) -> None:
    alice, _ = login(hub, "alice")
    bob, _ = login(hub, "bob")
    run(hub, alice, "/create dev")
    run(hub, bob, "/join dev")
    run(hub, alice, "/ban bob 10m spam")
    assert not hub.accounts["bob"].online
    assert "bob (offline)" in said(hub, alice, "/who")
    run(hub, alice, "/unban bob")
    bob, _ = login(hub, "bob")
    assert bob.current is hub.channels["dev"]
    consistent(hub)


def test_a_removed_account_leaves_its_channels(hub: Hub) -> None:
    alice, _ = login(hub, "alice")
    bob, _ = login(hub, "bob")
    run(hub, alice, "/create dev")
    run(hub, bob, "/join dev")
    quit_all(hub, "bob")
    hub.sync_accounts([("alice", True), ("carol", False), ("dave", False)], "gone")
    assert "bob" not in hub.channels["dev"].members
    assert "bob" not in hub.default_channel.members
    consistent(hub)


def test_the_first_login_joins_the_home_channel_by_a_fact(hub: Hub) -> None:
    recorded: list[f.Fact] = []
    hub.observers.append(recorded.append)
    login(hub, "bob")
    quit_all(hub, "bob")
    login(hub, "bob")
    opened = [x for x in recorded if isinstance(x, f.SessionOpened)]
    assert [x.home for x in opened] == ["lobby", None]  # the store keeps what the fact says


# -- 2. presence, /who, /list --------------------------------------------------------------


def test_reconnecting_says_connected_not_joined(hub: Hub) -> None:
    alice, alice_sink = login(hub, "alice")
    bob, _ = login(hub, "bob")
    run(hub, alice, "/create dev")
    run(hub, bob, "/join dev")
    alice_sink.take()
    quit_all(hub, "bob")
    login(hub, "bob")
    assert alice_sink.presence() == [
        (PresenceKind.DISCONNECT, "bob", None),
        (PresenceKind.CONNECT, "bob", None),
    ]
    bob = hub.accounts["bob"].clients[0]
    alice_sink.take()
    run(hub, bob, "/join lobby", "/join dev")  # switches: no join lines
    assert alice_sink.presence() == []


def test_who_lists_offline_members_last(hub: Hub) -> None:
    alice, _ = login(hub, "alice")
    for name in ("dave", "carol", "bob"):
        login(hub, name)
    bob = hub.accounts["bob"].clients[0]
    run(hub, bob, "/away lunch")
    run(hub, hub.accounts["dave"].clients[0], "/nick zed")
    quit_all(hub, "carol")
    quit_all(hub, "dave")
    assert said(hub, alice, "/who") == (
        "In #lobby: alice [admin], bob (away: lunch), carol (offline), zed (dave) (offline)"
    )


def test_who_in_a_big_channel_counts_the_offline_members() -> None:
    logins = [f"user{i:03}" for i in range(WHO_OFFLINE_NAMES + 6)]
    hub = Hub([(name, False) for name in logins], default_channel="lobby")
    for name in logins:
        login(hub, name)
    for name in logins[5:]:
        quit_all(hub, name)
    first = hub.accounts[logins[0]].clients[0]
    text = said(hub, first, "/who")
    assert text == (
        f"In #lobby (5 of {len(logins)} online): user000, user001, user002, user003, user004,"
        f" and {len(logins) - 5} offline"
    )


def test_list_shows_online_and_total_members(hub: Hub) -> None:
    alice, _ = login(hub, "alice")
    bob, _ = login(hub, "bob")
    carol, _ = login(hub, "carol")
    run(hub, alice, "/create dev", "/topic plans")
    run(hub, bob, "/join dev")
    run(hub, carol, "/join dev")
    quit_all(hub, "carol")
    text = said(hub, alice, "/list")
    assert "  #dev *  2/3 members  plans" in text
    assert "  #lobby  2/3 members" in text


# -- 3. logging in: back in every channel, history of the current one only ------------


def test_login_shows_the_history_of_the_current_channel_only(hub: Hub) -> None:
    alice, _ = login(hub, "alice")
    bob, _ = login(hub, "bob")
    run(hub, alice, "/create dev")
    run(hub, bob, "/join dev", "in dev", "/join lobby", "in the lobby", "/join dev")
    quit_all(hub, "bob")
    run(hub, alice, "/join lobby", "lobby news")
    bob, bob_sink = login(hub, "bob")
    histories = bob_sink.of(History)
    assert [(h.channel, [m.text for m in h.messages]) for h in histories] == [("dev", ["in dev"])]
    bob_sink.take()
    run(hub, alice, "more lobby news")  # another channel's line arrives tagged, as it is said
    assert [(m.channel, m.text) for m in bob_sink.of(ChatMessage)] == [("lobby", "more lobby news")]
    bob_sink.take()
    run(hub, bob, "/join lobby")  # its history, not yet shown to this session
    [history] = bob_sink.of(History)
    assert [m.text for m in history.messages] == ["in the lobby", "lobby news", "more lobby news"]
    bob_sink.take()
    run(hub, bob, "/join dev", "/join lobby")  # once per session
    assert bob_sink.of(History) == []


def test_the_last_channel_is_per_account_and_follows_switches(hub: Hub) -> None:
    alice1, _ = login(hub, "alice")
    alice2, _ = login(hub, "alice")
    run(hub, alice1, "/create dev", "/create ops")
    assert hub.accounts["alice"].last_channel == "ops"
    run(hub, alice2, "/join dev")
    assert hub.accounts["alice"].last_channel == "dev"
    run(hub, alice1, "/join lobby")
    assert hub.accounts["alice"].last_channel == "lobby"
    quit_all(hub, "alice")
    alice, _ = login(hub, "alice")
    assert alice.current is hub.default_channel
    run(hub, alice, "/join ops", "/leave")
    assert hub.accounts["alice"].last_channel is None


# -- 4. /ignore applies to history ------------------------------------------------------


def test_ignored_lines_stay_out_of_history(hub: Hub) -> None:
    alice, _ = login(hub, "alice")
    bob, _ = login(hub, "bob")
    carol, _ = login(hub, "carol")
    run(hub, alice, "/create dev")
    run(hub, bob, "/join dev")
    for i in range(3):
        run(hub, alice, f"alice {i}")
        run(hub, bob, f"bob {i}")
    run(hub, carol, "/ignore bob")
    sink = carol.sink
    assert isinstance(sink, Sink)
    sink.take()
    run(hub, carol, "/join dev")  # on joining
    [history] = sink.of(History)
    assert [m.text for m in history.messages] == ["alice 0", "alice 1", "alice 2"]

    sink.take()
    run(hub, carol, "/history 2")  # the last 2 lines carol can see
    [history] = sink.of(History)
    assert [m.text for m in history.messages] == ["alice 1", "alice 2"]

    quit_all(hub, "carol")
    run(hub, bob, "/msg carol psst")
    run(hub, alice, "/msg carol hello")
    carol, sink = login(hub, "carol")  # on reconnecting: the channel, and waiting PMs
    lines = [m.text for h in sink.of(History) for m in h.messages]
    assert lines == ["alice 0", "alice 1", "alice 2", "hello"]
    assert all(
        isinstance(m, (ChatMessage, PrivateMessage)) and m.sender != "bob"
        for h in sink.of(History)
        for m in h.messages
    )


# -- 5. who is online, at login --------------------------------------------------------------


def test_login_says_who_is_online_in_the_current_channel(hub: Hub) -> None:
    for name in ("dave", "bob", "carol"):
        login(hub, name)
    quit_all(hub, "carol")
    _, sink = login(hub, "alice")
    [online] = sink.of(OnlineNow)
    assert online_text(online) == "You are in #lobby: 3 online: alice, bob, dave"
    assert sink.events[-1] is online  # after the history and waiting messages
    assert sink.rendered("alice")[-1].endswith("-- You are in #lobby: 3 online: alice, bob, dave")


def test_login_into_a_big_channel_gives_a_count() -> None:
    logins = [f"user{i:03}" for i in range(ONLINE_NAMES + 1)]
    hub = Hub([(name, False) for name in logins], default_channel="lobby")
    for name in logins[:-1]:
        login(hub, name)
    _, sink = login(hub, logins[-1])
    [online] = sink.of(OnlineNow)
    assert online_text(online) == f"You are in #lobby: {ONLINE_NAMES + 1} online"


# -- 6. fan-out touches online members only ----------------------------------------------------


class _Untouchable(list):  # type: ignore[type-arg]
    """An offline account's session list that fails the test if fan-out walks it."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        raise AssertionError("an offline member was iterated by fan-out")


def test_fanout_does_not_iterate_offline_members(hub: Hub) -> None:
    alice, alice_sink = login(hub, "alice")
    bob, _ = login(hub, "bob")
    carol, _ = login(hub, "carol")
    run(hub, alice, "/create dev")
    run(hub, bob, "/join dev")
    run(hub, carol, "/join dev")
    quit_all(hub, "bob")
    quit_all(hub, "carol")
    offline: list[Account] = [hub.accounts["bob"], hub.accounts["carol"]]
    for account in offline:
        account.clients = _Untouchable()
    before = hub.stats.deliveries
    alice_sink.take()
    run(hub, alice, "hello", "/me waves", "/topic new topic", "/nick queen")
    assert hub.stats.deliveries - before == 4  # alice alone reads #dev
    assert len(alice_sink.of(ChatMessage)) == 2


# -- the digest covers the new state ----------------------------------------------------------


def test_the_digest_covers_last_channel_offline_membership_and_shown_history(hub: Hub) -> None:
    alice, _ = login(hub, "alice")
    bob, _ = login(hub, "bob")
    run(hub, alice, "/create dev")
    run(hub, bob, "/join dev")
    quit_all(hub, "bob")
    digest = hub.digest()
    bob_account = hub.accounts["bob"]
    for change, undo in [
        (
            lambda: setattr(bob_account, "last_channel", None),
            lambda: setattr(bob_account, "last_channel", "dev"),
        ),
        (
            lambda: hub.channels["dev"].members.pop("bob"),
            lambda: hub.channels["dev"].members.__setitem__("bob", bob_account),
        ),
        (
            lambda: hub.channels["dev"].online.__setitem__("bob", bob_account),
            lambda: hub.channels["dev"].online.pop("bob"),
        ),
        (lambda: alice.shown.discard("dev"), lambda: alice.shown.add("dev")),
    ]:
        change()
        assert hub.digest() != digest
        undo()
        assert hub.digest() == digest
