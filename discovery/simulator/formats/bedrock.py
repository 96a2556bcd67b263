"""AWS Bedrock's REST-JSON control plane, one simulated provider per region, and EC2 DescribeRegions.

Each region is its own simulated provider ``bedrock@<region>`` mounted at ``/bedrock/<region>``, so
every knob (latency, faults, page size, request log) is per region, as are the model sets. A
region serves ``GET /foundation-models`` (``ListFoundationModels``: one answer, no pagination, as
on AWS; ``byProvider``/``byOutputModality``/``byInferenceType``/``byCustomizationType`` filters)
and ``GET /inference-profiles`` (``maxResults`` 1-1000 and ``nextToken``). Its records are the
foundation model summaries (keyed by ``modelId``) and the system-defined inference profiles
(keyed by ``inferenceProfileId``, e.g. ``us.anthropic.claude-…``) together.

Fixtures come from the models.dev ``amazon-bedrock`` provider: ids with a ``us.``/``eu.``/``au.``/
``jp.``/``global.`` prefix become inference profiles (``apac.`` where ``au.``/``jp.`` exist) and
their models are reachable only through a profile (``inferenceTypesSupported: INFERENCE_PROFILE``)
in the regions of those geographies; the others are ``ON_DEMAND`` models listed in a stable,
region-dependent subset (all in us-east-1 and us-west-2, fewer elsewhere). A few embedding, image,
video, rerank and ``LEGACY`` models that models.dev lacks are added.

Errors are ``{"message": ...}`` with an ``x-amzn-ErrorType`` header. ``af-south-1`` answers like
a region where Bedrock is not offered to the account (403 ``UnrecognizedClientException``); any
region does so with ``state.set_option(provider, "offered", False)``, and ``"access_denied"``
makes it answer 403 ``AccessDeniedException``.
"""
from __future__ import annotations

import zlib
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from xml.sax.saxutils import escape

from flask import Blueprint, Request, Response, g, request

from discovery.simulator.formats import bedrock_runtime
from discovery.simulator.formats.wire import (
    WireFormat,
    bearer_key,
    decode_page_token,
    encode_page_token,
    error_response,
    json_response,
    page_limit,
    served_items,
    sim_state,
)
from discovery.simulator.sources import modelsdev_models

ACCOUNT = "123456789012"
REGIONS: tuple[str, ...] = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "ca-west-1", "sa-east-1", "mx-central-1",
    "eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-north-1", "eu-south-1", "eu-south-2",
    "il-central-1", "me-central-1", "ap-south-1", "ap-south-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-7",
    "ap-east-2", "me-south-1", "af-south-1",
)
# Answers like a region whose Bedrock the account cannot use (opt-in region not enabled).
NOT_OFFERED = ("af-south-1",)
# Share of the on-demand catalog each region lists (per cent); the rest list LOW_COVERAGE.
COVERAGE = {"us-east-1": 100, "us-west-2": 100, "us-east-2": 75, "eu-central-1": 75, "eu-west-1": 70,
            "eu-west-3": 60, "ap-northeast-1": 70, "ap-southeast-2": 65, "ap-south-1": 60, "eu-north-1": 55}
LOW_COVERAGE = 40
# Where a geography's inference profile sends requests.
GEO_REGIONS = {
    "us": ("us-east-1", "us-east-2", "us-west-2"),
    "eu": ("eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1"),
    "apac": ("ap-northeast-1", "ap-south-1", "ap-southeast-1", "ap-southeast-2"),
    "au": ("ap-southeast-2", "ap-southeast-4"),
    "jp": ("ap-northeast-1", "ap-northeast-3"),
    "global": ("us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1"),
}
GEO_LABELS = {"us": "US", "eu": "EU", "apac": "APAC", "au": "AU", "jp": "JP", "global": "Global"}
PROFILE_GEOS = ("us", "eu", "au", "jp", "global", "apac")
VENDORS = {"amazon": "Amazon", "anthropic": "Anthropic", "cohere": "Cohere", "deepseek": "DeepSeek",
           "google": "Google", "meta": "Meta", "minimax": "MiniMax", "mistral": "Mistral AI",
           "moonshot": "Moonshot AI", "moonshotai": "Moonshot AI", "nvidia": "NVIDIA", "openai": "OpenAI",
           "qwen": "Qwen", "stability": "Stability AI", "writer": "Writer", "xai": "xAI", "zai": "Z.AI"}
