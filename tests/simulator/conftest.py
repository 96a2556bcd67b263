"""A simulator over real loopback HTTP, shared by a test module and reset before each test."""
from __future__ import annotations

import pytest
import requests

from discovery.simulator import SimulatorServer


@pytest.fixture(scope="module")
def simulator_server():
    """One running simulator per test module."""
    with SimulatorServer() as server:
        yield server


@pytest.fixture
def sim(simulator_server: SimulatorServer) -> SimulatorServer:
    """The module's simulator with default fixtures and no knobs set."""
    simulator_server.state.reset()
    return simulator_server


@pytest.fixture
def http():
    """A requests session closed after the test (so no keep-alive connection lingers)."""
    with requests.Session() as session:
        yield session
