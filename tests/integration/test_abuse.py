"""Abuse controls end to end: rate limits, login penalties, connection caps and
stuck or hostile clients, against the real server over SSH."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator

import asyncssh
import pytest
from helpers.accounts import PASSWORDS
from helpers.client import ChatClient, connect, plain
from helpers.client import login as login_as
from helpers.waits import CLOSE_TIMEOUT, until

from sshchat.app import RunningServer
from sshchat.core.hub import Client
from sshchat.frontends.base import FrontEnd, Outbox
from sshchat.frontends.terminal import TerminalFrontEnd
from sshchat.ssh.session import MAX_COLUMNS, MAX_ROWS, clamp_terminal_size

NO_RATE_LIMIT = "message_burst = 100000\nmessage_rate = 100000\n"


# -- helpers -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Nothing the server does under abuse may log an error or a traceback."""
    caplog.set_level(logging.WARNING, logger="sshchat")
    yield
    bad = [
        record
        for record in caplog.records
        if (
            record.name.startswith("sshchat")
            and (record.levelno >= logging.ERROR or record.exc_info)
        )
        or (record.name == "asyncio" and record.levelno >= logging.ERROR)
    ]
    assert not bad, "\n".join(f"{r.name} {r.levelname} {r.getMessage()}" for r in bad)


async def ssh(
    server: RunningServer,
    user: str,
    password: str | None = None,
    *,
    source: str = "127.0.0.1",
    **kwargs: object,
) -> asyncssh.SSHClientConnection:
    """An asyncssh connection from the loopback address ``source``, password only."""
    return await asyncssh.connect(
        "127.0.0.1",
        server.port,
        username=user,
        password=PASSWORDS.get(user) if password is None else password,
        local_addr=(source, 0),
        known_hosts=None,
        client_keys=None,
        agent_path=None,
        config=None,
        preferred_auth="password",
        **kwargs,  # type: ignore[arg-type]
    )


async def login(
    server: RunningServer,
    clients: list[ChatClient],
    user: str,
    *,
    source: str = "127.0.0.1",
    pty: bool = True,
) -> ChatClient:
    """Log in from ``source`` and wait for the welcome (and the prompt on a pty)."""
    return await login_as(server, clients, user, source=source, pty=pty)


async def wrong_password(
    server: RunningServer, user: str, *, source: str = "127.0.0.1", password: str = "wrong-pw"
) -> BaseException:
    """One connection with a wrong password; returns how it was refused."""
    try:
        conn = await ssh(server, user, password, source=source)
    except (asyncssh.Error, OSError) as err:
        return err
    conn.close()
    raise AssertionError(f"{user} logged in from {source} with a wrong password")


async def read_to_end(reader: asyncio.StreamReader, timeout: float) -> tuple[bytes, bool]:
    """Read until EOF or reset; returns the bytes and whether the stream ended in time."""
    data = b""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), max(0.01, deadline - loop.time()))
            if not chunk:
                return data, True
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        return data, True
    except TimeoutError:
        return data, False


@contextlib.asynccontextmanager
async def idle_sockets(
    server: RunningServer, source: str, count: int
) -> AsyncIterator[list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]:
    """Raw TCP connections that never say anything."""
    socks = []
    try:
        for _ in range(count):
            socks.append(
                await asyncio.open_connection("127.0.0.1", server.port, local_addr=(source, 0))
            )
        yield socks
    finally:
        for _, writer in socks:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def expect_refused_socket(server: RunningServer, source: str, reason: str) -> bytes:
    """A raw connection from ``source`` is told ``reason`` in an SSH disconnect and closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port, local_addr=(source, 0))
    try:
        data, ended = await read_to_end(reader, 2.0)
    finally:
        writer.close()
    assert ended, f"the server kept a refused connection open: {data!r}"
    # The version line comes first, then a (cleartext) SSH_MSG_DISCONNECT packet.
    assert data.startswith(b"SSH-2.0-sshchat\r\n"), data
    assert reason.encode() in data, data
    return data


def rss_bytes() -> int:
    """Resident memory of this process (the server runs in it)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")  # pragma: no cover


async def who_round_trip(client: ChatClient) -> float:
    start = time.monotonic()
    client.send("/who")
    await client.expect(r"In #lobby:", timeout=10)
    return time.monotonic() - start


# -- 1. message rate limit ------------------------------------------------------------


