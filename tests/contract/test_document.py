"""The OpenAPI document against the app: the same routes, a valid 3.1 document, the parameter rule.

These need no running service: the document is code, and the parameter rule answers before any
view runs.
"""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from openapi_spec_validator import validate

from discovery.timestamps import is_time_field
from web import create_app
from web.openapi import document, documented_routes
from web.stream import STREAM_PATH, StreamRequestError, parse_stream_request

IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture(scope="module")
def app():
    # Nothing here reaches a view that would ask the service.
    return create_app(SimpleNamespace(settings=None))


def app_routes(app) -> set[tuple[str, str]]:
    """(path template, METHOD) of every Flask rule, ``<converter:name>`` written ``{name}``, and the
    native stream route of web/server.py."""
    routes = {(STREAM_PATH, "GET")}
    for rule in app.url_map.iter_rules():
        template = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        routes.update((template, method) for method in rule.methods - IGNORED_METHODS)
    return routes


def test_every_route_is_documented_and_every_documented_route_exists(app):
    routes, documented = app_routes(app), documented_routes()
    assert not routes - documented, f"routes missing from the OpenAPI document: {sorted(routes - documented)}"
    assert not documented - routes, f"documented routes the app does not have: {sorted(documented - routes)}"


def test_each_operation_names_the_endpoint_that_serves_it(app):
    paths = document()["paths"]
    for rule in app.url_map.iter_rules():
        template = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - IGNORED_METHODS:
            assert paths[template][method.lower()]["x-endpoint"] == rule.endpoint
    assert paths[STREAM_PATH]["get"]["x-endpoint"] == "events.stream"
    ids = [o["operationId"] for item in paths.values() for o in item.values()]
    assert len(ids) == len(set(ids)), "operationIds are unique"


def test_the_document_is_valid_openapi_3_1_grouped_by_tag():
    doc = document()
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    tags = {t["name"] for t in doc["tags"]}
    for item in doc["paths"].values():
        for operation in item.values():
            assert operation["tags"] and set(operation["tags"]) <= tags and operation["summary"]
            assert "400" in operation["responses"], f"{operation['operationId']}: the parameter rule's 400"


def test_every_time_field_in_an_answer_is_an_iso_date_time():
    def walk(schema, where):
        if not isinstance(schema, dict):
            return
        for name, prop in (schema.get("properties") or {}).items():
            if is_time_field(name):
                variants = prop.get("oneOf", [prop])
                assert any(v.get("format") == "date-time" for v in variants), f"{where}.{name}"
            walk(prop, f"{where}.{name}")
        for key in ("items", "additionalProperties"):
            walk(schema.get(key), f"{where}[]")
        for variant in schema.get("oneOf", ()):
            walk(variant, where)

    for name, schema in document()["components"]["schemas"].items():
        walk(schema, name)


def _url(path: str) -> str:
    return path.replace("{model_id}", "openai/gpt-4o").replace("{run_id}", "1").replace(
        "{asset}", "swagger-ui.css").replace("{name}", "openai").replace("{webhook_id}", "wh_x")


def _api(route: tuple[str, str]) -> bool:
    """Routes the parameter rule covers: all but the native stream and the dashboard's pages."""
    return route[0] != STREAM_PATH and route[0] != "/" and not route[0].startswith("/ui/")


@pytest.mark.parametrize("path,method", sorted(r for r in documented_routes() if _api(r)))
def test_an_unknown_parameter_is_a_400_on_every_route(app, path, method):
    resp = app.test_client().open(_url(path) + "?colour=red", method=method)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    err = resp.get_json()["error"]
    assert err["code"] == "invalid_parameter" and "colour" in err["message"]


def test_a_single_valued_parameter_given_twice_is_a_400(app):
    resp = app.test_client().get("/api/v1/models?limit=5&limit=6")
    assert resp.status_code == 400 and "limit takes one value" in resp.get_json()["error"]["message"]


def test_the_event_stream_refuses_unknown_and_repeated_single_parameters_too():
    with pytest.raises(StreamRequestError, match="colour"):
        parse_stream_request(b"colour=red", None)
    with pytest.raises(StreamRequestError, match="model takes one value"):
        parse_stream_request(b"model=a*&model=b*", None)
    flt, since = parse_stream_request(b"kinds=added&kinds=removed,updated&since=5", None)
    assert set(flt.kinds) == {"added", "removed", "updated"} and since == 5


def test_the_docs_page_and_its_assets_are_served_from_this_process(app):
    client = app.test_client()
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "/openapi.json" in html and not re.search(r"""(src|href)=["']https?://""", html)
    for asset in re.findall(r"""(?:src|href)=["'](/docs/[^"']+)""", html):
        resp = client.get(asset)
        assert resp.status_code == 200 and len(resp.data) > 100, asset
    assert client.get("/docs/../setup.cfg").status_code == 404
    assert client.get("/docs/").get_data(as_text=True) == html  # with a slash too (a 404 before)
    assert client.get("/openapi.json").get_json()["info"]["title"] == "model discovery service"


@pytest.mark.parametrize("suffix", ["/history", "/benchmarks", "/regions", "/best-regions"])
def test_a_model_id_ending_in_a_route_of_its_own_is_refused_as_a_record(suffix):
    from discovery.limits import id_problem

    assert "a route of its own" in id_problem(f"acme/model{suffix}")
    assert id_problem("acme/model") is None


def test_every_enum_of_the_document_holds_distinct_names_once_folded():
    """The capability enum held the aliases too (fine-tuning beside fine_tuning): a generated
    client made one constant of both and refused the document."""
    from web.openapi import document

    def enums(node):
        if isinstance(node, dict):
            if isinstance(node.get("enum"), list):
                yield node["enum"]
            for value in node.values():
                yield from enums(value)
        elif isinstance(node, list):
            for value in node:
                yield from enums(value)

    found = list(enums(document()))
    assert found
    for values in found:
        folded = [str(v).upper().replace("-", "_") for v in values if v is not None]
        assert len(folded) == len(set(folded)), values
