"""Typed input: plain chunks skip the VT100 parser; the prompt's repaint survives renders.

Finding 2 of bench/RESULTS.md: every typed character went through
prompt_toolkit's parser, and every render of the prompt threw away the recorded
repaint, so the next line printed to a session that types went through a full
render. Both made a typed line cost as much as tens of deliveries.
"""

from __future__ import annotations

import asyncio
import re

from helpers.frontends import Recorder, stop, until
from helpers.screen import TerminalScreen
from helpers.sinks import RecordingSink
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sshchat.core.events import ChatMessage, Notice
from sshchat.core.hub import Hub
from sshchat.frontends import terminal
from sshchat.frontends.terminal import (
    PASTE_RUN,
    ChannelInput,
    TerminalFrontEnd,
    _merge_runs,
    _Parser,
)

# Everything a client may send but ESC: printable text, C0/C1 controls, DEL,
# joiners and other characters that are not printable, wide characters.
no_escape = st.text(
    alphabet=st.one_of(
        st.sampled_from("abc xyz/#@\r\n\t\x7f\x03\x04\x00\x15\x17\x85\x9b\u200d\u2028é中🙂"),
        st.characters(blacklist_characters="\x1b", blacklist_categories=("Cs",)),
    ),
    max_size=60,
)


def parsed(data: str) -> list[tuple[object, str]]:
    keys: list = []
    parser = _Parser(keys.append)
    parser.feed(data)
    return [(k.key, k.data) for k in _merge_runs(keys)]


@given(no_escape)
def test_keys_without_the_parser_are_the_parsers_keys(data: str) -> None:
    got = [(k.key, k.data) for k in terminal._keys_without_parser(data)]
    assert got == parsed(data)


def test_plain_chunks_skip_the_parser_until_an_escape_may_be_pending(monkeypatch) -> None:
    fed: list[str] = []
    original = _Parser.feed
    monkeypatch.setattr(
        _Parser, "feed", lambda self, data: (fed.append(data), original(self, data))
    )
    chan = ChannelInput()
    chan.feed("hello there, everyone\r")
    keys = chan.read_keys()
    assert [k.data for k in keys] == ["hello there, everyone", "\r"]
    assert fed == []
    chan.feed("\x1b[A")  # Up: an escape sequence goes through the parser...
    chan.read_keys()
    chan.feed("x")  # ...and so does what follows, until the parser is flushed
    chan.read_keys()
    assert fed == ["\x1b[A", "x"]
    chan.flush_keys()
    chan.feed("back to plain\r")
    chan.read_keys()
    assert fed == ["\x1b[A", "x"]


def test_a_lone_escape_then_text_still_reaches_the_parser() -> None:
    chan = ChannelInput()
    chan.feed("\x1b")
    assert chan.read_keys() == []  # maybe the start of a sequence
    chan.feed("b")  # Alt-b
    keys = chan.read_keys() + chan.flush_keys()
    assert [(k.key, k.data) for k in keys] == parsed("\x1bb")


async def test_the_repaint_is_kept_when_the_prompt_looks_as_when_it_was_recorded() -> None:
    transport = Recorder()
    hub = Hub([("alice", False), ("bob", False)], default_channel="lobby")
    front = TerminalFrontEnd(hub, transport, "alice", welcome="hi")
    front.start()
    app = None
    try:
        await until(lambda: front._replay is not None)  # recorded by the welcome's print
        app = front.app
        assert app is not None
        front.feed("draft")
        await until(lambda: "draft" in transport.text)
        await until(lambda: front._replay is None)  # the prompt shows the draft now
        front.feed("\x15sent line\r")  # Ctrl-U, a line, Enter: empty prompt again
        await until(lambda: "sent line" in transport.text and not app.current_buffer.text)
        # Its own line came back through a full print; the render its Enter asked
        # for is skipped (the prompt looks as drawn), and the repaint is kept.
        await until(lambda: front._replay is not None and not app.invalidated)
        # The next print replays it: no full render of the prompt.
        renders = app.render_counter
        front.outbox.deliver(Notice("from-outside"))
        await until(lambda: "from-outside" in transport.text)
        for _ in range(50):
            await asyncio.sleep(0)
        assert app.render_counter == renders
    finally:
        await stop(front)


async def _typed(chunks: list[str]) -> tuple[str, list[str], int]:
    """Alice types ``chunks``, each one read: her screen, what Bob got, her renders."""
    transport = Recorder()
    hub = Hub([("alice", False), ("bob", False)], default_channel="lobby")
    bob = RecordingSink()
    hub.connect("bob", bob)
    front = TerminalFrontEnd(hub, transport, "alice", welcome="hi")
    front.start()
    try:
        await until(lambda: front._replay is not None)  # the welcome is on screen
        app = front.app
        assert app is not None
        renders = app.render_counter
        for chunk in chunks:
            front.feed(chunk)
            await until(lambda: _settled(front))
        front.outbox.deliver(Notice("end-marker"))  # after her own lines, in order
        await until(lambda: "end-marker" in transport.text and not app.invalidated)
        said = [e.text for e in bob.events if isinstance(e, ChatMessage)]
        screen = TerminalScreen(80, 24)
        return screen.text(transport.text), said, app.render_counter - renders
    finally:
        await stop(front)


def _settled(front: TerminalFrontEnd) -> bool:
    """Every read handed on and handled, no redraw pending."""
    app = front.app
    return (
        app is not None
        and not front._inbox
        and not front._pump_scheduled
        and not front.input.waiting
        and not app.invalidated
    )


def _stamps(screen: str) -> str:
    return re.sub(r"\b\d\d:\d\d\b", "hh:mm", screen)


