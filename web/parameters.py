"""One rule for query parameters on every route, from the OpenAPI document (web.openapi).

- A parameter the route does not take is a 400 naming the ones it does; so is one given empty.
- A list parameter may be a comma list or repeated: its values are united. A parameter that
  takes one value, given twice, is a 400 (which one was meant is not ours to guess).
- An unknown provider in a filter is a 400 naming the known ones (:func:`check_providers`).
- A value is at most ``MAX_VALUE`` characters (400), the whole query string ``MAX_QUERY`` bytes
  (414). A request line past the HTTP server's own limit (tens of kilobytes) is refused by the
  server itself, as plain text, before the app sees it.

The Flask app checks every request before its view runs; the native stream route calls
:func:`refusal` itself.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

from discovery.bedrock import region_of
from web.errors import ApiError
from web.openapi import parameter_rules

# The longest value one query parameter may have (a comma list counts as one value), and the longest
# query string: a text search or id glob tens of kilobytes long was taken as it came. The query is
# counted as sent (percent-encoded), so it holds a longest value in any script (9 bytes a character
# at most), and stays under the HTTP server's own limit on a request line.
MAX_VALUE = 4096
MAX_QUERY = 40960


def refusal(endpoint: str, args: Mapping[str, Sequence[str]]) -> Optional[str]:
    """Why the query ``args`` (name -> values) break the rule for ``endpoint``, or None."""
    long = sorted(name for name, given in args.items() if any(len(v) > MAX_VALUE for v in given))
    if long:
        return f"{', '.join(long)} is longer than {MAX_VALUE} characters"
    rule = parameter_rules().get(endpoint)
    if rule is None or rule.free:
        return None
    unknown = rule.unknown(args)
    if unknown:
        valid = ", ".join(sorted(rule.names) + [f"{p}<key>" for p in rule.prefixes]) or "none"
        return f"unknown parameter {', '.join(unknown)}; valid here: {valid}"
    # attr.<key> alone (no value) asks for presence. Blank is empty too, and so is a list of blanks
    # (provider=, or provider=%20): it was taken as no filter at all.
    empty = sorted(name for name, given in args.items()
                   if any(not (v.strip() if name not in rule.lists else any(p.strip() for p in v.split(",")))
                          for v in given)
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
    # No id, name or parameter holds a NUL (discovery.limits); PostgreSQL refuses one in any text
    # it is asked, so a path or query with one is refused here, as bad input, before any lookup.
    if "\x00" in request.path:
        raise ApiError(400, "invalid_path", "the path holds a NUL character (%00), which no id or name has")
    if b"%00" in request.query_string:  # the only way a NUL reaches a parameter (the server refuses a raw one)
        raise ApiError(400, "invalid_parameter", "the query holds a NUL character (%00), which no parameter takes")
    if len(request.query_string) > MAX_QUERY:
        raise ApiError(414, "query_too_long", f"the query string is {len(request.query_string)} bytes; "
                                              f"at most {MAX_QUERY}")
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
    """Provider names a filter may use: the configured ones, those the catalogs list, Bedrock
    with each watched region's source (``bedrock@us-east-1``), and every source the store has known
    (one taken out of the settings keeps its runs and events)."""
    names = set(service.source_names()) | set(service.index.providers()) | set(service.view.provider_rows)
    if getattr(service, "bedrock_board", None) is not None:
        names.add("bedrock")
    return names


def follower_takes_region(service: Any, region: Optional[str]) -> bool:
    """Whether a follower with Bedrock on takes ``region`` unchecked, as it is well formed: it has no
    region board, and the leader may watch regions it discovered, which no setting names."""
    from discovery.bedrock import REGION_NAME

    return (region is not None and getattr(service, "role", None) == "follower"
            and getattr(service, "bedrock_board", None) is None and service.settings.bedrock.enabled
            and REGION_NAME.match(region) is not None)


def check_providers(service: Any, providers: Iterable[str], regions: bool = True) -> None:
    """Raise a 400 naming the known providers when ``providers`` holds another; with ``regions``
    false, also for a Bedrock region's source (a route whose answer is per provider of models,
    where it matched nothing)."""
    providers = list(providers)
    if not providers:
        return
    if not regions:
        named = [p for p in providers if region_of(p) is not None]
        if named:
            raise ApiError(400, "invalid_parameter", f"provider {named[0]} is a Bedrock region's source; this "
                                                     "answer is per provider of models: provider=bedrock")
    known = known_providers(service)
    strangers = [p for p in providers if p not in known and not follower_takes_region(service, region_of(p))]
    if strangers:
        raise ApiError(400, "invalid_parameter", f"unknown provider {', '.join(strangers)}; "
                                                 f"known: {', '.join(sorted(known))}")
