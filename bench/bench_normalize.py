"""Benchmark: normalize the whole LiteLLM map and the newest models.dev snapshot, then merge.

Prints models per second for each normalizer, the time of ``merge_sources`` cold (indexes built)
and warm (indexes cached, as on every snapshot after the first), and, per provider, the share of
taxonomy fields known in the merged catalog.

    python bench/bench_normalize.py [--data ../shared/data] [--repeat 20]

The live lists are the ids of a few providers' models.dev entries pushed through the OpenAI list
format (ids only, the hardest case for enrichment), so the merge does real matching work.
"""
from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from discovery.enrich import FIELD_PATHS, field_value
from discovery.merge import merge_sources
from discovery.model import Model
from discovery.providers import LiteLLMClient, ModelsDevClient, OpenAIClient
from discovery.settings import ProviderConfig

LIVE_PROVIDERS = ("openai", "anthropic", "gemini", "mistral", "groq", "xai", "deepseek")
# Fields shown as columns (all FIELD_PATHS count towards the "all" column).
COLUMNS = ("kind", "limits.context_window", "limits.max_output_tokens", "pricing.input", "pricing.output",
           "capabilities.tool_calling", "capabilities.vision", "capabilities.reasoning", "modalities.input",
           "lifecycle.release_date")


def _load(path: Path) -> object:
    return json.loads(gzip.decompress(path.read_bytes()))


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def _known_share(models: list[Model]) -> dict[str, float]:
    counts = {path: sum(field_value(m, path) is not None for m in models) for path in FIELD_PATHS}
    out = {path: counts[path] / len(models) for path in COLUMNS}
    out["all"] = sum(counts.values()) / (len(models) * len(FIELD_PATHS))
    return out


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=20, help="warm merges to time")
    parser.add_argument("--top", type=int, default=15, help="catalog-only providers to list, by model count")
    args = parser.parse_args(argv)

    litellm_body = _load(args.data / "litellm" / "model_prices_and_context_window.json.gz")
    newest = max((args.data / "modelsdev").glob("api-*.json.gz"))
    modelsdev_body = _load(newest)

    litellm = LiteLLMClient(ProviderConfig(name="litellm", format="litellm"))
    modelsdev = ModelsDevClient(ProviderConfig(name="modelsdev", format="modelsdev"))
    ll_models, ll_time = _timed(litellm.normalize, litellm_body)
    md_models, md_time = _timed(modelsdev.normalize, modelsdev_body)
    print(f"LiteLLM map:         {len(litellm_body):5d} entries -> {len(ll_models):5d} models in "
          f"{ll_time * 1000:7.1f} ms  ({len(ll_models) / ll_time:9.0f} models/s)")
    print(f"models.dev {newest.name[4:14]}: {len(md_models):5d} models            in "
          f"{md_time * 1000:7.1f} ms  ({len(md_models) / md_time:9.0f} models/s)")

    rows = {p: [{"id": m.provider_model_id, "object": "model", "created": 1_700_000_000, "owned_by": p}
                for m in md_models if m.provider == p] for p in LIVE_PROVIDERS}

    def fetch(provider: str) -> tuple[Model, ...]:
        # A refresh: new Model objects, as a provider actor's snapshot brings.
        client = OpenAIClient(ProviderConfig(name=provider, format="openai"))
        return tuple(client.normalize(row) for row in rows[provider])

    live = {p: fetch(p) for p in LIVE_PROVIDERS}
    catalogs = {"modelsdev": tuple(md_models), "litellm": tuple(ll_models)}
    n_live = sum(len(v) for v in live.values())

    merged, cold = _timed(merge_sources, live, catalogs)
    print(f"merge_sources: {n_live} live + {len(md_models)} models.dev + {len(ll_models)} LiteLLM -> "
          f"{len(merged)} models")
    print(f"  cold (catalog indexes built):            {cold * 1000:8.2f} ms")
    as_lists = {k: list(v) for k, v in catalogs.items()}
    scenarios = {
        "nothing changed (fresh lists, cached)": lambda: {k: list(v) for k, v in live.items()},
        "openai re-fetched (new objects)": lambda: {**live, "openai": fetch("openai")},
        "every live list re-fetched": lambda: {p: fetch(p) for p in LIVE_PROVIDERS},
    }
    for label, make in scenarios.items():
        times = []
        for _ in range(args.repeat):
            inputs = make()
            times.append(_timed(merge_sources, inputs, as_lists)[1])
        print(f"  {label + ':':<40} {statistics.median(times) * 1000:8.2f} ms median, "
              f"{max(times) * 1000:.2f} ms max over {args.repeat} runs")

    by_provider: dict[str, list[Model]] = defaultdict(list)
    for m in merged.values():
        by_provider[m.provider].append(m)
    catalog_only = sorted((p for p in by_provider if p not in live), key=lambda p: -len(by_provider[p]))
    rows = [*LIVE_PROVIDERS, *catalog_only[:args.top]]
    short = {c: c.split(".")[-1][:10] for c in COLUMNS}
    header = f"{'provider':<18} {'models':>6} {'live':>5} " + " ".join(f"{short[c]:>10}" for c in COLUMNS) + \
        f" {'all':>6}"
    print("\nShare of taxonomy fields known after merging (live lists = ids only, enriched from catalogs)")
    print(header)
    print("-" * len(header))
    for provider in rows:
        models = by_provider.get(provider)
        if not models:
            continue
        share = _known_share(models)
        n_live_p = sum(m.live for m in models)
        print(f"{provider:<18} {len(models):>6} {n_live_p:>5} " +
              " ".join(f"{share[c]:>10.0%}" for c in COLUMNS) + f" {share['all']:>6.0%}")
    total = _known_share(list(merged.values()))
    print(f"{'(all providers)':<18} {len(merged):>6} {n_live:>5} " +
          " ".join(f"{total[c]:>10.0%}" for c in COLUMNS) + f" {total['all']:>6.0%}")

    sources: dict[str, int] = defaultdict(int)
    for m in merged.values():
        for origin in m.provenance.values():
            sources[origin] += 1
    print("\nFilled fields by source: " + ", ".join(f"{k} {v}" for k, v in sorted(sources.items(), key=lambda kv: -kv[1])))


if __name__ == "__main__":
    main()
