"""Synthetic catalogs for the benchmarks: the real models.dev and LiteLLM records plus seeded variants.

:func:`build_catalog` spreads about ``size`` distinct models over one models.dev-format catalog,
one LiteLLM-format catalog and live providers of ten wire formats, each served by its own
simulator tenant (``/t/<source name>/...``). The real records come first; variants of them
(ids suffixed ``-ft-0042``, other prices and context windows) make up the rest, so the same
seed always gives the same catalog. No answer is larger than about 20 MB: a big catalog is spread
over more tenants. :func:`change_fraction` edits a share of the models (prices, context window,
tool calling, release date); :func:`push_sources` puts sources on a running simulator.
"""
from __future__ import annotations

import gzip
import json
import math
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import requests

from discovery.simulator import BASE_PATHS
from discovery.simulator.formats import anthropic, cohere, gemini, groq, mistral, ollama, openai, openrouter, together
from discovery.simulator.sources import FIXTURES_DIR, LITELLM_FIXTURE, MODELSDEV_FIXTURE, unix_time

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MODELSDEV_SHARE, LITELLM_SHARE = 0.25, 0.15
# A models.dev record is ~600 bytes and a LiteLLM entry ~550: 25k of either is ~15 MB.
MAX_CATALOG_MODELS = 25_000
MAX_TENANT_MODELS = 5_000
CONTEXT_WINDOWS = (8_192, 16_384, 32_768, 65_536, 131_072, 200_000, 262_144, 1_048_576)
PRICE_SCALES = (0.5, 0.6, 0.75, 0.8, 0.9, 1.25, 1.5, 2.0, 3.0)
# Simulator routes whose pages are capped by a knob; lifted so a client's 1000-model pages apply.
PAGED_ROUTES = ("anthropic", "gemini", "cohere")
API_KEY_ENV = "BENCH_SIMULATOR_KEY"
LITELLM_MODES = ("chat", "responses", "completion", "embedding", "rerank")
# models.dev provider id -> the name the service files its models under (the ones used here).
MODELSDEV_NAMES = {"google": "gemini", "togetherai": "together", "ollama-cloud": "ollama",
                   "amazon-bedrock": "bedrock"}
LITELLM_NAMES = {"together_ai": "together", "bedrock_converse": "bedrock", "cohere_chat": "cohere",
                 "text-completion-openai": "openai"}
_REGION = re.compile(r"^[a-z]{2}(?:-gov)?-[a-z]+-\d+$")


def _openai_row(r: Mapping[str, Any]) -> dict[str, Any]:
    created = unix_time(r.get("release_date"), r["id"])
    return openai.openai_record(r["id"], created, openai.owned_by(r["id"], r.get("release_date")))


def _vllm_row(r: Mapping[str, Any]) -> dict[str, Any]:
    row = openai.openai_record(r["id"], unix_time(r.get("release_date"), r["id"]), "vllm")
    row.update({"root": r["id"], "parent": None, "max_model_len": (r.get("limit") or {}).get("context") or 32768})
    return row


def _anthropic_row(r: Mapping[str, Any]) -> dict[str, Any]:
    return anthropic.build_records([r])[0]


def _mistral_row(r: Mapping[str, Any]) -> dict[str, Any]:
    inputs = (r.get("modalities") or {}).get("input") or []
    caps = {"completion_chat": True, "completion_fim": False, "function_calling": bool(r.get("tool_call")),
            "fine_tuning": False, "vision": "image" in inputs, "ocr": False, "classification": False,
            "moderation": False, "audio": False}
    return mistral.card(r["id"], r.get("name") or r["id"], (r.get("limit") or {}).get("context") or 32768, caps)


def _cohere_row(r: Mapping[str, Any]) -> dict[str, Any]:
    inputs = (r.get("modalities") or {}).get("input") or []
    features = (["tools", "strict_tools"] if r.get("tool_call") else []) + ["json_mode", "json_schema"]
    features += ["vision"] if "image" in inputs else []
    return cohere.cohere_row(r["id"], ["chat"], (r.get("limit") or {}).get("context") or 4096, features,
                             deprecated=r.get("status") == "deprecated")


