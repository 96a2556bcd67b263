"""Tenants: many simulated providers of one format, each with a world of its own.

``/t/<tenant>/<usual path>`` (``/t/acme/openai/v1/models``) is served by a Flask app of the
tenant's own, built by :func:`create_simulator_app` around a :class:`SimulatorState` that is
created on the tenant's first request: its own model sets, latency, faults and request log. Its
admin API is ``/t/<tenant>/_admin/...``. Every other path goes to the default app unchanged, so a
simulator without tenants behaves exactly as before.

``/_admin/tenants`` lists the tenants; ``/_admin/tenants/<name>`` shows (GET) or drops (DELETE)
one, 404 when there is no such tenant. A name outside ``TENANT_NAME`` is a 400 JSON error.
"""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.wrappers import Response

from discovery.simulator.app import create_simulator_app
from discovery.simulator.state import SimulatorState

TENANT_PREFIX = "/t"
TENANT_ADMIN_PATH = "/_admin/tenants"
TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Each tenant holds a Flask app and its own fixtures; the cap keeps a long-running simulator that
# is sent arbitrary names from growing without bound.
MAX_TENANTS = 1000

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class InvalidTenant(ValueError):
    """A tenant name the simulator does not accept (bad characters, or too many tenants)."""


def check_tenant_name(name: str) -> str:
    """``name`` if it can name a tenant; InvalidTenant saying why otherwise."""
    if not isinstance(name, str) or not TENANT_NAME.match(name):
        raise InvalidTenant(f"invalid tenant name {name!r}: use 1-64 letters, digits, '_', '-' or '.', "
                            "starting with a letter or digit")
    return name


class TenantRegistry:
    """Thread-safe map of tenant name -> (SimulatorState, Flask app), filled on first use."""

    def __init__(self, max_tenants: int = MAX_TENANTS):
        self.max_tenants = max_tenants
        self._lock = threading.Lock()
        self._tenants: dict[str, tuple[SimulatorState, Flask]] = {}

    def _entry(self, name: str) -> tuple[SimulatorState, Flask]:
        check_tenant_name(name)
        with self._lock:
            entry = self._tenants.get(name)
            if entry is None:
                if len(self._tenants) >= self.max_tenants:
                    raise InvalidTenant(f"too many tenants (at most {self.max_tenants}); "
                                        f"drop some with DELETE {TENANT_ADMIN_PATH}/<name>")
                state = SimulatorState()
                entry = self._tenants[name] = (state, create_simulator_app(state))
            return entry

    def state(self, name: str) -> SimulatorState:
        """The tenant's state, created (with default fixtures) on first use."""
        return self._entry(name)[0]

    def app(self, name: str) -> Flask:
        """The Flask app serving the tenant, created on first use."""
        return self._entry(name)[1]

    def get(self, name: str) -> SimulatorState | None:
        """The tenant's state if the tenant exists; never creates one."""
        with self._lock:
            entry = self._tenants.get(name)
        return entry[0] if entry else None

    def names(self) -> list[str]:
        """Every tenant's name, in order of creation."""
        with self._lock:
            return list(self._tenants)

    def drop(self, name: str) -> bool:
        """Forget one tenant (its parked requests are released); False if there was none."""
        with self._lock:
            entry = self._tenants.pop(name, None)
        if entry is not None:
            entry[0].wake_all()
        return entry is not None

    def drop_all(self) -> None:
        """Forget every tenant."""
        with self._lock:
            entries = list(self._tenants.values())
            self._tenants.clear()
        for state, _ in entries:
            state.wake_all()

    def wake_all(self, closing: bool = False) -> None:
        """End every tenant's pending latency, hang and drip waits (``closing``: and later ones,
        the server stopping; see SimulatorState.wake_all)."""
        with self._lock:
            states = [state for state, _ in self._tenants.values()]
        for state in states:
            state.wake_all(closing)

    def reopen(self) -> None:
        """Every tenant's waits wait again (the server started after a stop)."""
        with self._lock:
            states = [state for state, _ in self._tenants.values()]
        for state in states:
            state.reopen()


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _tenant_summary(name: str, state: SimulatorState) -> dict[str, Any]:
    # Only providers the tenant was asked about: counting the others would load every fixture.
    asked = {p: state.request_count(p) for p in state.providers if state.request_count(p)}
    return {"name": name, "requests": asked}


class TenantDispatcher:
    """WSGI app in front of the simulator: ``/t/<tenant>/...`` to the tenant's app, the rest to ``default``."""

    def __init__(self, default: WSGIApp, registry: TenantRegistry):
        self.default = default
        self.registry = registry

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == TENANT_ADMIN_PATH or path.startswith(TENANT_ADMIN_PATH + "/"):
            return self._admin(environ, path)(environ, start_response)
        if path != TENANT_PREFIX and not path.startswith(TENANT_PREFIX + "/"):
            return self.default(environ, start_response)
        name, _, rest = path[len(TENANT_PREFIX) + 1:].partition("/")
        if not name:
            return _json(404, {"error": "a tenant's routes are /t/<tenant>/<provider path>, "
                                        "e.g. /t/acme/openai/v1/models"})(environ, start_response)
        try:
            app = self.registry.app(name)
        except InvalidTenant as exc:
            return _json(400, {"error": str(exc)})(environ, start_response)
        # The tenant's app sees its usual paths; links it builds keep the /t/<tenant> prefix.
        environ = {**environ, "SCRIPT_NAME": f"{environ.get('SCRIPT_NAME', '')}{TENANT_PREFIX}/{name}",
                   "PATH_INFO": "/" + rest}
        return app(environ, start_response)

    def _admin(self, environ: dict[str, Any], path: str) -> Response:
        """``/_admin/tenants[/<name>]``: list, show or drop tenants."""
        method = environ.get("REQUEST_METHOD", "GET")
        name = path[len(TENANT_ADMIN_PATH) + 1:]
        if not name:
            if method == "GET":
                return _json(200, {"tenants": self.registry.names()})
            if method == "DELETE":
                self.registry.drop_all()
                return _json(200, {"ok": True})
            return _json(405, {"error": f"{method} is not allowed on {TENANT_ADMIN_PATH}"})
        try:
            check_tenant_name(name)
        except InvalidTenant as exc:
            return _json(400, {"error": str(exc)})
        state = self.registry.get(name)
        if state is None:
            return _json(404, {"error": f"no tenant {name!r}; tenants are created by their first request "
                                        f"to /t/{name}/..."})
        if method == "GET":
            return _json(200, _tenant_summary(name, state))
        if method == "DELETE":
            self.registry.drop(name)
            return _json(200, {"ok": True})
        return _json(405, {"error": f"{method} is not allowed on {TENANT_ADMIN_PATH}/<name>"})
