"""AWS Bedrock, region by region: boto3 calls, normalization, region health and ranking.

Bedrock offers a different set of models in each region, some only through cross-region
inference profiles (``us.``, ``eu.``, ``apac.``, ``global.`` ids). Each region is its own source
(``bedrock@<region>``) with its own snapshot; :func:`combine_region_sources` folds those into one
catalog entry per Bedrock model id whose ``regions`` is the union; per-region details are kept in
``attributes`` as value → regions groups (``regions_by_profile``, ``regions_by_inference_type``,
``regions_by_lifecycle``), which stay small and diff readably. Plain logic, no threads: :mod:`actors.bedrock` adds them.
"""
from __future__ import annotations

import functools
import hashlib
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from typing import Any

from discovery.draft import ModelDraft
from discovery.model import Model
from discovery.providers.base import (
    UNREADABLE,
    MalformedAnswer,
    ProviderAuthError,
    ProviderError,
    ProviderHTTPError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnreachable,
    unreadable_answer,
)
from discovery.redaction import REDACTOR, excerpt
from discovery.settings import BedrockSettings
from discovery.taxonomy import (
    as_list,
    guess_kind,
    iso_date,
    kind_from_modalities,
    normalize_modalities,
)

PROVIDER = "bedrock"
SOURCE_PREFIX = "bedrock@"
REGION_NAME = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")
# Pages asked of ListInferenceProfiles (the API allows 1-1000).
PROFILE_PAGE_SIZE = 1000
# A runaway nextToken loop is a malformed answer, not a reason to page forever.
MAX_PAGES = 100
# The largest control-plane answer read (a region's list is about 100 kB); as a live provider's
# default max_body_mb.
MAX_ANSWER_BYTES = 32 * 1024 * 1024
MODALITY_WORDS = {"speech": "audio"}
INFERENCE_TYPES = {"ON_DEMAND": "on_demand", "PROVISIONED": "provisioned", "INFERENCE_PROFILE": "inference_profile"}
LIFECYCLE = {"ACTIVE": "active", "LEGACY": "legacy"}
# Error codes that say "Bedrock is not offered here, or this account may not use it here".
UNAVAILABLE_CODES = frozenset({"UnrecognizedClientException", "AccessDeniedException", "UnknownOperationException",
                               "OptInRequired", "AuthFailure", "404"})
_ARN_MODEL = re.compile(r"^arn:[\w-]+:bedrock:[\w-]*:\d*:foundation-model/(?P<id>.+)$")
_PROFILE_GEO = re.compile(r"^(?:us|eu|apac|global|au|jp|ca|us-gov)\s+", re.IGNORECASE)


def source_name(region: str) -> str:
    """The source name of one region's snapshots, ``bedrock@<region>``."""
    return f"{SOURCE_PREFIX}{region}"


def region_of(source: str) -> str | None:
    """The region of a ``bedrock@<region>`` source name; None for any other source."""
    return source[len(SOURCE_PREFIX):] if source.startswith(SOURCE_PREFIX) else None


def canonical_id(model_id: str) -> str:
    """``bedrock/<modelId>`` for a bare Bedrock model id; a canonical id is returned as it is."""
    return model_id if model_id.startswith(f"{PROVIDER}/") else f"{PROVIDER}/{model_id}"


def endpoint_for(template: str | None, region: str) -> str | None:
    """The endpoint URL for ``region`` from a ``{region}`` template; None means AWS's own endpoint."""
    return template.format(region=region) if template else None


class RegionUnavailable(ProviderError):
    """Bedrock is not offered in the region, or the account has no access there: rechecked slowly."""

    kind = "unavailable"


class UnknownBedrockModel(KeyError):
    """No Bedrock model (or inference profile) with that id is in the catalog."""

    def __str__(self) -> str:
        return f"no Bedrock model {self.args[0]!r} in the catalog"


