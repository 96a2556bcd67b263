"""Bedrock Runtime probes through boto3: ``ConverseStream`` per region, ``InvokeModel`` for embeddings.

A model is called in a region by its own id where the region serves it on demand, else through
an inference profile the region can call (a geography's before ``global.``). Text arrives in
``contentBlockDelta`` events (``delta.text``; ``delta.reasoningContent`` is thinking), ``metadata``
has the usage and the service's own ``latencyMs``. The client's connect and read timeouts are the
benchmark ``timeout``, and a whole answer gets three times as long, as an HTTP probe's. An in-stream
exception is ``botocore.exceptions.EventStreamError``, which is a ``ClientError``: it is caught first, as
the stream breaking, not as an error status. Claude thinking is off unless asked for, so nothing
is sent for it.
"""
from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, Optional

from discovery.bedrock import classify_error
from discovery.benchmark.formats.stream import int_or_none, marking, nested
from discovery.benchmark.sample import ProbeRequest, Sample, StreamBroken, StreamClock, embedding_sample
from discovery.model import Model
from discovery.providers.errors import ProviderTimeout


def invocation_id(model: Model, region: str) -> Optional[str]:
    """The id to call ``model`` by in ``region``: its own if served on demand there, else a profile's; None if neither."""
    groups = model.attributes
    direct = (groups.get("regions_by_inference_type") or {}).get("on_demand") or ()
    if region in direct:
        return model.provider_model_id
    profiles = [p for p, regions in (groups.get("regions_by_profile") or {}).items() if region in (regions or ())]
    if not profiles:
        return None
    profiles.sort(key=lambda p: (p.startswith("global."), p))
    return profiles[0]


def embedding_body(model_id: str, text: str) -> dict[str, Any]:
    """The native request body of an embedding model (Titan and Cohere shapes)."""
    if model_id.split(".", 1)[-1].startswith("embed") and "cohere" in model_id:
        return {"texts": [text], "input_type": "search_query"}
    return {"inputText": text}


def close_quietly(stream: Any) -> None:
    """Close a botocore event stream (its HTTP connection); a failure to close changes nothing."""
    try:
        stream.close()
    except Exception:  # the connection is already gone
        pass


class BedrockProbe:
    """One region's Bedrock Runtime, through a boto3 ``bedrock-runtime`` client.

    ``timeout`` is the one the client was made with (connect and read); a whole answer gets three times as long.
    """

    def __init__(self, client: Any, region: str, timeout: float):
        self.client = client
        self.region = region
        self.timeout = timeout
        self.name = f"bedrock {region}"

    @property
    def deadline_seconds(self) -> float:
        """The longest a whole answer may take."""
        return self.timeout * 3

    def request(self, model: str, kind: str, prompt: str, cap: int, reasoning: Optional[bool] = None) -> ProbeRequest:
        return ProbeRequest(model=model, prompt=prompt, max_output_tokens=cap, kind=kind)

    def chat(self, req: ProbeRequest) -> Sample:
        """Stream one ``ConverseStream`` answer and time it."""
        from botocore.exceptions import BotoCoreError, ClientError, EventStreamError
        from botocore.parsers import ResponseParserError
        from urllib3 import exceptions as urllib3_exceptions

        clock = StreamClock()
        deadline = time.monotonic() + self.deadline_seconds
        usage: Mapping[str, Any] = {}
        metrics: Mapping[str, Any] = {}
        stop = None
        answer: Optional[Mapping[str, Any]] = None
        with marking(clock):
            try:
                try:
                    answer = self.client.converse_stream(
                        modelId=req.model, messages=[{"role": "user", "content": [{"text": req.prompt}]}],
                        inferenceConfig={"maxTokens": req.max_output_tokens, "temperature": 0})
                    for event in answer["stream"]:
                        if time.monotonic() > deadline:
                            raise ProviderTimeout(f"{self.name} did not finish its answer within "
                                                  f"{self.deadline_seconds:g}s")
                        if "contentBlockDelta" in event:
                            delta = event["contentBlockDelta"].get("delta") or {}
                            clock.thinking(nested(delta, "reasoningContent", "text"))
                            clock.text(delta.get("text"))
                        elif "messageStop" in event:
                            stop = event["messageStop"].get("stopReason")
                        elif "metadata" in event:
                            usage = event["metadata"].get("usage") or {}
                            metrics = event["metadata"].get("metrics") or {}
                except BaseException:
                    # Cut short (the deadline, a read timeout, a broken or refused stream): the
                    # connection is closed, not left open until the collector finds the stream.
                    if answer is not None:
                        close_quietly(answer["stream"])
                    raise
            except EventStreamError as exc:
                code = (exc.response.get("Error") or {}).get("Code") or "exception"
                raise StreamBroken(f"{self.name} broke off the stream: {code}: "
                                   f"{(exc.response.get('Error') or {}).get('Message') or exc}") from None
            except (ClientError, BotoCoreError, ResponseParserError) as exc:
                raise classify_error(exc, self.region, ever_answered=True) from None
            except urllib3_exceptions.ReadTimeoutError:  # botocore leaves the stream's own reads unwrapped
                raise ProviderTimeout(f"{self.name} stopped sending mid-answer (read timeout)") from None
            except urllib3_exceptions.ProtocolError:
                raise StreamBroken(f"{self.name} broke the connection mid-answer") from None
            clock.end()
            if stop is None:
                raise StreamBroken(f"{self.name} ended the stream without messageStop")
            server = {"latency_ms": float(metrics["latencyMs"])} if isinstance(metrics.get("latencyMs"), (int, float)) \
                else {}
            return clock.sample(req.prompt, int_or_none(usage.get("inputTokens")),
                                int_or_none(usage.get("outputTokens")), None, stop, server)

    def embed(self, req: ProbeRequest) -> Sample:
        """One ``InvokeModel`` call of an embedding model."""
        from botocore.exceptions import BotoCoreError, ClientError
        from botocore.parsers import ResponseParserError

        started = time.perf_counter()
        try:
            answer = self.client.invoke_model(modelId=req.model, body=json.dumps(embedding_body(req.model, req.prompt)),
                                              contentType="application/json", accept="application/json")
            body = json.loads(answer["body"].read() or b"{}")
        except (ClientError, BotoCoreError, ResponseParserError) as exc:
            raise classify_error(exc, self.region, ever_answered=True) from None
        tokens = int_or_none(body.get("inputTextTokenCount"))
        if tokens is None:
            header = (nested(answer, "ResponseMetadata", "HTTPHeaders") or {}).get("x-amzn-bedrock-input-token-count")
            tokens = int(header) if header and str(header).isdigit() else None
        return embedding_sample(started, tokens, req.prompt)
