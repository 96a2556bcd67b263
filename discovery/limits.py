"""What one provider record may be: id length and characters, field sizes, raw size, numeric ranges.

The catalog applies these in one place (:meth:`discovery.catalog.CatalogState._accept`) to each
new or changed record, on SQLite and PostgreSQL alike, so no column limit of a store is ever what
refuses a record. A record that breaks a rule is left out of its source's answer (its last good
version stays, if it had one) and counted in the run's ``rejected`` with the reason; the rest of
the answer, and every other source, go on.
"""
from __future__ import annotations

import math
import re
from typing import Any, Optional

# Canonical ids (``<provider>/<provider's id>``) up to this many characters; the store's id
# columns hold 512, so the store never refuses one.
MAX_ID_LENGTH = 256
MAX_NAME_LENGTH = 512
MAX_SHORT_TEXT = 128  # family, lifecycle dates and status, region names, modalities
MAX_LIST_ITEMS = 256  # regions, modalities
# The record's encoded list form (attributes included) and the provider's raw answer for it.
MAX_RECORD_BYTES = 64 * 1024
MAX_RAW_BYTES = 256 * 1024
MAX_TOKENS = 1_000_000_000  # context windows and output limits
MAX_PRICE = 1_000_000.0  # USD per million tokens
# Control characters (C0, DEL, C1), zero-width and bidirectional controls (U+202E reverses what
# follows it on screen), line and paragraph separators, byte-order marks and lone surrogates.
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2028\u2029\u2060-\u206f\ufeff\ud800-\udfff]")
# Text fields (names) may hold a tab: real catalogs have trailing ones.
_FORBIDDEN_IN_TEXT = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2028\u2029\u2066-\u2069\ufeff\ud800-\udfff]")
# Routes that end a model path: an id ending so could not be reached as a model.
_RESERVED_SUFFIXES = ("/history", "/benchmarks", "/regions", "/best-regions")


class RecordRejected(ValueError):
    """A record that breaks a limit; ``reason`` says which and why."""

    def __init__(self, model_id: str, reason: str):
        super().__init__(reason)
        self.model_id = model_id
        self.reason = reason


def _text(value: Any, what: str, limit: int) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str):
        return f"{what} is not text"
    if len(value) > limit:
        return f"{what} is {len(value)} characters long (at most {limit})"
    if _FORBIDDEN_IN_TEXT.search(value):
        return f"{what} contains control characters"
    return None


def text_problem(value: Any, what: str, limit: int) -> Optional[str]:
    """Why ``value`` cannot be a name-like text of at most ``limit`` characters (not text, too long,
    control or bidirectional characters; a tab is taken), or None."""
    return _text(value, what, limit)


def id_problem(model_id: str) -> Optional[str]:
    """Why a canonical model id cannot be stored and served, or None."""
    if len(model_id) > MAX_ID_LENGTH:
        return f"id is {len(model_id)} characters long (at most {MAX_ID_LENGTH})"
    bad = _FORBIDDEN.search(model_id)
    if bad:
        return f"id contains the control or invisible character U+{ord(bad.group()):04X}"
    if model_id != model_id.strip():
        return "id starts or ends with white space"
    _, _, own = model_id.partition("/")
    if not own.strip():
        return "id is empty"
    if "//" in model_id or model_id.endswith("/"):
        return "id has an empty path segment ('//' or a trailing '/'), which no URL reaches"
    if model_id.endswith(_RESERVED_SUFFIXES):
        return f"id ends with {model_id[model_id.rindex('/'):]!r}, a route of its own"
    return None


def _number(value: Any, what: str, low: float, high: float) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{what} is not a number"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{what} is not finite"
    if not low <= value <= high:
        if isinstance(value, float) or abs(value) > 10**12:
            # An integer past 1e308 has no float to be shown as (OverflowError, in the writer).
            shown = f"{value:.3g}" if isinstance(value, float) or abs(value) < 10**300 \
                else f"a {len(str(abs(value)))}-digit number"
        else:
            shown = str(value)
        return f"{what} {shown} is out of range ({low:g} to {high:g})"
    return None


