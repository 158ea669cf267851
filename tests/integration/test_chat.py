"""End-to-end chat: every command over real SSH sessions, channels, multi-session accounts."""

from __future__ import annotations

from helpers.client import ChatClient, ended, login

from sshchat.app import RunningServer


async def test_help_and_unknown_command(server: RunningServer, clients: list[ChatClient]) -> None:
    alice = await login(server, clients, "alice")
    alice.send("/help")
    await alice.expect(r"Commands by topic\. /help COMMAND shows how to use one\.")
    for name in (
        "away", "back", "broadcast", "create", "help", "invite", "join", "leave",
        "list", "me", "msg", "nick", "quit", "users", "who", "whois",
    ):  # fmt: skip
        assert f"/{name}" in alice.text, name
    await alice.expect(r"/broadcast +message everyone online")
    alice.send("/help broadcast")
    await alice.expect(
        r"usage: /broadcast TEXT\n  message every online user, wherever they are\n  \(admins only\)"
    )
    alice.send("/help join")
    await alice.expect(r"usage: /join NAME")
    alice.send("/frobnicate")
    await alice.expect(r"error: unknown command /frobnicate\. Type /help for the list\.")
    alice.send("/hlep")
    await alice.expect(r"error: unknown command /hlep\. Did you mean /help\?")
    alice.send("/join")
    await alice.expect(r"error: usage: /join NAME")