# Models the list has that models.dev does not: embeddings, images, video, rerank, legacy ones.
EXTRA_MODELS: tuple[dict[str, Any], ...] = (
    {"modelId": "amazon.titan-embed-text-v2:0", "modelName": "Titan Text Embeddings V2",
     "inputModalities": ["TEXT"], "outputModalities": ["EMBEDDING"], "customizationsSupported": []},
    {"modelId": "cohere.embed-english-v3", "modelName": "Embed English",
     "inputModalities": ["TEXT"], "outputModalities": ["EMBEDDING"], "customizationsSupported": []},
    {"modelId": "amazon.titan-image-generator-v2:0", "modelName": "Titan Image Generator G1 v2",
     "inputModalities": ["TEXT", "IMAGE"], "outputModalities": ["IMAGE"],
     "customizationsSupported": ["FINE_TUNING"]},
    {"modelId": "amazon.nova-canvas-v1:0", "modelName": "Nova Canvas",
     "inputModalities": ["TEXT", "IMAGE"], "outputModalities": ["IMAGE"], "customizationsSupported": []},
    {"modelId": "amazon.nova-reel-v1:1", "modelName": "Nova Reel",
     "inputModalities": ["TEXT", "IMAGE"], "outputModalities": ["VIDEO"], "customizationsSupported": []},
    {"modelId": "cohere.rerank-v3-5:0", "modelName": "Rerank 3.5",
     "inputModalities": ["TEXT"], "outputModalities": ["TEXT"], "customizationsSupported": []},
    {"modelId": "anthropic.claude-3-haiku-20240307-v1:0", "modelName": "Claude 3 Haiku",
     "inputModalities": ["TEXT", "IMAGE"], "outputModalities": ["TEXT"], "customizationsSupported": [],
     "lifecycle": "LEGACY"},
    {"modelId": "anthropic.claude-v2:1", "modelName": "Claude", "inputModalities": ["TEXT"],
     "outputModalities": ["TEXT"], "customizationsSupported": [], "lifecycle": "LEGACY"},
    {"modelId": "amazon.titan-text-express-v1", "modelName": "Titan Text G1 - Express",
     "inputModalities": ["TEXT"], "outputModalities": ["TEXT"],
     "customizationsSupported": ["FINE_TUNING", "CONTINUED_PRE_TRAINING"], "lifecycle": "LEGACY"},
)
ERROR_TYPES = {"bad_request": "ValidationException", "auth": "UnrecognizedClientException",
               "forbidden": "AccessDeniedException", "not_found": "ResourceNotFoundException",
               "rate_limit": "ThrottlingException", "server": "InternalServerException",
               "unavailable": "ServiceUnavailableException"}
STATUS_TYPES = {400: "ValidationException", 403: "AccessDeniedException", 404: "ResourceNotFoundException",
                429: "ThrottlingException", 503: "ServiceUnavailableException"}
INVALID_TOKEN = "The security token included in the request is invalid."
# Regions ``discovery serve --demo`` watches, with plausible round trips from Europe (seconds).
DEMO_LATENCIES = {"us-east-1": 0.09, "us-west-2": 0.15, "eu-central-1": 0.02, "eu-west-1": 0.03,
                  "ap-northeast-1": 0.22, "ap-southeast-2": 0.28, "af-south-1": 0.16}


def provider_for(region: str) -> str:
    """The simulated provider name of a region, ``bedrock@<region>`` (also its source name)."""
    return f"bedrock@{region}"


def _vendor(model_id: str) -> str:
    vendor = model_id.split(".", 1)[0]
    return VENDORS.get(vendor, vendor.title())


def _wire_modalities(names: Any) -> list[str]:
    # Bedrock lists TEXT, IMAGE, EMBEDDING and (for Nova) VIDEO; documents and audio are not listed.
    wanted = {"text": "TEXT", "image": "IMAGE", "video": "VIDEO"}
    return [wanted[n] for n in names or ["text"] if n in wanted]


def _customizations(model_id: str) -> list[str]:
    if model_id.startswith("amazon.nova-") and model_id.split("-")[1] in ("lite", "micro", "pro"):
        return ["FINE_TUNING", "DISTILLATION"]
    if model_id.startswith("meta.llama3-1"):
        return ["FINE_TUNING"]
    return []


