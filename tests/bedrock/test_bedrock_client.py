"""BedrockRegionClient with real boto3 against the simulator's Bedrock control plane over loopback HTTP."""
from __future__ import annotations

import time

import pytest
import requests

from discovery.bedrock import BedrockRegionClient, RegionUnavailable, describe_regions, normalize_region
from discovery.providers.errors import MalformedAnswer, ProviderHTTPError, ProviderTimeout
from discovery.settings import BedrockSettings
from tests.bedrock.conftest import bedrock_settings


def client(simulator, region="us-east-1", **kw):
    latencies: list[float] = []
    return BedrockRegionClient(region, bedrock_settings(simulator, [region], **kw), on_latency=latencies.append), \
        latencies


def test_inference_profiles_are_read_across_every_page_via_next_token(simulator):
    served = [r for r in simulator.state.models("bedrock@us-east-1") if "inferenceProfileId" in r]
    simulator.state.set_page_size("bedrock@us-east-1", 4)
    bedrock, _ = client(simulator)
    profiles = bedrock.list_inference_profiles()
    assert [p["inferenceProfileId"] for p in profiles] == [p["inferenceProfileId"] for p in served]
    pages = [r for r in simulator.state.requests("bedrock@us-east-1") if r["path"].endswith("inference-profiles")]
    assert len(pages) == -(-len(served) // 4) and "nextToken" in pages[-1]["query"]
    assert all(r["auth"] == "sigv4" for r in pages)  # signed by boto3 with the dummy credentials


def test_foundation_models_come_in_one_answer_with_the_fields_boto3_parses(simulator):
    bedrock, _ = client(simulator)
    summaries = bedrock.list_foundation_models()
    assert {s["modelId"] for s in summaries} == {
        r["modelId"] for r in simulator.state.models("bedrock@us-east-1") if "modelId" in r}
    nova = next(s for s in summaries if s["modelId"] == "amazon.nova-pro-v1:0")
    assert nova["inferenceTypesSupported"] and nova["modelLifecycle"]["status"] == "ACTIVE"


def test_each_answered_call_is_timed_including_error_answers(simulator):
    simulator.state.set_latency("bedrock@us-east-1", 0.05)
    bedrock, latencies = client(simulator)
    bedrock.list_foundation_models()
    simulator.state.set_fault("bedrock@us-east-1", "status", status=500, times=1)
    with pytest.raises(ProviderHTTPError, match="InternalServerException"):
        bedrock.list_foundation_models()
    assert len(latencies) == 2 and all(0.05 <= s < 1.0 for s in latencies)


def test_region_not_offering_bedrock_answers_like_aws_and_is_unavailable(simulator):
    resp = requests.get(f"{simulator.url}/bedrock/af-south-1/foundation-models", timeout=5)
    assert resp.status_code == 403
    assert resp.headers["x-amzn-ErrorType"].startswith("UnrecognizedClientException")
    assert resp.json() == {"message": "The security token included in the request is invalid."}
    bedrock, _ = client(simulator, "af-south-1")
    with pytest.raises(RegionUnavailable, match="UnrecognizedClientException"):
        bedrock.list_foundation_models()


def test_unreachable_endpoint_of_a_region_never_reached_is_unavailable(simulator):
    settings = bedrock_settings(simulator, ["us-east-1"], timeout=1.0)
    settings = settings.__class__(**{**settings.__dict__, "endpoint_url": "http://127.0.0.1:9/bedrock/{region}"})
    with pytest.raises(RegionUnavailable, match="unreachable"):
        BedrockRegionClient("us-east-1", settings).list_foundation_models()


def test_describe_regions_lists_the_regions_enabled_for_the_account(simulator):
    regions = describe_regions(bedrock_settings(simulator, ["us-east-1"]))
    assert "us-east-1" in regions and "eu-west-3" in regions
    assert "me-south-1" not in regions  # not opted in


@pytest.mark.parametrize("field,value", [("inferenceTypesSupported", 5), ("modelLifecycle", "ACTIVE")])
def test_an_answer_botocore_cannot_read_by_its_model_is_a_malformed_answer_naming_the_call(simulator, field, value):
    """A member of another type than Bedrock's service model allows fails the call as a malformed
    answer (it escaped as an internal TypeError or AttributeError from botocore's parser)."""
    records = simulator.state.models("bedrock@us-east-1")
    first = next(r for r in records if "modelId" in r)
    first[field] = value
    simulator.state.set_models("bedrock@us-east-1", records)
    bedrock, _ = client(simulator)
    with pytest.raises(MalformedAnswer) as caught:
        bedrock.list_foundation_models()
    assert "bedrock us-east-1 answered with a body of another shape: a member of ListFoundationModelsResponse" \
        in caught.value.reason


def test_a_bug_in_the_clients_own_handlers_is_not_taken_for_a_malformed_answer(simulator):
    """Only botocore's reading of the answer is mapped to a malformed answer: an error raised by
    this project's own code in the call (here the latency callback) is not disguised as one."""
    def broken(seconds: float) -> None:
        raise TypeError("a bug in the latency callback")

    bedrock = BedrockRegionClient("us-east-1", bedrock_settings(simulator, ["us-east-1"]), on_latency=broken)
    with pytest.raises(TypeError, match="latency callback"):
        bedrock.list_foundation_models()


def test_odd_member_types_that_botocore_passes_through_leave_those_fields_unknown():
    """Members botocore hands on as they came (strings and lists of any items) are read only for
    what they should hold; the model and every other one are kept."""
    summaries = [
        {"modelId": "acme.odd-v1", "modelName": "Odd", "inferenceTypesSupported": ["ON_DEMAND", 5, ["x"]],
         "customizationsSupported": [["FINE_TUNING"], "FINE_TUNING"], "inputModalities": ["TEXT", {}],
         "outputModalities": ["TEXT"]},
        {"modelId": "acme.plain-v1", "modelName": "Plain", "inferenceTypesSupported": ["ON_DEMAND"]},
        7,
    ]
    profiles = [{"inferenceProfileId": "us.acme.odd-v1", "models": 5}, "not a profile",
                {"inferenceProfileId": "us.acme.plain-v1", "status": "ACTIVE", "type": "SYSTEM_DEFINED",
                 "models": [{"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/acme.plain-v1"}, 3]}]
    models = {m.provider_model_id: m for m in normalize_region("us-east-1", summaries, profiles)}
    assert set(models) == {"acme.odd-v1", "acme.plain-v1"}
    odd = models["acme.odd-v1"]
    assert list(odd.attributes["inference_types"]) == ["on_demand"]
    assert list(odd.attributes["customizations"]) == ["fine_tuning"] and odd.capabilities.fine_tuning is True
    assert list(models["acme.plain-v1"].attributes["inference_profiles"]) == ["us.acme.plain-v1"]


@pytest.mark.parametrize("token,message", [("same", "a nextToken already followed"),
                                           (5, "a nextToken that is not a string")])
def test_a_next_token_that_loops_or_is_not_a_string_is_malformed_at_once(token, message):
    """A nextToken named again was followed until MAX_PAGES (100 calls); one that is not a string
    failed the next call as botocore's ParamValidationError, a generic error of many lines."""
    from tests.providers.conftest import StubProvider

    stub = StubProvider().start()
    try:
        stub.route("/bedrock/us-east-1/inference-profiles",
                   (200, {"inferenceProfileSummaries": [{"inferenceProfileId": "us.a.m1-v1:0"}], "nextToken": token}))
        settings = BedrockSettings(enabled=True, regions=("us-east-1",), endpoint_url=stub.url + "/bedrock/{region}",
                                   timeout=3.0)
        with pytest.raises(MalformedAnswer, match=f"ListInferenceProfiles answered {message}"):
            BedrockRegionClient("us-east-1", settings).list_inference_profiles()
        assert len(stub.requests) <= 2
    finally:
        stub.stop()


def test_a_bedrock_answer_that_drips_is_cut_at_three_read_timeouts(simulator):
    """botocore read a body whole, each read bounded by the read timeout and the whole by nothing:
    a region sending its answer slowly held the refresh as long as it went on sending."""
    simulator.state.set_fault("bedrock@us-east-1", "drip", bytes_per_second=2000, path="foundation-models")
    bedrock, _ = client(simulator, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match="bedrock us-east-1 sent its answer too slowly"):
        bedrock.list_foundation_models()
    assert time.monotonic() - started < 3.0  # three read timeouts, and a little
    simulator.state.clear_faults("bedrock@us-east-1")
    assert bedrock.list_foundation_models()  # the client goes on with the next answer


def test_a_bedrock_answer_larger_than_the_limit_is_refused_unread():
    """A region answering 40 MB was read and kept whole; it is refused at 32 MiB."""
    from tests.providers.conftest import StubProvider

    stub = StubProvider().start()
    try:
        stub.route("/bedrock/us-east-1/foundation-models", (200, b'{"modelSummaries":[],"pad":"' + b"x" * (40 << 20) + b'"}'))
        settings = BedrockSettings(enabled=True, regions=("us-east-1",), endpoint_url=stub.url + "/bedrock/{region}",
                                   timeout=3.0)
        with pytest.raises(MalformedAnswer, match="bedrock us-east-1 answered with a body larger than 32 MiB"):
            BedrockRegionClient("us-east-1", settings).list_foundation_models()
    finally:
        stub.stop()
