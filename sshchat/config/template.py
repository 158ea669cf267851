"""The text of a new config file, for ``sshchat init``.

The settings part is the documentation of ``config.example.toml`` (a test
keeps the two identical), with every value taken from the defaults in
:mod:`sshchat.config.schema`, so a new file always shows the defaults this
version really uses.  What differs from the example is the opening comment
and the users: no demo accounts, one administrator chosen by the operator.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from sshchat.config.schema import OPTIONS

__all__ = ["documented_settings", "initial_config"]

_SETTINGS = '''\
# Every key below is optional except the users; the values shown for
# [server] and [limits] are the defaults.  Unknown keys are reported as
# errors, so a typo never goes unnoticed.  Names (logins and channels) are
# 1-24 characters: ASCII letters, digits, '_' or '-', starting with a letter.

[server]
# Address to bind.  "127.0.0.1" accepts connections from this machine only
# (a safe first run); "0.0.0.0" listens on all IPv4 interfaces, "::" on IPv6.
listen = {server_listen}

# TCP port, 0-65535.  Ports below 1024 need root privileges; 0 picks any
# free port (useful for tests only).
port = {server_port}

# SSH host key files (private keys), tried in order.  Relative paths are
# relative to the directory of this config file; "~" means your home
# directory.  A missing file is created at first start (ed25519, mode 0600).
# Keep it: if it changes, every client sees a "host key changed" warning.
host_keys = {server_host_keys}

# Server name shown to users.
name = {server_name}

# Message of the day, shown to everyone after logging in.  May span several
# lines (TOML multi-line string); trailing blank lines are removed.
motd = """
{motd}
"""

# Channel every user joins after logging in (same rules as names).
default_channel = {server_default_channel}

[limits]
# Every limit has a safe default; the values shown are the defaults.

# Longest chat line a user may send, in characters.  Longer lines are refused
# with a message, never cut.
max_line_length = {limits_max_line_length}

# Lines queued for one slow session before the oldest are dropped (the user is
# told how many).  A client that stops reading cannot grow the server's memory.
outbound_queue = {limits_outbound_queue}

# Message rate per user (token bucket): message_burst lines at once, then
# message_rate lines per second.  It counts what others see: chat lines and
# commands that speak to others (/me, /msg, /nick, /topic, /join...).  Lines
# over the limit are not sent and the user is told; sessions without a
# terminal (bots, scripts) are held back to the rate instead, losing nothing.
message_burst = {limits_message_burst}
message_rate = {limits_message_rate}

# A paste (several lines arriving at once at a terminal) is sent as one
# message of up to max_paste_lines lines; it counts as that many lines of the
# message rate (at most message_burst) and goes through whenever a line
# would.  A longer paste is refused whole, with a message, never cut.
max_paste_lines = {limits_max_paste_lines}

# Commands that answer only the user who typed them (/who, /whois, /help,
# /list, /history, settings...) have a rate limit of their own, so that
# looking things up never uses up the right to talk.  /quit is never limited.
command_burst = {limits_command_burst}
command_rate = {limits_command_rate}

# Threads verifying passwords.  Each argon2id verify takes ~100 ms of CPU and
# 64 MiB of memory, so this bounds the CPU and memory spent on logins; pending
# verifications are served fairly across source addresses.
auth_workers = {limits_auth_workers}

# Failed authentication attempts allowed on one connection before it is
# closed (OpenSSH's MaxAuthTries).
max_auth_attempts = {limits_max_auth_attempts}

# Seconds a new connection has to log in before it is dropped (LoginGraceTime).
login_grace_time = {limits_login_grace_time}

# Connections still logging in, server-wide (like OpenSSH's MaxStartups).
# Past it, addresses that already have a login in progress or recent failed
# logins are refused until some finish; an address with neither still gets in
# (up to twice this number), so a guessing wave cannot lock everyone out.
max_unauthenticated = {limits_max_unauthenticated}

# Key exchanges in progress at once from addresses nobody logged in from
# recently, while logins are failing in a wave (20 failures within 10 s,
# from any addresses). A key exchange costs the server far more CPU than
# refusing a connection, so beyond this number such connections are refused
# before it (with a "try again in a moment" message); an address with a
# recent login is never refused by this cap, and without a wave it does not
# apply (a crowd reconnecting after a restart is let in).
max_handshakes = {limits_max_handshakes}

# All connections, server-wide; connections from one source address; and
# sessions one account may have open at once.
max_connections = {limits_max_connections}
max_connections_per_source = {limits_max_connections_per_source}
max_sessions_per_account = {limits_max_sessions_per_account}

# Penalties for failed logins (in the spirit of OpenSSH's PerSourcePenalties):
# after auth_free_failures failures, each further attempt waits 0.5 s, 1 s,
# 2 s ... up to auth_max_delay seconds; after auth_block_after failures in a
# row the source address -- or that address for that one account -- is refused
# for auth_block_seconds.  Failures on an account from many addresses only slow
# its password logins down (by at most auth_max_delay), never block them: a
# stranger cannot lock a user out, who still gets in from an address with a
# clean record.  A successful login clears the address's record.
auth_free_failures = {limits_auth_free_failures}
auth_max_delay = {limits_auth_max_delay}
auth_block_after = {limits_auth_block_after}
auth_block_seconds = {limits_auth_block_seconds}

# Keepalives: an idle client that misses keepalive_count_max keepalives sent
# every keepalive_interval seconds is disconnected (0 turns keepalives off).
keepalive_interval = {limits_keepalive_interval}
keepalive_count_max = {limits_keepalive_count_max}

# In channels with more members than this, join/leave/connect/disconnect
# notices are collected and sent as one summary line a second ("37 connected:
# alice, bob, ... and 27 more") instead of a line each: a mass reconnect would
# otherwise cost every member a line per arrival.  0 turns summaries off.
presence_summary_over = {limits_presence_summary_over}

# Channels one user may own (made with /create and not yet dropped); 0 lets
# only admins create channels.  Admins may own any number.  Owners and admins
# remove a channel with /drop.
max_channels_per_user = {limits_max_channels_per_user}

[metrics]
# Optional Prometheus endpoint at http://<listen>:<port>/metrics: sessions,
# connections, auth failures by reason, messages, deliveries, queue drops,
# rate-limited lines and throttled logins.  Off by default; needs
# `pip install 'sshchat[metrics]'`.  Keep it on loopback: it is not protected
# (any other listen address is reported as a warning at start and by
# check-config).
enabled = {metrics_enabled}
listen = {metrics_listen}
port = {metrics_port}

[storage]
# SQLite database (WAL mode) keeping channel history, channels made with
# /create (owner, topic, private flag, ops, invitations), nicks, preferences,
# last-seen times, ignores, bans, mutes and private messages waiting for offline
# users, across restarts.  Relative to this file's directory; the directory is
# created.  ":memory:" keeps nothing on disk (throwaway servers).  A directory
# sshchat creates is mode 0700 and the database files 0600; existing ones that
# other users could read are reported at start with the chmod that fixes them.
path = {storage_path}

# How long stored messages are kept, applied at start and then every minute:
# messages older than history_days days are deleted, and each channel keeps at
# most its history_max_lines newest lines (0 turns either limit off).  Private
# messages are deleted once delivered; those waiting for an offline user stay
# until they are.  The moderation log is kept.
history_days = {storage_history_days}
history_max_lines = {storage_history_max_lines}

# Lines of a channel's history shown on joining it (0-500; /history N shows
# up to 500).
history_lines = {storage_history_lines}

# Seconds between commits under load: a message is on disk (survives kill -9
# and power loss) at most this long, plus a few milliseconds, after it was sent.
commit_interval = {storage_commit_interval}

# [cluster]
# Several sshchat processes (nodes), on one machine or many, serving one chat
# through a shared Redis (or Valkey) server: see README.md, "Running several
# nodes".  Without a [cluster] table (the default) the server runs alone and
# needs no Redis.  To join a cluster, remove the "# " in front of [cluster]
# and of the keys you set; every node uses the same config otherwise.
#
# The Redis server every node shares.  What a crash can lose is decided there:
# run it with `appendonly yes` and `appendfsync everysec` (or `always`).
# redis_url = {cluster_redis_url}
#
# This node's name, unique in the cluster ("" means the host name and the
# listening port, e.g. "chat1-2222").  `sshchat serve --workers N` appends -1,
# -2, ... for its worker processes.
# node = {cluster_node}
#
# Each node renews a lease in Redis every lease_renew seconds; a node whose
# lease was not renewed for lease_expire seconds (killed, paused, cut off) is
# declared gone and its users shown offline everywhere.
# lease_renew = {cluster_lease_renew}
# lease_expire = {cluster_lease_expire}
#
# Every snapshot_every seconds a node writes the chat's state to Redis, and the
# log is trimmed behind the snapshot before it: a node joining starts from the
# newest snapshot, a node restarting from the state kept in its own database.
# snapshot_every = {cluster_snapshot_every}

# ---------------------------------------------------------------------------
# Users: one [users.<login>] table per account.  `sshchat user add NAME`,
# `user passwd NAME`, `user key add NAME FILE`, `user key del NAME N` and
# `user del NAME` edit them for you, keeping the comments of this file.
#
#   password_hash  argon2id hash; create one with `sshchat hash-password`
#                  (it asks for the password and prints the hash to paste).
#   public_keys    list of SSH public keys, each the single line of a
#                  ~/.ssh/id_*.pub file: "ssh-ed25519 AAAA... comment".
#                  authorized_keys options (from=, command=...) and
#                  certificates are not supported.
#   admin          true makes the user an administrator (default false).
#
# A user needs a password_hash, public_keys, or both.
'''

_HEADER = """\
# sshchat configuration, written by `sshchat init`.
#
# Check it and start the server:
#
#     sshchat check-config --config {config}
#     sshchat serve --config {config}
#
# Users connect with a stock SSH client:   ssh -p {port} {admin}@{listen}
#
"""

_USERS = """\
# ---------------------------------------------------------------------------

