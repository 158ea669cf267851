"""Declared arguments, the registry as a value, /help layout, aliases and the UX items.

Unit tests against the registry and a real Hub with recording sinks (no SSH);
the end-to-end checks are in test_help_over_ssh.py.
"""

from __future__ import annotations

import re

import pytest
from helpers.hubs import Chat
from helpers.sinks import RecordingSink
from hypothesis import given
from hypothesis import strategies as st

from sshchat.commands import build_registry
from sshchat.commands.args import (
    ArgError,
    Kind,
    choice,
    duration,
    expected,
    integer,
    on_off,
    parse,
    text,
    user,
    word,
)
from sshchat.commands.completion import candidates, format_candidates
from sshchat.commands.help import help_list
from sshchat.commands.layout import columns, wrap
from sshchat.commands.registry import (
    Command,
    CommandRegistry,
    Context,
    Outcome,
    Session,
    Topic,
    command,
    handle_line,
)
from sshchat.core.hub import Hub


@pytest.fixture
def chat() -> Chat:
    return Chat()


# -- argument declarations and parsing ------------------------------------------------

BAN = (user("USER"), duration(), text("REASON", optional=True))


def test_parse_converts_declared_types() -> None:
    assert parse(BAN, " bob 1d  spam  and eggs") == {
        "user": "bob",
        "duration": 86400.0,
        "reason": "spam  and eggs",
    }
    # An optional argument whose word does not fit leaves it to the next one.
    assert parse(BAN, "bob spam") == {"user": "bob", "duration": None, "reason": "spam"}
    assert parse(BAN, "bob") == {"user": "bob", "duration": None, "reason": None}
    assert parse((on_off(),), "YES") == {"setting": "on"}
    assert parse((integer("N", minimum=1, optional=True),), "") == {"n": None}
    assert parse((integer("N", minimum=1),), "12") == {"n": 12}


@pytest.mark.parametrize(
    ("args", "argtext", "problem"),
    [
        ((user("NICK"),), "", "NICK is missing"),
        ((user("NICK"), text("TEXT")), "bob   ", "TEXT is missing"),
        ((word("NEW"),), "two words", "'words' is more than it takes"),
        ((user("USER"), duration()), "bob soon", "'soon' is not a DURATION"),
        ((integer("N", minimum=1),), "0", "N is a whole number from 1 up, not '0'"),
        ((integer("N", minimum=1),), "１２", "N is a whole number"),  # full-width digits
        ((choice("on", "off", "mentions"),), "loud", "expected on, off or mentions, not 'loud'"),
    ],
)
def test_parse_refuses_with_what_was_wrong(args: tuple, argtext: str, problem: str) -> None:
    with pytest.raises(ArgError) as err:
        parse(args, argtext)
    assert problem in str(err.value)


def test_long_words_are_shortened_in_messages() -> None:
    with pytest.raises(ArgError) as err:
        parse((duration(optional=False),), "x" * 5000)
    assert len(str(err.value)) < 100


@given(st.text(max_size=60))
def test_parse_never_raises_anything_but_arg_error(argtext: str) -> None:
    for cmd in build_registry():
        try:
            values = parse(cmd.args, argtext)
        except ArgError:
            continue
        assert set(values) == {arg.key for arg in cmd.args}


def test_expected_follows_the_parser() -> None:
    kinds = lambda words: [a.kind for a in expected(BAN, words)]  # noqa: E731
    assert kinds([]) == [Kind.USER]
    assert kinds(["bob"]) == [Kind.DURATION, Kind.TEXT]
    assert kinds(["bob", "1d"]) == [Kind.TEXT]
    assert kinds(["bob", "spam"]) == [Kind.TEXT]  # no duration: the reason goes on
    assert kinds(["bob", "1d", "x", "y"]) == [Kind.TEXT]
    assert expected((user("NICK"),), ["bob"]) == []


