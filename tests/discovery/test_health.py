"""Error rate and uptime are judged on the same checks, so they can never tell opposite stories."""
from __future__ import annotations

import pytest

from discovery.health import DEGRADED, RATE_LIMITED, HealthRecord

T0 = 1_796_040_000.0


def record(*results: bool, step: float = 60.0) -> HealthRecord:
    health = HealthRecord(failure_threshold=3, window=3600.0)
    for i, ok in enumerate(results):
        health.observe(ok, 10.0, "probe", None if ok else "timeout", None if ok else "timed out", now=T0 + i * step)
    return health


def test_every_check_failing_is_no_uptime_even_while_the_status_is_only_degraded():
    health = record(False, False)
    now = T0 + 600
    assert health.status == DEGRADED
    assert health.error_rate(now) == 1 and health.uptime(now) == 0


def test_every_check_passing_is_full_uptime_and_no_errors():
    health = record(True, True, True)
    assert health.error_rate(T0 + 600) == 0 and health.uptime(T0 + 600) == 1


def test_uptime_is_the_time_the_newest_check_had_succeeded():
    # ok at 0, failed at 60, ok at 120; now 240: up 0-60 and 120-240 of 240 seconds.
    health = record(True, False, True)
    assert health.uptime(T0 + 240) == pytest.approx(180 / 240)
    assert health.error_rate(T0 + 240) == pytest.approx(1 / 3)


def test_checks_that_left_the_window_count_for_neither():
    health = record(False, False, False, True, step=1800.0)  # failures at 0, 1800, 3600; ok at 5400
    assert health.status == DEGRADED  # recovering from unhealthy
    now = T0 + 8400  # the window holds only the check at 5400
    assert health.error_rate(now) == 0 and health.uptime(now) == 1


def test_no_checks_is_unknown_not_zero():
    health = HealthRecord()
    assert health.error_rate(T0) is None and health.uptime(T0) is None


def test_error_rate_and_uptime_cover_the_whole_window_not_the_newest_hundred_checks():
    # 150 checks a minute apart inside a 4-hour window: 50 failures, then 100 successes.
    health = HealthRecord(failure_threshold=3, window=4 * 3600.0)
    for i in range(150):
        ok = i >= 50
        health.observe(ok, 10.0, "probe", None if ok else "timeout", None if ok else "timed out", now=T0 + i * 60)
    now = T0 + 149 * 60
    assert health.error_rate(now) == pytest.approx(50 / 150)
    assert health.uptime(now) == pytest.approx(99 / 149)


def test_a_failure_below_the_threshold_sets_its_own_status_and_reason():
    health = record(False, False, False)  # unhealthy
    health.observe(True, 10.0, "probe", now=T0 + 180)
    assert (health.status, health.reason) == (DEGRADED, "recovering")
    health.observe(False, 10.0, "probe", "http", "HTTP 502 from upstream", now=T0 + 240)
    assert (health.status, health.reason) == (DEGRADED, "HTTP 502 from upstream")
    health.observe(False, 10.0, "probe", "timeout", "timed out after 2s", now=T0 + 300)
    assert health.reason == "timed out after 2s"


def test_a_plain_failure_after_a_rate_limit_says_what_failed():
    health = HealthRecord(failure_threshold=3)
    health.observe(False, 10.0, "probe", "rate_limited", "HTTP 429", now=T0)
    assert health.status == RATE_LIMITED
    health.observe(False, 10.0, "probe", "timeout", "timed out after 2s", now=T0 + 60)
    assert (health.status, health.reason) == (DEGRADED, "timed out after 2s")


def test_the_checks_kept_are_bounded_whatever_the_window_and_the_interval():
    # A day's window with a check every 10 ms would keep 8.6 million checks a source; 10,000 are
    # kept (README: the newest 10,000 within the window).
    MAX_CHECKS = 10_000
    health = HealthRecord(failure_threshold=3, window=86400.0)
    for i in range(MAX_CHECKS + 500):
        health.observe(i >= 500, 5.0, "refresh", None if i >= 500 else "http", now=T0 + i * 0.01)
    assert len(health.checks) == MAX_CHECKS
    assert health.error_rate(now=T0 + (MAX_CHECKS + 500) * 0.01) == 0.0  # the 500 failures were the oldest
