"""A stored source the settings do not name whose models stay: a provider the automatic choice
leaves out only because its key's variable is unset (a secret not mounted at a deploy), and any
source with ``retire_unconfigured = false``. Taking one out on purpose still works. Real actors, a
real SQLite file, the simulator over loopback HTTP; the settings read from the environment."""
from __future__ import annotations

import dataclasses
import os

import pytest
from loguru import logger

from discovery.settings import AWS_CREDENTIAL_ENV
from discovery.settings_reader import load_settings
from tests.conftest import provider_config, wait_for
from web import create_app

GROQ_KEPT = "GROQ_API_KEY is not set; its {} models are kept as they were"


@pytest.fixture
def automatic(monkeypatch, simulator, start_service):
    """Start a service whose settings come from this environment, with no ``[providers.*]`` table
    (the automatic choice, openai's and groq's keys set), and its chosen openai and groq pointed at
    the simulator; the catalogs and OpenRouter, chosen with no key, are left out (they would go to
    the internet)."""
    from discovery.providers import FORMATS

    for var in [v for v in os.environ if v.startswith("DISCOVERY_")]:
        monkeypatch.delenv(var)
    for var in [*AWS_CREDENTIAL_ENV, *(f.default_api_key_env for f in FORMATS.values() if f.default_api_key_env)]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-kept")
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test-kept")

    def start(**kw):
        settings = load_settings()
        providers = [dataclasses.replace(p, base_url=simulator.base_url(p.name), timeout=2.0, retries=0,
                                         health_check_interval=0)
                     for p in settings.providers if p.name in ("openai", "groq")]
        values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)
                  if f.name not in ("providers", "database_url", "batch_max_delay", "restart_backoff")}
        return start_service(providers, **{**values, **kw})

    return start


def _sources_loaded(service):
    wait_for(service.view.memos_ready.is_set, what="the stored sources to load")


def _refreshed(service, names):
    """Each of ``names`` has refreshed since this service started (not only in an earlier one)."""
    wait_for(lambda: {p["name"] for p in service.providers()
                      if (p.get("last_success_at") or 0) >= service.started_at} >= set(names),
             what=f"{', '.join(names)} to refresh")


def _status_events(service, source, after=0):
    """(old, new, reason) of each status_changed event of ``source`` after event ``after``."""
    return [(e.data["old"], e.data["new"], e.data["reason"]) for e in service.events_after(after, 10_000)
            if e.kind == "status_changed" and e.provider == source]


def _warnings_while(start):
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message), level="WARNING", format="{level} {message}")
    try:
        service = start()
        _sources_loaded(service)
    finally:
        logger.remove(sink)
    return service, lines


def test_a_provider_whose_key_variable_is_unset_keeps_its_models_and_is_listed_unconfigured(
        automatic, monkeypatch):
    first = automatic()
    _refreshed(first, ["openai", "groq"])
    groq = sorted(m for m in first.index.ids() if m.startswith("groq/"))
    assert len(groq) >= 3
    wait_for(lambda: first.view.provider_rows.get("groq", {}).get("status") not in (None, "unknown"),
             what="groq's first status")
    first_status = first.view.provider_rows["groq"]["status"]
    last_event = first.last_event_id()
    first.stop()

    monkeypatch.delenv("GROQ_API_KEY")
    second, lines = _warnings_while(automatic)
    _refreshed(second, ["openai"])

    # The catalog and the feed: groq's models stay as they were, nothing is announced about them.
    assert set(groq) <= set(second.index.ids())
    client = create_app(second).test_client()
    feed = client.get(f"/api/v1/events?since={last_event}&kinds=removed,delisted,updated&limit=1000").get_json()
    assert feed["data"] == []
    assert [v["change"] for v in second.history(groq[0])] == ["added"]
    assert "unconfigured" not in [r["trigger"] for r in second.refresh_runs("groq")]

    # One WARNING names the provider, the variable, how many models stay and how to take it out.
    warned = [line for line in lines if "GROQ_API_KEY" in line]
    assert len(warned) == 1 and warned[0].startswith("WARNING")
    assert "groq" in warned[0] and f"its {len(groq)} models are kept" in warned[0]
    assert "DISCOVERY_PROVIDER_GROQ_ENABLED=false" in warned[0]

    # Listed as unconfigured with the reason, not refreshed, not waited for.
    listed = {p["name"]: p for p in client.get("/api/v1/providers").get_json()["data"]}
    assert listed["groq"]["status"] == "unconfigured" and listed["openai"]["status"] != "unconfigured"
    assert listed["groq"]["status_reason"] == GROQ_KEPT.format(len(groq))
    assert listed["groq"]["model_count"] == len(groq) and listed["groq"]["format"] == "groq"
    assert client.get("/api/v1/providers/groq").get_json()["status"] == "unconfigured"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.get_json()
    assert body["providers"] == 1 and "groq" not in body["attempted"] + body["pending"]

    # The status is stored and announced once, as any other status change; a restart while the
    # key is still missing announces nothing more.
    was = first_status
    assert was not in (None, "unconfigured")
    assert _status_events(second, "groq", last_event) == [(was, "unconfigured", GROQ_KEPT.format(len(groq)))]
    feed = client.get(f"/api/v1/events?since={last_event}&kinds=status_changed&provider=groq").get_json()["data"]
    assert [(e["data"]["old"], e["data"]["new"]) for e in feed] == [(was, "unconfigured")]
    kept_event = second.last_event_id()
    second.stop()
    again, _ = _warnings_while(automatic)
    assert again.view.provider_rows["groq"]["status"] == "unconfigured"
    assert _status_events(again, "groq", kept_event) == []
    again.stop()

    # The key back: groq refreshes again, and nothing changed meanwhile; its first check is
    # announced against the stored status.
    monkeypatch.setenv("GROQ_API_KEY", "gsk-test-kept")
    third = automatic()
    _refreshed(third, ["openai", "groq"])
    assert [v["change"] for v in third.history(groq[0])] == ["added"]
    assert "groq" not in third.view.kept_sources
    wait_for(lambda: _status_events(third, "groq", kept_event), what="groq's status to be announced")
    assert _status_events(third, "groq", kept_event)[0][:2] == ("unconfigured", was)


