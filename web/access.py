"""Every request on the port: an ``X-Request-ID``, one access log line, and its duration in /metrics.

:class:`AccessLayer` wraps the ASGI app (the Flask app and the event stream alike). A client's
``X-Request-ID`` is kept when it is sane (1-128 of ``A-Za-z0-9._:-``), otherwise a new one is
made; either way it replaces the header the app sees and is echoed in the answer. The Flask app
binds it to every log record made while the request runs (:func:`install`), so a view's log
lines, the access line and the client's own logs share one id.
"""
from __future__ import annotations

import re
import time
import uuid
from typing import Any, Optional

from flask import Flask, g, request
from loguru import logger
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import RoutingException

from discovery.redaction import REDACTOR

REQUEST_ID_HEADER = "X-Request-ID"
_HEADER = REQUEST_ID_HEADER.lower().encode()
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
UNMATCHED = "<unmatched>"


def printable(text: str) -> str:
    """``text`` with each character that is not printable (a line break, ESC, NUL, a bidi
    override...) written as its escape: a request's path, percent-decoded, is the client's text,
    and would otherwise end an access line and start one of its own, or colour a terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def request_id(given: Optional[str]) -> str:
    """``given`` when it is a sane request id, else a new one (32 hex digits)."""
    if given and SANE_REQUEST_ID.match(given) and REDACTOR.scrub_known_text(given) == given:
        return given  # (one holding a configured secret is not echoed back in a header)
    return uuid.uuid4().hex


class AccessLayer:
    """ASGI middleware: request ids, the access log and the request-duration histogram.

    ``routes`` names the URL rule a path matched (``/api/v1/models/<path:model_id>``), so the
    histogram's ``route`` label stays low-cardinality; ``metrics`` is the app's
    :class:`web.metrics.AppMetrics` (or None); ``streams`` are paths whose answers last as
    long as the client stays (logged, but kept out of the duration histogram).
    """

    def __init__(self, app: Any, flask_app: Optional[Flask] = None, metrics: Any = None, log: bool = True,
                 streams: tuple[str, ...] = ()):
        self.app = app
        self.adapter = flask_app.url_map.bind("discovery") if flask_app is not None else None
        self.metrics = metrics
        self.log = log
        self.streams = streams

    def route(self, path: str, method: str) -> str:
        """The URL rule ``path`` matches, or ``<unmatched>``."""
        if path in self.streams or path.rstrip("/") in self.streams:
            return path.rstrip("/")
        if self.adapter is None:
            return UNMATCHED
        try:
            rule, _ = self.adapter.match(path, method, return_rule=True)
        except MethodNotAllowed as exc:
            # A route that takes other methods (a GET of a POST route): its rule, with the 405 in
            # the status label (it was counted as unmatched).
            allowed = sorted(exc.valid_methods or ())
            if not allowed:
                return UNMATCHED
            try:
                rule, _ = self.adapter.match(path, allowed[0], return_rule=True)
            except (HTTPException, RoutingException):
                return UNMATCHED
        except (HTTPException, RoutingException):
            return UNMATCHED
        return rule.rule

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope.get("headers") or () if k != _HEADER]
        given = next((v for k, v in scope.get("headers") or () if k == _HEADER), None)
        rid = request_id(given.decode("latin-1") if given is not None else None)
        scope = {**scope, "headers": [*headers, (_HEADER, rid.encode())]}
        started = time.perf_counter()
        sent = {"status": 0, "bytes": 0}

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
                out = list(message.get("headers") or ())
                if not any(k.lower() == _HEADER for k, _ in out):
                    out.append((_HEADER, rid.encode()))
                message = {**message, "headers": out}
            elif message["type"] == "http.response.body":
                sent["bytes"] += len(message.get("body") or b"")
            await send(message)

        with logger.contextualize(request_id=rid):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                self._finished(scope, rid, sent["status"] or 500, sent["bytes"], time.perf_counter() - started)

    def _finished(self, scope: dict, rid: str, status: int, size: int, seconds: float) -> None:
        method = scope.get("method", "GET")
        path = scope.get("path", "")
        route = self.route(path, method)
        if self.metrics is not None and route not in self.streams:
            self.metrics.observe_request(route, method, status, seconds)
        if self.log:
            client = scope.get("client")
            query = scope.get("query_string") or b""
            target = printable(path + ("?" + query.decode("latin-1") if query else ""))
            logger.bind(http_method=method, http_route=route, http_status=status, duration_ms=round(seconds * 1000, 2),
                        response_bytes=size, client=client[0] if client else None).info(
                '{} "{} {}" {} {}B {:.1f}ms', client[0] if client else "-", method, target, status, size,
                seconds * 1000)


def install(app: Flask) -> None:
    """Bind the request id (as :class:`AccessLayer` set it, or a new one) to the log while a view runs,
    and echo it in the answer. Registered first, so even a refused request carries it."""

    def bind_request_id() -> None:
        rid = request_id(request.headers.get(REQUEST_ID_HEADER))
        g.request_id = rid
        context = logger.contextualize(request_id=rid)
        context.__enter__()
        g.log_context = context

    def echo_request_id(response):
        rid = g.get("request_id")
        if rid is not None:
            response.headers[REQUEST_ID_HEADER] = rid
        return response

    def unbind_request_id(exc: Optional[BaseException]) -> None:
        context = g.pop("log_context", None)
        if context is not None:
            context.__exit__(None, None, None)

    app.before_request_funcs.setdefault(None, []).insert(0, bind_request_id)
    app.after_request(echo_request_id)
    app.teardown_request(unbind_request_id)
