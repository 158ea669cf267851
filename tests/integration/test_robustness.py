"""End-to-end robustness: refused channel types, plain mode, abrupt clients, floods,
bad bytes, escape sequences and the line editor, against the real server."""

from __future__ import annotations

import asyncio
import time

import asyncssh
import pytest
from helpers.accounts import PASSWORDS
from helpers.client import ChatClient, ended, login
from helpers.waits import CLOSE_TIMEOUT

from sshchat.app import RunningServer
from sshchat.ssh.session import connect_command


async def raw_connection(server: RunningServer, user: str) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect(
        "127.0.0.1",
        server.port,
        username=user,
        password=PASSWORDS[user],
        known_hosts=None,
        preferred_auth="password",
    )


async def who_lines(client: ChatClient) -> str:
    """Run /who and return the line it printed."""
    client.send("/who")
    match = await client.expect(r"In #\w+: .*")
    return match.group(0)


# -- channel types other than an interactive shell ----------------------------


@pytest.mark.parametrize(
    ("sockname", "command"),
    [
        (("192.0.2.7", 2222), "ssh -p 2222 carol@192.0.2.7"),
        (("192.0.2.7", 22), "ssh carol@192.0.2.7"),
        (("::ffff:192.0.2.7", 2022, 0, 0), "ssh -p 2022 carol@192.0.2.7"),
        (("2001:db8::1", 2222, 0, 0), "ssh -p 2222 carol@2001:db8::1"),
        (None, "ssh -p PORT carol@HOST"),  # no socket address: placeholders, not a crash
    ],
)
def test_exec_refusal_names_the_address_the_client_used(sockname, command: str) -> None:
    assert connect_command("carol", sockname) == command


async def test_exec_subsystem_and_forwarding_refused(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    conn = await raw_connection(server, "bob")
    try:
        result = await asyncio.wait_for(conn.run("ls"), CLOSE_TIMEOUT)
        assert result.exit_status == 1
        assert "interactive chat" in str(result.stderr)
        # The example command is one the user can paste: the real port and address.
        assert f"e.g.: ssh -p {server.port} bob@127.0.0.1\r\n" in str(result.stderr)
        assert result.stdout == ""
        # Running a command never makes anyone appear online.
        assert not server.hub.accounts["bob"].online

        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.start_sftp_client()
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.create_connection(asyncssh.SSHTCPSession, "127.0.0.1", server.port)

        # ssh -L: the local listener works, but the server refuses each tunnel, so
        # the forwarded connection is closed without any data.
        listener = await conn.forward_local_port("127.0.0.1", 0, "127.0.0.1", server.port)
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.get_port())
        assert await asyncio.wait_for(reader.read(100), CLOSE_TIMEOUT) == b""
        writer.close()
        listener.close()

        with pytest.raises(asyncssh.ChannelListenError):
            await conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", server.port)

        # The same connection can still open an ordinary chat session.
        process = await conn.create_process(encoding="utf-8")
        line = await asyncio.wait_for(process.stdout.readline(), CLOSE_TIMEOUT)
        assert line == "Welcome to testchat!\n"
        process.stdin.write("/whois bob\n")
        while "status: online" not in line:
            line = await asyncio.wait_for(process.stdout.readline(), CLOSE_TIMEOUT)
    finally:
        conn.close()
        await conn.wait_closed()

    # ... and the server keeps serving other users.
    alice = await login(server, clients, "alice")
    carol = await login(server, clients, "carol", pty=False)
    alice.send("still serving")
    await carol.expect(r"<alice> still serving")


# -- plain line mode -----------------------------------------------------------


