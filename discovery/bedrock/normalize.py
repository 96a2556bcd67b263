"""One Bedrock region's answer (foundation model summaries and inference profiles) as models."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from discovery.bedrock.regions import PROVIDER, source_name
from discovery.draft import ModelDraft
from discovery.model import Model
from discovery.taxonomy import (
    as_list,
    guess_kind,
    iso_date,
    kind_from_modalities,
    normalize_modalities,
)

MODALITY_WORDS = {"speech": "audio"}
INFERENCE_TYPES = {"ON_DEMAND": "on_demand", "PROVISIONED": "provisioned", "INFERENCE_PROFILE": "inference_profile"}
LIFECYCLE = {"ACTIVE": "active", "LEGACY": "legacy"}
_ARN_MODEL = re.compile(r"^arn:[\w-]+:bedrock:[\w-]*:\d*:foundation-model/(?P<id>.+)$")
_PROFILE_GEO = re.compile(r"^(?:us|eu|apac|global|au|jp|ca|us-gov)\s+", re.IGNORECASE)



# -- normalization -------------------------------------------------------------------------------
def model_id_from_arn(arn: Any) -> str | None:
    """``anthropic.claude-…`` from ``arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-…``."""
    match = _ARN_MODEL.match(arn) if isinstance(arn, str) else None
    return match.group("id") if match else None


def _jsonable(value: Any) -> Any:
    """boto3 parses timestamps into datetimes; records keep ISO strings."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _modalities(values: Any) -> tuple[str, ...] | None:
    if not isinstance(values, list):
        return None
    return normalize_modalities(MODALITY_WORDS.get(str(v).lower(), str(v)) for v in values)


