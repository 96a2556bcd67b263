"""``discovery serve --demo``: every wire format and Bedrock region from the built-in simulator.

Nothing here needs a key or the network: the providers point at a :class:`SimulatorServer`, dummy
credentials are set for this process only, and two models per provider are benchmarked a few
seconds after start, each provider at its own simulated pace.
"""
from __future__ import annotations

import os
from typing import Any

from discovery.settings import ProviderConfig

DEMO_KEY_ENV = "DISCOVERY_DEMO_API_KEY"
# (name in the catalog, wire format, simulator route) for --demo.
DEMO_SOURCES: tuple[tuple[str, str, str], ...] = (
    ("openai", "openai", "openai"),
    ("anthropic", "anthropic", "anthropic"),
    ("gemini", "gemini", "gemini"),
    ("mistral", "mistral", "mistral"),
    ("groq", "groq", "groq"),
    ("together", "together", "together"),
    ("cohere", "cohere", "cohere"),
    ("openrouter", "openrouter", "openrouter"),
    ("azure", "azure", "azure"),
    ("ollama", "ollama", "ollama"),
    ("vllm", "openai_compatible", "openai_compatible"),
    ("modelsdev", "modelsdev", "modelsdev"),
    ("litellm", "litellm", "litellm"),
)


# The demo reads the catalogs only for the providers an operator of these APIs would care about;
# the whole models.dev document (5k models) also works, it just takes seconds longer to load.
DEMO_CATALOG_PROVIDERS = ("openai", "anthropic", "google", "gemini", "mistral", "groq", "togetherai", "together",
                          "together_ai", "cohere", "deepseek", "xai", "amazon-bedrock", "bedrock", "azure",
                          "ollama-cloud", "ollama", "fireworks-ai", "fireworks_ai")


# What --demo benchmarks at start, per provider: model globs, and the simulator's pace for it
# (seconds to the first token, tokens per second), so the leaderboard shows differences.
DEMO_BENCHMARKS: dict[str, tuple[tuple[str, ...], float, float]] = {
    "openai": (("openai/gpt-4o-mini", "openai/gpt-4.1-mini", "openai/text-embedding-3-small"), 0.35, 90.0),
    "anthropic": (("anthropic/claude-haiku-4-5*", "anthropic/claude-sonnet-4-5*"), 0.6, 70.0),
    "gemini": (("gemini/gemini-2.5-flash", "gemini/gemini-2.5-flash-lite"), 0.4, 160.0),
    "mistral": (("mistral/mistral-large-2512", "mistral/ministral-8b-latest"), 0.3, 110.0),
    "groq": (("groq/llama-3.1-8b-instant", "groq/llama-3.3-70b-versatile"), 0.12, 450.0),
    "together": (("together/*Llama*",), 0.3, 120.0),
    "cohere": (("cohere/command-a-03-2025", "cohere/command-r*"), 0.45, 80.0),
    "openrouter": (("openrouter/openai/gpt-4o-mini", "openrouter/anthropic/claude-*haiku*"), 0.55, 75.0),
    "ollama": (("ollama/llama3.2:3b", "ollama/qwen3:8b"), 0.08, 45.0),
    "bedrock": (("bedrock/amazon.nova-lite-v1:0", "bedrock/anthropic.claude-haiku-4-5*"), 0.4, 80.0),
}
# Bedrock's time to first token per demo region (the model's, not the control plane's latency).
DEMO_REGION_TTFT = {"us-east-1": 0.45, "us-west-2": 0.5, "eu-central-1": 0.36, "eu-west-1": 0.4,
                    "ap-northeast-1": 0.6, "ap-southeast-2": 0.7}


