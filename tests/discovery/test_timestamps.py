"""One time format for everything the service prints: ISO 8601 UTC with microseconds and ``Z``."""
from __future__ import annotations

from datetime import datetime, timezone

from discovery.timestamps import is_time_field, iso, parse_time, with_iso_times


def test_every_time_has_the_same_shape_whatever_its_fraction():
    assert iso(1796040000) == "2026-11-30T12:00:00.000000Z"
    assert iso(1796040000.123) == "2026-11-30T12:00:00.123000Z"
    assert iso(datetime(2026, 11, 30, 13, 0, tzinfo=timezone.utc).astimezone()) == "2026-11-30T13:00:00.000000Z"
    assert iso(None) is None and parse_time(iso(1796040000.5)) == 1796040000.5


def test_time_fields_are_named_at_or_time_or_end_in_at_or_since():
    assert is_time_field("at") and is_time_field("time") and is_time_field("started_at") and is_time_field("missing_since")
    assert not is_time_field("since") and not is_time_field("attributes.created_at") and not is_time_field("ttft_ms")


def test_times_are_rewritten_everywhere_but_in_what_a_provider_stated():
    body = {"started_at": 1796040000.0, "finished_at": None, "checks": [{"at": 1796040000, "ok": True}],
            "raw": {"created": 1715633992, "created_at": 1715633992},
            "model": {"attributes": {"updated_at": 1}, "performance": {"measured_at": 1796040000}},
            "diff": {"attributes.created_at": [1, 2]}, "since": 12, "flag_at": True}
    out = with_iso_times(body)
    assert out["started_at"] == "2026-11-30T12:00:00.000000Z" and out["finished_at"] is None
    assert out["checks"][0]["at"] == "2026-11-30T12:00:00.000000Z"
    assert out["model"]["performance"]["measured_at"] == "2026-11-30T12:00:00.000000Z"
    assert out["raw"] == body["raw"] and out["model"]["attributes"] == {"updated_at": 1}
    assert out["diff"] == body["diff"] and out["since"] == 12 and out["flag_at"] is True
    assert body["started_at"] == 1796040000.0  # the input is not changed


def test_a_value_without_times_is_returned_as_it_is():
    body = {"data": [{"id": "a", "limits": {"context_window": 1}}], "total": 1}
    assert with_iso_times(body) is body


def test_times_from_year_1_to_the_last_second_of_9999_in_utc_are_taken_and_shown():
    import pytest

    for text, value in (("0001-01-01T00:00:00Z", -62135596800.0), ("9999-12-31T23:59:59.5Z", 253402300799.5)):
        assert parse_time(text) == value and iso(value).startswith(text[:19])
    for text in ("0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01", "9999-12-31T23:59:59.9999Z"):
        with pytest.raises(ValueError, match="outside the years 1 to 9999"):
            parse_time(text)
