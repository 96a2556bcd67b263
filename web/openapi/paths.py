"""The OpenAPI document's operations: every route of the service, its parameters and answers.

Each operation names the Flask endpoint that serves it in ``x-endpoint`` (``models.list_models``;
``events.stream`` for the native stream route; also its ``operationId`` unless one endpoint
serves two paths), which is how the app finds an operation's parameters (:mod:`web.parameters`)
and how the route test matches document and app.
"""
from __future__ import annotations

from typing import Any, Optional

from discovery.bedrock import REGION_NAME
from discovery.benchmark.board import LEADERBOARD_SORTS
from discovery.diff import EVENT_KINDS
from discovery.entry import SORT_FIELDS
from discovery.model import CAPABILITIES, KINDS, MODALITIES, STATUSES, UNKNOWN_KIND
from discovery.query import MAX_LIMIT, PERFORMANCE_SORTS
from discovery.reconcile import KINDS as FINDING_KINDS
from discovery.taxonomy import CAPABILITY_ALIASES
from web.auth import ADMIN_PREFIXES
from web.openapi.schemas import (
    ANY_OBJECT,
    BOOLEAN,
    INTEGER,
    MAYBE_INT,
    MAYBE_STRING,
    MAYBE_TIME,
    NUMBER,
    STRING,
    TIME,
    array,
    nullable,
    obj,
    ref,
)

MAX_ID = 2**62
# The taxonomy's names only: its aliases (fine-tuning, tools, ...) are accepted too, any case, but
# listed in an enum they made generated clients refuse the document (FINE_TUNING twice).
CAPABILITY_NAMES = list(CAPABILITIES)
ALIASES_NOTE = ("; also accepted, any case: " + ", ".join(sorted(CAPABILITY_ALIASES))) if CAPABILITY_ALIASES else ""
# What every operation can answer besides its own statuses (the access rules and the parameter rule).
COMMON = (400, 401, 403, 414, 502)
# Operations that ask an actor answer 503 when it does not answer in time or is restarting.
ASKS = (503,)
# On a follower whose leader did not answer for the regions' health: says so (the rows' status null).
REGIONS_HEALTH = {"type": "string", "description": "a follower whose leader did not answer: the regions' health "
                                                   "is unknown"}