line_text = st.text(alphabet="abc xyz.é中🙂", min_size=1, max_size=30).filter(str.strip)


@settings(max_examples=15, deadline=None)
@given(st.lists(line_text, min_size=1, max_size=3))
def test_lines_typed_in_one_read_look_and_say_the_same_as_key_by_key(lines) -> None:
    async def both() -> tuple[tuple[str, list[str], int], tuple[str, list[str], int]]:
        at_once = await _typed([line + "\r" for line in lines])
        key_by_key = await _typed([ch for line in lines for ch in line + "\r"])
        return at_once, key_by_key

    at_once, key_by_key = asyncio.run(both())
    assert _stamps(at_once[0]) == _stamps(key_by_key[0])
    assert at_once[1] == key_by_key[1] == [line.strip() for line in lines]


async def test_a_line_typed_in_one_read_costs_no_render_of_the_prompt() -> None:
    # The input line is empty before and after "hello\r": nothing to draw. (Its own
    # line coming back is printed by replaying the recorded repaint, no render either.)
    _, said, renders = await _typed(["hello\r", "again\r"])
    assert said == ["hello", "again"]
    assert renders == 0


# Reads a client may send: typed lines (one read with their Enter, the fast
# path), and editing keys that give the next line another meaning: Ctrl-R
# search (and its text), Ctrl-Space (a selection), Ctrl-A, Ctrl-U, Ctrl-W,
# Ctrl-G, Ctrl-C, a command that changes the prompt.
reads = st.sampled_from(
    [
        "hello\r",
        "hi there, all\r",
        "x\r",
        "abc",
        "\x12",
        "\x12hel",
        "\x00",
        "\x01",
        "\x15",
        "\x17",
        "\x07",
        "\x03",
        "/nick alicia\r",
    ]
)


@settings(max_examples=25, deadline=None)
@given(st.lists(reads, min_size=1, max_size=6))
def test_reads_with_editing_keys_look_and_say_the_same_as_key_by_key(chunks) -> None:
    # One exception, by design: a run of PASTE_RUN or more plain characters in
    # one read is a paste, inserted even while a Ctrl-Space selection is active,
    # where prompt_toolkit's Emacs mode ignores the same characters typed one by
    # one. (A selection lasts until a later key ends it, so leave such runs out
    # after any Ctrl-Space.)
    if "\x00" in chunks:
        later = chunks[chunks.index("\x00") :]
        assume(not any(len(run) >= PASTE_RUN for c in later for run in re.split(r"[\x00-\x1f]", c)))

    async def both() -> tuple[tuple[str, list[str], int], tuple[str, list[str], int]]:
        at_once = await _typed(chunks)
        key_by_key = await _typed([ch for chunk in chunks for ch in chunk])
        return at_once, key_by_key

    at_once, key_by_key = asyncio.run(both())
    assert _stamps(at_once[0]) == _stamps(key_by_key[0])
    assert at_once[1] == key_by_key[1]


async def test_a_typed_line_skips_the_key_processor_only_when_nothing_is_pending() -> None:
    transport = Recorder()
    front = TerminalFrontEnd(Hub([("alice", False)], default_channel="lobby"), transport, "alice")
    front.start()
    try:
        await until(lambda: front.app is not None and front.app.is_running)
        app = front.app
        assert app is not None
        processed: list[int] = []
        original = app.key_processor.process_keys

        def counting() -> None:
            processed.append(len(app.key_processor.input_queue))
            original()

        app.key_processor.process_keys = counting  # type: ignore[method-assign]
        front.feed("hello\r")
        await until(lambda: _settled(front) and not app.current_buffer.text)
        assert processed == []  # inserted and sent at once
        front.feed("\x12")  # Ctrl-R: now the same read means "search for it"
        await until(lambda: _settled(front) and app.layout.is_searching)
        front.feed("hel\r")
        await until(lambda: _settled(front) and not app.layout.is_searching)
        assert processed == [1, 4]
    finally:
        await stop(front)


async def test_a_print_after_a_command_changed_the_prompt_records_the_new_repaint() -> None:
    # "/join" changes the prompt; the render comes later. A
    # notice printed before it (here: Carol joining right after Bob) went out by
    # replaying the old prompt's repaint, and once the render came no repaint was
    # left, so the session's next print was a full one: 500 sessions at once in
    # the first second of the spread bench.
    hub = Hub([("alice", False), ("bob", False), ("carol", False)], default_channel="lobby")
    fronts = [TerminalFrontEnd(hub, Recorder(), name) for name in ("alice", "bob", "carol")]
    for front in fronts:
        front.start()
    alice, bob, carol = fronts
    try:
        await until(lambda: all(f.app is not None and f.app.is_running for f in fronts))
        alice.feed("/create dev\r")
        await until(lambda: alice.client.current.name == "dev")
        await until(lambda: all(_settled(f) and f.input.idle and not len(f.outbox) for f in fronts))
        bob.feed("/join dev\r")
        carol.feed("/join dev\r")  # the same turn of the loop
        await until(lambda: carol.client.current.name == "dev")
        # Both join notices printed ("carol connected" already named her at login).
        await until(lambda: bob.transport.text.count("joined #dev") == 2 and _settled(bob))
        assert bob._replay is not None and "dev" in bob._replay
        app = bob.app
        assert app is not None
        renders = app.render_counter
        alice.feed("to the channel\r")
        await until(lambda: "to the channel" in bob.transport.text and _settled(bob))
        assert app.render_counter == renders
    finally:
        for front in fronts:
            await stop(front)