class TestMessageRate:
    @pytest.fixture
    def limits_toml(self) -> str:
        return ""  # the defaults: a burst of 15, then 1 line per second

    async def test_paste_passes_flood_is_cut_and_session_recovers(
        self, server: RunningServer, clients: list[ChatClient]
    ) -> None:
        alice = await login(server, clients, "alice")
        bob = await login(server, clients, "bob", pty=False)
        await alice.expect(r"-- bob connected")

        # An ordinary paste: ten lines arrive at once; they are sent as one
        # message of ten lines, which counts as ten lines of the burst.
        alice.send_raw("".join(f"paste {i}\r" for i in range(10)))
        await bob.expect(r"<alice> paste 0\n" + "".join(rf" +paste {i}\n" for i in range(1, 10)))
        started = time.monotonic()

        # A flood (many separate sends): only what is left of the burst gets through.
        for i in range(100):
            alice.send(f"flood {i}")
        await alice.expect(r"you are sending too fast, so lines are not being sent")
        account = server.hub.accounts["alice"]

        def flood_seen_by_bob() -> list[int]:
            return [int(n) for n in re.findall(r"<alice> flood (\d+)\n", bob.text)]

        await until(
            lambda: account.lines_refused + len(flood_seen_by_bob()) == 100,
            what="every flood line to be sent or refused",
        )
        elapsed = time.monotonic() - started
        got = flood_seen_by_bob()
        assert got[:5] == [0, 1, 2, 3, 4]
        assert got == sorted(got)
        assert 5 <= len(got) <= 5 + int(elapsed) + 1
        assert alice.text.count("sending too fast") == 1
        # (the notice may be wrapped at the terminal's width)
        assert "15 lines at once, then 1 per second" in " ".join(alice.text.split())

        # Once the bucket has a token again, the next line goes through and
        # the sender learns how many lines were lost.
        bucket = account.bucket
        assert bucket is not None
        await asyncio.sleep(bucket.wait_time() + 0.05)
        alice.send("after the pause")
        await bob.expect(r"<alice> after the pause\n")
        match = await alice.expect(r"(\d+) lines were not sent because you were typing too fast")
        assert int(match.group(1)) == 100 - len(got)
        assert alice.text.count("sending too fast") == 1


# -- 2. attempts per connection -----------------------------------------------------


class _GuessingClient(asyncssh.SSHClient):
    """Offers a new wrong password each time the server asks for one."""

    def __init__(self) -> None:
        self.calls = 0

    def password_auth_requested(self) -> str:
        self.calls += 1
        return f"guess-{self.calls}"


class TestAuthAttempts:
    @pytest.fixture
    def limits_toml(self) -> str:
        return "[limits]\nmax_auth_attempts = 3\n"

    async def test_disconnected_after_max_auth_attempts(
        self, server: RunningServer, clients: list[ChatClient]
    ) -> None:
        guesser = _GuessingClient()
        with pytest.raises((asyncssh.PermissionDenied, asyncssh.DisconnectError)) as info:
            await asyncio.wait_for(
                asyncssh.connect(
                    "127.0.0.1",
                    server.port,
                    username="alice",
                    client_factory=lambda: guesser,
                    known_hosts=None,
                    client_keys=None,
                    agent_path=None,
                    config=None,
                    kbdint_auth=False,
                    public_key_auth=False,
                ),
                CLOSE_TIMEOUT,
            )
        assert guesser.calls == 3
        assert "too many authentication failures" in str(info.value)
        await until(lambda: server.state.gate.total == 0, what="the connection to be released")

        # The next connection has its own count; the right password still works.
        alice = await login(server, clients, "alice")
        alice.send("/whois alice")
        await alice.expect(r"status: online")


# -- 3. failed-login penalties -------------------------------------------------------------


