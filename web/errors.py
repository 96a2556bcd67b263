"""JSON errors: ``{"error": {"code": ..., "message": ...}}`` with the right status."""
from __future__ import annotations

from typing import Any

import pykka
from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from discovery.index_text import CostlyGlob


class ApiError(Exception):
    """An error a view raises to answer with a JSON body."""

    def __init__(self, status: int, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def error_response(status: int, code: str, message: str, headers: dict | None = None, **extra: Any):
    body = {"error": {"code": code, "message": message, **extra}}
    resp = jsonify(body)
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def register_error_handlers(app: Flask) -> None:
    """Every error, including Flask's own 404/405, answers JSON."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        headers = {}
        if "retry_after" in exc.extra:
            headers["Retry-After"] = str(int(exc.extra["retry_after"] + 0.999))
        return error_response(exc.status, exc.code, exc.message, headers, **exc.extra)

    @app.errorhandler(CostlyGlob)
    def _costly_glob(exc: CostlyGlob):
        return error_response(400, "invalid_query", str(exc), {})

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        # Keep what the exception says about itself (Allow on a 405).
        headers = {k: v for k, v in exc.get_headers() if k.lower() not in ("content-type", "content-length")}
        return error_response(exc.code or 500, code, exc.description or exc.name, headers)

    @app.errorhandler(pykka.Timeout)
    def _timeout(exc):
        return error_response(503, "busy", "the service did not answer in time; try again")

    @app.errorhandler(pykka.ActorDeadError)
    def _dead(exc):
        return error_response(503, "unavailable", "the service is stopping or restarting a component")

    from actors.replica import LeaderTimeout

    @app.errorhandler(LeaderTimeout)
    def _leader_timeout(exc):
        from flask import request

        if request.method in ("GET", "HEAD"):
            # A follower's read that only the leader can answer (its providers, its regions), asked
            # while there is no leader to answer (a failover) or it is stalled: safe to ask again.
            return error_response(503, "leader_unavailable", f"{exc}; try again")
        # A change handed to the leader stays pending: a leader that answers later still makes it.
        return error_response(504, "leader_timeout", f"{exc}; the change stays queued and the leader makes it "
                                                     "when it answers: check before sending it again")
