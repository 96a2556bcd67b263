"""The service's OpenAPI 3.1 document, kept in code beside the routes it describes.

:func:`document` builds it once; :func:`parameter_rules` tells the app, per operation, which
query parameters exist and which take a list, so "an unknown parameter is a 400" and "a repeated
parameter means the union of its values" hold on every route from one source (web.parameters).
"""
from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

from web.openapi.paths import READINESS, VERSION, error_components, operations
from web.openapi.schemas import SCHEMAS

METHODS = ("get", "post", "put", "patch", "delete")
TAGS = (
    ("models", "The catalog: list, filter, detail, compare, capabilities"),
    ("history", "The catalog as it was and what changed between two times"),
    ("providers", "Configured providers: status, health, their models"),
    ("refresh", "Manual refresh and the refresh history"),
    ("events", "The change feed: pages, Server-Sent Events, Atom"),
    ("subscriptions", "Signed webhooks (admin token)"),
    ("benchmarks", "Measured performance: TTFT, output speed, latency"),
    ("bedrock", "AWS Bedrock regions and where a model can be called"),
    ("reconciliation", "Where the catalogs and the live lists disagree"),
    ("service", "Liveness, readiness, status, version, the resource index"),
    ("documentation", "This document and its browsable page"),
    ("dashboard", "The dashboard's page and files (its query string is the page's own)"),
)
DESCRIPTION = """\
Every error is `{"error": {"code", "message"}}` with a 4xx or 5xx status. One rule for query
parameters on every route: an unknown parameter is a 400; a list parameter may be a comma list or
repeated, meaning the union of its values; a parameter that takes one value given twice is a 400;
an unknown provider in a filter is a 400 that names the known ones. Times are ISO 8601 in UTC
(`2026-11-30T12:00:00.123456Z`). Every change (any method but GET) needs the admin token, as do
the subscription routes; with a read token configured every read needs it too, except the
probes and this document."""


@functools.cache
def _document(version: str) -> dict[str, Any]:
    schemas = {**SCHEMAS, "Readiness": READINESS, "Version": VERSION}
    return {
        "openapi": "3.1.0",
        "info": {"title": "model discovery service", "version": version, "description": DESCRIPTION},
        "tags": [{"name": name, "description": text} for name, text in TAGS],
        "paths": operations(),
        "components": {
            "schemas": schemas,
            "responses": error_components(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "DISCOVERY_ADMIN_TOKEN or DISCOVERY_READ_TOKEN"}},
        },
    }


def document(version: str | None = None) -> dict[str, Any]:
    """The OpenAPI document (a fresh copy: callers may change it)."""
    from discovery.build import package_version

    return copy.deepcopy(_document(version or package_version()))


@dataclass(frozen=True)
class ParameterRule:
    """The query parameters of one operation: every name, those that take a list, allowed prefixes;
    ``free``: any query is the route's own business (a page's state), no rule applies."""

    names: frozenset[str]
    lists: frozenset[str]
    prefixes: tuple[str, ...] = ()
    free: bool = False

    def unknown(self, names) -> list[str]:
        """The names this operation does not take."""
        return sorted(n for n in names if n not in self.names and not n.startswith(self.prefixes or ("\0",)))


@functools.cache
def parameter_rules() -> dict[str, ParameterRule]:
    """Flask endpoint (``x-endpoint``; ``events.stream`` for the native stream) -> its :class:`ParameterRule`."""
    out = {}
    for item in operations().values():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            params = [p for p in operation.get("parameters", ()) if p["in"] == "query"]
            out[operation["x-endpoint"]] = ParameterRule(
                frozenset(p["name"] for p in params),
                frozenset(p["name"] for p in params if p["schema"].get("type") == "array"),
                tuple(operation.get("x-query-prefixes", ())), bool(operation.get("x-query-any")))
    return out


def documented_routes() -> set[tuple[str, str]]:
    """(path template, METHOD) of every operation the document names."""
    return {(path, method.upper()) for path, item in operations().items() for method in METHODS if method in item}


__all__ = ["ParameterRule", "document", "documented_routes", "parameter_rules"]
