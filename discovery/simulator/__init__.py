"""A provider simulator: the model-list APIs of every supported provider, on loopback, with faults.

Used by the service's ``--demo`` mode and by the integration tests. ``SimulatorServer`` runs it,
``SimulatorState`` holds and changes what it serves::

    with SimulatorServer() as sim:
        sim.state.set_fault("openai", "rate_limit", retry_after=2, times=1)
        client_base_url = sim.base_url("openai")          # http://127.0.0.1:PORT/openai/v1
        sim.state.set_models("modelsdev", load_modelsdev_snapshot("api-2026-04-01.json.gz"))

Tenants serve many providers of one format side by side: ``/t/<tenant>/<usual path>`` has a
state of its own (model sets, latency, faults, request log), created on first use, with its admin
API under ``/t/<tenant>/_admin/``::

        sim.tenant_state("acme").set_latency("openai", 0.5)
        client_base_url = sim.base_url("openai", tenant="acme")  # http://127.0.0.1:PORT/t/acme/openai/v1

``python -m discovery.simulator`` runs it standalone; ``/_admin/`` drives it over HTTP.
"""
from discovery.simulator.app import create_simulator_app
from discovery.simulator.server import BASE_PATHS, SimulatorServer
from discovery.simulator.sources import load_modelsdev_snapshot
from discovery.simulator.state import FAULT_KINDS, REMOVE, SimulatorState
from discovery.simulator.tenants import InvalidTenant, TenantRegistry

__all__ = ["BASE_PATHS", "FAULT_KINDS", "REMOVE", "InvalidTenant", "SimulatorServer", "SimulatorState",
           "TenantRegistry", "create_simulator_app", "load_modelsdev_snapshot"]
