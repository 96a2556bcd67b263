"""The knobs, applied the same way to every simulated provider around its blueprint.

``before_provider_request`` logs the request, then applies latency, connection drops, hangs, the
format's own request checks, the API key check and error statuses. Faults that change a good
answer (malformed, wrong_shape, huge, drip) are decided there too, so each armed ``times`` is used
up once per request, and carried out by ``after_provider_request``.
"""
from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

from flask import Response, current_app, g, request

from discovery.simulator.formats.wire import WireFormat, error_response, json_response
from discovery.simulator.state import SimulatorState

# Query parameters that carry credentials; the request log keeps their name, not their value.
SECRET_PARAMS = {"key", "api_key", "api-key", "apikey", "token", "access_token"}
# Body faults, in the order they are tried; one of them at most changes an answer.
BODY_FAULTS = ("malformed", "wrong_shape", "huge", "drip", "duplicate")
MEGABYTE = 1024 * 1024


def _state() -> SimulatorState:
    return current_app.extensions["simulator_state"]


def _format() -> WireFormat | None:
    return current_app.extensions["simulator_formats"].get(request.blueprint or "")


def _log_entry(fmt: WireFormat) -> dict[str, Any]:
    auth_header, _ = fmt.key_from(request)
    query = {name: ("<redacted>" if name.lower() in SECRET_PARAMS else value)
             for name, value in request.args.items()}
    if auth_header is None:
        secret = next((n for n in request.args if n.lower() in SECRET_PARAMS), None)
        auth_header = f"query:{secret}" if secret else None
    return {"method": request.method, "path": request.path, "query": query, "auth": auth_header,
            "headers": sorted(name.lower() for name, _ in request.headers.items())}


def _echo(fmt: WireFormat) -> Any:
    """Fills "{key}" in a fault's text with the API key this request carried (as a careless provider echoes it)."""
    _, key = fmt.key_from(request)
    return lambda text: text.replace("{key}", key or "")


def _retry_headers(fmt: WireFormat, seconds: float, rate_limited: bool) -> dict[str, str]:
    headers = {"Retry-After": f"{seconds:g}"}
    if rate_limited:
        headers.update(fmt.rate_limit_headers)
    return headers


def _drop_connection() -> Response:
    """Shut the client's socket so it sees the connection close with no answer at all."""
    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    # Werkzeug fails to write this to the shut socket and treats it as a dropped connection.
    return Response(status=500)


def before_provider_request() -> Response | None:
    """Apply the knobs to a request for a simulated provider; an answer here short-circuits it."""
    fmt = _format()
    if fmt is None:
        return None
    # Streamed answers are paced from here: the time Flask takes to dispatch is the provider's too.
    g.sim_arrived = time.monotonic()
    state, provider, path = _state(), fmt.provider, request.path
    state.record_request(provider, _log_entry(fmt))
    latency = state.latency(provider)
    # A wait cut short (reset, faults cleared, server stopping) drops the request: going on
    # would let it use up faults armed after it arrived.
    if latency and not state.wait(latency):
        return _drop_connection()
    if state.take_fault(provider, "close", path) is not None:
        return _drop_connection()
    hang = state.take_fault(provider, "hang", path)
    if hang is not None and not state.wait(hang["seconds"]):
        return _drop_connection()
    if fmt.check_request is not None:
        problem = fmt.check_request(request)
        if problem is not None:
            return error_response(*problem)
    expected = state.expected_key(provider)
    if expected is not None:
        _, key = fmt.key_from(request)
        if key != expected:
            return error_response(*fmt.auth_failure(key is None))
    status = state.take_fault(provider, "status", path)
    if status is not None:
        code = status["status"]
        kind = {400: "bad_request", 401: "auth", 403: "forbidden", 404: "not_found",
                429: "rate_limit", 503: "unavailable", 529: "unavailable"}.get(
                    code, "server" if code >= 500 else "bad_request")
        echo = _echo(fmt)
        headers = {name: echo(value) for name, value in (status.get("headers") or {}).items()}
        return error_response(code, kind, echo(status.get("message") or f"simulated error {code}"), headers)
    redirect = state.take_fault(provider, "redirect", path)
    if redirect is not None:
        return Response(status=redirect["status"], headers={"Location": _echo(fmt)(redirect["location"])})
    for kind, code, rate_limited in (("rate_limit", 429, True), ("unavailable", fmt.overloaded_status, False)):
        fault = state.take_fault(provider, kind, path)
        if fault is not None:
            message = "Rate limit reached; retry later." if rate_limited else "The service is overloaded."
            if fmt.retry_in_body is not None:
                # This provider says it in the body, and only when it rate-limits.
                body = fmt.error_body(code, kind, message)
                if rate_limited:
                    body = fmt.retry_in_body(body, fault["retry_after"])
                return json_response(body, code, fmt.rate_limit_headers if rate_limited else None)
            return error_response(code, kind, message,
                                  _retry_headers(fmt, fault["retry_after"], rate_limited))
    g.sim_empty = state.take_fault(provider, "empty", path) is not None
    for kind in BODY_FAULTS:
        params = state.take_fault(provider, kind, path)
        if params is not None:
            g.sim_body_fault = (kind, params)
            break
    return None


