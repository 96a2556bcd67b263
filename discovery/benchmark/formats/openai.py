"""OpenAI Chat Completions streaming probes, and every server that copies the API.

OpenAI, Azure, Mistral, Groq, Together, OpenRouter, DeepSeek, xAI, vLLM, LM Studio, llama.cpp:
``stream: true`` with ``stream_options.include_usage``, text in ``choices[0].delta.content``,
thinking in ``delta.reasoning`` or ``delta.reasoning_content``, usage from the last chunk (or
Groq's ``x_groq.usage``). Errors mid-stream are ``data: {"error": ...}`` (vLLM: ``"object":
"error"``). Reasoning models get their lowest effort and no temperature; OpenAI's own models take
``max_completion_tokens`` (``max_tokens`` is refused by its reasoning models), the others ``max_tokens``.
"""
from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any, Optional

from discovery.benchmark.formats.stream import HTTPProbe, int_or_none, marking, nested, parse_json
from discovery.benchmark.sample import ProbeRequest, Sample, StreamBroken, StreamClock, embedding_sample

# OpenAI reasoning families and the lowest effort each accepts.
_GPT5_POINT = re.compile(r"^gpt-5\.\d")
_O_SERIES = re.compile(r"^o\d")
# Room left for thinking where it cannot be turned off (it counts against the cap).
REASONING_ROOM = 256


def openai_effort(model: str) -> tuple[dict[str, Any], int]:
    """(extra body fields, extra cap) for one of OpenAI's own models, by its id."""
    if model.startswith("gpt-5-pro"):
        return {"reasoning_effort": "high"}, REASONING_ROOM * 4
    if _GPT5_POINT.match(model):
        return {"reasoning_effort": "none"}, 0
    if model.startswith("gpt-5") and "chat" not in model:
        return {"reasoning_effort": "minimal"}, REASONING_ROOM
    if _O_SERIES.match(model):
        return {"reasoning_effort": "low"}, REASONING_ROOM
    return {}, 0


class OpenAIProbe(HTTPProbe):
    """Chat Completions at ``{base_url}/chat/completions``, embeddings at ``{base_url}/embeddings``."""

    # OpenAI's own API (and Azure's) name the cap max_completion_tokens.
    own_models = False

    def request(self, model: str, kind: str, prompt: str, cap: int, reasoning: Optional[bool] = None) -> ProbeRequest:
        """The request for ``model``: lowest reasoning effort where the API has a knob for it."""
        effort: dict[str, Any] = {}
        room = 0
        fmt = self.client.format
        if kind == "chat":
            if self.own_models or fmt == "openrouter":
                base_id = model.split("/", 1)[1] if fmt == "openrouter" and "/" in model else model
                effort, room = openai_effort(base_id)
                if fmt == "openrouter" and effort:
                    effort = {"reasoning": {"effort": "low" if effort["reasoning_effort"] != "none" else "minimal"}}
            elif fmt == "xai" and model.startswith("grok-3-mini"):
                effort = {"reasoning_effort": "low"}
            elif fmt == "vllm" and "qwen3" in model.lower():
                effort = {"chat_template_kwargs": {"enable_thinking": False}}
            elif reasoning:
                room = REASONING_ROOM
        return ProbeRequest(model=model, prompt=prompt, max_output_tokens=cap + room, kind=kind, effort=effort)

    def chat_url(self, model: str) -> tuple[str, Optional[dict[str, str]]]:
        return f"{self.client.base_url}/chat/completions", None

    def embeddings_url(self, model: str) -> tuple[str, Optional[dict[str, str]]]:
        return f"{self.client.base_url}/embeddings", None

    def chat_body(self, req: ProbeRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model": req.model, "messages": [{"role": "user", "content": req.prompt}],
                                "stream": True, "stream_options": {"include_usage": True}}
        body["max_completion_tokens" if self.own_models else "max_tokens"] = req.max_output_tokens
        if not req.effort or "chat_template_kwargs" in req.effort:
            body["temperature"] = 0
        body.update(req.effort)
        return body

    def chat(self, req: ProbeRequest) -> Sample:
        """Stream one answer and time it."""
        url, params = self.chat_url(req.model)
        clock = StreamClock()
        usage: Mapping[str, Any] = {}
        stop: Optional[str] = None
        done = False
        with marking(clock):
            resp = self.post(url, self.chat_body(req), params)
            for _, data in self.sse(resp):
                if data.strip() == "[DONE]":
                    done = True
                    break
                chunk = parse_json(self.name, data)
                if not isinstance(chunk, Mapping):
                    continue
                if chunk.get("error") or chunk.get("object") == "error":
                    err = chunk.get("error") if isinstance(chunk.get("error"), Mapping) else chunk
                    raise StreamBroken(f"{self.name} reported an error mid-stream: {err.get('message') or err}")
                found = chunk.get("usage") or nested(chunk, "x_groq", "usage")
                if isinstance(found, Mapping):
                    usage = found
                delta = nested(chunk, "choices", 0, "delta")
                if isinstance(delta, Mapping):
                    clock.thinking(delta.get("reasoning") or delta.get("reasoning_content"))
                    clock.text(delta.get("content"))
                stop = nested(chunk, "choices", 0, "finish_reason") or stop
            clock.end()
            if not done and stop is None:
                raise StreamBroken(f"{self.name} ended the stream without a finish reason or [DONE]")
            server = {}
            if isinstance(nested(usage, "completion_time"), (int, float)):
                server["completion_ms"] = float(usage["completion_time"]) * 1000
            return clock.sample(req.prompt, int_or_none(usage.get("prompt_tokens")),
                                int_or_none(usage.get("completion_tokens")),
                                int_or_none(nested(usage, "completion_tokens_details", "reasoning_tokens")),
                                stop, server)

    def embed(self, req: ProbeRequest) -> Sample:
        """One small embedding call, timed end to end."""
        url, params = self.embeddings_url(req.model)
        started = time.perf_counter()
        resp = self.post(url, {"model": req.model, "input": req.prompt, "encoding_format": "float"}, params)
        body = parse_json(self.name, b"".join(self.chunks(resp)))
        return embedding_sample(started, int_or_none(nested(body, "usage", "prompt_tokens")), req.prompt)


class OwnOpenAIProbe(OpenAIProbe):
    """api.openai.com: ``max_completion_tokens`` and the reasoning models' effort rules."""

    own_models = True


class AzureProbe(OwnOpenAIProbe):
    """Azure OpenAI: ``/openai/deployments/{deployment}/...?api-version=``; a content-filter chunk comes first.

    The deployment of a model is ``deployments.<model id>`` in the provider's options, else the model id.
    """

    def _deployment(self, model: str) -> str:
        mapping = self.client.config.options.get("deployments") or {}
        return str(mapping.get(model, model)) if isinstance(mapping, Mapping) else model

    def _params(self) -> dict[str, str]:
        return {"api-version": str(self.client.config.options.get("api_version") or "2024-10-21")}

    def chat_url(self, model: str) -> tuple[str, Optional[dict[str, str]]]:
        return f"{self.client.base_url}/openai/deployments/{self._deployment(model)}/chat/completions", self._params()

    def embeddings_url(self, model: str) -> tuple[str, Optional[dict[str, str]]]:
        return f"{self.client.base_url}/openai/deployments/{self._deployment(model)}/embeddings", self._params()

    def chat_body(self, req: ProbeRequest) -> dict[str, Any]:
        body = super().chat_body(req)
        del body["model"]  # the deployment names it
        return body
