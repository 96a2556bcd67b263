"""The one Server-Sent Events reader (discovery/sse.py)."""
from __future__ import annotations

from discovery.sse import SSEEvent, parse_sse

STREAM = [": heartbeat", "retry: 1000", "id: 7", "event: model_added", "data: {\"a\":", "data:1}", "",
          "", None, "data: no id of its own", "", "id: 8", "data: cut short"]


def test_fields_comments_and_the_last_id_carry_over_as_the_spec_says():
    events = list(parse_sse(STREAM))
    assert events == [SSEEvent("7", "model_added", '{"a":\n1}'), SSEEvent("7", None, "no id of its own")]


def test_an_unterminated_last_event_is_kept_only_when_asked():
    assert list(parse_sse(STREAM, keep_unterminated=True))[-1] == SSEEvent("8", None, "cut short")
