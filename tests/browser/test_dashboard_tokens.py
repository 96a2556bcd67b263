"""The dashboard on a service that needs a read token: the page loads, asks for the token, and the
token decides what it shows (data with the read token, admin actions only with the admin token)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ADMIN_TOKEN, enter_token, needs_chromium, ready, token_service

pytestmark = needs_chromium

READ_TOKEN = "browser-test-read-token-9876543210"


@pytest.fixture(scope="module")
def service(sim, tmp_path_factory):
    """One provider behind both tokens (this module's own service; the others share a bigger one)."""
    with token_service(sim, tmp_path_factory.mktemp("tokens"), "the token tests", admin_token=ADMIN_TOKEN,
                       read_token=READ_TOKEN) as svc:
        yield svc


@pytest.mark.parametrize("path", ["/", "/ui/compare?ids=vllm/acme-large-1,vllm/acme-small-1", "/ui/models/vllm/acme-large-1",
                                  "/ui/changes", "/ui/providers", "/ui/benchmarks"])
def test_every_page_loads_without_a_token_and_asks_for_one(page, problems, path):
    ready(page, path)
    expect(page.locator("main .notice.error")).to_have_text(
        "This service needs a token to show its data: enter it under Admin (top right).")
    expect(page.locator("#admin")).to_have_attribute("open", "")
    expect(page.locator("label[for=token]")).to_have_text("Token (admin, or read for the data only)")
    # Nothing is loading any more: the page says only what it needs.
    expect(page.locator("main")).not_to_contain_text("Loading")
    expect(page.locator("main [aria-busy]")).to_have_count(0)
    expect(page.locator("#live")).to_have_attribute("data-state", "locked")
    refused = problems.clear()  # the API's 401s were the point here
    assert refused and all("401" in p for p in refused), refused


def test_the_read_token_shows_the_data_live_but_no_admin_action(page, problems, sim, service):
    ready(page, "/")
    problems.clear()
    enter_token(page, READ_TOKEN, "Token kept for reading; it cannot change anything here, so no admin actions "
                                  "are shown.")
    problems.clear()  # the check of the token: a 403 from the admin-only route says it is a read token
    expect(page.locator("table.models tbody tr")).to_have_count(len(sim.state.models("openai_compatible")))
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    ready(page, "/ui/providers")
    expect(page.locator("tr[data-provider=vllm]")).to_be_visible()
    expect(page.locator("[data-key=refresh-vllm]")).to_have_count(0)
    # The stream carries the token too: a change arrives without a reload.
    sim.state.add_model("openai_compatible", {"id": "acme-token-1", "object": "model", "created": 1,
                                              "owned_by": "acme"})
    service.wait([service.refresh("vllm")], timeout=10)
    ready(page, "/ui/changes")
    expect(page.locator(".feed li", has_text="vllm/acme-token-1").first).to_be_visible()


def test_the_admin_token_shows_admin_actions_on_a_read_token_service(page, problems):
    ready(page, "/ui/providers")
    problems.clear()
    enter_token(page)
    expect(page.locator("[data-key=refresh-vllm]")).to_be_visible()