def demo_providers(simulator: Any, refresh_interval: float = 60.0) -> tuple[ProviderConfig, ...]:
    """Providers pointed at a running simulator, for every format both sides know."""
    from discovery.providers import FORMATS
    from discovery.simulator.formats import FORMATS_BY_PROVIDER

    os.environ.setdefault(DEMO_KEY_ENV, "demo-key-for-the-simulator")
    out = []
    for name, fmt, route in DEMO_SOURCES:
        if fmt not in FORMATS or route not in FORMATS_BY_PROVIDER:
            continue
        try:
            base = simulator.base_url(route)
        except (KeyError, ValueError):
            continue
        cls = FORMATS[fmt]
        options = {"providers": list(DEMO_CATALOG_PROVIDERS)} if cls.is_catalog else {}
        out.append(ProviderConfig(name=name, format=fmt, base_url=base,
                                  api_key_env=DEMO_KEY_ENV if cls.requires_key else None,
                                  refresh_interval=refresh_interval, timeout=5.0, fail_max=3, reset_timeout=15.0,
                                  options=options))
    return tuple(out)


def demo_bedrock(simulator: Any) -> Any:
    """Bedrock regions pointed at the simulator (af-south-1 does not offer Bedrock there).

    boto3 signs every request, so without AWS credentials in the environment dummy ones are set
    for this process only; they go nowhere but the simulator and are never logged.
    """
    from discovery.settings import AWS_CREDENTIAL_ENV, BedrockSettings
    from discovery.simulator.formats.bedrock import DEMO_LATENCIES

    if not any(os.environ.get(name) for name in AWS_CREDENTIAL_ENV):
        os.environ["AWS_ACCESS_KEY_ID"] = "AKIDDEMOSIMULATOR"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "demo-secret-for-the-simulator"
    for region, seconds in DEMO_LATENCIES.items():
        simulator.state.set_latency(f"bedrock@{region}", seconds)
    return BedrockSettings(enabled=True, regions=tuple(DEMO_LATENCIES),
                           endpoint_url=simulator.url + "/bedrock/{region}", ec2_endpoint_url=simulator.url + "/ec2",
                           runtime_endpoint_url=simulator.url + "/bedrock/{region}",
                           refresh_interval=60.0, timeout=5.0, unavailable_recheck_interval=600.0)


def demo_benchmarks(simulator: Any, given: Any = None) -> Any:
    """Benchmarks of two models per demo provider (and Bedrock region) a few seconds after start.

    Prices are the catalogs' (the simulator bills nothing); local servers have none, so they are
    allowed to go unpriced. The simulator is set to a different pace per provider and region.
    ``given``: the benchmark settings the file and the environment made; each key they set (a
    budget, the samples...) holds over the demo's own, and their provider tables over its
    targets (they were all replaced, silently: a budget of 0 set for the demo spent anyway).
    """
    from dataclasses import fields, replace

    from discovery.settings import BenchmarkSettings, BenchmarkTarget

    targets = []
    for name, (globs, ttft, rate) in DEMO_BENCHMARKS.items():
        if name == "bedrock":
            for region, region_ttft in DEMO_REGION_TTFT.items():
                simulator.state.set_stream(f"bedrock@{region}", ttft=region_ttft, tokens_per_second=rate, output_tokens=64)
        else:
            route = dict((n, r) for n, _, r in DEMO_SOURCES).get(name, name)
            simulator.state.set_stream(route, ttft=ttft, tokens_per_second=rate, output_tokens=64)
        targets.append(BenchmarkTarget(name, enabled=True, models=globs, max_models=2,
                                       allow_unknown_prices=name in ("ollama", "vllm")))
    demo = BenchmarkSettings(start_delay=3.0, interval=900.0, samples=3, targets=tuple(targets))
    if given is None:
        return demo
    default = BenchmarkSettings()
    kept = {f.name: getattr(given, f.name) for f in fields(BenchmarkSettings)
            if f.name != "targets" and getattr(given, f.name) != getattr(default, f.name)}
    if kept or given.targets:
        from loguru import logger

        logger.info("demo: benchmark settings taken from the settings: {}",
                    ", ".join([*sorted(kept), *(["provider tables"] if given.targets else [])]))
    return replace(demo, **kept, **({"targets": given.targets} if given.targets else {}))
