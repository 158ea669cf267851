"""The interactive front end: a small prompt_toolkit line editor per pty session.

Design notes (see ``shared/stack-notes.md`` for the measurements behind them):

* Input never touches a file descriptor: :class:`ChannelInput` is fed straight
  from the SSH channel, so there is no pipe to block on and no ``select()``
  limit on the number of sessions.
* One :class:`~prompt_toolkit.application.Application` runs for the whole
  session (no ``PromptSession`` restarted per line); its key bindings and style
  are built once and shared by every session.
* Incoming lines are printed above the prompt in one shared callback per
  fan-out pass (``frontends.base.Flusher``) by replaying the recorded repaint
  of the prompt, which needs no prompt_toolkit call; when there is none to
  replay, the session's own writer task prints through ``in_terminal()`` in
  the session's own prompt_toolkit context. Lines arriving while a session is
  busy are batched so that a burst costs one write.
* Cursor-position requests and bracketed paste are off (nothing waits on a
  client's answer, and a client cannot make the parser hoard input). A paste
  is recognised instead by several lines arriving in one read: its line
  breaks become new lines in the input, and once the paste has stopped
  arriving (:data:`PASTE_SETTLE`) it is sent as one message of several lines,
  or, if it did not end with a line break, left in the input line to finish.
  A paste longer than ``[limits] max_paste_lines`` is refused whole.
* Editing: Emacs keys, Up/Down through the session's own earlier lines (a
  bounded history), Ctrl-R reverse search (its one-line search field exists in
  the layout only while searching) and Tab completion of commands, nicks and
  channels (one shared completer; ambiguous candidates are printed above the
  prompt, no completion menu is ever laid out).
* Widths: prompt_toolkit measures the line being typed one code point at a
  time (wcwidth) and puts zero-width ones (ZWJ, VS16) in the cell before.
  A ZWJ sequence counts as the sum of its parts (a family 6 columns, the
  rainbow flag 3, a heart with VS16 1), and where the input line wraps it may
  be split between two of its parts (the joiner stays with the first one, so
  nothing is lost or garbled: a family at the edge shows as a couple and a
  child on the next row). That is what xterm and tmux draw; terminals that
  draw such a sequence as one glyph (2 columns) show the cursor after it too
  far right, or one column short for VS16. Chat lines do not depend on it:
  the renderer wraps them with its own, never-too-small count, and never
  inside a sequence (:func:`~sshchat.frontends.render.cell_width`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Iterator
from typing import Any, TextIO, cast

import prompt_toolkit.application.application as _app_module
from prompt_toolkit import search
from prompt_toolkit.application import Application
from prompt_toolkit.application.current import create_app_session, get_app
from prompt_toolkit.application.run_in_terminal import in_terminal
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.data_structures import Size
from prompt_toolkit.document import Document
from prompt_toolkit.enums import EditingMode
from prompt_toolkit.filters import Condition, is_searching
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.history import History
from prompt_toolkit.input import Input
from prompt_toolkit.input.ansi_escape_sequences import ANSI_SEQUENCES
from prompt_toolkit.input.vt100_parser import Vt100Parser
from prompt_toolkit.key_binding import KeyBindings, KeyPress, merge_key_bindings
from prompt_toolkit.key_binding.bindings.page_navigation import load_page_navigation_bindings
from prompt_toolkit.key_binding.defaults import load_key_bindings
from prompt_toolkit.keys import Keys
from prompt_toolkit.layout import ConditionalContainer, HSplit, Layout, Window
from prompt_toolkit.layout.controls import BufferControl, SearchBufferControl
from prompt_toolkit.layout.mouse_handlers import MouseHandlers
from prompt_toolkit.layout.processors import BeforeInput
from prompt_toolkit.output.vt100 import Vt100_Output
from prompt_toolkit.styles import BaseStyle, Style, default_ui_style, merge_styles

from sshchat.commands.completion import candidates, common_prefix, format_candidates
from sshchat.commands.refusals import refusal_text
from sshchat.commands.registry import Outcome, Session
from sshchat.core.events import Notice, NoticeKind
from sshchat.core.refusals import PasteTooLong
from sshchat.frontends.base import FrontEnd
from sshchat.frontends.render import palette_for

__all__ = ["ChannelInput", "TerminalFrontEnd"]

# Lines arriving within this many seconds of the last print share one redraw
# (FrontEnd.coalesce_seconds).
COALESCE_SECONDS = 0.03
# Window changes arriving within this many seconds of the first share one redraw.
RESIZE_SECONDS = 0.05
# A run of at least this many plain characters in one read is a paste: it is
# inserted in one step instead of key by key.
PASTE_RUN = 8
# A paste is over when no more of it has arrived for this many seconds.
PASTE_SETTLE = 0.1
# Up/Down and Ctrl-R reach back this many lines, kept to this many characters.
HISTORY_LINES = 100
HISTORY_CHARS = 16_000


class _Parser(Vt100Parser):
    """The VT100 key parser, minus bracketed-paste mode and mouse reports.

    A client could send the paste start marker and then stream forever; the
    stock parser would buffer all of it. We never enable bracketed paste, so
    the markers are simply ignored.

    Mouse tracking is never enabled either, yet the stock parser reads any
    ``ESC [ digits;... m/M`` (an SGR colour code, say) as a mouse report, and
    prompt_toolkit's mouse handler raises on malformed ones, which throws away
    every key still queued (the rest of the line, its Enter). They are dropped.
    """

    def _call_handler(self, key: Any, insert_text: str) -> None:
        if key in (Keys.BracketedPaste, Keys.Vt100MouseEvent):
            return
        super()._call_handler(key, insert_text)


def _is_plain(key_press: KeyPress) -> bool:
    key = key_press.key
    return type(key) is str and len(key) == 1 and key.isprintable()


def _merge_runs(keys: list[KeyPress]) -> list[KeyPress]:
    """Turn long runs of plain characters into single paste key presses."""
    out: list[KeyPress] = []
    i, n = 0, len(keys)
    while i < n:
        j = i
        while j < n and _is_plain(keys[j]):
            j += 1
        after_escape = bool(out) and out[-1].key == Keys.Escape
        if j - i >= PASTE_RUN and not after_escape:
            text = "".join(k.data for k in keys[i:j])
            out.append(KeyPress(Keys.BracketedPaste, text))
            i = j
        elif j > i:
            out.extend(keys[i:j])
            i = j
        else:
            out.append(keys[i])
            i += 1
    return out


_BREAKS = (Keys.ControlM, Keys.ControlJ)
# Typed text as one key press would insert it: printable, no control character.
_TYPED_TEXT = re.compile(r"[^\x00-\x1f\x7f-\x9f]+")
# C0 controls, DEL and C1 controls: each is a key of its own.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _plain_keys(run: str, keys: list[KeyPress]) -> None:
    """Keys for ``run`` (no control characters), as the parser and _merge_runs make them."""
    if len(run) >= PASTE_RUN and run.isprintable():
        keys.append(KeyPress(Keys.BracketedPaste, run))
    elif run:
        keys.extend(_merge_runs([KeyPress(ch, ch) for ch in run]))


def _keys_without_parser(data: str) -> list[KeyPress]:
    """The keys of ``data``, which holds no ESC, without the VT100 parser.

    Only ESC starts a sequence of more than one character, so without it every
    control character is a key by itself (the parser's table, or the
    character) and the text between them is typed text: a typed line and its
    Enter become two key presses instead of a parser step per character
    (``bench/RESULTS.md``, 2026-12-01, section 4).
    """
    keys: list[KeyPress] = []
    start = 0
    for match in _CONTROL.finditer(data):
        _plain_keys(data[start : match.start()], keys)
        ch = match.group()
        key = ANSI_SEQUENCES.get(ch, ch)
        keys.append(KeyPress(key, ch))  # type: ignore[arg-type]  # single characters map to one key
        start = match.end()
    _plain_keys(data[start:], keys)
    return keys


class ChannelInput(Input):
    """prompt_toolkit input fed from an SSH channel instead of a file descriptor.

    Each :meth:`feed` is one read from the client. A read holding a line break
    followed by more input is a paste (nobody types Enter and the next key in
    one read): from then on, until :meth:`paste_done`, line breaks are text and
    ``on_paste`` is called after every read of it. A paste of more than
    ``max_lines()`` lines is dropped from that line on (``paste_overflow``).
    """

    def __init__(
        self,
        on_paste: Callable[[], None] | None = None,
        max_lines: Callable[[], int] = lambda: 50,
    ) -> None:
        self._keys: list[KeyPress] = []
        self._parser = _Parser(self._keys.append)
        # True from the time the parser was given an ESC until it is flushed:
        # it may hold the start of an escape sequence, so it must see what follows.
        self._parser_busy = False
        self._data: list[str] = []
        self._callbacks: list[Callable[[], None] | None] = []
        self._closed = False
        self._on_paste = on_paste
        self._max_lines = max_lines
        self.pasting = False
        self.paste_lines = 0  # lines of the paste so far
        self.paste_overflow = False
        self._line_open = False  # the paste's last line has text after its start

    def feed(self, data: str) -> None:
        self._data.append(data)
        self._notify()

    @property
    def waiting(self) -> bool:
        """Whether input has arrived that was not read yet."""
        return bool(self._data)

    @property
    def idle(self) -> bool:
        """Whether the application is reading and no key is half-way through.

        Attached (not inside ``in_terminal()``), nothing unread, the parser
        holding no part of a sequence, no paste going on: the next read may be
        handled without the parser (see :meth:`TerminalFrontEnd._typed_line`).
        """
        return (
            bool(self._callbacks)
            and self._callbacks[-1] is not None
            and not self._data
            and not self._keys
            and not self._parser_busy
            and not self.pasting
            and not self._closed
        )

    def paste_done(self) -> None:
        self.pasting = False
        self.paste_lines = 0
        self.paste_overflow = False
        self._line_open = False

    def _paste(self, keys: list[KeyPress]) -> list[KeyPress] | None:
        """The keys of one read as a paste (text in one key press), or None if it is not one."""
        if not keys:
            return None
        tail = len(keys)
        while tail and keys[tail - 1].key in _BREAKS:
            tail -= 1
        if not self.pasting and not any(k.key in _BREAKS for k in keys[:tail]):
            return None
        self.pasting = True
        out: list[KeyPress] = []
        text: list[str] = []
        previous: Any = None
        most = max(1, self._max_lines())
        for key_press in keys:
            key = key_press.key
            if key in _BREAKS:
                if not (key == Keys.ControlJ and previous == Keys.ControlM):  # CR LF is one
                    self._line_open = False
                    text.append("\n")
                previous = key
                continue
            if not self._line_open:
                self._line_open = True
                self.paste_lines += 1
            if key == Keys.ControlI:
                text.append("\t")
            elif _is_plain(key_press):
                text.append(key_press.data)
            else:  # other keys (arrows...) keep their meaning
                if text:
                    out.append(KeyPress(Keys.BracketedPaste, "".join(text)))
                    text = []
                out.append(key_press)
            previous = key
        if text:
            out.append(KeyPress(Keys.BracketedPaste, "".join(text)))
        if self.paste_lines > most:
            self.paste_overflow = True
        if self._on_paste is not None:
            self._on_paste()
        return [] if self.paste_overflow else out

    def _notify(self) -> None:
        if self._callbacks and self._callbacks[-1] is not None:
            self._callbacks[-1]()

    def fileno(self) -> int:
        raise NotImplementedError("ChannelInput is fed from an SSH channel")

    def typeahead_hash(self) -> str:
        return f"sshchat-{id(self)}"

    def _take_keys(self) -> list[KeyPress]:
        pasted = self._paste(self._keys)
        keys = pasted if pasted is not None else _merge_runs(self._keys)
        self._keys.clear()
        return keys

    def read_keys(self) -> list[KeyPress]:
        # Read by read, so that a burst (a paste) is told from separate sends.
        keys: list[KeyPress] = []
        chunks, self._data = self._data, []
        for data in chunks:
            if not self._parser_busy and "\x1b" not in data:
                # No escape sequence can start here: skip the VT100 parser.
                self._keys.extend(_keys_without_parser(data))
                keys.extend(self._take_keys())
                continue
            self._parser_busy = True
            self._parser.feed(data)
            keys.extend(self._take_keys())
        keys.extend(self._take_keys())
        return keys

    def flush_keys(self) -> list[KeyPress]:
        self._parser.flush()
        self._parser_busy = False
        return self._take_keys()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True
        self._notify()

    def raw_mode(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def cooked_mode(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def _pushed(self, callback: Callable[[], None] | None) -> Iterator[None]:
        self._callbacks.append(callback)
        try:
            if callback is not None and (self._data or self._closed):
                asyncio.get_running_loop().call_soon(callback)
            yield
        finally:
            self._callbacks.pop()
            if self._callbacks and (self._data or self._closed):
                top = self._callbacks[-1]
                if top is not None:
                    asyncio.get_running_loop().call_soon(top)

    def attach(self, input_ready_callback: Callable[[], None]) -> Any:
        return self._pushed(input_ready_callback)

    def detach(self) -> Any:
        return self._pushed(None)


class _ChannelStdout:
    """The file-like object prompt_toolkit's output writes to."""

    encoding = "utf-8"

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write

    def write(self, data: str) -> int:
        self._write(data.replace("\n", "\r\n"))
        return len(data)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        raise OSError("no file descriptor")


class _ChannelOutput(Vt100_Output):
    """VT100 output without bracketed paste (pastes arrive as typed lines)."""

    def enable_bracketed_paste(self) -> None:
        pass

    def disable_bracketed_paste(self) -> None:
        pass


class _BoundedHistory(History):
    """The session's earlier lines for Up/Down and Ctrl-R, newest first.

    prompt_toolkit's ``InMemoryHistory`` keeps every line twice and forever;
    this keeps one copy of the last :data:`HISTORY_LINES` lines, at most
    :data:`HISTORY_CHARS` characters in all.
    """

    def load_history_strings(self) -> list[str]:
        return []

    def store_string(self, string: str) -> None:
        # append_string() has just put ``string`` first in _loaded_strings.
        strings = self._loaded_strings
        del strings[HISTORY_LINES:]
        total = 0
        for i, line in enumerate(strings):
            total += len(line)
            if total > HISTORY_CHARS and i > 0:
                del strings[i:]
                break


class _LineBuffer(Buffer):
    """The line being typed, with its history in place as soon as it is reset.

    prompt_toolkit loads a buffer's history in a task started at the next
    render after each accepted line, so an Up typed before that render (by a
    fast typist, a paste or a script) found no history at all. Ours is in
    memory: :meth:`reset` puts it in place at once.
    """

    def reset(self, document: Document | None = None, append_to_history: bool = False) -> None:
        super().reset(document, append_to_history)
        earlier = self.history.get_strings()  # oldest first
        if earlier:
            cursor = self.cursor_position
            self._working_lines.extendleft(reversed(earlier))
            self.working_index = len(earlier)
            self.cursor_position = cursor

    def load_history_if_not_yet_loaded(self) -> None:
        """Nothing to load: :meth:`reset` has put the history in place."""


class _ChatCompleter(Completer):
    """Completes commands, nicks and channels for the running session.

    One instance serves every session: it finds the session through the
    running application (:attr:`_ChatApplication.frontend`).
    """

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Any:
        front = getattr(get_app(), "frontend", None)
        if front is None or front.client is None:
            return
        fragment, words = candidates(
            front.hub, front.client, document.text_before_cursor, front.registry
        )
        for word in words:
            yield Completion(word, start_position=-len(fragment))


def _complete(event: Any) -> None:
    """Tab: complete the word before the cursor, readline style.

    One candidate is inserted (with a space after it); several share their
    common prefix; when that adds nothing, they are listed above the prompt.
    """
    buffer = event.current_buffer
    if buffer.completer is None:
        return
    document = buffer.document
    completions = list(
        buffer.completer.get_completions(document, CompleteEvent(completion_requested=True))
    )
    if not completions:
        return
    replaced = -completions[0].start_position
    words = [completion.text for completion in completions]
    if len(words) == 1:
        text = words[0]
        if not document.text_after_cursor[:1].isspace():
            text += " "
    else:
        text = common_prefix(words)
        if len(text) <= replaced:
            front = getattr(event.app, "frontend", None)
            if front is not None:
                front.show_candidates(words)
            return
    buffer.delete_before_cursor(replaced)
    buffer.insert_text(text)


def _build_bindings() -> KeyBindings:
    kb = KeyBindings()
    empty = Condition(lambda: _current_buffer_empty())

    @kb.add("enter")
    def _accept(event: Any) -> None:
        if event.app.layout.is_searching:
            # Like bash: Enter in a reverse search sends the line found.
            search.accept_search()
        event.current_buffer.validate_and_handle()

    @kb.add("c-c")
    def _clear(event: Any) -> None:
        if event.app.layout.is_searching:
            search.stop_search()
        event.current_buffer.reset()

    @kb.add("c-d", filter=empty & ~is_searching)
    def _eof(event: Any) -> None:
        event.app.exit()

    @kb.add("tab", filter=~is_searching)
    def _tab(event: Any) -> None:
        _complete(event)

    @kb.add("c-r", filter=~is_searching)
    def _reverse_search(event: Any) -> None:
        front = getattr(event.app, "frontend", None)
        if front is not None:
            front.enable_search()
        search.start_search(direction=search.SearchDirection.BACKWARD)

    return kb


def _current_buffer_empty() -> bool:
    return not get_app().current_buffer.text


def _search_prompt() -> str:
    target = get_app().layout.search_target_buffer_control
    if target is not None and target.search_state.direction == search.SearchDirection.FORWARD:
        return "i-search: "
    return "reverse-i-search: "


# Built once, shared by every session.
# Built once and shared by every session: prompt_toolkit's default key bindings
# (basic, Emacs, Vi, ...) are hundreds of objects, and its merged default style
# over 100 KB, per Application. Both are read-only once built (filters and
# style lookups resolve against the running application at call time), so one
# copy serves all sessions.
_DEFAULT_BINDINGS = load_key_bindings()
_PAGE_BINDINGS = load_page_navigation_bindings()
_CHAT_BINDINGS = merge_key_bindings([_build_bindings()])
_COMPLETER = _ChatCompleter()
_SEARCH_PROMPT = BeforeInput(_search_prompt)
_STYLE = Style.from_dict({"prompt.channel": "ansicyan", "prompt.nick": "bold"})
_MERGED_STYLE = merge_styles([default_ui_style(), _STYLE])


def _shared_default_bindings() -> Any:
    return _DEFAULT_BINDINGS


def _shared_page_bindings() -> Any:
    return _PAGE_BINDINGS


# Application.__init__ calls these two loaders for every instance; in this
# server process every Application is a chat session, so they hand out the
# shared copies instead of building new ones.
_app_module.load_key_bindings = _shared_default_bindings
_app_module.load_page_navigation_bindings = _shared_page_bindings


class _ChatApplication(Application[None]):
    """An Application that uses the shared key bindings and style.

    ``frontend`` is the session it belongs to, for the shared completer.
    """

    frontend: TerminalFrontEnd | None = None
    # True while a typed line is handled at once (TerminalFrontEnd._typed_line):
    # the changes it makes ask for no redraw until it has decided one is needed.
    quiet = False

    def invalidate(self) -> None:
        """Schedule a redraw, unless a typed line is being handled (see :attr:`quiet`).

        Each scheduled redraw costs several wake-ups of the loop (prompt_toolkit
        reschedules it until the loop is idle, up to ``max_render_postpone_time``,
        each a write to the loop's self-pipe): ~10 per typed line under load, for
        a render that is then skipped as the prompt looks as drawn.
        """
        if not self.quiet:
            super().invalidate()

    def _create_merged_style(self, include_default_pygments_style: Any) -> BaseStyle:
        return _MERGED_STYLE

    def _redraw(self, render_as_done: bool = False) -> None:
        """Render, unless the prompt would look exactly as it was last drawn.

        A line typed and sent in one read ("hello" and Enter) ends with the
        input line empty again, as it was drawn before: the render that its
        key presses ask for would lay out the prompt and diff the screen to
        write nothing. It was the largest cost of a typed line
        (``bench/RESULTS.md``, finding 2); skipped, the screen - and the
        renderer's idea of it - stay as they are.
        """
        front = self.frontend
        if not render_as_done and front is not None and front.drawn_as_shown():
            return
        super()._redraw(render_as_done)


class TerminalFrontEnd(FrontEnd):
    """A pty session: line editing with history, lines printed above the prompt."""

    color = True
    line_breaks = "\r\n\x03"  # Ctrl-C clears the line being typed
    input_waits_for_output = True
    coalesce_seconds = COALESCE_SECONDS
    # Every print above the prompt costs a repaint of it as well, and when the
    # loop lags (a busy server) waiting after each one lets batches grow with
    # the lag: measured, holding only while busy cost 1.4x the CPU per
    # delivery at saturation with 50 channels of 10 (bench/RESULTS.md).
    coalesce_always = True

    def __init__(
        self, *args: Any, term_type: str = "xterm", colorterm: str = "", **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._resize_timer: asyncio.TimerHandle | None = None
        self._resize_waiting = False
        self.term_type = term_type or "xterm"
        self.size = Size(rows=24, columns=80)
        # Nick colours from 256 when the client's TERM (or COLORTERM, sent only
        # if the client is set up to) says it has them; lines wrap at the width.
        self.renderer.palette = palette_for(self.term_type, colorterm)
        self.renderer.width = self.size.columns
        self.input = ChannelInput(self._paste_arrived, lambda: self.hub.max_paste_lines)
        self._paste_timer: asyncio.TimerHandle | None = None
        self.output = _ChannelOutput(
            cast(TextIO, _ChannelStdout(self._write_raw)),
            lambda: self.size,
            term=self.term_type,
            enable_cpr=False,
        )
        self.app: _ChatApplication | None = None
        # The bytes of the last full repaint of the prompt (see _emit), and a
        # list collecting written data while such a repaint is recorded.
        self._replay: str | None = None
        # That repaint and what the prompt showed then (see _rendered).
        self._recorded: tuple[str, object] | None = None
        self._searcher: SearchBufferControl | None = None  # see enable_search
        self._erase: str | None = None
        self._capture: list[str] | None = None
        self._held: list[str] | None = None  # see _one_write
        # What the prompt showed at the last render (see drawn_as_shown).
        self._drawn: object = None
        self._control: BufferControl | None = None  # the input line (see _typed_line)

    def raw_line_limit(self) -> int:
        # Raw input includes escape sequences for cursor keys and the like.
        return self.max_line * 4 + 256

    def _write_raw(self, data: str) -> None:
        if self._capture is not None:
            self._capture.append(data)
        if self._held is not None:
            self._held.append(data)
        else:
            self._send(data)

    def _send(self, data: str) -> None:
        if not self._stopped:
            # Not contextlib.suppress: this runs once per delivery. A write
            # that fails is a closing channel; connection_lost follows.
            try:  # noqa: SIM105
                self.transport.write(data)
            except Exception:
                pass

    def _rendered(self, app: Any) -> None:
        """After every render: replay the recorded repaint only if the prompt looks as then.

        A render draws only what changed, so its bytes are no repaint; but when
        the prompt shows what it showed when the repaint was recorded (the
        usual case: the line typed has been sent and the input line is empty
        again), the screen - and the renderer's idea of it - are what that
        repaint leaves, and the next print can replay it instead of going
        through ``in_terminal()`` and a full render (``bench/RESULTS.md``,
        2026-12-01, section 4).

        Also drops the mouse handlers the render mapped, one per column of the
        prompt's row (~2.4 KB per idle session at 80 columns): mouse reporting is
        never turned on and :class:`_Parser` drops mouse reports, so nothing
        ever looks them up (``bench/RESULTS.md``, branch ``mem``).
        """
        renderer = app.renderer
        if renderer.mouse_handlers.mouse_handlers:
            renderer.mouse_handlers = MouseHandlers()
        key = self._drawn = self._screen_key()
        if self._capture is None:
            recorded = self._recorded
            # None (searching) never matches, not even a repaint recorded while
            # searching: the search field may have changed since.
            if recorded is not None and key is not None and recorded[1] == key:
                self._replay = recorded[0]
            else:
                self._replay = None

    def _screen_key(self) -> object:
        """What the prompt area shows, as far as a recorded repaint depends on it.

        None (never equal to a key) while searching: neither replayed nor skipped.
        The selection is compared by identity: a new mark is a change.
        """
        app = self.app
        if app is None or app.layout.is_searching:
            return None
        buffer = app.current_buffer
        return (
            tuple(self._prompt()),
            buffer.text,
            buffer.cursor_position,
            buffer.selection_state,
            buffer.validation_error,
            self.size,
        )

    def drawn_as_shown(self) -> bool:
        """Whether a render now would draw what the last one drew (``_ChatApplication._redraw``).

        Only while the renderer still holds that drawing: an erase (printing
        through ``in_terminal()``, a resize, ``/clear``) forgets it.
        """
        drawn = self._drawn
        app = self.app
        return (
            drawn is not None
            and app is not None
            # (prompt_toolkit 3.0's renderer keeps what it drew there; were that
            # ever renamed, nothing would be skipped.)
            and getattr(app.renderer, "_last_screen", None) is not None
            and drawn == self._screen_key()
        )

    def _forget_repaint(self) -> None:
        self._replay = None
        self._recorded = None

    def set_size(self, columns: int, rows: int) -> None:
        """The client's terminal changed size; re-lay out the prompt shortly.

        Each re-layout repaints the prompt and the line being typed, so a burst
        of window changes shares one, and none is done while the client is not
        reading (it is done when it reads again).

        Known limit: the repaint first erases the old prompt, assuming it still
        takes the rows it was drawn on. Terminals that re-wrap their text on a
        resize (tmux, VTE, iTerm2, kitty...) spread a prompt row wider than the
        new width over more rows, so narrowing one leaves the top rows of a
        wrapped input line behind; erasing more would wipe chat lines on
        terminals that do not re-wrap (xterm), and which kind the client is
        cannot be told without a cursor-position round trip.
        """
        size = Size(rows=rows if rows > 0 else 24, columns=columns if columns > 0 else 80)
        if size != self.size:
            # The terminal may have re-wrapped the prompt already: replaying
            # its old bytes would draw it for the old width.
            self._forget_repaint()
        self.size = size
        self.renderer.width = size.columns
        if self._resize_timer is None and self.app is not None and self.app.is_running:
            loop = asyncio.get_running_loop()
            self._resize_timer = loop.call_later(RESIZE_SECONDS, self._relayout)

    def _relayout(self) -> None:
        self._resize_timer = None
        if self._stopped or self.app is None or not self.app.is_running:
            return
        if not self._writable.is_set():
            self._resize_waiting = True
            return
        self.app._on_resize()

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._resize_waiting:
            self._resize_waiting = False
            self._relayout()

    def _prompt(self) -> StyleAndTextTuples:
        client = self.client
        if client is None:
            return [("", "> ")]
        account = client.account
        if not self.renderer.color:  # /color off: the prompt loses its colour too
            return [("", f"#{client.current.name} {account.nick}> ")]
        return [
            ("class:prompt.channel", f"#{client.current.name}"),
            ("", " "),
            ("class:prompt.nick", account.nick),
            ("", "> "),
        ]

    def _accept(self, buffer: Buffer) -> bool:
        """Enter: send the input line, or the pasted lines as one message.

        Returns True (keep the text) when a paste was refused whole, so the
        user can edit it or send it again.

        A command that changes the prompt (``/join``, ``/nick``) drops the
        recorded repaint: it shows the old prompt, and a print before the next
        render would replay it, after which that render would leave no repaint
        at all. The next print repaints in full and records the new prompt.
        """
        prompt = self._prompt()
        try:
            text = buffer.text
            if "\n" in text.strip("\n"):
                return self.submit(text) is Outcome.KEEP
            self.submit(text.strip("\n"))
            return False  # reset the buffer
        finally:
            if self._prompt() != prompt:
                self._forget_repaint()

    def _paste_arrived(self) -> None:
        """More of a paste was read: it is over once nothing more comes for a moment."""
        if self._paste_timer is not None:
            self._paste_timer.cancel()
        # Created in the application's context (this runs while it reads keys).
        self._paste_timer = asyncio.get_running_loop().call_later(PASTE_SETTLE, self._paste_settled)

    def _paste_settled(self) -> None:
        """The paste has stopped arriving: send it, or say why not."""
        self._paste_timer = None
        app, paste = self.app, self.input
        if self._stopped or app is None or not app.is_running:
            return
        if paste.waiting or self._inbox:  # more has arrived, not read yet
            self._paste_arrived()
            return
        lines, overflow = paste.paste_lines, paste.paste_overflow
        paste.paste_done()
        buffer = app.current_buffer
        if overflow:
            buffer.reset()
            most = self.hub.max_paste_lines
            why = refusal_text(PasteTooLong(lines, most))
            self.outbox.deliver(Notice(f"your paste was not sent: {why}.", NoticeKind.ERROR))
        elif buffer.text.endswith("\n"):
            buffer.text = buffer.text.rstrip("\n")
            buffer.validate_and_handle()
        app.invalidate()

    def request_close(self) -> None:
        """End the session: stop the editor, then write what is queued."""
        super().request_close()
        app = self.app
        if app is not None and app.is_running and not app.is_done:
            app.exit()

    def _search_control(self) -> SearchBufferControl | None:
        return self._searcher

    def enable_search(self) -> None:
        """Add Ctrl-R's search field below the prompt, at its first use.

        It is a line shown only while searching; built on demand, it costs
        sessions that never search nothing (a buffer and a split are ~20 KB).
        """
        app = self.app
        if self._searcher is not None or app is None:
            return
        searcher = SearchBufferControl(
            Buffer(multiline=False), input_processors=[_SEARCH_PROMPT], ignore_case=True
        )
        field = ConditionalContainer(Window(searcher, height=1), filter=is_searching)
        app.layout.container = HSplit([app.layout.container, field])
        self._searcher = searcher

    def show_candidates(self, words: list[str]) -> None:
        """List the candidates of an ambiguous Tab completion above the prompt."""
        self.outbox.deliver(Notice(format_candidates(words, self.size.columns)))

    def session_info(self) -> Session:
        return Session(width=self.size.columns, pty=True, welcome=self.current_welcome())

    def clear_screen(self) -> None:
        """``/clear``: erase the screen and draw the prompt again at the top."""
        app = self.app
        if app is None or not app.is_running:
            return
        self._forget_repaint()  # what the screen showed is gone
        self._erase = None
        app.renderer.clear()  # erase, cursor home, and forget what was drawn
        app.invalidate()

    def _build_app(self) -> _ChatApplication:
        buffer = _LineBuffer(
            multiline=False,
            accept_handler=self._accept,
            history=_BoundedHistory(),
            completer=_COMPLETER,
            complete_while_typing=False,
        )
        control = BufferControl(
            buffer,
            input_processors=[BeforeInput(self._prompt)],
            # None until the first Ctrl-R: BufferControl.search_buffer_control accepts
            # a callable returning None, though its annotation says otherwise.
            search_buffer_control=self._search_control,  # type: ignore[arg-type]
            preview_search=True,  # show the line found while searching
        )
        self._control = control
        app = _ChatApplication(
            layout=Layout(Window(control, wrap_lines=True, dont_extend_height=True)),
            key_bindings=_CHAT_BINDINGS,
            style=_STYLE,
            erase_when_done=True,
            full_screen=False,
            mouse_support=False,
            enable_page_navigation_bindings=False,
            terminal_size_polling_interval=None,
            min_redraw_interval=0.02,
            input=self.input,
            output=self.output,
            after_render=self._rendered,
        )
        app.frontend = self
        return app

    async def _run(self) -> None:
        with create_app_session(input=self.input, output=self.output):
            self.app = self._build_app()
            writer = asyncio.create_task(self._write_loop())
            try:
                with contextlib.suppress(EOFError):
                    await self.app.run_async(handle_sigint=False, set_exception_handler=False)
                if not self._closing:  # Ctrl-D (or the client's EOF), not /quit or the hub
                    self.say_goodbye()
                self.request_close()
                await writer
            finally:
                writer.cancel()

    def _consume(self, data: str) -> None:
        if not self._typed_line(data):
            self.input.feed(data)

    def _typed_line(self, data: str) -> bool:
        """A read of plain text and Enter: insert and send it without the key processor.

        That is what a typed line usually is (a client sends a line typed
        quickly, or by a script, in one read). The key processor would look up
        bindings and evaluate their filters for each key, for the same result:
        the text inserted at the cursor (a paste key, or self-insert per
        character), then our Enter binding's ``validate_and_handle()``
        (``bench/RESULTS.md``, finding 2). Only when nothing else could give
        the keys another meaning: no key or argument pending, no macro being
        recorded, no quoted insert, search or selection, the input line focused.
        """
        if data[-1:] != "\r" or not _TYPED_TEXT.fullmatch(data, 0, len(data) - 1):
            return False
        app = self.app
        if app is None or app.context is None or not app.is_running or app.is_done:
            return False
        keys = app.key_processor
        buffer = app.current_buffer
        if (
            not self.input.idle
            or keys.input_queue
            or keys.key_buffer
            or keys.arg is not None
            or app.emacs_state.is_recording
            or app.editing_mode != EditingMode.EMACS
            or app.quoted_insert
            or app.layout.is_searching
            or app.layout.current_control is not self._control
            or buffer.selection_state is not None
            or buffer.complete_state is not None
            or buffer.read_only()
        ):
            return False
        text = data[:-1]

        def typed() -> None:
            buffer.insert_text(text)
            # As after the Enter key: the next key is no repeat of the one before.
            keys._previous_key_sequence = []
            keys._previous_handler = None
            buffer.validate_and_handle()

        app.quiet = True
        try:
            app.context.copy().run(typed)
        finally:
            app.quiet = False
        if not self.drawn_as_shown():  # a command changed the prompt (see _accept), /clear
            app.invalidate()
        return True

    def _line_overflowed(self) -> None:
        if self.app is not None:
            self.app.current_buffer.reset()
        super()._line_overflowed()

    def _input_ended(self) -> None:
        self.input.close()
        super()._input_ended()

    def connection_lost(self) -> None:
        self.input.close()
        if self._paste_timer is not None:
            self._paste_timer.cancel()
        super().connection_lost()

    def _emit_now(self, lines: list[str]) -> bool:
        """Print above the prompt at once when a recorded repaint can be replayed.

        That is the usual case, and it needs no prompt_toolkit call that looks
        for the running application (it runs in the Flusher's context, not the
        session's: stack-notes, pitfall 6). Otherwise the write loop prints
        through ``in_terminal()`` in the session's task (:meth:`_emit`).
        """
        app = self.app
        if app is None or not app.is_running:
            if app is None and not self._closing:
                return False  # not started yet: the write loop waits for the editor
            self.output.write_raw("".join(line + "\n" for line in lines))
            self.output.flush()
            return True
        replay = self._replay
        if replay is None:
            return False
        self._print_and_replay(app, "\n".join(lines) + "\n", replay)
        return True

    async def _emit(self, lines: list[str]) -> None:
        if self._emit_now(lines):
            return
        text = "".join(line + "\n" for line in lines)
        with self._one_write():
            async with in_terminal():
                self.output.write_raw(text)
                self.output.flush()
                self._capture = []
        # Leaving in_terminal() repainted the prompt from scratch; remember
        # those bytes so that the next print can replay them.
        app = self.app
        key = self._screen_key()
        running = app is not None and app.is_running
        # Not while searching (key None): the next keystroke changes the search
        # field, which the key does not describe, so a replay would show it stale.
        self._replay = "".join(self._capture) if running and key is not None else None
        self._recorded = None if self._replay is None else (self._replay, key)
        self._erase = None
        self._capture = None

    @contextlib.contextmanager
    def _one_write(self) -> Iterator[None]:
        """Send what is written meanwhile as one write: one SSH packet, not one per flush.

        Printing through ``in_terminal()`` flushes three times (the erase, the
        text, the repaint); each flush would be a packet of its own.
        """
        if self._held is not None:  # already inside one
            yield
            return
        held: list[str] = []
        self._held = held
        try:
            yield
        finally:
            self._held = None
            if held:
                self._send("".join(held))

    def _print_and_replay(self, app: Any, text: str, replay: str) -> None:
        """Print above the prompt without a prompt_toolkit render.

        Nothing has been rendered since ``replay`` was recorded (any render
        drops it), so the screen shows exactly what it painted. Erasing that,
        printing, and writing the same bytes again leaves the screen - and the
        renderer's idea of it - as they were: one write instead of a layout
        pass and a screen diff (~10x cheaper).

        The erase sequence depends only on where that repaint left the cursor,
        so it is recorded once, by letting the renderer erase and then putting
        its state back as it was.
        """
        if self._erase is None:
            renderer = app.renderer
            state = dict(renderer.__dict__)
            self._capture = []
            held, self._held = self._held, []  # recorded, not sent: it goes out with the text
            try:
                renderer.erase(leave_alternate_screen=False)
            finally:
                self._erase = "".join(self._capture)
                self._capture = None
                self._held = held
                renderer.__dict__.update(state)
        self._write_raw(self._erase + text.replace("\n", "\r\n") + replay)
