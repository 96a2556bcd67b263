"""A provider's rate-limit reset headers, read when an answer has no Retry-After: OpenAI's and
Groq's Go durations, Anthropic's RFC 3339 times, and only for a limit that says it is exhausted."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from discovery.providers.retries import MAX_RETRY_AFTER_SECONDS, asked_wait, parse_reset, rate_limit_reset


@pytest.mark.parametrize("text,seconds", [
    ("6m0s", 360.0), ("1.5s", 1.5), ("20ms", 0.02), ("1h2m3s", 3723.0), ("7.66s", 7.66), ("2m59.56s", 179.56),
    ("250us", 0.00025), ("0s", 0.0), ("12", 12.0), ("0.5", 0.5), ("-5", 0.0), (" 3s ", 3.0),
    ("1e400", MAX_RETRY_AFTER_SECONDS), ("99999h", MAX_RETRY_AFTER_SECONDS),
])
def test_durations_and_seconds_are_read(text, seconds):
    assert parse_reset(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", [None, "", "soon", "s", "6x", "1.5.5s", "nan", "m6", "6 m", "inf s",
                                  "2026-13-45T00:00:00Z", "9999999-01-01T00:00:00Z"])
def test_what_is_not_a_time_is_none(text):
    assert parse_reset(text) is None


def test_rfc_3339_times_are_seconds_from_now():
    soon = (datetime.now(UTC) + timedelta(seconds=90)).isoformat().replace("+00:00", "Z")
    assert 85 <= parse_reset(soon) <= 90
    assert parse_reset("2020-01-01T00:00:00Z") == 0.0  # past: at once
    assert parse_reset("9999-12-31T23:59:59Z") == MAX_RETRY_AFTER_SECONDS
    naive = (datetime.now(UTC) + timedelta(seconds=60)).replace(tzinfo=None).isoformat()
    assert 55 <= parse_reset(naive) <= 60  # no offset: UTC


def test_only_an_exhausted_limit_sets_the_wait_and_the_longest_reset_wins():
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "2s",
               "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1m"}
    assert rate_limit_reset(headers) == 60.0
    headers["x-ratelimit-remaining-tokens"] = "5000"
    assert rate_limit_reset(headers) == 2.0
    assert rate_limit_reset({"x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "2s"}) is None
    assert rate_limit_reset({"x-ratelimit-reset-requests": "2s"}) is None  # no limit says it is exhausted
    assert rate_limit_reset({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "soon"}) is None
    assert rate_limit_reset({}) is None


def test_retry_after_comes_before_the_reset_headers():
    headers = {"Retry-After": "4", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1m"}
    assert asked_wait(headers) == 4.0
    del headers["Retry-After"]
    assert asked_wait(headers) == 60.0
