"""A source taken out of the settings: its models leave the catalog at the next start, through the
normal removal path (history, events, run), and come back when it is configured again. Real
actors, a real SQLite file, the simulator over loopback HTTP."""
from __future__ import annotations

from click.testing import CliRunner
from loguru import logger

from tests.conftest import provider_config, wait_for
from web import create_app
from web.cli import cli
from web.server import ServerThread

REASON = "source groq is no longer configured"


def _sources(simulator):
    return [provider_config(simulator, "openai", "openai_compatible", route="openai"),
            provider_config(simulator, "groq", "openai_compatible", route="groq")]


def _sources_loaded(service):
    """The catalog has loaded every stored source (and taken out those not configured): the first
    refreshes wait for this too."""
    wait_for(service.view.memos_ready.is_set, what="the stored sources to load")


def _refreshed(service, names):
    wait_for(lambda: {p["name"] for p in service.providers() if p.get("last_success_at")} >= set(names),
             what=f"{', '.join(names)} to refresh")


def test_a_source_removed_from_the_settings_leaves_the_catalog_with_its_reason_and_comes_back(
        start_service, simulator):
    both = _sources(simulator)
    first = start_service(both)
    _refreshed(first, ["openai", "groq"])
    groq = sorted(m for m in first.index.ids() if m.startswith("groq/"))
    openai = sorted(m for m in first.index.ids() if m.startswith("openai/"))
    assert len(groq) >= 3 and openai
    last_event = first.last_event_id()
    first.stop()

    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message), level="WARNING", format="{level} {message}")
    try:
        second = start_service(both[:1])
        _sources_loaded(second)
    finally:
        logger.remove(sink)

    # The catalog: groq's models are gone once the stored sources have loaded, before any refresh
    # of this start is let through; openai's stay.
    ids = set(second.index.ids())
    assert not [m for m in ids if m.startswith("groq/")]
    assert set(openai) <= ids
    warned = [line for line in lines if REASON in line]
    assert len(warned) == 1 and warned[0].startswith("WARNING") and f"its {len(groq)} models left" in warned[0]

    # The history: a removed version with the reason, made by a run of its own.
    client = create_app(second).test_client()
    versions = client.get(f"/api/v1/models/{groq[0]}/history").get_json()["versions"]
    assert [v["change"] for v in versions] == ["added", "removed"]
    assert versions[-1]["reason"] == REASON and versions[0]["reason"] is None
    assert versions[-1]["model"]["id"] == groq[0]  # the last record, kept whole
    server = ServerThread(second).start()
    try:
        shown = CliRunner().invoke(cli, ["--url", server.url, "history", groq[0]],
                                   env={"DISCOVERY_READ_TOKEN": None, "DISCOVERY_URL": None})
    finally:
        server.stop()
    assert shown.exit_code == 0 and REASON in shown.stdout
    run = client.get(f"/api/v1/refresh/runs/{versions[-1]['run_id']}").get_json()
    assert (run["provider"], run["trigger"], run["outcome"], run["removed"], run["total"]) == (
        "groq", "unconfigured", "succeeded", len(groq), 0)

    # The feed: one removed event per model and the source's models_refreshed, each with the
    # reason; a subscriber resuming from before the restart is given them.
    got: list = []
    unsubscribe = second.subscribe(lambda events: got.extend(events), kinds=["removed", "models_refreshed"],
                                   since=last_event)
    wait_for(lambda: {e.model_id for e in got if e.kind == "removed"} >= set(groq), what="the removed events")
    unsubscribe()
    removed = [e for e in got if e.kind == "removed"]
    assert sorted(e.model_id for e in removed) == groq
    assert all(e.data["reason"] == REASON and e.run_id == run["id"] for e in removed)
    refreshed = [e for e in got if e.kind == "models_refreshed" and e.provider == "groq"]
    assert [(e.data["total"], e.data["removed"], e.data["reason"]) for e in refreshed] == [(0, len(groq), REASON)]

    # Its runs and events stay reachable by its name.
    runs = client.get("/api/v1/refresh/runs?provider=groq").get_json()["data"]
    assert runs[0]["id"] == run["id"] and runs[0]["trigger"] == "unconfigured"
    feed = client.get(f"/api/v1/events?since={last_event}&provider=groq&kinds=removed&limit=1000").get_json()["data"]
    assert sorted(e["model_id"] for e in feed) == groq and feed[0]["data"]["reason"] == REASON

    # Not a provider any more: neither listed nor waited for.
    _refreshed(second, ["openai"])
    assert [p["name"] for p in client.get("/api/v1/providers").get_json()["data"]] == ["openai"]
    assert client.get("/api/v1/providers/groq").status_code == 404
    ready = client.get("/readyz").get_json()
    assert ready["ready"] and ready["providers"] == 1 and "groq" not in ready["attempted"] + ready["pending"]
    second.stop()

    # Configured again: the next refresh brings every model back, with a new version.
    third = start_service(both)
    _refreshed(third, ["openai", "groq"])
    wait_for(lambda: set(groq) <= set(third.index.ids()), what="groq's models back")
    changes = [v["change"] for v in third.history(groq[0])]
    assert changes == ["added", "removed", "added"]


def test_a_restart_without_the_source_again_takes_nothing_more_out(start_service, simulator):
    both = _sources(simulator)
    first = start_service(both)
    _refreshed(first, ["openai", "groq"])
    first.stop()
    between = start_service(both[:1])
    _sources_loaded(between)
    between.stop()
    again = start_service(both[:1])
    _sources_loaded(again)
    assert [r["trigger"] for r in again.refresh_runs("groq")].count("unconfigured") == 1
    again.stop()
