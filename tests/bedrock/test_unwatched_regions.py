"""A Bedrock region watched no more (left out of the settings, or no longer reported by EC2 with
discover_regions): its models leave the catalog, with the reason. Real boto3 against the
simulator, real actors, real SQLite."""
from __future__ import annotations

from tests.bedrock.conftest import bedrock_settings
from tests.bedrock.test_regions_service import expected_regions
from tests.conftest import wait_for
from web import create_app

KEPT, GONE = "eu-west-1", "ap-northeast-1"
BOTH = (KEPT, GONE)


def _split(simulator):
    """(models only GONE serves of the two, models both serve)."""
    served = expected_regions(simulator, BOTH)
    only_west = sorted(m for m, regions in served.items() if regions == {GONE})
    shared = sorted(m for m, regions in served.items() if regions == set(BOTH))
    assert only_west and shared, "the simulator's regions should differ and overlap"
    return only_west, shared


def test_a_region_left_out_of_the_settings_takes_its_models_and_its_name_out_of_their_records(
        start_bedrock, start_service, simulator):
    only_west, shared = _split(simulator)
    start_bedrock(BOTH).stop()

    service = start_service([], bedrock=bedrock_settings(simulator, (KEPT,)))
    wait_for(service.view.memos_ready.is_set, what="the stored sources to load")
    why = f"source bedrock@{GONE} is no longer configured (region {GONE} is not watched)"
    ids = set(service.index.ids())
    assert not ids & set(only_west)
    assert all(service.index.get(m).regions == (KEPT,) for m in shared)
    client = create_app(service).test_client()
    removed = client.get(f"/api/v1/models/{only_west[0]}/history").get_json()["versions"][-1]
    assert (removed["change"], removed["reason"]) == ("removed", why)
    updated = client.get(f"/api/v1/models/{shared[0]}/history").get_json()["versions"][-1]
    assert (updated["change"], updated["reason"], updated["diff"]["regions"]) == (
        "updated", why, [sorted(BOTH), [KEPT]])
    wait_for(lambda: service.bedrock_regions() and service.bedrock_regions()[0]["last_refresh_at"],
             what=f"{KEPT}'s refresh")
    assert [p["name"] for p in client.get("/api/v1/providers").get_json()["data"]] == [f"bedrock@{KEPT}"]
    runs = client.get(f"/api/v1/refresh/runs?provider=bedrock@{GONE}").get_json()["data"]
    assert runs[0]["trigger"] == "unconfigured" and runs[0]["removed"] == len(only_west)
    service.stop()
    # And after a later start too: the store keeps a row for the region.
    later = start_service([], bedrock=bedrock_settings(simulator, (KEPT,)))
    answer = create_app(later).test_client().get(f"/api/v1/refresh/runs?provider=bedrock@{GONE}")
    assert answer.status_code == 200 and answer.get_json()["data"][0]["trigger"] == "unconfigured"


def test_with_discover_regions_a_region_ec2_no_longer_reports_leaves_once_discovery_has_answered(
        start_bedrock, start_service, simulator):
    only_west, _ = _split(simulator)
    start_bedrock(BOTH).stop()
    settings = bedrock_settings(simulator, (KEPT,), discover_regions=True)
    # While EC2 reports the region it stays watched, and its models stay.
    simulator.state.set_models("ec2", [{"regionName": r, "optInStatus": "opt-in-not-required"} for r in BOTH])
    kept = start_service([], bedrock=settings)
    wait_for(lambda: [r["region"] for r in kept.bedrock_regions()] == sorted(BOTH), what="both regions watched")
    wait_for(kept.view.memos_ready.is_set, what="the stored sources to load")
    assert set(only_west) <= set(kept.index.ids())
    kept.stop()
    simulator.state.set_models("ec2", [{"regionName": KEPT, "optInStatus": "opt-in-not-required"}])
    service = start_service([], bedrock=settings)
    wait_for(lambda: not set(service.index.ids()) & set(only_west), what=f"{GONE}'s models to leave")
    runs = service.refresh_runs(f"bedrock@{GONE}")
    assert runs[0]["trigger"] == "unconfigured" and runs[0]["removed"] == len(only_west)
    assert [r["trigger"] for r in runs].count("unconfigured") == 1  # not at the start before
    assert [r["region"] for r in service.bedrock_regions()] == [KEPT]




