"""The catalog as it was: ``?as_of=`` on the model routes, /api/v1/changes and the Atom feed,
over a running service with a real SQLite file and the simulator on a loopback port."""
from __future__ import annotations

import contextlib
import json
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import pytest

from discovery.diff import diff_contents
from discovery.query import ModelQuery, run_query
from discovery.simulator import load_modelsdev_snapshot
from tests.conftest import provider_config, wait_for
from tests.notify.conftest import add_model, openai_source
from tests.notify.test_modelsdev_history import SNAPSHOTS, records_by_model_id, truth
from web import create_app

ATOM = "{http://www.w3.org/2005/Atom}"


def list_all(client, query: str = "") -> dict[str, dict[str, Any]]:
    """Every model the list route answers for ``query``, paged through, by id."""
    out: dict[str, dict[str, Any]] = {}
    offset = 0
    while True:
        page = client.get(f"/api/v1/models?limit=1000&offset={offset}{query}")
        assert page.status_code == 200, page.get_json()
        body = page.get_json()
        out.update((m["id"], m) for m in body["data"])
        offset += len(body["data"])
        if offset >= body["total"]:
            return out


def refreshed_at(client, run_id: int) -> str:
    """The commit time of a run: the time of its models_refreshed event, as the feed prints it."""
    events = client.get("/api/v1/events?kinds=models_refreshed&limit=1000").get_json()["data"]
    return next(e["time"] for e in events if e["run_id"] == run_id)


def q(when: str) -> str:
    return quote(when, safe="")


