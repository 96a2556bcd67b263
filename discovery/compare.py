"""Models side by side: their records aligned field by field, and which fields differ."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from discovery.model import dumps

MIN_MODELS, MAX_MODELS = 2, 10


def flatten(record: Mapping[str, Any], prefix: str = "", sections: dict[str, Any] | None = None) -> dict[str, Any]:
    """A record's leaves by dotted path (``limits.context_window``); a list is one value, a
    section one path per key (``attributes.owned_by``, ``performance.regions.us-east-1.ttft_ms``).
    ``sections``, when given, gets each section by its path too."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            if sections is not None:
                sections[path] = value
            out.update(flatten(value, path + ".", sections))
        else:
            out[path] = value
    return out


def align(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per field any record has, in the records' own field order: ``field``, the
    ``values`` in the order of the records (null where a record lacks the field) and whether
    they ``differ``."""
    sections: list[dict[str, Any]] = [{} for _ in records]
    flat = [flatten(r, "", s) for r, s in zip(records, sections)]
    paths = list(dict.fromkeys(path for f in flat for path in f))
    rows = []
    for path in paths:
        # A field that is null (or empty) in one record and a section in another: that row shows
        # the section whole, so the difference is not lost (its leaves have rows of their own too).
        values = [f[path] if path in f else s.get(path) for f, s in zip(flat, sections)]
        # Compared as encoded JSON (lists in order), 1 and 1.0 being the same price.
        encoded = {dumps(float(v) if isinstance(v, int) and not isinstance(v, bool) else v) for v in values}
        rows.append({"field": path, "values": values, "differs": len(encoded) > 1})
    return rows


def compare(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The comparison answer: the ``ids``, the aligned ``fields`` and the paths that differ."""
    rows = align(records)
    return {"ids": [r.get("id") for r in records], "fields": rows,
            "differing": [row["field"] for row in rows if row["differs"]]}
