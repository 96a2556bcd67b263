"""The dashboard on a service with no admin token, opened on its own host: changes need no token
there, so the page offers them without asking for one, and keeps no token typed in."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import needs_chromium, ready, token_service

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def service(sim, tmp_path_factory):
    """One provider and no admin token (this module's own service: one runs in a process at a time)."""
    with token_service(sim, tmp_path_factory.mktemp("open"), "the open-admin tests") as svc:
        yield svc


def test_a_service_that_needs_no_admin_token_offers_its_actions_without_one(page, problems):
    """With no admin token set, any string was "accepted" as one, and without one no refresh
    button was shown though the service takes the refresh from here."""
    ready(page, "/ui/providers")
    expect(page.locator("#admin summary")).to_have_text("Admin (open here)")
    expect(page.locator("[data-key=refresh-vllm]")).to_be_visible()
    page.click("#admin summary")
    page.fill("#token", "totally-wrong-token")
    page.click("#token-form button[type=submit]")
    expect(page.locator("#token-note")).to_contain_text("none is needed, and this one was not kept")
    assert page.evaluate("sessionStorage.getItem('discovery.token')") is None
    assert problems.all() == []