@pytest.mark.skipif(len(SNAPSHOTS) < 3, reason="the models.dev history is not in ../shared/data/modelsdev")
def test_as_of_each_modelsdev_snapshot_commit_time_returns_exactly_that_snapshot(start_service, simulator):
    docs = [load_modelsdev_snapshot(path) for path in SNAPSHOTS]
    simulator.state.set_models("modelsdev", docs[0])
    source = provider_config(simulator, "modelsdev", "modelsdev", timeout=30.0, manual_refresh_per_minute=1000)
    service = start_service([source], batch_max_delay=0.0)
    client = create_app(service).test_client()
    # The run is stored as succeeded in the commit; the index is published right after it.
    first = wait_for(lambda: len(service.index) and [r for r in service.refresh_runs("modelsdev", limit=1)
                                                     if r["outcome"] == "succeeded"], timeout=60,
                     what="the first refresh")[0]
    before_any = datetime.fromtimestamp(first["started_at"] - 1, timezone.utc).isoformat()

    # What the live API answered right after each snapshot's refresh, and when that refresh committed.
    seen: list[tuple[str, dict[str, dict[str, Any]], dict[str, Any]]] = []
    for i, doc in enumerate(docs):
        if i:
            simulator.state.set_models("modelsdev", doc)
            (outcome,) = service.wait([service.refresh("modelsdev")], timeout=60)
            assert outcome.outcome == "succeeded", outcome.error
            run_id = outcome.run_id
        else:
            run_id = first["id"]
        live = list_all(client)
        assert set(live) == set(records_by_model_id(doc)), SNAPSHOTS[i].name
        # One record per snapshot, one with lifecycle dates where there is one (they make headers;
        # models.dev states none, so test_past_detail_keeps_the_lifecycle_headers checks them).
        dated = sorted(i for i, r in live.items() if r["lifecycle"]["deprecation_date"] or r["lifecycle"]["retirement_date"])
        sample = (dated or sorted(live))[len(dated or live) // 2]
        resp = client.get(f"/api/v1/models/{sample}")
        headers = {k: v for k, v in resp.headers.items() if k in ("Deprecation", "Sunset", "Link")}
        seen.append((refreshed_at(client, run_id), live, resp.get_json(), headers))

    for (when, live, detail, headers), path in zip(seen, SNAPSHOTS):
        past = list_all(client, f"&as_of={q(when)}")
        assert set(past) == set(live), f"{path.name}: ids differ"
        differing = [model_id for model_id in live if past[model_id] != live[model_id]]
        assert not differing, f"{path.name}: {len(differing)} records differ, e.g. {differing[:3]}"
        resp = client.get(f"/api/v1/models/{detail['id']}?as_of={q(when)}")
        assert {k: v for k, v in resp.headers.items() if k in ("Deprecation", "Sunset", "Link")} == headers
        got = resp.get_json()
        for record in (got, detail):
            for item in record["provenance"].values():
                item.pop("verified_at")
        assert got == detail, path.name

    # Between two commits the catalog is the earlier one; before the first there is none.
    middle = datetime.fromisoformat(seen[3][0]) + (datetime.fromisoformat(seen[4][0]) - datetime.fromisoformat(
        seen[3][0])) / 2
    assert list_all(client, f"&as_of={q(middle.isoformat())}").keys() == seen[3][1].keys()
    empty = client.get(f"/api/v1/models?as_of={q(before_any)}").get_json()
    assert empty["data"] == [] and empty["total"] == 0 and empty["catalog_version"] == 0

    # Between two snapshots' commits, /changes reports exactly what the files say changed.
    for a, b in ((0, 1), (2, 6), (0, len(docs) - 1)):
        expected = truth(docs[a], docs[b])
        found: list[dict[str, Any]] = []
        cursor = ""
        while True:
            page = client.get(f"/api/v1/changes?from={q(seen[a][0])}&to={q(seen[b][0])}&limit=1000"
                              + (f"&cursor={q(cursor)}" if cursor else "")).get_json()
            found += page["data"]
            if not page["has_more"]:
                break
            cursor = page["next"]
        for kind in ("added", "removed", "updated"):
            assert {c["id"] for c in found if c["change"] == kind} == expected[kind], (a, b, kind)
            assert page["counts"][kind] == len(expected[kind])
        for change in found:
            if change["change"] == "updated":
                old, new = seen[a][1][change["id"]], seen[b][1][change["id"]]
                assert change["diff"] == diff_contents(old, new), change["id"]


@pytest.fixture
def openai_service(start_service, simulator):
    # A model the list leaves out is removed at the next refresh, with no grace.
    service = start_service(openai_source(simulator), missing_grace_refreshes=0)
    wait_for(lambda: len(service.index) and [r for r in service.refresh_runs("openai", limit=1)
                                             if r["outcome"] == "succeeded"], what="the first refresh")
    return service


def refresh(service) -> float:
    (outcome,) = service.wait([service.refresh("openai")], timeout=30)
    assert outcome.outcome == "succeeded", outcome.error
    return time.time()


def test_changes_leave_out_a_model_added_and_removed_in_between(openai_service, simulator):
    service, client = openai_service, create_app(openai_service).test_client()
    start = time.time()
    add_model(simulator, "gpt-briefly")
    refresh(service)
    simulator.state.remove_model("openai", "gpt-briefly")
    add_model(simulator, "gpt-stays")
    refresh(service)
    end = time.time()
    body = client.get(f"/api/v1/changes?from={q(datetime.fromtimestamp(start, timezone.utc).isoformat())}"
                      f"&to={q(datetime.fromtimestamp(end, timezone.utc).isoformat())}").get_json()
    assert [c["id"] for c in body["data"]] == ["openai/gpt-stays"]
    assert body["counts"] == {"added": 1, "removed": 0, "updated": 0, "total": 1} and body["has_more"] is False
    # The in-process answer is the same, and so is the catalog as it was.
    assert [c.model_id for c in service.changes_between(start, end)] == ["openai/gpt-stays"]
    past = service.catalog_as_of(datetime.fromtimestamp(start, timezone.utc))
    page = run_query(past.index, ModelQuery.from_args({"q": "gpt-"}))
    assert "openai/gpt-briefly" not in {e.id for e in page.items} and "openai/gpt-stays" not in past.index
    assert "openai/gpt-stays" in service.catalog_as_of(end).index
    # A provider that did not change has nothing; paging by cursor walks the whole list.
    assert client.get(f"/api/v1/changes?from={q(iso(start))}&provider=openai").get_json()["counts"]["total"] == 1
    refused = client.get(f"/api/v1/changes?from={q(iso(start))}&provider=anthropic")
    assert refused.status_code == 400 and "known: openai" in refused.get_json()["error"]["message"]
    whole = client.get(f"/api/v1/changes?from={q(iso(start - 3600))}").get_json()
    paged, cursor = [], ""
    while True:
        page = client.get(f"/api/v1/changes?from={q(iso(start - 3600))}&limit=7"
                          + (f"&cursor={q(cursor)}" if cursor else "")).get_json()
        paged += page["data"]
        if not page["has_more"]:
            break
        cursor = page["next"]
    assert paged == whole["data"] and len(paged) == whole["counts"]["total"] > 7


def test_as_of_detail_of_a_model_not_yet_added_is_a_404_that_says_so(openai_service, simulator):
    client = create_app(openai_service).test_client()
    before = iso(time.time())
    add_model(simulator, "gpt-newcomer")
    refresh(openai_service)
    assert client.get("/api/v1/models/openai/gpt-newcomer").status_code == 200
    resp = client.get(f"/api/v1/models/openai/gpt-newcomer?as_of={q(before)}")
    assert resp.status_code == 404
    error = resp.get_json()["error"]
    assert error["code"] == "model_not_found" and "as of" in error["message"]
    # A time in the future is now.
    future = client.get("/api/v1/models/openai/gpt-newcomer?as_of=2999-01-01T00:00:00Z&raw=false").get_json()
    assert future["id"] == "openai/gpt-newcomer" and "raw" not in future
    assert client.get(f"/api/v1/providers/openai/models?as_of={q(before)}&q=gpt-newcomer").get_json()["total"] == 0
    assert client.get("/api/v1/providers/openai/models?as_of=2999-01-01&q=gpt-newcomer").get_json()["total"] == 1
    now = client.get("/api/v1/models?as_of=2999-01-01&limit=1000").get_json()
    assert [m["id"] for m in now["data"]] == [m["id"] for m in client.get("/api/v1/models?limit=1000").get_json()["data"]]


def test_the_cache_of_past_catalogs_is_counted_on_status_and_metrics(openai_service, simulator):
    client = create_app(openai_service).test_client()
    past = lambda: client.get("/api/v1/status").get_json()["history_cache"]  # noqa: E731
    assert past()["catalogs"] == 0 and past()["max_models"] > 0
    then = time.time()
    before = iso(then)
    add_model(simulator, "gpt-later")
    refresh(openai_service)
    for _ in range(2):
        assert client.get(f"/api/v1/models?as_of={q(before)}&q=gpt-later").get_json()["total"] == 0
    stats = past()
    assert (stats["misses"], stats["hits"], stats["catalogs"]) == (1, 1, 1)
    assert stats["models"] == len(openai_service.catalog_as_of(then).index) > 0  # a hit too
    text = client.get("/metrics").get_data(as_text=True)
    assert "discovery_history_cache_hits_total 2.0" in text and "discovery_history_cache_catalogs 1.0" in text


def iso(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).isoformat()


@pytest.mark.parametrize("url,code", [
    ("/api/v1/models?as_of=yesterday", "invalid_parameter"),
    ("/api/v1/models?as_of=2026-13-01", "invalid_parameter"),
    ("/api/v1/models?as_of=", "invalid_parameter"),
    ("/api/v1/models?as_of=2026-04-01&capability=telepathy", "invalid_query"),
    ("/api/v1/models?as_of=2026-04-01&colour=red", "invalid_parameter"),
    ("/api/v1/models/openai/gpt-4o?as_of=soon", "invalid_parameter"),
    ("/api/v1/changes", "invalid_parameter"),
    ("/api/v1/changes?from=2026-04-01&to=2026-03-01", "invalid_parameter"),
    ("/api/v1/changes?from=2026-04-01&limit=0", "invalid_parameter"),
    ("/api/v1/changes?from=nope", "invalid_parameter"),
    # A year-1 midnight one minute east of UTC is a time of year 0 in UTC, which no answer shows.
    ("/api/v1/models?as_of=0001-01-01T00:00:00%2B00:01", "invalid_parameter"),
    ("/api/v1/models/openai/gpt-4o?as_of=0001-01-01T00:00:00%2B00:01", "invalid_parameter"),
    ("/api/v1/providers/openai/models?as_of=0001-01-01T00:00:00%2B00:01", "invalid_parameter"),
    ("/api/v1/changes?from=0001-01-01T00:00:00%2B00:01", "invalid_parameter"),
    ("/api/v1/changes?from=2026-01-01&to=9999-12-31T23:59:59-01:00", "invalid_parameter"),
    ("/api/v1/events.atom?kinds=telepathy", "invalid_parameter"),
    ("/api/v1/events.atom?limit=100000", "invalid_parameter"),
])
def test_bad_history_requests_are_json_400s(openai_service, url, code):
    resp = create_app(openai_service).test_client().get(url)
    assert resp.status_code == 400, resp.data
    error = resp.get_json()["error"]
    assert error["code"] == code and error["message"]


def test_an_offset_turned_into_a_space_by_the_query_string_still_parses(openai_service):
    client = create_app(openai_service).test_client()
    unencoded = client.get("/api/v1/models?as_of=2999-01-01T00:00:00+00:00&limit=1")  # '+' arrives as ' '
    assert unencoded.status_code == 200 and unencoded.get_json()["total"] == len(openai_service.index)


def test_atom_feed_is_atom_with_entries_linking_to_the_models(openai_service, simulator):
    client = create_app(openai_service).test_client()
    add_model(simulator, "gpt-in-the-feed")
    refresh(openai_service)
    resp = client.get("/api/v1/events.atom?limit=20")
    assert resp.status_code == 200 and resp.mimetype == "application/atom+xml"
    feed = ET.fromstring(resp.data)
    assert feed.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated", "author"):
        assert feed.find(f"{ATOM}{name}") is not None, name
    assert feed.find(f"{ATOM}id").text.startswith("urn:uuid:")
    assert feed.find(f"{ATOM}link[@rel='self']").get("href").endswith("/api/v1/events.atom?limit=20")
    entries = feed.findall(f"{ATOM}entry")
    assert 0 < len(entries) <= 20
    ids = [json.loads(e.find(f"{ATOM}content").text)["id"] for e in entries]
    assert ids == sorted(ids, reverse=True), "newest first"
    assert feed.find(f"{ATOM}updated").text == entries[0].find(f"{ATOM}updated").text
    added = next(e for e in entries if e.find(f"{ATOM}title").text == "Added: openai/gpt-in-the-feed")
    assert added.find(f"{ATOM}id").text.startswith("urn:uuid:")
    assert added.find(f"{ATOM}link").get("href").endswith("/api/v1/models/openai/gpt-in-the-feed")
    assert datetime.fromisoformat(added.find(f"{ATOM}updated").text).tzinfo is not None
    event = json.loads(added.find(f"{ATOM}content").text)
    assert event["kind"] == "added" and event["model_id"] == "openai/gpt-in-the-feed"
    assert event == next(e for e in client.get("/api/v1/events?limit=1000").get_json()["data"] if e["id"] == event["id"])
    # Entry ids are stable between requests, and an unchanged feed is a 304 to a reader with its ETag.
    again = client.get("/api/v1/events.atom?limit=20")
    assert [e.find(f"{ATOM}id").text for e in ET.fromstring(again.data).findall(f"{ATOM}entry")] == \
        [e.find(f"{ATOM}id").text for e in entries]
    assert client.get("/api/v1/events.atom?limit=20", headers={"If-None-Match": resp.headers["ETag"]}).status_code == 304
    # ...and between the names the service is reached by (they came from the request's URL: the
    # same event under two host names was two entries), and a new app on the same store.
    elsewhere = create_app(openai_service).test_client().get(
        "/api/v1/events.atom?limit=20", headers={"Host": "discovery.internal:9000"})
    assert [e.find(f"{ATOM}id").text for e in ET.fromstring(elsewhere.data).findall(f"{ATOM}entry")] == \
        [e.find(f"{ATOM}id").text for e in entries]
    assert ET.fromstring(elsewhere.data).find(f"{ATOM}id").text == feed.find(f"{ATOM}id").text
    assert openai_service.catalog_id() == openai_service.catalog_id() and len(openai_service.catalog_id()) == 32


def test_atom_feed_takes_the_json_feeds_filters(openai_service, simulator):
    client = create_app(openai_service).test_client()
    for name in ("gpt-one", "gpt-two", "gpt-three"):
        add_model(simulator, name)
    refresh(openai_service)

    def entries(query: str) -> list[dict[str, Any]]:
        feed = ET.fromstring(client.get(f"/api/v1/events.atom?{query}").data)
        return [json.loads(e.find(f"{ATOM}content").text) for e in feed.findall(f"{ATOM}entry")]

    assert {e["kind"] for e in entries("kinds=added&limit=500")} == {"added"}
    # One commit writes its events in id order; the feed shows the newest first.
    assert [e["model_id"] for e in entries("kinds=added&limit=2")] == ["openai/gpt-two", "openai/gpt-three"]
    assert {e["model_id"] for e in entries("model=openai/gpt-t*&kinds=added")} == {"openai/gpt-two", "openai/gpt-three"}
    assert {e["provider"] for e in entries("provider=openai&kinds=added")} == {"openai"}
    assert client.get("/api/v1/events.atom?provider=anthropic").status_code == 400
    newest = entries("limit=1")[0]["id"]
    assert entries(f"since={newest}") == []
    assert all(e["id"] > newest - 3 for e in entries(f"since={newest - 3}"))


def test_every_event_kind_reads_as_an_atom_entry(openai_service):
    from discovery.diff import EVENT_KINDS
    from discovery.store import StoredEvent
    from web.atom import atom_feed

    data = {"model": {"id": "openai/x", "name": "X"}, "diff": {"limits.context_window": [1, 2]}, "gained": ["vision"],
            "lost": [], "status": "deprecated", "previous_status": "active", "capability": "vision", "models": 3,
            "total": 5, "added": 1, "summary": {"ttft_ms": 300.0, "output_tokens_per_s": 40.0, "latency_ms": 900.0},
            "metrics": {"ttft_ms": {"baseline": 300.0, "now": 700.0}}, "counts": {"stale": 2}, "old": "healthy",
            "new": "unavailable", "reason": "circuit open <& \"quoted\">", "date_kind": "retirement",
            "date": "2026-12-31", "days_left": 30, "successor": "y"}
    events = [StoredEvent(len(EVENT_KINDS) - i, kind, None if kind.startswith(("capability_", "reconciliation")) else
                          "openai", "openai/x" if kind in ("added", "updated", "removed") else None, None,
                          1_780_000_000.0 + i, data) for i, kind in enumerate(EVENT_KINDS)]
    app = create_app(openai_service)
    with app.test_request_context("/api/v1/events.atom"):
        feed = ET.fromstring(atom_feed(events, "http://localhost/api/v1/events.atom", "http://localhost/",
                                       "http://localhost/api/v1/events"))
    entries = feed.findall(f"{ATOM}entry")
    assert [e.find(f"{ATOM}category").get("term") for e in entries] == list(EVENT_KINDS)
    for entry in entries:
        assert entry.find(f"{ATOM}title").text and entry.find(f"{ATOM}summary").text
        assert entry.find(f"{ATOM}link").get("href").startswith("http://localhost/api/v1/")
    status = next(e for e in entries if e.find(f"{ATOM}category").get("term") == "status_changed")
    assert 'circuit open <& "quoted">' in status.find(f"{ATOM}summary").text


def test_past_detail_keeps_the_lifecycle_headers(start_service, simulator, monkeypatch):
    monkeypatch.setenv("MISTRAL_API_KEY", "simulated-key")
    service = start_service([provider_config(simulator, "mistral", "mistral")])
    wait_for(lambda: len(service.index), what="the first refresh")
    client = create_app(service).test_client()
    live = client.get("/api/v1/models/mistral/devstral-2512")
    assert live.status_code == 200 and live.headers.get("Deprecation")
    past = client.get("/api/v1/models/mistral/devstral-2512?as_of=2999-01-01")
    assert past.status_code == 200
    for name in ("Deprecation", "Sunset", "Link"):
        assert past.headers.get(name) == live.headers.get(name), name


def _inside(name: str) -> bool:
    """Whether some thread is now running a function called ``name`` (anywhere on its stack)."""
    import sys

    for frame in sys._current_frames().values():
        while frame is not None:
            if frame.f_code.co_name == name:
                return True
            frame = frame.f_back
    return False


@contextlib.contextmanager
def _commit_held(service, simulator, db_url):
    """While inside: the writer is in the commit of a refresh that adds ``openai/gpt-mid-commit``,
    held there by another connection's write lock (its versions' time already stamped). After:
    the lock let go, and the refresh succeeded."""
    import sqlite3

    add_model(simulator, "gpt-mid-commit")
    simulator.state.set_fault("openai", "hang", seconds=0.5, times=1)  # the answer comes after the lock is taken
    refreshing = service.refresh("openai")
    wait_for(lambda: service.refresh_runs("openai", limit=1)[0]["id"] == refreshing.run_id,
             what="the run's row to be stored")
    lock = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None, timeout=5)
    lock.execute("BEGIN IMMEDIATE")
    try:
        wait_for(lambda: _inside("commit_refresh"), what="the writer inside its commit")
        yield
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    (outcome,) = service.wait([refreshing], timeout=30)
    assert outcome.outcome == "succeeded", outcome.error