class TestLoginPenalties:
    @pytest.fixture
    def limits_toml(self) -> str:
        return (
            "[limits]\nauth_free_failures = 1\nauth_block_after = 4\n"
            "auth_block_seconds = 60\nauth_max_delay = 1\n"
        )

    async def test_source_is_delayed_then_blocked(
        self, server: RunningServer, clients: list[ChatClient]
    ) -> None:
        durations = []
        for _ in range(4):
            start = time.monotonic()
            err = await wrong_password(server, "bob")
            durations.append(time.monotonic() - start)
            assert isinstance(err, asyncssh.PermissionDenied), repr(err)
        # Failures so far when each attempt was checked: 0, 1, 2, 3; one is free.
        assert durations[2] >= 0.5
        assert durations[3] >= 1.0
        assert durations[0] < 0.5 and durations[1] < 0.5

        # Four failures: the source is refused at connect, even with the right password.
        with pytest.raises(asyncssh.DisconnectError) as info:
            await ssh(server, "alice")
        assert "too many failed logins from your address" in str(info.value)
        await expect_refused_socket(server, "127.0.0.1", "too many failed logins")

        # Another address logs in promptly.
        start = time.monotonic()
        alice = await login(server, clients, "alice", source="127.0.0.2")
        assert time.monotonic() - start < 1.0
        carol = await login(server, clients, "carol", source="127.0.0.3", pty=False)
        alice.send("still here")
        await carol.expect(r"<alice> still here")
        # bob's account is not blocked: its owner gets in from an address with a
        # clean record (after at most auth_max_delay for the account's failures).
        await login(server, clients, "bob", source="127.0.0.4", pty=False)

    async def test_failures_from_everywhere_do_not_lock_the_owner_out(
        self, server: RunningServer, clients: list[ChatClient]
    ) -> None:
        # Anyone can fail on purpose against bob, from many addresses ...
        for i in range(6):
            await wrong_password(server, "bob", source=f"127.0.0.{10 + i}")
        assert not server.state.gate.throttle.blocked_source("127.0.0.10")
        # ... the account's attempts are slowed down (by at most auth_max_delay) ...
        verdict = server.state.gate.throttle.check("127.0.0.20", "bob")
        assert not verdict.blocked and 0 < verdict.delay <= 1
        # ... but bob, from an address with a clean record, still gets in.
        bob = await login(server, clients, "bob", source="127.0.0.20", pty=False)
        # One address failing on bob again and again is blocked for bob only.
        for _ in range(4):
            await wrong_password(server, "bob", source="127.0.0.30")
        err = await wrong_password(server, "bob", source="127.0.0.30", password=PASSWORDS["bob"])
        assert isinstance(err, (asyncssh.PermissionDenied, asyncssh.DisconnectError)), repr(err)

        # Other accounts are not affected, from the same addresses either.
        alice = await login(server, clients, "alice", source="127.0.0.10")
        alice.send("bob is not locked out")
        await bob.expect(r"<alice> bob is not locked out")


# -- 4. connection caps -----------------------------------------------------------------


class TestConnectionCaps:
    @pytest.fixture
    def limits_toml(self) -> str:
        return "[limits]\nmax_connections_per_source = 2\nmax_unauthenticated = 3\n"

    async def test_per_source_and_unauthenticated_caps(
        self, server: RunningServer, clients: list[ChatClient]
    ) -> None:
        gate = server.state.gate
        async with idle_sockets(server, "127.0.0.1", 2) as idle:
            for reader, _ in idle:  # both are greeted normally
                line = await asyncio.wait_for(reader.readline(), CLOSE_TIMEOUT)
                assert line == b"SSH-2.0-sshchat\r\n"
            await until(lambda: gate.per_source.get("127.0.0.1") == 2)

            start = time.monotonic()
            await expect_refused_socket(
                server, "127.0.0.1", "too many connections from your address"
            )
            assert time.monotonic() - start < 1.0
            with pytest.raises(asyncssh.DisconnectError) as info:
                await ssh(server, "alice")
            assert "too many connections from your address" in str(info.value)

            # Another address gets the third slot for logging in.
            alice = await login(server, clients, "alice", source="127.0.0.2")
            assert gate.unauthenticated == 2

            async with idle_sockets(server, "127.0.0.3", 1):
                await until(lambda: gate.unauthenticated == 3)
                # At the cap, a source already logging in is refused ...
                await expect_refused_socket(server, "127.0.0.3", "logging in right now")
                # ... but an address with nothing in progress still gets in, so
                # a wave from a few addresses cannot lock everyone else out ...
                await login(server, clients, "bob", source="127.0.0.4")
                # ... up to twice the cap; then everybody waits.
                async with (
                    idle_sockets(server, "127.0.0.5", 1),
                    idle_sockets(server, "127.0.0.6", 1),
                    idle_sockets(server, "127.0.0.7", 1),
                ):
                    await until(lambda: gate.unauthenticated == 6)
                    with pytest.raises(asyncssh.DisconnectError) as info:
                        await ssh(server, "carol", source="127.0.0.8")
                    assert "logging in right now" in str(info.value)
            alice.send("/who")
            await alice.expect(r"In #lobby: alice \[admin\]")

        # The idle sockets are gone: 127.0.0.1 may log in again.
        await until(lambda: "127.0.0.1" not in gate.per_source, what="idle sockets released")
        bob = await login(server, clients, "bob", pty=False)
        alice.send("welcome back")
        await bob.expect(r"<alice> welcome back")
        assert gate.unauthenticated == 0
        assert gate.total == 3