# -- errors --------------------------------------------------------------------------------------
def classify_error(exc: BaseException, region: str, *, ever_answered: bool = False) -> ProviderError:
    """A boto3/botocore exception as the matching :class:`ProviderError`.

    Not offered / access denied / unrecognized client are :class:`RegionUnavailable`. An
    unreachable endpoint is too, unless the region has answered before: then it is going dark,
    an ordinary failure for the breaker.
    """
    from botocore import exceptions as bx
    from botocore.parsers import ResponseParserError

    where = f"bedrock {region}"
    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error") or {}
        code = str(err.get("Code") or "")
        message = _one_line(err.get("Message")) or code or "no message"
        status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        text = f"{where} answered HTTP {status}: {code}: {message}"
        if code in UNAVAILABLE_CODES or status == 404:
            return RegionUnavailable(text, status=status)
        if status in (401, 403):
            return ProviderAuthError(text, status=status)
        if status == 429 or code in ("ThrottlingException", "TooManyRequestsException"):
            return ProviderRateLimited(text, status=status)
        return ProviderHTTPError(text, status=status)
    if isinstance(exc, bx.ReadTimeoutError):
        return ProviderTimeout(f"no answer from {where} within the read timeout")
    if isinstance(exc, bx.ConnectionError):  # EndpointConnectionError, ConnectTimeoutError
        text = f"cannot connect to {where} at {getattr(exc, 'kwargs', {}).get('endpoint_url', '?')}"
        return ProviderUnreachable(text) if ever_answered else RegionUnavailable(text + " (endpoint unreachable)")
    if isinstance(exc, bx.ConnectionClosedError):
        return ProviderUnreachable(f"{where} closed the connection without an answer")
    if isinstance(exc, shape_mismatch()):
        return MalformedAnswer(f"{where} answered with a body of another shape: {exc}")
    if isinstance(exc, ResponseParserError):
        return MalformedAnswer(f"{where} answered with a body that is not its format")
    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return ProviderAuthError(f"{where}: no AWS credentials found by the standard credential chain")
    if isinstance(exc, bx.BotoCoreError):
        return ProviderError(f"{where}: {type(exc).__name__}: {exc}")
    return ProviderError(f"{where}: {type(exc).__name__}: {exc}")


def _one_line(message: Any) -> str | None:
    """An error message fit for one line of refresh history; an HTML error page is not quoted."""
    if not isinstance(message, str) or not message.strip():
        return None
    text = message.strip()
    if text.lower().startswith(("<!doctype", "<html")):
        return "not found (an HTML error page)"
    return excerpt(" ".join(text.split()), 300)


# -- latency -------------------------------------------------------------------------------------
class Ewma:
    """An exponentially weighted moving average of call latencies (seconds); thread-safe."""

    def __init__(self, alpha: float = 0.3):
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        self.alpha = alpha
        self.value: float | None = None
        self.samples = 0
        self._lock = threading.Lock()

    def add(self, seconds: float) -> float:
        """Fold one measurement in; returns the new average."""
        with self._lock:
            self.value = seconds if self.value is None else self.alpha * seconds + (1 - self.alpha) * self.value
            self.samples += 1
            return self.value


# -- region status -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegionStatus:
    """How one region is doing, as ``GET /api/v1/bedrock/regions`` shows it."""

    region: str
    status: str = "starting"  # starting | available | failing | circuit_open | unavailable
    reason: str | None = None
    latency: float | None = None  # EWMA, seconds
    latency_samples: int = 0
    model_count: int | None = None
    profile_count: int | None = None
    last_error: str | None = None
    last_refresh_at: float | None = None
    last_success_at: float | None = None
    next_refresh_at: float | None = None
    breaker_state: str | None = "closed"  # None once given up: the breaker went with the actor
    refreshing: bool = False
    # As a provider's row has them (GET /api/v1/providers): the run under way, the breaker's count,
    # failed refreshes in a row, and the last run's outcome (RefreshOutcome.to_dict; never changed).
    refreshing_run: int | None = None
    fail_counter: int = 0
    breaker_next_try_at: float | None = None  # while the breaker is open: when it lets a call through
    # The supervisor stopped restarting the region's actor (it kept crashing): never refreshed again.
    given_up: bool = False
    consecutive_failures: int = 0
    last_outcome: Mapping[str, Any] | None = None

    @property
    def healthy(self) -> bool:
        """Whether the region's last refresh succeeded."""
        return self.status == "available"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RegionStatus":
        """A status from its JSON form (:meth:`to_dict`; a follower's, relayed from the leader)."""
        known = {k: data[k] for k in _STATUS_FIELDS if k in data and k != "latency"}
        latency_ms = data.get("latency_ms")
        return cls(**known, latency=latency_ms / 1000 if isinstance(latency_ms, (int, float)) else None)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, latency in milliseconds."""
        # Every field but last_outcome (a dict no one changes) is a scalar: a plain dict of them, not
        # asdict's deep copy (the board is read whole by GET /api/v1/bedrock/regions and by each
        # poll of the region list).
        out = {name: getattr(self, name) for name in _STATUS_FIELDS}
        out["source"] = source_name(self.region)
        out["latency_ms"] = round(self.latency * 1000, 1) if self.latency is not None else None
        del out["latency"]
        return out


_STATUS_FIELDS = tuple(f.name for f in fields(RegionStatus))


class RegionBoard:
    """The newest status of every region, swapped as a whole so readers never wait on writers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._statuses: Mapping[str, RegionStatus] = {}

    def publish(self, status: RegionStatus) -> None:
        """Replace one region's status."""
        with self._lock:
            statuses = dict(self._statuses)
            statuses[status.region] = status
            self._statuses = statuses

    def snapshot(self) -> Mapping[str, RegionStatus]:
        """Every region's status (a reference read; never changed after it is published)."""
        return self._statuses

    def get(self, region: str) -> RegionStatus | None:
        """One region's status, or None if it is not watched."""
        return self._statuses.get(region)


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


