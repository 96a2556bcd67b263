"""discovery.example.toml names every settings key, no key that does not exist, each with its default."""
from __future__ import annotations

import re
import tomllib
from dataclasses import MISSING, fields
from pathlib import Path

import pytest

from discovery.settings import BedrockSettings, BenchmarkSettings, BenchmarkTarget, ProviderConfig, Settings
from discovery.settings_reader import (
    BEDROCK_KEYS,
    BENCHMARK_KEYS,
    ENV_ONLY_SERVICE_KEYS,
    PROVIDER_KEYS,
    SERVICE_KEYS,
    TARGET_KEYS,
    load_settings,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "discovery.example.toml"
TABLE = re.compile(r"^\[([A-Za-z0-9_.]+)\]\s*(?:#.*)?$")
COMMENTED_KEY = re.compile(r"^#\s*([a-z][a-z0-9_]*)\s*=")


def commented_keys() -> dict[str, set[str]]:
    """Table name -> keys named only in a ``# key = ...`` comment line of that table."""
    out: dict[str, set[str]] = {}
    table = ""
    for line in EXAMPLE.read_text().splitlines():
        header = TABLE.match(line)
        if header:
            table = header.group(1)
            continue
        found = COMMENTED_KEY.match(line)
        if found and table:
            out.setdefault(table, set()).add(found.group(1))
    return out


def defaults(cls) -> dict:
    out = {}
    for f in fields(cls):
        if f.default is not MISSING:
            out[f.name] = f.default
        elif f.default_factory is not MISSING:
            out[f.name] = f.default_factory()
    return out


def same(value, default) -> bool:
    return (list(value) == list(default)) if isinstance(default, tuple) else value == default


@pytest.fixture(scope="module")
def example() -> dict:
    return tomllib.loads(EXAMPLE.read_text())


def test_every_table_names_exactly_the_keys_that_exist(example):
    comments = commented_keys()
    tables = {
        "service": (example["service"], set(SERVICE_KEYS)),
        "bedrock": (example["bedrock"], set(BEDROCK_KEYS)),
        "benchmarks": ({k: v for k, v in example["benchmarks"].items() if k != "providers"}, set(BENCHMARK_KEYS)),
        "benchmarks.providers.openai": (example["benchmarks"]["providers"]["openai"], set(TARGET_KEYS)),
        "providers.openai": (example["providers"]["openai"], set(PROVIDER_KEYS)),
    }
    for name, (table, known) in tables.items():
        named = set(table) | comments.get(name, set())
        assert not named - known, f"[{name}] names keys that do not exist: {sorted(named - known)}"
        assert not known - named, f"[{name}] is missing keys: {sorted(known - named)}"
        assert not set(table) & comments.get(name, set()), f"[{name}] names a key twice"
    # The tokens are environment only: named in comments, never as keys.
    assert ENV_ONLY_SERVICE_KEYS <= comments["service"] and not ENV_ONLY_SERVICE_KEYS & set(example["service"])


def test_every_value_is_the_default(example):
    checks = [
        (example["service"], defaults(Settings), ()),
        (example["bedrock"], defaults(BedrockSettings), ()),
        ({k: v for k, v in example["benchmarks"].items() if k != "providers"}, defaults(BenchmarkSettings), ()),
        (example["benchmarks"]["providers"]["openai"], defaults(BenchmarkTarget), ()),
        (example["providers"]["openai"], defaults(ProviderConfig), ("format", "api_key_env")),
    ]
    for table, known, chosen in checks:
        for key, value in table.items():
            if key not in chosen:
                assert same(value, known[key]), f"{key} = {value!r} in the example, default {known[key]!r}"


def test_the_example_loads_as_it_is():
    settings = load_settings(EXAMPLE, environ={})
    assert settings.port == 8080 and not settings.bedrock.enabled
    assert [p.name for p in settings.providers] == ["openai", "modelsdev", "litellm"]
    assert settings.benchmarks.target("openai") is not None
