"""One rule for query parameters on every route, from the OpenAPI document (web.openapi).

- A parameter the route does not take is a 400 naming the ones it does; so is one given empty.
- A list parameter may be a comma list or repeated: its values are united. A parameter that
  takes one value, given twice, is a 400 (which one was meant is not ours to guess).
- An unknown provider in a filter is a 400 naming the known ones (:func:`check_providers`).

The Flask app checks every request before its view runs; the native stream route calls
:func:`refusal` itself.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

from web.errors import ApiError
from web.openapi import parameter_rules


def refusal(endpoint: str, args: Mapping[str, Sequence[str]]) -> Optional[str]:
    """Why the query ``args`` (name -> values) break the rule for ``endpoint``, or None."""
    rule = parameter_rules().get(endpoint)
    if rule is None or rule.free:
        return None
    unknown = rule.unknown(args)
    if unknown:
        valid = ", ".join(sorted(rule.names) + [f"{p}<key>" for p in rule.prefixes]) or "none"
        return f"unknown parameter {', '.join(unknown)}; valid here: {valid}"
    # attr.<key> alone (no value) asks for presence.
    empty = sorted(name for name, given in args.items() if any(v == "" for v in given)
                   and not name.startswith(rule.prefixes or ("\0",)))
    if empty:
        return f"{', '.join(empty)} is given without a value; leave a parameter out to leave it unset"
    repeated = sorted(name for name, values in args.items() if len(values) > 1 and name not in rule.lists
                      and not name.startswith(rule.prefixes or ("\0",)))
    if repeated:
        return f"{', '.join(repeated)} takes one value and was given more than one"
    return None


def check_request() -> None:
    """``before_request``: raise a 400 when the request's query breaks the rule for its route."""
    from flask import request

    if request.url_rule is None:
        return  # no route: the 404 or 405 answers
    why = refusal(request.url_rule.endpoint, request.args.to_dict(flat=False))
    if why is not None:
        raise ApiError(400, "invalid_parameter", why)


def values(name: str, args: Optional[Mapping[str, Any]] = None) -> list[str]:
    """A list parameter's values: comma lists and repetitions united, in order, without repeats."""
    from flask import request

    raw = request.args.getlist(name) if args is None else args.get(name) or []
    if isinstance(raw, str):
        raw = [raw]
    return list(dict.fromkeys(v.strip() for part in raw for v in part.split(",") if v.strip()))


def known_providers(service: Any) -> set[str]:
    """Provider names a filter may use: the configured ones, those the catalogs list, and Bedrock
    with each watched region's source (``bedrock@us-east-1``)."""
    names = set(service.source_names()) | set(service.index.providers())
    if getattr(service, "bedrock_board", None) is not None:
        names.add("bedrock")
    return names


def check_providers(service: Any, providers: Iterable[str]) -> None:
    """Raise a 400 naming the known providers when ``providers`` holds another."""
    providers = list(providers)
    if not providers:
        return
    known = known_providers(service)
    strangers = [p for p in providers if p not in known]
    if strangers:
        raise ApiError(400, "invalid_parameter", f"unknown provider {', '.join(strangers)}; "
                                                 f"known: {', '.join(sorted(known))}")
