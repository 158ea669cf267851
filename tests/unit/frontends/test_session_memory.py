"""What an idle pty session keeps after a render (issue 12: memory per session).

A render maps a mouse handler to every column of the prompt's row; sshchat never
turns mouse reporting on and drops mouse reports from the input, so the session
drops that map after each render (``TerminalFrontEnd._rendered``). These tests
check the map is gone and that nothing a user does needs it.
"""

from __future__ import annotations

from helpers.frontends import Recorder, stop, until
from helpers.screen import TerminalScreen

from sshchat.core.hub import Hub
from sshchat.frontends.terminal import TerminalFrontEnd


async def test_no_mouse_handlers_are_kept_after_a_render_and_the_prompt_still_works() -> None:
    transport = Recorder()
    hub = Hub([("alice", False), ("bob", False)], default_channel="lobby")
    front = TerminalFrontEnd(hub, transport, "alice", welcome="hi")
    front.start()
    try:
        await until(lambda: front.app is not None and front.app.render_counter > 0)
        app = front.app
        assert app is not None
        assert dict(app.renderer.mouse_handlers.mouse_handlers) == {}
        # Typing, a click-shaped report (dropped by the parser) and a line still work.
        front.feed("hel")
        await until(lambda: "hel" in transport.text)
        assert dict(app.renderer.mouse_handlers.mouse_handlers) == {}
        front.feed("\x1b[<0;3;1M")
        front.feed("lo\r")
        await until(lambda: "hello" in TerminalScreen(80, 24).text(transport.text))
        await until(lambda: not app.current_buffer.text and not app.invalidated)
        assert dict(app.renderer.mouse_handlers.mouse_handlers) == {}
    finally:
        await stop(front)
