"""Behind a reverse proxy: the client a trusted proxy forwards for is the one logged and checked;
an untrusted peer's X-Forwarded-For is never believed. Over real HTTP on the service's port."""
from __future__ import annotations

import pytest
import requests
from loguru import logger

from discovery.settings_reader import SettingsError, load_settings
from tests.conftest import provider_config, wait_for
from web.server import ServerThread

FORWARDED = {"X-Forwarded-For": "198.51.100.9, 203.0.113.7", "X-Forwarded-Proto": "https"}


@pytest.fixture
def served(start_service, simulator):
    servers = []

    def start(**settings):
        service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")],
                                **settings)
        wait_for(lambda: all(p.get("last_refresh_at") for p in service.providers()), what="first refresh")
        server = ServerThread(service).start()
        servers.append(server)
        return service, server

    yield start
    for server in servers:
        server.stop()


def access_clients(send) -> list:
    """The ``client`` of each access line logged while ``send()`` runs."""
    records = []
    sink = logger.add(lambda m: records.append(m.record), level="INFO")
    try:
        send()
        # The access line is written once the answer is sent: the client may read it first.
        wait_for(lambda: any("http_status" in r["extra"] for r in records), what="the access line")
    finally:
        logger.remove(sink)
    return [r["extra"]["client"] for r in records if "http_status" in r["extra"]]


def test_a_trusted_proxy_names_the_client_logged_and_checked(served):
    service, server = served(trusted_proxies=("127.0.0.1",))
    clients = access_clients(lambda: requests.get(f"{server.url}/api/v1/providers", headers=FORWARDED, timeout=10))
    # The nearest address that is not a trusted proxy: the proxy appended 203.0.113.7.
    assert clients == ["203.0.113.7"]
    runs = len(service.refresh_runs(limit=1000))
    answer = requests.post(f"{server.url}/api/v1/refresh", headers=FORWARDED, timeout=10)
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"
    assert len(service.refresh_runs(limit=1000)) == runs
    # A request from the proxy's host that names no one else is still the proxy's own, loopback.
    assert access_clients(lambda: requests.get(f"{server.url}/healthz", timeout=10)) == ["127.0.0.1"]


def test_without_trusted_proxies_a_forwarded_address_is_not_believed(served):
    service, server = served()
    clients = access_clients(lambda: requests.get(f"{server.url}/api/v1/providers", headers=FORWARDED, timeout=10))
    assert clients == ["127.0.0.1"]
    answer = requests.post(f"{server.url}/api/v1/refresh", headers=FORWARDED, timeout=10)
    assert answer.status_code == 403


def test_a_peer_not_among_the_trusted_proxies_is_the_client(served):
    _, server = served(trusted_proxies=("10.0.0.0/8",))
    clients = access_clients(lambda: requests.get(f"{server.url}/api/v1/providers", headers=FORWARDED, timeout=10))
    assert clients == ["127.0.0.1"]


def test_trusted_proxies_are_checked_when_read(tmp_path):
    env = {"DISCOVERY_TRUSTED_PROXIES": "10.0.0.5, 10.1.0.0/16,::1"}
    assert load_settings(None, env).trusted_proxies == ("10.0.0.5", "10.1.0.0/16", "::1")
    with pytest.raises(SettingsError, match=r"DISCOVERY_TRUSTED_PROXIES: each must be an IP address.*'proxy\.lan'"):
        load_settings(None, {"DISCOVERY_TRUSTED_PROXIES": "10.0.0.5,proxy.lan"})
    path = tmp_path / "discovery.toml"
    path.write_text('[service]\ntrusted_proxies = ["10.0.0.300"]\n')
    with pytest.raises(SettingsError, match=r"service\.trusted_proxies: .*'10\.0\.0\.300'"):
        load_settings(path, {})