# -- one entry per model -------------------------------------------------------------------------
def _combine_one(per_region: Mapping[str, Model]) -> Model:
    """One model from its per-region records (``per_region`` ordered by region name)."""
    records = list(per_region.values())
    if len(records) == 1 and (records[0].regions or ()) == tuple(per_region):
        return records[0]
    direct = ("on_demand", "provisioned")
    # The record itself comes from the first region listing the model directly, so it does not
    # flip between regions from one refresh to the next.
    base = next((m for m in records
                 if any(m.attributes.get("regions_by_inference_type", {}).get(t) for t in direct)), records[0])
    attributes = dict(base.attributes)
    # Unions across regions; what holds where is kept in the regions_by_* groups.
    for key in ("inference_types", "inference_profiles", "customizations"):
        attributes[key] = tuple(sorted({v for m in records for v in m.attributes.get(key) or ()}))
    for key in REGION_GROUPS:
        grouped: dict[str, set[str]] = {}
        for m in records:
            for value, regions in (m.attributes.get(key) or {}).items():
                grouped.setdefault(value, set()).update(regions)
        attributes[key] = {v: tuple(sorted(grouped[v])) for v in sorted(grouped)}
    lifecycle = base.lifecycle
    if attributes["regions_by_lifecycle"].get("active") and lifecycle.status != "active":
        # Legacy in one region but active in another: still usable, so active.
        lifecycle = replace(lifecycle, status="active")
    capabilities = base.capabilities
    tunable = [m.capabilities.fine_tuning for m in records if m.capabilities.fine_tuning is not None]
    if tunable and any(tunable) != capabilities.fine_tuning:
        # Fine-tuning offered in some region is fine-tuning the model has (the region is in the groups).
        capabilities = replace(capabilities, fine_tuning=any(tunable))
    return base.evolve(regions=tuple(per_region), attributes=attributes, lifecycle=lifecycle,
                       capabilities=capabilities)


class RegionFold:
    """Per-region models → one model per Bedrock id, ``regions`` the union.

    Incremental: :meth:`update` takes one region's changed and removed models and recombines
    only those ids, returning the combined models that changed; :meth:`combine` takes every
    region's dict and recombines the models of regions whose dict is a different object than
    last time. A combined model whose per-region records are the very same objects as last time
    is kept as it is.
    """

    def __init__(self) -> None:
        self._regions: dict[str, Mapping[str, Model]] = {}
        self._by_id: dict[str, dict[str, Model]] = {}
        self._combined: dict[str, Model] = {}
        self._view: dict[str, Model] = {}
        # model id → (the per-region records it was combined from, the result)
        self._memo: dict[str, tuple[tuple[tuple[str, Model], ...], Model]] = {}

    def update(self, region: str, upserts: Mapping[str, Model], removed: Iterable[str] = ()
               ) -> tuple[dict[str, Model], list[str]]:
        """One region's changes in; the combined models that changed (by id) and the ids now gone out."""
        return self.update_many([(region, upserts, removed)])

    def update_many(self, changes: Iterable[tuple[str, Mapping[str, Model], Iterable[str]]]
                    ) -> tuple[dict[str, Model], list[str]]:
        """Several regions' changes (in order) in, each touched model recombined once."""
        touched: set[str] = set()
        for region, upserts, removed in changes:
            for model_id in removed:
                per_region = self._by_id.get(model_id)
                if per_region is not None and per_region.pop(region, None) is not None:
                    touched.add(model_id)
            for model_id, m in upserts.items():
                self._by_id.setdefault(model_id, {})[region] = m
                touched.add(model_id)
        return self._recombine(touched)

    def combine(self, region_models: Mapping[str, Mapping[str, Model]]) -> dict[str, Model]:
        """Combine (``region_models``: region → that region's models by id); a dict sorted by id.

        The same dict object is returned while nothing changed.
        """
        touched: set[str] = set()
        for region in self._regions.keys() - region_models.keys():
            touched.update(self._drop(region))
        for region, models in region_models.items():
            if self._regions.get(region) is not models:
                touched.update(self._drop(region))
                self._regions[region] = models
                for model_id, m in models.items():
                    self._by_id.setdefault(model_id, {})[region] = m
                touched.update(models)
        if not touched:
            return self._view
        upserts, removed = self._recombine(touched)
        if upserts or removed or not self._view:
            self._view = {k: self._combined[k] for k in sorted(self._combined)}
        return self._view

    def _recombine(self, touched: Iterable[str]) -> tuple[dict[str, Model], list[str]]:
        upserts: dict[str, Model] = {}
        removed: list[str] = []
        for model_id in touched:
            per_region = self._by_id.get(model_id)
            if not per_region:
                self._by_id.pop(model_id, None)
                self._memo.pop(model_id, None)
                if self._combined.pop(model_id, None) is not None:
                    removed.append(model_id)
                continue
            ordered = {r: per_region[r] for r in sorted(per_region)}
            parts = tuple(ordered.items())
            hit = self._memo.get(model_id)
            # A region's new dict usually holds the very same records: keep the combined one too.
            if hit is None or len(hit[0]) != len(parts) or any(
                    a[0] != b[0] or a[1] is not b[1] for a, b in zip(hit[0], parts)):
                hit = self._memo[model_id] = (parts, _combine_one(ordered))
            if self._combined.get(model_id) is not hit[1]:
                self._combined[model_id] = hit[1]
                upserts[model_id] = hit[1]
        return upserts, removed

    def _drop(self, region: str) -> Iterable[str]:
        old = self._regions.pop(region, None) or {}
        for model_id in old:
            per_region = self._by_id.get(model_id)
            if per_region is not None:
                per_region.pop(region, None)
        return old.keys()


