"""retiring_soon notices and the missing grace, with a settable clock, across restarts of a real
service on a real SQLite file against the simulator."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from actors.service import start_service as start
from discovery.settings import Settings
from discovery.simulator.formats.mistral import _caps as caps
from discovery.simulator.formats.mistral import card
from tests.conftest import provider_config, wait_for
from web import create_app

DAY = 86400.0


class Clock:
    """A clock a test moves by hand."""

    def __init__(self, when: str):
        self.now = datetime.fromisoformat(when).replace(tzinfo=UTC).timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, days: float = 0.0, seconds: float = 0.0) -> None:
        self.now += days * DAY + seconds


@pytest.fixture
def run(db_url, simulator, monkeypatch):
    """Start (and restart) a service on one store, with the mistral simulator and a given clock."""
    monkeypatch.setenv("MISTRAL_API_KEY", "simulated-key")
    started = []

    def run_service(clock, **kw):
        for s in started:
            s.stop()
        started.clear()
        settings = Settings(providers=(provider_config(simulator, "mistral", "mistral"),), database_url=db_url,
                            batch_max_delay=0.01, restart_backoff=0.05, **kw)
        service = start(settings, clock=clock)
        started.append(service)
        wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), what="mistral to answer")
        return service

    yield run_service
    for s in started:
        s.stop()


def notices(service) -> list[tuple[str, str, int, str]]:
    body = create_app(service).test_client().get("/api/v1/events?kinds=retiring_soon&limit=1000").get_json()
    return [(e["model_id"], e["data"]["date_kind"], e["data"]["horizon_days"], e["data"]["date"])
            for e in body["data"]]


def chat(model_id, deprecation=None, replacement=None):
    return card(model_id, model_id, 32768, caps(chat=True, tools=True), deprecation=deprecation,
                replacement=replacement)


def test_retiring_soon_once_per_model_and_horizon_across_a_restart(run, simulator):
    clock = Clock("2026-11-30T00:00:00")
    simulator.state.set_models("mistral", [
        chat("mistral-large-2411", deprecation="2027-01-30T00:00:00Z", replacement="mistral-large-latest"),
        chat("open-mixtral-8x7b", deprecation="2026-12-03T00:00:00Z"),
        chat("mistral-small-2506")])
    service = run(clock)
    # 61 days away: the 90-day notice; 3 days away: one notice, for 7 days (90 and 30 count as given).
    wait_for(lambda: len(notices(service)) == 2, what="the first notices")
    assert sorted(notices(service)) == [("mistral/mistral-large-2411", "deprecation", 90, "2027-01-30"),
                                        ("mistral/open-mixtral-8x7b", "deprecation", 7, "2026-12-03")]
    record = create_app(service).test_client().get("/api/v1/models/mistral/mistral-large-2411").get_json()
    assert record["lifecycle"]["successor"] == "mistral-large-latest"
    assert service.check_lifecycle() == 0  # nothing new on the same day

    clock.advance(days=32)  # 2027-01-01: 29 days before; the other date has passed
    assert service.check_lifecycle() == 1
    assert notices(service)[-1] == ("mistral/mistral-large-2411", "deprecation", 30, "2027-01-30")

    service = run(clock)  # a restart on the same store, the same day: nothing repeated
    assert service.check_lifecycle() == 0
    assert len(notices(service)) == 3

    clock.advance(days=24)  # 2027-01-25: 5 days before
    service = run(clock)  # the start-up check finds the 7-day notice due
    wait_for(lambda: len(notices(service)) == 4, what="the 7-day notice at start-up")
    assert notices(service)[-1] == ("mistral/mistral-large-2411", "deprecation", 7, "2027-01-30")

    # The provider moves the date: a new date, warned about again (35 days away: the 90-day horizon).
    simulator.state.set_models("mistral", [
        chat("mistral-large-2411", deprecation="2027-03-01T00:00:00Z", replacement="mistral-large-latest"),
        chat("open-mixtral-8x7b", deprecation="2026-12-03T00:00:00Z"), chat("mistral-small-2506")])
    client = create_app(service).test_client()
    assert client.post("/api/v1/providers/mistral/refresh?wait=true").status_code == 200
    wait_for(lambda: len(notices(service)) == 5, what="the notice for the moved date")
    assert notices(service)[-1] == ("mistral/mistral-large-2411", "deprecation", 90, "2027-03-01")


def test_missing_model_is_kept_through_a_time_grace_across_a_restart_then_removed(run, simulator):
    clock = Clock("2026-11-30T12:00:00")
    models = [chat("mistral-small-2506"), chat("codestral-2508"), chat("mistral-medium-2508")]
    simulator.state.set_models("mistral", models)
    service = run(clock, missing_grace_seconds=3600.0)
    client = create_app(service).test_client()
    first = client.get("/api/v1/events?limit=1000").get_json()["last_event_id"]

    def refresh():
        resp = client.post("/api/v1/providers/mistral/refresh?wait=true")
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()["runs"][0]

    def served():
        return {m["id"] for m in client.get("/api/v1/models?provider=mistral").get_json()["data"]}

    # Gone from the list, then back within the grace: nothing announced at all.
    simulator.state.set_models("mistral", models[:2])
    assert refresh()["removed"] == 0 and "mistral/mistral-medium-2508" in served()
    simulator.state.set_models("mistral", models)
    clock.advance(seconds=600)
    assert refresh()["removed"] == 0
    assert client.get(f"/api/v1/events?since={first}&kinds=added,removed,updated").get_json()["data"] == []

    # Gone again: missing since now, kept over a restart while the hour runs.
    simulator.state.set_models("mistral", models[:2])
    refresh()
    missing = service.reconciliation(kinds=["missing"])["providers"]["mistral"]["missing"]
    assert [(m["model_id"], m["missing_since"]) for m in missing] == [("mistral/mistral-medium-2508", clock.now)]
    clock.advance(seconds=1800)
    service = run(clock, missing_grace_seconds=3600.0)
    client = create_app(service).test_client()
    assert refresh()["removed"] == 0 and "mistral/mistral-medium-2508" in served()
    clock.advance(seconds=1801)  # an hour after it was first missed
    assert refresh()["removed"] == 1 and "mistral/mistral-medium-2508" not in served()
    removed = client.get(f"/api/v1/events?since={first}&kinds=removed").get_json()["data"]
    assert [e["model_id"] for e in removed] == ["mistral/mistral-medium-2508"]


def test_a_model_with_dates_answers_with_deprecation_sunset_and_successor_headers(run, simulator):
    simulator.state.set_models("mistral", [
        chat("mistral-large-2411", deprecation="2027-01-30T00:00:00Z", replacement="mistral-large-2512"),
        chat("mistral-large-2512")])
    service = run(Clock("2026-11-30T00:00:00"))
    client = create_app(service).test_client()
    old = client.get("/api/v1/models/mistral/mistral-large-2411")
    assert old.headers["Deprecation"] == f"@{int(datetime(2027, 1, 30, tzinfo=UTC).timestamp())}"
    assert old.headers["Link"] == '</api/v1/models/mistral/mistral-large-2512>; rel="successor-version"'
    assert "Sunset" not in old.headers  # Mistral states a deprecation date, not a retirement date
    current = client.get("/api/v1/models/mistral/mistral-large-2512")
    assert "Deprecation" not in current.headers and "Link" not in current.headers


def test_sunset_header_is_the_retirement_day_as_an_http_date():
    from web.models import lifecycle_headers

    body = b'{"id":"azure/gpt-35-turbo-0613","provider":"azure","lifecycle":{"status":"active",' \
           b'"deprecation_date":"2027-02-13","retirement_date":"2027-02-13","successor":null}}'
    headers = lifecycle_headers(body)
    assert headers["Sunset"] == "Sat, 13 Feb 2027 00:00:00 GMT"
    assert headers["Deprecation"] == f"@{int(datetime(2027, 2, 13, tzinfo=UTC).timestamp())}"
    assert lifecycle_headers(b'{"id":"a/b","lifecycle":{"status":"active"}}') == {}


def test_one_notice_for_a_date_that_is_both_deprecation_and_retirement_and_none_once_past():
    from datetime import date

    from discovery.lifecycle import due

    record = {"id": "azure/gpt-35", "provider": "azure",
              "lifecycle": {"deprecation_date": "2027-01-10", "retirement_date": "2027-01-10"}}
    (notice,) = due([record], date(2026, 12, 1), (90, 30, 7), {})
    assert (notice.kind, notice.horizon, notice.covers, notice.days_left) == ("retirement", 90, (90,), 40)
    given = {("azure/gpt-35", "retirement"): ("2027-01-10", frozenset({90}))}
    assert due([record], date(2026, 12, 2), (90, 30, 7), given) == []
    assert due([record], date(2027, 1, 11), (90, 30, 7), {}) == []  # already past


def test_retiring_soon_matches_a_capability_filter_on_the_feed(run, simulator):
    simulator.state.set_models("mistral", [
        chat("mistral-large-2411", deprecation="2027-01-30T00:00:00Z"),
        card("pixtral-12b-2409", "pixtral", 32768, caps(vision=True), deprecation="2027-01-20T00:00:00Z")])
    service = run(Clock("2026-11-30T00:00:00"))
    wait_for(lambda: len(notices(service)) == 2, what="the notices")
    client = create_app(service).test_client()
    body = client.get("/api/v1/events?kinds=retiring_soon&capability=tool_calling").get_json()
    assert [e["model_id"] for e in body["data"]] == ["mistral/mistral-large-2411"]
    assert "tool_calling" in body["data"][0]["data"]["capabilities"]
    vision = client.get("/api/v1/events?kinds=retiring_soon&capability=vision").get_json()["data"]
    assert [e["model_id"] for e in vision] == ["mistral/pixtral-12b-2409"]


def test_a_retiring_soon_notice_carries_the_records_capabilities():
    from datetime import date

    from discovery.lifecycle import due
    from discovery.messages import EventFilter
    from discovery.store import StoredEvent

    record = {"id": "azure/gpt-35", "provider": "azure",
              "capabilities": {"streaming": True, "tool_calling": True, "vision": False, "reasoning": None},
              "lifecycle": {"retirement_date": "2027-01-10"}}
    (notice,) = due([record], date(2026, 12, 1), (90, 30, 7), {})
    assert notice.event_data()["capabilities"] == ["streaming", "tool_calling"]
    event = StoredEvent(1, "retiring_soon", "azure", "azure/gpt-35", None, 0.0, notice.event_data())
    assert EventFilter.build(["retiring_soon"], (), ["tool_calling"]).matches(event)
    assert not EventFilter.build(["retiring_soon"], (), ["vision"]).matches(event)
