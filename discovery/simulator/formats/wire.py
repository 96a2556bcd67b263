"""What every simulated wire format shares: its description, error bodies, keys and page tokens.

A format module builds a :class:`WireFormat`: a blueprint that serves the provider's real paths and
shapes, the default fixture, how a record is identified, how the provider carries an API key and
how it words an error. The knobs (latency, faults, auth, request log) are applied around the
blueprint by :mod:`discovery.simulator.knobs`, so a format module is only about its wire shape.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from flask import Blueprint, Request, Response, current_app, g, request

# Error kinds the knobs raise; each format maps them onto its own words.
ERROR_KINDS = ("bad_request", "auth", "forbidden", "not_found", "rate_limit", "server", "unavailable")

Records = Iterable[Mapping[str, Any]] | Mapping[str, Any]
KeyReader = Callable[[Request], tuple[str | None, str | None]]
ErrorBody = Callable[[int, str, str], Any]
RequestCheck = Callable[[Request], tuple[int, str, str] | None]
AuthFailure = Callable[[bool], tuple[int, str, str]]


def auth_failure_401(key_missing: bool) -> tuple[int, str, str]:
    """Most providers: 401 for a missing or wrong key."""
    return 401, "auth", "missing API key" if key_missing else "invalid API key"


def id_field(name: str) -> Callable[[Mapping[str, Any]], str]:
    """A record_id function that reads one field of the record."""

    def record_id(record: Mapping[str, Any]) -> str:
        value = record.get(name) if isinstance(record, Mapping) else None
        if not isinstance(value, str) or not value:
            raise ValueError(f"a record needs a non-empty string {name!r}")
        return value

    return record_id


def bearer_key(req: Request) -> tuple[str | None, str | None]:
    """``Authorization: Bearer <key>``: the usual way to send a key."""
    value = req.headers.get("Authorization")
    if value is None:
        return None, None
    scheme, _, token = value.partition(" ")
    return "authorization", token.strip() if scheme.lower() == "bearer" else None


def header_key(*names: str) -> KeyReader:
    """A KeyReader that takes the key from the first of ``names`` present, then Bearer."""

    def read(req: Request) -> tuple[str | None, str | None]:
        for name in names:
            if name in req.headers:
                return name.lower(), req.headers[name]
        return bearer_key(req)

    return read


def openai_error(status: int, kind: str, message: str) -> dict[str, Any]:
    """OpenAI's error body, also used by Groq, Together and OpenAI-compatible servers."""
    types = {"auth": ("invalid_request_error", "invalid_api_key"),
             "forbidden": ("invalid_request_error", "insufficient_permissions"),
             "not_found": ("invalid_request_error", "model_not_found"),
             "rate_limit": ("requests", "rate_limit_exceeded"),
             "bad_request": ("invalid_request_error", None),
             "unavailable": ("server_error", "service_unavailable")}
    type_, code = types.get(kind, ("server_error", None))
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


record_id_from_id = id_field("id")


@dataclass(frozen=True)
class WireFormat:
    """One simulated provider: where it is mounted and how it speaks."""

    provider: str
    url_prefix: str
    blueprint: Blueprint
    default_records: Callable[[], Records]
    record_id: Callable[[Mapping[str, Any]], str] = record_id_from_id
    error_body: ErrorBody = openai_error
    key_from: KeyReader = bearer_key
    # Checks the provider makes before auth (a required header or query parameter).
    check_request: RequestCheck | None = None
    # (status, error kind, message) for a missing (True) or wrong (False) key.
    auth_failure: AuthFailure = auth_failure_401
    # The page size knob's starting value; None for unpaginated formats.
    default_page_size: int | None = None
    rate_limit_headers: Mapping[str, str] = field(default_factory=dict)
    # How a rate-limited answer says when to come back: None, a Retry-After header; otherwise a
    # function that puts the seconds into the error body instead (Gemini: a RetryInfo detail),
    # and the answer carries no Retry-After.
    retry_in_body: Callable[[dict[str, Any], float], dict[str, Any]] | None = None
    # The status of an "unavailable" fault: how the provider says it is overloaded (Anthropic: 529).
    overloaded_status: int = 503
    # Format-specific switches (name -> default), set with SimulatorState.set_option.
    options: Mapping[str, Any] = field(default_factory=dict)


# -- helpers for views --------------------------------------------------------------------------
def sim_state():
    """The SimulatorState of the app serving this request."""
    return current_app.extensions["simulator_state"]


def served_items(provider: str) -> list[tuple[str, dict[str, Any]]]:
    """(id, record) pairs this request should see: none while an "empty" fault hits it."""
    if g.get("sim_empty"):
        return []
    return sim_state().model_items(provider)


def served_records(provider: str) -> list[dict[str, Any]]:
    """The wire records this request should see (read-only)."""
    return [record for _, record in served_items(provider)]


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer with keys in the order they were built (providers do not sort keys).

    Encoded by orjson (compact, UTF-8): the standard library took 15 of the 25 ms a 1.6 MB
    models.dev answer cost the simulator, and the simulator serves every tenant of a benchmark
    from one process, so a round of many providers queued behind its encoding. What orjson
    refuses (integers beyond 64 bits, NaN kept as such) goes through the standard library.
    """
    try:
        text: bytes | str = orjson.dumps(body)
    except (orjson.JSONEncodeError, TypeError):
        text = json.dumps(body, separators=(",", ":"))
    resp = Response(text, status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def current_format() -> WireFormat:
    """The WireFormat whose blueprint is serving this request."""
    return current_app.extensions["simulator_formats"][request.blueprint]


def error_response(status: int, kind: str, message: str,
                   headers: Mapping[str, str] | None = None) -> Response:
    """The serving provider's own error body for ``kind``."""
    return json_response(current_format().error_body(status, kind, message), status, headers)


def encode_page_token(offset: int) -> str:
    """An opaque page token that carries an offset into the list."""
    raw = json.dumps({"o": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str) -> int | None:
    """The offset in a token from :func:`encode_page_token`; None if the token is not one."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        offset = json.loads(raw)["o"]
    except (ValueError, KeyError, TypeError):
        return None
    return offset if isinstance(offset, int) and offset >= 0 else None


def page_limit(requested: str | None, wire_default: int, wire_max: int, knob: int | None,
               *, strict: bool = False) -> int | None:
    """The page size to serve: the client's ask, capped by the page size knob.

    None when the ask is not a positive integer, or (``strict``) is above the wire maximum;
    otherwise an ask above the maximum is lowered to it, as most providers do.
    """
    if requested in (None, ""):
        size = knob or wire_default
    else:
        try:
            size = int(requested)
        except ValueError:
            return None
        if size < 1 or (strict and size > wire_max):
            return None
        size = min(size, wire_max)
        if knob:
            size = min(size, knob)
    return size
