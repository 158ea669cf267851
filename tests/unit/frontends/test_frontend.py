"""Outbox, LineGuard and the plain-line front end, on a fake transport (no SSH)."""

from __future__ import annotations

import asyncio

import pytest
from helpers.logs import HeldLog
from helpers.sinks import RecordingSink
from hypothesis import given, settings
from hypothesis import strategies as st

from sshchat.core.events import ChatMessage, Notice, NoticeKind
from sshchat.core.hub import Hub
from sshchat.frontends.base import INBOX_HIGH, SLICE, LineFrontEnd, LineGuard, Outbox

# -- Outbox --------------------------------------------------------------------------


def note(n: int) -> Notice:
    return Notice(f"n{n}")


async def test_outbox_drops_oldest_and_reports_count() -> None:
    box = Outbox(3, lambda reason: None)
    for i in range(5):
        box.deliver(note(i))
    assert len(box) == 3
    items, dropped = await box.take()
    assert [e.text for e in items] == ["n2", "n3", "n4"]
    assert dropped == 2
    box.deliver(note(5))
    items, dropped = await box.take()
    assert [e.text for e in items] == ["n5"]
    assert dropped == 0  # the count is reset once reported


async def test_outbox_within_limit_drops_nothing() -> None:
    box = Outbox(10, lambda reason: None)
    for i in range(10):
        box.deliver(note(i))
    items, dropped = await box.take()
    assert len(items) == 10 and dropped == 0


async def test_outbox_limit_at_least_one() -> None:
    box = Outbox(0, lambda reason: None)
    box.deliver(note(1))
    box.deliver(note(2))
    items, dropped = await box.take()
    assert [e.text for e in items] == ["n2"] and dropped == 1


async def test_outbox_take_waits_for_delivery() -> None:
    box = Outbox(5, lambda reason: None)
    task = asyncio.create_task(box.take())
    await asyncio.sleep(0)
    assert not task.done()
    box.deliver(note(1))
    items, dropped = await asyncio.wait_for(task, 1)
    assert [e.text for e in items] == ["n1"] and dropped == 0


async def test_outbox_sealed_accepts_nothing_and_close_calls_back() -> None:
    reasons: list[str] = []
    box = Outbox(5, reasons.append)
    box.deliver(note(1))
    box.seal()
    box.deliver(note(2))
    items, _ = await asyncio.wait_for(box.take(), 1)
    assert [e.text for e in items] == ["n1"]
    box.close("account removed")
    assert reasons == ["account removed"]


# -- LineGuard -------------------------------------------------------------------------


def test_guard_lines_within_limit_pass_untouched() -> None:
    guard = LineGuard(5)
    data = "hello\nworld\r\n\r\nabc\rde"
    assert guard.filter(data) == (data, False)
    assert guard.filter("fg\n") == ("fg\n", False)  # "defg" is 4 long, still fine


def test_guard_exact_limit_passes() -> None:
    guard = LineGuard(5)
    assert guard.filter("12345\n") == ("12345\n", False)
    assert guard.filter("123") == ("123", False)
    assert guard.filter("45") == ("45", False)
    assert guard.filter("\n") == ("\n", False)


def test_guard_cuts_over_long_line_then_discards_to_newline() -> None:
    guard = LineGuard(5)
    assert guard.filter("abcdefghij") == ("abcde", True)
    assert guard.discarding
    assert guard.filter("klmnop") == ("", False)  # reported once only
    assert guard.filter("qr\nok\n") == ("ok\n", False)
    assert not guard.discarding
    assert guard.filter("fine\n") == ("fine\n", False)


def test_guard_over_long_line_and_following_line_in_one_call() -> None:
    guard = LineGuard(4)
    kept, overflowed = guard.filter("abcdefgh\nok\n")
    assert overflowed
    assert kept.startswith("abcd") and kept.endswith("ok\n")
    assert "e" not in kept and "h" not in kept
    assert guard.filter("next\n") == ("next\n", False)


def test_guard_count_continues_across_calls() -> None:
    guard = LineGuard(5)
    assert guard.filter("abc") == ("abc", False)
    assert guard.filter("def") == ("de", True)
    assert guard.filter("\n") == ("", False)  # the break ends the discarded line
    assert guard.filter("abc\n") == ("abc\n", False)