@lru_cache(maxsize=1)
def _catalog() -> tuple[dict[str, dict[str, Any]], dict[str, frozenset[str]]]:
    """Region-independent summaries by model id, and the profile geographies of each model."""
    bases: dict[str, dict[str, Any]] = {}
    geos: dict[str, set[str]] = {}
    for record in modelsdev_models("amazon-bedrock"):
        prefix, _, rest = record["id"].partition(".")
        model_id = rest if prefix in PROFILE_GEOS and rest else record["id"]
        if model_id != record["id"]:
            geos.setdefault(model_id, set()).add(prefix)
        if model_id in bases and model_id != record["id"]:
            continue
        modalities = record.get("modalities") or {}
        bases[model_id] = {
            "modelId": model_id, "modelName": record.get("name") or model_id,
            "inputModalities": _wire_modalities(modalities.get("input")),
            "outputModalities": _wire_modalities(modalities.get("output")),
            "customizationsSupported": _customizations(model_id),
            "lifecycle": "LEGACY" if record.get("status") == "deprecated" else "ACTIVE",
        }
    for extra in EXTRA_MODELS:
        bases.setdefault(extra["modelId"], {"lifecycle": "ACTIVE", **extra})
    for model_geos in geos.values():
        if model_geos & {"au", "jp"}:
            model_geos.add("apac")  # APAC profiles route over the whole region, AU and JP within a country
    return bases, {k: frozenset(v) for k, v in geos.items()}


def region_geos(region: str) -> tuple[str, ...]:
    """The inference profile geographies callable from ``region`` (``global`` from all)."""
    if region in NOT_OFFERED:
        return ()
    if region.startswith(("us-", "ca-", "sa-", "mx-")):
        geos = ["us"]
    elif region.startswith(("eu-", "il-", "me-")):
        geos = ["eu"]
    elif region.startswith("ap-"):
        geos = ["apac"]
        if region in GEO_REGIONS["au"]:
            geos.append("au")
        if region in GEO_REGIONS["jp"]:
            geos.append("jp")
    else:
        geos = []
    return (*geos, "global")


def _arn(region: str, model_id: str) -> str:
    return f"arn:aws:bedrock:{region}::foundation-model/{model_id}"


def _summary(region: str, base: Mapping[str, Any], inference_types: list[str]) -> dict[str, Any]:
    model_id = base["modelId"]
    summary: dict[str, Any] = {
        "modelArn": _arn(region, model_id), "modelId": model_id, "modelName": base["modelName"],
        "providerName": _vendor(model_id), "inputModalities": list(base["inputModalities"]),
        "outputModalities": list(base["outputModalities"]),
    }
    if "EMBEDDING" not in base["outputModalities"]:
        # AWS leaves the flag out for embedding models.
        summary["responseStreamingSupported"] = base["outputModalities"] == ["TEXT"]
    summary["customizationsSupported"] = list(base["customizationsSupported"])
    summary["inferenceTypesSupported"] = inference_types
    summary["modelLifecycle"] = {"status": base["lifecycle"]}
    return summary


def _profile(region: str, geo: str, base: Mapping[str, Any]) -> dict[str, Any]:
    model_id = base["modelId"]
    profile_id = f"{geo}.{model_id}"
    targets = GEO_REGIONS[geo]
    return {
        "inferenceProfileName": f"{GEO_LABELS[geo]} {base['modelName']}",
        "description": f"Routes requests to {base['modelName']} in {', '.join(targets)}.",
        "createdAt": "2025-01-15T00:00:00Z", "updatedAt": "2025-06-01T00:00:00Z",
        "inferenceProfileArn": f"arn:aws:bedrock:{region}:{ACCOUNT}:inference-profile/{profile_id}",
        "models": [{"modelArn": _arn(target, model_id)} for target in targets],
        "inferenceProfileId": profile_id, "status": "ACTIVE", "type": "SYSTEM_DEFINED",
    }


def region_records(region: str) -> list[dict[str, Any]]:
    """A region's default records: its foundation model summaries, then its inference profiles."""
    if region in NOT_OFFERED:
        return []
    bases, geos = _catalog()
    coverage = COVERAGE.get(region, LOW_COVERAGE)
    here = set(region_geos(region))
    summaries, profiles = [], []
    for model_id in sorted(bases):
        base = bases[model_id]
        model_geos = geos.get(model_id, frozenset()) & here
        if geos.get(model_id):
            # Newer models are served only through cross-region profiles, where one reaches here.
            if model_geos:
                summaries.append(_summary(region, base, ["INFERENCE_PROFILE"]))
                profiles.extend(_profile(region, geo, base) for geo in PROFILE_GEOS if geo in model_geos)
            continue
        spread = zlib.crc32(f"{region}/{model_id}".encode()) % 100
        if spread < coverage:
            types = ["ON_DEMAND", "PROVISIONED"] if spread % 4 == 0 else ["ON_DEMAND"]
            summaries.append(_summary(region, base, types))
    return summaries + profiles