class TestHandshakeCap:
    """Strangers are refused before the key exchange while ``max_handshakes`` are running."""

    @pytest.fixture
    def limits_toml(self) -> str:
        return "[limits]\nmax_handshakes = 1\n"

    async def test_stranger_is_told_to_retry_and_a_recent_login_still_gets_in(
        self, server: RunningServer, clients: list[ChatClient], client_key: asyncssh.SSHKey
    ) -> None:
        gate = server.state.gate
        # carol logs in with a key from 127.0.0.1: that address has a recent login now.
        await login_as(server, clients, "carol", key=client_key)
        assert gate.handshaking == 0  # a finished key exchange is no longer counted
        async with idle_sockets(server, "127.0.0.2", 1):  # stuck in its key exchange
            await until(lambda: gate.handshaking == 1)
            # No wave of failed logins yet: a stranger is not held back.
            alice = await login(server, clients, "alice", source="127.0.0.5")
            await alice.close()
            for i in range(20):  # logins start failing in a wave
                gate.throttle.failed(f"198.51.100.{i}", f"guess{i}")
            # Refused before any key exchange, with the reason in the disconnect ...
            await expect_refused_socket(server, "127.0.0.3", "logging in right now")
            # ... which is what an SSH client shows.
            with pytest.raises(asyncssh.DisconnectError) as info:
                await ssh(server, "alice", source="127.0.0.4")
            assert (
                "too many connections are logging in right now; try again in a moment"
                in info.value.reason
            )
            # The address carol logged in from is not held back by the cap.
            alice = await login(server, clients, "alice")
        await until(lambda: gate.handshaking == 0, what="idle socket released")
        # Once the stuck key exchange is gone, a stranger gets in again.
        bob = await login(server, clients, "bob", source="127.0.0.4")
        bob.send("hello")
        await alice.expect(r"<bob> hello")
        assert (
            server.state.stats.connections_refused["too many connections are logging in right now"]
            == 2
        )


class TestGlobalConnectionCap:
    @pytest.fixture
    def limits_toml(self) -> str:
        return "[limits]\nmax_connections = 3\n"

    async def test_server_full(self, server: RunningServer, clients: list[ChatClient]) -> None:
        gate = server.state.gate
        alice = await login(server, clients, "alice")
        await login(server, clients, "bob", source="127.0.0.2", pty=False)
        async with idle_sockets(server, "127.0.0.3", 1):
            await until(lambda: gate.total == 3)
            with pytest.raises(asyncssh.DisconnectError) as info:
                await ssh(server, "carol", source="127.0.0.4")
            assert "the server is full" in str(info.value)
            await expect_refused_socket(server, "127.0.0.5", "the server is full")
        await until(lambda: gate.total == 2, what="the idle socket to be released")
        carol = await login(server, clients, "carol", source="127.0.0.4", pty=False)
        alice.send("room for one more")
        await carol.expect(r"<alice> room for one more")


# -- 5. login grace time -------------------------------------------------------------------


class TestLoginGraceTime:
    @pytest.fixture
    def limits_toml(self) -> str:
        return "[limits]\nlogin_grace_time = 1\n"

    async def test_idle_connection_dropped(self, server: RunningServer) -> None:
        gate = server.state.gate
        start = time.monotonic()
        async with idle_sockets(server, "127.0.0.1", 1) as idle:
            reader, _ = idle[0]
            data, ended = await read_to_end(reader, 3.0)
            took = time.monotonic() - start
        assert ended, f"still open after {took:.1f}s"
        # The version line, then the connection is simply closed.
        assert data.startswith(b"SSH-2.0-sshchat\r\n")
        assert 0.8 <= took <= 3.0
        await until(lambda: gate.total == 0 and gate.unauthenticated == 0)

    async def test_client_stalling_in_authentication_dropped(self, server: RunningServer) -> None:
        class Staller(asyncssh.SSHClient):
            def password_auth_requested(self) -> asyncio.Future[str]:
                return asyncio.get_running_loop().create_future()  # never answers

        start = time.monotonic()
        with pytest.raises(asyncssh.ConnectionLost):
            await asyncio.wait_for(
                asyncssh.connect(
                    "127.0.0.1",
                    server.port,
                    username="alice",
                    client_factory=Staller,
                    known_hosts=None,
                    client_keys=None,
                    agent_path=None,
                    config=None,
                    kbdint_auth=False,
                    public_key_auth=False,
                ),
                5.0,
            )
        took = time.monotonic() - start
        assert 0.8 <= took <= 3.0
        await until(lambda: server.state.gate.total == 0)


