"""boto3 for Bedrock: one client per region, signed calls bounded in time and size, answers parsed once."""
from __future__ import annotations

import functools
import hashlib
import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from discovery.bedrock.regions import REGION_NAME, RegionUnavailable, endpoint_for
from discovery.providers.errors import (
    UNREADABLE,
    MalformedAnswer,
    ProviderAuthError,
    ProviderError,
    ProviderHTTPError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnreachable,
    unreadable_answer,
)
from discovery.redaction import REDACTOR, excerpt
from discovery.settings import BedrockSettings

# Error codes that say "Bedrock is not offered here, or this account may not use it here".
UNAVAILABLE_CODES = frozenset({"UnrecognizedClientException", "AccessDeniedException", "UnknownOperationException",
                               "OptInRequired", "AuthFailure", "404"})
# The regions every AWS account may use: those launched before 20 March 2019 are enabled by default
# and cannot be disabled; every later one is opt-in. UnrecognizedClientException is AWS's answer
# both to credentials it does not know and to a region the account has not enabled: in one of
# these it can only be the credentials. (GovCloud's and China's regions are other partitions,
# which a commercial account's credentials cannot use: left out.)
DEFAULT_REGIONS = frozenset({
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1", "eu-west-1", "eu-west-2",
    "eu-west-3", "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-southeast-1", "ap-southeast-2"})
# Pages asked of ListInferenceProfiles (the API allows 1-1000).
PROFILE_PAGE_SIZE = 1000
# A runaway nextToken loop is a malformed answer, not a reason to page forever.
MAX_PAGES = 100
# The largest control-plane answer read (a region's list is about 100 kB); as a live provider's
# default max_body_mb.
MAX_ANSWER_BYTES = 32 * 1024 * 1024

# -- errors --------------------------------------------------------------------------------------
def classify_error(exc: BaseException, region: str, *, ever_answered: bool = False) -> ProviderError:
    """A boto3/botocore exception as the matching :class:`ProviderError`.

    Not offered / access denied / unrecognized client are :class:`RegionUnavailable`. An
    unreachable endpoint is too, unless the region has answered before: then it is going dark,
    an ordinary failure for the breaker. An unrecognized client in a region every account may use
    (:data:`DEFAULT_REGIONS`), or in one that has answered these credentials before, is the
    credentials: :class:`ProviderAuthError`.
    """
    from botocore import exceptions as bx
    from botocore.parsers import ResponseParserError

    where = f"bedrock {region}"
    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error") or {}
        code = str(err.get("Code") or "")
        message = _one_line(err.get("Message")) or code or "no message"
        status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        text = f"{where} answered HTTP {status}: {code}: {message}"
        if code == "UnrecognizedClientException" and (ever_answered or region in DEFAULT_REGIONS):
            why = ("it answered before, so they were revoked or have expired" if ever_answered else
                   f"{region} is enabled for every AWS account, so it is not a region left disabled")
            return ProviderAuthError(f"{text} (AWS does not know these credentials: {why})", status=status)
        if code in UNAVAILABLE_CODES or status == 404:
            return RegionUnavailable(text, status=status)
        if status in (401, 403):
            return ProviderAuthError(text, status=status)
        if status == 429 or code in ("ThrottlingException", "TooManyRequestsException"):
            return ProviderRateLimited(text, status=status)
        return ProviderHTTPError(text, status=status)
    if isinstance(exc, bx.ReadTimeoutError):
        return ProviderTimeout(f"no answer from {where} within the read timeout")
    if isinstance(exc, bx.ConnectionError):  # EndpointConnectionError, ConnectTimeoutError
        text = f"cannot connect to {where} at {getattr(exc, 'kwargs', {}).get('endpoint_url', '?')}"
        return ProviderUnreachable(text) if ever_answered else RegionUnavailable(text + " (endpoint unreachable)")
    if isinstance(exc, bx.ConnectionClosedError):
        return ProviderUnreachable(f"{where} closed the connection without an answer")
    if isinstance(exc, shape_mismatch()):
        return MalformedAnswer(f"{where} answered with a body of another shape: {exc}")
    if isinstance(exc, ResponseParserError):
        return MalformedAnswer(f"{where} answered with a body that is not its format")
    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return ProviderAuthError(f"{where}: no AWS credentials found by the standard credential chain")
    if isinstance(exc, bx.BotoCoreError):
        return ProviderError(f"{where}: {type(exc).__name__}: {exc}")
    return ProviderError(f"{where}: {type(exc).__name__}: {exc}")