def test_declarations_that_cannot_be_parsed_are_refused() -> None:
    def handler(ctx: Context, text: str, nick: str) -> None:
        pass

    with pytest.raises(ValueError, match="only the last"):
        Command("x", handler, (text("TEXT"), user("NICK")))

    def wrong_names(ctx: Context, who: str) -> None:
        pass

    with pytest.raises(TypeError, match="/y: the handler takes"):
        Command("y", wrong_names, (user("NICK"),))


# -- the registry is a value ------------------------------------------------------------


def test_each_build_is_a_new_registry_that_can_be_extended(chat: Chat) -> None:
    first, second = build_registry(), build_registry()
    assert first is not second and first.names() == second.names()

    @command("roll", integer("SIDES", minimum=2), summary="roll a die", topic=Topic.CHATTING)
    def roll(ctx: Context, sides: int) -> None:
        ctx.reply(f"rolled a d{sides}")

    first.add(roll)
    a = chat.connect("alice")
    sink = chat.sink(a)
    handle_line(chat.hub, a, "/roll 6", first)
    assert sink.last_info() == "rolled a d6"
    assert "/roll" in "\n".join(help_list(first, admin=False, width=80))
    handle_line(chat.hub, a, "/roll 6", second)  # the other registry does not have it
    assert "unknown command /roll" in sink.last_error()
    with pytest.raises(ValueError, match="already taken"):
        first.add(roll)


def test_an_alias_cannot_shadow_a_command() -> None:
    def handler(ctx: Context) -> None:
        pass

    registry = build_registry()
    with pytest.raises(ValueError, match="/who"):
        registry.add(Command("people", handler, aliases=("who",)))


# -- aliases ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("names", "who"),
        ("part", "leave"),
        ("j", "join"),
        ("exit", "quit"),
        ("query", "msg"),
        ("w", "msg"),
    ],
)
def test_aliases_run_the_command_and_show_in_its_help(chat: Chat, alias: str, name: str) -> None:
    registry = build_registry()
    assert registry.get(alias) is registry.get(name)
    a = chat.connect("alice")
    text = chat.do(a, f"/help {alias}").last_info()
    assert text.startswith(f"usage: /{name}")
    assert re.search(rf"aliases: .*/{alias}\b", text)
    listing = chat.do(a, "/help").last_info()
    assert not re.search(rf"/{alias}\b", listing)  # not a line of its own


def test_alias_behaviour(chat: Chat) -> None:
    a = chat.connect("alice")
    b = chat.connect("bob")
    chat.do(a, "/create dev")
    assert chat.do(b, "/J #dev").errors() == []
    assert b.current.name == "dev"
    assert "bob" in chat.do(a, "/names").last_info()
    chat.do(b, "/part")
    assert b.current.name == "lobby"
    chat.clear()
    chat.do(a, "/w bob psst")
    chat.do(a, "/query bob again")
    assert chat.sink(b).texts() == ["psst", "again"]
    assert handle_line(chat.hub, a, "/exit") is Outcome.QUIT
    assert handle_line(chat.hub, a, "/EXIT") is Outcome.QUIT
    assert handle_line(chat.hub, a, "/exit now") is Outcome.CONTINUE


def test_exit_is_never_rate_limited_like_quit() -> None:
    hub = Hub([("alice", False)], message_burst=1, message_rate=0.001)
    alice = hub.connect("alice", RecordingSink())
    handle_line(hub, alice, "one")
    handle_line(hub, alice, "two")  # over the limit now
    assert handle_line(hub, alice, "/exit") is Outcome.QUIT


# -- /help -------------------------------------------------------------------------------


@pytest.mark.parametrize("admin", [False, True])
def test_help_fits_80x24_grouped_by_topic(admin: bool) -> None:
    lines = help_list(build_registry(), admin=admin, width=80)
    assert len(lines) <= 24
    assert all(len(line) <= 80 for line in lines)
    headers = [line for line in lines[1:] if not line.startswith(" ") and line.endswith(":")]
    assert headers == ["Chatting:", "Channels:", "People:", "Settings:", "Moderation:"]