# -- 6. sessions per account ------------------------------------------------------------


class TestSessionsPerAccount:
    @pytest.fixture
    def limits_toml(self) -> str:
        return "[limits]\nmax_sessions_per_account = 2\n" + NO_RATE_LIMIT

    async def test_third_session_refused(
        self, server: RunningServer, clients: list[ChatClient]
    ) -> None:
        first = await login(server, clients, "alice")
        second = await login(server, clients, "alice", pty=False)
        bob = await login(server, clients, "bob", pty=False)

        conn = await ssh(server, "alice")
        try:
            for pty in (False, True):
                process = await conn.create_process(
                    term_type="xterm" if pty else None, encoding="utf-8"
                )
                result = await asyncio.wait_for(process.wait(), CLOSE_TIMEOUT)
                assert result.exit_status == 1
                assert "alice already has 2 sessions open" in str(result.stderr)
                assert "Welcome" not in str(result.stdout)
        finally:
            conn.close()
        assert len(server.hub.accounts["alice"].clients) == 2

        first.send("from the first")
        await second.expect(r"<alice> from the first")
        await bob.expect(r"<alice> from the first")
        second.send("from the second")
        await first.expect(r"<alice> from the second")

        # Closing one makes room again.
        await second.close()
        await until(lambda: len(server.hub.accounts["alice"].clients) == 1)
        third = await login(server, clients, "alice", pty=False)
        third.send("third time lucky")
        await bob.expect(r"<alice> third time lucky")


# -- 7. a client that never reads ----------------------------------------------------------


async def read_until(
    process: asyncssh.SSHClientProcess, marker: str, timeout: float = CLOSE_TIMEOUT
) -> str:
    """Read a session's output up to ``marker`` (in the text without escapes)."""
    chunks: list[str] = []
    tail = ""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while marker not in plain(tail):
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"no {marker!r} in {plain(''.join(chunks))[-2000:]!r}")
        with contextlib.suppress(TimeoutError):
            chunk = await asyncio.wait_for(process.stdout.read(65536), remaining)
            chunks.append(chunk)
            tail = tail[-(len(marker) + 64) :] + chunk
    return "".join(chunks)


def _outbox(client: Client) -> Outbox:
    """The server-side queue of a hub client (one SSH session)."""
    assert isinstance(client.sink, Outbox)
    return client.sink


def _front(client: Client) -> FrontEnd:
    """The front end that owns a hub client's outbox."""
    front = _outbox(client)._on_close.__self__  # type: ignore[attr-defined]
    assert isinstance(front, FrontEnd)
    return front


def _channel(client: Client) -> asyncssh.SSHServerChannel:
    """The server side of a hub client's SSH channel."""
    return _front(client).transport._chan  # type: ignore[attr-defined]