def test_as_of_a_time_inside_a_commit_under_way_answers_as_after_the_commit(openai_service, simulator, db_url):
    import threading

    service = openai_service
    ids = lambda past: set(past.index.ids())  # noqa: E731
    asked: dict[str, Any] = {}
    # Another connection holds the write lock: the writer's commit of that answer stamps its
    # versions' time, then waits inside commit_refresh until the lock is let go.
    with _commit_held(service, simulator, db_url):
        when = time.time()  # after the commit began: its versions are stamped before this
        reader = threading.Thread(target=lambda: asked.update(ids=ids(service.catalog_as_of(when))), daemon=True)
        reader.start()
        # Answered already (the commit not waited for), or waiting for the commit to end.
        wait_for(lambda: "ids" in asked or _inside("wait_until_committed"), what="the as_of read")
    reader.join(timeout=30)
    after = ids(service.catalog_as_of(when))
    assert "openai/gpt-mid-commit" in after
    assert asked["ids"] == after, "the same time answers the same catalog during and after the commit"


def two_changes(service, simulator, prefix: str = "gpt-aa") -> float:
    """Two models added and committed (``<prefix>-1``, ``-2``): two pages of a limit=1 /changes
    from the time returned."""
    start = time.time()
    add_model(simulator, f"{prefix}-1")
    add_model(simulator, f"{prefix}-2")
    refresh(service)
    return start


