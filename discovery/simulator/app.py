"""The simulator's Flask app: every wire format's blueprint, the knobs around them, the admin API."""
from __future__ import annotations

from flask import Flask

from discovery.simulator import admin, knobs
from discovery.simulator.formats import ALL_FORMATS
from discovery.simulator.state import SimulatorState


def create_simulator_app(state: SimulatorState | None = None) -> Flask:
    """A WSGI app impersonating every provider in ``ALL_FORMATS``, driven by ``state``."""
    app = Flask("discovery.simulator")
    app.extensions["simulator_state"] = state if state is not None else SimulatorState()
    app.extensions["simulator_formats"] = {fmt.provider: fmt for fmt in ALL_FORMATS}
    for fmt in ALL_FORMATS:
        app.register_blueprint(fmt.blueprint, url_prefix=fmt.url_prefix)
    app.register_blueprint(admin.blueprint)
    # App-level hooks see every blueprint's requests; they ignore the admin blueprint's.
    app.before_request(knobs.before_provider_request)
    app.after_request(knobs.after_provider_request)
    return app
