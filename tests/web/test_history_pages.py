"""A model's history past one page: the newest versions first served, ``has_more``/``next`` to
page back, ``total`` for all; real actors, SQLite, the simulator over loopback HTTP."""
from __future__ import annotations

from tests.conftest import provider_config
from web import create_app


def versioned(start_service, simulator, name: str, updates: int):
    """A service whose simulated OpenAI list has ``name`` refreshed in 1 + ``updates`` versions
    (its owned_by v0, v1, ...)."""
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai",
                                             manual_refresh_per_minute=1000)])
    simulator.state.add_model("openai", {"id": name, "object": "model", "created": 1, "owned_by": "v0"})
    service.wait([service.refresh("openai")], timeout=10)
    for i in range(1, updates + 1):
        simulator.state.update_model("openai", name, {"owned_by": f"v{i}"})
        service.wait([service.refresh("openai")], timeout=10)
    return service


def test_history_pages_back_to_the_first_version_and_says_how_many_there_are(start_service, simulator):
    service = versioned(start_service, simulator, "gpt-paged", 6)
    client = create_app(service).test_client()
    url = "/api/v1/models/openai/gpt-paged/history"

    whole = client.get(url).get_json()
    assert [v["version"] for v in whole["versions"]] == list(range(1, 8))
    assert whole["total"] == 7 and whole["has_more"] is False and whole["next"] is None

    seen, page = [], client.get(url + "?limit=3").get_json()
    while True:
        assert page["total"] == 7 and len(page["versions"]) <= 3
        seen = [v["version"] for v in page["versions"]] + seen
        if not page["has_more"]:
            assert page["next"] is None
            break
        page = client.get(f"{url}?limit=3&before={page['next']}").get_json()
    assert seen == list(range(1, 8))  # every version once, the first one "added"
    first = client.get(url + "?limit=1&before=2").get_json()
    assert [(v["version"], v["change"]) for v in first["versions"]] == [(1, "added")] and first["has_more"] is False
    assert first["versions"][0]["model"]["attributes"]["owned_by"] == "v0"

    assert client.get(url + "?before=1").get_json()["versions"] == []  # older than the first: none
    bad = client.get(url + "?before=0")
    assert bad.status_code == 400 and "before must be between 1" in bad.get_json()["error"]["message"]
    assert client.get("/api/v1/models/openai/never-was/history?before=5").status_code == 404


def test_the_history_verb_says_how_to_page_back(start_service, simulator):
    from click.testing import CliRunner

    from web.cli import cli
    from web.server import ServerThread

    service = versioned(start_service, simulator, "gpt-cli-paged", 3)
    server = ServerThread(service).start()
    try:
        env = {"DISCOVERY_ADMIN_TOKEN": None, "DISCOVERY_READ_TOKEN": None, "DISCOVERY_URL": None}
        out = CliRunner().invoke(cli, ["--url", server.url, "history", "openai/gpt-cli-paged", "--limit", "2"], env=env)
        assert out.exit_code == 0, out.stderr
        lines = out.stdout.splitlines()
        assert [line.split()[0] for line in lines if line.startswith("v")] == ["v3", "v4"]
        assert lines[-1] == "2 of 4 versions; older ones: --before 3"
        older = CliRunner().invoke(cli, ["--url", server.url, "history", "openai/gpt-cli-paged", "--before", "3"],
                                   env=env)
        assert [line.split()[0] for line in older.stdout.splitlines() if line.startswith("v")] == ["v1", "v2"]
    finally:
        server.stop()


def test_a_version_read_as_of_its_own_time_is_verified_by_the_run_that_wrote_it(start_service, simulator):
    from discovery.history import parse_time

    service = versioned(start_service, simulator, "gpt-verified", 1)
    client = create_app(service).test_client()
    versions = client.get("/api/v1/models/openai/gpt-verified/history").get_json()["versions"]
    finished = {r["id"]: r["finished_at"] for r in service.refresh_runs("openai")}
    assert len(versions) == 2
    for version in versions:
        written = parse_time(version["created_at"])
        assert finished[version["run_id"]] > written  # a run's finish is stamped as its commit ends
        record = client.get("/api/v1/models/openai/gpt-verified", query_string={"as_of": version["created_at"]})
        record = record.get_json()
        assert record["attributes"]["owned_by"] == version["model"]["attributes"]["owned_by"]
        times = {item["verified_at"] for item in record["provenance"].values() if item["source"] == "openai"}
        assert len(times) == 1 and None not in times
        verified = parse_time(times.pop())
        # The run that wrote this version had answered by then: not the run before it, nor none.
        before = [t for t in finished.values() if t < written]
        assert verified <= written + 1e-6 and verified > max(before, default=0.0)
