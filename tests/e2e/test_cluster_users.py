"""What users see across ``sshchat serve`` nodes: commands decided on one node hold on the others.

Each test runs real ``sshchat serve`` processes over a real redis-server and
logs users in with the real OpenSSH ``ssh`` (``ssh -T``, plain mode; one test
on a terminal), on different nodes.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pexpect
import pytest
from helpers.client import ScriptedOutput
from helpers.cluster import Cluster, Node, shows_all
from helpers.openssh import SGR, SSH, open_ssh, spawn_password_user
from helpers.redis_server import RedisServer


async def logged(node: Node, pattern: str, timeout: float) -> None:
    """Wait until ``node``'s log shows ``pattern`` (a regex)."""
    deadline = time.monotonic() + timeout
    while not re.search(pattern, node.log.read_text(errors="replace")):
        assert time.monotonic() < deadline, f"{node.name} never logged {pattern!r}"
        await asyncio.sleep(0.05)


async def test_msg_reaches_a_user_on_another_node_and_an_offline_one_at_login(cluster) -> None:
    _a, b, alice, bob = await cluster.alice_and_bob()
    alice.send("/msg bob psst, from a")
    await bob.expect(r"\[PM from alice\] psst, from a", timeout=20)
    await alice.expect(r"\[PM to bob\] psst, from a")
    bob.send("/msg alice got it, from b")
    await alice.expect(r"\[PM from bob\] got it, from b", timeout=20)
    alice.send("/msg carol see you later")
    await alice.expect(r"carol is offline and will see it at their next login", timeout=20)
    carol = await cluster.login(b, "carol")  # carol logs in on the other node
    await carol.expect(r"private message while you were away", timeout=20)
    await carol.expect(r"\[PM from alice\] see you later")
    carol.send("/reply thanks")
    await alice.expect(r"\[PM from carol\] thanks", timeout=20)


async def test_mute_and_kick_decided_on_one_node_hold_on_the_other(cluster) -> None:
    a = cluster.start("a")
    b = cluster.start("b")
    alice = await cluster.login(a, "alice")  # an admin
    carol = await cluster.login(a, "carol")
    bob = await cluster.login(b, "bob")
    dave = await cluster.login(b, "dave")
    await alice.expect(r"dave connected", timeout=20)
    alice.send("/mute bob 10m")
    await alice.expect(r"Muted bob for 10 minutes\.", timeout=20)
    await bob.expect(r"You were muted by alice for 10 minutes\.", timeout=20)
    bob.send("can anyone hear me?")  # refused by node b, which applied the mute
    await bob.expect(r"error: you are muted .*; nothing was sent", timeout=20)
    dave.send("dave speaks")  # a line after bob's, through the same node
    await carol.expect(r"<dave> dave speaks", timeout=20)
    for listener in (alice, carol, dave):
        assert "can anyone hear me?" not in listener.text

    alice.send("/create dev")
    await alice.expect(r"Created channel #dev", timeout=20)
    dave.send("/join dev")
    await dave.expect(r"Now talking in #dev", timeout=20)
    await alice.expect(r"-- dave joined #dev", timeout=20)
    alice.send("/kick dave too loud")
    await dave.expect(r"-- you were kicked from #dev by alice: too loud", timeout=20)
    dave.send("/who")  # node b no longer has dave in #dev: he is back in #lobby
    await dave.expect(r"In #lobby: ", timeout=20)
    dave.send("/list")
    listing = await dave.expect(r"#dev\s+(\d+)/(\d+) members?", timeout=20)
    assert listing.group(2) == "1"  # alice alone
    dave.send("/join dev")  # a kick is not a ban: he may come back
    await dave.expect(r"Now talking in #dev", timeout=20)


async def test_op_topic_and_invitation_set_on_one_node_hold_on_the_other(cluster) -> None:
    _, b, alice, bob = await cluster.alice_and_bob()
    carol = await cluster.login(b, "carol")
    await alice.expect(r"carol connected", timeout=20)
    alice.send("/create dev")
    await alice.expect(r"Created channel #dev", timeout=20)
    for member in (bob, carol):
        member.send("/join dev")
        await member.expect(r"Now talking in #dev", timeout=20)
    carol.send("/kick bob")  # not an op yet: refused by node b
    await carol.expect(r"error: only the owner, ops and admins", timeout=20)
    alice.send("/op carol")
    await carol.expect(r"carol is now an op of #dev", timeout=20)
    carol.send("/kick bob off topic")  # node b knows carol is an op now
    await bob.expect(r"-- you were kicked from #dev by carol: off topic", timeout=20)
    await alice.expect(r"-- bob was kicked from #dev by carol: off topic", timeout=20)

    alice.send("/topic ship it on Friday")
    await carol.expect(r"-- alice set the topic of #dev: ship it on Friday", timeout=20)
    dave = await cluster.login(b, "dave")
    dave.send("/join dev")
    await dave.expect(r"Now talking in #dev\. Topic: ship it on Friday", timeout=20)

    alice.send("/create secret private")
    await alice.expect(r"Created private channel #alice/secret", timeout=20)
    bob.send("/join alice/secret")  # not invited
    await bob.expect(r"error: there is no channel #alice/secret", timeout=20)
    alice.send("/invite bob")
    await alice.expect(r"Invited bob to #alice/secret\.", timeout=20)
    await bob.expect(r"alice invites you to #alice/secret", timeout=20)
    bob.send("/join alice/secret")
    await bob.expect(r"Now talking in #alice/secret\.", timeout=20)
    await alice.expect(r"-- bob joined #alice/secret", timeout=20)
    dave.send("/join alice/secret")  # the invitation was bob's only
    await dave.expect(r"error: there is no channel #alice/secret", timeout=20)