@pytest.mark.parametrize("width", [20, 30, 40, 55, 79, 120])
def test_help_wraps_at_word_boundaries_to_the_width(width: int) -> None:
    registry = build_registry()
    lines = help_list(registry, admin=True, width=width)
    text = "\n".join(lines)
    assert all(len(line) <= width for line in lines), [ln for ln in lines if len(ln) > width]
    # Nothing broken mid-word: every summary's words come in order, each whole.
    for cmd in registry:
        summary = r"\s+".join(re.escape(w) for w in cmd.summary.split())
        assert re.search(rf"(?:^|\s)/{cmd.name}\s+{summary}(?:\s|$)", text), cmd.name


def test_help_uses_the_session_width_and_plain_mode_gets_80(chat: Chat) -> None:
    a = chat.connect("alice")
    sink = chat.sink(a)
    handle_line(chat.hub, a, "/help", session=Session(width=32, pty=True))
    assert max(len(line) for line in sink.last_info().splitlines()) <= 32
    handle_line(chat.hub, a, "/help", session=Session(width=200, pty=True))
    assert max(len(line) for line in sink.last_info().splitlines()) > 80
    handle_line(chat.hub, a, "/help")  # plain line mode
    wide = sink.last_info().splitlines()
    assert max(len(line) for line in wide) <= 80
    assert any(len(line) > 60 for line in wide)  # two commands a line, not one


def test_help_hides_admin_commands_from_others(chat: Chat) -> None:
    b = chat.connect("bob")
    listing = chat.do(b, "/help").last_info()
    for name in ("ban", "unban", "mute", "unmute", "broadcast"):
        assert f"/{name}" not in listing
    assert "/kick" in listing  # channel owners and ops may kick


def test_help_command_shows_usage_description_notes_and_aliases(chat: Chat) -> None:
    a = chat.connect("alice")
    text = chat.do(a, "/help ban").last_info()
    assert text.splitlines()[0] == "usage: /ban USER [DURATION] [REASON]"
    assert "refuse their logins" in text and "(admins only)" in text
    assert "DURATION: 30s, 10m, 2h, 1d or 1w; none means for good" in text
    text = chat.do(a, "/help /msg").last_info()
    assert "by nick or login name" in text and "aliases: /query, /w" in text
    narrow = chat.sink(a)
    handle_line(chat.hub, a, "/help ban", session=Session(width=24, pty=True))
    assert all(len(line) <= 24 for line in narrow.last_info().splitlines())
    error = chat.do(a, "/help jion").last_error()
    assert "no command /jion" in error and "/join" in error


# -- mistyped commands ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "hints"),
    [
        ("m", ["/me", "/motd", "/msg"]),  # a prefix of several: all of them
        ("ms", ["/msg"]),
        ("tim", ["/timestamps"]),
        ("jion", ["/join"]),
        ("hlep", ["/help"]),
        ("whos", ["/who", "/whois"]),
        ("quite", ["/quiet", "/quit"]),
        ("nam", ["/who"]),  # a prefix of an alias suggests its command
    ],
)
def test_mistyped_command_suggests_the_nearest(chat: Chat, typed: str, hints: list[str]) -> None:
    b = chat.connect("bob")
    error = chat.do(b, f"/{typed} x").last_error()
    suggested = re.search(r"Did you mean (.*)\?", error)
    assert suggested, error
    assert re.findall(r"/\w+", suggested.group(1)) == hints
    if len(hints) > 1:
        assert suggested.group(1).endswith(f" or {hints[-1]}")


@pytest.mark.parametrize("typed", ["frobnicate", "leaver", "xyz", "clea"])
def test_no_far_fetched_suggestions(typed: str) -> None:
    registry = build_registry()
    assert "leave" not in registry.suggest("clear")
    assert "leave" not in registry.suggest("cleat")
    if typed in ("frobnicate", "xyz"):
        assert registry.suggest(typed) == []
    if typed == "clea":
        assert registry.suggest(typed) == ["clear"]
    if typed == "leaver":
        assert registry.suggest(typed) == ["leave"]


