"""refresh_timeout bounds a refresh's retries too: urllib3 retried a request that timed out, or
answered 503 with a Retry-After, with no regard for it (each attempt a full timeout, each wait a
full backoff), so one request could run well past the refresh's deadline."""
from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from discovery.providers.errors import ProviderHTTPError, ProviderTimeout
from tests.providers.conftest import make_client


def client_of(stub, **config):
    client = make_client("openai", stub.url + "/v1")
    return type(client)(dataclasses.replace(client.config, **config), environ={client.api_key_env: "test-key"})


def test_retries_of_requests_that_time_out_stop_at_the_refresh_timeout(stub):
    let_go = threading.Event()

    def silent(request):
        let_go.wait(10)
        return 200, {"data": []}

    stub.route("/v1/models", silent)
    # Four attempts of 0.8 s each and their backoffs: over 3 s without the deadline.
    client = client_of(stub, timeout=0.8, retries=3, retry_backoff=0.1, refresh_timeout=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(ProviderTimeout, match=r"longer than refresh_timeout \(1s\)"):
            client.fetch(None)
    finally:
        let_go.set()
    assert time.monotonic() - started < 1.5


def test_a_retry_after_that_would_outlast_the_refresh_timeout_is_not_waited_for(stub):
    stub.route("/v1/models", (503, {"error": {"message": "overloaded"}}, {"Retry-After": "1"}))
    # Three waits of 1 s without the deadline; the provider's answer is the refresh's error.
    client = client_of(stub, retries=3, max_retry_after=5, refresh_timeout=1.5)
    started = time.monotonic()
    with pytest.raises(ProviderHTTPError, match="HTTP 503: overloaded"):
        client.fetch(None)
    assert time.monotonic() - started < 2.0
    assert len(stub.requests) == 2


def test_the_local_request_budgets_wait_ends_at_the_refresh_timeout(stub):
    """The wait for the local rate limit's next token (up to ``timeout``) was not held to the
    refresh's deadline: a paged answer waited past refresh_timeout for its next page."""
    from discovery.ratelimit import TokenBucket

    stub.route("/v1/models", (200, {"data": [{"id": "x/a"}], "links": {"next": f"{stub.url}/v1/models2"}}))
    stub.route("/v1/models2", (200, {"data": [{"id": "x/b"}]}))
    plain = make_client("openrouter", stub.url + "/v1")
    # One token now, the next in 4 s; a request may wait up to 10 s for one; the refresh has 1 s.
    client = type(plain)(dataclasses.replace(plain.config, timeout=10.0, refresh_timeout=1.0),
                         rate_limiter=TokenBucket(0.25, 1))
    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match=r"longer than refresh_timeout \(1s\)"):
        client.fetch(None)
    assert time.monotonic() - started < 1.5
    assert len(stub.requests) == 1