class TestStuckReader:
    QUEUE = 50

    @pytest.fixture
    def limits_toml(self) -> str:
        return f"[limits]\noutbound_queue = {self.QUEUE}\n" + NO_RATE_LIMIT

    async def test_stuck_client_is_bounded_and_others_keep_going(
        self, server: RunningServer, clients: list[ChatClient]
    ) -> None:
        bob = await login(server, clients, "bob", pty=False)
        carol = await login(server, clients, "carol", pty=False)
        dave = await login(server, clients, "dave", pty=False)
        bob.send("/create flood")
        await bob.expect(r"#flood")

        # Two sessions of alice, a pty and a plain one, each with a 1 KiB
        # window, that join #flood and then stop reading: the server soon
        # cannot send them anything.
        conn = await ssh(server, "alice")
        stuck = []
        for pty in (True, False):
            process = await conn.create_process(
                term_type="xterm" if pty else None,
                term_size=(100, 30) if pty else None,
                encoding="utf-8",
                errors="replace",
                window=1024,
            )
            await read_until(process, "Type /help")
            stuck.append(process)
        stuck[1].stdin.write("/join flood\n")
        for process in stuck:
            await read_until(process, "joined #flood")
            process.channel.pause_reading()
        try:
            outboxes = [_outbox(c) for c in server.hub.accounts["alice"].clients]
            assert len(outboxes) == 2
            longest = 0

            async def watch() -> None:
                nonlocal longest
                while True:
                    longest = max(longest, *(len(o) for o in outboxes))
                    await asyncio.sleep(0.002)

            watcher = asyncio.create_task(watch())
            lines = 20000
            try:
                bob.send_raw("".join(f"flood {i}\n" for i in range(lines)))
                await bob.expect(r"<bob> flood \d+\n")
                # While the flood goes on, dave's messages reach carol promptly.
                pings = 0
                while f"flood {lines - 1}\n" not in bob.text:
                    start = time.monotonic()
                    dave.send(f"ping {pings}")
                    await carol.expect(rf"<dave> ping {pings}\n", timeout=5)
                    assert time.monotonic() - start < 1.0
                    pings += 1
                    await asyncio.sleep(0.01)
                assert pings >= 1
                await bob.expect(rf"<bob> flood {lines - 1}\n", timeout=20)
                bob.send("after the flood")
                await bob.expect(r"<bob> after the flood")
            finally:
                watcher.cancel()
            assert 0 < longest <= self.QUEUE
            assert all(len(o) <= self.QUEUE for o in outboxes)
            # The channel's own write buffer stays small too: the session stopped
            # writing when the client stopped reading.
            for client in server.hub.accounts["alice"].clients:
                assert _channel(client).get_write_buffer_size() < 256 * 1024

            # Reading again, the stuck sessions catch up and learn what they
            # missed: every flood line was either shown or counted as dropped.
            for process in stuck:
                process.channel.resume_reading()
                text = plain(await read_until(process, "<bob> after the flood"))
                shown = re.findall(r"<bob> flood (\d+)\n", text)
                dropped = [
                    int(n)
                    for n in re.findall(
                        r"(\d+) lines were dropped because they arrived too fast", text
                    )
                ]
                shown_pings = re.findall(r"<dave> ping \d+\n", text)  # alice is in #lobby too
                assert sum(dropped) > lines // 2  # most of it
                assert len(shown) + len(shown_pings) + sum(dropped) == lines + pings
                assert shown[-1] == str(lines - 1)  # the newest lines are kept
        finally:
            conn.close()


class TestTerminalFloods:
    """A pty session echoes and redraws for every key and every window change."""

    @pytest.fixture
    def limits_toml(self) -> str:
        return "[limits]\n" + NO_RATE_LIMIT

    async def test_window_change_flood_does_not_stall_others(
        self, server: RunningServer, clients: list[ChatClient]
    ) -> None:
        alice = await login(server, clients, "alice")
        bob = await login(server, clients, "bob", pty=False)
        alice.send_raw("z" * 1900)  # a long line being edited: each redraw shows it
        await alice.expect(r"z{100}")
        for i in range(2000):
            alice.process.change_terminal_size(100 + i % 2, 30)
        latencies = [await who_round_trip(bob) for _ in range(3)]
        assert max(latencies) < 1.0, latencies
        front = _front(server.hub.accounts["alice"].clients[0])
        assert isinstance(front, TerminalFrontEnd)
        await until(lambda: front.size.columns == 101, what="the last size to be applied")
        alice.send_raw("\r")
        await bob.expect(r"<alice> z{1900}\n")

    async def test_stuck_pty_input_waits_for_its_output(
        self, server: RunningServer, clients: list[ChatClient]
    ) -> None:
        bob = await login(server, clients, "bob", pty=False)
        conn = await ssh(server, "alice")
        try:
            process = await conn.create_process(
                term_type="xterm", term_size=(100, 30), encoding="utf-8"
            )
            await read_until(process, "Type /help")
            process.channel.pause_reading()
            client = server.hub.accounts["alice"].clients[0]
            chan = _channel(client)
            front = _front(client)
            assert isinstance(front, TerminalFrontEnd)

            # alice stops reading; bob's chatter soon fills her SSH window and
            # then the server's buffer for her channel.
            bob.send_raw("".join(f"chatter {i} {'.' * 1000}\n" for i in range(2500)))
            await until(lambda: not front._writable.is_set(), what="alice's output to stall")
            stalled_at = chan.get_write_buffer_size()  # one batch of lines, at most

            # Typing and resizing make no output while she does not read, and
            # what she types waits until she reads again.
            process.stdin.write("z" * 1900)
            for i in range(1000):
                process.change_terminal_size(100 + i % 2, 30)
            process.stdin.write("\x03/nick stuck\r")
            await bob.absent(r"now known as stuck", wait=0.5)
            assert chan.get_write_buffer_size() - stalled_at < 16 * 1024
            assert max([await who_round_trip(bob) for _ in range(3)]) < 1.0

            process.channel.resume_reading()
            await bob.expect(r"-- alice is now known as stuck", timeout=10)
            await read_until(process, "you are now known as stuck", timeout=10)
            assert front.size.columns == 101
        finally:
            conn.close()


