"""HTTP only: ``create_app(service)`` and one blueprint per resource."""
from __future__ import annotations

from typing import Any

from flask import Flask

from discovery.redaction import REDACTOR
from web.auth import check_access
from web.errors import ApiError, error_response, register_error_handlers


def create_app(service: Any, test_config: dict | None = None) -> Flask:
    """The Flask app over a running :class:`actors.service.Service`."""
    app = Flask(__name__)
    settings = getattr(service, "settings", None)
    app.config.update(JSON_SORT_KEYS=False, MAX_CONTENT_LENGTH=getattr(settings, "max_request_body", 1 << 20))
    if test_config:
        app.config.update(test_config)
    app.json.sort_keys = False  # keep the documented field order
    app.extensions["discovery"] = service
    register_error_handlers(app)
    from web import access, metrics

    access.install(app)  # first: every request, refused ones too, carries its X-Request-ID
    metrics.install(app, service)  # GET /metrics, from a registry of this app's own
    from web import bedrock, benchmarks, events, health, models, providers, reconciliation, refresh, status, subscriptions

    for module in (models, providers, refresh, events, subscriptions, bedrock, benchmarks, health, status,
                   reconciliation):
        app.register_blueprint(module.bp)
    from web import atom, history  # the catalog as it was (?as_of=, /changes) and the Atom feed

    app.register_blueprint(history.bp)
    app.register_blueprint(atom.bp)
    from web import dashboard

    app.register_blueprint(dashboard.bp)
    admin_token = getattr(settings, "admin_token", None)
    read_token = getattr(settings, "read_token", None)

    @app.before_request
    def _authorize():
        """Every request passes the access rules (web.auth) before any view runs."""
        from flask import request

        refusal = check_access(request.method, request.path, request.remote_addr,
                               request.headers.get("Authorization"), admin_token, read_token)
        if refusal is not None:
            return error_response(refusal.status, refusal.code, refusal.message, refusal.headers)
        return None

    @app.after_request
    def _redact(response):
        """No configured secret leaves in an answer, whatever put it there (web.auth, discovery.redaction)."""
        from flask import g

        if response.direct_passthrough or g.get("reveals_secret") or not REDACTOR.secret_count:
            return response
        data = response.get_data()
        clean = REDACTOR.scrub_known(data)
        if clean is not data:
            response.set_data(clean)
        return response

    return app


__all__ = ["ApiError", "create_app"]