async def dev_lines_after(client: ScriptedOutput, start: int) -> list[str]:
    """The three "dev line" chat lines shown after ``start`` in ``client``'s output, in order."""
    deadline = time.monotonic() + 20
    while len(lines := re.findall(r"<\w+> dev line \d", client.text[max(0, start) :])) < 3:
        assert time.monotonic() < deadline, client.text[start:]
        await asyncio.sleep(0.02)
    return lines[:3]


async def test_one_account_on_two_nodes_is_one_user_and_every_view_is_cluster_wide(
    cluster,
) -> None:
    """/users, /whois, /list, /history and presence notices agree on both nodes; an
    account with a session on each is one user, online until its last session ends."""
    a = cluster.start("a")
    b = cluster.start("b")
    alice = await cluster.login(a, "alice")
    carol = await cluster.login(a, "carol")
    bob = await cluster.login(b, "bob")
    await alice.expect(r"bob connected", timeout=20)
    alice_b = await cluster.login(b, "alice")  # alice's second session, on the other node
    for client in (carol, bob):
        client.send("/users")
        await client.expect(r"Users \(3 of 4 online\):", timeout=20)
    carol.send("/whois alice")
    await carol.expect(r"connected since: .*, 2 sessions", timeout=20)
    bob.send("/whois alice")
    await bob.expect(r"connected since: .*, 2 sessions", timeout=20)

    alice.send("/create dev")
    await alice.expect(r"Created channel #dev", timeout=20)
    bob.send("/join dev")
    await bob.expect(r"Now talking in #dev", timeout=20)
    live = {client: len(client.text) for client in (alice, bob)}
    for i in range(3):  # from two nodes at once: the log decides one order for everyone
        (alice if i % 2 == 0 else bob).send(f"dev line {i}")
    order = await dev_lines_after(bob, live[bob])
    assert sorted(order) == ["<alice> dev line 0", "<alice> dev line 2", "<bob> dev line 1"]
    assert await dev_lines_after(alice, live[alice]) == order
    for client in (carol, bob):  # counts from both nodes: 2 members, both online
        client.send("/list")
        await client.expect(r"#dev(?: \*)?  2/2 members", timeout=20)
    start = len(alice_b.text)  # she saw them live, tagged #dev; switching shows the history
    alice_b.send("/join dev")
    await alice_b.expect(r"Now talking in #dev", timeout=20)
    assert await dev_lines_after(alice_b, start) == order
    for client in (alice, bob):  # /history on node a and on node b
        start = len(client.text)
        client.send("/history")
        assert await dev_lines_after(client, start) == order

    await alice.close()  # alice's session on a ends; her session on b goes on
    await bob.absent(r"alice disconnected", wait=1.0)
    bob.send("/users")
    await bob.expect(r"Users \(3 of 4 online\):", timeout=20)
    await alice_b.close()  # her last session: now she is offline, told once everywhere
    for client in (carol, bob):
        await client.expect(r"alice disconnected", timeout=20)
        client.send("/users")
        await client.expect(r"Users \(2 of 4 online\):", timeout=20)
    for client in (carol, bob):
        assert client.text.count("alice connected") == 0  # online before they came
        assert client.text.count("alice disconnected") == 1


async def test_what_is_typed_before_the_login_is_applied_waits_for_it(cluster) -> None:
    """A script piping commands into ``ssh -T`` types before its login has come back
    from the log: the commands wait for it, they are not refused as from an ended session.
    """
    _a, b, alice, _bob = await cluster.alice_and_bob()
    for _ in range(3):
        carol = await open_ssh(b.address.port, "carol", wait_prompt=False)
        cluster.clients.append(carol)
        carol.send("/who")  # at once: the login is still on its way to Redis and back
        carol.send("/users")
        await carol.expect(r"Users \(3 of 4 online\):", timeout=20)
        assert "this session has ended" not in carol.text, carol.text
        assert "In #lobby: " in carol.text, carol.text
        await carol.close()
        await alice.expect(r"carol disconnected", timeout=20)


