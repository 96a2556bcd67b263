"""Paged answers that never end: a cursor that comes back (A, B, A, ...) is refused at once, and
the bodies of one answer together are held to the body size limit.

Found by a review of malformed answers: a cursor alternating between two values was only caught
by MAX_PAGES, after 1,000 requests, 47 s and 870 MB on loopback; pages that never end (a new
cursor each time) read 1,000 bodies of up to max_body_mb each.
"""
from __future__ import annotations

import dataclasses
import re
import time

import pytest

from discovery.providers.errors import MalformedAnswer, ProviderTimeout
from tests.providers.conftest import make_client

# format → (path, the cursor query parameter, a page naming ``cursor`` as the next one)
PAGED = {
    "anthropic": ("/v1/models", "after_id",
                  lambda n, cursor: {"data": [{"id": f"m{n}"}], "has_more": True, "last_id": cursor}),
    "gemini": ("/v1beta/models", "pageToken",
               lambda n, cursor: {"models": [{"name": f"models/m{n}"}], "nextPageToken": cursor}),
    "cohere": ("/v1/models", "page_token",
               lambda n, cursor: {"models": [{"name": f"m{n}", "endpoints": ["chat"]}], "next_page_token": cursor}),
}


def paged_client(stub, fmt, **config):
    path, _, _ = PAGED[fmt]
    client = make_client(fmt, stub.url + path.rsplit("/", 1)[0])
    return type(client)(dataclasses.replace(client.config, **config), environ={client.api_key_env: "test-key"})


@pytest.mark.parametrize("fmt", PAGED)
def test_a_cursor_that_comes_back_fails_the_refresh_at_once(stub, fmt):
    path, param, page = PAGED[fmt]
    # The first page names A, A names B, B names A again.
    stub.route(path, lambda request: (200, page(len(stub.requests), "B" if request.args.get(param) == "A" else "A")))
    with pytest.raises(MalformedAnswer, match="names a page already read"):
        paged_client(stub, fmt).fetch(None)
    assert len(stub.requests) == 3


@pytest.mark.parametrize("fmt", PAGED)
def test_a_cursor_that_is_not_a_string_is_malformed(stub, fmt):
    path, _, page = PAGED[fmt]
    stub.route(path, (200, page(0, 5)))
    with pytest.raises(MalformedAnswer, match="is not a string"):
        paged_client(stub, fmt).fetch(None)


@pytest.mark.parametrize("fmt", PAGED)
def test_pages_that_never_end_are_held_to_the_body_limit_together(stub, fmt):
    path, param, page = PAGED[fmt]

    def endless(request):
        n = int(re.sub(r"\D", "", request.args.get(param) or "0") or 0)
        body = page(n, f"p{n + 1}")
        body[next(iter(body))][0]["description"] = "x" * 20_000
        return 200, body

    stub.route(path, endless)
    client = paged_client(stub, fmt, max_body_mb=0.25)
    with pytest.raises(MalformedAnswer, match=r"more than 0.25 MiB in 14 bodies"):
        client.fetch(None)
    assert len(stub.requests) == 14  # 0.25 MiB of 20 kB pages, not MAX_PAGES of them
    stub.route(path, (200, {**page(0, ""), "next_page_token": None, "nextPageToken": None, "has_more": False}))
    assert len(client.fetch(None).models) == 1  # one body under the limit is read as before


def test_pages_that_come_slowly_are_held_to_the_refresh_timeout_together(stub):
    """Each page within its own timeout, and small: only MAX_PAGES bounded the refresh (1,000
    pages of up to three timeouts each: hours). refresh_timeout bounds all of them together."""
    path, param, page = PAGED["cohere"]

    def slow(request):
        time.sleep(0.2)
        n = int(request.args.get(param) or 0)
        return 200, page(n, str(n + 1))

    stub.route(path, slow)
    client = paged_client(stub, "cohere", refresh_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match=r"took longer than refresh_timeout \(1s\) to answer, over \d+ requests"):
        client.fetch(None)
    assert time.monotonic() - started < 2.0 and len(stub.requests) <= 7