def test_admin_commands_are_not_suggested_to_others(chat: Chat) -> None:
    b = chat.connect("bob")
    error = chat.do(b, "/mu bob").last_error()
    assert "/mute" not in error
    a = chat.connect("alice")
    assert "/mute" in chat.do(a, "/mu bob").last_error()


# -- /clear, /motd ------------------------------------------------------------------------


def test_clear_asks_a_pty_front_end_and_says_why_not_in_plain_mode(chat: Chat) -> None:
    a = chat.connect("alice")
    sink = chat.sink(a)
    assert handle_line(chat.hub, a, "/clear", session=Session(pty=True)) is Outcome.CLEAR
    assert handle_line(chat.hub, a, "/clear") is Outcome.CONTINUE
    assert "nothing to clear" in sink.last_info()
    assert "usage: /clear" in chat.do(a, "/clear all").last_error()


def test_motd_shows_the_welcome_again(chat: Chat) -> None:
    a = chat.connect("alice")
    sink = chat.sink(a)
    welcome = "Welcome to testchat!\nBe excellent.\nYou are in #lobby."
    handle_line(chat.hub, a, "/motd", session=Session(welcome=welcome))
    assert sink.last_info() == welcome
    assert "no message of the day" in chat.do(a, "/motd").last_info()


# -- settings alone show the current value ------------------------------------------------


@pytest.mark.parametrize(
    ("line", "before", "after"),
    [
        ("/timestamps", "Timestamps are on", "Timestamps are off"),
        ("/color", "Colour is on", "Colour is off"),
        ("/quiet", "notices are shown", "notices are hidden"),
        ("/bell", "Bell: mentions", "Bell: off"),
    ],
)
def test_setting_alone_shows_the_current_value(
    chat: Chat, line: str, before: str, after: str
) -> None:
    b = chat.connect("bob")
    prefs = chat.hub.accounts["bob"].prefs
    snapshot = repr(prefs)
    assert before in chat.do(b, line).last_info()
    assert repr(prefs) == snapshot  # showing changes nothing
    value = "on" if line == "/quiet" else "off"
    assert chat.do(b, f"{line} {value}").errors() == []
    assert after in chat.do(b, line).last_info()


def test_preferences_change_through_the_hub(chat: Chat, monkeypatch) -> None:
    b = chat.connect("bob")
    calls: list[tuple[str, object]] = []
    original = chat.hub.set_preference

    def spy(client, key, value) -> None:  # type: ignore[no-untyped-def]
        calls.append((key, value))
        original(client, key, value)

    monkeypatch.setattr(chat.hub, "set_preference", spy)
    for line in ("/quiet on", "/bell OFF", "/timestamps no", "/color false"):
        chat.do(b, line)
    assert calls == [("quiet", True), ("bell", "off"), ("timestamps", False), ("color", False)]
    prefs = chat.hub.accounts["bob"].prefs
    assert (prefs.quiet, prefs.bell, prefs.timestamps, prefs.color) == (True, "off", False, False)


# -- /list explains its star -----------------------------------------------------------------


def test_list_explains_the_star(chat: Chat) -> None:
    a = chat.connect("alice")
    text = chat.do(a, "/list").last_info()
    assert "#lobby *" in text
    assert "* is the channel you are talking in" in text


def test_list_of_a_page_that_is_not_there_says_which_are(chat: Chat) -> None:
    # Seen in tmux with 4 channels: "there is no page 2: /list 1 shows the last channels".
    a = chat.connect("alice")
    chat.do(a, "/create dev")
    for page in ("2", "0"):
        error = chat.do(a, f"/list {page}").last_error()
        assert error == (
            f"there is no page {page}: the 2 channels you can see fit on one page; /list shows them"
        )
    for n in range(25):
        chat.do(a, f"/create room{n:02d}")
    assert chat.do(a, "/list 3").last_error() == (
        "there is no page 3: pages go from 1 to 2 (/list 2 shows the last)"
    )