def test_changes_pages_after_the_first_answer_for_the_first_pages_to_though_commits_land_between(
        openai_service, simulator):
    service, client = openai_service, create_app(openai_service).test_client()
    start = two_changes(service, simulator)
    first = client.get(f"/api/v1/changes?from={q(iso(start))}&limit=1").get_json()
    assert [c["id"] for c in first["data"]] == ["openai/gpt-aa-1"] and first["has_more"]
    add_model(simulator, "gpt-zz-late")  # committed between the two requests, sorted after the cursor
    refresh(service)
    second = client.get(f"/api/v1/changes?from={q(iso(start))}&limit=1&cursor={q(first['next'])}").get_json()
    assert second["to"] == first["to"] and second["counts"] == first["counts"]
    assert [c["id"] for c in second["data"]] == ["openai/gpt-aa-2"] and not second["has_more"]
    # A cursor for another from or to is refused rather than mixing two comparisons.
    other = client.get(f"/api/v1/changes?from={q(iso(start))}&to={q(iso(time.time()))}&cursor={q(first['next'])}")
    assert other.status_code == 400 and "cursor" in other.get_json()["error"]["message"]
    moved = client.get(f"/api/v1/changes?from={q(iso(start - 60))}&cursor={q(first['next'])}")
    assert moved.status_code == 400


