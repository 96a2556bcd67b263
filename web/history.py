"""The catalog as it was: ``?as_of=`` on the model list and detail, and /api/v1/changes."""
from __future__ import annotations

import base64
import binascii
import bisect
import json
import time
from collections import Counter
from typing import Optional

from flask import Blueprint, Response, jsonify, request

from discovery.draft import completed_trace
from discovery.history import RESOLUTION
from discovery.model import dumps, join_record, loads
from discovery.query import ModelQuery, QueryError, run_query
from discovery.timestamps import END_TIME, FIRST_TIME, iso, parse_time
from web.context import flag, int_arg, service
from web.errors import ApiError
from web.parameters import check_providers, values

bp = Blueprint("history", __name__, url_prefix="/api/v1")


def time_arg(name: str, default: Optional[float] = None) -> float:
    """An ISO 8601 time parameter as epoch seconds, a future time read as now.

    :raise ApiError 400: missing (without a default) or not an ISO 8601 time.
    """
    value = request.args.get(name)
    now = time.time()
    if value is None or not value.strip():
        if default is None:
            raise ApiError(400, "invalid_parameter", f"{name} is required: an ISO 8601 time, e.g. 2026-04-01T12:00:00Z")
        return min(default, now)
    try:
        return min(parse_time(value), now)
    except (ValueError, OverflowError) as exc:
        raise ApiError(400, "invalid_parameter", f"{name}: {exc}") from None


def models_as_of(args: dict[str, list[str]]) -> Response:
    """The model list as the catalog stood at ``as_of``: the live list's filters, sorting, paging
    and shape, with ``as_of`` (the time answered for) and ``catalog_version`` the point in history
    (the newest version row written by then; 0 before any history).

    :raise 400: a bad time or query parameter.
    """
    when = time_arg("as_of")
    check_providers(service(), values("provider", args))
    try:
        query = ModelQuery.from_args({k: v for k, v in args.items() if k != "as_of"})
    except QueryError as exc:
        raise ApiError(400, "invalid_query", str(exc)) from None
    past = service().catalog_as_of(when)
    page = run_query(past.index, query, past.performance)
    body = b"".join((b'{"data":[', b",".join([past.performance.splice(e.id, e.body) for e in page.items]),
                     b'],"total":%d,"limit":%d,"offset":%d,"catalog_version":%d,"as_of":%s}'
                     % (page.total, page.limit, page.offset, past.point, dumps(iso(when)))))
    return Response(body, mimetype="application/json")


def model_as_of(model_id: str) -> Response:
    """One model's full record as it stood at ``as_of``, with its measured ``performance`` of then
    (``?raw=false`` leaves out the raw answer); each provenance entry's ``verified_at`` is its
    source's last successful answer by then.

    :raise 400: a bad time. :raise 404: the catalog did not hold the model at that time.
    """
    when = time_arg("as_of")
    found = service().model_as_of(model_id, when)
    if found is None:
        raise ApiError(404, "model_not_found",
                       f"no model {model_id!r} in the catalog as of {iso(when)} (it was not yet added, or "
                       f"already removed; /api/v1/models/{model_id}/history lists its versions)")
    provenance = completed_trace(found.provenance, lambda: loads(found.body))
    for path, item in provenance.items():
        if not isinstance(item, dict):  # stored by an older version: the source alone
            item = provenance[path] = {"source": item, "entry": None, "match": None}
        item["verified_at"] = iso(found.answered.get(item.get("source")))
    raw_json = dumps(found.raw if found.raw is not None else {}) if flag("raw", True) else None
    body = found.performance.splice(model_id, found.body)
    from web.models import lifecycle_headers  # late: that module routes ?as_of= here

    return Response(join_record(body, dumps(provenance), raw_json), mimetype="application/json",
                    headers=lifecycle_headers(found.body))


