"""A provider simulator: the model-list APIs of every supported provider, on loopback, with faults.

Used by the service's ``--demo`` mode and by the integration tests. ``SimulatorServer`` runs it,
``SimulatorState`` holds and changes what it serves.
"""
from discovery.simulator.app import create_simulator_app
from discovery.simulator.server import BASE_PATHS, SimulatorServer
from discovery.simulator.sources import load_modelsdev_snapshot
from discovery.simulator.state import FAULT_KINDS, REMOVE, SimulatorState

__all__ = ["BASE_PATHS", "FAULT_KINDS", "REMOVE", "SimulatorServer", "SimulatorState",
           "create_simulator_app", "load_modelsdev_snapshot"]
