"""Benchmark fixtures: a simulator per test, dummy AWS credentials for real boto3, probes pointed at it."""
from __future__ import annotations

import sys

import pytest
import requests

from discovery.bedrock import make_client
from discovery.benchmark import wake
from discovery.benchmark.formats import BedrockProbe, probe_for
from discovery.settings import BedrockSettings, ProviderConfig

KEY_ENV = "DISCOVERY_TEST_BENCH_KEY"


@pytest.fixture(autouse=True)
def bench_env(monkeypatch, tmp_path):
    """A key for the HTTP formats, dummy AWS credentials and nothing of the developer's AWS set-up."""
    monkeypatch.setenv(KEY_ENV, "sk-bench-test")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTBENCH")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-not-real")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def switch_interval():
    """The service's thread switch interval (1 ms), so the simulator's threads get the GIL promptly."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    yield
    sys.setswitchinterval(before)


def http_probe(simulator, name: str, fmt: str, route: str | None = None, session: requests.Session | None = None,
               **options):
    """A probe of ``fmt`` pointed at the simulator's ``route``."""
    cfg = ProviderConfig(name=name, format=fmt, base_url=simulator.base_url(route or name), api_key_env=KEY_ENV,
                         options=options)
    return probe_for(cfg, session or requests.Session(), 10.0)


def bedrock_probe(simulator, region: str) -> BedrockProbe:
    """A Bedrock Runtime probe for ``region`` through real boto3 aimed at the simulator."""
    client = make_client("bedrock-runtime", region, BedrockSettings(timeout=10.0), f"{simulator.url}/bedrock/{region}")
    return BedrockProbe(client, region, 10.0)


def on_demand_text_model(simulator, region: str) -> str:
    """A chat model the region serves on demand."""
    return min(k for k, r in simulator.state.model_items(f"bedrock@{region}")
               if "ON_DEMAND" in r.get("inferenceTypesSupported", ()) and r.get("outputModalities") == ["TEXT"])



def idle_penalty_ms(simulator) -> float:
    """How much later the simulator answers after a pause (discovery/benchmark/wake.py)."""
    return wake.idle_penalty_ms(f"{simulator.url}/_admin/")
