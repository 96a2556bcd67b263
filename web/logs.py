"""The process's one log: loguru on stderr, as text or one JSON object a line, every line redacted.

Every library's stdlib logging (uvicorn, pykka, urllib3, botocore, Python warnings) is routed into
the same sink by :class:`InterceptHandler`, so one format and one redaction layer cover them all.
A JSON line has ``time`` (ISO 8601, UTC), ``level``, ``message``, ``logger`` and, when known, the
``request_id`` (web.access), ``provider`` and ``run_id`` (bound by the actors while a refresh
runs), plus any other field a line was bound with (the access line's ``http_status``...).
"""
from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import timezone
from typing import Any, Optional, TextIO

from loguru import logger

from discovery import redaction

LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
FORMATS = ("text", "json")
TEXT_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} {level:<7} {name}: {message}"
# Fields a JSON line always puts first, in this order, when the record has them.
CONTEXT_FIELDS = ("request_id", "provider", "run_id")


class InterceptHandler(logging.Handler):
    """Routes stdlib logging (pykka, uvicorn, urllib3, botocore...) into loguru, keeping the caller's level."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        # The record's own logger name (pykka, uvicorn.error...) is what the log line shows.
        logger.patch(lambda r: r.update(name=record.name)).opt(exception=record.exc_info).log(
            level, "{}", record.getMessage())


class ReturnedExceptionFilter(logging.Filter):
    """pykka logs, at INFO with its traceback, every exception an actor hands back to the caller
    that asked (a refused refresh, an unknown webhook): the caller handles it, so the record is
    shown only at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and record.getMessage().startswith("Exception returned from "):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


_RETURNED = ReturnedExceptionFilter()


def _text_format(record: dict) -> str:
    context = " ".join(f"{k}={record['extra'][k]}" for k in CONTEXT_FIELDS if record["extra"].get(k) is not None)
    return TEXT_FORMAT + (f" [{context}]" if context else "") + "\n{exception}"


def json_line(record: dict) -> str:
    """One log record as a JSON object (no newline); strings scrubbed of every known secret."""
    out: dict[str, Any] = {
        "time": record["time"].astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "level": record["level"].name,
        "message": redaction.scrub(record["message"]),
        "logger": record["name"],
    }
    extra = record["extra"]
    for key in CONTEXT_FIELDS:
        if extra.get(key) is not None:
            out[key] = extra[key]
    for key, value in extra.items():
        if key not in out and value is not None:
            out[key] = redaction.scrub(value) if isinstance(value, str) else value
    return json.dumps(out, default=str, ensure_ascii=False)


def json_sink(stream: TextIO) -> Callable[[Any], None]:
    """A loguru sink writing :func:`json_line` of each record to ``stream``."""
    def write(message: Any) -> None:
        stream.write(json_line(message.record) + "\n")
        stream.flush()
    return write


def normalize_level(raw: Optional[str]) -> tuple[str, bool]:
    """A loguru level name from any case (``warn`` too); (INFO, False) when it names none."""
    level = (raw or "INFO").strip().upper() or "INFO"
    if level == "WARN":
        level = "WARNING"
    if level not in LEVELS:
        return "INFO", False
    return level, True


def configure_logging(level: Optional[str] = "INFO", log_format: str = "text", stream: Optional[TextIO] = None,
                      warn_unknown: bool = True) -> None:
    """loguru on ``stream`` (stderr) at ``level`` in ``log_format``, every line redacted; stdlib
    logging and warnings routed in. Safe to call again (the settings file may change the format).
    ``warn_unknown``: say so when ``level`` is none (off before the settings are read: they
    refuse it in one line of their own)."""
    stream = stream or sys.stderr
    logger.remove()
    name, known = normalize_level(level)
    redaction.install(logger)
    if log_format == "json":
        logger.add(json_sink(stream), level=name, colorize=False, format="{message}")
    else:
        logger.add(redaction.redacting_sink(stream), level=name, colorize=False, format=_text_format)
    if not known and warn_unknown:
        logger.warning("log level {!r} is not a level ({}); logging at INFO", level, ", ".join(LEVELS))
    logging.basicConfig(handlers=[InterceptHandler()], level=logging.DEBUG if name in ("TRACE", "DEBUG") else logging.INFO,
                        force=True)
    logging.captureWarnings(True)
    pykka_log = logging.getLogger("pykka")
    if _RETURNED not in pykka_log.filters:
        pykka_log.addFilter(_RETURNED)
