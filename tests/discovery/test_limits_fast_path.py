"""limits.record_problem's fast path (one search of all a record's text) never lets through what the
field-by-field check would refuse: checked on every record of a real models.dev snapshot, and on
each of them broken one field at a time."""
from __future__ import annotations

import gzip
import json
from dataclasses import replace

from discovery import limits
from discovery.providers.modelsdev import PROVIDER_NAMES, normalize_record
from tests.conftest import newest_modelsdev

BREAKS = [
    ("name", "n" * (limits.MAX_NAME_LENGTH + 1)),
    ("name", "bad\x07bell"),
    ("family", "f\u202eamily"),
    ("family", 42),
    ("lifecycle.release_date", "d" * (limits.MAX_SHORT_TEXT + 1)),
    ("lifecycle.knowledge_cutoff", "2024\x00"),
    ("limits.context_window", -1),
    ("limits.max_output_tokens", limits.MAX_TOKENS + 1),
    ("limits.max_input_tokens", True),
    ("pricing.input", float("nan")),
    ("pricing.output", float("inf")),
    ("pricing.cache_read", "0.5"),
    ("regions", tuple(f"r{i}" for i in range(limits.MAX_LIST_ITEMS + 1))),
    ("regions", ("us-east-1", 7)),
    ("modalities.input", ("text", "im\u2028age")),
]


def broken(model, path, value):
    if "." not in path:
        return replace(model, **{path: value})
    part, field = path.split(".")
    return replace(model, **{part: replace(getattr(model, part), **{field: value})})


def real_models():
    snapshot = newest_modelsdev()
    doc = json.loads(gzip.decompress(snapshot.read_bytes()))
    for provider_id, provider in doc.items():
        for model_id, record in provider["models"].items():
            yield normalize_record(PROVIDER_NAMES.get(provider_id, provider_id), {"id": model_id, **record}, "modelsdev")


def test_the_fast_path_agrees_with_the_field_checks_on_real_and_broken_records():
    models = list(real_models())
    assert len(models) > 5000
    fast = 0
    for model in models:
        if limits._plainly_within(model):
            fast += 1
            assert limits._field_problem(model) is None, model.id
    assert fast > 0.99 * len(models)  # the real records take the fast path
    for model in models[::50]:
        for path, value in BREAKS:
            bad = broken(model, path, value)
            assert not limits._plainly_within(bad), (model.id, path)
            assert limits.record_problem(bad) is not None, (model.id, path)
