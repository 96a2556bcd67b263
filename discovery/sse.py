"""Server-Sent Events from a stream's lines: the one reader for the CLI's event stream and the
benchmark probes' streaming answers (field rules of the WHATWG EventSource parsing)."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class SSEEvent:
    """One event as the stream sent it (``id`` is the last one given, as the spec keeps it)."""

    id: Optional[str]
    event: Optional[str]
    data: str


def parse_sse(lines: Iterable[Optional[str]], keep_unterminated: bool = False) -> Iterator[SSEEvent]:
    """The events of ``lines`` (line ends removed; None, a keep-alive of some readers, is skipped).

    Comments and ``retry:`` are skipped. An event the stream ends without a blank line after is
    dropped, as the spec says, unless ``keep_unterminated`` (providers that end their answer so).
    """
    event_id: Optional[str] = None
    kind: Optional[str] = None
    data: list[str] = []
    for line in lines:
        if line is None:
            continue
        if line == "":
            if data:
                yield SSEEvent(event_id, kind, "\n".join(data))
            kind, data = None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "id":
            event_id = value
        elif name == "event":
            kind = value
        elif name == "data":
            data.append(value)
    if keep_unterminated and data:
        yield SSEEvent(event_id, kind, "\n".join(data))
