"""A chat line is rendered once per event and way of showing it, not once per recipient."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sshchat.core.events import ChatMessage
from sshchat.core.prefs import Prefs
from sshchat.frontends import render as render_module
from sshchat.frontends.render import PALETTE_16, PALETTE_256, Renderer

T = 1_764_583_200.0

logins = st.sampled_from(["alice", "bob", "carol", "dave"])
words = st.sampled_from(["hi", "alice", "bob:", "Carol", "x" * 30, "über", "🙂", "a-bob", "dave!"])


@st.composite
def renderers(draw) -> tuple[Renderer, str]:
    login = draw(logins)
    nick = draw(st.sampled_from([login, login.upper(), "zed"]))
    r = Renderer(
        color=draw(st.booleans()),
        own_login=login,
        prefs=Prefs(
            color=draw(st.booleans()),
            timestamps=draw(st.booleans()),
        ),
        own_nick=lambda: nick,
        palette=draw(st.sampled_from([PALETTE_16, PALETTE_256])),
        width=draw(st.sampled_from([None, 20, 40, 80])),
    )
    # Colours already handed out in this session change the sender's colour.
    for other in draw(st.lists(logins, max_size=3)):
        r.nick_sgr(other, "lobby")
    return r, draw(st.sampled_from(["lobby", "dev"]))


@given(
    sender=logins,
    text=st.lists(words, min_size=1, max_size=12).map(" ".join),
    action=st.booleans(),
    channel=st.sampled_from(["lobby", "dev"]),
    sessions=st.lists(renderers(), min_size=1, max_size=6),
)
def test_shared_lines_are_what_each_session_would_render_alone(
    sender, text, action, channel, sessions
) -> None:
    event = ChatMessage(channel, sender, sender.title(), text, action=action, time=T)
    shared = [r.render(event, current) for r, current in sessions]
    for (r, current), lines in zip(sessions, shared, strict=True):
        render_module._shared.clear()
        assert r.render(event, current) == lines


def test_five_hundred_recipients_render_the_line_once(monkeypatch) -> None:
    calls = []
    original = Renderer._line

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Renderer, "_line", counting)
    event = ChatMessage("lobby", "alice", "alice", "hello everyone " * 8, time=T)
    lines = set()
    for i in range(500):
        r = Renderer(color=True, own_login=f"user{i}", width=80)
        lines.add(tuple(r.render(event, "lobby")))
    assert len(lines) == 1
    assert len(calls) == 1
    # The sender's own session shows the line differently (its nick in bold).
    own = Renderer(color=True, own_login="alice", width=80).render(event, "lobby")
    assert tuple(own) not in lines and len(calls) == 2


def test_a_mention_is_highlighted_only_for_the_one_mentioned() -> None:
    event = ChatMessage("lobby", "alice", "alice", "bob: look", time=T)
    bob = Renderer(color=True, own_login="bob").render(event, "lobby")
    carol = Renderer(color=True, own_login="carol").render(event, "lobby")
    assert "\x1b[1m\x1b[33mbob: look" in bob[0]
    assert "\x1b[33m" not in carol[0]


def test_the_cache_holds_only_recent_events() -> None:
    r = Renderer(color=False, own_login="bob")
    for i in range(1000):
        r.render(ChatMessage("lobby", "alice", "alice", f"line {i}", time=T), "lobby")
    assert len(render_module._shared) <= render_module._SHARED_EVENTS


NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,5}", fullmatch=True)
LOOKALIKES = "\u212a\u017f\u0130\u0131\u00e9"  # Kelvin sign, long s, dotted/dotless i, e-acute
NOISE = st.text(alphabet=st.sampled_from("abkKsSiI -_:,.1" + LOOKALIKES), max_size=12)


@given(login=NAMES, nick=NAMES, data=st.data())
def test_the_shared_lowercase_precheck_never_changes_who_is_mentioned(
    login: str, nick: str, data: st.DataObject
) -> None:
    """Mentions found with the per-line lowercase pre-check are those the regex finds alone
    (names in any case, inside words, and non-ASCII lookalikes such as the Kelvin sign)."""
    kelvin = nick.replace("k", "\u212a").replace("K", "\u212a")  # matches "k" with IGNORECASE
    name = data.draw(st.sampled_from([nick, login, nick.swapcase(), login.upper(), kelvin, ""]))
    text = data.draw(NOISE) + name + data.draw(NOISE)
    r = Renderer(color=True, own_login=login)
    r.set_own_nick(lambda: nick)
    event = ChatMessage("lobby", "alice", "alice", text, time=T)
    lowered = render_module._ascii_lower(event)
    assert r._mentions_me(text, lowered) == r._mentions_me(text)