def test_guard_overflow_reported_once_when_fed_char_by_char() -> None:
    guard = LineGuard(5)
    results = [guard.filter(ch) for ch in "x" * 100 + "\r\nok\n"]
    assert sum(overflowed for _, overflowed in results) == 1
    assert "".join(kept for kept, _ in results) == "xxxxx" + "\nok\n"


def test_guard_split_cuts_after_each_over_long_line() -> None:
    guard = LineGuard(4)
    assert guard.split("ok\nabcdefgh\nfine\nxxxxxxx") == [
        ("ok\nabcd", True),
        ("fine\nxxxx", True),
    ]
    assert guard.split("yy\nnext\n") == [("next\n", False)]
    assert guard.split("") == []


GUARD_LINE = st.builds(lambda ch, n: ch * n, st.sampled_from("ab x"), st.integers(0, 14))


@settings(max_examples=200)
@given(
    st.lists(st.tuples(GUARD_LINE, st.sampled_from(["\n", "\r\n", "\r"])), max_size=8),
    GUARD_LINE,
    st.lists(st.integers(0, 200), max_size=12),
)
def test_guard_result_does_not_depend_on_how_input_is_split(
    lines: list[tuple[str, str]], tail: str, cuts: list[int]
) -> None:
    limit = 6
    data = "".join(text + end for text, end in lines) + tail
    whole_kept, whole_overflowed = LineGuard(limit).filter(data)

    points = sorted({min(c, len(data)) for c in cuts})
    chunks = [data[i:j] for i, j in zip([0, *points], [*points, len(data)], strict=True)]
    guard = LineGuard(limit)
    results = [guard.filter(chunk) for chunk in chunks]
    assert "".join(kept for kept, _ in results) == whole_kept
    assert any(o for _, o in results) == whole_overflowed

    long_lines = sum(len(text) > limit for text, _ in lines) + (len(tail) > limit)
    by_char = LineGuard(limit)
    assert sum(by_char.filter(ch)[1] for ch in data) == long_lines


# -- LineFrontEnd on a fake transport -------------------------------------------------


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[str] = []
        self.calls: list[object] = []
        self.paused = False

    def write(self, data: str) -> None:
        self.written.append(data)

    def pause_reading(self) -> None:
        self.calls.append("pause")
        self.paused = True

    def resume_reading(self) -> None:
        self.calls.append("resume")
        self.paused = False

    def exit(self, status: int) -> None:
        self.calls.append(("exit", status))

    @property
    def text(self) -> str:
        return "".join(self.written)


