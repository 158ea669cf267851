"""Cluster mode end to end: ``sshchat serve`` processes sharing a real redis-server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers.accounts import make_config_text
from helpers.cluster import FAST_LEASES, REPO, Cluster, shows_all
from helpers.openssh import OpenSSHClient, open_ssh
from helpers.redis_server import free_port


async def test_a_line_said_on_one_node_reaches_the_other_once_and_in_order(cluster) -> None:
    a = cluster.start("a")
    b = cluster.start("b")
    alice = await cluster.login(a, "alice")
    bob = await cluster.login(b, "bob")
    carol = await cluster.login(a, "carol")
    await alice.expect(r"bob connected")  # presence crosses nodes
    for i in range(10):
        alice.send(f"line {i} from a")
        bob.send(f"line {i} from b")
    for reader in (alice, bob, carol):
        await shows_all(reader, ["<alice> line 9 from a", "<bob> line 9 from b"])
    await asyncio.sleep(0.5)  # anything duplicated would have arrived by now
    orders = []
    for reader in (alice, bob, carol):
        lines = re.findall(r"<(?:alice|bob)> line \d from [ab]", reader.text)
        assert len(lines) == len(set(lines)) == 20  # each exactly once
        orders.append(lines)
    assert orders[0] == orders[1] == orders[2]  # the same order everywhere
    bob.send("/users")
    await bob.expect(r"Users \(3 of 4 online\)")  # cluster-wide presence


async def test_a_nick_race_gives_the_name_to_exactly_one(cluster) -> None:
    _a, _b, alice, bob = await cluster.alice_and_bob()
    alice.send("/nick zed")
    bob.send("/nick zed")
    outcomes = []
    for client in (alice, bob):
        match = await client.expect(r"(you are now known as zed|'zed' is taken)", timeout=20)
        outcomes.append(match.group(1))
    assert sorted(outcomes) == ["'zed' is taken", "you are now known as zed"]
    for client in (alice, bob):
        client.send("/users")
        await client.expect(r"Users \(2 of 4 online\):\n((?:  .*\n)+)", timeout=20)
    for client in (alice, bob):
        listing = client.text.rsplit("Users (2 of 4 online):", 1)[1]
        assert len(re.findall(r"^  zed", listing, flags=re.MULTILINE)) == 1


async def test_ban_on_one_node_ends_the_session_on_the_other(cluster) -> None:
    a, _b, alice, bob = await cluster.alice_and_bob()  # alice is an admin
    alice.send("/ban bob 10m spamming")
    await bob.expect(r"banned from this server.*spamming", timeout=20)
    await bob.wait_closed(20)
    refused = await open_ssh(a.address.port, "bob", wait_prompt=False)  # everywhere, also on a
    await refused.wait_closed(20)
    assert refused.proc.returncode == 255 and "Permission denied" in refused.text, refused.text


async def test_a_killed_node_s_users_go_offline_on_the_other(cluster) -> None:
    a = cluster.start("a", FAST_LEASES)
    b = cluster.start("b", FAST_LEASES)
    alice = await cluster.login(a, "alice")
    await cluster.login(b, "bob")
    await cluster.login(b, "carol")
    await alice.expect(r"carol connected")
    b.proc.send_signal(signal.SIGKILL)
    b.proc.wait(10)
    await alice.expect(r"bob disconnected", timeout=20)
    await alice.expect(r"carol disconnected", timeout=20)
    await alice.absent(r"(bob|carol) disconnected", wait=1.0)  # once each
    alice.send("/users")
    await alice.expect(r"Users \(1 of 4 online\)")


async def test_a_node_paused_past_its_lease_ends_its_sessions_with_a_message(cluster) -> None:
    a = cluster.start("a", FAST_LEASES)
    b = cluster.start("b", FAST_LEASES)
    alice = await cluster.login(a, "alice")
    bob = await cluster.login(b, "bob")
    await alice.expect(r"bob connected", timeout=20)
    b.proc.send_signal(signal.SIGSTOP)
    await alice.expect(r"bob disconnected", timeout=20)
    b.proc.send_signal(signal.SIGCONT)
    await bob.expect(r"lost contact with the rest of the chat", timeout=20)
    again = await cluster.login(b, "bob")  # the resumed node takes logins again
    await alice.expect(r"bob connected", timeout=20)
    again.send("back again")
    await alice.expect(r"<bob> back again", timeout=20)
    for client in (alice, again):
        client.send("/users")
        await client.expect(r"Users \(2 of 4 online\)", timeout=20)


def test_redis_unreachable_at_start_is_one_clear_message_and_exit_2(tmp_path, password_hashes):
    url = f"redis://127.0.0.1:{free_port()}/0"
    nodes = Cluster(tmp_path, password_hashes, url)
    config = nodes.config("lonely")
    done = subprocess.run(
        [sys.executable, "-m", "sshchat", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=config.parent,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    assert url in done.stderr and "Fix:" in done.stderr


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sshchat", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )


async def test_cluster_status_lists_every_node(cluster) -> None:
    a = cluster.start("a", FAST_LEASES)
    b = cluster.start("b", FAST_LEASES)
    await cluster.login(b, "bob")
    config = a.log.parent / "config.toml"
    deadline = time.monotonic() + 20
    while True:
        done = _run(["cluster", "status", "--config", str(config), "--json"], config.parent)
        assert done.returncode == 0, done.stderr
        status = json.loads(done.stdout)
        nodes = {n["node"]: n for n in status["nodes"]}
        if nodes.keys() == {"a", "b"} and nodes["b"]["sessions"] == 1:
            break
        assert time.monotonic() < deadline, done.stdout
        await asyncio.sleep(0.2)
    assert nodes["b"]["pid"] == b.proc.pid and nodes["a"]["pid"] == a.proc.pid
    assert all(n["lag"] is not None and n["lease_age"] is not None for n in nodes.values())
    table = _run(["cluster", "status", "--config", str(config)], config.parent)
    assert table.returncode == 0
    row = rf"^\s+b\s+\S+\s+{b.proc.pid}\s+1\s"
    assert re.search(row, table.stdout, flags=re.MULTILINE)
    assert "lease age" in table.stdout


def test_workers_without_a_cluster_table_is_a_clear_error(tmp_path, password_hashes) -> None:
    config = tmp_path / "config.toml"
    config.write_text(make_config_text(password_hashes, None))
    done = _run(["serve", "--config", str(config), "--workers", "2"], tmp_path)
    assert done.returncode == 2
    assert "--workers 2 needs a [cluster] table" in done.stderr and "Fix:" in done.stderr
    assert "Traceback" not in done.stderr


async def test_workers_share_the_port_and_a_dead_worker_is_restarted(
    tmp_path, password_hashes, redis_server
) -> None:
    nodes = Cluster(tmp_path, password_hashes, redis_server.url)
    config = nodes.config("w", FAST_LEASES)
    log = tmp_path / "workers.log"
    with log.open("wb") as out:
        parent = subprocess.Popen(
            [sys.executable, "-m", "sshchat", "serve", "--config", str(config), "--workers", "2"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=config.parent,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    clients: list[OpenSSHClient] = []
    try:
        deadline = time.monotonic() + 60
        while len(re.findall(r"server\.listening", log.read_text(errors="replace"))) < 2:
            assert parent.poll() is None and time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.1)
        port = int(re.search(r"workers\.start .*port=(\d+)", log.read_text()).group(1))
        for user in ("alice", "bob", "carol", "dave", "alice", "bob", "carol", "dave"):
            client = await open_ssh(port, user)
            clients.append(client)
        clients[0].send("hello from somewhere")
        for client in clients[1:4]:
            await client.expect(r"<alice> hello from somewhere", timeout=20)
        status = json.loads(
            _run(["cluster", "status", "--config", str(config), "--json"], tmp_path).stdout
        )
        seen = {n["node"]: n["pid"] for n in status["nodes"]}
        assert set(seen) == {"w-1", "w-2"}
        for index in (1, 2):  # a database of its own, beside the configured one
            assert (tmp_path / "w" / "data" / f"sshchat-{index}.db").exists()
        os.kill(seen["w-1"], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            status = json.loads(
                _run(["cluster", "status", "--config", str(config), "--json"], tmp_path).stdout
            )
            alive = {n["node"]: n["pid"] for n in status["nodes"] if n["lease_age"] is not None}
            if alive.get("w-1") not in (None, seen["w-1"]):
                break  # w-1 runs again, as a new process
            assert time.monotonic() < deadline, status
            await asyncio.sleep(0.3)
    finally:
        for client in clients:
            await client.close()
        parent.send_signal(signal.SIGTERM)
        try:
            parent.wait(60)
        except subprocess.TimeoutExpired:
            parent.kill()
            parent.wait()
    assert parent.returncode == 0
    assert "Traceback" not in log.read_text(errors="replace")


async def test_a_restarted_node_catches_up_from_its_database_before_taking_logins(
    cluster,
) -> None:
    # Only b writes checkpoints (and snapshots) often: it restarts from its own.
    snapshots = FAST_LEASES + "snapshot_every = 0.2\n"
    a = cluster.start("a", FAST_LEASES + "snapshot_every = 3600\n")
    b = cluster.start("b", snapshots)
    alice = await cluster.login(a, "alice")
    carol = await cluster.login(b, "carol")
    await alice.expect(r"carol connected")
    for i in range(3):
        alice.send(f"early {i}")
    await shows_all(carol, [f"<alice> early {i}" for i in range(3)])
    await asyncio.sleep(1.0)  # several checkpoints into b's database
    b.proc.send_signal(signal.SIGKILL)
    b.proc.wait(10)
    await alice.expect(r"carol disconnected", timeout=20)
    for i in range(3):
        alice.send(f"missed {i}")
    await shows_all(alice, [f"<alice> missed {i}" for i in range(3)])
    b.log.rename(b.log.with_suffix(".first"))  # the restart logs (and listens) afresh
    again = cluster.start("b", snapshots)
    joined = again.log.read_text(errors="replace").rsplit("server.listening", 1)[0]
    assert re.findall(r"cluster\.joined .*base_from=local", joined), joined[-2000:]
    bob = await cluster.login(again, "bob")  # the history shown on login, from b's state
    expected = [f"<alice> early {i}" for i in range(3)] + [f"<alice> missed {i}" for i in range(3)]
    await shows_all(bob, expected)
    await asyncio.sleep(0.5)  # a duplicate would have arrived by now
    for line in expected:
        assert bob.text.count(line) == 1, bob.text


RESET_NOTICE = "The chat's shared store was restarted and lost its data"


async def test_lines_typed_while_redis_restarts_empty_are_delivered_or_refused(
    cluster, redis_server
) -> None:
    a = cluster.start("a", FAST_LEASES)
    b = cluster.start("b", FAST_LEASES)
    alice = await cluster.login(a, "alice")
    bob = await cluster.login(b, "bob")
    await alice.expect(r"bob connected", timeout=20)
    alice.send("line 0")
    await bob.expect(r"<alice> line 0", timeout=20)
    count = 12
    for i in range(1, count):
        alice.send(f"line {i}")
        if i == 4:
            redis_server.restart()  # no append-only file: Redis comes back empty
        await asyncio.sleep(0.05)
    # Every line is delivered (once, everywhere) or refused with a message to alice.
    # Nodes a and b apply from Redis each in its own time: wait until alice's echoes
    # (from node a) have caught up with what bob (node b) shows, then compare.
    deadline = time.monotonic() + 20
    while True:
        delivered = [i for i in range(count) if f"<alice> line {i}\n" in bob.text]
        echoed = [i for i in range(count) if f"<alice> line {i}\n" in alice.text]
        refused = len(re.findall(r"not (sent|done): ", alice.text))
        if len(delivered) + refused == count and echoed == delivered:
            break
        assert time.monotonic() < deadline, (delivered, echoed, refused, alice.text)
        await asyncio.sleep(0.05)
    for i in range(count):
        assert bob.text.count(f"<alice> line {i}\n") <= 1
        assert (f"<alice> line {i}\n" in alice.text) == (f"<alice> line {i}\n" in bob.text)
    for client in (alice, bob):  # told once, and both nodes agree on who is online
        await client.expect(RESET_NOTICE, timeout=20)
        client.send("/users")
        await client.expect(r"Users \(2 of 4 online\)", timeout=20)
    bob.send("after the reset")
    await alice.expect(r"<bob> after the reset", timeout=20)
    for client in (alice, bob):
        assert client.text.count(RESET_NOTICE) == 1


async def test_a_re_seed_winner_killed_before_writing_its_state_is_replaced(
    cluster, redis_server
) -> None:
    nodes = {name: cluster.start(name, FAST_LEASES) for name in ("a", "b", "c")}
    users = {"a": "alice", "b": "bob", "c": "carol"}
    clients = {name: await cluster.login(node, users[name]) for name, node in nodes.items()}
    await shows_all(clients["a"], ["bob connected", "carol connected"])
    clients["a"].send("before the reset")
    for name in ("b", "c"):
        await clients[name].expect(r"<alice> before the reset", timeout=20)
    redis_server.restart()  # empty
    # The first candidate wins (the positions are equal): kill it before the close.
    client = redis_server.client()
    deadline = time.monotonic() + 20
    try:
        while True:
            marks = [f for _id, f in client.xrange("sshchat:log") if f.get(b"m") == b"candidate"]
            if marks:
                winner = marks[0][b"n"].decode()
                break
            assert time.monotonic() < deadline, "nobody stood"
            await asyncio.sleep(0.01)
    finally:
        client.close()
    nodes[winner].proc.kill()
    nodes[winner].proc.wait(10)
    left = [name for name in nodes if name != winner]
    gone = users[winner]
    for name in left:  # the others elect again, agree, and end the dead node's session
        await clients[name].expect(rf"{gone} disconnected", timeout=20)
        clients[name].send("/users")
        await clients[name].expect(r"Users \(2 of 4 online\)", timeout=20)
    first, second = (clients[name] for name in left)
    first.send("after the re-seed")
    await second.expect(rf"<{users[left[0]]}> after the re-seed", timeout=20)
    for name in left:
        assert clients[name].text.count(RESET_NOTICE) == 1
        assert clients[name].text.count(f"{gone} disconnected") == 1
    cluster.nodes.remove(nodes[winner])  # killed on purpose: its log may be cut short