# -- /join NAME when a public channel and a private OWNER/NAME share the name ------------------


def test_join_of_a_name_a_private_channel_shares_points_to_it(chat: Chat) -> None:
    # Seen in tmux: alice owns #alice/secret, carol made a public #secret; alice's
    # "/join secret" took her to carol's channel without a word about her own.
    a, b, c = chat.connect("alice"), chat.connect("bob"), chat.connect("carol")
    chat.do(a, "/create secret private")
    chat.do(a, "/invite bob")
    chat.do(c, "/create secret")
    for who in (a, b):
        text = chat.do(who, "/join secret").last_info()
        assert text.startswith("Now talking in #secret.")
        assert "#alice/secret" in text and "/join alice/secret" in text
    # dave cannot see #alice/secret: nothing hints at it
    d = chat.connect("dave")
    assert "alice" not in chat.do(d, "/join secret").last_info()
    # with no public #secret the bare name is the private channel, as before
    chat.do(c, "/drop secret")
    assert chat.do(b, "/join secret").last_info() == "Now talking in #alice/secret."


# -- the channel cap names the channels to drop --------------------------------------------------


def test_channel_cap_names_the_users_channels() -> None:
    # Seen in tmux: "/drop one of yours first (/list shows them)", but /list shows
    # every channel, not yours; and a cap of 1 read "you already own 1 channels".
    chat = Chat(max_channels_per_user=1)
    b, c = chat.connect("bob"), chat.connect("carol")
    chat.do(c, "/create other")
    chat.do(b, "/create plans private")
    assert chat.do(b, "/create more").last_error() == (
        "you already own 1 channel (#bob/plans) and may own at most 1; /drop one of them first"
    )
    chat.hub.state.settings.max_channels_per_user = 0
    assert chat.do(b, "/create more").last_error() == (
        "only admins can create channels on this server"
    )


# -- a refused command always says so ----------------------------------------------------------

BAD_ARGUMENTS = ["", "nosuch", "nosuch 1x", "nosuch extra words here", "-1", "@@@ ###", "\t"]


@pytest.mark.parametrize("name", build_registry().names())
@pytest.mark.parametrize("argtext", BAD_ARGUMENTS)
def test_every_command_answers_every_line(chat: Chat, name: str, argtext: str) -> None:
    """Whatever follows a command, the user is told something: never silence."""
    for login in ("alice", "bob"):  # an admin and someone who is not
        client = chat.connect(login)
        chat.connect("carol")
        sink = chat.sink(client)
        sink.take()
        handle_line(chat.hub, client, f"/{name} {argtext}".rstrip())
        assert sink.events, f"/{name} {argtext!r} as {login}: no answer"


# Commands whose last argument takes the rest of the line have no extra words.
WITHOUT_REST = [c for c in build_registry() if not c.args or c.args[-1].kind is not Kind.TEXT]


@pytest.mark.parametrize("cmd", WITHOUT_REST, ids=lambda c: c.name)
def test_extra_words_print_the_usage(chat: Chat, cmd: Command) -> None:
    a = chat.connect("alice")  # an admin: admin-only commands get parsed too
    fill = {
        Kind.USER: "bob",
        Kind.CHANNEL: "lobby",
        Kind.DURATION: "1m",
        Kind.CHOICE: "on",
        Kind.INTEGER: "5",
        Kind.WORD: "fresh",
        Kind.COMMAND: "join",
    }
    words = [fill[arg.kind] if arg.kind is not Kind.CHOICE else arg.choices[0] for arg in cmd.args]
    error = chat.do(a, " ".join([f"/{cmd.name}", *words, "surplus"])).last_error()
    assert error.startswith(f"usage: {cmd.usage_line} — ")
    assert "surplus" in error or "takes nothing" in error