def encode_cursor(start: float, end: float, after: str, providers: tuple[str, ...] = ()) -> str:
    """The ``next`` of a /changes page: the comparison's ``from`` and ``to``, its ``provider``
    filter and the last id given."""
    return base64.urlsafe_b64encode(dumps({"from": start, "to": end, "after": after,
                                           "provider": sorted(set(providers))})).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[float, float, str, Optional[tuple[str, ...]]]:
    """(from, to, last id, provider filter) of a cursor :func:`encode_cursor` made (the filter
    None in a cursor made before it was kept).

    :raise ApiError 400: not such a cursor, or one whose times no answer can show (years 1 to
        9999 in UTC, as a time parameter), which only a forged one holds.
    """
    try:
        found = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        start, end, after = float(found["from"]), float(found["to"]), found["after"]
        providers = found.get("provider")
        if not isinstance(after, str):
            raise TypeError(after)
        if providers is not None:
            if not isinstance(providers, list) or not all(isinstance(p, str) for p in providers):
                raise TypeError(providers)
            providers = tuple(providers)
        if not (FIRST_TIME <= start < END_TIME and FIRST_TIME <= end < END_TIME):  # NaN fails too
            raise ValueError(found)
    except (ValueError, TypeError, KeyError, OverflowError, RecursionError, binascii.Error):
        raise ApiError(400, "invalid_parameter", "cursor: not the next of a /changes page") from None
    return start, end, after, providers


def _same_time(a: float, b: float) -> bool:
    return abs(a - b) < RESOLUTION


@bp.get("/changes")
def changes():
    """What changed between the catalog at ``from`` and at ``to`` (default now): ``counts`` of
    models added, removed and updated, and a page of entries by id (``id``, ``provider``,
    ``change``, and ``diff`` for an update). A model added and removed in between is in neither.

    ``provider`` (comma list), ``limit`` (1–1000, default 100), ``cursor`` (the ``next`` of the
    previous page: it carries the first page's ``to``, so every page compares the same two
    catalogs whatever was committed in between, and its ``provider`` filter).
    :raise 400: a missing or bad time, ``from`` after ``to``, a bad limit, a cursor that is not a
        page's ``next`` or was made for another ``from``, ``to`` or ``provider``.
    """
    start = time_arg("from")
    cursor = request.args.get("cursor") or ""
    after = ""
    providers = tuple(values("provider"))
    if cursor:
        pinned_start, pinned_end, after, pinned_providers = decode_cursor(cursor)
        if pinned_providers is not None and set(pinned_providers) != set(providers):
            def named(filter_: tuple[str, ...]) -> str:
                return f"provider={','.join(sorted(set(filter_)))}" if filter_ else "every provider"

            raise ApiError(400, "invalid_parameter",
                           f"cursor: made for {named(pinned_providers)}, not {named(providers)}; pass the same provider "
                           "filter as the first page, or start again without a cursor")
        asked = request.args.get("to", "").strip()
        end = time_arg("to") if asked else pinned_end
        if asked and parse_time(asked) > end:
            # A future to is now, as on the first page: the cursor's to is that page's now.
            end = pinned_end
        if not (_same_time(start, pinned_start) and _same_time(end, pinned_end)):
            raise ApiError(400, "invalid_parameter",
                           f"cursor: made for the changes from {iso(pinned_start)} to {iso(pinned_end)}, "
                           f"not from {iso(start)} to {iso(end)}; start again without a cursor")
        start, end = pinned_start, pinned_end
    else:
        end = time_arg("to", default=time.time())
    if start > end:
        raise ApiError(400, "invalid_parameter", f"from ({iso(start)}) is after to ({iso(end)})")
    check_providers(service(), providers, regions=False)  # a region's models are Bedrock's: nothing matched
    limit = int_arg("limit", 100, 1, 1000)
    found = service().changes_between(start, end, providers)
    counts = Counter(c.change for c in found)
    at = bisect.bisect_right(found, after, key=lambda c: c.model_id) if after else 0
    page = found[at:at + limit]
    more = at + limit < len(found)
    return jsonify({
        "from": iso(start), "to": iso(end),
        "counts": {"added": counts["added"], "removed": counts["removed"], "updated": counts["updated"],
                   "total": len(found)},
        "data": [c.to_dict() for c in page],
        "next": encode_cursor(start, end, page[-1].model_id, providers) if more else None, "has_more": more,
    })