async def test_plain_mode_lines_and_eof(server: RunningServer, clients: list[ChatClient]) -> None:
    alice = await login(server, clients, "alice")
    bob = await login(server, clients, "bob", pty=False)
    await alice.expect(r"-- bob connected")

    bob.send("/who")
    await bob.expect(r"In #lobby: alice \[admin\], bob\n")
    alice.send("hi bob")
    await bob.expect(r"(?m)^\d\d:\d\d <alice> hi bob$")
    bob.process.stdin.write("hi alice\n")  # LF, CR and CRLF all end a line
    await alice.expect(r"<bob> hi alice")
    bob.process.stdin.write("crlf line\r\n")
    await alice.expect(r"<bob> crlf line")
    assert "\x1b" not in bob.output
    assert "\r" not in bob.output

    # A batch of commands, then EOF (with an unterminated last line): every
    # command is answered, then the server closes the session.
    bob.process.stdin.write("/me waves\n/whois alice\n/list\nlast words")
    bob.process.stdin.write_eof()
    await asyncio.wait_for(bob.process.wait_closed(), CLOSE_TIMEOUT)
    await bob._reader  # type: ignore[misc]  # everything sent has been read
    await bob.expect(r"\* bob waves")
    await bob.expect(r"alice:\n  login: alice \(admin\)")
    await bob.expect(r"Channels \(1\), biggest first:\n  #lobby \*  2/2 members")
    await bob.expect(r"<bob> last words\n")
    assert bob.process.exit_status == 0
    assert "\x1b" not in bob.output
    assert "\r" not in bob.output

    await alice.expect(r"\* bob waves")
    await alice.expect(r"<bob> last words")
    await alice.expect(r"-- bob disconnected")
    assert not server.hub.accounts["bob"].online


# -- clients that vanish --------------------------------------------------------


@pytest.mark.parametrize("pty", [True, False], ids=["pty", "plain"])
async def test_killed_client_disappears(
    server: RunningServer, clients: list[ChatClient], pty: bool
) -> None:
    alice = await login(server, clients, "alice")
    bob = await login(server, clients, "bob", pty=pty)
    carol = await login(server, clients, "carol", pty=pty)
    assert "bob" in await who_lines(alice)

    bob.send("before the crash")
    await alice.expect(r"<bob> before the crash")
    bob.conn.abort()
    await alice.expect(r"-- bob disconnected")
    assert "bob (offline)" in await who_lines(alice)  # a member still, offline

    # Killed in the middle of typing a line: the half line is never sent.
    # One write, so once the command is answered the half line has reached the server too
    # (on a pty, two: one read with a line break and more would be a paste).
    if pty:
        carol.send("/whois carol")
        await carol.expect(r"status: online")
        carol.send_raw("half a line")
    else:
        carol.send_raw("/whois carol\rhalf a line")
    if not pty:
        await carol.expect(r"status: online")
    if pty:
        await carol.expect_screen(r"^#lobby carol>\s*half a line$")  # echoed by the line editor
    carol.conn.abort()
    await alice.expect(r"-- carol disconnected")
    assert "carol (offline)" in await who_lines(alice)
    await alice.absent(r"half a line")
    assert [a.login for a in server.hub.accounts.values() if a.online] == ["alice"]


# -- floods ----------------------------------------------------------------------


