"""The standalone simulator keeps its model sets out of the cyclic collector's walks."""
import gc

from discovery.simulator import state as sim_state
from discovery.simulator.state import SimulatorState


def _walked_by_collector(obj) -> bool:
    # gc.get_objects() lists what collections walk; frozen objects are not among them. (A record
    # here holds a list: CPython does not track a dict of plain strings and numbers at all.)
    assert gc.is_tracked(obj)
    return any(o is obj for o in gc.get_objects())


def test_a_stored_model_set_is_frozen_only_where_the_process_is_the_simulators(monkeypatch):
    sim = SimulatorState()
    sim.set_models("openai", [{"id": "embedded", "object": "model", "tags": ["x"]}])
    # A process that embeds the simulator (this one) keeps its collector as it is.
    assert _walked_by_collector(sim._models("openai")["embedded"])

    monkeypatch.setattr(sim_state, "FREEZE_MODEL_SETS", True)
    try:
        sim.set_models("openai", [{"id": "standalone", "object": "model", "tags": ["x"]}])
        stored = sim._models("openai")
        assert list(stored) == ["standalone"]
        assert not _walked_by_collector(stored["standalone"])
        assert not _walked_by_collector(stored)
        # Defaults loaded on first use are stored the same way.
        fresh = SimulatorState()
        defaults = fresh._models("anthropic")
        assert defaults and not _walked_by_collector(defaults)
    finally:
        gc.unfreeze()
