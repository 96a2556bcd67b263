"""A provider simulator: the model-list APIs of every supported provider, on loopback, with faults.

Used by the service's ``--demo`` mode and by the integration tests. ``SimulatorServer`` runs it,
``SimulatorState`` holds and changes what it serves::

    with SimulatorServer() as sim:
        sim.state.set_fault("openai", "rate_limit", retry_after=2, times=1)
        client_base_url = sim.base_url("openai")          # http://127.0.0.1:PORT/openai/v1
        sim.state.set_models("modelsdev", load_modelsdev_snapshot("api-2026-04-01.json.gz"))

``python -m discovery.simulator`` runs it standalone; ``/_admin/`` drives it over HTTP.
"""
from discovery.simulator.app import create_simulator_app
from discovery.simulator.server import BASE_PATHS, SimulatorServer
from discovery.simulator.sources import load_modelsdev_snapshot
from discovery.simulator.state import FAULT_KINDS, REMOVE, SimulatorState

__all__ = ["BASE_PATHS", "FAULT_KINDS", "REMOVE", "SimulatorServer", "SimulatorState",
           "create_simulator_app", "load_modelsdev_snapshot"]
