"""Bedrock fixtures: dummy AWS credentials for real boto3, settings pointed at the simulator."""
from __future__ import annotations

import pytest

from discovery.settings import BedrockSettings, Settings
from tests.conftest import wait_for


@pytest.fixture(autouse=True)
def aws_env(monkeypatch, tmp_path):
    """Dummy credentials, and nothing of the developer's own AWS set-up (files, profile, IMDS)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTBEDROCK")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-not-real")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)


def bedrock_settings(simulator, regions, **kw) -> BedrockSettings:
    """Bedrock on for ``regions``, boto3 pointed at the simulator, a long interval (start-up refresh only)."""
    kw.setdefault("refresh_interval", 3600.0)
    kw.setdefault("timeout", 3.0)
    kw.setdefault("fail_max", 2)
    kw.setdefault("reset_timeout", 30.0)
    return BedrockSettings(enabled=True, regions=tuple(regions), endpoint_url=simulator.url + "/bedrock/{region}",
                           ec2_endpoint_url=simulator.url + "/ec2", **kw)


def regions_settled(service, regions) -> bool:
    """Every region has finished its first refresh (available or unavailable)."""
    rows = {r["region"]: r for r in service.bedrock_regions()}
    return all(rows.get(r, {}).get("last_refresh_at") and not rows[r]["refreshing"] for r in regions)


@pytest.fixture
def start_bedrock(start_service, simulator):
    """Start a service watching Bedrock regions (no other providers); waits for the first refreshes."""

    def start(regions, latencies=None, **kw):
        for region in regions:
            simulator.state.models(f"bedrock@{region}")  # build the fixture now, not in the first timed call
        for region, seconds in (latencies or {}).items():
            simulator.state.set_latency(f"bedrock@{region}", seconds)
        service = start_service([], bedrock=bedrock_settings(simulator, regions, **kw))
        wait_for(lambda: regions_settled(service, regions), timeout=20, what="every region's first refresh")
        return service

    return start


__all__ = ["Settings", "bedrock_settings", "regions_settled"]