def combine_regions(region_models: Mapping[str, Iterable[Model]]) -> list[Model]:
    """Per-region models → one model per Bedrock id, ``regions`` the union, per-region groups unioned."""
    return list(RegionFold().combine({r: {m.id: m for m in ms} for r, ms in region_models.items()}).values())


def combine_region_sources(sources: Mapping[str, Mapping[str, Model]]) -> dict[str, Mapping[str, Model]]:
    """``sources`` with every ``bedrock@<region>`` source folded into one ``bedrock`` source (in place of the first)."""
    regions = {region_of(name): models for name, models in sources.items() if name.startswith(SOURCE_PREFIX)}
    if not regions:
        return dict(sources)
    combined = RegionFold().combine(regions)
    out: dict[str, Mapping[str, Model]] = {}
    for name, models in sources.items():
        if not name.startswith(SOURCE_PREFIX):
            out[name] = models
        elif PROVIDER not in out:
            out[PROVIDER] = combined  # where the first region was, so source order is kept
    return out


# -- ranking -------------------------------------------------------------------------------------
def rank_regions(available: Iterable[str], preferred: Sequence[str] = (),
                 statuses: Mapping[str, RegionStatus] | None = None,
                 ttft: Mapping[str, float] | None = None) -> list[str]:
    """Regions to call a model in, best first.

    The preferred regions where the model is available come first, in the order given; the rest
    follow: regions whose last refresh succeeded before the others, then the regions where the
    model's time to first token was measured (``ttft``, ms), fastest first, then the others by
    control-plane latency (EWMA, unmeasured last), then by name. A region given up on (its actor
    kept crashing: nothing is known of it any more) comes last, preferred or not.
    """
    available = list(dict.fromkeys(available))
    statuses = statuses or {}
    given_up = {r for r in available if (st := statuses.get(r)) is not None and st.given_up}
    present = set(available) - given_up
    first = [r for r in dict.fromkeys(preferred) if r in present]
    ttft = ttft or {}

    def key(region: str) -> tuple:
        status = statuses.get(region)
        latency = status.latency if status is not None else None
        healthy = status is None or status.healthy
        measured = ttft.get(region)
        return (region in given_up, not healthy, measured is None, measured or 0.0, latency is None, latency or 0.0,
                region)

    return first + sorted((r for r in available if r not in first), key=key)


def resolve_model(models: Iterable[Model], lookup: Callable[[str], Model | None], model_id: str) -> Model:
    """The Bedrock model for a canonical id, a bare model id, or an inference profile id.

    Raises :class:`UnknownBedrockModel` when none matches.
    """
    wanted = canonical_id(model_id)
    found = lookup(wanted)
    if found is not None and found.provider == PROVIDER and found.regions:
        return found
    # A profile id (us.anthropic.…) means its model, even where a catalog lists the id on its own.
    profile = wanted[len(PROVIDER) + 1:]
    for m in models:
        if profile in (m.attributes.get("inference_profiles") or ()):
            return m
    if found is not None and found.provider == PROVIDER:
        return found  # known only from a catalog: no regions
    raise UnknownBedrockModel(model_id)


