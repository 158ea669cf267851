"""sanitize / confusable_key, and property tests that no input can break the hub."""

from __future__ import annotations

import re
import unicodedata

import pytest
from helpers.sinks import RecordingSink as Sink
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from sshchat.commands import build_registry
from sshchat.commands.registry import Outcome, handle_line
from sshchat.core.events import ChatMessage, Notice
from sshchat.core.hub import Hub
from sshchat.core.text import confusable_key, sanitize, strip_channel_prefix
from sshchat.frontends.render import Renderer

FORBIDDEN = frozenset({"Cc", "Cf", "Cs", "Cn"})

# Every code point, surrogates, controls and unassigned ones included.
ANY_CHAR = st.characters(exclude_categories=[])
# Text rich in the things sanitize must remove.
NASTY_PIECES = st.sampled_from(
    [
        "\x1b",
        "\x1b[",
        "\x1b[31m",
        "\x1b[2J",
        "\x1b]0;",
        "\x1b]8;;http://x\x1b\\",
        "\x07",
        "\x1b\\",
        "\x9b",
        "\x9b1m",
        "\x9c",
        "\x9d",
        "\x90",
        "\x85",
        "\u202e",
        "\u202d",
        "\u2066",
        "\u200b",
        "\u200d",
        "\u200c",
        "\u200d\u200d",
        "\ufe0f",
        "\ufe0e",
        "\U000e0100",
        "\u034f",
        "\U000e0067",
        "\U000e007f",
        "\U0001f3f4",
        "\U0001f468",
        "\U0001f3fd",
        "\u0915\u094d",
        "\u06cc",
        "\ufeff",
        "\u2028",
        "\t",
        "\r",
        "\n",
        "\x00",
        "\x7f",
        "\ud800",
        " ",
        "/",
        "//",
        "#",
        "a",
        "alice",
        "bob",
        "dev",
        "private",
    ]
)
TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=60),
    st.lists(st.one_of(NASTY_PIECES, st.text(ANY_CHAR, max_size=4)), max_size=12).map("".join),
)


JOINERS = "\u200c\u200d"
# A subdivision flag: WAVING BLACK FLAG, 2-7 tag letters or digits, CANCEL TAG.
FLAG_TAGS = re.compile("\U0001f3f4[\U000e0030-\U000e0039\U000e0061-\U000e007a]{2,7}\U000e007f")
INVISIBLE = re.compile(
    "[\u200c\u200d\u034f\u180b-\u180f\ufe00-\ufe0f\U000e0000-\U000e007f\U000e0100-\U000e01ef]"
)