async def test_big_paste_does_not_stall_others(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await login(server, clients, "alice")  # pastes
    bob = await login(server, clients, "bob", pty=False)  # watches the paste
    carol = await login(server, clients, "carol")
    dave = await login(server, clients, "dave")
    alice.send("/create paste")
    await alice.expect(r"Created channel #paste")
    bob.send("/join paste")
    await alice.expect(r"-- bob joined #paste")

    count = 2100
    lines = [f"paste line {i:04d} " + "x" * 84 for i in range(count)]
    paste = "".join(line + "\r" for line in lines)
    assert len(paste) >= 200 * 1024
    alice.send_raw(paste)
    sent = time.monotonic()
    carol.send("are you there dave")
    await dave.expect(r"<carol> are you there dave", timeout=5)
    latency = time.monotonic() - sent
    assert latency < 5

    # A paste longer than [limits] max_paste_lines is refused whole, never cut.
    await alice.expect(
        rf"your paste was not sent: a message may have at most 50 lines and this one "
        rf"has\s+{count}",
        timeout=30,
    )
    assert "paste line" not in bob.text
    assert "paste line" not in dave.text

    alice.send("after the paste")
    await bob.expect(r"<alice> after the paste")


async def test_huge_line_refused(server: RunningServer, clients: list[ChatClient]) -> None:
    alice = await login(server, clients, "alice")
    bob = await login(server, clients, "bob", pty=False)
    alice.send_raw("y" * (1024 * 1024))
    await alice.expect(r"error: line too long \(the limit is 2000 characters\)", timeout=20)
    alice.send_raw("\r")  # end the refused line
    alice.send("still usable")
    await bob.expect(r"<alice> still usable")
    assert "yyy" not in bob.text
    assert bob.text.count("<alice>") == 1  # only "still usable"
    await alice.expect_screen(r"^#lobby alice>$")  # the refused line is gone from the prompt
    assert "error: line too long" in alice.text
    assert alice.text.count("error: line too long") == 1

    # The same over a plain session.
    bob.send_raw("z" * (1024 * 1024))
    await bob.expect(r"error: line too long", timeout=20)
    bob.send("\nplain still usable")
    await alice.expect(r"<bob> plain still usable")
    assert "zzz" not in alice.text
    assert alice.text.count("<bob>") == 1  # only "plain still usable"


@pytest.mark.parametrize("pty", [True, False], ids=["pty", "plain"])
async def test_line_after_overlong_line_is_kept(
    server: RunningServer, clients: list[ChatClient], pty: bool
) -> None:
    """The end of an over-long line and the next lines arrive in one read.

    Only the over-long line may be discarded; what follows it is an ordinary line.
    """
    alice = await login(server, clients, "alice", pty=False)
    bob = await login(server, clients, "bob", pty=pty)
    raw_limit = 2000 * 4 + 256 if pty else 2000  # TerminalFrontEnd.raw_line_limit()
    bob.send("warm up")
    await alice.expect(r"<bob> warm up")
    bob.send_raw("y" * (raw_limit + 10) + "\rnext line\rand another\r")
    await bob.expect(r"error: line too long")
    if pty:  # the two lines arrived in one read: a paste, one message of two lines
        await alice.expect(r"<bob> next line\n +and another\n")
    else:
        await alice.expect(r"<bob> next line\n")
        await alice.expect(r"<bob> and another\n")
    assert "yyy" not in alice.text
    assert "message too long" not in bob.text


@pytest.mark.parametrize("pty", [True, False], ids=["pty", "plain"])
async def test_invalid_utf8_is_replaced(
    server: RunningServer, clients: list[ChatClient], pty: bool
) -> None:
    alice = await login(server, clients, "alice", pty=False)
    conn = await raw_connection(server, "bob")
    end = b"\r" if pty else b"\n"
    try:
        process = await conn.create_process(
            encoding=None,
            term_type="xterm" if pty else None,
            term_size=(80, 24) if pty else None,
        )
        await asyncio.wait_for(process.stdout.readuntil(b"Type /help"), CLOSE_TIMEOUT)
        process.stdin.write(b"caf\xff\xfe" + end)
        await alice.expect("<bob> caf\ufffd\ufffd\n")
        # A multi-byte character split across two SSH packets arrives whole (the
        # pause is not synchronisation: it only keeps the writes apart).
        process.stdin.write(b"caf\xc3")
        await asyncio.sleep(0.05)
        process.stdin.write(b"\xa9 ok" + end)
        await alice.expect("<bob> café ok\n")
        process.stdin.write(b"\xc0\x80\xed\xa0\x80 overlong and surrogate" + end)
        await alice.expect(r"<bob> \ufffd+ overlong and surrogate\n")
        assert server.hub.accounts["bob"].online
        process.stdin.write(b"/whois bob" + end)
        await asyncio.wait_for(process.stdout.readuntil(b"status: online"), CLOSE_TIMEOUT)
    finally:
        conn.close()
        await conn.wait_closed()


# -- escape sequences --------------------------------------------------------------


async def test_escape_sequences_never_reach_others(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    mallory = await login(server, clients, "bob", pty=False)  # types raw bytes
    watcher = await login(server, clients, "carol", pty=False)
    term = await login(server, clients, "alice")
    # The server's own bell (rung for private messages and mentions) would be
    # a legitimate BEL in the output; turn it off so any BEL came from input.
    term.send("/bell off")
    await term.expect(r"Bell: off\.")
    hostile = [
        "\x1b]0;pwned\x07hi",
        "\x1b[2J wipe",
        "\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\",
        "\x9b2J eight-bit",
        "bell\x07 and backspace\x08\x08 and \x1bP+q\x1b\\dcs",
        "bidi \u202egnp.exe",
    ]
    for text in hostile:
        mallory.send(text)
    mallory.send("/me \x1b[5mblinks")
    mallory.send("/msg alice \x1b]52;c;aGk=\x07clip")
    mallory.send("/away \x1b[2Jgone")
    mallory.send("/nick \x1b[31mevil")
    for client in (watcher, term):
        await client.expect(r"<bob> hi")
        await client.expect(r"<bob> wipe")
        await client.expect(r"<bob> link")
        await client.expect(r"<bob> (2J )?eight-bit")
        await client.expect(r"<bob> bell and backspace and dcs")
        await client.expect(r"<bob> bidi gnp\.exe")
        await client.expect(r"\* bob blinks")
    await term.expect(r"\[PM from bob\] clip")
    for client in (watcher, term):
        await client.expect(r"-- bob is now known as evil")
        client.send("/who")
        await client.expect(r"evil \(bob\) \(away: gone\)")

    assert "\x1b" not in watcher.output
    for seq in ("]0;pwned", "\x1b[2J", "\x1b]", "\x9b", "\x07", "\x08", "\u202e", "]52;", "[5m"):
        assert seq not in term.output, repr(seq)
        assert seq not in watcher.output, repr(seq)


async def test_escape_sequences_typed_in_a_terminal(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    """A pty user's escape sequences are eaten by the line editor; the line still goes out.

    ``ESC [ 31 m`` has the shape of a mouse report; mouse reporting is never
    enabled, so it must not derail the editor (and lose the rest of the input).
    """
    alice = await login(server, clients, "alice")
    watcher = await login(server, clients, "bob", pty=False)
    alice.send("\x1b[31mred\x1b[0m text")
    await watcher.expect(r"<alice> red text\n")
    alice.send("x\x1b[1;2my\x1b[M!!!z\x1b[<0;5;5M tail")
    await watcher.expect(r"<alice> xyz tail\n")
    alice.send("\x1b]0;pwned\x07\x1b[2Jafter")
    await watcher.expect(r"<alice> .*after\n")
    alice.send("/nick \x1b[1mred\x1b[0mnick")
    await watcher.expect(r"-- alice is now known as rednick")
    assert "\x1b" not in watcher.output


# -- the line editor -------------------------------------------------------------------


async def test_resize_keeps_session_working(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await login(server, clients, "alice")
    bob = await login(server, clients, "bob", pty=False)
    alice.send_raw("typed before resize ")
    alice.resize(60, 20)
    await alice.expect_screen(r"^#lobby alice>\s*typed before resize$")
    alice.send("and after")
    await bob.expect(r"<alice> typed before resize and after")
    alice.resize(20, 5)
    alice.resize(0, 0)  # nonsense sizes fall back to a default
    long = "word " * 40
    alice.send(long.strip())
    await bob.expect(rf"<alice> {long.strip()}\n")
    alice.resize(120, 40)
    bob.send("hello resized")
    await alice.expect(r"<bob> hello resized")
    alice.send("still fine")
    await bob.expect(r"<alice> still fine")


async def test_partial_line_survives_incoming_message(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await login(server, clients, "alice")
    bob = await login(server, clients, "bob")
    alice.send_raw("hel")
    await alice.expect_screen(r"^#lobby alice>\s*hel$")
    bob.send("interrupt")
    await alice.expect(r"<bob> interrupt")
    # The prompt is redrawn below the message with the typed text still in it.
    await alice.expect_screen(r"<bob> interrupt\n#lobby alice>\s*hel$")
    alice.send_raw("lo\r")
    await bob.expect(r"<alice> hello\n")
    await bob.absent(r"<alice> hel\n")


async def test_ctrl_c_clears_and_ctrl_d_leaves(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await login(server, clients, "alice")
    bob = await login(server, clients, "bob")
    alice.send_raw("never sent")
    await alice.expect(r"never sent")
    alice.send_raw("\x03")
    alice.send("fresh line")
    await bob.expect(r"<alice> fresh line\n")
    assert "never sent" not in bob.text

    # Ctrl-D with text in the editor does not disconnect.
    alice.send_raw("abc\x04")
    alice.send_raw("\x03")
    alice.send("still here")
    await bob.expect(r"<alice> still here\n")
    assert server.hub.accounts["alice"].online

    alice.send_raw("\x04")
    await ended(alice)
    assert alice.process.exit_status == 0
    await bob.expect(r"-- alice disconnected")
    assert "alice [admin] (offline)" in await who_lines(bob)
