"""The leaderboard when a measured region fails since: its row keeps the last numbers, marked
"failing since" with when and why, ranked after every row whose newest run measured."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import BEDROCK_MODEL, needs_chromium, ready

pytestmark = needs_chromium


def test_a_region_failing_since_its_measurement_is_marked_and_ranked_after_the_others(page, api, service, sim):
    fastest = f"{BEDROCK_MODEL}@us-east-1"
    assert [f"{r['model_id']}@{r['region']}" for r in api("/api/v1/benchmarks")["data"] if r["region"]][0] == fastest
    sim.state.set_option("bedrock@us-east-1", "access_denied", True)
    runs = service.wait_benchmarks(service.run_benchmark(BEDROCK_MODEL, region="us-east-1"), timeout=30)
    assert [run.outcome for run in runs] == ["failed"], runs
    board = api("/api/v1/benchmarks")["data"]
    assert f"{board[-1]['model_id']}@{board[-1]['region']}" == fastest and board[-1]["failed_at"]

    ready(page, "/ui/benchmarks")
    rows = page.locator("table.board tbody tr")
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.id)") == [
        f"{r['model_id']}@{r['region'] or ''}" for r in board]
    expect(page.locator("table.board .badge.failing")).to_have_count(1)
    marked = rows.last.locator(".badge.failing")
    expect(marked).to_have_text("failing since")
    assert "AccessDeniedException" in marked.get_attribute("title")