def test_a_region_ec2_no_longer_reports_is_taken_out_by_its_own_run_while_a_new_region_is_awaited(
        start_bedrock, start_service, simulator):
    only_west, shared = _split(simulator)
    start_bedrock((GONE,)).stop()
    simulator.state.set_models("ec2", [{"regionName": KEPT, "optInStatus": "opt-in-not-required"}])
    # The configured region is new (nothing stored) and answers after DescribeRegions: the
    # start-up merge still waits for its first answer when EC2 has named the watched regions.
    simulator.state.set_latency(f"bedrock@{KEPT}", 1.0)
    service = start_service([], bedrock=bedrock_settings(simulator, (KEPT,), discover_regions=True))
    run = wait_for(lambda: [r for r in service.refresh_runs(f"bedrock@{GONE}")
                            if r["trigger"] == "unconfigured" and r["outcome"] != "running"],
                   what=f"{GONE}'s unconfigured run")[0]

    why = f"source bedrock@{GONE} is no longer configured (region {GONE} is not watched)"
    assert run["removed"] == len(only_west)
    # The run's row is read from the store, which has it from the commit; the index the writer
    # publishes just after (under CI's load, read in between once).
    wait_for(lambda: not set(service.index.ids()) & set(only_west), timeout=5, what=f"{GONE}'s models to leave")
    removed = service.history(only_west[0])[-1]
    assert (removed["change"], removed["run_id"], removed["reason"]) == ("removed", run["id"], why)
    # A model the awaited region serves too stays, without its other region: never removed meanwhile.
    versions = service.history(shared[0])
    assert "removed" not in [v["change"] for v in versions]
    assert (versions[-1]["change"], versions[-1]["run_id"], versions[-1]["reason"]) == ("updated", run["id"], why)
    assert service.index.get(shared[0]).regions == (KEPT,)
def _region_status_events(service, source, after):
    return [(e.data["old"], e.data["new"]) for e in service.events_after(after, 10_000)
            if e.kind == "status_changed" and e.provider == source]


def test_a_region_kept_by_retire_unconfigured_false_is_announced_once_and_again_when_ec2_reports_it(
        start_bedrock, start_service, simulator):
    """Kept, a region's status is stored as unconfigured and announced once: a restart (every
    region counts as watched until EC2 answers) announces nothing more; reported again, it is
    announced as unknown until its first answer, then as that answer says."""
    only_west, _ = _split(simulator)
    source = f"bedrock@{GONE}"
    both = start_bedrock(BOTH)
    wait_for(lambda: _region_status_events(both, source, 0), what=f"{GONE}'s first status")
    both.stop()
    settings = bedrock_settings(simulator, (KEPT,), discover_regions=True)
    simulator.state.set_models("ec2", [{"regionName": KEPT, "optInStatus": "opt-in-not-required"}])

    first = start_service([], bedrock=settings, retire_unconfigured=False)
    wait_for(lambda: source in first.view.kept_sources, what=f"{GONE} to be kept")
    assert set(only_west) <= set(first.index.ids())
    wait_for(lambda: len(_region_status_events(first, source, 0)) == 2, what=f"{GONE}'s status to be announced")
    # Its first answer (while watched), then its keeping.
    assert _region_status_events(first, source, 0) == [("unknown", "healthy"), ("healthy", "unconfigured")]
    listed = {p["name"]: p for p in first.providers()}
    assert listed[source]["status"] == "unconfigured"
    seen = first.last_event_id()
    first.stop()

    second = start_service([], bedrock=settings, retire_unconfigured=False)
    wait_for(lambda: source in second.view.kept_sources, what=f"{GONE} to be kept again")
    assert second.view.provider_rows[source]["status"] == "unconfigured"
    assert _region_status_events(second, source, seen) == []
    second.stop()

    simulator.state.set_models("ec2", [{"regionName": r, "optInStatus": "opt-in-not-required"} for r in BOTH])
    third = start_service([], bedrock=settings, retire_unconfigured=False)
    wait_for(lambda: [r["region"] for r in third.bedrock_regions()] == sorted(BOTH), what="both regions watched")
    wait_for(lambda: len(_region_status_events(third, source, seen)) == 2,
             what=f"{GONE} watched again, then its first answer, to be announced")
    assert _region_status_events(third, source, seen) == [("unconfigured", "unknown"), ("unknown", "healthy")]
    assert source not in third.view.kept_sources and set(only_west) <= set(third.index.ids())