def test_whois_nosuch_and_quit_now_are_refused_out_loud(chat: Chat) -> None:
    a = chat.connect("alice")
    assert "no user called 'nosuch'" in chat.do(a, "/whois nosuch").last_error()
    error = chat.do(a, "/quit now").last_error()
    assert error.startswith("usage: /quit — /quit takes nothing after it")


# -- completion from declarations, listing in columns ------------------------------------------


def _hub() -> tuple[Hub, object]:
    hub = Hub([("alice", True), ("alex", False), ("bob", False), ("carol", False)])
    me = hub.connect("bob", RecordingSink())
    for login in ("alice", "alex"):
        hub.connect(login, RecordingSink())
    return hub, me


def test_completion_follows_the_declared_arguments() -> None:
    hub, bob = _hub()
    hub.create_channel(bob, "dev")
    # Aliases take their command's arguments.
    assert candidates(hub, bob, "/j d") == ("d", ["dev"])
    assert candidates(hub, bob, "/w c") == ("c", ["carol"])
    # An optional duration, then a reason: the reason (free text) completes nicks.
    assert candidates(hub, bob, "/ban carol al") == ("al", ["alex", "alice"])
    assert candidates(hub, bob, "/ban carol 1d @al") == ("al", ["alex", "alice"])
    assert candidates(hub, bob, "/mute carol al") == ("al", [])  # a duration only
    assert candidates(hub, bob, "/timestamps o") == ("o", ["off", "on"])
    assert candidates(hub, bob, "/quiet ") == ("", ["off", "on"])
    assert candidates(hub, bob, "/create dev p") == ("p", ["private", "public"])
    assert candidates(hub, bob, "/invite ") == ("", ["alex", "alice", "bob", "carol"])
    assert candidates(hub, bob, "/help ba") == ("ba", ["back"])  # /ban is for admins
    assert candidates(hub, bob, "/history 1") == ("1", [])
    assert candidates(hub, bob, "/join dev x") == ("x", [])  # past the arguments


def test_a_registry_extension_completes_too() -> None:
    hub, bob = _hub()

    @command("slap", user("NICK"), summary="slap someone", topic=Topic.CHATTING)
    def slap(ctx: Context, nick: str) -> None:
        pass

    registry = build_registry()
    registry.add(slap)
    assert candidates(hub, bob, "/sla", registry) == ("/sla", ["/slap"])
    assert candidates(hub, bob, "/slap ca", registry) == ("ca", ["carol"])
    assert candidates(hub, bob, "/sla") == ("/sla", [])


def test_candidate_listing_is_laid_out_in_columns_without_breaking_names() -> None:
    names = [f"/{name}" for name in build_registry().names()]
    for width in (20, 40, 80, 132):
        lines = format_candidates(names, width).splitlines()
        assert all(len(line) <= width for line in lines)
        assert sorted(" ".join(lines).split()) == sorted(names)
    assert len(format_candidates(names, 80).splitlines()) < len(names) // 3
    long = ["x" * 30, "y" * 30]
    assert format_candidates(long, 20).splitlines() == long  # one a line, never cut


def test_columns_and_wrap() -> None:
    items = ["aaaa", "bbbb", "cccc", "dddd", "eeee"]
    assert columns(items, 20) == ["aaaa  cccc  eeee", "bbbb  dddd"]
    assert columns(items, 5) == columns(items, 20)  # narrower than 20 is taken as 20
    assert columns([], 80) == []
    text = "one two three four five six"
    assert wrap(text, 20, indent="> ", hang="  ") == ["> one two three four", "  five six"]
    assert wrap("unbreakable-word-here", 5) == ["unbreakable-word-here"]
    assert wrap("", 40, indent="  ") == [""]


def test_registry_iterates_sorted_and_knows_its_size() -> None:
    registry = build_registry()
    assert [cmd.name for cmd in registry] == registry.names()
    assert len(registry) == len(registry.names())
    assert isinstance(registry, CommandRegistry)