def test_a_changes_cursor_is_refused_with_another_provider_filter(openai_service, simulator):
    service, client = openai_service, create_app(openai_service).test_client()
    start = two_changes(service, simulator, "gpt-bb")
    first = client.get(f"/api/v1/changes?from={q(iso(start))}&limit=1&provider=openai").get_json()
    assert first["has_more"], first
    # The next page with the same filter (spelled again, repeated) goes on from the cursor.
    same = client.get(f"/api/v1/changes?from={q(iso(start))}&limit=1&provider=openai,openai"
                      f"&cursor={q(first['next'])}")
    assert same.status_code == 200 and same.get_json()["data"][0]["id"] == "openai/gpt-bb-2"
    # Without the filter (or with another) it would page another list from this one's place.
    dropped = client.get(f"/api/v1/changes?from={q(iso(start))}&limit=1&cursor={q(first['next'])}")
    assert dropped.status_code == 400
    message = dropped.get_json()["error"]["message"]
    assert "cursor: made for provider=openai, not every provider" in message, message
    # A cursor made without a filter is refused with one.
    unfiltered = client.get(f"/api/v1/changes?from={q(iso(start))}&limit=1").get_json()
    narrowed = client.get(f"/api/v1/changes?from={q(iso(start))}&limit=1&provider=openai"
                          f"&cursor={q(unfiltered['next'])}")
    assert narrowed.status_code == 400
    assert "made for every provider, not provider=openai" in narrowed.get_json()["error"]["message"]