async def test_channels_list_create_join_leave_who(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await login(server, clients, "alice")
    bob = await login(server, clients, "bob")
    await alice.expect(r"-- bob connected")

    alice.send("/list")
    await alice.expect(r"Channels \(1\), biggest first:\s+#lobby \*\s+2/2 members")

    alice.send("/create dev")
    await alice.expect(r"Created channel #dev; you own it\.")
    await alice.expect_screen(r"^#dev alice>")
    alice.send("/create dev")
    await alice.expect(r"error: #dev already exists")

    bob.send("/list")
    await bob.expect(r"#dev\s+1/1 member\b")
    bob.send("/join #dev")
    await bob.expect(r"Now talking in #dev\.")
    await alice.expect(r"-- bob joined #dev")

    bob.send("/who")
    await bob.expect(r"In #dev: alice \[owner\] \[admin\], bob\n")

    alice.send("in dev")
    await bob.expect(r"\d\d:\d\d <alice> in dev")
    # bob goes back to the lobby: dev lines now carry the channel tag.
    bob.send("/join lobby")
    await bob.expect(r"Now talking in #lobby\.")
    alice.send("still dev")
    await bob.expect(r"\d\d:\d\d #dev <alice> still dev")

    bob.send("/join dev")
    await bob.expect(r"Now talking in #dev\.")
    bob.send("/leave")
    await bob.expect(r"You left #dev; now talking in #lobby\.")
    await alice.expect(r"-- bob left #dev")
    bob.send("/leave")
    await bob.expect(r"error: #lobby is the home channel and cannot be left")
    alice.send("/who")
    await alice.expect(r"In #dev: alice \[owner\] \[admin\]\n#dev alice>")
    bob.send("/join nowhere")
    await bob.expect(r"error: there is no channel #nowhere; /create nowhere to make it")


async def test_private_channel_needs_invite(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await login(server, clients, "alice")
    bob = await login(server, clients, "bob")
    dave = await login(server, clients, "dave", pty=False)
    alice.send("/create secret private")
    await alice.expect(
        r"Created private channel #alice/secret; you own it\. Let people in with /invite"
    )
    alice.send("/list")
    await alice.expect(r"#alice/secret \(private\) \*\s+1/1 member")

    for outsider in (bob, dave):
        outsider.send("/list")
        await outsider.expect(r"Channels \(1\), biggest first:\n  #lobby \*  3/3 members\n(?!  #)")
        outsider.send("/join secret")
        await outsider.expect(r"error: there is no channel #secret")
    bob.send("/whois alice")
    match = await bob.expect(r"alice:\n  login: alice.*(?:\n  .*)*")
    assert "channels: #lobby" in match.group(0)
    assert "secret" not in match.group(0)
    alice.send("secret words")
    await alice.expect(r"<alice> secret words")
    await bob.absent(r"secret words")

    alice.send("/invite bob")
    await alice.expect(r"Invited bob to #alice/secret\.")
    await bob.expect(r"alice invites you to #alice/secret: type /join alice/secret")
    bob.send("/list")
    await bob.expect(r"#alice/secret \(private\)\s+1/1 member")
    bob.send("/join secret")
    await bob.expect(r"Now talking in #alice/secret\.")
    await alice.expect(r"-- bob joined #alice/secret")
    bob.send("/invite dave")
    await bob.expect(
        r"error: only the owner, ops and admins of #alice/secret can invite people to it"
    )
    alice.send("welcome in")
    await bob.expect(r"<alice> welcome in")

    # The invitation was for bob only.
    dave.send("/join secret")
    await dave.expect(r"error: there is no channel #secret")
    await dave.absent(r"welcome in")


async def test_nick_msg_me_away_back_users_whois(
    server: RunningServer, clients: list[ChatClient]
) -> None:
    alice = await login(server, clients, "alice")
    bob = await login(server, clients, "bob", pty=False)

    bob.send("/nick bobby")
    await bob.expect(r"-- you are now known as bobby")
    await alice.expect(r"-- bob is now known as bobby")
    alice.send("/nick b0bby")
    await alice.expect(r"error: 'b0bby' looks too much like 'bobby', someone else's name")

    bob.send("/me waves")
    await alice.expect(r"\d\d:\d\d \* bobby waves")
    await bob.expect(r"\* bobby waves")

    alice.send("/msg bobby psst")
    await bob.expect(r"\[PM from alice\] psst")
    await alice.expect(r"\[PM to bobby\] psst")
    bob.send("/msg alice back at you")
    await alice.expect(r"\[PM from bobby\] back at you")
    bob.send("/msg carol hi")
    await bob.expect(r"carol is offline and will see it at their next login")
    bob.send("/msg nobody hi")
    await bob.expect(r"error: no user called 'nobody'")

    bob.send("/away lunch")
    await bob.expect(r"You are marked away \(lunch\)\. Type /back when you return\.")
    alice.send("/msg bobby still there?")
    await alice.expect(r"bobby is away: lunch")
    alice.send("/who")
    await alice.expect(r"bobby \(bob\) \(away: lunch\)")
    alice.send("/users")
    await alice.expect(r"Users \(2 of 4 online\):")
    await alice.expect(r"alice: online")
    await alice.expect(r"bobby \(bob\): away \(lunch\)")
    await alice.expect(r"carol: offline, never seen")
    alice.send("/whois bobby")
    await alice.expect(r"bobby:\s+login: bob\s+status: away \(lunch\)")
    await alice.expect(r"connected since: .* UTC \(just now\), 1 session\b")
    bob.send("/back")
    await bob.expect(r"Welcome back; you are no longer marked away\.")
    bob.send("/back")
    await bob.expect(r"error: you are not marked away")
    alice.send("/who")
    await alice.expect(r"In #lobby: alice \[admin\], bobby \(bob\)\n")
    alice.send("/whois nobody")
    await alice.expect(r"error: no user called 'nobody'")


async def test_broadcast(server: RunningServer, clients: list[ChatClient]) -> None:
    alice = await login(server, clients, "alice")
    bob = await login(server, clients, "bob")
    carol = await login(server, clients, "carol", pty=False)
    carol.send("/create elsewhere")  # broadcasts reach people outside the lobby too
    await carol.expect(r"Created channel #elsewhere")

    alice.send("/broadcast server restarts at noon")
    for client in (alice, bob, carol):
        await client.expect(r"\d\d:\d\d \[broadcast from alice\] server restarts at noon")

    bob.send("/broadcast I am not an admin")
    await bob.expect(r"error: /broadcast is for admins only")
    await alice.absent(r"I am not an admin")
    await carol.absent(r"I am not an admin")


async def test_quit_ends_session(server: RunningServer, clients: list[ChatClient]) -> None:
    alice = await login(server, clients, "alice")
    bob = await login(server, clients, "bob")
    alice.send("/who")
    await alice.expect(r"In #lobby: alice \[admin\], bob\n")

    bob.send("/quit")
    await bob.expect(r"Bye!")
    assert await ended(bob) == 0
    await alice.expect(r"-- bob disconnected")
    alice.send("/who")
    match = await alice.expect(r"In #lobby: .*")
    assert match.group(0) == "In #lobby: alice [admin], bob (offline)"  # still a member
    assert not server.hub.accounts["bob"].online


async def test_quit_in_plain_mode(server: RunningServer, clients: list[ChatClient]) -> None:
    bob = await login(server, clients, "bob", pty=False)
    bob.send("/quit")
    await bob.expect(r"Bye!")
    assert await ended(bob) == 0


async def test_one_account_two_sessions(server: RunningServer, clients: list[ChatClient]) -> None:
    bob = await login(server, clients, "bob")
    alice1 = await login(server, clients, "alice")
    await bob.expect(r"-- alice connected")
    alice2 = await login(server, clients, "alice", pty=False)

    bob.send("hello both")
    await alice1.expect(r"<bob> hello both")
    await alice2.expect(r"<bob> hello both")
    bob.send("/msg alice private hello")
    await alice1.expect(r"\[PM from bob\] private hello")
    await alice2.expect(r"\[PM from bob\] private hello")
    # What one session says, the other sees as well.
    alice2.send("from the second session")
    await alice1.expect(r"<alice> from the second session")
    await bob.expect(r"<alice> from the second session")
    bob.send("/whois alice")
    await bob.expect(r"connected since: .*, 2 sessions")

    alice1.send("/quit")
    assert await ended(alice1) == 0
    bob.send("/users")
    await bob.expect(r"Users \(2 of 4 online\):(?:\n  .*)*\n  alice: online")
    bob.send("/who")
    await bob.expect(r"In #lobby: alice \[admin\], bob\n")
    bob.send("still there?")
    await alice2.expect(r"<bob> still there\?")

    alice2.send("/quit")
    assert await ended(alice2) == 0
    await bob.expect(r"-- alice disconnected")
    bob.send("/users")
    await bob.expect(r"Users \(1 of 4 online\):(?:\n  .*)*\n  alice: offline, last seen just now")
    await bob.absent(r"alice disconnected")
    assert bob.text.count("alice disconnected") == 1