def _wrong_shape(body: bytes) -> bytes:
    """Valid JSON of the wrong shape: an object becomes a list, a list an object."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    wrong = [doc] if isinstance(doc, dict) else {"items": doc}
    return json.dumps(wrong).encode()


def _malformed(body: bytes) -> bytes:
    """A body that is not JSON: the real one cut off halfway, as a dropped proxy stream looks."""
    cut = body[: len(body) // 2]
    return cut if len(cut) > 2 else b"<html><body><h1>502 Bad Gateway</h1></body></html>"


def _duplicated(body: bytes) -> bytes:
    """The answer with every record of its list sent twice (the copies marked ``"duplicate": true``)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return body
    holder = doc if isinstance(doc, dict) else {"": doc}
    for key, value in holder.items():
        if isinstance(value, list) and all(isinstance(item, dict) for item in value):
            holder[key] = value + [{**item, "duplicate": True} for item in value]
            break
    return json.dumps(holder[""] if "" in holder else holder).encode()


def _huge_chunks(total: int) -> Iterator[bytes]:
    """``total`` bytes of valid JSON: an OpenAI-style list padded with filler rows."""
    head, tail = b'{"object":"list","data":[', b"]}"
    yield head
    left = total - len(head) - len(tail)
    index = 0
    while left > 0:
        row = b'{"id":"filler-%08d","object":"model","created":0,"owned_by":"simulator","pad":"' % index
        pad = max(0, min(64 * 1024, left - len(row) - 3))
        chunk = (b"," if index else b"") + row + b"x" * pad + b'"}'
        if len(chunk) > left:
            # The last few bytes: whitespace keeps the JSON valid and the length exact.
            chunk = b" " * left
        yield chunk
        left -= len(chunk)
        index += 1
    yield tail


def _drip_chunks(state: SimulatorState, body: bytes, bytes_per_second: float) -> Iterator[bytes]:
    """The body, a small piece at a time, at about ``bytes_per_second``."""
    step = max(1, int(bytes_per_second / 10))
    for start in range(0, len(body), step):
        yield body[start:start + step]
        if start + step < len(body) and not state.wait(step / bytes_per_second):
            # Woken (reset, faults cleared or server stopping): send the rest at once.
            yield body[start + step:]
            return


def after_provider_request(response: Response) -> Response:
    """Carry out a body fault decided in :func:`before_provider_request` on a good answer."""
    fault = g.pop("sim_body_fault", None)
    if fault is None or response.status_code != 200:
        return response
    kind, params = fault
    if kind == "huge":
        total = int(params["mb"] * MEGABYTE)
        out = Response(_huge_chunks(total), status=200, mimetype="application/json")
        out.headers["Content-Length"] = str(total)
        return out
    body = response.get_data()
    if kind == "drip":
        out = Response(_drip_chunks(_state(), body, params["bytes_per_second"]), status=200,
                       mimetype=response.mimetype)
        out.headers["Content-Length"] = str(len(body))
        return out
    if kind == "duplicate":
        response.set_data(_duplicated(body))
        return response
    response.set_data(_malformed(body) if kind == "malformed" else _wrong_shape(body))
    return response
