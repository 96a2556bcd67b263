"""Ollama native streaming probe: ``POST /api/chat`` (NDJSON, one object a line).

``think: false`` goes to thinking models. Text is ``message.content``, thinking
``message.thinking``; the line with ``done: true`` has ``prompt_eval_count``, ``eval_count`` and
the server's own durations in nanoseconds (its generation rate is ``eval_count / eval_duration``,
kept as a cross-check). A ``load_duration`` over half a second means the model was loaded for this
request: the sample is a cold start's and is not kept. ``{"error": ...}`` mid-way breaks the stream.
"""
from __future__ import annotations

import time
from typing import Any, Optional

from discovery.benchmark.formats.stream import HTTPProbe, int_or_none, marking, parse_json
from discovery.benchmark.sample import ProbeRequest, Sample, StreamBroken, StreamClock, embedding_sample

COLD_LOAD_NS = 500_000_000


class OllamaProbe(HTTPProbe):
    """Models on an Ollama server."""

    def request(self, model: str, kind: str, prompt: str, cap: int, reasoning: Optional[bool] = None) -> ProbeRequest:
        effort = {"think": False} if kind == "chat" and reasoning else {}
        return ProbeRequest(model=model, prompt=prompt, max_output_tokens=cap, kind=kind, effort=effort)

    def chat(self, req: ProbeRequest) -> Sample:
        """Stream one answer and time it."""
        body: dict[str, Any] = {"model": req.model, "messages": [{"role": "user", "content": req.prompt}],
                                "stream": True, "options": {"num_predict": req.max_output_tokens, "temperature": 0},
                                **req.effort}
        clock = StreamClock()
        final: dict[str, Any] = {}
        with marking(clock):
            resp = self.post(f"{self.client.base_url}/api/chat", body)
            for line in self.lines(resp):
                if not line.strip():
                    continue
                frame = parse_json(self.name, line)
                if not isinstance(frame, dict):
                    continue
                if frame.get("error"):
                    raise StreamBroken(f"{self.name} reported an error mid-stream: {frame['error']}")
                message = frame.get("message") or {}
                clock.thinking(message.get("thinking"))
                clock.text(message.get("content"))
                if frame.get("done"):
                    final = frame
                    break
            clock.end()
            if not final:
                raise StreamBroken(f"{self.name} ended the stream before done")
            server: dict[str, float] = {}
            evals, duration = int_or_none(final.get("eval_count")), int_or_none(final.get("eval_duration"))
            if evals and duration:
                server["eval_tokens_per_s"] = round(evals / duration * 1e9, 2)
            load = int_or_none(final.get("load_duration")) or 0
            server["load_ms"] = round(load / 1e6, 2)
            return clock.sample(req.prompt, int_or_none(final.get("prompt_eval_count")), evals, None,
                                final.get("done_reason"), server, cold_start=load > COLD_LOAD_NS)

    def embed(self, req: ProbeRequest) -> Sample:
        """One ``/api/embed`` call."""
        started = time.perf_counter()
        resp = self.post(f"{self.client.base_url}/api/embed", {"model": req.model, "input": req.prompt})
        body = parse_json(self.name, b"".join(self.chunks(resp)))
        return embedding_sample(started, int_or_none(body.get("prompt_eval_count")), req.prompt)
