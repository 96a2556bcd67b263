"""Models side by side: their records aligned field by field, and which fields differ."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from discovery.model import dumps

MIN_MODELS, MAX_MODELS = 2, 10


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A record's leaves by dotted path (``limits.context_window``); a list is one value, a
    section one path per key (``attributes.owned_by``, ``performance.regions.us-east-1.ttft_ms``)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def align(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per field any record has, in the records' own field order: ``field``, the
    ``values`` in the order of the records (null where a record lacks the field) and whether
    they ``differ``."""
    flat = [flatten(r) for r in records]
    paths = list(dict.fromkeys(path for f in flat for path in f))
    rows = []
    for path in paths:
        values = [f.get(path) for f in flat]
        # Compared as encoded JSON (lists in order), 1 and 1.0 being the same price.
        encoded = {dumps(float(v) if isinstance(v, int) and not isinstance(v, bool) else v) for v in values}
        rows.append({"field": path, "values": values, "differs": len(encoded) > 1})
    return rows


def compare(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The comparison answer: the ``ids``, the aligned ``fields`` and the paths that differ."""
    rows = align(records)
    return {"ids": [r.get("id") for r in records], "fields": rows,
            "differing": [row["field"] for row in rows if row["differs"]]}
