"""Tests for sshchat.security.passwords."""

from __future__ import annotations

import asyncio
import threading

import argon2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from sshchat.config.schema import UserConfig, parse_authorized_key
from sshchat.security.passwords import (
    MAX_PASSWORD_LENGTH,
    Authenticator,
    PasswordError,
    hash_password,
    password_warnings,
    prepare_password,
)

CHEAP = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


def new_key_line(comment: str) -> str:
    pub = ed25519.Ed25519PrivateKey.generate().public_key()
    text = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{text.decode()} {comment}"


ALICE_KEY = parse_authorized_key(new_key_line("alice@laptop"))
ALICE_KEY2 = parse_authorized_key(new_key_line("alice@phone"))
BOB_KEY = parse_authorized_key(new_key_line("bob@desk"))

USERS = {
    "alice": UserConfig(
        name="alice",
        password_hash=CHEAP.hash("alice-pw"),
        public_keys=(ALICE_KEY, ALICE_KEY2),
        admin=True,
    ),
    "bob": UserConfig(name="bob", password_hash=None, public_keys=(BOB_KEY,), admin=False),
    "carol": UserConfig(
        name="carol", password_hash=CHEAP.hash("carol-pw"), public_keys=(), admin=False
    ),
}


@pytest.fixture
def auth():
    authenticator = Authenticator(USERS, workers=2)
    yield authenticator
    authenticator.close()


class VerifyCounter:
    """Stands in for the authenticator's PasswordHasher; records every verify."""

    def __init__(self, real: argon2.PasswordHasher) -> None:
        self.hashes: list[str] = []
        self.threads: set[str] = set()
        self._real = real
        self._lock = threading.Lock()

    def verify(self, password_hash, password):
        with self._lock:
            self.hashes.append(password_hash)
            self.threads.add(threading.current_thread().name)
        return self._real.verify(password_hash, password)


@pytest.fixture
def counter(auth, monkeypatch) -> VerifyCounter:
    c = VerifyCounter(auth._hasher)
    monkeypatch.setattr(auth, "_hasher", c)
    return c


# ---------------------------------------------------------------------------
# hash_password
# ---------------------------------------------------------------------------


def test_hash_password_is_argon2id_with_defaults() -> None:
    hashed = hash_password("correct horse")
    params = argon2.extract_parameters(hashed)
    assert params.type is argon2.Type.ID
    defaults = argon2.PasswordHasher()
    assert (params.time_cost, params.memory_cost, params.parallelism) == (
        defaults.time_cost,
        defaults.memory_cost,
        defaults.parallelism,
    )
    assert defaults.verify(hashed, "correct horse")
    assert hash_password("correct horse") != hashed  # salted


@pytest.mark.parametrize("bad", ["", "x" * (MAX_PASSWORD_LENGTH + 1)])
def test_hash_password_rejects_empty_and_huge(bad: str) -> None:
    with pytest.raises(ValueError):
        hash_password(bad)


def test_hash_password_rejects_non_str() -> None:
    with pytest.raises(TypeError):
        hash_password(b"bytes")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Passwords
# ---------------------------------------------------------------------------


async def test_correct_password(auth, counter) -> None:
    assert await auth.check_password("alice", "alice-pw") is True
    assert await auth.check_password("carol", "carol-pw") is True
    assert counter.hashes == [USERS["alice"].password_hash, USERS["carol"].password_hash]


async def test_wrong_password(auth) -> None:
    assert await auth.check_password("alice", "carol-pw") is False
    assert await auth.check_password("alice", "alice-pw ") is False
    assert await auth.check_password("alice", "") is False


async def test_usernames_are_case_sensitive(auth) -> None:
    assert await auth.check_password("Alice", "alice-pw") is False
    assert auth.user_exists("alice")
    assert not auth.user_exists("Alice")


async def test_unknown_user_runs_dummy_verify(auth, counter) -> None:
    assert await auth.check_password("mallory", "alice-pw") is False
    assert counter.hashes == [auth._dummy_hash]


async def test_user_without_password_runs_dummy_verify(auth, counter) -> None:
    assert await auth.check_password("bob", "anything") is False
    assert await auth.check_password("bob", "") is False
    assert counter.hashes == [auth._dummy_hash, auth._dummy_hash]


def test_dummy_hash_uses_library_defaults(auth) -> None:
    # Same cost as hashes made by `sshchat hash-password`: equal refusal time.
    assert argon2.extract_parameters(auth._dummy_hash) == argon2.extract_parameters(
        hash_password("x")
    )


async def test_verify_runs_in_worker_threads(auth, counter) -> None:
    await asyncio.gather(*(auth.check_password("alice", "alice-pw") for _ in range(6)))
    assert counter.threads
    assert all(name.startswith("sshchat-auth") for name in counter.threads)
    assert threading.current_thread().name not in counter.threads
    assert len(counter.threads) <= 2  # bounded pool