def region_details(model: Model) -> dict[str, dict[str, Any]]:
    """Region → how the model is reached there: access, inference types, profiles, lifecycle."""
    out: dict[str, dict[str, Any]] = {r: {"access": "inference_profile", "inference_types": [],
                                          "inference_profiles": [], "lifecycle": None, "customizations": []}
                                      for r in model.regions or ()}
    groups = model.attributes
    for value, regions in (groups.get("regions_by_inference_type") or {}).items():
        for r in regions:
            if r in out:
                out[r]["inference_types"].append(value)
                if value in ("on_demand", "provisioned"):
                    out[r]["access"] = "direct"
    for value, regions in (groups.get("regions_by_profile") or {}).items():
        for r in regions:
            if r in out:
                out[r]["inference_profiles"].append(value)
    for value, regions in (groups.get("regions_by_lifecycle") or {}).items():
        for r in regions:
            if r in out:
                out[r]["lifecycle"] = value
    for value, regions in (groups.get("regions_by_customization") or {}).items():
        for r in regions:
            if r in out:
                out[r]["customizations"].append(value)
    return out


def model_region_rows(model: Model, statuses: Mapping[str, RegionStatus]) -> list[dict[str, Any]]:
    """One row per region the model is available in: access, profiles, inference types, region health."""
    rows = []
    for region, detail in region_details(model).items():
        status = statuses.get(region)
        rows.append({"region": region, **detail,
                     "region_status": status.status if status else None,
                     "latency_ms": round(status.latency * 1000, 1) if status and status.latency is not None else None})
    return rows


# -- boto3 ---------------------------------------------------------------------------------------
_sessions_lock = threading.Lock()
_sessions: dict[tuple[str | None, str | None], Any] = {}
# When the credential chain last came up empty, per session: it is not walked again for a minute
# (the chain ends with the instance metadata service, which can take seconds to time out).
_no_credentials: dict[tuple[str | None, str | None], float] = {}
NO_CREDENTIALS_RECHECK = 60.0


def make_client(service: str, region: str, settings: BedrockSettings, endpoint_url: str | None = None) -> Any:
    """A boto3 client with the standard credential chain, timeouts, and no retries of its own.

    Clients are made from one shared session per profile: a new session reloads every service
    model (~0.2 s each), and sessions are not thread-safe, so creation holds a lock. The client
    itself is thread-safe. Retries are off because the region's breaker is the retry policy.
    Raises :class:`ProviderAuthError` when the chain finds no credentials (and no Bedrock API key).
    """
    import os

    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=settings.timeout, read_timeout=settings.timeout,
                    retries={"total_max_attempts": 1, "mode": "standard"},
                    user_agent_extra="model-discovery/0.1", max_pool_connections=4)
    # Keyed by the access key id too: a changed environment (tests, the demo) gets a new chain.
    key = (settings.profile, os.environ.get("AWS_ACCESS_KEY_ID"))
    # Bedrock API keys authenticate both the control plane and the runtime (signing name bedrock).
    bearer = service.startswith("bedrock") and bool(os.environ.get("AWS_BEARER_TOKEN_BEDROCK"))
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = _sessions[key] = boto3.session.Session(profile_name=settings.profile)
            # botocore reads every timestamp with dateutil (the most CPU of a region's answer);
            # the ISO 8601 ones Bedrock sends are read by the standard library instead. And a
            # list answer equal to the last one is not parsed again (ReusingParser).
            factory = ReusingParserFactory()
            factory.set_parser_defaults(timestamp_parser=parse_timestamp)
            session._session.register_component("response_parser_factory", factory)
        if not bearer:
            missing_since = _no_credentials.get(key)
            if missing_since is None or time.monotonic() - missing_since > NO_CREDENTIALS_RECHECK:
                found = session.get_credentials()
                if found is None:
                    _no_credentials[key] = time.monotonic()
                else:
                    _no_credentials.pop(key, None)
                    # Wherever the chain found them (a shared file, SSO, a role), the redaction
                    # layer knows them before any answer can echo them.
                    frozen = found.get_frozen_credentials()
                    REDACTOR.add(frozen.access_key, frozen.secret_key, frozen.token)
            if key in _no_credentials:
                raise ProviderAuthError(f"{service} {region}: no AWS credentials found by the standard chain "
                                        "(environment, shared files, SSO, container or instance role)")
        client = session.client(service, region_name=region, endpoint_url=endpoint_url, config=config)
    # Refreshable credentials (SSO, a role, a credential_process) change after this: each request
    # teaches the redactor what it was signed with, before botocore logs it or an answer echoes it.
    client.meta.events.register_last("request-created", learn_signing_credentials)
    return client


