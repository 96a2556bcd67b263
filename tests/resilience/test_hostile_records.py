"""Hostile provider records through the simulator: huge, control characters, absurd numbers, duplicates.

The service keeps serving, rejects each bad record with a reason (the run's ``rejected``), keeps
every good record of the same answer, leaves other providers untouched, and the database grows
by a bounded amount however large the hostile records are.
"""
from __future__ import annotations

import random
from pathlib import Path

import requests

from discovery import limits
from discovery.messages import ProviderSnapshot
from discovery.model import Model, Pricing
from tests.conftest import provider_config, wait_for
from web.server import ServerThread

MB = 1024 * 1024


def hostile_records(rng: random.Random, round_no: int) -> list[dict]:
    """One round of records an attacker (or a broken proxy) might serve, with a few good ones among them."""
    def rec(model_id, **extra):
        return {"id": model_id, "object": "model", "created": 1_700_000_000 + round_no, "owned_by": "x", **extra}

    junk = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
    return [
        rec(f"good-{round_no}-a"),
        rec("x" * 600),  # over the id limit (PostgreSQL's column would refuse the whole batch)
        rec(f"nul\x00{junk}"), rec(f"esc\x1b[31m{junk}"), rec(f"line\nbreak-{junk}"), rec(f"rtl\u202egpj.{junk}"),
        rec(f"zero\u200bwidth-{junk}"), rec(f"trailing-slash-{junk}/"), rec(f"double//slash-{junk}"),
        rec(f"ends/history-{junk}/history"),
        rec(f"huge-owner-{junk}", owned_by="o" * (3 * MB)),  # a 3 MB field: raw too large
        rec(f"big-attrs-{junk}", owned_by="p" * (100 * 1024)),  # record body over the limit
        rec(f"absurd-context-{junk}", max_model_len=1e308),  # became a 309-digit integer
        # A 401-digit integer: an OverflowError in the normalizer (float of it), then the writer's reason.
        rec(f"absurd-int-context-{junk}", max_model_len=10**400),
        rec(f"absurd-created-{junk}", created=1e308),  # not a date: dropped, the record stays
        rec(f"good-{round_no}-b", max_model_len=131072),
    ]


def db_size(db_url: str) -> int:
    path = Path(db_url.removeprefix("sqlite:///"))
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def test_hostile_records_are_rejected_with_reasons_and_nothing_else_suffers(start_service, simulator, db_url):
    state = simulator.state
    hostile = provider_config(simulator, "hostile", "openai_compatible", route="openai",
                              manual_refresh_per_minute=1000, max_removal_ratio=1.0)
    bystander = provider_config(simulator, "bystander", "openai_compatible", route="openai_compatible",
                                manual_refresh_per_minute=1000)
    service = start_service([hostile, bystander])
    wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), what="first refreshes")
    server = ServerThread(service).start()
    try:
        http = requests.Session()
        bystander_before = http.get(f"{server.url}/api/v1/providers/bystander/models?limit=1000").json()["data"]
        size_before = db_size(db_url)
        rng = random.Random(7)
        for round_no in range(4):
            records = hostile_records(rng, round_no)
            state.set_models("openai", records)
            # And every record sent twice (the format keeps the first of a repeated id).
            state.set_fault("openai", "duplicate", times=1)
            state.add_model("openai_compatible", {"id": f"calm-{round_no}", "object": "model", "created": 1,
                                                  "owned_by": "y"})
            answer = http.post(f"{server.url}/api/v1/refresh?wait=true&timeout=60", timeout=90).json()
            by_name = {r["provider"]: r for r in answer["runs"]}
            run = by_name["hostile"]
            assert run["outcome"] == "succeeded", run
            assert run["rejected"] == 13, run["rejections"]
            reasons = " | ".join(run["rejections"])
            for words in ("characters long", "control or invisible character U+0000", "U+001B", "U+000A", "U+202E",
                          "U+200B", "empty path segment", "route of its own", "bytes (at most",
                          "bytes encoded", "limits.context_window", "a 401-digit number is out of range"):
                assert words in reasons, (words, reasons)
            listed = {m["id"] for m in http.get(f"{server.url}/api/v1/providers/hostile/models?limit=1000",
                                                timeout=10).json()["data"]}
            absurd_created = next(f"hostile/{r['id']}" for r in records if r["id"].startswith("absurd-created"))
            # The good ones, and the one whose absurd date was simply not taken as a date; no bad one.
            published = {f"hostile/good-{round_no}-a", f"hostile/good-{round_no}-b", absurd_created}
            assert published <= listed
            assert not {f"hostile/{r['id']}" for r in records} - published & listed
            kept = http.get(f"{server.url}/api/v1/models/hostile/good-{round_no}-b", timeout=5).json()
            assert kept["limits"]["context_window"] == 131072
            assert "duplicate" not in kept["raw"], "the first of a repeated id is kept"
            stored = http.get(f"{server.url}/api/v1/refresh/runs/{run['run_id']}", timeout=5).json()
            assert stored["rejected"] == 13 and stored["rejections"] == run["rejections"]
            # The bystander in the same refresh is untouched by its neighbour's records.
            assert by_name["bystander"]["outcome"] == "succeeded" and by_name["bystander"]["rejected"] == 0
            # Every answer still comes quickly and whole.
            assert http.get(f"{server.url}/healthz", timeout=2).status_code == 200
            events = http.get(f"{server.url}/api/v1/events?limit=1000&provider=hostile&kinds=models_refreshed",
                              timeout=5).json()["data"]
            assert events[-1]["data"]["rejected"] == 13
        bystander_after = http.get(f"{server.url}/api/v1/providers/bystander/models?limit=1000").json()["data"]
        before = {m["id"]: m for m in bystander_before}
        after = {m["id"]: m for m in bystander_after}
        assert {k: v for k, v in after.items() if not k.startswith("bystander/calm-")} == before
        # Megabytes of hostile records were served each round; almost nothing of them was stored.
        grown = db_size(db_url) - size_before
        assert grown < 2 * MB, f"the database grew by {grown} bytes"
        page = http.get(f"{server.url}/api/v1/events?limit=1000", timeout=5)
        assert len(page.content) < MB
    finally:
        server.stop()


