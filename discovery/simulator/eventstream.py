"""The AWS event-stream framing (``application/vnd.amazon.eventstream``), encoding side only.

Bedrock's streaming operations answer with binary frames that botocore decodes and checks
(lengths and two CRC-32s). No maintained Python encoder fits here: ``awscrt`` exposes the framing
only inside its RPC client, and ``smithy-aws-event-stream`` is a pre-release that needs Python
3.12. The format is small, so it is written out here and tested by decoding with botocore's own
parser. Layout (big-endian)::

    [total length u32][headers length u32][prelude CRC u32][headers][payload][message CRC u32]

The prelude CRC covers the first eight bytes, the message CRC everything before it. A header is
``[name length u8][name][type u8][value]``; only strings (type 7: u16 length and UTF-8) are
needed by the events simulated here.
"""
from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

STRING = 7
MAX_HEADERS = 128 * 1024
MAX_PAYLOAD = 16 * 1024 * 1024


def encode_headers(headers: Iterable[tuple[str, str]]) -> bytes:
    """String headers in the order given; a name may appear once."""
    out, seen = bytearray(), set()
    for name, value in headers:
        raw_name, raw_value = name.encode(), value.encode()
        if name in seen:
            raise ValueError(f"duplicate event-stream header {name!r}")
        if not 0 < len(raw_name) < 256 or len(raw_value) >= 1 << 16:
            raise ValueError(f"event-stream header {name!r} is too long")
        seen.add(name)
        out += struct.pack(">B", len(raw_name)) + raw_name + struct.pack(">BH", STRING, len(raw_value)) + raw_value
    return bytes(out)


def encode_message(headers: Iterable[tuple[str, str]], payload: bytes) -> bytes:
    """One framed message."""
    head = encode_headers(headers)
    if len(head) > MAX_HEADERS or len(payload) > MAX_PAYLOAD:
        raise ValueError("event-stream message over the size limits")
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + head + payload
    return body + struct.pack(">I", zlib.crc32(body))


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def event(event_type: str, payload: Mapping[str, Any]) -> bytes:
    """An event frame: ``:event-type`` names the member, the payload is compact JSON."""
    return encode_message([(":event-type", event_type), (":content-type", "application/json"),
                           (":message-type", "event")], _json(payload))


def exception(exception_type: str, message: str) -> bytes:
    """An exception frame (botocore raises ``EventStreamError`` with the message)."""
    return encode_message([(":exception-type", exception_type), (":content-type", "application/json"),
                           (":message-type", "exception")], _json({"message": message}))