@pytest.mark.parametrize(
    ("username", "password"),
    [
        (None, "alice-pw"),
        ("alice", None),
        (None, None),
        (123, "x"),
        ("alice", 42),
        ("alice", ["alice-pw"]),
        ("", ""),
        ("alice", "x" * 1_000_000),
        ("alice", "\ud800 lone surrogate"),
        ("alice", "nul\x00byte"),
        ("mallory" * 1000, "pw"),
    ],
    ids=[
        "user-None",
        "password-None",
        "both-None",
        "user-int",
        "password-int",
        "password-list",
        "both-empty",
        "huge-password",
        "lone-surrogate",
        "nul-byte",
        "huge-username",
    ],
)
async def test_garbage_input_returns_false(auth, counter, username, password) -> None:
    assert await auth.check_password(username, password) is False
    assert len(counter.hashes) == 1  # refusal still costs one verify


async def test_non_argon_hash_in_users_returns_false() -> None:
    users = {
        "eve": UserConfig(name="eve", password_hash="not-a-hash", public_keys=(), admin=False),
        "dan": UserConfig(
            name="dan",
            password_hash="$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
            public_keys=(),
            admin=False,
        ),
        "fay": UserConfig(
            name="fay",
            password_hash="$argon2id$v=19$m=8192,t=1,p=1$garbage$garbage",
            public_keys=(),
            admin=False,
        ),
    }
    authenticator = Authenticator(users, workers=1)
    try:
        for name in users:
            assert await authenticator.check_password(name, "not-a-hash") is False
    finally:
        authenticator.close()


async def test_check_password_does_not_block_the_loop() -> None:
    # Default-parameter hashes (~100 ms, 64 MiB each), like real configs.
    users = {
        "dora": UserConfig(
            name="dora", password_hash=hash_password("pw"), public_keys=(), admin=False
        )
    }
    authenticator = Authenticator(users, workers=2)
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            await asyncio.sleep(0.002)
            ticks += 1

    try:
        tick_task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        results = await asyncio.gather(
            authenticator.check_password("dora", "pw"),
            authenticator.check_password("dora", "wrong"),
            authenticator.check_password("nobody", "pw"),
            authenticator.check_password("dora", "pw"),
        )
        stop.set()
        await tick_task
    finally:
        authenticator.close()
    assert results == [True, False, False, True]
    # Four default verifies on two threads take a few hundred ms; had they run
    # on the loop, the ticker could not have run in between them.
    assert ticks >= 10


async def test_update_users(auth) -> None:
    assert await auth.check_password("dave", "dave-pw") is False
    new = dict(USERS)
    new["dave"] = UserConfig(
        name="dave", password_hash=CHEAP.hash("dave-pw"), public_keys=(), admin=False
    )
    del new["alice"]
    auth.update_users(new)
    assert auth.user_exists("dave")
    assert not auth.user_exists("alice")
    assert await auth.check_password("dave", "dave-pw") is True
    assert await auth.check_password("alice", "alice-pw") is False
    assert auth.check_public_key("alice", ALICE_KEY.blob) is None


def test_users_are_copied(auth) -> None:
    users = dict(USERS)
    a = Authenticator(users, workers=1)
    try:
        users.clear()
        assert a.user_exists("alice")
    finally:
        a.close()


async def test_closed_authenticator_refuses(auth) -> None:
    auth.close()
    assert await auth.check_password("alice", "alice-pw") is False
    auth.close()  # idempotent


@pytest.mark.parametrize("workers", [0, -1, True, 1.5])
def test_bad_worker_count(workers) -> None:
    with pytest.raises(ValueError):
        Authenticator(USERS, workers=workers)


# ---------------------------------------------------------------------------
# Public keys
# ---------------------------------------------------------------------------


def test_public_key_match(auth) -> None:
    assert auth.check_public_key("alice", ALICE_KEY.blob) == ALICE_KEY
    assert auth.check_public_key("alice", ALICE_KEY2.blob) == ALICE_KEY2
    assert auth.check_public_key("alice", bytearray(ALICE_KEY.blob)) == ALICE_KEY
    assert auth.check_public_key("alice", memoryview(ALICE_KEY.blob)) == ALICE_KEY
    assert auth.check_public_key("bob", BOB_KEY.blob) == BOB_KEY


def test_public_key_mismatch(auth) -> None:
    assert auth.check_public_key("alice", BOB_KEY.blob) is None  # someone else's key
    assert auth.check_public_key("bob", ALICE_KEY.blob) is None
    assert auth.check_public_key("carol", ALICE_KEY.blob) is None  # user without keys
    assert auth.check_public_key("mallory", ALICE_KEY.blob) is None  # unknown user
    assert auth.check_public_key("Alice", ALICE_KEY.blob) is None  # case-sensitive
    assert auth.check_public_key("alice", ALICE_KEY.blob[:-1]) is None
    assert auth.check_public_key("alice", b"") is None


