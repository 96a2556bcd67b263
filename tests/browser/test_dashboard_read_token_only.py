"""The dashboard on a service with a read token and no admin token: a token the service does not
know is refused, not kept as the admin's.

The form asked only the admin route, which a loopback client may read without any token there,
so every token was "accepted", and the page stayed on "Loading…" behind its 401s.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import enter_token, needs_chromium, ready, token_service

pytestmark = needs_chromium

READ_TOKEN = "browser-test-read-only-token-2468013579"


@pytest.fixture(scope="module")
def service(sim, tmp_path_factory):
    """One provider behind a read token; changes from loopback need no token (none is set)."""
    with token_service(sim, tmp_path_factory.mktemp("read-only"), "the read-token-only tests",
                       read_token=READ_TOKEN) as svc:
        yield svc


def test_a_token_the_service_does_not_know_is_refused_and_the_read_token_opens_the_data(page, problems, sim):
    ready(page, "/")
    problems.clear()  # the first views' 401s: no token yet
    enter_token(page, "wrong-token-not-known-here", "The service refused this token.")
    problems.clear()  # the check's own 401
    expect(page.locator("#admin summary")).to_have_text("Admin")
    expect(page.locator("#live")).to_have_attribute("data-state", "locked")
    # The read token opens the data. With no admin token set, this host may also change things.
    enter_token(page, READ_TOKEN, "Token accepted: admin actions are shown.")
    expect(page.locator("table.models tbody tr")).to_have_count(len(sim.state.models("openai_compatible")))
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
