"""GET /api/v1/events.atom: the change feed as Atom 1.0 (RFC 4287), for feed readers.

The document is built with ElementTree, so every value is escaped by the serializer. Ids are
``urn:uuid:`` names derived (UUID v5) from the catalog's own name (kept in its store) and the
event id: stable across requests, restarts, every instance on the store and every name the
service is reached by (they came from the request's URL: the same event under two host names was
two entries to a reader); distinct between catalogs.
"""
from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any, Optional

from flask import Blueprint, Response, request, url_for

from discovery.model import dumps
from discovery.store import StoredEvent
from discovery.timestamps import iso
from web.context import int_arg, service
from web.events import MAX_ID, MAX_SCAN_PAGES, PAGE_SIZE, event_filter

bp = Blueprint("atom", __name__, url_prefix="/api/v1")

ATOM = "http://www.w3.org/2005/Atom"
ET.register_namespace("", ATOM)
DEFAULT_ENTRIES = 50
MAX_ENTRIES = 500
# Changed fields named in an update's summary before "and N more".
SUMMARY_FIELDS = 5


def _tag(name: str) -> str:
    return f"{{{ATOM}}}{name}"


def _add(parent: ET.Element, name: str, text: Optional[str] = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, _tag(name), attrs)
    if text is not None:
        element.text = text
    return element


def _urn(name: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, name).urn


def _diff_summary(diff: dict[str, Any]) -> str:
    parts = [f"{path}: {_short(old)} → {_short(new)}" for path, (old, new) in list(diff.items())[:SUMMARY_FIELDS]]
    if len(diff) > SUMMARY_FIELDS:
        parts.append(f"and {len(diff) - SUMMARY_FIELDS} more")
    return "; ".join(parts) or "record changed"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else dumps(value).decode()
    return text if len(text) <= 60 else text[:57] + "..."


def _model_name(data: dict[str, Any]) -> str:
    model = data.get("model") or {}
    return model.get("name") or model.get("id") or "the model"


def _measured(data: dict[str, Any]) -> str:
    summary = data.get("summary")
    where = f" in {data['region']}" if data.get("region") else ""
    if not summary:
        return f"no sample{where}: {data.get('error') or 'no reason given'}"
    return (f"TTFT {summary.get('ttft_ms')} ms, {summary.get('output_tokens_per_s')} tokens/s, "
            f"latency {summary.get('latency_ms')} ms{where}")


# What each kind says in a line: (title, summary) from the event.
SUMMARIES: dict[str, Callable[[StoredEvent], tuple[str, str]]] = {
    "added": lambda e: (f"Added: {e.model_id}", f"{_model_name(dict(e.data))} appeared at {e.provider}."),
    "removed": lambda e: (f"Removed: {e.model_id}", f"{_model_name(dict(e.data))} is gone from {e.provider}."),
    "updated": lambda e: (f"Updated: {e.model_id}", _diff_summary(dict(e.data.get("diff") or {}))),
    "capabilities_changed": lambda e: (
        f"Capabilities changed: {e.model_id}",
        f"gained {', '.join(e.data.get('gained') or ()) or 'none'}; lost {', '.join(e.data.get('lost') or ()) or 'none'}"),
    "listed": lambda e: (f"Listed: {e.model_id}", f"{e.data.get('source')} now lists it (a catalog knew it before)."),
    "delisted": lambda e: (f"Delisted: {e.model_id}",
                           f"{e.provider} no longer lists it; {e.data.get('source')} still describes it."),
    "deprecated": lambda e: (
        f"Deprecated: {e.model_id}",
        f"status {e.data.get('status')} (was {e.data.get('previous_status')}); "
        f"deprecation date {e.data.get('deprecation_date') or 'not stated'}"),
    "retiring_soon": lambda e: (
        f"Retiring soon: {e.model_id}",
        f"{e.data.get('date_kind')} date {e.data.get('date')}, {e.data.get('days_left')} days left"
        + (f"; successor {e.data['successor']}" if e.data.get("successor") else "")),
    "capability_added": lambda e: (f"Capability added: {e.data.get('capability')}",
                                   f"{e.data.get('capability')} is offered by {e.data.get('models', 'some')} model(s)."),
    "capability_removed": lambda e: (f"Capability removed: {e.data.get('capability')}",
                                     f"No model offers {e.data.get('capability')} any more."),
    "models_refreshed": lambda e: (
        f"Refreshed: {e.provider}",
        f"{e.data.get('total')} models; {e.data.get('added', 0)} added, {e.data.get('updated', 0)} updated, "
        f"{e.data.get('removed', 0)} removed"),
    "benchmark_completed": lambda e: (f"Measured: {e.model_id}", _measured(dict(e.data))),
    "benchmark_regressed": lambda e: (
        f"Slower: {e.model_id}",
        "; ".join(f"{metric}: {m.get('baseline')} → {m.get('now')}" for metric, m in (e.data.get("metrics") or {}).items())
        or "slower than its trailing median"),
    "reconciliation_changed": lambda e: (
        "Reconciliation changed",
        ", ".join(f"{n} {kind}" for kind, n in (e.data.get("counts") or {}).items()) or "findings changed"),
    "status_changed": lambda e: (f"Status: {e.provider} {e.data.get('new')}",
                                 f"{e.data.get('old')} → {e.data.get('new')}: {e.data.get('reason') or 'no reason given'}"),
}