async def test_a_channel_name_race_between_nodes_gives_it_to_exactly_one(cluster) -> None:
    _a, _b, alice, bob = await cluster.alice_and_bob()
    alice.send("/create plans")
    bob.send("/create plans")
    await shows_all(alice, ["#plans"])
    await shows_all(bob, ["#plans"])
    await asyncio.sleep(1.0)  # a second confirmation would have arrived by now
    won = [c for c in (alice, bob) if "Created channel #plans" in c.text]
    assert len(won) == 1, (alice.text, bob.text)
    loser = bob if won[0] is alice else alice
    assert "Created" not in loser.text  # never first told it is theirs
    for client in (alice, bob):
        client.send("/list")
        await client.expect(r"#plans(?: \*)?  1/1 member\b", timeout=20)


async def test_broadcast_reaches_every_node(cluster) -> None:
    nodes = [cluster.start(name) for name in ("a", "b", "c")]
    alice = await cluster.login(nodes[0], "alice")
    bob = await cluster.login(nodes[1], "bob")
    carol = await cluster.login(nodes[2], "carol")
    carol.send("/create elsewhere")  # broadcasts reach people outside the lobby too
    await carol.expect(r"Created channel #elsewhere", timeout=20)
    await alice.expect(r"carol connected", timeout=20)
    alice.send("/broadcast server restarts at noon")
    for client in (alice, bob, carol):
        await client.expect(r"\[broadcast from alice\] server restarts at noon", timeout=20)
    await asyncio.sleep(0.5)  # a duplicate would have arrived by now
    for client in (alice, bob, carol):
        assert client.text.count("server restarts at noon") == 1


async def test_redis_restarted_with_its_aof_while_users_stay_connected(
    tmp_path: Path, password_hashes
) -> None:
    server = RedisServer(tmp_path / "aof", aof=True).start()
    cluster = Cluster(tmp_path, password_hashes, server.url)
    try:
        a, b, alice, bob = await cluster.alice_and_bob()
        alice.send("said before the restart")
        await bob.expect(r"<alice> said before the restart", timeout=20)
        server.kill()
        for node in (a, b):  # both noticed (their XREAD failed)
            await logged(node, r"cluster\.redis_unreachable", timeout=20)
        alice.send("typed while redis is away")
        await alice.absent(r"<alice> typed while redis is away", wait=0.5)  # not echoed yet
        server.start()  # the same port, the same append-only file
        for node in (a, b):  # both reconnect by themselves, within 10 s of its return
            await logged(node, r"cluster\.redis_back", timeout=10)
        # Delivered once Redis is back, or refused with a message: never silently dropped.
        outcome = await alice.expect(
            r"(<alice> typed while redis is away|not sent: the chat's shared log)", timeout=40
        )
        if outcome.group(1).startswith("<alice>"):
            await bob.expect(r"<alice> typed while redis is away", timeout=20)
        bob.send("said after the restart")  # users stayed connected: the chat goes on
        await alice.expect(r"<bob> said after the restart", timeout=20)
        for client in (alice, bob):
            assert not client.closed
            client.send("/history")
            await client.expect(r"--- history: the last .* of #lobby ---", timeout=20)
            await client.expect(r"<bob> said after the restart", timeout=20)
            history = client.text.rsplit("--- history:", 1)[1]
            assert "<alice> said before the restart" in history  # kept by the AOF
        client_texts = [alice.text, bob.text]
        assert all(t.count("<alice> said before the restart") == 2 for t in client_texts)
    finally:
        await cluster.close()
        server.kill()


@pytest.mark.skipif(SSH is None, reason="OpenSSH client not installed")
def test_a_line_said_through_real_ssh_on_one_node_arrives_through_ssh_on_the_other(
    tmp_path: Path, password_hashes, redis_server
) -> None:
    cluster = Cluster(tmp_path, password_hashes, redis_server.url)
    children: list[pexpect.spawn] = []
    try:
        a = cluster.start("a")
        b = cluster.start("b")
        alice = spawn_password_user(a.address.port, "alice")
        children.append(alice)
        bob = spawn_password_user(b.address.port, "bob")
        children.append(bob)
        alice.expect("bob.*connected", timeout=20)
        alice.sendline("hello bob, from real ssh on node a")
        bob.expect("<.*alice.*> " + SGR + "hello bob, from real ssh on node a", timeout=20)
        bob.sendline("/me waves back from node b")
        alice.expect(r"\* .*bob.* waves back from node b", timeout=20)
        bob.sendline("/quit")
        bob.expect(pexpect.EOF, timeout=20)
        alice.expect("bob.*disconnected", timeout=20)
    finally:
        for child in children:
            child.close(force=True)
        asyncio.run(cluster.close())