def _one_line(message: Any) -> str | None:
    """An error message fit for one line of refresh history; an HTML error page is not quoted."""
    if not isinstance(message, str) or not message.strip():
        return None
    text = message.strip()
    if text.lower().startswith(("<!doctype", "<html")):
        return "not found (an HTML error page)"
    return excerpt(" ".join(text.split()), 300)


# -- boto3 ---------------------------------------------------------------------------------------
_sessions_lock = threading.Lock()
_sessions: dict[tuple[str | None, str | None], Any] = {}
# When the credential chain last came up empty, per session: it is not walked again for a minute
# (the chain ends with the instance metadata service, which can take seconds to time out).
_no_credentials: dict[tuple[str | None, str | None], float] = {}
NO_CREDENTIALS_RECHECK = 60.0



def make_client(service: str, region: str, settings: BedrockSettings, endpoint_url: str | None = None) -> Any:
    """A boto3 client with the standard credential chain, timeouts, and no retries of its own.

    Clients are made from one shared session per profile: a new session reloads every service
    model (~0.2 s each), and sessions are not thread-safe, so creation holds a lock. The client
    itself is thread-safe. Retries are off because the region's breaker is the retry policy.
    Raises :class:`ProviderAuthError` when the chain finds no credentials (and no Bedrock API key).
    """
    import os

    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=settings.timeout, read_timeout=settings.timeout,
                    retries={"total_max_attempts": 1, "mode": "standard"},
                    user_agent_extra="model-discovery/0.1", max_pool_connections=4)
    # Keyed by the access key id too: a changed environment (tests, the demo) gets a new chain.
    key = (settings.profile, os.environ.get("AWS_ACCESS_KEY_ID"))
    # Bedrock API keys authenticate both the control plane and the runtime (signing name bedrock).
    bearer = service.startswith("bedrock") and bool(os.environ.get("AWS_BEARER_TOKEN_BEDROCK"))
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = _sessions[key] = boto3.session.Session(profile_name=settings.profile)
            # botocore reads every timestamp with dateutil (the most CPU of a region's answer);
            # the ISO 8601 ones Bedrock sends are read by the standard library instead. And a
            # list answer equal to the last one is not parsed again (ReusingParser).
            factory = ReusingParserFactory()
            factory.set_parser_defaults(timestamp_parser=parse_timestamp)
            session._session.register_component("response_parser_factory", factory)
        if not bearer:
            missing_since = _no_credentials.get(key)
            if missing_since is None or time.monotonic() - missing_since > NO_CREDENTIALS_RECHECK:
                found = session.get_credentials()
                if found is None:
                    _no_credentials[key] = time.monotonic()
                else:
                    _no_credentials.pop(key, None)
                    # Wherever the chain found them (a shared file, SSO, a role), the redaction
                    # layer knows them before any answer can echo them.
                    frozen = found.get_frozen_credentials()
                    REDACTOR.add(frozen.access_key, frozen.secret_key, frozen.token)
            if key in _no_credentials:
                raise ProviderAuthError(f"{service} {region}: no AWS credentials found by the standard chain "
                                        "(environment, shared files, SSO, container or instance role)")
        client = session.client(service, region_name=region, endpoint_url=endpoint_url, config=config)
    # Refreshable credentials (SSO, a role, a credential_process) change after this: each request
    # teaches the redactor what it was signed with, before botocore logs it or an answer echoes it.
    client.meta.events.register_last("request-created", learn_signing_credentials)
    return client


def learn_signing_credentials(request: Any = None, **_: Any) -> None:
    """botocore handler: the access key id and session token (or Bedrock API key) a signed
    request carries, added to the redactor."""
    headers = getattr(request, "headers", None)
    if not headers:
        return
    found = []
    for name in ("Authorization", "X-Amz-Security-Token"):
        value = headers.get(name)
        found.append(value.decode("latin-1") if isinstance(value, bytes) else value)
    auth, token = found
    if isinstance(auth, str):
        if auth.startswith("AWS4-HMAC-SHA256"):
            REDACTOR.add(auth.partition("Credential=")[2].split("/", 1)[0], token)
        elif auth.startswith("Bearer "):
            REDACTOR.add(auth[len("Bearer "):], token)


