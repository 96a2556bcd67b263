"""One probe request and what it measured: the prompt, the stream's clock, the sample, the failures.

TTFT runs from a monotonic clock read just before the request is sent to the first event that
carries answer text (role-only deltas, block starts, pings, comments, filter and usage-only chunks
do not count). Output speed is ``(answer tokens - 1) / (last answer token - first answer token)``
with tokens from the provider's own usage report; where it gives none they are estimated and the
sample says so. End-to-end latency runs to the stream's last event.
"""
from __future__ import annotations

import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Optional

from discovery.providers.errors import ProviderError

PROMPT = "Count from 1 to 200, one number per line, nothing else."
EMBED_TEXT = "The quick brown fox jumps over the lazy dog."


def nonce_prompt(text: str = PROMPT) -> str:
    """The fixed prompt behind a random prefix, so no provider can answer it from its prompt cache."""
    return f"[{secrets.token_hex(6)}] {text}"


def estimate_tokens(text: str, pieces: int = 0) -> int:
    """Tokens in ``text`` without a tokenizer: about four characters each, and at least one per
    streamed piece (a provider never sends less than a token in a delta)."""
    return max(pieces, math.ceil(len(text) / 4))


@dataclass(frozen=True)
class ProbeRequest:
    """One request to make: the id the provider answers to, the prompt and the output cap."""

    model: str
    prompt: str
    max_output_tokens: int
    kind: str = "chat"  # chat | embedding
    # Format-specific reasoning settings chosen for the model (stored with the result).
    effort: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sample:
    """What one successful request measured (milliseconds, tokens, tokens per second)."""

    latency_ms: float
    ttft_ms: Optional[float] = None
    output_tokens_per_s: Optional[float] = None
    input_tokens: Optional[int] = None
    output_tokens: Optional[int] = None
    tokens_estimated: bool = False
    # Time to the first thinking token, where the provider streams thinking.
    thinking_ms: Optional[float] = None
    reasoning_tokens: Optional[int] = None
    # True when the speed counts thinking tokens too (the provider does not say how many there were).
    speed_includes_reasoning: bool = False
    stop_reason: Optional[str] = None
    # The provider's own timings, for a cross-check (Ollama's eval rate, Bedrock's latencyMs).
    server: Mapping[str, float] = field(default_factory=dict)
    # Ollama loaded the model for this request: the timings are a cold start's, not the model's.
    cold_start: bool = False
    cost_usd: Optional[float] = None
    measured_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The API form of a sample."""
        out = {"ttft_ms": _round(self.ttft_ms), "output_tokens_per_s": _round(self.output_tokens_per_s),
               "latency_ms": _round(self.latency_ms), "input_tokens": self.input_tokens,
               "output_tokens": self.output_tokens, "tokens_estimated": self.tokens_estimated,
               "cost_usd": self.cost_usd, "measured_at": self.measured_at, "stop_reason": self.stop_reason}
        if self.thinking_ms is not None:
            out["thinking_ms"] = _round(self.thinking_ms)
        if self.reasoning_tokens is not None:
            out["reasoning_tokens"] = self.reasoning_tokens
        if self.speed_includes_reasoning:
            out["speed_includes_reasoning"] = True
        if self.server:
            out["server"] = dict(self.server)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Sample":
        """Rebuild a sample from its API form."""
        return cls(latency_ms=data.get("latency_ms") or 0.0, ttft_ms=data.get("ttft_ms"),
                   output_tokens_per_s=data.get("output_tokens_per_s"), input_tokens=data.get("input_tokens"),
                   output_tokens=data.get("output_tokens"), tokens_estimated=bool(data.get("tokens_estimated")),
                   thinking_ms=data.get("thinking_ms"), reasoning_tokens=data.get("reasoning_tokens"),
                   speed_includes_reasoning=bool(data.get("speed_includes_reasoning")),
                   stop_reason=data.get("stop_reason"), server=dict(data.get("server") or {}),
                   cost_usd=data.get("cost_usd"), measured_at=data.get("measured_at") or 0.0)

    def costing(self, cost: Optional[float]) -> "Sample":
        return replace(self, cost_usd=cost)


def _round(value: Optional[float], digits: int = 2) -> Optional[float]:
    return None if value is None else round(value, digits)


class StreamBroken(ProviderError):
    """The stream began but did not end as its format says: an error event mid-way, or a cut connection."""

    kind = "stream_error"
    retryable = True


class EmptyAnswer(ProviderError):
    """The stream ended without any answer text (a ``length`` stop with no text is a failed probe)."""

    kind = "empty_answer"


@dataclass(frozen=True)
class ProbeFailure:
    """A request that produced no sample, and why (``error_class`` is the ProviderError kind)."""

    error_class: str
    message: str
    warmup: bool = False
    after_first_token: bool = False
    at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"error_class": self.error_class, "message": self.message, "warmup": self.warmup,
                "after_first_token": self.after_first_token, "at": self.at}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ProbeFailure":
        return cls(str(data.get("error_class")), str(data.get("message")), bool(data.get("warmup")),
                   bool(data.get("after_first_token")), float(data.get("at") or 0.0))


class StreamClock:
    """Times one streamed answer: call :meth:`thinking` and :meth:`text` as pieces arrive, then :meth:`sample`."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first_text: Optional[float] = None
        self.last_text: Optional[float] = None
        self.first_any: Optional[float] = None
        self.first_thinking: Optional[float] = None
        self.ended: Optional[float] = None
        self.text_chars = 0
        self.text_pieces = 0
        self.thinking_chars = 0
        self.thinking_pieces = 0

    def text(self, piece: Optional[str]) -> None:
        """An answer-text piece arrived (empty pieces are not tokens)."""
        if not piece:
            return
        now = time.perf_counter()
        if self.first_text is None:
            self.first_text = now
        if self.first_any is None:
            self.first_any = now
        self.last_text = now
        self.text_chars += len(piece)
        self.text_pieces += 1

    def thinking(self, piece: Optional[str]) -> None:
        """A thinking piece arrived."""
        if not piece:
            return
        now = time.perf_counter()
        if self.first_thinking is None:
            self.first_thinking = now
        if self.first_any is None:
            self.first_any = now
        self.thinking_chars += len(piece)
        self.thinking_pieces += 1

    def end(self) -> None:
        """The stream's last event arrived."""
        self.ended = time.perf_counter()

    @property
    def answered(self) -> bool:
        return self.first_text is not None

    def _ms(self, at: Optional[float]) -> Optional[float]:
        return None if at is None else (at - self.started) * 1000

    def sample(self, prompt: str, input_tokens: Optional[int], output_tokens: Optional[int],
               reasoning_tokens: Optional[int] = None, stop_reason: Optional[str] = None,
               server: Optional[Mapping[str, float]] = None, cold_start: bool = False) -> Sample:
        """The sample, once the stream ended. Raises EmptyAnswer if no answer text came."""
        if self.first_text is None or self.last_text is None:
            raise EmptyAnswer(f"the stream ended without answer text (stop reason {stop_reason or 'none'})")
        ended = self.ended if self.ended is not None else time.perf_counter()
        estimated = input_tokens is None or output_tokens is None
        if input_tokens is None:
            input_tokens = estimate_tokens(prompt) + 7
        if output_tokens is None:
            output_tokens = (estimate_tokens("x" * self.text_chars, self.text_pieces)
                             + estimate_tokens("x" * self.thinking_chars, self.thinking_pieces))
        thought = self.first_thinking is not None
        speed, includes_reasoning = None, False
        if thought and reasoning_tokens is None:
            # Thinking streamed but not counted apart: the rate covers every generated token.
            span, tokens, includes_reasoning = ended_span(self.first_any, self.last_text), output_tokens, True
        else:
            span, tokens = ended_span(self.first_text, self.last_text), output_tokens - (reasoning_tokens or 0)
        if span > 0 and tokens >= 2:
            speed = (tokens - 1) / span
        return Sample(latency_ms=(ended - self.started) * 1000, ttft_ms=self._ms(self.first_text),
                      output_tokens_per_s=speed, input_tokens=input_tokens, output_tokens=output_tokens,
                      tokens_estimated=estimated, thinking_ms=self._ms(self.first_thinking),
                      reasoning_tokens=reasoning_tokens, speed_includes_reasoning=includes_reasoning,
                      stop_reason=stop_reason, server=dict(server or {}), cold_start=cold_start,
                      measured_at=time.time())


def ended_span(first: Optional[float], last: Optional[float]) -> float:
    """Seconds between two clock readings (0 when either is missing)."""
    return (last - first) if first is not None and last is not None else 0.0


def embedding_sample(started: float, input_tokens: Optional[int], text: str) -> Sample:
    """The sample of one embedding call that began at ``started`` (perf_counter) and just answered."""
    estimated = input_tokens is None
    return Sample(latency_ms=(time.perf_counter() - started) * 1000,
                  input_tokens=input_tokens if input_tokens is not None else estimate_tokens(text),
                  output_tokens=0, tokens_estimated=estimated, measured_at=time.time())
