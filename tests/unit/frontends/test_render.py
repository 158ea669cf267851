"""Renderer: events to lines, ANSI only with color=True."""

from __future__ import annotations

import datetime
import itertools
import os
import re
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sshchat.core.events import (
    Broadcast,
    ChatMessage,
    History,
    Notice,
    NoticeKind,
    Presence,
    PresenceKind,
    PrivateMessage,
)
from sshchat.frontends import render as render_module
from sshchat.frontends.render import (
    BOLD,
    DIM,
    MAGENTA,
    PALETTE_16,
    PALETTE_256,
    RESET,
    Renderer,
    cell_width,
    day_separator,
    nick_color,
    palette_for,
)

T = 1_700_000_000.0
SGR = re.compile(r"\x1b\[[0-9;]*m")

EVENTS = [
    ChatMessage("lobby", "alice", "alice", "hello", time=T),
    ChatMessage("dev", "bob", "bobby", "over here", time=T),
    ChatMessage("lobby", "alice", "alice", "waves", action=True, time=T),
    PrivateMessage("alice", "alice", "bob", "bob", "psst", time=T),
    Broadcast("alice", "alice", "restart at noon", time=T),
    Presence(PresenceKind.JOIN, "bob", "bob", channel="dev", time=T),
    Presence(PresenceKind.LEAVE, "bob", "bob", channel="dev", time=T),
    Presence(PresenceKind.CONNECT, "carol", "carol", time=T),
    Presence(PresenceKind.DISCONNECT, "carol", "carol", time=T),
    Presence(PresenceKind.NICK, "alice", "alice", detail="queen", time=T),
    Presence(PresenceKind.NICK, "bob", "bob", detail="bobby", time=T),
    Notice("one\ntwo\nthree", time=T),
    Notice("bad thing\nsecond line", NoticeKind.ERROR, time=T),
]


def plain(login: str = "alice") -> Renderer:
    return Renderer(color=False, own_login=login)


def color(login: str = "alice") -> Renderer:
    return Renderer(color=True, own_login=login)


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("login", ["alice", "bob", "carol"])
def test_plain_output_has_no_escape(event, login: str) -> None:
    lines = plain(login).render(event, "lobby")
    assert lines
    for line in lines:
        assert "\x1b" not in line
        assert "\n" not in line


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_color_output_only_has_sgr_sequences(event) -> None:
    for line in color("alice").render(event, "lobby"):
        assert "\x1b" not in SGR.sub("", line)
        # and taking the colour away gives the plain rendering
    assert [SGR.sub("", line) for line in color().render(event, "lobby")] == plain().render(
        event, "lobby"
    )


def test_plain_chat_line() -> None:
    [line] = plain("bob").render(EVENTS[0], "lobby")
    assert re.fullmatch(r"\d\d:\d\d <alice> hello", line)


def test_other_channel_is_tagged() -> None:
    msg = ChatMessage("lobby", "bob", "bob", "lobby news", time=T)
    [here] = plain("alice").render(msg, "lobby")
    [there] = plain("alice").render(msg, "dev")
    assert "#lobby" not in here and here.endswith("<bob> lobby news")
    assert there.endswith("#lobby <bob> lobby news")
    [colored] = color("alice").render(msg, "dev")
    assert "#lobby" in colored


def test_action_rendered_with_star() -> None:
    [line] = plain("bob").render(EVENTS[2], "lobby")
    assert line.endswith("* alice waves")
    [tagged] = plain("bob").render(EVENTS[2], "dev")
    assert tagged.endswith("#lobby * alice waves")


def test_nick_colour_is_stable_per_login() -> None:
    assert nick_color("alice") == nick_color("alice")
    assert re.fullmatch(r"\x1b\[\d+m", nick_color("alice"))
    msg1 = ChatMessage("lobby", "alice", "alice", "one", time=T)
    msg2 = ChatMessage("lobby", "alice", "queen", "two", time=T + 60)  # nick changed
    for viewer in ("bob", "carol"):
        for msg, nick in ((msg1, "alice"), (msg2, "queen")):
            [line] = color(viewer).render(msg, "lobby")
            assert f"{nick_color('alice')}{nick}{RESET}" in line
    # other logins are coloured by the same rule
    [line] = color("alice").render(EVENTS[1], "dev")
    assert f"{nick_color('bob')}bobby{RESET}" in line