# -- parameters ------------------------------------------------------------------------------------
def query(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    """A single-valued query parameter (given twice, it is a 400)."""
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def listing(name: str, description: str, items: Optional[dict[str, Any]] = None, **bounds: Any) -> dict[str, Any]:
    """A list parameter: a comma list, or the parameter repeated; its values are united."""
    schema: dict[str, Any] = {"type": "array", "items": items or {"type": "string", "minLength": 1}, **bounds}
    return {"name": name, "in": "query", "required": False, "style": "form", "explode": True,
            "description": description + " (a comma list, or the parameter repeated: their union)", "schema": schema}


def path(name: str, description: str, schema: Optional[dict[str, Any]] = None,
         example: Optional[str] = None) -> dict[str, Any]:
    out = {"name": name, "in": "path", "required": True, "description": description,
           "schema": schema or {"type": "string", "minLength": 1}}
    if example is not None:
        out["examples"] = {"example": {"value": example}}
    return out


def integer(lo: int, hi: Optional[int] = None, default: Optional[int] = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "integer", "minimum": lo}
    if hi is not None:
        out["maximum"] = hi
    if default is not None:
        out["default"] = default
    return out


def number(lo: float, hi: Optional[float] = None, exclusive_low: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "number", ("exclusiveMinimum" if exclusive_low else "minimum"): lo}
    if hi is not None:
        out["maximum"] = hi
    return out


def enum(values) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def signed(values) -> dict[str, Any]:
    """A sort parameter: a field, ``-`` before it for descending."""
    return enum([*values, *(f"-{v}" for v in values)])


MODEL_ID = path("model_id", "the canonical id, <provider>/<the provider's own id>; it may contain / : and .",
                example="openai/gpt-4o-mini")
PROVIDER_NAME = path("name", "a configured provider's name", example="openai")
LIMIT = query("limit", integer(1, MAX_LIMIT, 100), "items per page")
OFFSET = query("offset", integer(0, default=0), "items to skip")
AS_OF = query("as_of", {"type": "string", "format": "date-time"},
              "answer as the catalog stood at this ISO 8601 time (a date alone: its midnight; no offset: UTC)")
WAIT = query("wait", BOOLEAN, "wait for the outcome (200) instead of answering at once (202)")
PROVIDERS = listing("provider", "only these providers (configured ones, those the catalogs list, and every "
                                "source the store has known: one taken out of the settings keeps its runs and events); "
                                "bedrock@<region>, a watched region's source: Bedrock's models offered in that "
                                "region; an unknown one is a 400 that names the known ones")
EVENT_FILTERS = [
    listing("kinds", "only these event kinds", enum(EVENT_KINDS)),
    listing("kind", "the same as kinds; given both, the kinds of either match", enum(EVENT_KINDS)),
    listing("provider", "only these providers' events (the names the model list takes, and every source the "
                        "store has known); bedrock also takes every region's own events (runs, health), "
                        "bedrock@<region> that region's alone; an unknown one is a 400 that names the known ones"),
    listing("capability", "only events about models with one of these capabilities" + ALIASES_NOTE,
            enum(CAPABILITY_NAMES)),
    query("model", STRING, "only events about models whose id matches this glob (openai/gpt-4*)"),
]
SINCE = query("since", integer(0, MAX_ID), "only events after this event id")
DATE_PATTERN = {"type": "string", "pattern": r"^\d{4}(-\d{2}(-\d{2})?)?$"}


def model_filters(with_provider: bool = True) -> list[dict[str, Any]]:
    """The filters of the model list (also on a provider's models and on the leaderboard)."""
    out = [PROVIDERS] if with_provider else []
    return out + [
        listing("capability", "models with all of these capabilities" + ALIASES_NOTE, enum(CAPABILITY_NAMES)),
        listing("capabilities", "the same as capability", enum(CAPABILITY_NAMES)),
        listing("input_modality", "models taking all of these as input", enum(MODALITIES)),
        listing("output_modality", "models giving all of these as output", enum(MODALITIES)),
        listing("kind", "models of any of these kinds (unknown: no source gave one)", enum([*KINDS, UNKNOWN_KIND])),
        listing("status", "models in any of these lifecycle states", enum(STATUSES)),
        query("q", STRING, "text in the id or the name (case-insensitive)"),
        query("id", STRING, "ids matching this glob (openai/gpt-4*)"),
        query("live", BOOLEAN, "true: models a live list answered; false: models known only from a catalog"),
        query("min_context_window", integer(0), "context window at least this (unknown matches no range)"),
        query("min_max_output_tokens", integer(0), "output cap at least this"),
        query("max_input_price", number(0), "input price at most this, USD per million tokens"),
        query("max_output_price", number(0), "output price at most this, USD per million tokens"),
        query("released_after", DATE_PATTERN, "released on or after this date (YYYY-MM-DD, YYYY-MM, YYYY)"),
        query("released_before", DATE_PATTERN, "released on or before this date (a year or month: its last day)"),
        query("max_ttft_ms", number(0), "measured p50 time to first token at most this (milliseconds)"),
    ]


ATTRIBUTE_NOTE = ("Also `attr.<key>=<value>` (the attribute the provider states equals the value, or "
                  "contains it when a list; booleans as true/false) and `attr.<key>` alone (the attribute "
                  "is present), up to 16 of them.")
MODEL_SORT = query("sort", signed([*SORT_FIELDS, *PERFORMANCE_SORTS]),
                   "order by a field ('-' first: descending); unknown values sort last either way, ties by id")


# -- responses -------------------------------------------------------------------------------------
def json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERROR_TEXT = {
    400: "a parameter or the body is invalid: unknown, repeated where it takes one value, out of range",
    401: "no or a wrong token (WWW-Authenticate says how to send one)",
    403: "the token may not do this, or no admin token is configured and the client is not local",
    404: "not found", 405: "method not allowed (Allow names the methods)", 409: "conflict",
    413: "the request body is larger than max_request_body",
    414: "the query string is longer than 40 KiB",
    415: "the body is not sent as application/json",
    429: "too many requests (Retry-After says when to try again)",
    502: "withheld (answer_withheld): the answer held a configured secret nested too deeply to mask",
    503: "the service did not answer in time, is stopping, or the component is restarting (Retry-After may say "
         "when) or was given up on (a Bedrock region whose actor kept crashing: no Retry-After)",
    504: "waited longer than timeout; the work goes on",
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}}