# The list answers whose parse is reused when the same body comes again (see ReusingParser).
REUSED_SHAPES = frozenset({"ListFoundationModelsResponse", "ListInferenceProfilesResponse"})
# Parsed bodies kept per thread: a region's two list calls each run on a thread of their own, and a
# paged answer has a few pages.
REUSED_PER_THREAD = 4
# botocore makes a parser per answer: the memo outlives them, one per thread.
_parsed_memo = threading.local()


class ReusingParser:
    """botocore's response parser, except that a list answer whose body is byte for byte the one
    this thread parsed last time gives the same parsed members again, with fresh metadata.

    Most refreshes of a region answer what the last one did. Its records are then reused as they
    are (BedrockRegionActor._fetch), but botocore still parsed the whole body, shape by shape: the
    most CPU of an unchanged region. The members handed out are shared between calls: read them,
    never change them (the region's normalizing only reads).
    """

    def __init__(self, parser: Any) -> None:
        self.parser = parser

    def parse(self, response: Mapping[str, Any], shape: Any) -> Any:
        try:
            return self._parse(response, shape)
        except (TypeError, AttributeError, ValueError) as exc:
            # botocore reads an answer by the service model and fails this way on a member of
            # another type (a number where a list belongs, text where an object does): that is
            # a malformed answer (classify_error), caught here and nowhere else in the call.
            raise shape_mismatch()(f"a member of {getattr(shape, 'name', 'the answer')} is of another type than "
                                   f"the service model allows ({type(exc).__name__}: {_one_line(str(exc)) or ''})"
                                   ) from None

    def _parse(self, response: Mapping[str, Any], shape: Any) -> Any:
        body = response.get("body")
        if (shape is None or shape.name not in REUSED_SHAPES or response.get("status_code") != 200
                or not isinstance(body, bytes)):
            return self.parser.parse(response, shape)
        memo = getattr(_parsed_memo, "parsed", None)
        if memo is None:
            from cachetools import LRUCache

            memo = _parsed_memo.parsed = LRUCache(maxsize=REUSED_PER_THREAD)
        key = (shape.name, len(body), hashlib.blake2b(body, digest_size=16).digest())
        members = memo.get(key)
        if members is None:
            parsed = self.parser.parse(response, shape)
            if isinstance(parsed, dict):
                memo[key] = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
            return parsed
        # The metadata (request id, status, headers) is this answer's own: botocore reads it from
        # an empty body with the same headers.
        parsed = self.parser.parse({**response, "body": b"{}"}, shape)
        return {**members, "ResponseMetadata": parsed.get("ResponseMetadata", {})}


@functools.cache
def shape_mismatch() -> type:
    """botocore's ResponseParserError for an answer whose members are not of the service model's
    types (see ReusingParser.parse); made when first needed, as botocore is imported late."""
    from botocore.parsers import ResponseParserError

    class ShapeMismatch(ResponseParserError):
        pass

    return ShapeMismatch


@functools.cache
def _parser_factory_class() -> type:
    from botocore.parsers import ResponseParserFactory

    class _ReusingParserFactory(ResponseParserFactory):
        def create_parser(self, protocol_name: str) -> ReusingParser:
            return ReusingParser(super().create_parser(protocol_name))

    return _ReusingParserFactory


def ReusingParserFactory() -> Any:  # noqa: N802 - stands for the class, which needs botocore imported
    """botocore's response parser factory, making :class:`ReusingParser` s."""
    return _parser_factory_class()()


def parse_timestamp(value: Any) -> datetime:
    """A timestamp in an AWS answer as botocore reads it (an aware datetime for an ISO 8601 string
    with an offset or ``Z``): an extended ISO 8601 string (``YYYY-MM-DD…``) by
    ``datetime.fromisoformat``, anything else (epoch seconds, RFC 822) by botocore."""
    if isinstance(value, str) and len(value) >= 10 and value[4] == "-":
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    from botocore.utils import parse_timestamp as botocore_parse

    return botocore_parse(value)