class RecordingFrontEnd(LineFrontEnd):
    """A LineFrontEnd that also records every line it hands to the command layer."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.submitted: list[str] = []

    def submit(self, line: str) -> None:
        self.submitted.append(line)
        super().submit(line)

    @property
    def lines(self) -> list[str]:
        # "\r\n" holds an empty line between its two breaks; the hub ignores those
        return [line for line in self.submitted if line]


def make_hub() -> Hub:
    return Hub([("alice", True), ("bob", False)], default_channel="lobby")


async def settle(fe: LineFrontEnd, turns: int = 100_000) -> None:
    """Run the loop until the front end has handled all input fed so far."""
    for _ in range(turns):
        await asyncio.sleep(0)
        if not fe._inbox and not fe._pump_scheduled:
            await asyncio.sleep(0)  # let the writer run too
            return
    raise AssertionError("front end did not settle")


class Session:
    def __init__(self, **kwargs) -> None:
        self.hub = make_hub()
        self.bob = RecordingSink()
        self.hub.connect("bob", self.bob)
        self.transport = FakeTransport()
        self.fe = RecordingFrontEnd(self.hub, self.transport, "alice", **kwargs)
        self.fe.start()

    async def close(self) -> None:
        self.fe.connection_lost()
        if self.fe._task is not None:
            await asyncio.gather(self.fe._task, return_exceptions=True)


@pytest.fixture
async def session():
    sessions: list[Session] = []

    def make(**kwargs) -> Session:
        s = Session(**kwargs)
        sessions.append(s)
        return s

    yield make
    for s in sessions:
        await s.close()


async def test_two_lines_submitted(session) -> None:
    s = session()
    s.fe.feed("hello\r\nworld\n")
    await settle(s.fe)
    assert s.fe.lines == ["hello", "world"]
    assert s.bob.chats() == ["hello", "world"]
    assert "<alice> hello\n" in s.transport.text  # own lines echoed back, plain
    assert "\x1b" not in s.transport.text


async def test_partial_line_waits_for_its_end(session) -> None:
    s = session()
    s.fe.feed("hel")
    await settle(s.fe)
    assert s.fe.lines == []
    s.fe.feed("lo\r")
    await settle(s.fe)
    assert s.fe.lines == ["hello"]


SPLIT_DATA = "one\r\ntwo\nthree\r\n\nfour\rfive\n/who\n"
SPLIT_LINES = ["one", "two", "three", "four", "five", "/who"]


async def _feed_chunks(chunks: list[str], settle_between: bool, **kwargs) -> list[str]:
    s = Session(**kwargs)
    try:
        for chunk in chunks:
            s.fe.feed(chunk)
            if settle_between:
                await settle(s.fe)
        await settle(s.fe)
        return s.fe.lines
    finally:
        await s.close()


def chunked(data: str, cuts: list[int]) -> list[str]:
    points = sorted({min(c, len(data)) for c in cuts})
    return [data[i:j] for i, j in zip([0, *points], [*points, len(data)], strict=True)]


@pytest.mark.parametrize("cut", range(len(SPLIT_DATA) + 1))
async def test_same_lines_whatever_the_split_point(cut: int) -> None:
    chunks = [SPLIT_DATA[:cut], SPLIT_DATA[cut:]]
    assert await _feed_chunks(chunks, settle_between=True) == SPLIT_LINES
    assert await _feed_chunks(chunks, settle_between=False) == SPLIT_LINES


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, len(SPLIT_DATA)), max_size=15), st.booleans())
def test_same_lines_whatever_the_splits(cuts: list[int], settle_between: bool) -> None:
    chunks = chunked(SPLIT_DATA, cuts)
    assert asyncio.run(_feed_chunks(chunks, settle_between)) == SPLIT_LINES


LONG_DATA = "short\r\n" + "x" * 25 + "\r\nafter\n" + "y" * 11 + "\nlast\n" + "z" * 40 + "\rend\n"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, len(LONG_DATA)), max_size=10), st.booleans())
def test_over_long_lines_dropped_whatever_the_splits(cuts: list[int], settle_between: bool) -> None:
    chunks = chunked(LONG_DATA, cuts)
    lines = asyncio.run(_feed_chunks(chunks, settle_between, max_line=10))
    assert lines == ["short", "after", "last", "end"]


async def test_over_long_line_gives_error_and_is_not_sent(session) -> None:
    s = session(max_line=10)
    s.fe.feed("x" * 50 + "\nhello\n")
    await settle(s.fe)
    assert s.fe.lines == ["hello"]
    assert s.bob.chats() == ["hello"]
    assert s.transport.text.count("error: line too long") == 1
    assert "the limit is 10 characters" in s.transport.text


async def test_over_long_line_spanning_slices_is_not_sent(session) -> None:
    s = session(max_line=2000)
    s.fe.feed("x" * (3 * SLICE) + "\r\nhello\r\n")
    await settle(s.fe)
    assert s.fe.lines == ["hello"]
    assert s.bob.chats() == ["hello"]
    assert s.transport.text.count("error: line too long") == 1


async def test_line_at_limit_is_sent(session) -> None:
    s = session(max_line=10)
    s.fe.feed("0123456789\n")
    await settle(s.fe)
    assert s.bob.chats() == ["0123456789"]
    assert "error" not in s.transport.text


def big_input(total: int = 200 * 1024, width: int = 100) -> tuple[str, list[str]]:
    lines = [f"line {i:06d} ".ljust(width - 1, ".") for i in range(total // width)]
    return "".join(line + "\n" for line in lines), lines


async def test_big_feed_pauses_reading_then_resumes(session) -> None:
    s = session()
    data, lines = big_input()
    assert len(data) > INBOX_HIGH
    s.fe.feed(data)
    assert s.transport.calls == ["pause"]  # at once, before any of it is handled
    await settle(s.fe)
    assert s.transport.calls == ["pause", "resume"]
    assert s.fe.lines == lines
    assert s.bob.chats()[-1] == lines[-1]


async def test_big_feed_in_chunks_honouring_pause(session) -> None:
    s = session()
    data, lines = big_input()
    chunks = chunked(data, list(range(4096, len(data), 4096)))
    pending = list(chunks)
    for _ in range(100_000):
        if not pending:
            break
        if not s.transport.paused:  # a real transport stops delivering while paused
            s.fe.feed(pending.pop(0))
        await asyncio.sleep(0)
    assert not pending
    await settle(s.fe)
    assert "pause" in s.transport.calls
    assert s.transport.calls.count("pause") == s.transport.calls.count("resume")
    assert not s.transport.paused
    assert s.fe.lines == lines


async def test_end_of_input_flushes_partial_line_then_exits(session) -> None:
    s = session()
    s.fe.feed("hello\npartial")
    s.fe.end_of_input()
    await asyncio.wait_for(s.fe._task, 2)
    assert s.fe.lines == ["hello", "partial"]
    assert s.bob.chats() == ["hello", "partial"]
    assert ("exit", 0) in s.transport.calls
    assert "<alice> partial" in s.transport.text  # written before the exit
    assert not s.hub.accounts["alice"].online


async def test_end_of_input_after_big_feed_handles_everything_first(session) -> None:
    s = session()
    data, lines = big_input(total=100 * 1024)
    s.fe.feed(data + "tail")
    s.fe.end_of_input()
    await asyncio.wait_for(s.fe._task, 5)
    assert s.fe.lines == [*lines, "tail"]
    assert s.transport.calls[-1] == ("exit", 0)


async def test_end_of_input_with_nothing_typed_exits(session) -> None:
    s = session()
    s.fe.end_of_input()
    await asyncio.wait_for(s.fe._task, 2)
    assert s.fe.lines == []
    assert s.transport.calls == [("exit", 0)]


async def test_quit_command_ends_session(session) -> None:
    s = session()
    s.fe.feed("/quit\nnot sent\n")
    await asyncio.wait_for(s.fe._task, 2)
    assert s.bob.chats() == []
    assert "Bye!" in s.transport.text
    assert s.transport.calls[-1] == ("exit", 0)


async def test_welcome_and_errors_written_plain(session) -> None:
    s = session(welcome="Welcome!\nType /help for commands")
    s.fe.feed("/jion x\n")
    await settle(s.fe)
    text = s.transport.text
    assert text.startswith("Welcome!\nType /help for commands\n")
    assert "error: unknown command /jion. Did you mean /join?" in text
    assert "\x1b" not in text


async def test_dropped_events_are_reported(session) -> None:
    s = session(queue_limit=3)
    client = s.fe.client
    assert client is not None
    await settle(s.fe)  # the login's own lines first
    for i in range(10):
        s.fe.outbox.deliver(Notice(f"n{i}", NoticeKind.INFO))
    await settle(s.fe)
    text = s.transport.text
    assert "7 lines were dropped" in text
    assert "n9" in text and "n2" not in text


def test_line_guard_ctrl_c_starts_a_new_line_for_terminals() -> None:
    guard = LineGuard(10, "\r\n\x03")
    for _ in range(5):  # typed, cleared with Ctrl-C, typed again ...
        kept, overflowed = guard.filter("x" * 9 + "\x03")
        assert not overflowed
        assert kept == "x" * 9 + "\x03"
    plain = LineGuard(10)  # plain line mode: Ctrl-C is just a character
    _, overflowed = plain.filter(("x" * 9 + "\x03") * 2)
    assert overflowed


async def test_front_end_uses_the_registry_it_was_given(session) -> None:
    from sshchat.commands import build_registry
    from sshchat.commands.args import text
    from sshchat.commands.registry import Context, Topic, command

    @command("shout", text("TEXT"), summary="say loudly", topic=Topic.CHATTING)
    def shout(ctx: Context, text: str) -> None:
        ctx.hub.say(ctx.client, text.upper())

    registry = build_registry()
    registry.add(shout)
    s = session(registry=registry, welcome="Hello there.\nBe nice.")
    s.fe.feed("/shout hi\n/help shout\n/motd\n/clear\n")
    await settle(s.fe)
    assert s.bob.chats() == ["HI"]
    assert "usage: /shout TEXT" in s.transport.text
    assert s.transport.text.count("Hello there.\nBe nice.\n") == 2  # at login, then /motd
    assert "nothing to clear" in s.transport.text
    plain = session()  # the default registry: the built-in commands only
    plain.fe.feed("/shout hi\n")
    await settle(plain.fe)
    assert "unknown command /shout" in plain.transport.text


# -- cluster mode: lines wait for the shared log ---------------------------------------


class HeldSession:
    """alice on a hub whose log holds every batch until the test releases it."""

    def __init__(self) -> None:
        self.log = HeldLog()
        self.hub = Hub([("alice", True), ("bob", False)], default_channel="lobby", log=self.log)
        self.log.release()  # the accounts
        self.bob = RecordingSink()
        self.hub.connect("bob", self.bob)
        self.transport = FakeTransport()
        self.fe = RecordingFrontEnd(self.hub, self.transport, "alice")
        self.fe.start()
        self.log.release()  # the logins

    def said(self) -> list[str]:
        return [e.text for e in self.bob.events if isinstance(e, ChatMessage)]


async def test_lines_said_go_to_the_log_without_waiting_for_the_one_before() -> None:
    s = HeldSession()
    s.fe.feed("one\r\ntwo\r\n//three\r\n")
    await settle(s.fe)
    # Three batches appended at once, not one per round trip to the log.
    assert len(s.log.queued) == 3
    assert s.log.release() == 3
    assert s.said() == ["one", "two", "/three"]
    await close(s.fe)


async def test_a_line_said_after_a_command_waits_for_the_command_to_apply() -> None:
    s = HeldSession()
    s.fe.feed("before\r\n/create dev\r\nhi\r\n")
    await settle(s.fe)
    assert len(s.log.queued) == 1  # "before"; /create waits for it (a command)
    s.log.release()
    await settle(s.fe)
    assert len(s.log.queued) == 1  # the /create; "hi" waits for it
    s.log.release()
    await settle(s.fe)
    assert len(s.log.queued) == 1  # now "hi", decided in #dev
    s.log.release()
    said = [e for e in s.bob.events if isinstance(e, ChatMessage)]
    assert [e.text for e in said] == ["before"]  # bob is not in #dev
    assert s.hub.channels["dev"].history[-1].text == "hi"
    await close(s.fe)


async def test_a_command_waits_for_the_lines_said_before_it() -> None:
    s = HeldSession()
    s.fe.feed("one\r\n/nick alicia\r\n")
    await settle(s.fe)
    assert len(s.log.queued) == 1
    s.log.release()
    await settle(s.fe)
    assert len(s.log.queued) == 1
    s.log.release()
    assert s.hub.accounts["alice"].nick == "alicia"
    await close(s.fe)


async def test_the_queue_of_waiting_lines_is_built_when_a_line_must_wait_and_then_dropped() -> None:
    s = HeldSession()
    assert s.fe._unapplied is None  # most sessions never hold a line: no queue
    s.fe.feed("one\r\n/me two\r\n/me three\r\n")
    await settle(s.fe)
    assert list(s.fe._unapplied or ()) == ["/me two", "/me three"]  # built on first use
    while s.log.queued or s.fe._unapplied:
        s.log.release()
        await settle(s.fe)
    assert s.fe._unapplied is None
    assert [m.text for m in s.hub.channels["lobby"].history] == ["one", "two", "three"]
    s.fe.feed("/me four\r\n")  # and again, after it was dropped
    await settle(s.fe)
    while s.log.queued or s.fe._unapplied:
        s.log.release()
        await settle(s.fe)
    assert [m.text for m in s.hub.channels["lobby"].history][-1] == "four"
    await close(s.fe)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(0, 2)),  # (a /me command?, releases after it)
        min_size=1,
        max_size=12,
    )
)
async def test_lines_act_in_the_order_typed_however_the_log_hands_them_back(steps) -> None:
    s = HeldSession()
    typed = []
    for n, (command, releases) in enumerate(steps):
        typed.append(f"w{n}")
        s.fe.feed(f"/me w{n}\r\n" if command else f"w{n}\r\n")
        await settle(s.fe)
        for _ in range(releases):
            s.log.release()
            await settle(s.fe)
    while s.log.queued or s.fe._unapplied:
        s.log.release()
        await settle(s.fe)
    assert [m.text for m in s.hub.channels["lobby"].history] == typed
    await close(s.fe)


async def close(fe: LineFrontEnd) -> None:
    fe.connection_lost()
    if fe._task is not None:
        await asyncio.gather(fe._task, return_exceptions=True)
