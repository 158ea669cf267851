"""What one idle pty session costs in memory, line by line: a tracemalloc diff.

    python bench/micro/sessions_mem.py [--sessions 300] [--accounts 20] [--top 30] [--frames 1]

Starts the real server in this process (``start_server``, as the integration
tests do) and opens ``--sessions`` pty sessions from a child process with
asyncssh clients (so client objects do not pollute the server's allocation
figures), each waiting for its prompt, like the ``sessions`` scenario of
``bench/run.py``. After a warm-up (a few sessions opened and closed, so caches
filled once do not count), it takes a tracemalloc snapshot, opens the sessions,
collects garbage, takes a second one and prints the top allocation sites of the
difference, per session, plus totals by package. ``--frames N`` groups by a
traceback of N frames (the first frame outside the standard library and site
packages is what you usually want: raise it to see who called). RSS per session
is printed too, but tracemalloc slows everything down, so the RSS figure that
counts is the one of ``bench/run.py --only sessions``. ``SSHCHAT_CODE`` points at
another copy of sshchat/ (for A/B runs).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import sys
import tempfile
import tracemalloc
from pathlib import Path

sys.path.insert(0, os.environ.get("SSHCHAT_CODE") or str(Path(__file__).resolve().parents[2]))

import asyncssh

TERM_SIZE = (80, 24)
ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-Za-z]|.)")
PROMPT = re.compile(r"#[\w-]+ ([\w-]+)>")


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# -- the client side (child process) -------------------------------------------


class _Client(asyncssh.SSHClientSession[str]):
    def __init__(self, prompt: asyncio.Future[None]) -> None:
        self.prompt = prompt
        self.seen = ""

    def data_received(self, data: str, datatype: object) -> None:
        if not self.prompt.done():
            self.seen = (self.seen + data)[-2000:]
            if PROMPT.search(ANSI.sub("", self.seen)):
                self.prompt.set_result(None)


async def _open(port: int, key: asyncssh.SSHKey, login: str) -> asyncssh.SSHClientConnection:
    conn = await asyncssh.connect(
        "127.0.0.1", port, username=login, client_keys=[key], known_hosts=None
    )
    prompt: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    await conn.create_session(lambda: _Client(prompt), term_type="xterm", term_size=TERM_SIZE)
    await asyncio.wait_for(prompt, 60)
    return conn


async def clients(port: int, key_path: str, count: int, accounts: int, keep: bool) -> None:
    key = asyncssh.read_private_key(key_path)
    sem = asyncio.Semaphore(8)
    conns: list[asyncssh.SSHClientConnection] = []

    async def one(i: int) -> None:
        async with sem:
            conns.append(await _open(port, key, f"bench{i % accounts}"))

    await asyncio.gather(*(one(i) for i in range(count)))
    if not keep:
        for conn in conns:
            conn.close()
        for conn in conns:
            await conn.wait_closed()
    print("ready", flush=True)
    if keep:
        sys.stdin.readline()  # hold the sessions until the parent is done


# -- the server side ----------------------------------------------------------


async def spawn(port: int, key_path: str, count: int, accounts: int, keep: bool):  # type: ignore[no-untyped-def]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--client",
        str(port),
        key_path,
        str(count),
        str(accounts),
        "keep" if keep else "close",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = await proc.stdout.readline()
    if line.strip() != b"ready":
        raise SystemExit(f"client process failed: {line!r}")
    return proc


def census() -> dict[str, tuple[int, int]]:
    """Count and shallow size of every gc-tracked object, by type."""
    out: dict[str, tuple[int, int]] = {}
    gc.unfreeze()  # frozen objects are not listed (the server's GcPolicy freezes them again)
    for obj in gc.get_objects():
        t = type(obj)
        name = f"{t.__module__}.{t.__qualname__}"
        count, size = out.get(name, (0, 0))
        out[name] = (count + 1, size + sys.getsizeof(obj))
    return out


def owners(type_names: str, old: set[int], n: int) -> None:
    """Who holds the new objects of these types: owner type and attribute."""
    wanted = set(type_names.split(","))
    gc.unfreeze()
    tally: dict[str, list[int]] = {}
    for obj in gc.get_objects():
        if type(obj).__name__ not in wanted or id(obj) in old:
            continue
        where = "?"
        for ref in gc.get_referrers(obj):
            if isinstance(ref, dict):
                for holder in gc.get_referrers(ref):
                    if getattr(holder, "__dict__", None) is ref:
                        key = next((k for k, v in ref.items() if v is obj), "?")
                        where = f"{type(holder).__module__}.{type(holder).__qualname__}.{key}"
                        break
            elif hasattr(type(ref), "__slots__"):
                where = f"{type(ref).__module__}.{type(ref).__qualname__} (slots)"
            if where != "?":
                break
        entry = tally.setdefault(f"{type(obj).__name__} in {where}", [0, 0])
        entry[0] += 1
        entry[1] += sys.getsizeof(obj)
    print(f"{'KB/sess':>8} {'count':>7}  new objects by holder")
    for name, (count, size) in sorted(tally.items(), key=lambda kv: -kv[1][1])[:40]:
        print(f"{size / n / 1024:8.2f} {count / n:7.2f}  {name}")


def _where(stat: tracemalloc.StatisticDiff, repo: str) -> str:
    parts = []
    for frame in stat.traceback:
        name = frame.filename
        for marker in ("site-packages/", repo + "/", "/lib/python3"):
            if marker in name:
                name = name.split(marker, 1)[1]
                break
        parts.append(f"{name}:{frame.lineno}")
    return " <- ".join(parts)


async def server_main(args: argparse.Namespace) -> None:
    from sshchat.app import start_server
    from sshchat.config.schema import parse_config

    repo = str(Path(__file__).resolve().parents[2])
    with tempfile.TemporaryDirectory() as tmp:
        key = asyncssh.generate_private_key("ssh-ed25519")
        key_path = os.path.join(tmp, "client_key")
        Path(key_path).write_bytes(key.export_private_key())
        pub = key.export_public_key("openssh").decode().strip()
        users = "\n".join(
            f'[users.bench{i}]\npublic_keys = ["{pub}"]\n' for i in range(args.accounts)
        )
        text = (
            '[server]\nlisten = "127.0.0.1"\nport = 0\n'
            f'host_keys = ["{tmp}/host_key"]\nname = "memchat"\ndefault_channel = "lobby"\n'
            f'[storage]\npath = "{tmp}/chat.db"\n'
            "[limits]\nmessage_burst = 100000\nmessage_rate = 100000\n"
            "max_connections = 100000\nmax_connections_per_source = 100000\n"
            "max_sessions_per_account = 100000\n\n" + users
        )
        path = Path(tmp) / "config.toml"
        path.write_text(text)
        config = parse_config(text, path)
        running = await start_server(config)
        try:
            warm = await spawn(running.port, key_path, 10, args.accounts, keep=False)
            await warm.wait()
            await asyncio.sleep(1.0)
            gc.collect()
            if args.frames:
                tracemalloc.start(args.frames)
            census0 = census() if args.census else None
            ids0 = {id(o) for o in gc.get_objects()} if args.owners else set()
            rss0 = rss_kb()
            before = tracemalloc.take_snapshot() if args.frames else None
            proc = await spawn(running.port, key_path, args.sessions, args.accounts, keep=True)
            await asyncio.sleep(2.0)
            n = args.sessions
            if args.unfreeze:
                frozen = gc.get_freeze_count()
                gc.unfreeze()
                found = gc.collect()
                print(f"unfroze {frozen / n:.0f} objects/session, {found / n:.0f} garbage")
            gc.collect()
            rss1 = rss_kb()
            n = args.sessions
            print(f"sessions: {n}; RSS {rss0} -> {rss1} KB: {(rss1 - rss0) / n:.1f} KB/session")
            if census0 is not None:
                census1 = census()
                rows = []
                for name, (count, size) in census1.items():
                    c0, s0 = census0.get(name, (0, 0))
                    rows.append((size - s0, count - c0, name))
                rows.sort(reverse=True)
                print(f"{'KB/sess':>8} {'objects':>7}  type (gc-tracked objects, sys.getsizeof)")
                for size, count, name in rows[: args.top]:
                    print(f"{size / n / 1024:8.2f} {count / n:7.1f}  {name}")
            if args.owners:
                owners(args.owners, ids0, n)
            if before is not None:
                after = tracemalloc.take_snapshot()
                diff = after.compare_to(before, "traceback")
                total = sum(s.size_diff for s in diff)
                blocks = sum(s.count_diff for s in diff) / n
                print(f"traced: {total / n / 1024:.1f} KB/session, {blocks:.0f} blocks/session")
                print(f"{'KB/sess':>8} {'blocks':>7}  where")
                for stat in diff[: args.top]:
                    size, count = stat.size_diff / n / 1024, stat.count_diff / n
                    print(f"{size:8.2f} {count:7.1f}  {_where(stat, repo)}")
                by_pkg: dict[str, int] = {}
                for stat in after.compare_to(before, "filename"):
                    name = stat.traceback[0].filename
                    if "site-packages/" in name:
                        pkg = name.split("site-packages/", 1)[1].split("/", 1)[0]
                    elif "/sshchat/" in name:  # this tree's or SSHCHAT_CODE's
                        pkg = "sshchat/" + name.split("/sshchat/", 1)[1].split("/")[0]
                    elif repo in name:
                        pkg = "/".join(name.split(repo + "/", 1)[1].split("/")[:2])
                    else:
                        pkg = "stdlib/other"
                    by_pkg[pkg] = by_pkg.get(pkg, 0) + stat.size_diff
                print("by package (KB/session):")
                for pkg, size in sorted(by_pkg.items(), key=lambda kv: -kv[1])[:12]:
                    print(f"{size / n / 1024:8.2f}  {pkg}")
            assert proc.stdin is not None
            proc.stdin.write(b"\n")
            await proc.stdin.drain()
            await proc.wait()
        finally:
            await running.close()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        port, key_path, count, accounts, mode = sys.argv[2:7]
        asyncio.run(clients(int(port), key_path, int(count), int(accounts), mode == "keep"))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--unfreeze", action="store_true", help="unfreeze and collect before measuring"
    )
    parser.add_argument("--owners", default="", help="types (comma-separated) to find holders of")
    parser.add_argument("--census", action="store_true", help="also objects by type")
    parser.add_argument("--frames", type=int, default=1, help="0: RSS only, no tracemalloc")
    asyncio.run(server_main(parser.parse_args()))


if __name__ == "__main__":
    main()