class BedrockRegionClient:
    """Bedrock's control plane in one region: the two list calls, each one timed.

    ``on_latency`` gets the seconds from sending each request to receiving its answer (success or
    an error status), measured by botocore's own events: the client's first-call set-up and
    signing are not the region's latency. A call that never connected measures nothing.
    Give each instance its own boto3 client (the timing handlers are registered on it).

    Each list call takes the ``deadline`` (``time.monotonic()``) of the refresh it belongs to
    (``refresh_timeout``): no request is sent past it, each one's read timeout is the time left
    when that is shorter than ``timeout``, a body is read no longer than it, and an answer that
    comes after it is refused, all as :meth:`out_of_time`.
    """

    def __init__(self, region: str, settings: BedrockSettings, client: Any = None,
                 on_latency: Callable[[float], None] | None = None):
        self.region = region
        self.settings = settings
        if client is None:
            from botocore.exceptions import BotoCoreError

            try:
                client = make_client("bedrock", region, settings, endpoint_for(settings.endpoint_url, region))
            except BotoCoreError as exc:  # an unknown profile, a broken shared config file
                raise ProviderError(f"bedrock {region}: cannot make a client: {type(exc).__name__}: {exc}") from None
        self.client = client
        self.on_latency = on_latency
        self.answered = False
        self._sent = threading.local()  # two calls may run at once, each on its own thread
        self.client.meta.events.register("before-send.bedrock", self._before_send)
        self.client.meta.events.register("response-received.bedrock", self._response_received)
        if getattr(self.client, "_endpoint", None) is not None:  # a real botocore client, not a stub
            # Once per boto3 client (every handler of the event runs: a second would send again).
            self.client.meta.events.register("before-send.bedrock", self._send_bounded, unique_id="bounded-send")

    def _before_send(self, **kwargs: Any) -> None:
        self._sent.at = time.perf_counter()

    def out_of_time(self, operation: str) -> ProviderTimeout:
        """The refresh's deadline passed during ``operation`` (ListFoundationModels, ...)."""
        return ProviderTimeout(f"bedrock {self.region} took longer than refresh_timeout "
                               f"({self.settings.refresh_timeout:g}s) to answer (cut at {operation}); refused")

    def _response_received(self, response_dict: Any = None, **kwargs: Any) -> None:
        sent, self._sent.at = getattr(self._sent, "at", None), None
        if sent is not None and response_dict is not None and self.on_latency is not None:
            self.on_latency(time.perf_counter() - sent)

    def _send_bounded(self, request: Any = None, **kwargs: Any) -> Any:
        """Send ``request`` on botocore's own HTTP session and read the answer's body within
        MAX_ANSWER_BYTES and three read timeouts, as every other provider's body is read.

        botocore reads a body whole, however large and however slowly it comes (each read
        bounded by the read timeout, the whole by nothing): a region answering 100 MB was kept,
        and one sending a byte every 0.1 s held its refresh for as long as it liked. A
        ``before-send`` handler's answer is the one botocore goes on with (after the timing one).
        """
        from botocore.exceptions import ConnectionClosedError, ReadTimeoutError
        from urllib3.exceptions import ProtocolError
        from urllib3.exceptions import ReadTimeoutError as URLLib3ReadTimeoutError

        refresh_deadline = getattr(self._sent, "deadline", math.inf)
        left = refresh_deadline - time.monotonic()
        if left <= 0:  # every attempt comes here, a retry's too: none is sent past the deadline
            raise self.out_of_time(self._sent.operation)
        context = getattr(request, "context", None)
        self._sent.capped = left < self.settings.timeout
        if self._sent.capped and context is not None:
            # botocore (1.43.68 on) reads a request's own read timeout from its context; an older
            # one leaves the call to ``timeout``, the deadline then checked between pages and reads.
            context["read_timeout"] = left
        request.stream_output = True  # the session leaves the body to be read here
        response = self.client._endpoint.http_session.send(request)
        raw, where = response.raw, f"bedrock {self.region}"
        deadline = time.monotonic() + self.settings.timeout * 3
        chunks: list[bytes] = []
        size = 0
        try:
            while chunk := raw.read1(65536):
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise MalformedAnswer(f"{where} answered with a body larger than "
                                          f"{MAX_ANSWER_BYTES // (1024 * 1024)} MiB; refused")
                if time.monotonic() > deadline:
                    raise ProviderTimeout(f"{where} sent its answer too slowly ({size} bytes before the deadline)")
                if time.monotonic() >= refresh_deadline:
                    raise self.out_of_time(self._sent.operation)
                chunks.append(chunk)
        except URLLib3ReadTimeoutError as exc:
            raise ReadTimeoutError(endpoint_url=request.url, error=exc) from None
        except ProtocolError as exc:
            raise ConnectionClosedError(error=exc, request=request, endpoint_url=request.url) from None
        except ProviderError:
            raw.close()  # the rest of the body is not read: the connection goes, not back to the pool
            raise
        response._content = b"".join(chunks)
        return response

    def _call(self, operation: str, deadline: float = math.inf, **params: Any) -> Mapping[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError
        from botocore.parsers import ResponseParserError

        api = "".join(word.title() for word in operation.split("_"))
        # Read by _send_bounded, on this thread: the two calls of a refresh run on two threads.
        self._sent.deadline, self._sent.operation, self._sent.capped = deadline, api, False
        try:
            answer = getattr(self.client, operation)(**params)
        except (ClientError, BotoCoreError, ResponseParserError) as exc:
            if isinstance(exc, ReadTimeoutError) and self._sent.capped:
                raise self.out_of_time(api) from None  # the read timeout was the time left
            raise classify_error(exc, self.region, ever_answered=self.answered) from None
        except UNREADABLE as exc:  # botocore's json.loads recursing through a deeply nested body
            raise unreadable_answer(f"bedrock {self.region}", exc) from None
        finally:
            self._sent.deadline = math.inf
        self.answered = True
        if time.monotonic() >= deadline:
            raise self.out_of_time(api)  # an answer, but late: the refresh is already over
        if not isinstance(answer, Mapping):
            raise MalformedAnswer(f"bedrock {self.region}: {operation} answered with {type(answer).__name__}")
        return answer

    def list_foundation_models(self, deadline: float = math.inf) -> list[Mapping[str, Any]]:
        """``ListFoundationModels``: one answer, no pagination (the API has none), by ``deadline``."""
        answer = self._call("list_foundation_models", deadline)
        summaries = answer.get("modelSummaries")
        if not isinstance(summaries, list):
            raise MalformedAnswer(f"bedrock {self.region}: ListFoundationModels has no modelSummaries list")
        return summaries

    def check(self, deadline: float = math.inf) -> None:
        """A health check between refreshes: the smallest answer the region gives (one system
        inference profile), through the same client, signing and error rules as a refresh."""
        answer = self._call("list_inference_profiles", deadline, maxResults=1, typeEquals="SYSTEM_DEFINED")
        page = answer.get("inferenceProfileSummaries")
        if page is not None and not isinstance(page, list):
            raise MalformedAnswer(f"bedrock {self.region}: inferenceProfileSummaries is not a list")

    def list_inference_profiles(self, deadline: float = math.inf) -> list[Mapping[str, Any]]:
        """``ListInferenceProfiles`` (system-defined), every page via ``nextToken``, all by ``deadline``."""
        out: list[Mapping[str, Any]] = []
        params: dict[str, Any] = {"maxResults": PROFILE_PAGE_SIZE, "typeEquals": "SYSTEM_DEFINED"}
        followed: set[str] = set()
        for _ in range(MAX_PAGES):
            answer = self._call("list_inference_profiles", deadline, **params)
            page = answer.get("inferenceProfileSummaries")
            if page is None:
                page = []  # AWS leaves out empty lists
            if not isinstance(page, list):
                raise MalformedAnswer(f"bedrock {self.region}: inferenceProfileSummaries is not a list")
            out.extend(page)
            token = answer.get("nextToken")
            if not token:
                return out
            if not isinstance(token, str) or token in followed:
                # A token named again: the pages loop (100 calls to find out, before); one that is
                # not a string failed the next call as botocore's ParamValidationError.
                raise MalformedAnswer(f"bedrock {self.region}: ListInferenceProfiles answered a nextToken "
                                      f"{'that is not a string' if not isinstance(token, str) else 'already followed'}")
            followed.add(token)
            params["nextToken"] = token
        raise MalformedAnswer(f"bedrock {self.region}: more than {MAX_PAGES} pages of inference profiles")


def describe_regions(settings: BedrockSettings, client: Any = None) -> tuple[str, ...]:
    """The regions EC2 ``DescribeRegions`` reports enabled for the account, sorted."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    client = client or make_client("ec2", settings.ec2_region, settings,
                                   endpoint_for(settings.ec2_endpoint_url, settings.ec2_region))
    try:
        answer = client.describe_regions()
    except (BotoCoreError, ClientError, ResponseParserError) as exc:
        raise classify_error(exc, settings.ec2_region) from None
    names = {r.get("RegionName") for r in answer.get("Regions") or ()}
    return tuple(sorted(n for n in names if isinstance(n, str) and REGION_NAME.match(n)))