def test_a_provider_turned_off_in_the_environment_is_taken_out_and_the_others_still_chosen(
        automatic, monkeypatch):
    first = automatic()
    _refreshed(first, ["openai", "groq"])
    groq = sorted(m for m in first.index.ids() if m.startswith("groq/"))
    first.stop()

    monkeypatch.delenv("GROQ_API_KEY")
    monkeypatch.setenv("DISCOVERY_PROVIDER_GROQ_ENABLED", "false")
    second, lines = _warnings_while(automatic)
    assert not [m for m in second.index.ids() if m.startswith("groq/")]
    runs = second.refresh_runs("groq")
    assert runs[0]["trigger"] == "unconfigured" and runs[0]["removed"] == len(groq)
    assert any("source groq is disabled in the settings" in line for line in lines)
    _refreshed(second, ["openai"])
    assert [p["name"] for p in second.providers()] == ["openai"]


def test_retire_unconfigured_false_keeps_a_removed_tables_source_but_not_one_turned_off(start_service, simulator):
    both = [provider_config(simulator, "openai", "openai_compatible", route="openai"),
            provider_config(simulator, "groq", "openai_compatible", route="groq")]
    first = start_service(both)
    _refreshed(first, ["openai", "groq"])
    groq = sorted(m for m in first.index.ids() if m.startswith("groq/"))
    last_event = first.last_event_id()
    first.stop()

    second, lines = _warnings_while(lambda: start_service(both[:1], retire_unconfigured=False))
    assert set(groq) <= set(second.index.ids())
    assert not [e for e in second.events_after(last_event, 1000) if e.kind == "removed"]
    reason = (f"source groq is no longer configured, and retire_unconfigured is false; "
              f"its {len(groq)} models are kept as they were")
    listed = {p["name"]: p for p in second.providers()}
    assert listed["groq"]["status"] == "unconfigured" and listed["groq"]["status_reason"] == reason
    assert any(line.startswith("WARNING") and reason.split(";")[0] in line for line in lines)
    second.stop()

    # enabled = false is taking it out on purpose: it leaves whatever retire_unconfigured says.
    off = [both[0], dataclasses.replace(both[1], enabled=False)]
    third = start_service(off, retire_unconfigured=False)
    _sources_loaded(third)
    assert not [m for m in third.index.ids() if m.startswith("groq/")]
    assert third.refresh_runs("groq")[0]["trigger"] == "unconfigured"