def _together_row(r: Mapping[str, Any]) -> dict[str, Any]:
    cost = r.get("cost") or {}
    return together.together_row(r["id"], "chat", r.get("name") or r["id"], r["id"].split("/")[0],
                                 (r.get("limit") or {}).get("context") or 8192, float(cost.get("input") or 0),
                                 float(cost.get("output") or 0), unix_time(r.get("release_date"), r["id"]))


@dataclass(frozen=True)
class LiveFormat:
    """A wire format served live: how its rows are built and which models.dev providers seed it."""

    short: str     # provider names are <short>, <short>-2, ...
    format: str    # the service's format
    route: str     # the simulator's provider
    pool: tuple[str, ...]
    weight: int
    row: Any


LIVE_FORMATS: tuple[LiveFormat, ...] = (
    LiveFormat("openai", "openai", "openai", ("openai",), 2, _openai_row),
    LiveFormat("openrouter", "openrouter", "openrouter", ("openrouter",), 2, openrouter.openrouter_row),
    LiveFormat("anthropic", "anthropic", "anthropic", ("anthropic",), 1, _anthropic_row),
    LiveFormat("gemini", "gemini", "gemini", ("google",), 1, gemini.gemini_row),
    LiveFormat("mistral", "mistral", "mistral", ("mistral",), 1, _mistral_row),
    LiveFormat("cohere", "cohere", "cohere", ("cohere",), 1, _cohere_row),
    LiveFormat("groq", "groq", "groq", ("groq",), 1, groq.groq_row),
    LiveFormat("together", "together", "together", ("togetherai",), 1, _together_row),
    LiveFormat("ollama", "ollama", "ollama", ("ollama-cloud",), 1, ollama.cloud_record),
    LiveFormat("vllm", "openai_compatible", "openai_compatible", ("huggingface", "deepinfra", "nvidia"), 1,
               _vllm_row),
)
FORMATS_BY_SHORT = {f.short: f for f in LIVE_FORMATS}


@dataclass
class CatalogSource:
    """One provider of the service and the simulator tenant that serves it (both named ``name``).

    ``items`` holds the records the wire answer is built from: models.dev-shaped records keyed by
    id (live formats), by (models.dev provider id, model id) (the models.dev catalog), or LiteLLM
    entries keyed by map key.
    """

    name: str
    format: str
    route: str
    kind: str  # "live", "modelsdev" or "litellm"
    items: dict[Any, dict[str, Any]]
    live: LiveFormat | None = None
    provider_meta: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)

    def wire(self) -> Any:
        """The records to PUT at the simulator: a list of rows, or a mapping for the catalogs."""
        if self.kind == "modelsdev":
            doc: dict[str, dict[str, Any]] = {}
            for (pid, mid), record in self.items.items():
                doc.setdefault(pid, {**self.provider_meta.get(pid, {"id": pid}), "models": {}})["models"][mid] = record
            return doc
        if self.kind == "litellm":
            return dict(self.items)
        assert self.live is not None
        return [self.live.row(record) for record in self.items.values()]

    def base_url(self, simulator_url: str) -> str:
        """What the service's provider is configured with."""
        return f"{simulator_url}/t/{self.name}{BASE_PATHS[self.route]}"

    def settings(self, simulator_url: str) -> dict[str, Any]:
        """The provider's settings keys (besides timers and limits, which the bench chooses)."""
        out: dict[str, Any] = {"format": self.format, "base_url": self.base_url(simulator_url)}
        if self.kind == "live":
            out["api_key_env"] = API_KEY_ENV
        return out


@dataclass
class SyntheticCatalog:
    """Every source of one benchmark catalog; ``target`` is the size asked for."""

    target: int
    sources: list[CatalogSource]
    seed: int

    @property
    def records(self) -> int:
        return sum(len(s) for s in self.sources)

    def source(self, name: str) -> CatalogSource:
        return next(s for s in self.sources if s.name == name)

    def biggest_live(self, short: str | None = None) -> CatalogSource:
        """The live source with the most models (of one format when ``short`` is given)."""
        live = [s for s in self.sources if s.kind == "live" and (short is None or s.live.short == short)]
        return max(live, key=len)


# -- the real records ------------------------------------------------------------------------------
def _read(path: Path) -> Any:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def real_modelsdev() -> dict[str, Any]:
    """The newest models.dev snapshot in the shared data (else the simulator's packaged copy)."""
    snapshots = sorted((SHARED_DATA / "modelsdev").glob("api-*.json.gz"))
    return _read(snapshots[-1] if snapshots else FIXTURES_DIR / MODELSDEV_FIXTURE)