# -- 8. a very long line -----------------------------------------------------------------


class TestHugeTerminalSize:
    """A client may claim any 32-bit terminal size; the server lays out at most 1000 x 500.

    Unclamped, ``term_size=(4294967295, 4294967295)`` made prompt_toolkit allocate
    until the kernel killed the server. Each test first checks the clamp with a
    size the server survives without it, so a regression fails there, not by
    exhausting the machine's memory.
    """

    @pytest.fixture
    def limits_toml(self) -> str:
        return "[limits]\n" + NO_RATE_LIMIT

    async def test_pty_request_size_is_clamped(
        self, server: RunningServer, clients: list[ChatClient]
    ) -> None:
        big = await connect(server, "alice", term_size=(5000, 3000))
        clients.append(big)
        front = _front(server.hub.accounts["alice"].clients[0])
        assert isinstance(front, TerminalFrontEnd)
        assert (front.size.columns, front.size.rows) == (MAX_COLUMNS, MAX_ROWS)

        before = rss_bytes()
        huge = await connect(server, "bob", term_size=(4294967295, 4294967295))
        clients.append(huge)
        front = _front(server.hub.accounts["bob"].clients[0])
        assert isinstance(front, TerminalFrontEnd)
        assert (front.size.columns, front.size.rows) == (MAX_COLUMNS, MAX_ROWS)
        huge.send("still here")
        await big.expect(r"<bob> still here")
        assert rss_bytes() - before < 64 * 1024 * 1024

    async def test_window_change_size_is_clamped(
        self, server: RunningServer, clients: list[ChatClient]
    ) -> None:
        alice = await login(server, clients, "alice")
        bob = await login(server, clients, "bob", pty=False)
        front = _front(server.hub.accounts["alice"].clients[0])
        assert isinstance(front, TerminalFrontEnd)
        alice.send_raw("typed before the resize")

        alice.process.change_terminal_size(2_000_000, 3000)
        await until(lambda: front.size.columns != 100, what="the window change")
        assert (front.size.columns, front.size.rows) == (MAX_COLUMNS, MAX_ROWS)

        before = rss_bytes()
        alice.process.change_terminal_size(4294967295, 4294967295)
        alice.process.change_terminal_size(0, 0)  # "unknown": the default size
        await until(lambda: front.size.columns == 80, what="the last window change")
        assert max([await who_round_trip(bob) for _ in range(3)]) < 1.0
        alice.process.change_terminal_size(4294967295, 4294967295)
        await until(lambda: front.size.columns == MAX_COLUMNS, what="the huge window change")
        await asyncio.sleep(0.3)  # past the re-layout delay: the prompt was laid out again
        assert rss_bytes() - before < 64 * 1024 * 1024
        alice.send_raw("\r")
        await bob.expect(r"<alice> typed before the resize\n")


def test_clamp_terminal_size() -> None:
    assert clamp_terminal_size(80, 24) == (80, 24)
    assert clamp_terminal_size(1, 1) == (1, 1)
    assert clamp_terminal_size(0, 0) == (80, 24)
    assert clamp_terminal_size(-5, 30) == (80, 30)
    assert clamp_terminal_size(4294967295, 4294967295) == (MAX_COLUMNS, MAX_ROWS)
    assert clamp_terminal_size(MAX_COLUMNS + 1, MAX_ROWS) == (MAX_COLUMNS, MAX_ROWS)