def record_id(record: Mapping[str, Any]) -> str:
    """A summary's ``modelId`` or a profile's ``inferenceProfileId``."""
    value = record.get("modelId") or record.get("inferenceProfileId") if isinstance(record, Mapping) else None
    if not isinstance(value, str) or not value:
        raise ValueError("a Bedrock record needs a 'modelId' (model) or an 'inferenceProfileId' (profile)")
    return value


def error_body(status: int, kind: str, message: str) -> dict[str, Any]:
    """AWS REST-JSON: the type goes in ``x-amzn-ErrorType`` (added after the request), the body has the message."""
    g.bedrock_error_type = ERROR_TYPES.get(kind)
    return {"message": message}


def key_from(req: Request) -> tuple[str | None, str | None]:
    """The access key id of a SigV4 ``Authorization`` header, or a Bedrock API key (Bearer)."""
    value = req.headers.get("Authorization", "")
    if value.startswith("AWS4-HMAC-SHA256"):
        credential = value.partition("Credential=")[2].split("/", 1)[0]
        return "sigv4", credential or None
    return bearer_key(req)


def auth_failure(key_missing: bool) -> tuple[int, str, str]:
    """AWS answers 403 for a missing or unknown access key."""
    return 403, "auth", "Missing Authentication Token" if key_missing else INVALID_TOKEN


def _provider() -> str:
    return request.blueprint or ""


def _refuse_unless_offered() -> Response | None:
    """A region where Bedrock is not offered, or access is denied, answers every call with 403."""
    state, provider = sim_state(), _provider()
    if not state.option(provider, "offered"):
        return error_response(403, "auth", INVALID_TOKEN)
    if state.option(provider, "access_denied"):
        action = ("bedrock:ListFoundationModels" if request.path.endswith("foundation-models")
                  else "bedrock:InvokeModelWithResponseStream" if "/model/" in request.path
                  else "bedrock:ListInferenceProfiles")
        return error_response(403, "forbidden", f"User: arn:aws:iam::{ACCOUNT}:user/discovery is not authorized "
                                                f"to perform: {action} because no identity-based policy allows "
                                                f"the {action} action")
    return None


def _add_error_type(response: Response) -> Response:
    if response.status_code >= 400 and "x-amzn-ErrorType" not in response.headers:
        kind = g.pop("bedrock_error_type", None) or STATUS_TYPES.get(response.status_code, "InternalServerException")
        response.headers["x-amzn-ErrorType"] = f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"
    response.headers.setdefault("x-amzn-RequestId", "7f3c8a52-0d6e-4f1b-9d1a-5b2c3e4f6a7b")
    return response


def list_foundation_models():
    """``ListFoundationModels`` with its filters. :raise 400: an unknown filter value."""
    records = [r for _, r in served_items(_provider()) if "modelId" in r]
    filters = {"byProvider": lambda r, v: str(r.get("providerName", "")).lower() == v.lower(),
               "byOutputModality": lambda r, v: v in (r.get("outputModalities") or ()),
               "byInferenceType": lambda r, v: v in (r.get("inferenceTypesSupported") or ()),
               "byCustomizationType": lambda r, v: v in (r.get("customizationsSupported") or ())}
    allowed = {"byOutputModality": ("TEXT", "IMAGE", "EMBEDDING"), "byInferenceType": ("ON_DEMAND", "PROVISIONED"),
               "byCustomizationType": ("FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION")}
    for name, keep in filters.items():
        value = request.args.get(name)
        if value is None:
            continue
        if name in allowed and value not in allowed[name]:
            return error_response(400, "bad_request", f"1 validation error detected: Value '{value}' at "
                                                      f"'{name}' failed to satisfy constraint: Member must "
                                                      f"satisfy enum value set: [{', '.join(allowed[name])}]")
        records = [r for r in records if keep(r, value)]
    return json_response({"modelSummaries": records})