def real_litellm() -> dict[str, Any]:
    """LiteLLM's model map from the shared data (else the simulator's packaged copy)."""
    path = SHARED_DATA / "litellm" / "model_prices_and_context_window.json.gz"
    return _read(path if path.exists() else FIXTURES_DIR / LITELLM_FIXTURE)


def _modelsdev_records(doc: Mapping[str, Any], providers: Iterable[str]) -> list[dict[str, Any]]:
    return [{**record, "id": mid} for pid in providers for mid, record in doc.get(pid, {}).get("models", {}).items()]


def _live_pool(fmt: LiveFormat, doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    pool: dict[str, dict[str, Any]] = {}
    for record in _modelsdev_records(doc, fmt.pool):
        try:
            fmt.row(record)
        except (IndexError, KeyError, TypeError, ValueError):
            continue  # a record the format would not list (an alias, a retired model)
        pool.setdefault(record["id"], record)  # providers of one pool list some models alike
    return list(pool.values())


def _litellm_pool(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {key: entry for key, entry in doc.items()
            if isinstance(entry, dict) and isinstance(entry.get("litellm_provider"), str)
            and entry.get("mode") in LITELLM_MODES and "*" not in key
            and not key.startswith(("together-ai-", "fireworks-ai-"))}


# -- variants --------------------------------------------------------------------------------------
def _scaled(value: Any, scale: float) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return round(value * scale, 12)
    return value


def modelsdev_variant(record: Mapping[str, Any], k: int, rng: random.Random) -> dict[str, Any]:
    """A models.dev-shaped record like ``record``: id ``<id>-ft-<k>``, other prices and context window."""
    out = dict(record)
    out["id"] = f"{record['id']}-ft-{k:04d}"
    out["name"] = f"{record.get('name') or record['id']} (ft {k:04d})"
    scale = rng.choice(PRICE_SCALES)
    if isinstance(record.get("cost"), Mapping):
        out["cost"] = {key: _scaled(v, scale) for key, v in record["cost"].items()}
    limit = dict(record.get("limit") or {})
    limit["context"] = rng.choice(CONTEXT_WINDOWS)
    if isinstance(limit.get("output"), int):
        limit["output"] = min(limit["output"], limit["context"])
    out["limit"] = limit
    return out


def litellm_variant(key: str, entry: Mapping[str, Any], k: int, rng: random.Random) -> tuple[str, dict[str, Any]]:
    """A LiteLLM entry like ``entry`` under ``<key>-ft-<k>``, with other prices and input limit."""
    scale = rng.choice(PRICE_SCALES)
    out = {name: (_scaled(v, scale) if "cost" in name else v) for name, v in entry.items()}
    out["max_input_tokens"] = rng.choice(CONTEXT_WINDOWS)
    return f"{key}-ft-{k:04d}", out


def _fill(real: list[Any], count: int, make_variant: Any, rng: random.Random, start: int = 0) -> list[Any]:
    """``count`` items: the real ones first (shuffled, as many as fit), then variants of them."""
    if not real:
        raise ValueError("no real records to start from")
    out = rng.sample(real, min(count, len(real)))
    k = start
    while len(out) < count:
        out.append(make_variant(real[k % len(real)], k))
        k += 1
    return out


# -- building --------------------------------------------------------------------------------------
def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def live_source(fmt: LiveFormat, name: str, count: int, pool: list[dict[str, Any]], rng: random.Random,
                start: int = 0) -> CatalogSource:
    """A live provider of ``fmt`` with ``count`` models: real ones from ``pool``, then variants."""
    records = _fill(pool, count, lambda r, k: modelsdev_variant(r, k, rng), rng, start)
    return CatalogSource(name, fmt.format, fmt.route, "live", {r["id"]: r for r in records}, live=fmt)


def _modelsdev_source(doc: Mapping[str, Any], count: int, rng: random.Random) -> CatalogSource:
    real = [(pid, {**record, "id": mid}) for pid, provider in doc.items()
            for mid, record in provider.get("models", {}).items()]
    pairs = _fill(real, count, lambda pr, k: (pr[0], modelsdev_variant(pr[1], k, rng)), rng)
    meta = {pid: {key: v for key, v in provider.items() if key != "models"} for pid, provider in doc.items()}
    return CatalogSource("modelsdev", "modelsdev", "modelsdev", "modelsdev",
                         {(pid, r["id"]): r for pid, r in pairs}, provider_meta=meta)


def _litellm_source(doc: Mapping[str, Any], count: int, rng: random.Random) -> CatalogSource:
    real = list(_litellm_pool(doc).items())
    pairs = _fill(real, count, lambda kv, k: litellm_variant(kv[0], kv[1], k, rng), rng)
    return CatalogSource("litellm", "litellm", "litellm", "litellm", dict(pairs))


def _litellm_canonical(key: str, entry: Mapping[str, Any]) -> tuple[str, str]:
    """Roughly the service's id for a map entry: its provider and the key less prefixes and regions."""
    raw = entry["litellm_provider"]
    name = LITELLM_NAMES.get(raw, "vertex_ai" if raw.startswith("vertex_ai") else raw)
    segments = key.split("/")
    while len(segments) > 1 and (segments[0] in (raw, name, raw.split("-")[0]) or _REGION.match(segments[0])):
        segments = segments[1:]
    return name, "/".join(segments).lower()


def estimated_models(sources: Iterable[CatalogSource]) -> int:
    """About how many models the service will publish: a catalog entry with the id of a live model
    (or of an entry of the other catalog) is folded into it. Exact ids only; the service also
    matches by stripped dates and aliases, so the real count can be a little lower."""
    live: set[tuple[str, str]] = set()
    catalog: set[tuple[str, str]] = set()
    live_count = 0
    for source in sources:
        if source.kind == "live":
            live_count += len(source)
            catalog_name = None if source.format == "openai_compatible" else source.format
            live.update((catalog_name, mid.lower()) for mid in source.items if catalog_name)
        elif source.kind == "modelsdev":
            catalog.update((MODELSDEV_NAMES.get(pid, pid), mid.lower()) for pid, mid in source.items)
        else:
            catalog.update(_litellm_canonical(key, entry) for key, entry in source.items.items())
    return live_count + len(catalog - live)


def build_catalog(size: int, seed: int = 42) -> SyntheticCatalog:
    """About ``size`` distinct models: 25% in the models.dev catalog, 15% in LiteLLM's (each at most
    25k), the rest live over ten formats (OpenAI and OpenRouter twice the share of the others),
    at most 5k per tenant. A catalog is topped up for the entries estimated to fold into others."""
    rng = random.Random(seed)
    modelsdev_doc, litellm_doc = real_modelsdev(), real_litellm()
    n_md = min(round(size * MODELSDEV_SHARE), MAX_CATALOG_MODELS)
    n_ll = min(round(size * LITELLM_SHARE), MAX_CATALOG_MODELS)
    live_total = max(0, size - n_md - n_ll)
    weights = sum(f.weight for f in LIVE_FORMATS)
    per_format = _split(live_total, weights)
    sources: list[CatalogSource] = []
    for fmt in LIVE_FORMATS:
        count = sum(per_format[:fmt.weight])
        per_format = per_format[fmt.weight:]
        pool = _live_pool(fmt, modelsdev_doc)
        tenants = max(1, math.ceil(count / MAX_TENANT_MODELS))
        for i, n in enumerate(_split(count, tenants)):
            # The first is named like the format (openai), as an operator would; the others openai-2...
            sources.append(live_source(fmt, fmt.short if i == 0 else f"{fmt.short}-{i + 1}", n, pool, rng))
    litellm = _litellm_source(litellm_doc, n_ll, rng)
    modelsdev = _modelsdev_source(modelsdev_doc, n_md, rng)
    folded = size - estimated_models([*sources, litellm, modelsdev])
    if folded > 0 and n_md + folded <= MAX_CATALOG_MODELS:
        modelsdev = _modelsdev_source(modelsdev_doc, n_md + folded, random.Random(seed + 1))
    elif folded > 0 and n_ll + folded <= MAX_CATALOG_MODELS:
        litellm = _litellm_source(litellm_doc, n_ll + folded, random.Random(seed + 1))
    return SyntheticCatalog(size, [modelsdev, litellm, *sources], seed)


def fanout_sources(providers: int = 50, models_each: int = 60, seed: int = 7) -> list[CatalogSource]:
    """``providers`` live providers over the ten formats in turn, each with its own model set."""
    rng = random.Random(seed)
    doc = real_modelsdev()
    pools = {f.short: _live_pool(f, doc) for f in LIVE_FORMATS}
    out = []
    rounds = math.ceil(providers / len(LIVE_FORMATS))
    for i in range(providers):
        fmt = LIVE_FORMATS[i % len(LIVE_FORMATS)]
        # Providers of one format split its real models, and their variants are numbered apart:
        # no two providers share a model id.
        pool = pools[fmt.short][i // len(LIVE_FORMATS)::rounds]
        out.append(live_source(fmt, f"fan-{i:02d}-{fmt.short}", models_each, pool, rng,
                               start=10_000 + i * models_each))
    return out


# -- changing --------------------------------------------------------------------------------------
def _next_day(day: Any) -> str:
    try:
        return (date.fromisoformat(str(day)[:10]) + timedelta(days=1)).isoformat()
    except ValueError:
        return "2025-01-01"


def changed_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record with prices up 10%, a larger context window, tool calling flipped and the release
    date a day later (OpenAI's list states only the date; every other format states the rest)."""
    out = dict(record)
    cost = dict(record.get("cost") or {})
    for key in ("input", "output"):
        cost[key] = round(float(cost.get(key) or 0) * 1.1 + 0.01, 6)
    out["cost"] = cost
    limit = dict(record.get("limit") or {})
    limit["context"] = int(limit.get("context") or 8192) + 4096
    out["limit"] = limit
    out["tool_call"] = not record.get("tool_call")
    out["release_date"] = _next_day(record.get("release_date"))
    return out


def changed_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The LiteLLM entry with its input price up 10%, a larger input limit and function calling flipped."""
    out = dict(entry)
    out["input_cost_per_token"] = round(float(entry.get("input_cost_per_token") or 0) * 1.1 + 1e-8, 14)
    out["max_input_tokens"] = int(entry.get("max_input_tokens") or 8192) + 4096
    out["supports_function_calling"] = not entry.get("supports_function_calling")
    return out


def change_fraction(catalog: SyntheticCatalog, fraction: float, seed: int = 0) -> dict[str, int]:
    """Edit ``fraction`` of all models (chosen by ``seed``) in place; returns models changed per source.

    Only the records change here: :func:`push_sources` with the returned names serves them.
    """
    rng = random.Random(f"{catalog.seed}:{seed}")
    keys = [(i, key) for i, source in enumerate(catalog.sources) for key in source.items]
    picked = rng.sample(keys, max(1, round(len(keys) * fraction)))
    changed: dict[str, int] = {}
    for i, key in picked:
        source = catalog.sources[i]
        edit = changed_entry if source.kind == "litellm" else changed_record
        source.items[key] = edit(source.items[key])
        changed[source.name] = changed.get(source.name, 0) + 1
    return changed


# -- serving ---------------------------------------------------------------------------------------
def push_sources(simulator_url: str, sources: Iterable[CatalogSource], timeout: float = 300.0) -> None:
    """Serve each source from its tenant: replace its model set and lift the page size cap."""
    with requests.Session() as http:
        for source in sources:
            admin = f"{simulator_url}/t/{source.name}/_admin/{source.route}"
            body = json.dumps(source.wire(), separators=(",", ":"))
            resp = http.put(f"{admin}/models", data=body, headers={"Content-Type": "application/json"},
                            timeout=timeout)
            if resp.status_code != 200:
                raise RuntimeError(f"simulator refused {source.name}'s models: {resp.status_code} {resp.text[:200]}")
            if source.route in PAGED_ROUTES:
                http.post(f"{admin}/page_size", json={"page_size": None}, timeout=timeout).raise_for_status()


def set_latencies(simulator_url: str, latencies: Iterable[tuple[str | None, str, float]]) -> None:
    """Delay answers: (tenant or None for the default paths, simulator route, seconds) each."""
    with requests.Session() as http:
        for tenant, route, seconds in latencies:
            prefix = f"/t/{tenant}" if tenant else ""
            http.post(f"{simulator_url}{prefix}/_admin/{route}/latency", json={"seconds": seconds},
                      timeout=30).raise_for_status()