def test_nick_colour_is_the_same_after_a_restart() -> None:
    # not derived from hash(): a fresh interpreter with another hash seed agrees
    code = (
        "from sshchat.frontends.render import nick_color as c; "
        "print([c(n) for n in ('alice', 'bob')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    ).stdout.strip()
    assert out == repr([nick_color("alice"), nick_color("bob")])


def test_own_messages_are_bold() -> None:
    msg = EVENTS[0]  # from alice
    [mine] = color("alice").render(msg, "lobby")
    [theirs] = color("bob").render(msg, "lobby")
    assert f"{nick_color('alice')}{BOLD}alice{RESET}" in mine
    assert BOLD not in theirs
    assert f"{nick_color('alice')}alice{RESET}" in theirs


def test_pm_labels_for_sender_and_recipient() -> None:
    pm = EVENTS[3]
    [sent] = plain("alice").render(pm, "lobby")
    [received] = plain("bob").render(pm, "lobby")
    assert sent.endswith("[PM to bob] psst")
    assert received.endswith("[PM from alice] psst")
    [colored] = color("bob").render(pm, "lobby")
    assert "[PM from " in colored and "psst" in colored


def test_pm_to_self_reads_as_from() -> None:
    pm = PrivateMessage("alice", "alice", "alice", "alice", "note to self", time=T)
    [line] = plain("alice").render(pm, "lobby")
    assert line.endswith("[PM from alice] note to self")


def test_broadcast_rendering() -> None:
    [line] = plain("bob").render(EVENTS[4], "dev")
    assert line.endswith("[broadcast from alice] restart at noon")


def test_presence_rendering() -> None:
    r = plain("alice")
    assert r.render(EVENTS[5], "lobby")[0].endswith("-- bob joined #dev")
    assert r.render(EVENTS[6], "lobby")[0].endswith("-- bob left #dev")
    assert r.render(EVENTS[7], "lobby")[0].endswith("-- carol connected")
    assert r.render(EVENTS[8], "lobby")[0].endswith("-- carol disconnected")
    assert r.render(EVENTS[9], "lobby")[0].endswith("-- you are now known as queen")
    assert r.render(EVENTS[10], "lobby")[0].endswith("-- bob is now known as bobby")
    assert plain("bob").render(EVENTS[9], "lobby")[0].endswith("-- alice is now known as queen")


def test_info_notice_lines_unchanged() -> None:
    assert plain().render(EVENTS[11], "lobby") == ["one", "two", "three"]
    assert color().render(EVENTS[11], "lobby") == ["one", "two", "three"]


def test_error_notice_prefixed() -> None:
    assert plain().render(EVENTS[12], "lobby") == ["error: bad thing", "second line"]
    colored = color().render(EVENTS[12], "lobby")
    assert [SGR.sub("", line) for line in colored] == ["error: bad thing", "second line"]
    assert all(line.startswith("\x1b[31m") and line.endswith(RESET) for line in colored)


# -- nick colours: palettes and no collisions in a channel -------------------------------

NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]


def said(login: str, channel: str = "lobby", text: str = "hi", t: float = T) -> ChatMessage:
    return ChatMessage(channel, login, login, text, time=t)


def colour_of(line: str, nick: str) -> str:
    match = re.search(rf"(\x1b\[[0-9;]+m)(?:\x1b\[1m)?{nick}\x1b\[0m", line)
    assert match, line
    return match.group(1)


@pytest.mark.parametrize(
    ("term", "colorterm", "palette"),
    [
        ("xterm-256color", "", PALETTE_256),
        ("screen-256color", "", PALETTE_256),
        ("xterm", "truecolor", PALETTE_256),
        ("xterm", "", PALETTE_16),
        ("vt100", "", PALETTE_16),
        ("", "", PALETTE_16),
    ],
)
def test_palette_follows_the_terminal(term: str, colorterm: str, palette) -> None:
    assert palette_for(term, colorterm) is palette


