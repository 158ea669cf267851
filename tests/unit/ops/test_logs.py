"""Structured logs: one line per event, text or JSON (the formatters, without a server)."""

from __future__ import annotations

import json
import logging

from sshchat.ops.logs import JsonFormatter, TextFormatter, log_event


def _record(event: str, **fields: object) -> logging.LogRecord:
    logger = logging.getLogger("sshchat.test")
    captured: list[logging.LogRecord] = []

    class Grab(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record)

    handler = Grab()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        log_event(logger, event, **fields)
    finally:
        logger.removeHandler(handler)
    return captured[0]


def test_text_format_is_one_line_of_key_values() -> None:
    record = _record("auth.failure", user="bob", source="10.0.0.1:22", reason="wrong password")
    line = TextFormatter().format(record)
    assert "\n" not in line
    assert line.endswith('auth.failure user=bob source=10.0.0.1:22 reason="wrong password"')


def test_text_format_strips_control_characters() -> None:
    record = _record("auth.failure", user="evil\n\x1b[2Jname")
    line = TextFormatter().format(record)
    assert "\n" not in line and "\x1b" not in line


def test_json_format_has_event_and_fields() -> None:
    record = _record("conn.close", source="127.0.0.1:5", user="alice", reason="closed", n=3)
    data = json.loads(JsonFormatter().format(record))
    assert data["event"] == "conn.close"
    assert data["user"] == "alice"
    assert data["n"] == 3
    assert data["level"] == "info"
    assert data["time"].endswith("Z")
