"""Access to the running service from a view."""
from __future__ import annotations

from typing import Any

from flask import current_app, request

from discovery.query import number, parse_bool
from web.errors import ApiError


def service() -> Any:
    """The Service this app was created with."""
    return current_app.extensions["discovery"]


def flag(name: str, default: bool = False) -> bool:
    """A boolean query parameter; 400 if it is not true/false."""
    value = request.args.get(name)
    if value is None:
        return default
    found = parse_bool(value)  # the same words as every boolean of the API (live, raw, wait...)
    if found is None:
        raise ApiError(400, "invalid_parameter", f"{name} must be true or false, got {value!r}")
    return found


def int_arg(name: str, default: int, lo: int = 0, hi: int = 10_000) -> int:
    """A whole-number query parameter within [lo, hi]; 400 otherwise."""
    value = request.args.get(name)
    if value is None:
        return default
    try:
        n = number(value)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"{name} must be a whole number, got {value!r}") from None
    if not lo <= n <= hi:
        raise ApiError(400, "invalid_parameter", f"{name} must be between {lo} and {hi}")
    return n


def no_body(options: str = "") -> None:
    """400 when a request that takes its options from the query string (``options`` names them)
    comes with a body: ``{"wait": true}`` sent as JSON would otherwise be ignored without a word.
    An empty body, or an empty JSON object, is fine (some clients always send one)."""
    data = request.get_data(cache=True).strip()
    if not data:
        return
    if data.startswith(b"{") and data.endswith(b"}") and not data[1:-1].strip():
        return  # {} however it is spaced
    raise ApiError(400, "invalid_body", "this route takes no body"
                   + (f": its options are query parameters ({options})" if options else ""))