@pytest.mark.parametrize("blob", [None, "text", 12, ["x"]])
def test_public_key_garbage(auth, blob) -> None:
    assert auth.check_public_key("alice", blob) is None
    assert auth.check_public_key(None, ALICE_KEY.blob) is None  # type: ignore[arg-type]


# -- password preparation (SASLprep, as the SSH layer applies it) -------------------------


@pytest.mark.parametrize(
    ("typed", "delivered"),
    [
        ("café\u00a0ｐw-long", "café pw-long"),  # no-break space, full-width letter
        ("soft\u00adhyphen", "softhyphen"),
        ("e\u0301t\u00e9-accents", "\u00e9t\u00e9-accents"),  # NFKC composes
        ("plain ascii pw", "plain ascii pw"),
    ],
)
def test_prepare_password_is_what_asyncssh_delivers(typed: str, delivered: str) -> None:
    from asyncssh.saslprep import saslprep

    assert prepare_password(typed) == delivered == saslprep(typed)


def test_hash_password_hashes_the_prepared_password() -> None:
    hashed = hash_password("café\u00a0ｐw-long")
    assert argon2.PasswordHasher().verify(hashed, "café pw-long")


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("with\ttab", "a tab"),
        ("bell\x07", "control character (U+0007)"),
        ("private\ue000", "private-use character (U+E000)"),
        ("\u05d0abc", "right-to-left"),
        ("\u00ad\u00ad", "empty once invisible characters are removed"),
    ],
)
def test_passwords_ssh_cannot_send_are_refused_with_the_fix(bad: str, words: str) -> None:
    with pytest.raises(PasswordError) as info:
        hash_password(bad)
    assert words in info.value.problem
    assert info.value.fix
    assert "Fix: " in str(info.value)


def test_short_passwords_get_a_warning() -> None:
    [warning] = password_warnings("seven77")
    assert "only 7 characters" in warning and "at least 8" in warning
    assert password_warnings("eight888") == []


# -- does the credential a connection used still stand? -----------------------------------


def test_a_password_login_stands_while_the_hash_is_unchanged() -> None:
    from sshchat.security.credentials import PASSWORD_CHANGED, Credential

    login = Credential.password(USERS["alice"].password_hash)
    assert login.fingerprint is None
    assert login.revoked(USERS["alice"]) is None
    fewer_keys = UserConfig("alice", USERS["alice"].password_hash, (ALICE_KEY,), admin=True)
    assert login.revoked(fewer_keys) is None  # keys are not what it used
    rehashed = UserConfig("alice", CHEAP.hash("alice-pw2"), USERS["alice"].public_keys, True)
    assert login.revoked(rehashed) == PASSWORD_CHANGED
    key_only = UserConfig("alice", None, USERS["alice"].public_keys, admin=True)
    assert login.revoked(key_only) == PASSWORD_CHANGED
    assert "removed" in (login.revoked(None) or "")


def test_a_key_login_stands_while_that_key_is_authorized() -> None:
    from sshchat.security.credentials import Credential

    login = Credential.public_key(ALICE_KEY2)
    assert login.fingerprint == ALICE_KEY2.fingerprint
    assert login.revoked(USERS["alice"]) is None
    new_password = UserConfig("alice", CHEAP.hash("x"), USERS["alice"].public_keys, True)
    assert login.revoked(new_password) is None
    without = UserConfig("alice", USERS["alice"].password_hash, (ALICE_KEY,), admin=True)
    reason = login.revoked(without) or ""
    assert ALICE_KEY2.fingerprint in reason and "no longer authorized" in reason


@settings(max_examples=500, deadline=None)
@given(
    st.text(
        alphabet=st.one_of(
            st.characters(),  # anything, including unassigned, private use, surrogates
            st.sampled_from("\u00a0\u2003\u00ad\u200b\ufeffｐ①\t\x07\u05d0\u0627\u0301 aZ9"),
        ),
        max_size=12,
    )
)
def test_prepare_password_agrees_with_the_ssh_layer(text: str) -> None:
    """Our SASLprep is asyncssh's: same result, or both refuse."""
    from asyncssh.saslprep import SASLPrepError, saslprep

    try:
        expected: str | None = saslprep(text)
    except SASLPrepError:
        expected = None
    try:
        got: str | None = prepare_password(text)
    except PasswordError:
        got = None
    if expected == "":
        assert got is None  # an empty password is refused here, on purpose
    else:
        assert got == expected
