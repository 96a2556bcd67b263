"""HTTP only: ``create_app(service)`` and one blueprint per resource."""
from __future__ import annotations

import secrets
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from discovery.model import dumps, loads
from discovery.redaction import REDACTOR
from discovery.timestamps import with_iso_times
from web.auth import check_access, forwarded_by
from web.errors import ApiError, error_response, register_error_handlers
from web.parameters import check_request


class ApiJSONProvider(DefaultJSONProvider):
    """Flask's JSON, in the documented field order, with every time as ISO 8601 (discovery.timestamps)."""

    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return super().dumps(with_iso_times(obj), **kwargs)


def create_app(service: Any, test_config: dict | None = None) -> Flask:
    """The Flask app over a running :class:`actors.service.Service`."""
    app = Flask(__name__, static_folder=None)
    # A model id never has an empty segment: "//" is a 404 of its own, not a redirect elsewhere.
    app.url_map.merge_slashes = False
    app.json = ApiJSONProvider(app)
    settings = getattr(service, "settings", None)
    app.config.update(JSON_SORT_KEYS=False, MAX_CONTENT_LENGTH=getattr(settings, "max_request_body", 1 << 20))
    if test_config:
        app.config.update(test_config)
    app.extensions["discovery"] = service
    register_error_handlers(app)
    from web import access, metrics

    access.install(app)  # first: every request, refused ones too, carries its X-Request-ID
    metrics.install(app, service)  # GET /metrics, from a registry of this app's own
    from web import (
        about,
        apidocs,
        bedrock,
        benchmarks,
        events,
        export,
        health,
        models,
        providers,
        reconciliation,
        refresh,
        status,
        subscriptions,
    )

    for module in (models, providers, refresh, events, subscriptions, bedrock, benchmarks, export, health, status,
                   reconciliation, about, apidocs):
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
                               request.headers.get("Authorization"), admin_token, read_token,
                               request.headers.get("Origin"), request.headers.get("Host"),
                               # Only a service with no admin token asks who forwarded a request.
                               None if admin_token else forwarded_by(request.headers))
        if refusal is not None:
            return error_response(refusal.status, refusal.code, refusal.message, refusal.headers)
        return None

    # Then the one rule for query parameters (web.parameters), before any view starts anything.
    app.before_request(check_request)

    @app.after_request
    def _one_date(response):
        """The HTTP server dates every answer; werkzeug's conditional answers (the dashboard, the API
        docs' assets, the Atom feed) carried a second Date of their own."""
        response.headers.pop("Date", None)
        return response

    @app.after_request
    def _conditional(response):
        """A read's answer carries an ETag (its bytes' hash, unless the view set one: the export's
        leaves out when it was made), and a request whose If-None-Match holds it gets 304 with no
        body: a poller asks every few seconds and downloads only what changed (werkzeug's own
        conditional handling). Runs after _redact (hooks run last-registered first), on the bytes sent."""
        from flask import request

        if (request.method in ("GET", "HEAD") and response.status_code == 200 and not response.direct_passthrough
                and response.is_json):
            if "ETag" not in response.headers:
                response.add_etag()
            if "If-None-Match" in request.headers:  # most reads ask nothing: no header parsing for them
                response.make_conditional(request)
        return response

    @app.after_request
    def _redact(response):
        """No configured secret leaves in an answer, whatever put it there (web.auth, discovery.redaction)."""
        from flask import g

        if response.direct_passthrough or not REDACTOR.secret_count:
            return response
        data = response.get_data()
        revealed = g.get("reveals_secret")
        if revealed:
            # The generated webhook secret of a create answer goes out once; nothing else does.
            marker = secrets.token_hex(16).encode()
            kept = data.replace(revealed.encode(), marker)
            clean = REDACTOR.scrub_known(kept)
            response.set_data(clean.replace(marker, revealed.encode()))
            return response
        if not REDACTOR.echoes(data):
            return response
        clean = None
        if response.is_json:
            # In the strings only: a secret that matches part of a number (a weak one, digits
            # alone) or of the syntax must not make the answer say something else, or not parse.
            try:
                clean = dumps(REDACTOR.scrub_strings(loads(data)))
            except ValueError:
                clean = None
            except RecursionError:
                # Nested too deeply to mask in its strings; masked as text, a secret spelled with
                # JSON escapes (\u0041 for A) would still reach the client: withheld instead.
                return error_response(502, "answer_withheld", "this answer holds a configured secret "
                                      "nested too deeply to mask; it is withheld")
        response.set_data(clean if clean is not None else REDACTOR.scrub_known(data))
        return response

    return app


__all__ = ["ApiError", "create_app"]