def learn_signing_credentials(request: Any = None, **_: Any) -> None:
    """botocore handler: the access key id and session token (or Bedrock API key) a signed
    request carries, added to the redactor."""
    headers = getattr(request, "headers", None)
    if not headers:
        return
    found = []
    for name in ("Authorization", "X-Amz-Security-Token"):
        value = headers.get(name)
        found.append(value.decode("latin-1") if isinstance(value, bytes) else value)
    auth, token = found
    if isinstance(auth, str):
        if auth.startswith("AWS4-HMAC-SHA256"):
            REDACTOR.add(auth.partition("Credential=")[2].split("/", 1)[0], token)
        elif auth.startswith("Bearer "):
            REDACTOR.add(auth[len("Bearer "):], token)


# The list answers whose parse is reused when the same body comes again (see ReusingParser).
REUSED_SHAPES = frozenset({"ListFoundationModelsResponse", "ListInferenceProfilesResponse"})
# Parsed bodies kept per thread: a region's two list calls each run on a thread of their own, and a
# paged answer has a few pages.
REUSED_PER_THREAD = 4
# botocore makes a parser per answer: the memo outlives them, one per thread.
_parsed_memo = threading.local()


class ReusingParser:
    """botocore's response parser, except that a list answer whose body is byte for byte the one
    this thread parsed last time gives the same parsed members again, with fresh metadata.

    Most refreshes of a region answer what the last one did. Its records are then reused as they
    are (BedrockRegionActor._fetch), but botocore still parsed the whole body, shape by shape: the
    most CPU of an unchanged region. The members handed out are shared between calls: read them,
    never change them (the region's normalizing only reads).
    """

    def __init__(self, parser: Any) -> None:
        self.parser = parser

    def parse(self, response: Mapping[str, Any], shape: Any) -> Any:
        try:
            return self._parse(response, shape)
        except (TypeError, AttributeError, ValueError) as exc:
            # botocore reads an answer by the service model and fails this way on a member of
            # another type (a number where a list belongs, text where an object does): that is
            # a malformed answer (classify_error), caught here and nowhere else in the call.
            raise shape_mismatch()(f"a member of {getattr(shape, 'name', 'the answer')} is of another type than "
                                   f"the service model allows ({type(exc).__name__}: {_one_line(str(exc)) or ''})"
                                   ) from None

    def _parse(self, response: Mapping[str, Any], shape: Any) -> Any:
        body = response.get("body")
        if (shape is None or shape.name not in REUSED_SHAPES or response.get("status_code") != 200
                or not isinstance(body, bytes)):
            return self.parser.parse(response, shape)
        memo = getattr(_parsed_memo, "parsed", None)
        if memo is None:
            from cachetools import LRUCache

            memo = _parsed_memo.parsed = LRUCache(maxsize=REUSED_PER_THREAD)
        key = (shape.name, len(body), hashlib.blake2b(body, digest_size=16).digest())
        members = memo.get(key)
        if members is None:
            parsed = self.parser.parse(response, shape)
            if isinstance(parsed, dict):
                memo[key] = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
            return parsed
        # The metadata (request id, status, headers) is this answer's own: botocore reads it from
        # an empty body with the same headers.
        parsed = self.parser.parse({**response, "body": b"{}"}, shape)
        return {**members, "ResponseMetadata": parsed.get("ResponseMetadata", {})}


@functools.cache
def shape_mismatch() -> type:
    """botocore's ResponseParserError for an answer whose members are not of the service model's
    types (see ReusingParser.parse); made when first needed, as botocore is imported late."""
    from botocore.parsers import ResponseParserError

    class ShapeMismatch(ResponseParserError):
        pass

    return ShapeMismatch


@functools.cache
def _parser_factory_class() -> type:
    from botocore.parsers import ResponseParserFactory

    class _ReusingParserFactory(ResponseParserFactory):
        def create_parser(self, protocol_name: str) -> ReusingParser:
            return ReusingParser(super().create_parser(protocol_name))

    return _ReusingParserFactory


def ReusingParserFactory() -> Any:  # noqa: N802 - stands for the class, which needs botocore imported
    """botocore's response parser factory, making :class:`ReusingParser` s."""
    return _parser_factory_class()()


def parse_timestamp(value: Any) -> datetime:
    """A timestamp in an AWS answer as botocore reads it (an aware datetime for an ISO 8601 string
    with an offset or ``Z``): an extended ISO 8601 string (``YYYY-MM-DD…``) by
    ``datetime.fromisoformat``, anything else (epoch seconds, RFC 822) by botocore."""
    if isinstance(value, str) and len(value) >= 10 and value[4] == "-":
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    from botocore.utils import parse_timestamp as botocore_parse

    return botocore_parse(value)


