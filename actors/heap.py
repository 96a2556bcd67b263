"""The C heap under a long-running, many-threaded Python process (glibc only; a no-op elsewhere).

Each thread that allocates gets its own glibc arena by default (up to eight per core), and memory
freed in an arena after a large transient allocation (a provider's answer being parsed, a big
commit) stays mapped. Two arenas are enough for a service that spends its time in Python, and
trimming after a large write returns what the write no longer needs.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from typing import Optional

from loguru import logger

_M_ARENA_MAX = -8
_libc: Optional[ctypes.CDLL] = None


def _glibc() -> Optional[ctypes.CDLL]:
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        try:
            lib = ctypes.CDLL(name or "libc.so.6")
            lib.malloc_trim  # noqa: B018 (only glibc has it)
            lib.mallopt  # noqa: B018
        except (OSError, AttributeError):
            return None
        _libc = lib
    return _libc


def limit_arenas(arenas: int = 2) -> bool:
    """Cap the number of malloc arenas (call before threads start); True if it took effect."""
    lib = _glibc()
    if lib is None or arenas <= 0:
        return False
    ok = bool(lib.mallopt(_M_ARENA_MAX, arenas))
    if not ok:
        logger.debug("mallopt(M_ARENA_MAX) refused")
    return ok


def release_free_memory() -> bool:
    """Give freed heap memory back to the operating system (glibc's malloc_trim)."""
    lib = _glibc()
    return bool(lib.malloc_trim(0)) if lib is not None else False
