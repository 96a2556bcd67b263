"""Bedrock's timestamps are read by the standard library where botocore would use dateutil, with
the same result; anything else goes to botocore's own parser."""
from __future__ import annotations

import pytest
from botocore.utils import parse_timestamp as botocore_parse

from discovery.bedrock import parse_timestamp


@pytest.mark.parametrize("value", [
    "2024-06-20T12:30:45Z", "2024-06-20T12:30:45.123456Z", "2024-06-20T12:30:45.5+02:00",
    "2024-06-20T12:30:45-05:30", "2024-06-20", 1718886645, 1718886645.25, "1718886645",
    "Thu, 20 Jun 2024 12:30:45 GMT",
])
def test_the_same_datetime_as_botocore(value):
    ours, theirs = parse_timestamp(value), botocore_parse(value)
    assert ours == theirs and (ours.tzinfo is None) == (theirs.tzinfo is None)


def test_a_malformed_iso_string_fails_as_botocore_fails():
    with pytest.raises(ValueError):
        parse_timestamp("2024-13-45T99:00:00Z")