def responses(ok: dict[int, dict[str, Any]], *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {str(status): body for status, body in ok.items()}
    for status in sorted(set(errors)):
        out[str(status)] = {"$ref": f"#/components/responses/E{status}"}
    return out


def error_components() -> dict[str, Any]:
    out = {}
    for status, text in ERROR_TEXT.items():
        body = json_body(ref("Error"), text)
        if status in (429, 503):
            body["headers"] = RETRY_AFTER
        if status == 401:
            body["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        if status == 405:
            body["headers"] = {"Allow": {"schema": {"type": "string"}}}
        out[f"E{status}"] = body
    return out


def op(endpoint: str, tag: str, summary: str, ok: dict[int, dict[str, Any]], *errors: int,
       params: Optional[list[dict[str, Any]]] = None, body: Optional[dict[str, Any]] = None,
       description: Optional[str] = None, open_access: bool = False, **extra: Any) -> dict[str, Any]:
    """One operation; ``open_access``: no token needed (probes, the document)."""
    common = (400, 414, 502) if open_access else COMMON
    out: dict[str, Any] = {"operationId": endpoint, "x-endpoint": endpoint, "tags": [tag], "summary": summary,
                           "parameters": params or [], "responses": responses(ok, *common, *errors)}
    if description:
        out["description"] = description
    if body is not None:
        out["requestBody"] = body
    if not open_access:
        out["security"] = [{"bearer": []}]  # operations() lets anonymous reads through (see there)
    out.update(extra)
    return out


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[int, dict[str, Any]]:
    return {200: json_body(schema, description)}


# A benchmark route's region: a watched one or one measured before (400 otherwise).
BENCH_REGION = query("region", STRING, "one Bedrock region, watched or measured (an unknown one is a 400); "
                                       "with provider=bedrock, not provider=bedrock@<region>")

RUNS_STARTED = {202: json_body(ref("RefreshStarted"), "started: the run ids, outcome running"),
                200: json_body(ref("RefreshStarted"), "with wait: each run's outcome")}


def _subscription_body() -> dict[str, Any]:
    # An optional field given as null is not given.
    fields = {
        "url": {"type": "string", "minLength": 1, "description": "https (or http) URL events are POSTed to"},
        "secret": nullable({"type": "string", "minLength": 16, "maxLength": 256,
                            "description": "signing key of at least 8 different characters, letters and digits "
                                           "mixed; generated when absent"}),
        "kinds": nullable(array(enum(EVENT_KINDS))), "providers": nullable(array(STRING)),
        "capabilities": nullable(array(enum(CAPABILITY_NAMES))),
        "model_glob": nullable({"type": "string", "maxLength": 512}),
        "max_batch": nullable(integer(1, 1000, 100)), "max_delay": nullable(number(0, 3600)),
        "description": nullable({"type": "string", "maxLength": 1000}),
        "since": nullable(integer(0, MAX_ID)),
    }
    example = {"url": "https://93.184.215.14/hooks/models", "kinds": ["added", "removed", "deprecated"],
               "providers": ["openai"], "max_batch": 50, "description": "the gateway's model list"}
    return {"required": True, "content": {"application/json": {
        "schema": obj(fields, required=("url",), extra=False), "examples": {"gateway": {"value": example}}}}}


REPLAY_BODY = {"required": False, "content": {"application/json": {"schema": obj(
    {"since": nullable(integer(0, MAX_ID))}, required=(), extra=False)}}}


def operations() -> dict[str, dict[str, Any]]:
    """Path -> method -> operation, for every route the service has."""
    paths = _operations()
    for path_, item in paths.items():
        for method, operation in item.items():
            # A read needs a token only when a read token is configured ({}: anonymous allowed);
            # a change, and every subscription route, always needs the admin token.
            if "security" in operation and method == "get" and not path_.startswith(ADMIN_PREFIXES):
                operation["security"] = [{}, {"bearer": []}]
    return paths


def _operations() -> dict[str, dict[str, Any]]:
    m = "models"
    return {
        "/api/v1": {"get": op("about.index", "service", "The API's resources, with links",
                              _ok(obj({"version": STRING, "openapi": STRING, "docs": STRING,
                                       "resources": array(obj({"name": STRING, "path": STRING,
                                                               "methods": array(STRING), "summary": STRING}))})))},
        "/api/v1/models": {"get": op(
            "models.list_models", m, "The catalog, filtered, sorted and paged",
            _ok(ref("ModelPage"), "a page of models"), *ASKS,
            params=[*model_filters(), MODEL_SORT, LIMIT, OFFSET, AS_OF], description=ATTRIBUTE_NOTE,
            **{"x-query-prefixes": ["attr."]})},
        "/api/v1/models/compare": {"get": op(
            "models.compare_models", m, "2 to 10 models side by side, field by field",
            _ok(ref("ModelComparison")), 404,
            params=[{**listing("ids", "the models to compare, 2 to 10 distinct ids", minItems=2,
                               maxItems=10, uniqueItems=True), "required": True}],
            description="404 names the ids the catalog does not hold (`error.unknown_ids`); fewer than 2 or "
                        "more than 10 distinct ids is a 400.")},
        "/api/v1/models/{model_id}": {"get": op(
            "models.get_model", m, "One model's full record", _ok(ref("ModelDetail")), 404, *ASKS,
            params=[MODEL_ID, query("raw", BOOLEAN, "false leaves out the provider's raw answer"), AS_OF],
            description="With a provider's deprecation or retirement date the answer carries `Deprecation`, "
                        "`Sunset` and a successor-version `Link`.")},
        "/api/v1/models/{model_id}/history": {"get": op(
            "models.model_history", m, "A model's versions, oldest first (the newest limit; before= pages back)",
            _ok(ref("ModelHistory")), 404, *ASKS,
            params=[MODEL_ID, LIMIT, query("before", {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                                          "versions older than this version (next)")])},
        "/api/v1/models/{model_id}/benchmarks": {
            "get": op("models.model_benchmarks", "benchmarks", "A model's measured performance and history",
                      _ok(obj({"model_id": STRING, "performance": {"type": ["object", "null"]},
                               "history": array(ref("BenchmarkResult"))})), 404, *ASKS,
                      params=[MODEL_ID, LIMIT, BENCH_REGION]),
            "post": op("models.start_model_benchmark", "benchmarks", "Benchmark a model now (admin)",
                       {202: json_body(obj({"runs": array(ANY_OBJECT)}), "started"),
                        200: json_body(obj({"runs": array(ref("BenchmarkRun")),
                                            "results": array(ref("BenchmarkResult"))}), "with wait: the results")},
                       404, 409, 504, *ASKS,
                       params=[MODEL_ID, query("region", STRING, "one Bedrock region"), WAIT,
                               query("timeout", number(0.1, 600), "seconds to wait (120)")],
                       description="409 `benchmarks_disabled`: benchmarking is off for the model's provider (or "
                                   "region); 409 `benchmark_refused`: its globs leave it out, or it can never be "
                                   "probed (catalog-only, no catalog price, retired, not chat or embedding). "
                                   "No run is made."),
        },
        "/api/v1/changes": {"get": op(
            "history.changes", "history", "What changed between the catalogs at two times", _ok(ref("Changes")),
            *ASKS, params=[query("from", {"type": "string", "format": "date-time"}, "ISO 8601 time", required=True),
                           query("to", {"type": "string", "format": "date-time"}, "ISO 8601 time (now)"),
                           PROVIDERS, LIMIT,
                           query("cursor", STRING, "the next of the previous page: it carries the first page's "
                                                   "to (leave to out, or give the same), so every page compares "
                                                   "the same two catalogs; one made for another from, to or "
                                                   "provider is a 400")])},
        "/api/v1/capabilities": {"get": op("models.capabilities", m, "The capability taxonomy with counts",
                                           _ok(ref("Capabilities")))},
        "/api/v1/providers": {"get": op("providers.list_providers", "providers", "Every configured provider",
                                        _ok(obj({"data": array(ref("Provider"))})), *ASKS)},
        "/api/v1/providers/{name}": {"get": op("providers.get_provider", "providers", "One provider",
                                               _ok(ref("Provider")), 404, *ASKS, params=[PROVIDER_NAME])},
        "/api/v1/providers/{name}/health": {"get": op(
            "providers.provider_health", "providers", "A provider's health record", _ok(ref("Health")), 404, *ASKS,
            params=[PROVIDER_NAME, query("history", integer(0, 100, 50), "recent checks to list")])},
        "/api/v1/providers/{name}/models": {"get": op(
            "providers.provider_models", "providers", "A provider's models (the model list's filters)",
            _ok(ref("ModelPage"), "a page of models"), 404, *ASKS,
            params=[PROVIDER_NAME, *model_filters(with_provider=False), MODEL_SORT, LIMIT, OFFSET, AS_OF],
            description=ATTRIBUTE_NOTE, **{"x-query-prefixes": ["attr."]})},
        "/api/v1/refresh": {"post": op(
            "refresh.refresh_all", "refresh", "Refresh every provider (admin)", RUNS_STARTED, 504, *ASKS,
            params=[WAIT, query("timeout", number(0.1, 300), "seconds to wait (30)")])},
        "/api/v1/providers/{name}/refresh": {"post": op(
            "refresh.refresh_one", "refresh", "Refresh one provider (admin)", RUNS_STARTED, 404, 429, 504, *ASKS,
            params=[PROVIDER_NAME, WAIT, query("timeout", number(0.1, 300),
                                               "seconds to wait (30)")])},
        "/api/v1/refresh/runs": {"get": op(
            "refresh.runs", "refresh", "Refresh history, newest first", _ok(obj({
                "data": array(ref("RefreshRun")), "has_more": BOOLEAN,
                "next": {**MAYBE_INT, "description": "the before of the next page (null: this is the last)"}},
                required=("data", "has_more", "next"))),
            *ASKS, params=[listing("provider", "only these providers' runs "
                                              "(bedrock: every region's; bedrock@<region>: one region's)"),
                           query("limit", integer(1, MAX_LIMIT, 50), "runs per page"),
                           query("before", integer(1, MAX_ID), "runs older than this run id (paging)")])},
        "/api/v1/refresh/runs/{run_id}": {"get": op(
            "refresh.run", "refresh", "One refresh run", _ok(ref("RefreshRun")), 404, *ASKS,
            params=[path("run_id", "a run id", integer(0, MAX_ID), example="1")])},
        "/api/v1/events": {"get": op(
            "events.events", "events", "The persisted change feed, oldest first", _ok(ref("EventPage")), *ASKS,
            params=[SINCE, LIMIT, *EVENT_FILTERS],
            description="`missed`: how many events after `since` retention had deleted (of any kind); "
                        "more than 0 means the client lost events and should resync.")},
        "/api/v1/events/stream": {"get": op(
            "events.stream", "events", "Server-Sent Events, live, resumable",
            {200: {"description": "an endless text/event-stream: id = event id, event = kind, data = the event",
                   "content": {"text/event-stream": {"schema": STRING}}}}, 503,
            params=[SINCE, *EVENT_FILTERS,
                    {"name": "Last-Event-ID", "in": "header", "required": False, "schema": integer(0, MAX_ID),
                     "description": "resume after this event id (wins over since)"}],
            description="At most sse_max_streams open (then 503 with Retry-After). A stream resumed "
                        "from an id retention has pruned past begins with `event: missed` (no `id`; data "
                        "`{since, oldest_event_id, missed}`): the client lost events and should resync.")},
        "/api/v1/events.atom": {"get": op(
            "atom.events_atom", "events", "The newest change events as an Atom 1.0 feed",
            {200: {"description": "the feed", "content": {"application/atom+xml": {"schema": STRING}},
                   "headers": {"ETag": {"schema": STRING}}},
             304: {"description": "unchanged since the ETag sent in If-None-Match"}}, *ASKS,
            params=[query("limit", integer(1, 500, 50), "entries"), SINCE, *EVENT_FILTERS])},
        "/api/v1/subscriptions": {
            "post": op("subscriptions.create", "subscriptions", "Register a signed webhook (admin)",
                       {201: {**json_body(ref("Subscription"), "created; secret shown once if generated"),
                              "headers": {"Location": {"schema": STRING}}}}, 413, 415, *ASKS, body=_subscription_body()),
            "get": op("subscriptions.list_subscriptions", "subscriptions", "Every subscription (admin)",
                      _ok(obj({"data": array(ref("Subscription"))})), *ASKS),
        },
        "/api/v1/subscriptions/{webhook_id}": {
            "get": op("subscriptions.get", "subscriptions", "One subscription with its deliveries (admin)",
                      _ok(ref("Subscription")), 404, *ASKS, params=[path("webhook_id", "a subscription id")]),
            "delete": op("subscriptions.delete", "subscriptions", "Delete a subscription (admin)",
                         {204: {"description": "deleted"}}, 404, *ASKS, params=[path("webhook_id", "a subscription id")]),
        },
        **{f"/api/v1/subscriptions/{{webhook_id}}/{action}": {"post": op(
            f"subscriptions.{action}", "subscriptions", summary, _ok(ref("Subscription")), 404, 413, *ASKS,
            params=[path("webhook_id", "a subscription id")] + (
                [query("since", integer(0, MAX_ID), "deliver again after this event id")] if action == "replay" else []),
            body=REPLAY_BODY if action == "replay" else None)}
            for action, summary in (("pause", "Hold deliveries (admin)"), ("resume", "Deliver again (admin)"),
                                    ("replay", "Active again, from the cursor or after since (admin)"))},
        "/api/v1/benchmarks": {"get": op(
            "benchmarks.board", "benchmarks", "The leaderboard of measured (model, region)",
            _ok(obj({"data": array(ref("LeaderboardRow")), "total": INTEGER, "limit": INTEGER, "offset": INTEGER,
                     "sort": STRING})), *ASKS,
            params=[*model_filters(), query("sort", signed(LEADERBOARD_SORTS), "order (ttft)"),
                    BENCH_REGION, LIMIT, OFFSET],
            description=ATTRIBUTE_NOTE, **{"x-query-prefixes": ["attr."]})},
        "/api/v1/export/litellm": {"get": op(
            "export.litellm", "models", "The catalog as a LiteLLM proxy model_list",
            _ok(obj({"model_list": array(obj({"model_name": STRING, "litellm_params": ANY_OBJECT,
                                              "model_info": ANY_OBJECT})),
                     "skipped": array(obj({"model_id": STRING, "reason": STRING})), "catalog_only": INTEGER,
                     "catalog_version": INTEGER, "generated_at": TIME,
                     "regions_health": {"type": "string", "description": "present on a follower whose leader did "
                                                                         "not answer for the Bedrock regions' health"}},
                    required=("model_list", "skipped", "catalog_only", "catalog_version", "generated_at"))), *ASKS,
            params=[*model_filters(), query("names", {"type": "string", "enum": ["id", "provider"]},
                                            "name each deployment by the id here (id) or the provider's own (provider)")],
            description="Every matching model a configured provider lists, as LiteLLM deployments: `litellm_params` "
                        "(`model` with LiteLLM's provider prefix, `api_key` as `os.environ/<VARIABLE>`, never the "
                        "key; `api_base` where not the provider's default; `aws_region_name` for Bedrock) and "
                        "`model_info` (mode, prices per token, limits, `supports_*`). " + ATTRIBUTE_NOTE,
            **{"x-query-prefixes": ["attr."]})},
        "/api/v1/benchmarks/runs": {"get": op(
            "benchmarks.runs", "benchmarks", "Benchmark runs, newest first, and today's spend",
            _ok(obj({"data": array(ref("BenchmarkRun")),
                     "today": obj({"spent_usd": NUMBER, "budget_per_day_usd": NUMBER})})), *ASKS,
            params=[PROVIDERS, BENCH_REGION,
                    query("limit", integer(1, MAX_LIMIT, 50), "runs per page"),
                    query("before", integer(1, MAX_ID), "runs older than this run id")])},
        "/api/v1/bedrock/regions": {"get": op("bedrock.regions", "bedrock", "Every watched AWS region",
                                              _ok(obj({"enabled": BOOLEAN, "data": array(ref("Region"))})), 503,
                                              description="A follower answers with the leader's regions; 503 "
                                                          "(leader_unavailable) while no leader answers.")},
        "/api/v1/bedrock/models/{model_id}/regions": {"get": op(
            "bedrock.model_regions", "bedrock", "Where a Bedrock model can be called",
            _ok(obj({"model_id": STRING, "regions": array(ref("ModelRegion")), "regions_health": REGIONS_HEALTH},
                    required=("model_id", "regions"))), 404,
            params=[path("model_id", "bedrock/<modelId>, the bare model id or an inference profile id",
                         example="bedrock/amazon.nova-lite-v1:0")])},
        "/api/v1/bedrock/models/{model_id}/best-regions": {"get": op(
            "bedrock.best_regions", "bedrock", "A Bedrock model's regions, best first",
            _ok(obj({"model_id": STRING, "preferred": array(STRING), "preferred_unavailable": array(STRING),
                     "regions": array(ref("RankedRegion")), "regions_health": REGIONS_HEALTH},
                    required=("model_id", "preferred", "preferred_unavailable", "regions"))), 404,
            params=[path("model_id", "bedrock/<modelId>, the bare model id or an inference profile id",
                         example="bedrock/amazon.nova-lite-v1:0"),
                    listing("preferred", "AWS regions to put first, in this order",
                            {"type": "string", "pattern": REGION_NAME.pattern}, maxItems=50)])},
        "/api/v1/reconciliation": {"get": op(
            "reconciliation.reconciliation", "reconciliation", "Where the catalogs and the live lists disagree",
            _ok(ref("Reconciliation")), *ASKS,
            params=[listing("kind", "only these findings", enum(FINDING_KINDS)), PROVIDERS,
                    query("tolerance", number(0, 10), "relative difference below which values agree"),
                    query("limit", integer(0, 10_000, 1000), "items per kind and provider")])},
        "/api/v1/status": {"get": op(
            "status.status", "service", "The published catalog, the record cache, the process's memory",
            _ok(obj({"catalog": obj({"models": INTEGER, "version": INTEGER, "providers": INTEGER,
                                     "published_at": TIME,
                                     "last_event_id": {**INTEGER, "description": "the newest event this instance's "
                                                       "catalog has taken in: the same on every instance and "
                                                       "across restarts for the same catalog"}}),
                     "benchmarks": obj({"enabled": BOOLEAN, "sources": array(STRING)}, required=("enabled", "sources")),
                     "store": obj({"ok": BOOLEAN, "failed_at": MAYBE_TIME, "error": MAYBE_STRING},
                                  description="the database's refusal of the last commit, until one succeeds"),
                     "cache": obj({"hits": INTEGER, "misses": INTEGER, "entries": INTEGER, "evictions": INTEGER,
                                   "bytes": INTEGER, "max_bytes": INTEGER, "hit_rate": {"type": ["number", "null"]}},
                                  required=("hits", "misses", "entries", "evictions", "bytes", "hit_rate")),
                     "page_cache": obj({"hits": INTEGER, "misses": INTEGER, "entries": INTEGER, "evictions": INTEGER,
                                        "bytes": INTEGER, "max_bytes": INTEGER,
                                        "hit_rate": {"type": ["number", "null"]}},
                                       required=("hits", "misses", "entries", "evictions", "bytes", "hit_rate")),
                     "history_cache": obj({"hits": INTEGER, "misses": INTEGER, "catalogs": INTEGER,
                                           "models": INTEGER, "max_models": INTEGER},
                                          required=("hits", "misses", "catalogs", "models", "max_models")),
                     "process": obj({"rss_bytes": {"type": ["integer", "null"]},
                                     "peak_rss_bytes": {"type": ["integer", "null"]}}),
                     **ROLE,
                     "replication": {"oneOf": [{"type": "null"}, obj({
                         "last_event_id": INTEGER, "applied_event_id": INTEGER, "connected": BOOLEAN,
                         "apply_latency_ms": obj({"count": INTEGER, "p50": NULLABLE_NUMBER, "p99": NULLABLE_NUMBER,
                                                  "max": NULLABLE_NUMBER})})]}})))},
        "/healthz": {"get": op("health.healthz", "service", "Liveness",
                               _ok(obj({"status": STRING, "models": INTEGER, "catalog_version": INTEGER}, required=("status",),
                                       description="models and catalog_version only to a reader (the read "
                                                   "token, when one is set)")),
                               open_access=True)},
        "/readyz": {"get": op(
            "health.readyz", "service", "Readiness: the catalog loaded and one refresh round attempted",
            {200: json_body(ref("Readiness"), "ready"), 503: json_body(ref("Readiness"), "not ready yet")},
            open_access=True)},
        "/metrics": {"get": op(
            "metrics.metrics", "service", "Every metric in Prometheus text format (discovery_ prefix, base units)",
            {200: {"description": "the exposition", "content": {"text/plain": {"schema": STRING}}}})},
        "/version": {"get": op("about.version", "service", "The package version and build",
                               _ok(ref("Version")))},
        "/openapi.json": {"get": op("apidocs.openapi_document", "documentation", "This document",
                                    _ok({"type": "object"}), open_access=True)},
        "/docs": {"get": op("apidocs.page", "documentation", "The browsable API page (Swagger UI, served locally)",
                            {200: {"description": "HTML", "content": {"text/html": {"schema": STRING}}}},
                            open_access=True)},
        "/docs/{asset}": {"get": op(
            "apidocs.asset", "documentation", "The page's scripts and styles",
            {200: {"description": "a static file", "content": {"*/*": {"schema": STRING}}}}, 404, open_access=True,
            params=[path("asset", "a file of the Swagger UI distribution", example="swagger-ui.css")])},
        **_dashboard(),
    }


def _dashboard() -> dict[str, dict[str, Any]]:
    """The dashboard's page and files (web/dashboard.py). A page's query string is the page's own
    state (the filters it passes on to the API), so these routes take any parameters."""
    html = {200: {"description": "the dashboard page", "content": {"text/html": {"schema": STRING}},
                  "headers": {"ETag": {"schema": STRING}}},
            304: {"description": "unchanged since the ETag sent in If-None-Match"}}
    any_query = {"x-query-any": True}

    def page(endpoint: str, operation_id: str, summary: str, *errors: int, params=None) -> dict[str, Any]:
        out = op(endpoint, "dashboard", summary, html, *errors, params=params, open_access=True, **any_query)
        out["operationId"] = operation_id
        return {"get": out}

    page_name = path("page", "one of the dashboard's pages", enum(("catalog", "compare", "models", "changes",
                                                                   "providers", "benchmarks")), example="catalog")
    return {
        "/": page("dashboard.home", "dashboard.home", "The dashboard (the catalog first)"),
        "/ui/": page("dashboard.home", "dashboard.home_ui", "The dashboard under /ui/"),
        "/ui/{page}": page("dashboard.page", "dashboard.page", "A page of the dashboard", 404, params=[page_name]),
        "/ui/{page}/{rest}": page("dashboard.page", "dashboard.page_path", "A page of the dashboard with a path "
                                  "(/ui/models/<id>)", 404, params=[page_name, path("rest", "the page's own path")]),
        "/ui/assets/{version}/{name}": {"get": op(
            "dashboard.asset", "dashboard", "A script, style or image of the dashboard (cached a year under the "
            "current version)",
            {200: {"description": "the file", "content": {"*/*": {"schema": STRING}},
                   "headers": {"ETag": {"schema": STRING}}},
             304: {"description": "unchanged since the ETag sent in If-None-Match"}}, 404, open_access=True,
            params=[path("version", "the assets' version (any: an old one is served uncached)"),
                    path("name", "the asset's path", example="app.js")], **any_query)},
    }


NULLABLE_INT = {"type": ["integer", "null"]}
NULLABLE_NUMBER = {"type": ["number", "null"]}
# Every instance's role (docs/replicas.md), in /readyz and /api/v1/status.
ROLE = {
    "instance": STRING, "role": enum(("leader", "follower")),
    "leader": obj({"instance": {"type": ["string", "null"]}, "epoch": NULLABLE_INT,
                   "since": {"type": ["string", "null"]}}, description="the leader the store names"),
    "lag": obj({"events": INTEGER, "seconds": NUMBER}, description="a follower's lag behind the leader's commits"),
}
READINESS = obj({
    "ready": BOOLEAN, "catalog_loaded": BOOLEAN, "models": INTEGER, "providers": INTEGER,
    "attempted": array(STRING, "providers whose refresh has finished (either way) since start"),
    "refreshed_since_start": array(STRING, "providers refreshed successfully since start"),
    "given_up": array(STRING, "sources not attempted whose actor the supervisor gave up on: not waited for"),
    "pending": array(STRING, "providers not yet attempted"),
    "following": BOOLEAN, **ROLE,
}, required=("ready",), description="with a read token set, a probe without it gets ready alone")
VERSION = obj({"name": STRING, "version": STRING, "python": STRING,
               "build": obj({"commit": {"type": ["string", "null"]}, "date": {"type": ["string", "null"]}}),
               "admin_open": {"type": "boolean", "description": "whether a change sent from where this request "
                              "came would be accepted with no token (no admin token set; a loopback client on "
                              "a loopback name)"}},
              required=("name", "version", "build"))
