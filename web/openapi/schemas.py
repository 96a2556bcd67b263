"""The OpenAPI document's component schemas: the shapes the API answers with.

Enums come from the code that checks them (kinds, statuses, capabilities, event kinds...), so the
document cannot name a value the service refuses or miss one it accepts. A time is always an ISO
8601 string (discovery.timestamps); unknown is ``null``, never ``false``.
"""
from __future__ import annotations

from typing import Any

from discovery.diff import EVENT_KINDS
from discovery.model import CAPABILITIES, KINDS, MODALITIES, STATUSES
from discovery.reconcile import KINDS as FINDING_KINDS
from discovery.subscriptions_store import STATES as SUBSCRIPTION_STATES


def ref(name: str) -> dict[str, str]:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or null (OpenAPI 3.1: a type list, or oneOf for a reference)."""
    if "$ref" in schema:
        return {"oneOf": [schema, {"type": "null"}]}
    out = dict(schema)
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def obj(properties: dict[str, Any], required: tuple[str, ...] | str = "all", extra: bool = True,
        description: str | None = None) -> dict[str, Any]:
    """An object schema; every property required unless ``required`` names the required ones."""
    out: dict[str, Any] = {"type": "object", "properties": properties,
                           "required": list(properties) if required == "all" else list(required)}
    if not extra:
        out["additionalProperties"] = False
    if description:
        out["description"] = description
    return out


def array(items: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "array", "items": items}
    if description:
        out["description"] = description
    return out


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
BOOLEAN = {"type": "boolean"}
TIME = {"type": "string", "format": "date-time", "description": "ISO 8601, UTC: 2026-11-30T12:00:00.123456Z"}
DATE = {"type": "string", "description": "YYYY-MM-DD (or YYYY-MM, YYYY when the source says no more)"}
ANY_OBJECT = {"type": "object"}
MAYBE_STRING, MAYBE_INT, MAYBE_NUMBER, MAYBE_BOOL, MAYBE_TIME = (
    nullable(STRING), nullable(INTEGER), nullable(NUMBER), nullable(BOOLEAN), nullable(TIME))
STRINGS = array(STRING)


def _error() -> dict[str, Any]:
    body = obj({"code": {"type": "string", "description": "machine-readable, e.g. invalid_parameter"},
                "message": {"type": "string", "description": "what was wrong, for a human"}},
               description="Other keys add detail where an error has it (retry_after, runs, unknown_ids).")
    return obj({"error": body}, extra=False, description="Every error of the API, with a 4xx or 5xx status.")


def _model() -> dict[str, Any]:
    measured = obj({
        "region": MAYBE_STRING, "ttft_ms": MAYBE_NUMBER, "ttft_p90_ms": MAYBE_NUMBER,
        "output_tokens_per_s": MAYBE_NUMBER, "latency_ms": MAYBE_NUMBER, "latency_p90_ms": MAYBE_NUMBER,
        "samples": INTEGER, "measured_at": TIME, "run_id": INTEGER, "cost_usd": MAYBE_NUMBER,
        "tokens_estimated": BOOLEAN, "speed_includes_reasoning": BOOLEAN,
        "failed_at": {**MAYBE_TIME, "description": "the newest run here kept no sample: when (null: it measured)"},
        "last_error": MAYBE_STRING,
    }, required=("ttft_ms", "output_tokens_per_s", "latency_ms", "samples", "measured_at"))
    return obj({
        "id": {"type": "string", "description": "<provider>/<the provider's own id>; may contain / : ."},
        "provider": STRING, "provider_model_id": STRING, "name": MAYBE_STRING, "family": MAYBE_STRING,
        "kind": nullable({"type": "string", "enum": list(KINDS)}),
        "modalities": obj({d: nullable(array({"type": "string", "enum": list(MODALITIES)}))
                           for d in ("input", "output")}),
        "capabilities": obj({c: MAYBE_BOOL for c in CAPABILITIES}),
        "limits": obj({k: MAYBE_INT for k in ("context_window", "max_input_tokens", "max_output_tokens")}),
        "pricing": obj({k: MAYBE_NUMBER for k in ("input", "output", "cache_read", "cache_write")},
                       description="USD per million tokens"),
        "lifecycle": obj({"status": nullable({"type": "string", "enum": list(STATUSES)}),
                          "release_date": nullable(DATE), "deprecation_date": nullable(DATE),
                          "knowledge_cutoff": nullable(DATE), "retirement_date": nullable(DATE),
                          "successor": MAYBE_STRING}),
        "open_weights": MAYBE_BOOL, "regions": nullable(STRINGS),
        "attributes": {"type": "object", "description": "what the provider states that the taxonomy has no field for"},
        "source": STRING, "live": BOOLEAN,
        "performance": nullable(obj({**measured["properties"], "regions": {
            "type": "object", "additionalProperties": measured}}, required=tuple(measured["required"]))),
    }, extra=False, description="A model as the catalog lists it; unknown is null, never false.")


def _model_detail() -> dict[str, Any]:
    listed = _model()
    origin = obj({"source": STRING, "entry": MAYBE_STRING, "match": MAYBE_STRING, "verified_at": MAYBE_TIME,
                  "conflicts": array(ANY_OBJECT)}, required=("source", "verified_at"))
    return {**listed, "properties": {
        **listed["properties"],
        "provenance": {"type": "object", "additionalProperties": origin,
                       "description": "field path -> where its value came from"},
        "raw": {"description": "the provider's own answer (absent with raw=false)"},
    }, "required": [*listed["required"], "provenance"],
        "description": "A model's full record: the list form, provenance and the raw answer."}


def _page(item: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return obj({"data": array(ref(item)), "total": INTEGER, "limit": INTEGER, "offset": INTEGER,
                "catalog_version": INTEGER, **(extra or {})}, required=("data", "total", "limit", "offset",
                                                                         "catalog_version"))


def _outcome() -> dict[str, Any]:
    return obj({"run_id": INTEGER, "provider": STRING, "outcome": STRING, "added": INTEGER, "updated": INTEGER,
                "removed": INTEGER, "total": MAYBE_INT, "rejected": INTEGER, "rejections": STRINGS,
                "error": MAYBE_STRING}, required=("run_id", "provider", "outcome"))


def _run() -> dict[str, Any]:
    return obj({
        "id": INTEGER, "provider": MAYBE_STRING, "trigger": MAYBE_STRING,
        "outcome": {"type": "string", "enum": ["running", "succeeded", "failed", "interrupted"]},
        "started_at": MAYBE_TIME, "finished_at": MAYBE_TIME, "duration_ms": MAYBE_NUMBER, "total": MAYBE_INT,
        "added": MAYBE_INT, "updated": MAYBE_INT, "removed": MAYBE_INT, "error": MAYBE_STRING,
        "fetch_ms": MAYBE_NUMBER, "work_ms": MAYBE_NUMBER, "rejected": MAYBE_INT, "rejections": array({}),
    }, required=("id", "provider", "outcome", "started_at", "finished_at", "error"))


def _provider() -> dict[str, Any]:
    return obj({
        "name": STRING, "format": MAYBE_STRING, "is_catalog": MAYBE_BOOL, "status": STRING,
        "status_reason": MAYBE_STRING,
        "breaker": obj({"state": STRING, "fail_counter": MAYBE_INT, "fail_max": INTEGER, "reset_timeout": NUMBER,
                        "next_try_at": {**MAYBE_TIME, "description": "while open: when it lets the next call through"}},
                       required=("state", "fail_counter", "fail_max", "reset_timeout")),
        "consecutive_failures": MAYBE_INT, "refreshing": MAYBE_INT,
        "region": {"type": "string", "description": "a Bedrock region's source (bedrock@<region>) only"},
        "region_status": {"type": "string", "description": "a Bedrock region's source only"},
        "last_outcome": nullable(ref("RefreshOutcome")),
        "refresh_interval": NUMBER, "next_refresh_at": MAYBE_TIME,
        "asked_until": {**MAYBE_TIME, "description": "the provider asked (429 or 503) not to be called before this "
                                                     "time: no refresh, probe or trial call until then, across restarts"},
        "actor": ANY_OBJECT, "last_refresh_at": MAYBE_TIME, "last_success_at": MAYBE_TIME,
        "given_up": {**BOOLEAN, "description": "the supervisor stopped restarting its actor (it kept crashing): "
                                               "no refresh until the service restarts"},
        "last_error": MAYBE_STRING, "reported_models": MAYBE_INT, "model_count": INTEGER,
    }, required=("name", "format", "is_catalog", "actor", "given_up", "last_refresh_at", "last_success_at",
                 "last_error", "reported_models", "model_count"))


def _health() -> dict[str, Any]:
    check = obj({"at": TIME, "ok": BOOLEAN, "latency_ms": MAYBE_NUMBER, "via": STRING, "kind": MAYBE_STRING,
                 "error": MAYBE_STRING})
    return obj({
        "name": STRING, "breaker": STRING, "status": STRING, "reason": MAYBE_STRING, "last_check_at": MAYBE_TIME,
        "last_latency_ms": MAYBE_NUMBER,
        "error_rate": nullable({"type": "number", "minimum": 0, "maximum": 1,
                                "description": "failed checks / checks within the window"}),
        "uptime": nullable({"type": "number", "minimum": 0, "maximum": 1,
                            "description": "share of the window during which the newest check had succeeded"}),
        "window_seconds": MAYBE_NUMBER, "consecutive_failures": MAYBE_INT, "consecutive_successes": MAYBE_INT,
        "thresholds": nullable(obj({"failure": INTEGER, "recovery": INTEGER})), "history": array(check),
    }, description="A Bedrock region (bedrock@<region>) has no checks of its own: its counts are null.")


def _event() -> dict[str, Any]:
    return obj({"id": INTEGER, "kind": {"type": "string", "enum": list(EVENT_KINDS)}, "provider": MAYBE_STRING,
                "model_id": MAYBE_STRING, "run_id": MAYBE_INT, "time": TIME,
                "data": {"type": "object", "description": "what the kind of event says (docs/events.md)"}},
               extra=False)


def _subscription() -> dict[str, Any]:
    delivery = obj({"delivery_id": STRING, "attempt": INTEGER, "first_event_id": MAYBE_INT,
                    "last_event_id": MAYBE_INT, "event_count": INTEGER, "outcome": STRING,
                    "status_code": MAYBE_INT, "error": MAYBE_STRING, "duration_ms": MAYBE_NUMBER, "time": TIME})
    return obj({
        "id": STRING, "url": STRING, "description": MAYBE_STRING,
        "state": {"type": "string", "enum": list(SUBSCRIPTION_STATES)},
        "filter": obj({"kinds": STRINGS, "providers": STRINGS, "capabilities": STRINGS, "model_glob": MAYBE_STRING},
                      required=()),
        "max_batch": INTEGER, "max_delay": NUMBER, "cursor": INTEGER, "attempts": INTEGER, "last_error": MAYBE_STRING,
        "last_attempt_at": MAYBE_TIME, "last_success_at": MAYBE_TIME, "next_attempt_at": MAYBE_TIME,
        "dead_lettered_at": MAYBE_TIME, "delivered_events": INTEGER, "created_at": TIME,
        "secret": {"type": "string", "description": "only in the create answer, and only when generated"},
        "delivering": BOOLEAN, "deliveries": array(delivery),
        "pending_events": {"type": "integer", "description": "events after the cursor that the filter takes "
                                                            "(with capabilities or a model glob: of the first "
                                                            "10,000 after it)"},
        "pending_events_more": {"type": "boolean", "description": "present (true) when more events lie past "
                                                                 "the 10,000 read"},
        "missed": {"type": "integer", "description": "in the resume and replay answers: events after the cursor "
                                                     "that retention had deleted (the next delivery says so too)"},
    }, required=("id", "url", "state", "filter", "cursor", "created_at"))


def _benchmark_result() -> dict[str, Any]:
    return obj({
        "id": INTEGER, "run_id": INTEGER, "model_id": STRING, "provider": STRING, "region": MAYBE_STRING,
        "kind": STRING, "measured_at": TIME, "sample_count": INTEGER, "ttft_ms": MAYBE_NUMBER,
        "output_tokens_per_s": MAYBE_NUMBER, "latency_ms": MAYBE_NUMBER, "input_tokens": MAYBE_INT,
        "output_tokens": MAYBE_INT, "tokens_estimated": MAYBE_BOOL, "cost_usd": MAYBE_NUMBER,
        "error": MAYBE_STRING, "p90": nullable(ANY_OBJECT), "settings": nullable(ANY_OBJECT),
        "invoked_id": MAYBE_STRING, "samples": array(ANY_OBJECT), "failures": array(ANY_OBJECT),
    }, required=("id", "run_id", "model_id", "provider", "measured_at"))


def _benchmark_run() -> dict[str, Any]:
    return obj({
        "id": INTEGER, "provider": STRING, "region": MAYBE_STRING, "trigger": STRING,
        "outcome": {"type": "string", "enum": ["running", "succeeded", "stopped", "failed", "interrupted"],
                    "description": "stopped: by a budget or the breaker (stopped_reason); failed: the run broke, "
                                   "or no planned model got a sample (error); interrupted: left running by a stop or a crash"},
        "started_at": TIME, "finished_at": MAYBE_TIME, "planned": INTEGER, "probed": INTEGER, "requests": INTEGER,
        "spend_usd": NUMBER, "stopped_reason": MAYBE_STRING, "error": MAYBE_STRING,
        "skipped": array(obj({"model_id": STRING, "reason": STRING})),
    }, required=("id", "provider", "outcome", "started_at"))


def _region() -> dict[str, Any]:
    return obj({
        "region": STRING, "status": STRING, "reason": MAYBE_STRING, "latency_samples": INTEGER,
        "model_count": MAYBE_INT, "profile_count": MAYBE_INT, "last_error": MAYBE_STRING,
        "last_refresh_at": MAYBE_TIME, "last_success_at": MAYBE_TIME, "next_refresh_at": MAYBE_TIME,
        "last_check_at": {**MAYBE_TIME, "description": "the last health check between refreshes"},
        "breaker_state": MAYBE_STRING, "refreshing": BOOLEAN, "source": STRING, "latency_ms": MAYBE_NUMBER,
        "refreshing_run": MAYBE_INT, "fail_counter": INTEGER, "consecutive_failures": INTEGER,
        "breaker_next_try_at": {**MAYBE_TIME, "description": "while the breaker is open: when it lets the next call through"},
        "given_up": {**BOOLEAN, "description": "the supervisor stopped restarting the region's actor"},
        "last_outcome": nullable(ref("RefreshOutcome")),
    }, required=("region", "status", "source"))


def _leaderboard_row() -> dict[str, Any]:
    return obj({
        "rank": INTEGER, "model_id": STRING, "provider": STRING, "name": MAYBE_STRING, "kind": STRING,
        "region": MAYBE_STRING, "ttft_ms": MAYBE_NUMBER, "ttft_p90_ms": MAYBE_NUMBER,
        "output_tokens_per_s": MAYBE_NUMBER, "latency_ms": MAYBE_NUMBER, "latency_p90_ms": MAYBE_NUMBER,
        "samples": INTEGER, "measured_at": TIME, "run_id": INTEGER, "cost_usd": MAYBE_NUMBER,
        "tokens_estimated": BOOLEAN, "speed_includes_reasoning": BOOLEAN,
        "failed_at": {**MAYBE_TIME, "description": "the newest run here kept no sample: when (null: it measured)"},
        "last_error": MAYBE_STRING,
    }, extra=False)


def _model_region(ranked: bool = False) -> dict[str, Any]:
    properties = {
        "region": STRING, "access": STRING, "inference_types": STRINGS, "inference_profiles": array(ANY_OBJECT),
        "lifecycle": MAYBE_STRING, "customizations": STRINGS, "region_status": MAYBE_STRING,
        "latency_ms": MAYBE_NUMBER,
    }
    if ranked:
        properties = {"rank": INTEGER, **properties, "ttft_ms": MAYBE_NUMBER, "benchmark_failed_at": MAYBE_TIME,
                      "benchmark_error": MAYBE_STRING, "preferred": BOOLEAN}
    return obj(properties, required=("region", "access", *(("rank", "preferred") if ranked else ())))


def _reconciliation() -> dict[str, Any]:
    counts = {"type": "object", "additionalProperties": INTEGER}
    per_provider = obj({
        "counts": counts,
        "stale": array(obj({"entry": STRING, "catalogs": STRINGS})),
        "unknown": array(obj({"model_id": STRING}, required=("model_id",))),
        "conflicts": array(obj({"model_id": STRING, "field": STRING, "value": {}, "source": STRING,
                                "entry": MAYBE_STRING, "other": ANY_OBJECT, "difference": MAYBE_NUMBER},
                               required=("model_id", "field"))),
        "missing": array(obj({"model_id": STRING, "missing_since": TIME, "answers_missed": INTEGER},
                             required=("model_id", "missing_since"))),
        "truncated": array({"type": "string", "enum": list(FINDING_KINDS)}),
    }, required=("counts",))
    return obj({"tolerance": NUMBER, "counts": counts,
                "providers": {"type": "object", "additionalProperties": per_provider}})


def _compare() -> dict[str, Any]:
    return obj({
        "ids": STRINGS,
        "fields": array(obj({"field": STRING, "values": array({}), "differs": BOOLEAN})),
        "differing": STRINGS, "models": array(ref("Model")),
    })


SCHEMAS: dict[str, Any] = {
    "Error": _error(),
    "Model": _model(),
    "ModelDetail": _model_detail(),
    "ModelPage": _page("Model", {"as_of": {**TIME, "description": "with as_of: the time answered for"}}),
    "ModelComparison": _compare(),
    "ModelHistory": obj({"model_id": STRING, "versions": array(obj({
        "version": INTEGER, "change": {"type": "string", "enum": ["added", "updated", "removed"]},
        "content_hash": MAYBE_STRING, "diff": nullable(ANY_OBJECT), "run_id": MAYBE_INT, "created_at": TIME,
        "reason": {**MAYBE_STRING, "description": "why, where the run does not say it: e.g. the source is no "
                                                  "longer configured (its run's trigger is unconfigured)"},
        "model": ANY_OBJECT})),
        "total": INTEGER, "has_more": BOOLEAN,
        "next": nullable({"type": "integer", "description": "the before= of the page of older versions"})}),
    "Changes": obj({
        "from": TIME, "to": TIME,
        "counts": obj({k: INTEGER for k in ("added", "removed", "updated", "total")}),
        "data": array(obj({"id": STRING, "provider": STRING,
                           "change": {"type": "string", "enum": ["added", "removed", "updated"]},
                           "diff": ANY_OBJECT}, required=("id", "provider", "change"))),
        "next": MAYBE_STRING, "has_more": BOOLEAN}),
    "Capabilities": obj({"data": array(obj({"name": {"type": "string", "enum": list(CAPABILITIES)},
                                            "models": INTEGER, "aliases": STRINGS}))}),
    "RefreshOutcome": _outcome(),
    "RefreshRun": _run(),
    "RefreshStarted": obj({"runs": array(_outcome()),
                           "skipped": array(obj({"provider": STRING, "reason": STRING, "message": STRING,
                                                 "retry_after": NUMBER}, required=("provider", "reason")))},
                          required=("runs",)),
    "Provider": _provider(),
    "Health": _health(),
    "Event": _event(),
    "EventPage": obj({"data": array(ref("Event")), "next": INTEGER, "has_more": BOOLEAN, "last_event_id": INTEGER,
                      "missed": INTEGER}),
    "Subscription": _subscription(),
    "BenchmarkResult": _benchmark_result(),
    "BenchmarkRun": _benchmark_run(),
    "Region": _region(),
    "ModelRegion": _model_region(),
    "RankedRegion": _model_region(ranked=True),
    "LeaderboardRow": _leaderboard_row(),
    "Reconciliation": _reconciliation(),
}
