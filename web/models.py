"""/api/v1/models: list, detail and history."""
from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time
from email.utils import format_datetime
from urllib.parse import quote

from flask import Blueprint, Response, jsonify, request

from discovery.compare import MAX_MODELS, MIN_MODELS, compare
from discovery.draft import completed_trace
from discovery.lifecycle import may_have_dates
from discovery.model import CAPABILITIES, dumps, join_record, loads
from discovery.query import ModelQuery, QueryError, run_query
from discovery.taxonomy import CAPABILITY_ALIASES
from discovery.timestamps import iso
from web import benchmarks
from web.context import flag, int_arg, service
from web.errors import ApiError
from web.history import model_as_of, models_as_of
from web.parameters import check_providers, values

bp = Blueprint("models", __name__, url_prefix="/api/v1")


def _query_args(extra_ignored: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """The query parameters, a repeated one with all its values (they mean their union)."""
    return {k: v for k, v in request.args.to_dict(flat=False).items() if k not in extra_ignored}


def _page(args: dict[str, str], provider: str | None = None):
    if provider is not None:
        args = {**args, "provider": provider}
    svc = service()
    view = svc.view
    index, performance = view.index, view.performance
    # The same query on the same catalog and board is the same page (discovery/page_cache.py); only
    # a query that was answered before is found there, so a hit needs no checking again.
    key = tuple(sorted((k, tuple(v) if isinstance(v, list) else (v,)) for k, v in args.items()))
    body = view.pages.get(index, performance, key)
    if body is not None:
        return _tagged(body)
    check_providers(svc, values("provider", args))
    try:
        query = ModelQuery.from_args(args)
    except QueryError as exc:
        raise ApiError(400, "invalid_query", str(exc)) from None
    page = run_query(index, query, performance)
    # The records are encoded once, when their version is made: a page is a join of those
    # bytes, each with its measured performance spliced in.
    body = b"".join((b'{"data":[', b",".join([performance.splice(e.id, e.body) for e in page.items]),
                     b'],"total":%d,"limit":%d,"offset":%d,"catalog_version":%d}'
                     % (page.total, page.limit, page.offset, index.version)))
    body = TaggedPage(body)
    body.etag = hashlib.blake2b(body, digest_size=16).hexdigest()
    view.pages.put(index, performance, key, body)
    return _tagged(body)


class TaggedPage(bytes):
    """A list page's bytes with their ETag, made once with the page and kept with it in the page
    cache: hashing each answer again cost a list read 0.15 ms of its 0.7 ms."""

    etag = ""


def _tagged(body: bytes) -> Response:
    resp = Response(body, mimetype="application/json")
    tag = getattr(body, "etag", "")
    if tag:
        resp.set_etag(tag)
    return resp


@bp.get("/models")
def list_models():
    """The catalog, filtered, sorted and paged.

    Filters: provider, capability (all of a comma list; aliases accepted), input_modality,
    output_modality, kind, status, q (text in id or name), id (glob), live, max_ttft_ms (measured);
    sort (a field, or ttft, output_speed, latency; prefix '-' for descending); limit, offset.
    :raise 400: an unknown parameter, capability, kind, status, modality or sort field.
    """
    if "as_of" in request.args:  # the catalog as it stood then (web/history.py)
        return models_as_of(_query_args())
    return _page(_query_args())


@bp.get("/models/<path:model_id>")
def get_model(model_id: str):
    """One model's full record with its measured ``performance``; ``?raw=false`` leaves out the provider's answer.

    ``provenance`` maps each field to the source it came from and when that source last answered.
    :raise 404: no model with that id.
    """
    if "as_of" in request.args:
        return model_as_of(model_id)
    svc = service()
    entry = svc.index.entry(model_id)
    if entry is None:
        raise ApiError(404, "model_not_found", f"no model {model_id!r} in the catalog")
    # Pre-encoded parts joined: the list form, the traced provenance with when each source last
    # answered, and the raw answer.
    raw, traced = svc.record_detail(model_id)
    verified = verified_times(svc.view.provider_rows)
    fields = completed_trace(loads(traced), lambda: loads(entry.body))
    for path, item in fields.items():
        if not isinstance(item, dict):  # stored by an older version: the source alone
            item = fields[path] = {"source": item, "entry": None, "match": None}
        item["verified_at"] = verified.get(item.get("source"))
    # Measured performance is spliced in: a benchmark makes no new version of the record.
    body = join_record(svc.view.performance.splice(model_id, entry.body), dumps(fields),
                       raw if flag("raw", True) else None)
    return Response(body, mimetype="application/json", headers=lifecycle_headers(entry.body))


_verified: tuple[object, dict[str, str | None]] = (None, {})


def verified_times(rows: dict[str, dict]) -> dict[str, str | None]:
    """Per source, when it last answered (ISO), made once per version of the provider rows: the
    writer replaces the rows' dict on each commit, so the one formatted last holds until then."""
    global _verified
    kept_rows, kept = _verified
    if kept_rows is not rows:
        kept = {name: iso(row.get("last_success_at")) for name, row in rows.items()}
        _verified = (rows, kept)  # one tuple, swapped whole: safe for the other threads
    return kept


def lifecycle_headers(body: bytes) -> dict[str, str]:
    """``Deprecation`` (RFC 9745, ``@`` unix seconds), ``Sunset`` (RFC 8594, an HTTP date) and a
    ``successor-version`` link for a model whose provider has set those dates."""
    if not may_have_dates(body) and b'"successor":"' not in body:
        return {}
    lifecycle = loads(body).get("lifecycle") or {}
    out: dict[str, str] = {}
    deprecation, retirement = _day(lifecycle.get("deprecation_date")), _day(lifecycle.get("retirement_date"))
    if deprecation is not None:
        out["Deprecation"] = f"@{int(deprecation.timestamp())}"
    if retirement is not None:
        out["Sunset"] = format_datetime(retirement, usegmt=True)
    successor = lifecycle.get("successor")
    if isinstance(successor, str) and successor:
        provider = loads(body).get("provider") or ""
        target = successor if "/" in successor else f"{provider}/{successor}"
        out["Link"] = f'</api/v1/models/{quote(target, safe="/:")}>; rel="successor-version"'
    return out


def _day(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.combine(date.fromisoformat(value[:10]), time(0), tzinfo=UTC)
    except ValueError:
        return None


@bp.get("/models/<path:model_id>/benchmarks")
def model_benchmarks(model_id: str):
    """The model's benchmark history and current performance (web.benchmarks).

    :raise 404: the model is not in the catalog and was never benchmarked.
    """
    return benchmarks.model_benchmarks(model_id)


@bp.post("/models/<path:model_id>/benchmarks")
def start_model_benchmark(model_id: str):
    """Benchmark the model now (admin token; web.benchmarks).

    :raise 404: no such model. :raise 409: benchmarking is off for it.
    """
    return benchmarks.start_model_benchmark(model_id)


@bp.get("/models/<path:model_id>/history")
def model_history(model_id: str):
    """A model's versions, oldest first, each with its change and field diff: the newest ``limit``
    (default 100), or the newest older than version ``before``. ``total`` counts every version;
    ``has_more`` says older ones are left, and ``next`` is the ``before`` that pages to them.

    A removed model keeps its history.
    :raise 404: the id never existed.
    """
    limit = int_arg("limit", 100, 1, 1000)
    before = int_arg("before", 0, 1, 2**62) or None
    versions, more, total = service().history_page(model_id, limit, before)
    if not total:
        raise ApiError(404, "model_not_found", f"no history for model {model_id!r}")
    return jsonify({"model_id": model_id, "versions": versions, "total": total, "has_more": more,
                    "next": versions[0]["version"] if more and versions else None})


@bp.get("/capabilities")
def capabilities():
    """The capability taxonomy: each capability, how many models support it, and its aliases."""
    counts = service().index.capability_counts
    aliases: dict[str, list[str]] = {c: [] for c in CAPABILITIES}
    for alias, target in CAPABILITY_ALIASES.items():
        aliases[target].append(alias)
    return jsonify({"data": [{"name": c, "models": counts.get(c, 0), "aliases": sorted(aliases[c])}
                             for c in CAPABILITIES]})


@bp.get("/models/compare")
def compare_models():
    """2 to 10 models side by side (``ids``, a comma list or repeated): their records (``models``),
    every field aligned across them (``fields``: ``field``, ``values`` in the order of ``ids``,
    ``differs``) and the fields whose values differ (``differing``).

    :raise 400: fewer than 2 or more than 10 distinct ids.
    :raise 404: ids not in the catalog (named in the message and in ``unknown_ids``).
    """
    ids = values("ids")
    if not MIN_MODELS <= len(ids) <= MAX_MODELS:
        raise ApiError(400, "invalid_parameter",
                       f"ids must name {MIN_MODELS} to {MAX_MODELS} distinct models, got {len(ids)}")
    svc = service()
    index, performance = svc.index, svc.view.performance
    entries = {model_id: index.entry(model_id) for model_id in ids}
    unknown = [model_id for model_id, entry in entries.items() if entry is None]
    if unknown:
        raise ApiError(404, "model_not_found", f"not in the catalog: {', '.join(unknown)}", unknown_ids=unknown)
    records = [loads(performance.splice(model_id, entry.body)) for model_id, entry in entries.items()]
    return jsonify({**compare(records), "models": records})
