"""schemathesis over every operation of the OpenAPI document, against the real app.

A real store and the provider simulator stand behind the app; changes are sent with the admin
token. Every answer must be no server error, have a documented status and content type, and
conform to its schema (headers included); data the document says is invalid must be refused.
One 5xx is not an error of the server: the documented 504 of ``?wait=true`` whose ``timeout``
ran out (``*_timeout``; the work goes on), which schemathesis reaches by asking for timeouts of
a few nanoseconds. The event stream (``events.stream``) is a native ASGI route outside the Flask
app and never ends; tests/notify covers it.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS

from tests.conftest import SUMMARY_PROPERTY
from tests.contract.conftest import ADMIN_TOKEN, FAILED, MAX_EXAMPLES, SENT, STATUSES, TIMED_OUT, summary_lines
from web.openapi import document

schema = schemathesis.openapi.from_dict(document()).exclude(operation_id="events.stream")
CHECKED = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
           "response_schema_conformance", "response_headers_conformance", "negative_data_rejection")
WAIT_TIMEOUTS = ("refresh_timeout", "benchmark_timeout")


def _waited_too_short(response) -> bool:
    """The documented 504 of a wait whose timeout ran out."""
    if response.status_code != 504:
        return False
    try:
        return response.json()["error"]["code"] in WAIT_TIMEOUTS
    except (ValueError, KeyError, TypeError):
        return False


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case, contract_app):
    name = case.operation.label
    SENT[name] += 1
    try:
        response = case.call(app=contract_app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        STATUSES[name, response.status_code] += 1
        checks = CHECKED
        if _waited_too_short(response):
            TIMED_OUT[name] += 1
            checks = tuple(c for c in CHECKED if c != "not_a_server_error")
        case.validate_response(response, checks=CHECKS.get_by_names(checks))
    except BaseException:
        FAILED[name] += 1
        raise



# Documented statuses a run against one healthy service does not reach, and where they are proven.
EXPLAINED = {
    400: "routes without parameters refuse unknown ones: test_document.py::test_an_unknown_parameter_is_a_400_on_every_route",
    401: "reached only by requests without a token; refusals: tests/web/test_security.py",
    403: "the read token on a change, or no admin token off loopback: tests/web/test_security.py",
    304: "conditional GETs with If-None-Match: tests/web/test_history.py (Atom), tests/browser (dashboard)",
    413: "the body limit is the ASGI server's, before the app: tests/web/test_security.py",
    414: "a query string over 40 KiB, on every route: tests/web/test_api.py, tests/web/test_security.py (stream)",
    415: "a webhook body sent as a form or text: tests/web/test_security.py",
    429: "manual refreshes past manual_refresh_per_minute: tests/web/test_api.py",
    502: "an answer holding a configured secret nested too deeply to mask: "
         "tests/web/test_security.py::test_an_answer_holding_a_secret_nested_too_deeply_to_mask_is_withheld_with_a_clear_error",
    503: "an actor not answering in time or restarting: tests/resilience; /readyz before the first round: "
         "tests/web/test_api.py",
    504: "a wait that outlasts its timeout (reached when schemathesis asks for nanoseconds)",
    204: "deleting a subscription made before: tests/notify/test_webhooks.py",
    202: "a benchmark started without wait: tests/benchmark/test_service.py",
    409: "benchmarking off for the model, or its globs leave it out: tests/benchmark/test_service.py",
}


def test_every_documented_status_was_reached_or_is_explained(record_property):
    if not SENT:
        pytest.skip("runs after the schemathesis operations, in the same session")
    record_property(SUMMARY_PROPERTY, summary_lines())
    missing = []
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            label = f"{method.upper()} {path}"
            if operation["operationId"] == "events.stream":
                continue
            reached = {status for (name, status) in STATUSES if name == label}
            for status in sorted({int(s) for s in operation["responses"]} - reached):
                if status not in EXPLAINED:
                    missing.append(f"{label} {status}")
    assert not missing, f"documented statuses neither reached nor explained: {missing}"