def draws(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LMNPS"


def bad_chars(text: str) -> list[str]:
    """Controls, format characters and the like, except where Unicode needs them:
    a joiner between two visible characters, the tags of a subdivision flag."""
    in_flags = {k for m in FLAG_TAGS.finditer(text) for k in range(m.start() + 1, m.end())}
    bad = []
    for k, ch in enumerate(text):
        if ch in JOINERS:
            if not (0 < k < len(text) - 1 and draws(text[k - 1]) and draws(text[k + 1])):
                bad.append(ch)
        elif unicodedata.category(ch) in FORBIDDEN and k not in in_flags:
            bad.append(ch)
    return bad


# -- sanitize ---------------------------------------------------------------------


@settings(max_examples=300)
@given(TEXT)
def test_sanitize_output_is_clean(text: str) -> None:
    out = sanitize(text)
    assert "\x1b" not in out
    assert bad_chars(out) == []
    assert out == out.strip()


@settings(max_examples=300)
@given(TEXT)
@example("0\ufe00\u200c0")  # a selector then a joiner: found by hypothesis
def test_sanitize_leaves_no_invisible_run(text: str) -> None:
    # Joiners and selectors can never carry hidden text: each follows a visible
    # character (a joiner also precedes one), so they never come in runs, first,
    # or after a space; flag tags only inside a flag.
    out = FLAG_TAGS.sub("\U0001f3f4", sanitize(text))
    assert not INVISIBLE.match(out)
    assert not out.endswith(tuple(JOINERS))
    for k in range(1, len(out)):
        if INVISIBLE.match(out[k]):
            # The one pair Unicode needs: VS16 then ZWJ inside an emoji sequence
            # (the rainbow flag), itself right after a visible character.
            pair = out[k - 1 : k + 1] == "\ufe0f\u200d" and not INVISIBLE.match(out[k - 2])
            assert pair or not INVISIBLE.match(out[k - 1]), repr(out)
            assert not out[k - 1].isspace(), repr(out)
        if out[k - 1] in JOINERS:
            assert not out[k].isspace(), repr(out)


@settings(max_examples=300)
@given(TEXT)
def test_sanitize_keeps_the_visible_text(text: str) -> None:
    # Whatever invisible characters are kept or dropped, what can be seen is the
    # same. (Escape sequences are left out: an invisible character can end one early.)
    assume(not re.search("[\x1b\x90-\x9f]", text))
    assert INVISIBLE.sub("", sanitize(text)) == sanitize(INVISIBLE.sub("", text))


@settings(max_examples=300)
@given(TEXT)
def test_sanitize_is_idempotent(text: str) -> None:
    once = sanitize(text)
    assert sanitize(once) == once


@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40))
def test_sanitize_keeps_printable_ascii(text: str) -> None:
    assert sanitize(text) == text.strip()


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\x1b[1;31mbold red\x1b[0m", "bold red"),
        ("\x1b]0;window title\x07after", "after"),
        ("\x1b]2;window title\x1b\\after", "after"),
        ("\x9b2Jafter", "after"),
        ("\x9d0;title\x9cafter", "after"),
        ("\x1bPdcs payload\x1b\\after", "after"),
        ("a\x9fb c", "ab c"),  # an unterminated 8-bit introducer keeps the text after it
        ("a\x90b", "ab"),
        ("\x1b(0after", "after"),
        ("a\tb", "a b"),
        ("a\u2028b", "a b"),
        ("line\nbreak", "linebreak"),
        ("right\u202eto-left", "rightto-left"),
        ("zero\u200b\u200c\u200d\u2060width", "zerowidth"),  # a run of joiners
        ("\u200dedge\u200c", "edge"),
        ("a \u200db", "a b"),
        ("a\u200c b", "a b"),
        ("\ufe0fx\ufe0f\ufe0f\ufe0fy", "x\ufe0fy"),  # one selector, after a visible one
        ("x\U000e0101\U000e0102", "x\U000e0101"),
        ("\u034f\u034fcgj", "cgj"),
        ("\ufeffbom", "bom"),
        ("sur\ud800rogate", "surrogate"),
        ("un\U000e0001tag", "untag"),
        ("hidden\U000e0068\U000e0069", "hidden"),  # tag letters outside a flag
        ("\U0001f3f4\U000e0067\U000e0062\U000e007a", "\U0001f3f4"),  # no CANCEL TAG
        ("\U0001f3f4" + "\U000e0061" * 8 + "\U000e007f", "\U0001f3f4"),  # too long
        ("  padded  ", "padded"),
        ("caf\u00e9 \u65e5\u672c \U0001f600", "caf\u00e9 \u65e5\u672c \U0001f600"),
        ("", ""),
    ],
)
def test_sanitize_examples(raw: str, clean: str) -> None:
    assert sanitize(raw) == clean


# Real text that needs its joiners (checked against what Unicode and the languages use).
NEEDS_JOINERS = [
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # family: man, woman, girl
    "\U0001f3f3\ufe0f\u200d\U0001f308",  # rainbow flag
    "\U0001f469\U0001f3fd\u200d\U0001f4bb",  # woman technologist, medium skin tone
    "\U0001f9d1\U0001f3ff\u200d\U0001f91d\u200d\U0001f9d1\U0001f3fb",  # people holding hands
    "\u2764\ufe0f\u200d\U0001f525",  # heart on fire
    "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # Scotland
    "1\ufe0f\u20e3",  # keycap one
    "\u2764\ufe0f",  # red heart, emoji form
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian "I want" (ZWNJ)
    "\u0646\u0627\u0645\u0647\u200c\u0647\u0627",  # Persian "letters" (ZWNJ)
    "\u0915\u094d\u200d\u0937",  # Devanagari KA + VIRAMA + ZWJ + SSA (half form)
    "\u0915\u094d\u200c\u0937",  # Devanagari, explicit virama (ZWNJ)
    "\u0930\u094d\u200d\u092f",  # Devanagari eyelash RA
    "\u8fbb\U000e0100",  # an ideographic variation sequence
]


@pytest.mark.parametrize("text", NEEDS_JOINERS)
def test_sanitize_keeps_sequences_unicode_needs(text: str) -> None:
    assert sanitize(text) == text
    line = f"look: {text} and {text}{text}!"
    assert sanitize(line) == line
    assert bad_chars(sanitize(line)) == []


def test_names_still_refuse_joiners() -> None:
    hub = Hub([("alice", False), ("bob", False)], default_channel="lobby")
    alice = hub.connect("alice", Sink())
    for line in ("/nick al\u200dice", "/create d\u200dev", "/nick \u0645\u06cc\u200c\u062e"):
        handle_line(hub, alice, line)
    assert hub.accounts["alice"].nick == "alice"
    assert set(hub.channels) == {"lobby"}


