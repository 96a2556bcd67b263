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

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS

from tests.contract.conftest import ADMIN_TOKEN, FAILED, MAX_EXAMPLES, SENT, STATUSES, TIMED_OUT
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