def test_a_read_waiting_for_a_commit_under_way_does_not_hold_up_other_reads_of_the_past(start_service, simulator,
                                                                                        db_url):
    import threading

    # The Atom feed's reads are asked with ask_timeout, as every short read is.
    service = start_service(openai_source(simulator), ask_timeout=0.5)
    wait_for(lambda: len(service.index), what="the first refresh")
    with _commit_held(service, simulator, db_url):
        when = time.time()
        reader = threading.Thread(target=lambda: service.catalog_as_of(when), daemon=True)
        reader.start()
        wait_for(lambda: _inside("wait_until_committed"), what="the as_of read waiting for the commit")
        # Reads that have nothing to wait for answer meanwhile: the Atom feed's, and the past before it.
        assert service.newest_events(limit=1)
        assert "openai/gpt-mid-commit" not in set(service.catalog_as_of(when - 60).index.ids())
    reader.join(timeout=30)


def test_a_forged_changes_cursor_with_a_time_no_answer_can_show_is_a_400_naming_the_cursor(openai_service, simulator):
    import base64

    service, client = openai_service, create_app(openai_service).test_client()
    start = two_changes(service, simulator)
    first = client.get(f"/api/v1/changes?from={q(iso(start))}&limit=1").get_json()
    made = json.loads(base64.urlsafe_b64decode(first["next"] + "=" * (-len(first["next"]) % 4)))

    def forged(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    at, after = json.dumps(made["from"]), json.dumps(made["after"])
    for name, value in (("to", "NaN"), ("to", "Infinity"), ("to", "1e300"), ("to", '"1e999"'), ("to", "1" + "0" * 400),
                        ("to", "253402300800"), ("from", "-1e12"), ("from", "1e18")):
        fields = {"from": at, "to": json.dumps(made["to"]), "after": after, name: value}
        cursor = forged("{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}")
        answer = client.get(f"/api/v1/changes?from={q(iso(start))}&cursor={cursor}")
        assert answer.status_code == 400, (name, value, answer.get_data()[:200])
        assert "cursor" in answer.get_json()["error"]["message"], (name, value)
    # A cursor whose from and to are both forged alike, to a time no catalog had, is refused too.
    both = forged(f'{{"from": 1e300, "to": 1e300, "after": {after}}}')
    assert client.get(f"/api/v1/changes?from={q(iso(start))}&cursor={both}").status_code == 400


def test_a_changes_cursor_of_json_nested_too_deeply_to_read_is_a_400(openai_service):
    import base64

    client = create_app(openai_service).test_client()
    nested = base64.urlsafe_b64encode(b"[" * 1500 + b"]" * 1500).decode().rstrip("=")  # within the 4096 allowed
    answer = client.get(f"/api/v1/changes?from={q(iso(time.time() - 60))}&cursor={nested}")
    assert answer.status_code == 400, answer.get_data()[:200]
    assert answer.get_json()["error"]["message"] == "cursor: not the next of a /changes page"


def test_changes_pages_asked_with_the_same_future_to_follow_the_cursor(openai_service, simulator):
    service, client = openai_service, create_app(openai_service).test_client()
    start = two_changes(service, simulator)
    # A to in the future is read as now; a client that pages with the same query (and the cursor) gives it again.
    query = f"/api/v1/changes?from={q(iso(start))}&to=2100-01-01T00:00:00Z&limit=1"
    first = client.get(query).get_json()
    assert first["has_more"]
    second = client.get(f"{query}&cursor={q(first['next'])}")
    assert second.status_code == 200, second.get_json()
    assert second.get_json()["to"] == first["to"] and [c["id"] for c in second.get_json()["data"]] == ["openai/gpt-aa-2"]
    # A to in the past that is not the cursor's is still refused.
    earlier = (start + datetime.fromisoformat(first["to"].replace("Z", "+00:00")).timestamp()) / 2
    other = client.get(f"/api/v1/changes?from={q(iso(start))}&to={q(iso(earlier))}&cursor={q(first['next'])}")
    assert other.status_code == 400 and "cursor: made for" in other.get_json()["error"]["message"]
