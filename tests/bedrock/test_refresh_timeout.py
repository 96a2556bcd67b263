"""A Bedrock region's refresh_timeout: every call of one refresh together, real boto3 against the simulator."""
from __future__ import annotations

import time

import pytest

from discovery.bedrock import BedrockRegionClient
from discovery.providers.errors import ProviderTimeout
from discovery.settings import SettingsError
from discovery.settings_reader import load_bedrock_settings
from tests.bedrock.conftest import bedrock_settings


def region_row(service, region):
    return next(r for r in service.bedrock_regions() if r["region"] == region)


def test_region_slower_than_its_refresh_timeout_fails_keeps_its_models_and_recovers(start_bedrock, simulator):
    service = start_bedrock(("us-east-1", "eu-west-1"), refresh_timeout=0.5)
    before = {m.id: m.regions for m in service.index.by_provider["bedrock"]}
    assert region_row(service, "us-east-1")["status"] == "available"

    # Each call is within its own timeout (3 s); the refresh is not within its refresh_timeout.
    simulator.state.set_latency("bedrock@us-east-1", 2.0)
    started = time.monotonic()
    (outcome,) = service.wait(service.refresh_bedrock(["us-east-1"]), timeout=10)
    assert time.monotonic() - started < 1.5  # cut at the deadline, not when the answers came
    assert outcome.outcome == "failed"
    assert "bedrock us-east-1 took longer than refresh_timeout (0.5s)" in outcome.error

    row = region_row(service, "us-east-1")
    assert row["status"] == "failing" and "refresh_timeout" in row["last_error"]
    assert row["fail_counter"] == 1  # a failure for this region's breaker, as a timeout is
    assert region_row(service, "eu-west-1")["fail_counter"] == 0
    # The last good answer stays: no model lost the region.
    assert {m.id: m.regions for m in service.index.by_provider["bedrock"]} == before

    simulator.state.set_latency("bedrock@us-east-1", 0.0)
    (outcome,) = service.wait(service.refresh_bedrock(["us-east-1"]), timeout=10)
    assert outcome.outcome == "succeeded"
    row = region_row(service, "us-east-1")
    assert row["status"] == "available" and row["fail_counter"] == 0


def test_profile_pages_each_in_time_together_end_at_the_refresh_timeout(simulator):
    """Every page answers well within ``timeout``; a paged listing still stops at the deadline, and
    no page is asked for after it."""
    simulator.state.set_page_size("bedrock@us-east-1", 1)
    simulator.state.set_latency("bedrock@us-east-1", 0.1)
    bedrock = BedrockRegionClient("us-east-1", bedrock_settings(simulator, ["us-east-1"], refresh_timeout=0.35))
    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match=r"refresh_timeout \(0.35s\).*cut at ListInferenceProfiles"):
        bedrock.list_inference_profiles(started + 0.35)
    pages = [r for r in simulator.state.requests("bedrock@us-east-1") if r["path"].endswith("inference-profiles")]
    assert 2 <= len(pages) <= 4


def test_an_answer_dripping_past_the_refresh_timeout_is_cut_there(simulator):
    simulator.state.set_fault("bedrock@us-east-1", "drip", bytes_per_second=2000, path="foundation-models")
    bedrock = BedrockRegionClient("us-east-1", bedrock_settings(simulator, ["us-east-1"], refresh_timeout=0.3))
    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match="took longer than refresh_timeout"):
        bedrock.list_foundation_models(started + 0.3)
    assert time.monotonic() - started < 1.5  # not three read timeouts (9 s)


@pytest.mark.parametrize("value", [0, -1.5])
def test_a_bedrock_refresh_timeout_not_above_zero_is_refused(value):
    with pytest.raises(SettingsError, match=rf"bedrock\.refresh_timeout: must be more than 0, got {value}"):
        load_bedrock_settings({"refresh_timeout": value}, {})
    with pytest.raises(SettingsError, match=rf"DISCOVERY_BEDROCK_REFRESH_TIMEOUT: must be more than 0, got {value}"):
        load_bedrock_settings(None, {"DISCOVERY_BEDROCK_REFRESH_TIMEOUT": str(value)})
    assert load_bedrock_settings({}, {}).refresh_timeout == 300.0
    assert load_bedrock_settings({"refresh_timeout": 0.5}, {}).refresh_timeout == 0.5
