"""Cohere Chat v2 streaming probe: ``POST /v2/chat`` with ``stream: true``.

Reasoning models think unless told not to: ``thinking: {"type": "disabled"}`` is sent to them.
Text is ``delta.message.content.text`` in ``content-delta`` events (``.thinking`` in a thinking
block); ``message-end`` carries the finish reason and ``usage.billed_units``, and a failure as
``finish_reason: ERROR`` with ``delta.error``. Embeddings: ``POST /v2/embed``. The list lives
under ``/v1``, so the probe calls the same host's ``/v2``.
"""
from __future__ import annotations

import time
from typing import Any, Optional

from discovery.benchmark.formats.stream import HTTPProbe, int_or_none, marking, nested, parse_json
from discovery.benchmark.sample import ProbeRequest, Sample, StreamBroken, StreamClock, embedding_sample


class CohereProbe(HTTPProbe):
    """Cohere models."""

    @property
    def v2(self) -> str:
        base = self.client.base_url
        return (base[:-3] if base.endswith("/v1") else base) + "/v2"

    def request(self, model: str, kind: str, prompt: str, cap: int, reasoning: Optional[bool] = None) -> ProbeRequest:
        effort = {"thinking": {"type": "disabled"}} if kind == "chat" and reasoning else {}
        return ProbeRequest(model=model, prompt=prompt, max_output_tokens=cap, kind=kind, effort=effort)

    def chat(self, req: ProbeRequest) -> Sample:
        """Stream one answer and time it."""
        body: dict[str, Any] = {"model": req.model, "messages": [{"role": "user", "content": req.prompt}],
                                "stream": True, "max_tokens": req.max_output_tokens, "temperature": 0, **req.effort}
        clock = StreamClock()
        usage: Any = {}
        stop = None
        ended = False
        with marking(clock):
            resp = self.post(f"{self.v2}/chat", body)
            for event, data in self.sse(resp):
                if data.strip() == "[DONE]":
                    break
                frame = parse_json(self.name, data)
                kind = event or (frame.get("type") if isinstance(frame, dict) else None)
                if kind == "content-delta":
                    content = nested(frame, "delta", "message", "content") or {}
                    clock.thinking(content.get("thinking"))
                    clock.text(content.get("text"))
                elif kind == "message-end":
                    delta = frame.get("delta") or {}
                    stop = delta.get("finish_reason")
                    if delta.get("error") or stop == "ERROR":
                        raise StreamBroken(f"{self.name} reported an error mid-stream: {delta.get('error') or stop}")
                    usage = delta.get("usage") or {}
                    ended = True
            clock.end()
            if not ended:
                raise StreamBroken(f"{self.name} ended the stream before message-end")
            billed = usage.get("billed_units") or usage.get("tokens") or {}
            return clock.sample(req.prompt, int_or_none(billed.get("input_tokens")),
                                int_or_none(billed.get("output_tokens")), None, stop)

    def embed(self, req: ProbeRequest) -> Sample:
        """One ``/v2/embed`` call."""
        started = time.perf_counter()
        resp = self.post(f"{self.v2}/embed", {"model": req.model, "texts": [req.prompt], "input_type": "search_query",
                                              "embedding_types": ["float"]})
        body = parse_json(self.name, b"".join(self.chunks(resp)))
        return embedding_sample(started, int_or_none(nested(body, "meta", "billed_units", "input_tokens")), req.prompt)