def test_a_kept_catalog_still_merges_as_a_catalog(start_service, simulator, monkeypatch):
    monkeypatch.setenv("DISCOVERY_TEST_OPENAI_KEY", "sk-test-kept-catalog")
    records = dict(simulator.state.model_items("modelsdev"))
    simulator.state.set_models("modelsdev", {"openai": records["openai"]})
    simulator.state.remove_model("openai", "gpt-4o")  # so the catalog describes a model openai does not list
    openai = provider_config(simulator, "openai", "openai", api_key_env="DISCOVERY_TEST_OPENAI_KEY")
    first = start_service([openai, provider_config(simulator, "modelsdev", "modelsdev")])
    _refreshed(first, ["openai", "modelsdev"])
    assert first.index.get("openai/gpt-4o").live is False
    before = {m: first.index.get(m).to_dict() for m in first.index.ids()}
    last_event = first.last_event_id()
    first.stop()

    second = start_service([dataclasses.replace(openai, manual_refresh_per_minute=1000)], retire_unconfigured=False,
                           missing_grace_refreshes=0)
    _sources_loaded(second)
    _refreshed(second, ["openai"])
    assert "modelsdev" in second.view.kept_sources
    # A changed answer of openai is merged with the kept catalog as before: its records are still
    # catalog entries (live false), and only the model openai dropped changes.
    simulator.state.remove_model("openai", "gpt-4o-mini")
    second.wait([second.refresh("openai")], timeout=10)
    changed = {e.model_id for e in second.events_after(last_event, 1000) if e.model_id is not None}
    assert changed == {"openai/gpt-4o-mini"}
    after = {m: second.index.get(m).to_dict() for m in second.index.ids()}
    assert after.keys() == before.keys() and after["openai/gpt-4o-mini"]["live"] is False
    assert {m: r for m, r in after.items() if m != "openai/gpt-4o-mini"} == {
        m: r for m, r in before.items() if m != "openai/gpt-4o-mini"}


def test_bedrock_turned_off_by_missing_aws_credentials_keeps_its_regions_models(automatic, monkeypatch, simulator):
    """Bedrock is chosen automatically when an AWS credential variable is set: a restart without
    them (credentials not mounted) took every region's models out. They stay now, listed as
    unconfigured; DISCOVERY_BEDROCK_ENABLED=false takes them out on purpose."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTKEPTBEDROCK")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-kept-bedrock-secret")
    monkeypatch.setenv("DISCOVERY_BEDROCK_REGIONS", "us-east-1")
    monkeypatch.setenv("DISCOVERY_BEDROCK_ENDPOINT_URL", simulator.url + "/bedrock/{region}")
    first = automatic()
    assert first.settings.bedrock.enabled and not first.settings.bedrock.off_without_credentials
    wait_for(lambda: any(m.startswith("bedrock/") for m in first.index.ids()), what="us-east-1's first answer")
    regional = sorted(m for m in first.index.ids() if m.startswith("bedrock/"))
    # A region's status is stored and announced as a provider's is (after its answer's commit).
    wait_for(lambda: [e[:2] for e in _status_events(first, "bedrock@us-east-1", 0)] == [("unknown", "healthy")],
             what="us-east-1's first status")
    last_event = first.last_event_id()
    first.stop()

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    second, lines = _warnings_while(automatic)
    assert not second.settings.bedrock.enabled and second.settings.bedrock.off_without_credentials
    assert set(regional) <= set(second.index.ids())
    assert not [e for e in second.events_after(last_event, 1000) if e.kind in ("removed", "updated", "delisted")]
    assert "unconfigured" not in [r["trigger"] for r in second.refresh_runs("bedrock@us-east-1")]
    listed = {p["name"]: p for p in second.providers()}
    assert listed["bedrock@us-east-1"]["status"] == "unconfigured"
    assert listed["bedrock@us-east-1"]["status_reason"].startswith("no AWS credentials are in the environment")
    warned = [line for line in lines if "bedrock@us-east-1" in line or "no AWS credentials" in line]
    assert warned and all(line.startswith("WARNING") for line in warned)
    assert any("DISCOVERY_BEDROCK_ENABLED=false" in line for line in warned)
    # Stored and announced as kept, from the status it last had.
    assert _status_events(second, "bedrock@us-east-1", last_event) == [
        ("healthy", "unconfigured", listed["bedrock@us-east-1"]["status_reason"])]
    assert second.view.provider_rows["bedrock@us-east-1"]["status"] == "unconfigured"
    kept_event = second.last_event_id()
    second.stop()

    # The credentials back: the region is watched again, its status unknown until it answers (announced).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTKEPTBEDROCK")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-kept-bedrock-secret")
    back, _ = _warnings_while(automatic)
    assert back.settings.bedrock.enabled and "bedrock@us-east-1" not in back.view.kept_sources
    # Then its first answer, announced too.
    wait_for(lambda: len(_status_events(back, "bedrock@us-east-1", kept_event)) == 2, what="us-east-1's answer")
    assert _status_events(back, "bedrock@us-east-1", kept_event) == [
        ("unconfigured", "unknown", "watched again; its status is known at its first refresh"),
        ("unknown", "healthy", None)]
    back.stop()
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    monkeypatch.setenv("DISCOVERY_BEDROCK_ENABLED", "false")
    third, _ = _warnings_while(automatic)
    assert not set(regional) & set(third.index.ids())
    assert third.refresh_runs("bedrock@us-east-1")[0]["trigger"] == "unconfigured"


def test_a_kept_provider_still_matches_the_catalogs_under_its_catalog_provider_name(start_service, simulator):
    """A provider configured with the ``catalog_provider`` option is matched against the catalogs'
    entries of that name; kept when the settings no longer name it, its models are merged under
    the same name when a catalog changes (the name is stored with its provider row), not under
    its format's."""
    records = dict(simulator.state.model_items("modelsdev"))
    simulator.state.set_models("modelsdev", {"openai": records["openai"]})
    eu = provider_config(simulator, "eu", "openai_compatible", route="openai", options={"catalog_provider": "openai"})
    catalog = provider_config(simulator, "modelsdev", "modelsdev", manual_refresh_per_minute=1000)
    first = start_service([eu, catalog])
    _refreshed(first, ["eu", "modelsdev"])
    entry = records["openai"]["models"]["gpt-4o"]
    before = first.index.get("eu/gpt-4o").to_dict()
    assert before["limits"]["context_window"] == entry["limit"]["context"]  # from the catalog's openai entry
    first.stop()

    second = start_service([catalog], retire_unconfigured=False)
    _sources_loaded(second)
    assert "eu" in second.view.kept_sources
    grown = entry["limit"]["context"] * 2
    simulator.state.update_model("modelsdev", "openai", {"models": {"gpt-4o": {"limit": {"context": grown}}}})
    second.wait([second.refresh("modelsdev")], timeout=10)
    after = second.index.get("eu/gpt-4o").to_dict()
    assert after["limits"]["context_window"] == grown
    assert after["live"] == before["live"] and after["capabilities"] == before["capabilities"]