class BedrockRegionClient:
    """Bedrock's control plane in one region: the two list calls, each one timed.

    ``on_latency`` gets the seconds from sending each request to receiving its answer (success or
    an error status), measured by botocore's own events: the client's first-call set-up and
    signing are not the region's latency. A call that never connected measures nothing.
    Give each instance its own boto3 client (the timing handlers are registered on it).

    Each list call takes the ``deadline`` (``time.monotonic()``) of the refresh it belongs to
    (``refresh_timeout``): no request is sent past it, each one's read timeout is the time left
    when that is shorter than ``timeout``, a body is read no longer than it, and an answer that
    comes after it is refused, all as :meth:`out_of_time`.
    """

    def __init__(self, region: str, settings: BedrockSettings, client: Any = None,
                 on_latency: Callable[[float], None] | None = None):
        self.region = region
        self.settings = settings
        if client is None:
            from botocore.exceptions import BotoCoreError

            try:
                client = make_client("bedrock", region, settings, endpoint_for(settings.endpoint_url, region))
            except BotoCoreError as exc:  # an unknown profile, a broken shared config file
                raise ProviderError(f"bedrock {region}: cannot make a client: {type(exc).__name__}: {exc}") from None
        self.client = client
        self.on_latency = on_latency
        self.answered = False
        self._sent = threading.local()  # two calls may run at once, each on its own thread
        self.client.meta.events.register("before-send.bedrock", self._before_send)
        self.client.meta.events.register("response-received.bedrock", self._response_received)
        if getattr(self.client, "_endpoint", None) is not None:  # a real botocore client, not a stub
            # Once per boto3 client (every handler of the event runs: a second would send again).
            self.client.meta.events.register("before-send.bedrock", self._send_bounded, unique_id="bounded-send")

    def _before_send(self, **kwargs: Any) -> None:
        self._sent.at = time.perf_counter()

    def out_of_time(self, operation: str) -> ProviderTimeout:
        """The refresh's deadline passed during ``operation`` (ListFoundationModels, ...)."""
        return ProviderTimeout(f"bedrock {self.region} took longer than refresh_timeout "
                               f"({self.settings.refresh_timeout:g}s) to answer (cut at {operation}); refused")

    def _response_received(self, response_dict: Any = None, **kwargs: Any) -> None:
        sent, self._sent.at = getattr(self._sent, "at", None), None
        if sent is not None and response_dict is not None and self.on_latency is not None:
            self.on_latency(time.perf_counter() - sent)

    def _send_bounded(self, request: Any = None, **kwargs: Any) -> Any:
        """Send ``request`` on botocore's own HTTP session and read the answer's body within
        MAX_ANSWER_BYTES and three read timeouts, as every other provider's body is read.

        botocore reads a body whole, however large and however slowly it comes (each read
        bounded by the read timeout, the whole by nothing): a region answering 100 MB was kept,
        and one sending a byte every 0.1 s held its refresh for as long as it liked. A
        ``before-send`` handler's answer is the one botocore goes on with (after the timing one).
        """
        from botocore.exceptions import ConnectionClosedError, ReadTimeoutError
        from urllib3.exceptions import ProtocolError
        from urllib3.exceptions import ReadTimeoutError as URLLib3ReadTimeoutError

        refresh_deadline = getattr(self._sent, "deadline", math.inf)
        left = refresh_deadline - time.monotonic()
        if left <= 0:  # every attempt comes here, a retry's too: none is sent past the deadline
            raise self.out_of_time(self._sent.operation)
        context = getattr(request, "context", None)
        self._sent.capped = left < self.settings.timeout
        if self._sent.capped and context is not None:
            # botocore (1.43.68 on) reads a request's own read timeout from its context; an older
            # one leaves the call to ``timeout``, the deadline then checked between pages and reads.
            context["read_timeout"] = left
        request.stream_output = True  # the session leaves the body to be read here
        response = self.client._endpoint.http_session.send(request)
        raw, where = response.raw, f"bedrock {self.region}"
        deadline = time.monotonic() + self.settings.timeout * 3
        chunks: list[bytes] = []
        size = 0
        try:
            while chunk := raw.read1(65536):
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise MalformedAnswer(f"{where} answered with a body larger than "
                                          f"{MAX_ANSWER_BYTES // (1024 * 1024)} MiB; refused")
                if time.monotonic() > deadline:
                    raise ProviderTimeout(f"{where} sent its answer too slowly ({size} bytes before the deadline)")
                if time.monotonic() >= refresh_deadline:
                    raise self.out_of_time(self._sent.operation)
                chunks.append(chunk)
        except URLLib3ReadTimeoutError as exc:
            raise ReadTimeoutError(endpoint_url=request.url, error=exc) from None
        except ProtocolError as exc:
            raise ConnectionClosedError(error=exc, request=request, endpoint_url=request.url) from None
        except ProviderError:
            raw.close()  # the rest of the body is not read: the connection goes, not back to the pool
            raise
        response._content = b"".join(chunks)
        return response

    def _call(self, operation: str, deadline: float = math.inf, **params: Any) -> Mapping[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError
        from botocore.parsers import ResponseParserError

        api = "".join(word.title() for word in operation.split("_"))
        # Read by _send_bounded, on this thread: the two calls of a refresh run on two threads.
        self._sent.deadline, self._sent.operation, self._sent.capped = deadline, api, False
        try:
            answer = getattr(self.client, operation)(**params)
        except (ClientError, BotoCoreError, ResponseParserError) as exc:
            if isinstance(exc, ReadTimeoutError) and self._sent.capped:
                raise self.out_of_time(api) from None  # the read timeout was the time left
            raise classify_error(exc, self.region, ever_answered=self.answered) from None
        except UNREADABLE as exc:  # botocore's json.loads recursing through a deeply nested body
            raise unreadable_answer(f"bedrock {self.region}", exc) from None
        finally:
            self._sent.deadline = math.inf
        self.answered = True
        if time.monotonic() >= deadline:
            raise self.out_of_time(api)  # an answer, but late: the refresh is already over
        if not isinstance(answer, Mapping):
            raise MalformedAnswer(f"bedrock {self.region}: {operation} answered with {type(answer).__name__}")
        return answer

    def list_foundation_models(self, deadline: float = math.inf) -> list[Mapping[str, Any]]:
        """``ListFoundationModels``: one answer, no pagination (the API has none), by ``deadline``."""
        answer = self._call("list_foundation_models", deadline)
        summaries = answer.get("modelSummaries")
        if not isinstance(summaries, list):
            raise MalformedAnswer(f"bedrock {self.region}: ListFoundationModels has no modelSummaries list")
        return summaries

    def list_inference_profiles(self, deadline: float = math.inf) -> list[Mapping[str, Any]]:
        """``ListInferenceProfiles`` (system-defined), every page via ``nextToken``, all by ``deadline``."""
        out: list[Mapping[str, Any]] = []
        params: dict[str, Any] = {"maxResults": PROFILE_PAGE_SIZE, "typeEquals": "SYSTEM_DEFINED"}
        followed: set[str] = set()
        for _ in range(MAX_PAGES):
            answer = self._call("list_inference_profiles", deadline, **params)
            page = answer.get("inferenceProfileSummaries")
            if page is None:
                page = []  # AWS leaves out empty lists
            if not isinstance(page, list):
                raise MalformedAnswer(f"bedrock {self.region}: inferenceProfileSummaries is not a list")
            out.extend(page)
            token = answer.get("nextToken")
            if not token:
                return out
            if not isinstance(token, str) or token in followed:
                # A token named again: the pages loop (100 calls to find out, before); one that is
                # not a string failed the next call as botocore's ParamValidationError.
                raise MalformedAnswer(f"bedrock {self.region}: ListInferenceProfiles answered a nextToken "
                                      f"{'that is not a string' if not isinstance(token, str) else 'already followed'}")
            followed.add(token)
            params["nextToken"] = token
        raise MalformedAnswer(f"bedrock {self.region}: more than {MAX_PAGES} pages of inference profiles")


def describe_regions(settings: BedrockSettings, client: Any = None) -> tuple[str, ...]:
    """The regions EC2 ``DescribeRegions`` reports enabled for the account, sorted."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    client = client or make_client("ec2", settings.ec2_region, settings,
                                   endpoint_for(settings.ec2_endpoint_url, settings.ec2_region))
    try:
        answer = client.describe_regions()
    except (BotoCoreError, ClientError, ResponseParserError) as exc:
        raise classify_error(exc, settings.ec2_region) from None
    names = {r.get("RegionName") for r in answer.get("Regions") or ()}
    return tuple(sorted(n for n in names if isinstance(n, str) and REGION_NAME.match(n)))


__all__ = [
    "PROVIDER",
    "BedrockRegionClient",
    "Ewma",
    "RegionBoard",
    "RegionFold",
    "RegionStatus",
    "RegionUnavailable",
    "UnknownBedrockModel",
    "canonical_id",
    "classify_error",
    "combine_region_sources",
    "combine_regions",
    "describe_regions",
    "endpoint_for",
    "make_client",
    "model_region_rows",
    "normalize_region",
    "normalize_summary",
    "rank_regions",
    "region_details",
    "region_of",
    "resolve_model",
    "source_name",
]