# -- confusable_key ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["alice", "ALICE", "Alice", "a1ice", "AIice", "al1ce", "aIIce"])
def test_confusable_key_collides_with_alice(name: str) -> None:
    assert confusable_key(name) == confusable_key("alice")


@pytest.mark.parametrize(
    ("a", "b"), [("b0b", "bob"), ("BOB", "bob"), ("ba5h", "bash"), ("a_b", "a-b"), ("O0o", "ooo")]
)
def test_confusable_key_other_collisions(a: str, b: str) -> None:
    assert confusable_key(a) == confusable_key(b)


@pytest.mark.parametrize(("a", "b"), [("alice", "alicia"), ("bob", "rob"), ("carol", "carl")])
def test_confusable_key_keeps_different_names_apart(a: str, b: str) -> None:
    assert confusable_key(a) != confusable_key(b)


def test_strip_channel_prefix() -> None:
    assert strip_channel_prefix("#dev") == "dev"
    assert strip_channel_prefix("dev") == "dev"
    assert strip_channel_prefix("##dev") == "#dev"


# -- the hub never breaks, whatever is typed ------------------------------------------


COMMAND_WORDS = [*build_registry().names(), "JOIN", "Msg", "nick", "jion", "", "/"]
LINE = st.one_of(
    TEXT,
    st.builds(
        lambda word, sep, rest: f"/{word}{sep}{rest}",
        st.sampled_from(COMMAND_WORDS),
        st.sampled_from([" ", "  ", "\t", ""]),
        TEXT,
    ),
    st.builds(
        lambda word, target, rest: f"/{word} {target} {rest}",
        st.sampled_from(["msg", "invite", "whois", "nick", "join", "create", "help"]),
        st.sampled_from(["alice", "bob", "Carol", "dev", "#dev", "lobby", "a1ice", "x"]),
        TEXT,
    ),
)
LOGINS = ["alice", "bob", "carol"]


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), LINE), min_size=1, max_size=8))
def test_handle_line_never_raises_and_output_renders_clean(script: list[tuple[int, str]]) -> None:
    hub = Hub([("alice", True), ("bob", False), ("carol", False)], default_channel="lobby")
    sinks = [Sink(), Sink(), Sink(), Sink()]
    owners = ["alice", "bob", "carol", "alice"]  # alice has two sessions
    clients = [hub.connect(login, sink) for login, sink in zip(owners, sinks, strict=True)]
    handle_line(hub, clients[1], "/create dev")
    for index, line in script:
        outcome = handle_line(hub, clients[index], line)
        assert isinstance(outcome, Outcome)
    for login, sink, client in zip(owners, sinks, clients, strict=True):
        for color in (False, True):
            renderer = Renderer(color=color, own_login=login)
            for event in sink.events:
                for out in renderer.render(event, client.current.name):
                    if not color:
                        assert "\x1b" not in out, (event, out)
                        assert bad_chars(out) == [], (event, out)
                    else:
                        assert bad_chars(out.replace("\x1b", "")) == [], (event, out)
                    assert "\n" not in out and "\r" not in out
            for event in sink.events:
                if isinstance(event, ChatMessage):
                    # A paste is one message of several lines, each clean.
                    lines = event.text.split("\n")
                    assert event.text and all(bad_chars(line) == [] for line in lines)
                if isinstance(event, Notice):
                    assert event.text


@settings(max_examples=200, deadline=None)
@given(TEXT)
def test_chat_line_reaches_each_member_session_once(text: str) -> None:
    hub = Hub([("alice", True), ("bob", False), ("carol", False)], default_channel="lobby")
    sinks = {name: Sink() for name in ("alice1", "alice2", "bob", "carol")}
    a1 = hub.connect("alice", sinks["alice1"])
    hub.connect("alice", sinks["alice2"])
    b = hub.connect("bob", sinks["bob"])
    hub.connect("carol", sinks["carol"])
    handle_line(hub, a1, "/create dev")
    handle_line(hub, b, "/join dev")
    for sink in sinks.values():
        sink.events.clear()
    line = text.replace("\r", "").replace("\n", "")
    handle_line(hub, b, "/" + line if line.startswith("/") else line)
    chats = {name: [e for e in s.events if isinstance(e, ChatMessage)] for name, s in sinks.items()}
    assert chats["carol"] == []
    if chats["bob"]:
        assert len(chats["bob"]) == 1
        assert chats["alice1"] == chats["bob"] == chats["alice2"]
        assert chats["bob"][0].channel == "dev"
        assert chats["bob"][0].text == sanitize(line)
    else:
        assert not sanitize(line) or len(sanitize(line)) > hub.max_text
