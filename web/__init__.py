"""HTTP only: ``create_app(service)`` and one blueprint per resource."""
from __future__ import annotations

from typing import Any

from flask import Flask

from web.errors import ApiError, register_error_handlers


def create_app(service: Any, test_config: dict | None = None) -> Flask:
    """The Flask app over a running :class:`actors.service.Service`."""
    app = Flask(__name__)
    app.config.update(JSON_SORT_KEYS=False)
    if test_config:
        app.config.update(test_config)
    app.json.sort_keys = False  # keep the documented field order
    app.extensions["discovery"] = service
    register_error_handlers(app)
    from web import bedrock, benchmarks, events, health, models, providers, reconciliation, refresh, status, subscriptions

    for module in (models, providers, refresh, events, subscriptions, bedrock, benchmarks, health, status,
                   reconciliation):
        app.register_blueprint(module.bp)
    from web import atom, history  # the catalog as it was (?as_of=, /changes) and the Atom feed

    app.register_blueprint(history.bp)
    app.register_blueprint(atom.bp)
    from web import dashboard

    app.register_blueprint(dashboard.bp)
    settings = getattr(service, "settings", None)
    if getattr(settings, "sse_port", 0):
        # Many SSE clients: the stream hub serves /api/v1/events/stream on its own port, one thread
        # for every stream instead of one per stream (docs/events.md).
        from web.stream_server import SSEHub

        app.extensions["discovery.sse_hub"] = SSEHub(service, settings.host, settings.sse_port).start()
    return app


__all__ = ["ApiError", "create_app"]
