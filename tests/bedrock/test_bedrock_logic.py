"""The plain Bedrock logic: normalization, combining regions, ranking, latency, errors, settings."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from discovery.bedrock import (
    Ewma,
    RegionFold,
    RegionStatus,
    RegionUnavailable,
    UnknownBedrockModel,
    classify_error,
    combine_region_sources,
    combine_regions,
    normalize_region,
    rank_regions,
    region_details,
    resolve_model,
)
from discovery.providers.errors import (
    ProviderAuthError,
    ProviderHTTPError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnreachable,
)
from discovery.settings import SettingsError
from discovery.settings_reader import load_bedrock_settings

ARN = "arn:aws:bedrock:{region}::foundation-model/{model}"


def summary(model_id, region="us-east-1", types=("ON_DEMAND",), inputs=("TEXT",), outputs=("TEXT",), **kw):
    """A FoundationModelSummary as boto3 returns it."""
    out = {"modelArn": ARN.format(region=region, model=model_id), "modelId": model_id, "modelName": model_id,
           "providerName": "Amazon", "inputModalities": list(inputs), "outputModalities": list(outputs),
           "customizationsSupported": [], "inferenceTypesSupported": list(types),
           "modelLifecycle": {"status": "ACTIVE"}}
    if "EMBEDDING" not in outputs:
        out["responseStreamingSupported"] = True
    out.update(kw)
    return out


def profile(profile_id, model_id, targets=("us-east-1", "us-west-2")):
    """A system-defined InferenceProfileSummary routing to ``model_id`` in ``targets``."""
    return {"inferenceProfileId": profile_id, "inferenceProfileName": f"US {model_id}",
            "inferenceProfileArn": f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/{profile_id}",
            "models": [{"modelArn": ARN.format(region=r, model=model_id)} for r in targets],
            "status": "ACTIVE", "type": "SYSTEM_DEFINED"}


def client_error(code, status, message="boom"):
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "ListFoundationModels")


def test_legacy_lifecycle_maps_to_legacy_and_the_model_is_kept():
    (m,) = normalize_region("us-east-1", [summary("anthropic.claude-v2:1", modelLifecycle={"status": "LEGACY"})])
    assert m.id == "bedrock/anthropic.claude-v2:1" and m.lifecycle.status == "legacy"


def test_modalities_streaming_inference_types_and_kind_are_mapped():
    models = {m.provider_model_id: m for m in normalize_region("us-east-1", [
        summary("amazon.nova-pro-v1:0", types=("ON_DEMAND", "PROVISIONED"), inputs=("TEXT", "IMAGE", "VIDEO"),
                customizationsSupported=["FINE_TUNING"]),
        summary("amazon.titan-embed-text-v2:0", outputs=("EMBEDDING",)),
        summary("amazon.nova-canvas-v1:0", inputs=("TEXT", "IMAGE"), outputs=("IMAGE",)),
    ])}
    nova = models["amazon.nova-pro-v1:0"]
    assert nova.modalities.input == ("text", "image", "video") and nova.kind == "chat"
    assert nova.capabilities.vision is True and nova.capabilities.streaming is True
    assert nova.capabilities.fine_tuning is True
    assert nova.attributes["inference_types"] == ("on_demand", "provisioned")
    embed = models["amazon.titan-embed-text-v2:0"]
    assert embed.kind == "embedding" and embed.capabilities.streaming is None  # unsaid stays unknown
    assert embed.capabilities.vision is False and embed.capabilities.fine_tuning is False
    assert models["amazon.nova-canvas-v1:0"].kind == "image"


def test_model_reached_only_through_a_profile_is_listed_with_its_profile_ids():
    models = normalize_region("eu-west-1", [summary("amazon.nova-lite-v1:0")],
                              [profile("eu.anthropic.claude-x", "anthropic.claude-x", ("eu-west-1", "eu-west-3"))])
    by_id = {m.provider_model_id: m for m in models}
    claude = by_id["anthropic.claude-x"]
    assert claude.regions == ("eu-west-1",)
    assert claude.attributes["inference_profiles"] == ("eu.anthropic.claude-x",)
    assert region_details(claude)["eu-west-1"]["access"] == "inference_profile"
    assert region_details(by_id["amazon.nova-lite-v1:0"])["eu-west-1"]["access"] == "direct"


def test_combining_regions_lists_each_model_once_with_the_union_of_regions_and_profiles_per_region():
    east = normalize_region("us-east-1", [summary("a.model", types=("INFERENCE_PROFILE",))],
                            [profile("us.a.model", "a.model")])
    europe = normalize_region("eu-west-1", [summary("a.model", region="eu-west-1",
                                                    modelLifecycle={"status": "LEGACY"})],
                              [profile("eu.a.model", "a.model", ("eu-west-1",))])
    (m,) = combine_regions({"us-east-1": east, "eu-west-1": europe})
    assert m.regions == ("eu-west-1", "us-east-1")
    assert m.attributes["inference_profiles"] == ("eu.a.model", "us.a.model")
    details = region_details(m)
    assert details["us-east-1"] == {"access": "inference_profile", "inference_types": ["inference_profile"],
                                    "inference_profiles": ["us.a.model"], "lifecycle": "active", "customizations": []}
    assert details["eu-west-1"]["access"] == "direct" and details["eu-west-1"]["lifecycle"] == "legacy"
    assert m.lifecycle.status == "active"  # legacy in one region, active in another: still usable


def test_what_differs_by_region_is_kept_per_region_and_account_profiles_are_not_system_routes():
    east = normalize_region("us-east-1", [summary("a.model", customizationsSupported=["FINE_TUNING"])],
                            [profile("us.a.model", "a.model"),
                             {**profile("arn-app-profile", "a.model"), "type": "APPLICATION"}])
    west = normalize_region("us-west-2", [summary("a.model", region="us-west-2", types=("PROVISIONED",),
                                                  modelLifecycle={"status": "LEGACY"})])
    (m,) = combine_regions({"us-east-1": east, "us-west-2": west})
    details = region_details(m)
    assert details["us-east-1"]["customizations"] == ["fine_tuning"] and details["us-west-2"]["customizations"] == []
    assert details["us-east-1"]["inference_types"] == ["inference_profile", "on_demand"]
    assert details["us-west-2"]["inference_types"] == ["provisioned"] and details["us-west-2"]["lifecycle"] == "legacy"
    assert m.capabilities.fine_tuning is True  # offered in one region
    assert m.attributes["inference_profiles"] == ("us.a.model",)  # the application profile is not a route


def test_region_fold_recombines_only_the_regions_that_changed():
    fold = RegionFold()
    east = {m.id: m for m in normalize_region("us-east-1", [summary("a.model"), summary("b.model")])}
    west = {m.id: m for m in normalize_region("us-west-2", [summary("a.model", region="us-west-2")])}
    first = fold.combine({"us-east-1": east, "us-west-2": west})
    assert fold.combine({"us-east-1": east, "us-west-2": west}) is first
    # A new dict holding the same records (the catalog's unchanged refresh) keeps the same models.
    again = fold.combine({"us-east-1": dict(east), "us-west-2": west})
    assert all(again[k] is first[k] for k in first)
    gone = fold.combine({"us-east-1": east, "us-west-2": {}})
    assert gone["bedrock/a.model"].regions == ("us-east-1",)


def test_region_sources_are_folded_into_one_bedrock_source_in_place():
    east = {m.id: m for m in normalize_region("us-east-1", [summary("a.model")])}
    other = {"openai/gpt-4o": object()}
    out = combine_region_sources({"openai": other, "bedrock@us-east-1": east, "modelsdev": {}})
    assert list(out) == ["openai", "bedrock", "modelsdev"]
    assert list(out["bedrock"]) == ["bedrock/a.model"]


def test_ewma_weights_the_newest_call_by_alpha():
    avg = Ewma(0.5)
    assert avg.add(1.0) == 1.0
    assert avg.add(0.0) == 0.5
    assert avg.add(0.5) == 0.5 and avg.samples == 3
    with pytest.raises(ValueError):
        Ewma(0)


def test_ranking_puts_preferred_regions_first_in_order_then_healthy_ones_by_latency():
    statuses = {"us-east-1": RegionStatus("us-east-1", "available", latency=0.3),
                "us-west-2": RegionStatus("us-west-2", "available", latency=0.1),
                "eu-west-1": RegionStatus("eu-west-1", "available", latency=0.2),
                "ap-south-1": RegionStatus("ap-south-1", "available"),
                "sa-east-1": RegionStatus("sa-east-1", "circuit_open", latency=0.01)}
    available = list(statuses)
    assert rank_regions(available, (), statuses) == ["us-west-2", "eu-west-1", "us-east-1", "ap-south-1",
                                                     "sa-east-1"]
    assert rank_regions(available, ("us-east-1", "mars-1", "eu-west-1", "us-east-1"), statuses) == [
        "us-east-1", "eu-west-1", "us-west-2", "ap-south-1", "sa-east-1"]


def test_errors_that_mean_no_bedrock_here_mark_the_region_unavailable():
    for code, status in (("UnrecognizedClientException", 403), ("AccessDeniedException", 403), ("404", 404)):
        assert isinstance(classify_error(client_error(code, status), "af-south-1"), RegionUnavailable)
    assert type(classify_error(client_error("InternalServerException", 500), "x")) is ProviderHTTPError
    assert isinstance(classify_error(client_error("ThrottlingException", 429), "x"), ProviderRateLimited)
    assert isinstance(classify_error(ReadTimeoutError(endpoint_url="http://x"), "x"), ProviderTimeout)
    unreachable = EndpointConnectionError(endpoint_url="http://bedrock.xx-nowhere-1.amazonaws.com")
    assert isinstance(classify_error(unreachable, "xx-nowhere-1"), RegionUnavailable)
    # The same answer where every account may call, or where these credentials were answered
    # before, is the credentials.
    for region, answered in (("us-east-1", False), ("eu-west-3", False), ("af-south-1", True)):
        wrong = classify_error(client_error("UnrecognizedClientException", 403), region, ever_answered=answered)
        assert type(wrong) is ProviderAuthError and "AWS does not know these credentials" in str(wrong)
    assert isinstance(classify_error(client_error("AccessDeniedException", 403), "us-east-1"), RegionUnavailable)
    # A region that answered before and now cannot be reached is going dark, not absent.
    dark = classify_error(ConnectTimeoutError(endpoint_url="http://x"), "us-east-1", ever_answered=True)
    assert type(dark) is ProviderUnreachable


def test_a_model_is_found_by_canonical_id_bare_id_or_inference_profile_id():
    (m,) = normalize_region("us-east-1", [summary("a.model", types=("INFERENCE_PROFILE",))],
                            [profile("us.a.model", "a.model")])
    lookup = {m.id: m}.get
    for asked in ("bedrock/a.model", "a.model", "us.a.model", "bedrock/us.a.model"):
        assert resolve_model([m], lookup, asked) is m
    with pytest.raises(UnknownBedrockModel):
        resolve_model([m], lookup, "bedrock/b.model")


def test_bedrock_is_on_when_configured_or_aws_credentials_are_in_the_environment():
    assert load_bedrock_settings(None, {}).enabled is False
    assert load_bedrock_settings(None, {"AWS_ACCESS_KEY_ID": "x"}).enabled is True
    assert load_bedrock_settings({}, {}).enabled is True
    assert load_bedrock_settings({"enabled": False}, {"AWS_PROFILE": "dev"}).enabled is False
    env = {"DISCOVERY_BEDROCK_REGIONS": "us-east-1, eu-west-1", "DISCOVERY_BEDROCK_DISCOVER_REGIONS": "true"}
    cfg = load_bedrock_settings({"regions": ["ap-south-1"], "refresh_interval": 60}, env)
    assert cfg.regions == ("us-east-1", "eu-west-1") and cfg.discover_regions is True
    assert cfg.refresh_interval == 60.0


@pytest.mark.parametrize("key,value,bound", [
    ("fail_max", 0, "at least 1"), ("fail_max", -3, "at least 1"), ("jitter", 1.5, "at least 0 and at most 1"),
    ("jitter", -0.1, "at least 0 and at most 1"), ("max_removal_ratio", 2, "at least 0 and at most 1"),
    ("latency_alpha", 0, "more than 0 and at most 1"), ("reset_timeout", 0, "more than 0"),
    ("unavailable_recheck_interval", -1, "more than 0"), ("health_check_interval", -1, "at least 0"),
])
def test_bedrock_numbers_out_of_bounds_are_refused_naming_where_they_came_from(key, value, bound):
    # A jitter past 1 could make a region's next refresh due at once, again and again; a fail_max
    # of 0 opened its breaker without a failure. The error names the file's key or the variable.
    with pytest.raises(SettingsError, match=rf"^bedrock\.{key}: must be {bound}, got {value}(\.0)?$"):
        load_bedrock_settings({key: value}, {})
    var = f"DISCOVERY_BEDROCK_{key.upper()}"
    with pytest.raises(SettingsError, match=rf"^{var}: must be {bound}, got {value}(\.0)?$"):
        load_bedrock_settings({key: 1}, {var: str(value)})


@pytest.mark.parametrize("table", [
    {"aws_secret_access_key": "x"},
    {"regions": ["us-east-1", "Narnia"]},
    {"endpoint_url": "http://127.0.0.1:9090/bedrock"},
    {"refresh_intervall": 5},
    {"latency_alpha": 2},
])
def test_bad_bedrock_settings_are_refused_with_the_key_named(table):
    with pytest.raises(SettingsError, match=next(iter(table))):
        load_bedrock_settings(table, {})
