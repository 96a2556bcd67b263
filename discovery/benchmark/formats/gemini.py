"""Gemini streaming probe: ``POST {base}/models/{model}:streamGenerateContent?alt=sse``.

Thinking is set as low as each generation allows: ``thinkingBudget`` 0 for 2.5 Flash and
Flash-Lite, the minimum 128 for 2.5 Pro (which cannot stop thinking; the cap grows by as much,
since thoughts count against ``maxOutputTokens``), ``thinkingLevel`` for Gemini 3 (``LOW`` for Pro,
which has no ``MINIMAL``). Text is in ``candidates[0].content.parts[].text`` (parts marked
``thought`` are thinking), ``usageMetadata`` is cumulative on every chunk (the last counts), and
the end of the body ends the stream. Embeddings: ``:embedContent``.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Optional

from discovery.benchmark.formats.stream import HTTPProbe, int_or_none, marking, nested, parse_json
from discovery.benchmark.sample import ProbeRequest, Sample, StreamBroken, StreamClock, embedding_sample


def gemini_thinking(model: str) -> tuple[dict[str, Any], int]:
    """(thinkingConfig, extra cap) for a Gemini model id; empty for models that do not think."""
    if model.startswith("gemini-3"):
        return {"thinkingLevel": "LOW" if "pro" in model else "MINIMAL"}, 256
    if model.startswith("gemini-2.5-pro"):
        return {"thinkingBudget": 128}, 128
    if model.startswith("gemini-2.5-flash"):
        return {"thinkingBudget": 0}, 0
    return {}, 0


class GeminiProbe(HTTPProbe):
    """Gemini API models."""

    def request(self, model: str, kind: str, prompt: str, cap: int, reasoning: Optional[bool] = None) -> ProbeRequest:
        thinking, room = gemini_thinking(model) if kind == "chat" else ({}, 0)
        return ProbeRequest(model=model, prompt=prompt, max_output_tokens=cap + room, kind=kind,
                            effort={"thinkingConfig": thinking} if thinking else {})

    def chat(self, req: ProbeRequest) -> Sample:
        """Stream one answer and time it."""
        config: dict[str, Any] = {"maxOutputTokens": req.max_output_tokens, "temperature": 0, **req.effort}
        body = {"contents": [{"role": "user", "parts": [{"text": req.prompt}]}], "generationConfig": config}
        clock = StreamClock()
        usage: Mapping[str, Any] = {}
        stop = None
        with marking(clock):
            resp = self.post(f"{self.client.base_url}/models/{req.model}:streamGenerateContent", body, {"alt": "sse"})
            for _, data in self.sse(resp):
                chunk = parse_json(self.name, data)
                if not isinstance(chunk, Mapping):
                    continue
                if chunk.get("error"):
                    raise StreamBroken(f"{self.name} reported an error mid-stream: "
                                       f"{nested(chunk, 'error', 'message') or chunk['error']}")
                if isinstance(chunk.get("usageMetadata"), Mapping):
                    usage = chunk["usageMetadata"]
                for part in nested(chunk, "candidates", 0, "content", "parts") or ():
                    if isinstance(part, Mapping):
                        (clock.thinking if part.get("thought") else clock.text)(part.get("text"))
                stop = nested(chunk, "candidates", 0, "finishReason") or stop
            clock.end()
            if stop is None:
                raise StreamBroken(f"{self.name} ended the stream without a finish reason")
            answer = int_or_none(usage.get("candidatesTokenCount"))
            thoughts = int_or_none(usage.get("thoughtsTokenCount"))
            output = None if answer is None else answer + (thoughts or 0)
            return clock.sample(req.prompt, int_or_none(usage.get("promptTokenCount")), output,
                                thoughts if output is not None else None, stop)

    def embed(self, req: ProbeRequest) -> Sample:
        """One ``embedContent`` call (Gemini reports no token usage for it: estimated)."""
        started = time.perf_counter()
        resp = self.post(f"{self.client.base_url}/models/{req.model}:embedContent",
                         {"content": {"parts": [{"text": req.prompt}]}})
        parse_json(self.name, b"".join(self.chunks(resp)))
        return embedding_sample(started, None, req.prompt)