def test_a_batch_whose_commit_fails_is_committed_one_snapshot_at_a_time(start_service, simulator, db_url):
    """A store failure caused by one source's rows (a real SQLite trigger) fails that source only."""
    import sqlite3

    service = start_service([provider_config(simulator, "good", "openai_compatible", route="openai"),
                             provider_config(simulator, "bad", "openai_compatible", route="openai_compatible")])
    wait_for(lambda: all(p.get("last_success_at") for p in service.providers()), what="first refreshes")
    con = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    con.execute("CREATE TRIGGER refuse_bad BEFORE INSERT ON source_models WHEN NEW.source = 'bad' "
                "BEGIN SELECT RAISE(ABORT, 'this store refuses the bad source'); END")
    con.commit()
    con.close()

    def snapshot(source: str, model_id: str) -> ProviderSnapshot:
        run_id = service.view.next_run_id()
        service.catalog.begin_run(run_id, source, "manual")
        models = tuple(m for m in (service.index.get(i) for i in service.index.ids()) if m.provider == source)
        new = Model(provider=source, provider_model_id=model_id, raw={"id": model_id})
        return ProviderSnapshot(source=source, run_id=run_id, models=models + (new,), max_removal_ratio=1.0)

    good, bad = snapshot("good", "fresh-good"), snapshot("bad", "fresh-bad")
    outcomes = service.catalog.apply_snapshots([bad, good]).get(timeout=30)
    assert [o.outcome for o in outcomes] == ["failed", "succeeded"]
    assert "refuses the bad source" in outcomes[0].error
    assert outcomes[1].added == 1 and service.index.entry("good/fresh-good") is not None
    assert service.index.entry("bad/fresh-bad") is None
    runs = {r["id"]: r for r in service.refresh_runs(limit=100)}
    assert runs[bad.run_id]["outcome"] == "failed" and runs[good.run_id]["outcome"] == "succeeded"


def test_limits_name_what_is_wrong():
    ok = Model(provider="p", provider_model_id="fine-model")
    assert limits.record_problem(ok) is None
    assert "at most 256" in limits.record_problem(Model(provider="p", provider_model_id="m" * 300))
    assert "U+202E" in limits.record_problem(Model(provider="p", provider_model_id="a\u202eb"))
    assert "name" in limits.record_problem(Model(provider="p", provider_model_id="m", name="n" * 600))
    assert limits.record_problem(Model(provider="p", provider_model_id="m", name="Tabbed\t")) is None
    assert "out of range" in limits.record_problem(Model(provider="p", provider_model_id="m",
                                                         pricing=Pricing(input=1e12)))
