"""The documents the fixtures are derived from, packaged with the simulator.

``fixtures/`` holds the newest models.dev snapshot and the LiteLLM map, written by
``build_fixtures.py`` from the project's shared data; an installed simulator needs nothing else.
"""
from __future__ import annotations

import copy
import gzip
import json
import zlib
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"
MODELSDEV_FIXTURE = "modelsdev-api.json.gz"
LITELLM_FIXTURE = "litellm-model-prices.json.gz"


def read_json(path: str | Path) -> Any:
    """A JSON file, gunzipped when its name ends in .gz."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def load_modelsdev_snapshot(path: str | Path) -> dict[str, dict[str, Any]]:
    """A models.dev api.json snapshot (plain or .gz) as the simulator's modelsdev records.

    The result maps provider id -> provider object, so ``state.set_models("modelsdev", ...)``
    serves it as it is.
    """
    doc = read_json(path)
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise ValueError(f"{path}: not a models.dev api.json document (an object of providers)")
    return doc


@lru_cache(maxsize=1)
def packaged_modelsdev() -> dict[str, dict[str, Any]]:
    """The packaged models.dev snapshot, shared: callers must not change it."""
    return load_modelsdev_snapshot(FIXTURES_DIR / MODELSDEV_FIXTURE)


def modelsdev_document() -> dict[str, dict[str, Any]]:
    """A private copy of the packaged models.dev snapshot."""
    return copy.deepcopy(packaged_modelsdev())


def modelsdev_models(provider_id: str) -> list[dict[str, Any]]:
    """Copies of one models.dev provider's model records (with ``id`` filled in)."""
    models = packaged_modelsdev().get(provider_id, {}).get("models", {})
    return [{"id": key, **copy.deepcopy(record)} for key, record in models.items()]


@lru_cache(maxsize=1)
def packaged_litellm() -> dict[str, Any]:
    """The packaged LiteLLM map, shared: callers must not change it."""
    return read_json(FIXTURES_DIR / LITELLM_FIXTURE)


def litellm_map() -> dict[str, Any]:
    """A private copy of the packaged LiteLLM model map."""
    return copy.deepcopy(packaged_litellm())


def unix_time(date: str | None, model_id: str, fallback: str = "2024-01-01") -> int:
    """Plausible unix seconds for a release date: that day, at a time of day fixed by the id."""
    try:
        day = datetime.strptime((date or fallback)[:10], "%Y-%m-%d")
    except ValueError:
        day = datetime.strptime(fallback, "%Y-%m-%d")
    # Real creation stamps are not midnight; a stable per-id offset keeps fixtures deterministic.
    offset = zlib.crc32(model_id.encode()) % 86400
    return int(day.replace(tzinfo=UTC).timestamp()) + offset


def rfc3339(seconds: int) -> str:
    """Unix seconds as RFC 3339 with a Z suffix."""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