def _cube_rgb(sgr: str) -> tuple[int, int, int]:
    n = int(re.fullmatch(r"\x1b\[38;5;(\d+)m", sgr).group(1)) - 16
    levels = (0, 95, 135, 175, 215, 255)
    return levels[n // 36], levels[n // 6 % 6], levels[n % 6]


def _luminance(rgb: tuple[int, int, int]) -> float:
    def lin(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_256_palette_is_readable_on_dark_and_light_backgrounds() -> None:
    assert len(PALETTE_256) >= 40 and len(set(PALETTE_256)) == len(PALETTE_256)
    for sgr in PALETTE_256:
        rgb = _cube_rgb(sgr)
        lum = _luminance(rgb)
        assert (lum + 0.05) / 0.05 >= 3, sgr  # against black
        assert 1.05 / (lum + 0.05) >= 3, sgr  # against white
        assert max(rgb) - min(rgb) >= 80, sgr  # a colour, not a grey
    # 16 colours: no black, white or grey
    assert not {"\x1b[30m", "\x1b[37m", "\x1b[90m", "\x1b[97m"} & set(PALETTE_16)


@pytest.mark.parametrize("palette", [PALETTE_16, PALETTE_256], ids=["16", "256"])
def test_members_of_a_channel_get_different_colours(palette) -> None:
    # alice and carol have the same first choice among 16 colours (the bug report)
    assert nick_color("alice") == nick_color("carol")
    r = Renderer(color=True, own_login="zed", palette=palette)
    colours = {name: colour_of(r.render(said(name), "lobby")[0], name) for name in NAMES}
    assert len(set(colours.values())) == len(NAMES)
    assert set(colours.values()) <= set(palette)
    # the first one seen gets its first choice; everyone keeps theirs afterwards
    assert colours["alice"] == nick_color("alice", palette)
    for name in reversed(NAMES):
        [line] = r.render(said(name, text="again"), "lobby")
        assert colour_of(line, name) == colours[name]
        [line] = r.render(Presence(PresenceKind.JOIN, name, name, channel="dev", time=T), "dev")
        assert colour_of(line, name) == colours[name]


def test_colour_assignment_is_deterministic_and_per_channel() -> None:
    def colours(order: list[str], channel_of) -> dict[str, str]:
        r = Renderer(color=True, own_login="zed")
        return {n: colour_of(r.render(said(n, channel_of(n)), "x")[0], n) for n in order}

    assert colours(NAMES, lambda n: "lobby") == colours(NAMES, lambda n: "lobby")
    # in different channels nobody has to move: everyone gets the first choice
    apart = colours(["alice", "carol"], lambda n: n)
    assert apart == {"alice": nick_color("alice"), "carol": nick_color("carol")}


def test_more_members_than_colours_reuse_first_choices() -> None:
    names = [f"user{i}" for i in range(len(PALETTE_16) + 5)]
    r = Renderer(color=True, own_login="zed")
    seen = [colour_of(r.render(said(n), "lobby")[0], n) for n in names]
    assert len(set(seen[: len(PALETTE_16)])) == len(PALETTE_16)
    assert seen[len(PALETTE_16) :] == [nick_color(n) for n in names[len(PALETTE_16) :]]


def test_nick_colour_is_used_in_pm_and_presence_too() -> None:
    r = Renderer(color=True, own_login="bob", palette=PALETTE_256)
    [chat] = r.render(said("alice"), "lobby")
    [pm] = r.render(PrivateMessage("alice", "alice", "bob", "bob", "psst", time=T), "lobby")
    assert colour_of(chat, "alice") == colour_of(pm, "alice") == nick_color("alice", PALETTE_256)


# -- wrapping ------------------------------------------------------------------------------

LONG = (
    "the quick brown fox jumps over the lazy dog and then keeps running far away "
    "until nobody can see it any more"
)


def wrapped(width: int, login: str = "bob", **kw) -> Renderer:
    return Renderer(color=kw.pop("color", False), own_login=login, width=width, **kw)


def test_plain_mode_never_wraps() -> None:
    [line] = plain("bob").render(ChatMessage("lobby", "alice", "alice", LONG, time=T), "lobby")
    assert line.endswith("<alice> " + LONG)


def test_long_message_wraps_at_words_with_indent_under_the_text() -> None:
    lines = wrapped(40).render(ChatMessage("lobby", "alice", "alice", LONG, time=T), "lobby")
    assert len(lines) > 1
    indent = len(lines[0]) - len(lines[0].split("> ", 1)[1])
    assert indent == len("12:34 <alice> ")
    for line in lines:
        assert len(line) <= 40
    for line in lines[1:]:
        assert line[:indent] == " " * indent and line[indent] != " "
    words = lines[0][indent:].split() + [w for line in lines[1:] for w in line.split()]
    assert words == LONG.split()  # no word was broken, none lost
    # each line is as full as it can be: the next word would not have fitted
    for line, after in itertools.pairwise(lines):
        assert len(line) + 1 + len(after.split()[0]) > 40


def test_wrapped_lines_keep_the_channel_tag_and_colour() -> None:
    msg = ChatMessage("dev", "alice", "alice", LONG + " bob", time=T)
    lines = wrapped(50, color=True).render(msg, "lobby")
    assert [SGR.sub("", line) for line in lines] == wrapped(50).render(msg, "lobby")
    assert SGR.sub("", lines[0]).startswith(SGR.sub("", lines[0])[:6] + "#dev <alice> the")
    # a mention is highlighted on every line it spans
    assert all(f"{BOLD}\x1b[33m" in line for line in lines)


def test_a_word_longer_than_the_line_is_broken() -> None:
    word = "x" * 100
    lines = wrapped(30).render(
        ChatMessage("lobby", "alice", "alice", f"see {word} ok", time=T), "lobby"
    )
    assert all(len(line) <= 30 for line in lines)
    assert lines[0].endswith("<alice> see xxxxxxxxxxxx")  # started where it was
    assert "".join("".join(line.split()) for line in lines).endswith("<alice>see" + word + "ok")


def test_wide_characters_count_two_columns() -> None:
    text = "日本語のテキスト " * 8
    lines = wrapped(30).render(ChatMessage("lobby", "alice", "alice", text, time=T), "lobby")
    assert len(lines) > 1
    assert all(cell_width(line) <= 30 for line in lines)
    assert cell_width("日本") == 4 and cell_width("👍") == 2 and cell_width("❤️") == 2


def test_emoji_sequences_are_never_split() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    flag = "\U0001f3f3\ufe0f\u200d\U0001f308"
    text = (family + flag) * 20  # one long "word"
    lines = wrapped(24).render(ChatMessage("lobby", "alice", "alice", text, time=T), "lobby")
    assert len(lines) > 2
    for line in lines:
        assert cell_width(line) <= 24
        body = line.split("> ", 1)[-1].strip()
        assert body.replace(family, "").replace(flag, "") == "", repr(body)


def test_long_nick_or_narrow_terminal_indents_less() -> None:
    lines = wrapped(20).render(ChatMessage("lobby", "alice", "a" * 15, LONG, time=T), "lobby")
    assert all(len(line) <= 20 for line in lines)
    assert all(line.startswith("     ") and line[5] != " " for line in lines[1:])


def test_pm_presence_broadcast_and_notices_wrap_too() -> None:
    r = wrapped(40)
    events = [
        PrivateMessage("alice", "alice", "bob", "bob", LONG, time=T),
        Broadcast("alice", "alice", LONG, time=T),
        Presence(PresenceKind.TOPIC, "alice", "alice", channel="dev", detail=LONG, time=T),
        Notice("  " + LONG, time=T),
        Notice(LONG, NoticeKind.ERROR, time=T),
    ]
    for event in events:
        lines = r.render(event, "lobby")
        assert len(lines) > 1 and all(len(line) <= 40 for line in lines), lines
    [*_, last] = r.render(Notice("  " + LONG, time=T), "lobby")
    assert last.startswith("  ") and last[2] != " "  # under the notice's own indent


WORD = st.lists(
    st.sampled_from(
        ["a", "b", "Z", "日", "本", "👍", "\U0001f468\u200d\U0001f469", "e\u0301", "❤️", "-"]
    ),
    min_size=1,
    max_size=30,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(st.lists(WORD, min_size=1, max_size=30), st.integers(8, 120), st.booleans())
def test_wrapping_fits_the_width_and_keeps_every_character(words, width, tagged) -> None:
    text = " ".join(words)
    msg = ChatMessage("dev" if tagged else "lobby", "alice", "alice", text, time=T)
    for colour in (False, True):
        lines = wrapped(width, color=colour).render(msg, "lobby")
        stripped = [SGR.sub("", line) for line in lines]
        assert all(cell_width(line) <= width for line in stripped), (width, stripped)
        assert all(line == line.rstrip() for line in stripped)
        whole = plain("bob").render(msg, "lobby")[0]
        assert "".join("".join(line.split()) for line in stripped) == "".join(whole.split())


def test_terminal_front_end_wraps_at_its_width_and_picks_the_palette() -> None:
    from sshchat.core.hub import Hub
    from sshchat.frontends.terminal import TerminalFrontEnd

    class Sink:
        def write(self, data: str) -> None: ...
        def pause_reading(self) -> None: ...
        def resume_reading(self) -> None: ...
        def exit(self, status: int) -> None: ...

    hub = Hub([("alice", False)], default_channel="lobby")
    front = TerminalFrontEnd(hub, Sink(), "alice", term_type="xterm-256color")
    assert front.renderer.palette is PALETTE_256 and front.renderer.width == 80
    front.set_size(33, 10)
    assert front.renderer.width == 33
    assert TerminalFrontEnd(hub, Sink(), "alice", term_type="xterm").renderer.palette is PALETTE_16
    assert TerminalFrontEnd(hub, Sink(), "alice", colorterm="truecolor").renderer.palette is (
        PALETTE_256
    )


# -- private messages are coloured whole -------------------------------------------------------


def test_pm_line_is_coloured_whole() -> None:
    pm = PrivateMessage("alice", "alice", "bob", "bob", "meet me later", time=T)
    [line] = color("bob").render(pm, "lobby")
    assert f"{MAGENTA}meet me later{RESET}" in line
    assert f"{MAGENTA}] {RESET}" in line  # the closing bracket too, after the nick's colour
    assert re.search(r"\x1b\[[0-9;]+malice\x1b\[0m", line)  # the nick keeps its colour
    # nothing of the line is uncoloured but the space after the stamp
    assert "".join(re.split(r"\x1b\[[0-9;]+m[^\x1b]*\x1b\[0m", line)) == " "
    lines = wrapped(30, color=True).render(
        PrivateMessage("alice", "alice", "bob", "bob", LONG, time=T), "lobby"
    )
    assert all(line.rstrip().endswith(RESET) and MAGENTA in line for line in lines)


# -- history from an earlier day shows its date ---------------------------------------------


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch):
    """Local time is UTC for the test (days are local days)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
    render_module._clock.cache_clear()


def at(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC).timestamp()


NOW = at("2026-12-01 10:00")  # a Tuesday


def test_history_marks_each_earlier_day(utc) -> None:
    messages = (
        ChatMessage("lobby", "alice", "alice", "one", time=at("2026-11-29 23:59")),
        ChatMessage("lobby", "bob", "bob", "two", time=at("2026-11-30 00:00")),
        ChatMessage("lobby", "alice", "alice", "three", time=at("2026-11-30 18:30")),
        ChatMessage("lobby", "bob", "bob", "four", time=at("2026-12-01 08:15")),
    )
    r = Renderer(color=False, own_login="carol", clock=lambda: NOW)
    assert r.render(History("lobby", messages), "lobby") == [
        "--- history: the last 4 lines of #lobby ---",
        "-- Sunday 29 November 2026 --",
        "23:59 <alice> one",
        "-- Monday 30 November 2026 --",
        "00:00 <bob> two",
        "18:30 <alice> three",
        "-- today --",
        "08:15 <bob> four",
        "--- end of history ---",
    ]
    assert day_separator(datetime.date(2026, 11, 30)) == "-- Monday 30 November 2026 --"


def test_history_of_today_is_unchanged(utc) -> None:
    messages = tuple(
        ChatMessage("lobby", "bob", "bob", f"line {i}", time=at(f"2026-12-01 0{i}:00"))
        for i in range(4)
    )
    r = Renderer(color=True, own_login="carol", clock=lambda: NOW)
    lines = r.render(History("lobby", messages), "lobby")
    assert lines[1:-1] == [r.render(m, "lobby")[0] for m in messages]


def test_private_history_marks_days_too(utc) -> None:
    pms = (
        PrivateMessage("bob", "bob", "carol", "carol", "old", time=at("2026-06-05 12:00")),
        PrivateMessage("bob", "bob", "carol", "carol", "new", time=at("2026-12-01 09:00")),
    )
    r = Renderer(color=True, own_login="carol", clock=lambda: NOW)
    lines = [SGR.sub("", line) for line in r.render(History(None, pms), "lobby")]
    assert lines[1:5] == [
        "-- Friday 5 June 2026 --",
        "12:00 [PM from bob] old",
        "-- today --",
        "09:00 [PM from bob] new",
    ]


# -- op notices look like the other channel notices -----------------------------------------


def test_op_notices_have_time_and_dashes() -> None:
    from helpers.sinks import RecordingSink

    from sshchat.commands.registry import handle_line
    from sshchat.core.events import OpChanged
    from sshchat.core.hub import Hub

    hub = Hub([("alice", False), ("bob", False)], default_channel="lobby")
    alice, bob = hub.connect("alice", RecordingSink()), hub.connect("bob", RecordingSink())
    handle_line(hub, alice, "/create dev")
    handle_line(hub, bob, "/join dev")
    bob.sink.typed.clear()
    handle_line(hub, alice, "/op bob")
    handle_line(hub, alice, "/deop bob")
    notices = [e for e in bob.sink.typed if isinstance(e, OpChanged)]
    assert len(notices) == 2
    lines = [line for n in notices for line in plain("bob").render(n, "dev")]
    assert re.fullmatch(r"\d\d:\d\d -- bob is now an op of #dev \(alice\)", lines[0]), lines
    assert re.fullmatch(r"\d\d:\d\d -- bob is no longer an op of #dev \(alice\)", lines[1]), lines
    [colored] = color("bob").render(notices[0], "dev")
    assert colored.startswith(DIM) and f"{DIM}--{RESET} bob is now an op" in colored
    # other notices are left alone
    assert plain().render(Notice("bob is now an op of everything", time=T), "x") == [
        "bob is now an op of everything"
    ]


# -- the space after "--" survives wrapping ------------------------------------------


@pytest.mark.parametrize("width", [30, 38, 40, 44])
def test_channel_notices_keep_the_space_after_the_dashes_when_wrapped(width: int) -> None:
    # Seen at 40 columns: "11:39 --#lobby: 3 online: alice, bob," (the space was
    # the first piece of the text, dropped as white space at a line break).
    from sshchat.core.events import OnlineNow, OpChanged, PresenceSummary

    events = [
        OnlineNow("lobby", 4, ("alice", "bob", "carol", "dave"), time=T),
        OpChanged("bartholomew", "development", True, "alexandra", time=T),
        PresenceSummary("lobby", PresenceKind.JOIN, ("alice", "bob", "carol", "dave"), 9, time=T),
    ]
    for event in events:
        whole = plain("bob").render(event, "lobby")[0]
        for colour in (False, True):
            lines = [SGR.sub("", line) for line in wrapped(width, color=colour).render(event, "x")]
            assert len(lines) > 1, lines
            assert re.match(r"\d\d:\d\d -- \S", lines[0]), lines
            assert " ".join(line.strip() for line in lines) == whole, lines
