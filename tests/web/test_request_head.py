"""A request head is bounded in size and in time, over a real socket to the service's port: a
200 MB header froze every other request for seconds (minutes at 1 GB), a head sent a byte now
and then held its connection for good."""
from __future__ import annotations

import json
import socket
import time

import pytest
import requests

import web.protocol
from tests.conftest import provider_config, wait_for
from web.server import ServerThread


@pytest.fixture
def served(start_service, simulator):
    service = start_service([provider_config(simulator, "openai", "openai_compatible", route="openai")])
    wait_for(lambda: all(p.get("last_refresh_at") for p in service.providers()), what="the first refresh")
    server = ServerThread(service).start()
    yield server
    server.stop()


def answer(sock: socket.socket) -> tuple[int, dict]:
    """The status and JSON body of the answer on ``sock`` (read until the server closes it)."""
    data = b""
    sock.settimeout(10)
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def test_a_head_past_the_bound_is_a_431_and_the_service_answers_meanwhile(served):
    with socket.create_connection((served.host, served.port)) as sock:
        sock.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        try:
            while sent < 8 * 1024 * 1024:  # the service closes long before: 64 KiB
                sock.sendall(b"a" * 65536)
                sent += 65536
        except OSError:
            pass
        status, body = answer(sock)
    assert status == 431 and body["error"]["code"] == "headers_too_large"
    assert sent <= 4 * 1024 * 1024
    started = time.monotonic()
    assert requests.get(served.url + "/healthz", timeout=5).status_code == 200
    assert time.monotonic() - started < 1.0
    # A head just within the bound, and a body far past it (bodies have their own bound), pass.
    fits = requests.get(served.url + "/api/v1/status", headers={"X-Pad": "a" * 60000}, timeout=10)
    assert fits.status_code == 200
    big_body = requests.post(served.url + "/api/v1/refresh", data=b"{" + b" " * 500_000 + b"}",
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert big_body.status_code != 431


def test_a_head_that_does_not_arrive_in_time_is_a_408_and_an_idle_connection_closed(served, monkeypatch):
    monkeypatch.setattr(web.protocol, "HEAD_SECONDS", 0.5)
    with socket.create_connection((served.host, served.port)) as sock:
        sock.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        status, body = answer(sock)
    assert status == 408 and body["error"]["code"] == "request_timeout"
    assert time.monotonic() - started < 5
    with socket.create_connection((served.host, served.port)) as sock:  # says nothing at all
        sock.settimeout(5)
        assert sock.recv(10) == b""
    # Keep-alive between requests is not a slow head: two requests on one connection, a pause between.
    with requests.Session() as session:
        assert session.get(served.url + "/healthz", timeout=5).status_code == 200
        time.sleep(0.8)
        assert session.get(served.url + "/healthz", timeout=5).status_code == 200
