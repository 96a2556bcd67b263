"""The dashboard on a service that measures no model (none enabled in its [benchmarks] settings, no
benchmark run recorded): no TTFT column or
filter in the catalog, no leaderboard, no "Run a benchmark" on a model page.

Every record carries ``performance`` (null until measured), so the page took every service for one
that measures models: an all-"—" TTFT column, "Nothing measured yet", a benchmark button refused."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import needs_chromium, ready, token_service

pytestmark = needs_chromium

NONE = "No benchmarks: this service does not measure models"


@pytest.fixture(scope="module")
def service(sim, tmp_path_factory):
    """One provider, benchmarks off (and no admin token: a browser here gets the admin actions)."""
    with token_service(sim, tmp_path_factory.mktemp("no-benchmarks"), "the no-benchmark tests") as svc:
        yield svc


def test_a_service_that_measures_nothing_shows_no_benchmark_controls(page, api):
    assert api("/api/v1/benchmarks/runs", limit=1)["data"] == []
    assert api("/api/v1/status")["benchmarks"] == {"enabled": False, "sources": []}
    ready(page, "/ui/catalog")
    expect(page.locator("table.models tbody tr").first).to_be_visible()
    expect(page.locator("table.models thead th", has_text="TTFT")).to_have_count(0)
    expect(page.locator("#f-max_ttft_ms")).to_have_count(0)
    expect(page.locator("#f-sort option[value=ttft]")).to_have_count(0)
    ready(page, "/ui/benchmarks")
    expect(page.locator("main .notice.empty")).to_contain_text(NONE)
    ready(page, "/ui/models/vllm/acme-large-1")
    expect(page.locator("#admin summary")).to_have_text("Admin (open here)")
    expect(page.locator("main .notice.empty")).to_contain_text(NONE)
    expect(page.locator("[data-key=run-benchmark]")).to_have_count(0)
    # A TTFT filter in the URL is still shown: the controls say what filters the rows.
    ready(page, "/ui/catalog?max_ttft_ms=500")
    expect(page.locator("#f-max_ttft_ms")).to_have_value("500")