# The first administrator, made by `sshchat init`.
[users.{admin}]
password_hash = {password_hash}
admin = true
"""


def _toml(value: Any) -> str:
    """*value* written as a TOML value (the types the settings use)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _defaults() -> dict[str, Any]:
    """Every option's default, by its key with "_" for "." (``limits_message_rate``)."""
    return {key.replace(".", "_"): declared.default for key, declared in OPTIONS.items()}


def documented_settings(*, motd: str = OPTIONS["server.motd"].default) -> str:
    """The documented [server], [limits], [metrics], [storage] (and commented [cluster]) tables.

    Ends with the comment that explains the [users] tables.  *motd* is
    written as a multi-line string, so it must not hold triple quotes or
    backslashes.
    """
    if '"""' in motd or "\\" in motd:
        raise ValueError("the motd must not contain triple quotes or backslashes")
    values = {key: _toml(value) for key, value in _defaults().items()}
    return _SETTINGS.format(motd=motd.strip("\n"), **values)


def initial_config(*, config: str, admin: str, password_hash: str) -> str:
    """A complete new config file with one administrator, *admin*.

    *config* is the path the file is written to, for the commands shown in
    its opening comment; *password_hash* an argon2id hash.
    """
    header = _HEADER.format(
        config=shlex.quote(config),
        port=OPTIONS["server.port"].default,
        admin=admin,
        listen=OPTIONS["server.listen"].default,
    )
    users = _USERS.format(admin=admin, password_hash=_toml(password_hash))
    return header + documented_settings() + users