def test_a_catalog_entry_a_live_model_absorbs_is_removed_by_that_providers_run(start_service, simulator, monkeypatch):
    """In a commit of several answers, a change to a model none of them holds (a catalog-only
    record a provider's new live model now absorbs) was credited to the last answer's run: a
    start-up commit counted mistral's and together's removals in cohere's run."""
    monkeypatch.setenv("DISCOVERY_TEST_OPENAI_KEY", "sk-test-absorbed-entry")
    openai_entries = dict(simulator.state.model_items("modelsdev"))["openai"]
    simulator.state.set_models("modelsdev", {"openai": {**openai_entries, "models": {
        "gpt-4o": openai_entries["models"]["gpt-4o"]}}})
    first = start_service([provider_config(simulator, "modelsdev", "modelsdev")])
    _refreshed(first, ["modelsdev"])
    assert first.index.get("openai/gpt-4o").live is False
    last_event = first.last_event_id()
    first.stop()

    # openai now lists only a dated gpt-4o, which absorbs the catalog's undated entry; vllm
    # answers last, in the same start-up commit.
    simulator.state.set_models("openai", [{"id": "gpt-4o-2024-08-06", "object": "model", "created": 1722902400,
                                           "owned_by": "system"}])
    simulator.state.set_latency("openai_compatible", 0.3)
    openai = provider_config(simulator, "openai", "openai", api_key_env="DISCOVERY_TEST_OPENAI_KEY")
    second = start_service([openai, provider_config(simulator, "vllm", "openai_compatible"),
                            provider_config(simulator, "modelsdev", "modelsdev")])
    _refreshed(second, ["openai", "vllm", "modelsdev"])
    removed = [e for e in second.events_after(last_event, 5000) if e.kind == "removed"]
    assert "openai/gpt-4o" in {e.model_id for e in removed}
    openai_runs = {r["id"] for r in second.refresh_runs("openai")}
    assert {e.run_id for e in removed if e.model_id.startswith("openai/")} <= openai_runs
    vllm_run = second.refresh_runs("vllm")[0]
    assert vllm_run["removed"] == 0, vllm_run
