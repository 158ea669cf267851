"""Renderer: events to lines, ANSI only with color=True."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from sshchat.core.events import (
    Broadcast,
    ChatMessage,
    Notice,
    NoticeKind,
    Presence,
    PresenceKind,
    PrivateMessage,
)
from sshchat.frontends.render import BOLD, RESET, Renderer, nick_color

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
