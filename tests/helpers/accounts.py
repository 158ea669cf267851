"""The test accounts and the config text that declares them."""

from __future__ import annotations

import textwrap

import asyncssh
from argon2 import PasswordHasher

# Cheap argon2id parameters: verification reads them from the hash itself.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", "dave": "dave-pw"}
ADMINS = {"alice"}


def make_config_text(
    hashes: dict[str, str], carol_key: asyncssh.SSHKey | None, *, extra: str = ""
) -> str:
    users = []
    for name, hashed in hashes.items():
        lines = [f"[users.{name}]", f'password_hash = "{hashed}"']
        if name == "carol" and carol_key is not None:
            pub = carol_key.export_public_key("openssh").decode().strip()
            lines.append(f'public_keys = ["{pub} carol@test"]')
        if name in ADMINS:
            lines.append("admin = true")
        users.append("\n".join(lines))
    head = textwrap.dedent(
        """
        [server]
        listen = "127.0.0.1"
        port = 0
        host_keys = ["keys/host_key"]
        name = "testchat"
        motd = "Be excellent to each other."
        default_channel = "lobby"
        """
    )
    return head + extra + "\n\n" + "\n\n".join(users) + "\n"