def list_inference_profiles():
    """``ListInferenceProfiles``, paged by ``maxResults``/``nextToken``. :raise 400: a bad page size or token."""
    provider = _provider()
    size = page_limit(request.args.get("maxResults"), 1000, 1000, sim_state().page_size(provider), strict=True)
    if size is None:
        return error_response(400, "bad_request", "1 validation error detected: Value at 'maxResults' failed "
                                                  "to satisfy constraint: Member must have value between 1 and 1000")
    token = request.args.get("nextToken")
    start = decode_page_token(token) if token else 0
    if start is None:
        return error_response(400, "bad_request", "The provided pagination token is invalid.")
    wanted = request.args.get("type", "SYSTEM_DEFINED")
    if wanted not in ("SYSTEM_DEFINED", "APPLICATION"):
        return error_response(400, "bad_request", f"Value '{wanted}' at 'typeEquals' failed to satisfy constraint")
    items = [r for _, r in served_items(provider) if "inferenceProfileId" in r and r.get("type") == wanted]
    body: dict[str, Any] = {"inferenceProfileSummaries": items[start:start + size]}
    if start + size < len(items):
        body["nextToken"] = encode_page_token(start + size)
    return json_response(body)


def _region_format(region: str) -> WireFormat:
    provider = provider_for(region)
    blueprint = Blueprint(provider, __name__)
    blueprint.before_request(_refuse_unless_offered)
    blueprint.after_request(_add_error_type)
    blueprint.add_url_rule("/foundation-models", "list_foundation_models", list_foundation_models)
    blueprint.add_url_rule("/inference-profiles", "list_inference_profiles", list_inference_profiles)
    # Bedrock Runtime answers on the same simulated endpoint (point both boto3 clients at it).
    blueprint.add_url_rule("/model/<path:model_id>/converse-stream", "converse_stream", bedrock_runtime.converse_stream,
                           methods=["POST"])
    blueprint.add_url_rule("/model/<path:model_id>/invoke", "invoke", bedrock_runtime.invoke, methods=["POST"])
    return WireFormat(
        provider=provider, url_prefix=f"/bedrock/{region}", blueprint=blueprint,
        default_records=lambda: region_records(region), record_id=record_id, error_body=error_body,
        key_from=key_from, auth_failure=auth_failure, default_page_size=None,
        options={"offered": region not in NOT_OFFERED, "access_denied": False},
    )


# -- EC2 DescribeRegions (for bedrock.discover_regions) -------------------------------------------
EC2 = "ec2"
OPT_IN = {"ap-east-2": "opted-in", "me-south-1": "not-opted-in", "af-south-1": "opted-in",
          "ap-southeast-7": "not-opted-in", "mx-central-1": "opted-in", "il-central-1": "opted-in"}
ec2_blueprint = Blueprint(EC2, __name__)


def ec2_records() -> list[dict[str, Any]]:
    """Every region with its opt-in status."""
    return [{"regionName": r, "optInStatus": OPT_IN.get(r, "opt-in-not-required")} for r in REGIONS]


def _ec2_error(status: int, kind: str, message: str) -> dict[str, Any]:
    return {"Response": {"Errors": {"Error": {"Code": ERROR_TYPES.get(kind, "InternalError"), "Message": message}}}}


@ec2_blueprint.route("", methods=["GET", "POST"])
@ec2_blueprint.route("/", methods=["GET", "POST"])
def describe_regions():
    """``DescribeRegions`` (query protocol, XML): the enabled regions, or all with ``AllRegions=true``."""
    params = {**request.args, **request.form}
    if params.get("Action") != "DescribeRegions":
        return error_response(400, "bad_request",
                              f"The action {params.get('Action')} is not valid for this web service.")
    everything = str(params.get("AllRegions", "false")).lower() == "true"
    items = "".join(
        f"<item><regionName>{escape(r['regionName'])}</regionName>"
        f"<regionEndpoint>ec2.{escape(r['regionName'])}.amazonaws.com</regionEndpoint>"
        f"<optInStatus>{escape(r['optInStatus'])}</optInStatus></item>"
        for _, r in served_items(EC2) if everything or r.get("optInStatus") != "not-opted-in")
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<DescribeRegionsResponse '
            'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>5d1e6a2b-sim</requestId>'
            f"<regionInfo>{items}</regionInfo></DescribeRegionsResponse>")
    return Response(body, mimetype="text/xml")


EC2_FORMAT = WireFormat(provider=EC2, url_prefix="/ec2", blueprint=ec2_blueprint, default_records=ec2_records,
                        record_id=lambda r: r["regionName"], error_body=_ec2_error, key_from=key_from,
                        auth_failure=auth_failure)
REGION_FORMATS: tuple[WireFormat, ...] = tuple(_region_format(r) for r in REGIONS)
FORMATS: tuple[WireFormat, ...] = (*REGION_FORMATS, EC2_FORMAT)
# Base URLs a client is configured with: the endpoint URL of each region, and of EC2.
BASE_PATHS: dict[str, str] = {fmt.provider: fmt.url_prefix for fmt in FORMATS}
