"""What every simulated streaming chat answer shares: its pace, its length and its faults.

A chat view reads the request's output cap and prompt, and :func:`stream_plan` turns the
provider's stream knobs (``SimulatorState.set_stream``) and any armed ``midstream`` fault into a
:class:`StreamPlan`. :func:`paced` then yields the answer's pieces, each at its due time measured
from when the view began: thinking tokens first (if any), then answer tokens, the first at
``ttft`` and the next ones ``1 / tokens_per_second`` apart. Due times are absolute, so sleeping
late once does not push every later token back, and a benchmark measures exactly the settings.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import g, request

from discovery.simulator.state import SimulatorState

MIDSTREAM_MESSAGE = "The model stopped generating: an internal error occurred mid-stream."


@dataclass(frozen=True)
class StreamPlan:
    """One streamed answer: when and how many tokens, what the usage report says, where it breaks."""

    started: float
    ttft: float
    tokens_per_second: float
    answer_tokens: int
    thinking_tokens: int
    usage: bool
    prompt_tokens: int
    capped: bool
    fail_after: int | None = None
    fail_message: str = MIDSTREAM_MESSAGE

    @property
    def output_tokens(self) -> int:
        """Every generated token the usage report counts (thinking included)."""
        return self.thinking_tokens + self.answer_tokens

    def duration(self) -> float:
        """Seconds from the start to the last token."""
        total = self.output_tokens
        return self.ttft + (total - 1) / self.tokens_per_second if total else self.ttft


@dataclass(frozen=True)
class Piece:
    """One streamed token (``thinking`` or ``text``), or the ``error`` that breaks the stream off."""

    kind: str
    index: int
    text: str


def prompt_tokens(text: str) -> int:
    """Tokens a prompt costs: about four characters a token, plus the chat template's few."""
    return max(1, len(text) // 4) + 7


def message_text(messages: Any) -> str:
    """Every text in a list of chat messages, joined (OpenAI, Anthropic, Cohere, Ollama, Bedrock shapes)."""
    out: list[str] = []
    for message in messages if isinstance(messages, list) else ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out.extend(part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str))
    return "\n".join(out)


def stream_plan(state: SimulatorState, provider: str, cap: int | None, prompt: str,
                path: str | None = None) -> StreamPlan:
    """The answer this request gets: the provider's knobs, the request's cap, an armed midstream fault.

    Thinking tokens count against the cap, as they do at every provider; a cap they use up leaves
    no answer at all (a ``length`` stop with no text).
    """
    # From the request's arrival (and after the latency knob's delay), not from when this view runs.
    started = g.get("sim_arrived", time.monotonic()) + state.latency(provider)
    knobs = state.stream(provider)
    thinking = int(knobs["thinking_tokens"])
    wanted = int(knobs["output_tokens"])
    room = cap - thinking if cap is not None else wanted
    answer = max(0, min(wanted, room))
    fault = state.take_fault(provider, "midstream", path if path is not None else request.path)
    return StreamPlan(started=started, ttft=float(knobs["ttft"]), tokens_per_second=float(knobs["tokens_per_second"]),
                      answer_tokens=answer, thinking_tokens=min(thinking, cap) if cap is not None else thinking,
                      usage=bool(knobs["usage"]), prompt_tokens=prompt_tokens(prompt), capped=room < wanted,
                      fail_after=fault["after_tokens"] if fault is not None else None,
                      fail_message=(fault or {}).get("message") or MIDSTREAM_MESSAGE)


def wait_until(state: SimulatorState, due: float) -> bool:
    """Sleep until the monotonic time ``due``; False if the wait was cut short (reset, server stopping)."""
    delay = due - time.monotonic()
    return delay <= 0 or state.wait(delay)


def paced(plan: StreamPlan, state: SimulatorState) -> Iterator[Piece]:
    """The plan's pieces at their due times; ends early (no error piece) if the server stops."""
    rate = plan.tokens_per_second
    for j in range(plan.output_tokens):
        if not wait_until(state, plan.started + plan.ttft + j / rate):
            return
        if j < plan.thinking_tokens:
            yield Piece("thinking", j, f" step {j + 1}.")
            continue
        i = j - plan.thinking_tokens
        if plan.fail_after is not None and i >= plan.fail_after:
            yield Piece("error", i, plan.fail_message)
            return
        yield Piece("text", i, f" {i + 1}")
    if plan.fail_after is not None and plan.fail_after >= plan.answer_tokens:
        # A fault set past the end of the answer still breaks the stream before its final report.
        yield Piece("error", plan.answer_tokens, plan.fail_message)


def request_id(prefix: str) -> str:
    """A fresh id in the provider's style (``chatcmpl-…``, ``msg_…``)."""
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def sse(data: str, event: str | None = None) -> bytes:
    """One Server-Sent Events frame."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode()


def int_field(body: Any, *path: str) -> int | None:
    """A positive integer at ``path`` in a JSON body, or None."""
    value: Any = body
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