def _profiles_by_model(profiles: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Model id → ids of the active inference profiles (callable from this region) that route to it."""
    via: dict[str, list[str]] = {}
    for profile in profiles:
        pid = profile.get("inferenceProfileId") if isinstance(profile, Mapping) else None
        if not isinstance(pid, str) or profile.get("status", "ACTIVE") != "ACTIVE":
            continue
        if profile.get("type", "SYSTEM_DEFINED") != "SYSTEM_DEFINED":
            continue  # an application (account) profile is the account's own, not a system route
        for target in as_list(profile.get("models")):
            model_id = model_id_from_arn(target.get("modelArn") if isinstance(target, Mapping) else None)
            if model_id and pid not in via.setdefault(model_id, []):
                via[model_id].append(pid)
    return via


# Attributes that map a value to the regions it holds in; combining regions is a union of each list.
REGION_GROUPS = ("regions_by_inference_type", "regions_by_profile", "regions_by_lifecycle",
                 "regions_by_customization")


def _region_groups(region: str, types: Sequence[str], profiles: Sequence[str], lifecycle: str | None,
                   customizations: Sequence[str] = ()) -> dict:
    """This region's entries of the REGION_GROUPS attributes."""
    return {"regions_by_inference_type": {t: [region] for t in types},
            "regions_by_profile": {p: [region] for p in profiles},
            "regions_by_lifecycle": {lifecycle: [region]} if lifecycle else {},
            "regions_by_customization": {c: [region] for c in customizations}}


def normalize_summary(region: str, summary: Mapping[str, Any], profiles: Sequence[str] = ()) -> Model:
    """One ``FoundationModelSummary`` of one region as a :class:`Model` (``regions`` = that region)."""
    model_id = summary["modelId"]
    draft = ModelDraft(PROVIDER, model_id, source_name(region))
    draft.set("name", summary.get("modelName"))
    inputs, outputs = _modalities(summary.get("inputModalities")), _modalities(summary.get("outputModalities"))
    draft.set("modalities.input", inputs)
    draft.set("modalities.output", outputs)
    if inputs is not None:
        draft.set("capabilities.vision", "image" in inputs)
    if isinstance(summary.get("responseStreamingSupported"), bool):
        draft.set("capabilities.streaming", summary["responseStreamingSupported"])
    customizations = summary.get("customizationsSupported")
    if isinstance(customizations, list):
        stated = {c for c in customizations if isinstance(c, str)}
        draft.set("capabilities.fine_tuning", bool({"FINE_TUNING", "CONTINUED_PRE_TRAINING"} & stated))
    kind = "rerank" if "rerank" in model_id else kind_from_modalities(inputs, outputs)
    draft.set("kind", kind)
    draft.guess("kind", guess_kind(model_id))
    lifecycle = summary.get("modelLifecycle")
    lifecycle = lifecycle if isinstance(lifecycle, Mapping) else {}
    status = LIFECYCLE.get(str(lifecycle.get("status", "")).upper())
    draft.set("lifecycle.status", status)
    draft.set("lifecycle.release_date", iso_date(_jsonable(lifecycle.get("startOfLifeTime"))))
    # Bedrock's legacyTime starts the legacy (discouraged) period; endOfLifeTime ends access.
    draft.set("lifecycle.deprecation_date", iso_date(_jsonable(lifecycle.get("legacyTime")
                                                                or lifecycle.get("endOfLifeTime"))))
    draft.set("lifecycle.retirement_date", iso_date(_jsonable(lifecycle.get("endOfLifeTime"))))
    draft.set("regions", (region,))
    types = [INFERENCE_TYPES.get(t, t.lower()) for t in as_list(summary.get("inferenceTypesSupported")) if isinstance(t, str)]
    if profiles and "inference_profile" not in types:
        types.append("inference_profile")
    custom = sorted(c.lower() for c in as_list(customizations) if isinstance(c, str))
    attributes: dict[str, Any] = {
        "provider_name": summary.get("providerName"),
        "inference_types": sorted(types),
        "customizations": custom,
        "inference_profiles": sorted(profiles),
        **_region_groups(region, sorted(types), profiles, status, custom),
    }
    return draft.build(attributes=attributes, raw=_jsonable(summary))


def _profile_only(region: str, model_id: str, profile_ids: Sequence[str],
                  profiles: Mapping[str, Mapping[str, Any]]) -> Model:
    """A model this region does not list but reaches through inference profiles."""
    draft = ModelDraft(PROVIDER, model_id, source_name(region))
    first = profiles.get(profile_ids[0]) or {}
    name = first.get("inferenceProfileName")
    draft.set("name", _PROFILE_GEO.sub("", name) if isinstance(name, str) else None)
    draft.set("regions", (region,))
    draft.guess("kind", guess_kind(model_id))
    types = ["inference_profile"]
    attributes = {"inference_types": types, "inference_profiles": sorted(profile_ids),
                  **_region_groups(region, types, sorted(profile_ids), None)}
    raw = {"inferenceProfiles": [_jsonable(profiles[p]) for p in profile_ids if p in profiles]}
    return draft.build(attributes=attributes, raw=raw)


def normalize_region(region: str, summaries: Iterable[Mapping[str, Any]],
                     profiles: Iterable[Mapping[str, Any]] = ()) -> list[Model]:
    """One region's answer as models: every listed model, plus those reached only through a profile."""
    profiles = list(profiles)
    by_id = {p["inferenceProfileId"]: p for p in profiles
             if isinstance(p, Mapping) and isinstance(p.get("inferenceProfileId"), str)}
    via = _profiles_by_model(profiles)
    out: list[Model] = []
    seen: set[str] = set()
    for summary in summaries:
        model_id = summary.get("modelId") if isinstance(summary, Mapping) else None
        if not isinstance(model_id, str) or not model_id or model_id in seen:
            continue
        seen.add(model_id)
        out.append(normalize_summary(region, summary, via.get(model_id, ())))
    for model_id, profile_ids in via.items():
        if model_id not in seen:
            out.append(_profile_only(region, model_id, profile_ids, by_id))
    return out
