"""Anthropic Messages streaming probe: ``POST {base}/messages`` with ``stream: true``.

Thinking is off unless a ``thinking`` object is sent, so none is. Text arrives in
``content_block_delta`` events with a ``text_delta``, thinking in ``thinking_delta``; input tokens
in ``message_start``, output tokens in ``message_delta`` (cumulative: the last one counts);
``message_stop`` ends the answer and ``event: error`` breaks it off. There is no embedding API.
"""
from __future__ import annotations

from typing import Any, Optional

from discovery.benchmark.formats.stream import HTTPProbe, int_or_none, marking, nested, parse_json
from discovery.benchmark.sample import ProbeRequest, Sample, StreamBroken, StreamClock
from discovery.providers.errors import ProviderError


class AnthropicProbe(HTTPProbe):
    """Claude models through the Messages API."""

    embeds = False

    def request(self, model: str, kind: str, prompt: str, cap: int, reasoning: Optional[bool] = None) -> ProbeRequest:
        return ProbeRequest(model=model, prompt=prompt, max_output_tokens=cap, kind=kind,
                            effort={"thinking": "off (no thinking object sent)"} if reasoning else {})

    def chat(self, req: ProbeRequest) -> Sample:
        """Stream one message and time it."""
        body: dict[str, Any] = {"model": req.model, "max_tokens": req.max_output_tokens, "temperature": 0,
                                "stream": True, "messages": [{"role": "user", "content": req.prompt}]}
        clock = StreamClock()
        input_tokens = output_tokens = None
        stop = None
        finished = False
        with marking(clock):
            resp = self.post(f"{self.client.base_url}/messages", body)
            for event, data in self.sse(resp):
                frame = parse_json(self.name, data)
                kind = event or (frame.get("type") if isinstance(frame, dict) else None)
                if kind == "error":
                    raise StreamBroken(f"{self.name} reported an error mid-stream: "
                                       f"{nested(frame, 'error', 'message') or frame}")
                if kind == "message_start":
                    input_tokens = int_or_none(nested(frame, "message", "usage", "input_tokens"))
                elif kind == "content_block_delta":
                    delta = frame.get("delta") or {}
                    if delta.get("type") == "text_delta":
                        clock.text(delta.get("text"))
                    elif delta.get("type") == "thinking_delta":
                        clock.thinking(delta.get("thinking"))
                elif kind == "message_delta":
                    output_tokens = int_or_none(nested(frame, "usage", "output_tokens")) or output_tokens
                    stop = nested(frame, "delta", "stop_reason") or stop
                elif kind == "message_stop":
                    finished = True
                    break
            clock.end()
            if not finished:
                raise StreamBroken(f"{self.name} ended the stream before message_stop")
            return clock.sample(req.prompt, input_tokens, output_tokens, None, stop)

    def embed(self, req: ProbeRequest) -> Sample:
        raise ProviderError(f"{self.name}: Anthropic has no embedding API")
