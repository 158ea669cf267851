"""Structured logging: one line per event, as ``key=value`` text or as JSON.

Code logs an event with :func:`log_event`::

    log_event(log, "auth.failure", user="bob", source="10.0.0.1:5522", method="password")

The text format prints ``<time> <level> <logger>: auth.failure user=bob
source=10.0.0.1:5522 method=password``; the JSON format prints one object per
line with the same fields, for log shippers. Values are quoted when they hold
spaces or quotes, and control characters never reach the log.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging", "log_event"]

_CONTROL = {i: None for i in range(32)} | {0x7F: None}


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``event`` with ``fields`` as one structured record."""
    if logger.isEnabledFor(level):
        logger.log(level, event, extra={"event": event, "fields": fields})


def _text_value(value: Any) -> str:
    text = str(value).translate(_CONTROL)
    if not text or any(ch in text for ch in ' "='):
        return json.dumps(text, ensure_ascii=False)
    return text


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ...``"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            extra = " ".join(f"{key}={_text_value(value)}" for key, value in fields.items())
            head, sep, tail = line.partition("\n")  # keep tracebacks after the fields
            line = f"{head} {extra}{sep}{tail}"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event/message and fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        event = getattr(record, "event", None)
        if event:
            data["event"] = event
        else:
            data["message"] = record.getMessage()
        fields = getattr(record, "fields", None)
        if fields:
            for key, value in fields.items():
                data.setdefault(key, value if isinstance(value, int | float | bool) else str(value))
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted.

    A plain ``StreamHandler()`` keeps the stream that was ``sys.stderr`` when it
    was made. When ``serve`` runs inside a host that swaps ``sys.stderr`` (a test
    capturing output, an embedding application), that stream may be closed
    later, and every record after that prints a "Logging error" traceback.
    """

    def __init__(self, level: int = logging.NOTSET) -> None:
        logging.Handler.__init__(self, level)  # no stream of its own

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:  # StreamHandler.setStream: nothing to keep
        pass


def configure_logging(level: str = "INFO", fmt: str = "text") -> Callable[[], None]:
    """Send logs to stderr in ``fmt`` ("text" or "json") at ``level``.

    Returns a function that puts the logging configuration back as it was, so
    that a server run in-process (tests, embedding) leaves no handler behind.
    """
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    asyncssh_logger = logging.getLogger("asyncssh")
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_asyncssh_level = asyncssh_logger.level
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level))
    # asyncssh logs every connection and channel at INFO; sshchat logs what matters.
    asyncssh_logger.setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)

    def restore() -> None:
        # Handlers added meanwhile by someone else (a test's log capture) stay.
        added = [h for h in root.handlers if h is not handler and h not in saved_handlers]
        root.handlers[:] = saved_handlers + added
        root.setLevel(saved_level)
        asyncssh_logger.setLevel(saved_asyncssh_level)

    return restore