def _plainly_within(model: Any) -> bool:
    """True when every text, number and list of the record is plainly within its limit: one
    search of all the text at once instead of one per field (the common case, on every record of
    an answer). False says only "look closer" (:func:`_field_problem` finds which and why)."""
    lifecycle, limits, pricing, modalities = model.lifecycle, model.limits, model.pricing, model.modalities
    texts = [model.name, model.family, lifecycle.status, lifecycle.release_date, lifecycle.deprecation_date,
             lifecycle.knowledge_cutoff]
    for i, value in enumerate(texts):
        if value is not None and (type(value) is not str or len(value) > (MAX_NAME_LENGTH if i == 0 else MAX_SHORT_TEXT)):
            return False
    for values in (model.regions, modalities.input, modalities.output):
        if values is not None:
            if len(values) > MAX_LIST_ITEMS:
                return False
            for value in values:
                if type(value) is not str or len(value) > MAX_SHORT_TEXT:
                    return False
                texts.append(value)
    if _FORBIDDEN_IN_TEXT.search("".join([t for t in texts if t is not None])):
        return False
    for high, values in ((MAX_TOKENS, (limits.context_window, limits.max_input_tokens, limits.max_output_tokens)),
                         (MAX_PRICE, (pricing.input, pricing.output, pricing.cache_read, pricing.cache_write))):
        for value in values:
            if value is not None and (type(value) not in (int, float) or not 0 <= value <= high):
                return False  # NaN fails the comparison too
    return True


def record_problem(model: Any, raw: Optional[bytes] = None) -> Optional[str]:
    """Why a record (a :class:`~discovery.model.Model`) breaks a limit, or None; ``raw`` its raw answer."""
    problem = id_problem(model.id) or (None if _plainly_within(model) else _field_problem(model))
    if problem:
        return problem
    if raw is not None and len(raw) > MAX_RAW_BYTES:
        return f"the provider's record is {len(raw)} bytes (at most {MAX_RAW_BYTES})"
    return None


def _field_problem(model: Any) -> Optional[str]:
    """The first field of the record that breaks its limit, and why (or None)."""
    checks = [
        _text(model.name, "name", MAX_NAME_LENGTH),
        _text(model.family, "family", MAX_SHORT_TEXT),
        *(_text(getattr(model.lifecycle, f), f"lifecycle.{f}", MAX_SHORT_TEXT)
          for f in ("status", "release_date", "deprecation_date", "knowledge_cutoff")),
        *(_number(getattr(model.limits, f), f"limits.{f}", 0, MAX_TOKENS)
          for f in ("context_window", "max_input_tokens", "max_output_tokens")),
        *(_number(getattr(model.pricing, f), f"pricing.{f}", 0, MAX_PRICE)
          for f in ("input", "output", "cache_read", "cache_write")),
    ]
    for name, values in (("regions", model.regions), ("modalities.input", model.modalities.input),
                         ("modalities.output", model.modalities.output)):
        if values is not None:
            if len(values) > MAX_LIST_ITEMS:
                checks.append(f"{name} has {len(values)} items (at most {MAX_LIST_ITEMS})")
            checks.extend(_text(v, name, MAX_SHORT_TEXT) for v in values)
    return next((c for c in checks if c), None)


def body_problem(body: bytes) -> Optional[str]:
    """Why a record's encoded form is too large, or None."""
    if len(body) > MAX_RECORD_BYTES:
        return f"the record is {len(body)} bytes encoded (at most {MAX_RECORD_BYTES})"
    return None


def check(model: Any, raw: Optional[bytes] = None) -> None:
    """Raise :class:`RecordRejected` if the record breaks a limit."""
    problem = record_problem(model, raw)
    if problem:
        raise RecordRejected(model.id, problem)