def _describe(event: StoredEvent) -> tuple[str, str]:
    describe = SUMMARIES.get(event.kind)
    if describe is not None:
        return describe(event)
    subject = event.model_id or event.provider or "the catalog"
    return f"{event.kind}: {subject}", f"{event.kind} ({subject})"


def _link_of(event: StoredEvent) -> str:
    """The API URL of what the event is about: the model, else the provider, else the reconciliation
    or the capability list."""
    if event.model_id:
        return url_for("models.get_model", model_id=event.model_id, _external=True)
    if event.provider:
        return url_for("providers.get_provider", name=event.provider, _external=True)
    if event.kind == "reconciliation_changed":
        return url_for("reconciliation.reconciliation", _external=True)
    return url_for("models.capabilities", _external=True)


def atom_feed(events: list[StoredEvent], self_url: str, root_url: str, alternate_url: str,
              catalog: Optional[str] = None) -> bytes:
    """An Atom 1.0 document of events (newest first) as UTF-8 bytes with an XML declaration."""
    feed = ET.Element(_tag("feed"))
    name = f"urn:discovery-catalog:{catalog}/" if catalog else root_url
    _add(feed, "id", _urn(f"{name}api/v1/events"))
    _add(feed, "title", "Model catalog changes")
    _add(feed, "subtitle", "Models added, removed, updated and deprecated, as the discovery service committed them.")
    _add(feed, "updated", iso(events[0].created_at if events else time.time()))
    _add(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    _add(feed, "link", rel="alternate", type="application/json", href=alternate_url)
    _add(_add(feed, "author"), "name", "model discovery service")
    _add(feed, "generator", "model discovery service")
    for event in events:
        title, summary = _describe(event)
        entry = _add(feed, "entry")
        _add(entry, "id", _urn(f"{name}api/v1/events/{event.id}"))
        _add(entry, "title", title)
        _add(entry, "updated", iso(event.created_at))
        _add(entry, "published", iso(event.created_at))
        _add(entry, "link", rel="alternate", type="application/json", href=_link_of(event))
        _add(entry, "category", term=event.kind, label=event.kind.replace("_", " "))
        if event.provider:
            _add(entry, "category", term=event.provider, scheme=f"{root_url}api/v1/providers")
        _add(entry, "summary", summary, type="text")
        # Atom content of a non-XML, non-text media type must be base64; as text the event's JSON
        # stays readable in a feed reader and parseable by a script.
        _add(entry, "content", dumps(event.wire_dict()).decode(), type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def newest_matching(limit: int, since: int) -> list[StoredEvent]:
    """The newest ``limit`` events after ``since`` that match the request's filter, newest first."""
    svc, flt = service(), event_filter()
    python_side = bool(flt.capabilities or flt.model_glob)
    out: list[StoredEvent] = []
    before: Optional[int] = None
    page_size = PAGE_SIZE if python_side else limit
    for _ in range(MAX_SCAN_PAGES):
        page = svc.newest_events(before, page_size, flt.kinds, flt.providers)
        for event in page:
            if event.id <= since:
                return out
            before = event.id
            if flt.matches(event):
                out.append(event)
                if len(out) >= limit:
                    return out
        if len(page) < page_size:
            break
    return out


@bp.get("/events.atom")
def events_atom():
    """An Atom 1.0 feed of the newest change events, newest first (``application/atom+xml``).

    Filters as for ``/events`` (``kinds``, ``provider``, ``capability``, ``model``); ``limit``
    entries (1–500, default 50); ``since``: only events after that id. Answers 304 to a reader
    that sends back the ETag of an unchanged feed.
    :raise 400: a malformed parameter or an unknown event kind.
    """
    limit = int_arg("limit", DEFAULT_ENTRIES, 1, MAX_ENTRIES)
    since = int_arg("since", 0, 0, MAX_ID)
    events = newest_matching(limit, since)
    alternate = url_for("events.events", _external=True, **{k: v for k, v in request.args.items()
                                                             if k in ("kinds", "kind", "provider", "capability",
                                                                      "model")})
    body = atom_feed(events, request.url, request.url_root, alternate, service().catalog_id())
    resp = Response(body, mimetype="application/atom+xml")
    resp.set_etag(f"{events[0].id if events else 0}-{uuid.uuid5(uuid.NAMESPACE_URL, request.full_path).hex[:16]}")
    return resp.make_conditional(request)
