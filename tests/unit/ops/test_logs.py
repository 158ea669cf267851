"""Structured logs: one line per event, text or JSON; the handler `serve` installs."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from sshchat.ops.logs import (
    JsonFormatter,
    TextFormatter,
    configure_logging,
    log_event,
)


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


# -- configure_logging: what `sshchat serve` installs --------------------------------


def test_configured_logs_go_to_the_stderr_of_the_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host that swaps and closes sys.stderr (pytest's capture does) gets no
    "Logging error ... I/O operation on closed file" tracebacks afterwards."""
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    restore = configure_logging("INFO", "text")
    try:
        first.close()
        second = io.StringIO()
        monkeypatch.setattr(sys, "stderr", second)
        log_event(logging.getLogger("sshchat.test"), "conn.open", source="127.0.0.1:5")
        assert "Logging error" not in second.getvalue()
        assert second.getvalue().rstrip().endswith("conn.open source=127.0.0.1:5")
    finally:
        restore()


def test_restore_puts_the_logging_configuration_back() -> None:
    root = logging.getLogger()
    asyncssh_logger = logging.getLogger("asyncssh")
    before = (list(root.handlers), root.level, asyncssh_logger.level)
    restore = configure_logging("DEBUG", "json")
    assert root.level == logging.DEBUG
    assert asyncssh_logger.level == logging.DEBUG
    assert len(root.handlers) == 1
    assert isinstance(root.handlers[0].formatter, JsonFormatter)
    restore()
    assert (list(root.handlers), root.level, asyncssh_logger.level) == before