class TestHugeLine:
    @pytest.fixture
    def limits_toml(self) -> str:
        return "[limits]\n" + NO_RATE_LIMIT

    async def test_ten_megabytes_without_newline(
        self, server: RunningServer, clients: list[ChatClient]
    ) -> None:
        alice = await login(server, clients, "alice")
        plain_sender = await login(server, clients, "bob", pty=False)
        pty_sender = await login(server, clients, "carol")
        before = rss_bytes()
        peak = before

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, rss_bytes())
                await asyncio.sleep(0.02)

        chunk = "x" * 65536
        total = 10 * 1024 * 1024

        async def blast(client: ChatClient, name: str) -> None:
            sent = 0
            while sent < total:
                client.send_raw(chunk)
                sent += len(chunk)
                await client.process.stdin.drain()
            client.send_raw(f"\rshort and sweet from {name}\r")

        sampler = asyncio.create_task(sample())
        senders = [
            asyncio.create_task(blast(client, name))
            for client, name in ((plain_sender, "plain"), (pty_sender, "pty"))
        ]
        latencies = []
        try:
            # Until the server has worked through both lines, /who stays quick.
            while not all(
                f"short and sweet from {name}" in alice.text for name in ("plain", "pty")
            ):
                latencies.append(await who_round_trip(alice))
                await asyncio.sleep(0.02)
            for sender in senders:
                await sender
        finally:
            sampler.cancel()
            for sender in senders:
                sender.cancel()
        assert len(latencies) >= 2
        assert max(latencies) < 1.0, latencies
        for sender, login_name, name in (
            (plain_sender, "bob", "plain"),
            (pty_sender, "carol", "pty"),
        ):
            await sender.expect(r"line too long \(the limit is 2000 characters\)")
            await sender.expect(rf"<{login_name}> short and sweet from {name}\n")
            assert sender.text.count("line too long") == 1
            assert re.search(rf"<{login_name}> short and sweet from {name}\n", alice.text)
        assert "xxxxxxxxxx" not in alice.text  # nothing of the long lines was sent
        growth = peak - before
        assert growth < 100 * 1024 * 1024, f"RSS grew by {growth / 2**20:.0f} MiB"


# -- 9. brute force in the background ---------------------------------------------------


class TestBruteForce:
    @pytest.fixture
    def limits_toml(self) -> str:
        # Default penalties, except that delays stop at 1 s so the attack ends soon.
        return "[limits]\nauth_max_delay = 1\n" + NO_RATE_LIMIT

    async def test_legitimate_user_gets_in_during_brute_force(
        self, server: RunningServer, clients: list[ChatClient]
    ) -> None:
        sources = [f"127.0.0.{i}" for i in range(3, 13)]
        outcomes: list[str] = []

        async def attacker(source: str, count: int) -> None:
            for n in range(count):
                # Mostly real accounts (cheap test hashes); unknown names cost a
                # default-strength argon2 check each.
                user = ("bob", "dave", "root", "bob", "dave")[n % 5]
                try:
                    err = await asyncio.wait_for(
                        wrong_password(server, user, source=source, password=f"guess{n}"), 20
                    )
                    outcomes.append(type(err).__name__)
                except TimeoutError:
                    outcomes.append("timeout")

        # Ten addresses, three attack loops each: 30 attempts in flight, 100 in all.
        attacks = [
            asyncio.create_task(attacker(source, 4 if k < 1 else 3))
            for source in sources
            for k in range(3)
        ]
        try:
            await until(lambda: len(outcomes) >= 10, timeout=20, what="the attack to start")
            start = time.monotonic()
            alice = await login(server, clients, "alice")
            carol = await login(server, clients, "carol", source="127.0.0.2", pty=False)
            alice.send("business as usual")
            await carol.expect(r"<alice> business as usual", timeout=10)
            took = time.monotonic() - start
            assert took < 10, f"legitimate login and chat took {took:.1f}s"
            await asyncio.wait_for(asyncio.gather(*attacks), 40)
        finally:
            for task in attacks:
                task.cancel()
        assert len(outcomes) == 100
        assert set(outcomes) <= {"PermissionDenied", "DisconnectError"}, set(outcomes)
        gate = server.state.gate
        await until(lambda: gate.unauthenticated == 0, what="attack connections released")
        assert gate.total == 2
        assert server.state.verify_slots.running == 0
        assert server.state.verify_slots.waiting == 0
