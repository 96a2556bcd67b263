"""Values every log line of a thread carries (an actor's provider), whatever context it logs from.

loguru's ``contextualize`` is a context manager made of a generator: entered at an actor's start
and kept for the thread's life, it is reset when collected, from whichever thread collects it.
These values live in a table by thread instead, read by the log patcher (``discovery.redaction``).
"""
from __future__ import annotations

import threading
from typing import Any

_BY_THREAD: dict[int, dict[str, Any]] = {}


def bind_thread(**values: Any) -> None:
    """Every log line of the calling thread carries ``values`` (unless the line binds its own)."""
    _BY_THREAD[threading.get_ident()] = dict(values)


def unbind_thread() -> None:
    """The calling thread's lines carry nothing more (its actor stops)."""
    _BY_THREAD.pop(threading.get_ident(), None)


def apply(record: dict) -> None:
    """loguru patcher step: the thread's values into the record's ``extra``."""
    found = _BY_THREAD.get(threading.get_ident())
    if found:
        extra = record["extra"]
        for key, value in found.items():
            extra.setdefault(key, value)
