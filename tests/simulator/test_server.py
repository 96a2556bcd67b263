"""SimulatorServer: ports, base URLs and a clean stop."""
from __future__ import annotations

import threading

import pytest
import requests

from discovery.simulator import BASE_PATHS, SimulatorServer, SimulatorState


def test_two_servers_get_distinct_free_ports_and_share_nothing():
    with SimulatorServer() as a, SimulatorServer() as b:
        assert a.port != b.port and a.port > 0
        a.state.set_fault("openai", "status", status=500)
        assert requests.get(b.base_url("openai") + "/models", timeout=5).status_code == 200


def test_base_url_mapping_covers_every_served_provider():
    with SimulatorServer() as server:
        assert set(server.state.providers) == set(BASE_PATHS)
        assert server.base_url("openai") == server.url + "/openai/v1"
        assert server.base_url("groq") == server.url + "/groq/openai/v1"
        with pytest.raises(KeyError):
            server.base_url("nope")


def test_stop_ends_every_thread_even_with_idle_keep_alive_connections():
    before = set(threading.enumerate())
    server = SimulatorServer().start()
    session = requests.Session()  # left open: its connection stays in keep-alive
    for _ in range(3):
        session.get(server.base_url("openai") + "/models", timeout=5)
    server.state.set_fault("openai", "hang", seconds=30)
    with pytest.raises(requests.Timeout):
        requests.get(server.base_url("openai") + "/models", timeout=0.2)
    server.stop()
    assert set(threading.enumerate()) <= before
    session.close()


def test_a_wait_begun_while_the_server_stops_ends_at_once_and_waits_wait_again_after_a_restart():
    """A request that comes in while the server stops (a benchmark probe still running, say) does
    not hold the stop for its latency or time to first token; a server started again with the
    same state paces its answers as before."""
    import time

    state = SimulatorState()
    state.wake_all(closing=True)  # as stop() does, before it waits for the request threads
    started = time.monotonic()
    assert state.wait(5.0) is False and time.monotonic() - started < 1.0
    tenant = SimulatorServer(state=state)
    tenant.start()  # reopens the waits
    try:
        started = time.monotonic()
        assert state.wait(0.05) is True and time.monotonic() - started >= 0.05
        state.set_latency("openai", 0.2)
        started = time.monotonic()
        requests.get(tenant.base_url("openai") + "/models", timeout=5)
        assert time.monotonic() - started >= 0.2
    finally:
        tenant.stop()


def test_a_stopped_server_refuses_connections_and_can_be_stopped_again():
    server = SimulatorServer().start()
    url = server.base_url("openai") + "/models"
    server.stop()
    server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)


def test_a_given_state_is_the_one_served():
    state = SimulatorState()
    state.set_models("openai", [{"id": "only", "object": "model", "created": 0, "owned_by": "system"}])
    with SimulatorServer(state=state) as server:
        assert server.state is state
        data = requests.get(server.base_url("openai") + "/models", timeout=5).json()["data"]
        assert [row["id"] for row in data] == ["only"]


def test_concurrent_reads_during_model_changes_always_see_a_whole_answer():
    from concurrent.futures import ThreadPoolExecutor

    with SimulatorServer() as server:
        url = server.base_url("openai") + "/models"
        row = {"object": "model", "created": 0, "owned_by": "system"}

        def churn() -> None:
            for i in range(100):
                server.state.add_model("openai", {"id": f"churn-{i}", **row})
                server.state.remove_model("openai", f"churn-{i}")

        def read(_: int) -> int:
            with requests.Session() as session:
                for _ in range(10):
                    body = session.get(url, timeout=5).json()
                    assert body["object"] == "list" and any(r["id"] == "gpt-4o" for r in body["data"])
            return 10

        with ThreadPoolExecutor(max_workers=6) as pool:
            writer = pool.submit(churn)
            assert sum(pool.map(read, range(5))) == 50
            writer.result()
        assert server.state.request_count("openai") == 50
