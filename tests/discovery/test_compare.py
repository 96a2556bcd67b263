"""Models side by side (discovery.compare): rows by dotted path, and which differ."""
from __future__ import annotations

from discovery.compare import compare


def test_a_field_null_in_one_record_and_a_section_in_another_differs_and_shows_the_section():
    """The row of ``performance`` showed [null, null] and did not differ when one model was
    measured and the other not: the measured one's value is a section, whose leaves have rows of
    their own, and the row itself lost it."""
    measured = {"ttft_ms": 310.0, "regions": {"us-east-1": {"ttft_ms": 310.0}}}
    answer = compare([{"id": "a/x", "performance": None, "attributes": {}},
                      {"id": "b/y", "performance": measured, "attributes": {"owned_by": "b"}}])
    rows = {row["field"]: row for row in answer["fields"]}
    assert rows["performance"]["values"] == [None, measured] and rows["performance"]["differs"]
    assert rows["performance.ttft_ms"]["values"] == [None, 310.0] and rows["performance.ttft_ms"]["differs"]
    assert rows["performance.regions.us-east-1.ttft_ms"]["values"] == [None, 310.0]
    assert rows["attributes"]["values"] == [{}, {"owned_by": "b"}] and rows["attributes"]["differs"]
    assert {"performance", "performance.ttft_ms", "attributes", "attributes.owned_by"} <= set(answer["differing"])
    assert rows["id"] == {"field": "id", "values": ["a/x", "b/y"], "differs": True}


def test_equal_sections_and_equal_numbers_do_not_differ():
    both = {"pricing": {"input": 1, "output": 2.5}, "performance": None}
    answer = compare([{"id": "a/x", **both}, {"id": "b/y", "pricing": {"input": 1.0, "output": 2.5},
                                             "performance": None}])
    rows = {row["field"]: row for row in answer["fields"]}
    assert not rows["pricing.input"]["differs"] and not rows["performance"]["differs"]
    assert answer["differing"] == ["id"]
