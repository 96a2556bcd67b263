"""What every provider wire format shares: HTTP with timeouts, error bodies, the refusal rules.

A format is a subclass of :class:`ProviderClient` that implements :meth:`fetch_models` (all pages,
normalized to :class:`~discovery.model.Model`). Failures are :class:`ProviderError` with a
``reason`` a person can act on; the message never contains the API key. The errors are in
:mod:`discovery.providers.errors`, the retries inside a refresh in :mod:`discovery.providers.retries`.
"""
from __future__ import annotations

import hashlib
import http.client
import itertools
import json
import math
import operator
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Optional
from urllib.parse import urlsplit

import msgspec
import orjson
import requests
from urllib3 import exceptions as urllib3_exceptions
from urllib3.exceptions import MaxRetryError, ReadTimeoutError

from discovery.collector import hold_collector, let_collector_go
from discovery.model import Model, dumps, loads
from discovery.providers.errors import (
    UNREADABLE,
    MalformedAnswer,
    ProviderAuthError,
    ProviderError,
    ProviderHTTPError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnreachable,
    error_message,
    plain_snippet,
    redirect_refused,
    unreadable_answer,
)
from discovery.providers.retries import MAX_RETRY_AFTER_SECONDS, DeadlineTimeout, asked_wait, mount_retries
from discovery.ratelimit import TokenBucket
from discovery.redaction import excerpt
from discovery.settings import ProviderConfig

USER_AGENT = "model-discovery/0.1"
# Part of every fingerprint: change it when a normalizer changes what it makes of the same item,
# so records normalized by older code are made again.
# 6: Groq's features left out are false, video models of kind video; 5: LiteLLM's audio modes.
NORMALIZER_VERSION = "6"


class BodyUnchanged(Exception):
    """Raised inside :meth:`ProviderClient.fetch` when the answer is the last accepted one, byte for byte."""


@dataclass(frozen=True)
class FetchResult:
    """One fetch: the records (or ``unchanged``), their fingerprints, and where the time went.

    ``fetch_ms`` is the time spent on requests and reading bodies; ``received_at`` is the wall
    clock at the start plus that time, so "everything after the body was read" is measured from it.
    """

    models: tuple[Model, ...]
    unchanged: bool
    body_hash: Optional[str]
    fingerprints: Mapping[str, str] = field(default_factory=dict)
    fetch_ms: float = 0.0
    received_at: float = 0.0


# A JSON object decoded down to its members, each kept as the raw JSON span it was sent as
# (msgspec.Raw: a view into the body, not a copy), and a list down to its items' spans.
_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_SPANS = msgspec.json.Decoder(list[msgspec.Raw])
# Leads the fingerprint of an item taken from its span, so it never equals one of the same item
# parsed (Python objects encoded again) and an answer read both ways is never mixed up.
_SPAN_PRINT = b"span:"
# Leads the fingerprint of a run of items (normalized_spans): never equal to one item's.
_GROUP_PRINT = b"group:"
# Items per run: with 1% of a catalog changed, about three runs in four of 32 items come back as
# they were (0.99**32); a run costs one hash of its bytes instead of a hash and a lookup per item.
GROUP_SIZE = 32
_ID = operator.attrgetter("id")
_OPEN_BRACE = ord("{")


def _parse_and_build(build: Callable[..., Model], span: Any, context: tuple[Any, ...]) -> Model:
    return build(loads(bytes(span)), *context)


def _span_print(fetch: "_FetchContext", span: Any, context: tuple[Any, ...]) -> str:
    """An item's fingerprint from its span and context (see ProviderClient.normalized_span)."""
    # Run once per item read: the keyed hasher is copied (not made), and the context encoded by
    # orjson (plain strings and numbers, as every format gives; the same bytes dumps makes, which
    # takes anything else).
    digest = fetch.span_digest.copy()
    if context:
        try:
            digest.update(orjson.dumps(context))  # an array: it ends where the span begins
        except (orjson.JSONEncodeError, TypeError):
            digest.update(dumps(context))
    digest.update(span)
    return digest.hexdigest()


def all_objects(spans: Sequence[Any]) -> bool:
    """Whether every span (as decoded here: no leading whitespace, never empty) is a JSON object:
    the first byte of each, picked from the spans joined, in C (not a call per span)."""
    joined = b"".join(spans)
    starts = itertools.islice(itertools.accumulate(map(len, spans), initial=0), len(spans))
    return bytes(map(joined.__getitem__, starts)).count(_OPEN_BRACE) == len(spans)


def holds_object(span: Any) -> bool:
    """Whether a span (msgspec.Raw or bytes, as decoded here: no leading whitespace) is a JSON object."""
    return memoryview(span)[0] == _OPEN_BRACE


class Listing:
    """A list answer as sent: ``items`` the raw JSON span of each entry of the list field, and the
    other top-level fields parsed when asked for (:meth:`get`), as a format reads its paging
    fields. Items are parsed only when their span is new (:meth:`ProviderClient.normalized_span`).
    """

    __slots__ = ("_fields", "items")

    def __init__(self, fields: Mapping[str, msgspec.Raw], items: list[msgspec.Raw]):
        self._fields = fields
        self.items = items

    def get(self, name: str, default: Any = None) -> Any:
        raw = self._fields.get(name)
        return default if raw is None else loads(bytes(raw))


class _FetchContext:
    """The memo and running hashes of one :meth:`ProviderClient.fetch` call."""

    __slots__ = ("bodies", "deadline", "digest", "group_digest", "groups", "holds_slot", "key", "memo", "network",
                 "paused", "prints", "received", "span_digest")

    def __init__(self, key: bytes, memo: Any, deadline: float = math.inf):
        self.key = key
        self.memo = memo
        # When the whole fetch must be done by (time.monotonic(); refresh_timeout).
        self.deadline = deadline
        # The whole answer's hash, and a run of items' (normalized_spans), go over every byte read:
        # SHA-256 (OpenSSL's, with the CPU's SHA instructions where it has them) does that more than
        # twice as fast as blake2b here. The key leads what is hashed; a body hash is cut to 32 hex
        # digits, as stored. (An item's fingerprint stays blake2b: it is stored with the item, and
        # for an item's few hundred bytes the two cost about the same.)
        self.digest = hashlib.sha256(key)
        # Each span's fingerprint starts as a copy of this (normalized_span).
        self.span_digest = hashlib.blake2b(_SPAN_PRINT, digest_size=16, key=key)
        self.group_digest = hashlib.sha256(key + _GROUP_PRINT)
        # The runs of items this fetch read (normalized_spans): run fingerprint → its items' ones.
        self.groups: dict[str, tuple[str, ...]] = {}
        self.prints: dict[str, str] = {}
        self.network = 0.0
        self.bodies = 0
        # Bytes of every body read so far (pages, per-model calls): the whole answer is held to
        # the body size limit, so pages that never end cannot outgrow one body.
        self.received = 0
        self.holds_slot = False
        # Whether the collector is held off while a large answer is parsed and normalized (take_slot).
        self.paused = False

    def remembered(self, fp: str, make: Callable[..., Model], *args: Any) -> Model:
        """The memo's record for fingerprint ``fp``, else ``make(*args)``; either way noted as the
        fingerprint of its id."""
        found = self.memo.items.get(fp) if self.memo is not None else None
        model = found if found is not None else make(*args)
        self.prints.setdefault(model.id, fp)
        return model

    def take_slot(self, size: int) -> None:
        """Take PARSE_SLOT for a body of ``size`` bytes that was just read."""
        if self.holds_slot:
            return
        PARSE_SLOT.acquire()
        self.holds_slot = True
        if size >= LARGE_BODY:
            # Every record parsed from it stays until the catalog has it: a collection in
            # between would walk them all only to find them alive.
            hold_collector()
            self.paused = True

    def give_slot(self) -> None:
        """Give PARSE_SLOT back (before the next request, and when the fetch ends)."""
        if not self.holds_slot:
            return
        if self.paused:
            self.paused = False
            let_collector_go()
        self.holds_slot = False
        PARSE_SLOT.release()


# A provider's answer, parsed, is many times its body in Python objects. Parsing and normalizing
# hold the GIL anyway, so doing them for one answer (or page) at a time costs no throughput and
# keeps the memory of a refresh of many sources to about one answer's worth. The slot is taken
# once a body is read and given back before the next request: network waits never hold it.
PARSE_SLOT = threading.Lock()
# A body at least this large is parsed and normalized with the cyclic collector held off.
LARGE_BODY = 256 * 1024


class ProviderClient:
    """Base class of a provider wire format.

    Class attributes describe the format: its name in settings (``format``), the default base URL
    and API key variable, whether a key is required, and whether it is a catalog (models.dev,
    LiteLLM: many providers' models, used to enrich the live lists) rather than a live API.
    """

    format: ClassVar[str] = ""
    default_base_url: ClassVar[str] = ""
    default_api_key_env: ClassVar[Optional[str]] = None
    requires_key: ClassVar[bool] = True
    is_catalog: ClassVar[bool] = False
    # Started with no settings file (public catalogs; live APIs whose key is in the environment).
    default_enabled: ClassVar[bool] = True
    # Normalizing the same item gives another record as days pass (a deprecation date passes):
    # the fingerprints include the date, so every item is normalized again once a day.
    date_dependent: ClassVar[bool] = False
    # Keys of an item that change on every answer and mean nothing (a per-request timestamp):
    # left out of its fingerprint, so an unchanged item is still recognized.
    volatile_fields: ClassVar[tuple[str, ...]] = ()
    # The format's own settings keys (``[providers.<name>]`` beyond the common ones, or its
    # ``options`` table) and their types: int (a whole number, 1 or more), str, list (of strings),
    # dict (string to string). Any other key is refused at load (a typo was taken as an option).
    options: ClassVar[Mapping[str, type]] = {"catalog_provider": str}

    def __init__(self, config: ProviderConfig, session: Optional[requests.Session] = None,
                 environ: Optional[Mapping[str, str]] = None, rate_limiter: Optional[TokenBucket] = None):
        self.config = config
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        mount_retries(self.session, config, self._deadline)
        self._environ = environ
        self.rate_limiter = rate_limiter
        # Largest body accepted; a bigger answer is refused.
        self.max_body_bytes = int(config.max_body_mb * 1024 * 1024)
        self._fetch: Optional[_FetchContext] = None
        # The runs of items the last fetch read, for the next (see normalized_spans).
        self._groups: dict[str, tuple[str, ...]] = {}

    def _deadline(self) -> float:
        """When the fetch under way must be done by (inf outside one): its retries stop there."""
        context = self._fetch
        return context.deadline if context is not None else math.inf

    # -- configuration -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The configured name; it is the ``provider`` part of model ids for live APIs."""
        return self.config.name

    @property
    def base_url(self) -> str:
        return (self.config.base_url or self.default_base_url).rstrip("/")

    @property
    def api_key_env(self) -> Optional[str]:
        return self.config.api_key_env or self.default_api_key_env

    def api_key(self) -> Optional[str]:
        """The key from the environment; raises ProviderAuthError if the format needs one."""
        import os

        env = os.environ if self._environ is None else self._environ
        key = env.get(self.api_key_env) if self.api_key_env else None
        if not key and self.requires_key:
            raise ProviderAuthError(f"no API key: set the environment variable {self.api_key_env}")
        return key or None

    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate a request; formats override this."""
        key = self.api_key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def key_refused(self, status: int, body: Any) -> bool:
        """Whether an error answer (``body`` parsed, or None) says the key is missing or wrong:
        401 and 403 do; a format whose provider says so another way overrides this."""
        return status in (401, 403)

    def retry_after(self, headers: Mapping[str, str], body: Any) -> Optional[float]:
        """Seconds an error answer (its headers, its body parsed or None) asks to wait before the
        next call: its Retry-After, else when the rate limits its headers say are exhausted reset
        (OpenAI's and Groq's ``x-ratelimit-*``, Anthropic's ``anthropic-ratelimit-*``); a format
        whose provider says so another way overrides this."""
        return asked_wait(headers)

    # -- HTTP ----------------------------------------------------------------------------------
    def request_json(self, method: str, path: str, *, params: Optional[Mapping[str, Any]] = None,
                     json_body: Any = None, headers: Optional[Mapping[str, str]] = None) -> Any:
        """One HTTP call with the configured timeout; returns the decoded JSON body.

        Raises the matching :class:`ProviderError` for timeouts, connection failures, error
        statuses (with the provider's own error message) and bodies that are not JSON.
        """
        body, status = self.request_body(method, path, params=params, json_body=json_body, headers=headers)
        try:
            return loads(body)
        except UNREADABLE as exc:
            raise unreadable_answer(self.name, exc) from None
        except ValueError:
            raise self._not_json(body, status) from None

    def _no_http_answer(self, error: urllib3_exceptions.ProtocolError) -> ProviderError:
        """The error for a connection that was made but gave no HTTP answer: closed (or reset)
        before one, or something that is not HTTP (a status line or headers http.client refuses)."""
        cause = error.args[1] if len(error.args) > 1 else None
        if cause is None or isinstance(cause, (http.client.RemoteDisconnected, ConnectionError)):
            return ProviderUnreachable(f"{self.name} at {self.base_url} closed the connection without an answer"
                                       f"{self._after_retries()}")
        return MalformedAnswer(f"{self.name} answered with something that is not HTTP "
                               f"({type(cause).__name__}: {cause}){self._after_retries()}")

    def _not_json(self, body: bytes, status: int) -> MalformedAnswer:
        snippet = excerpt(body[:2048].decode("utf-8", "replace"), 80)
        return MalformedAnswer(f"{self.name} answered {status} with a body that is not JSON: {snippet!r}")

    def request_body(self, method: str, path: str, *, params: Optional[Mapping[str, Any]] = None,
                     json_body: Any = None, headers: Optional[Mapping[str, str]] = None) -> tuple[bytes, int]:
        """One HTTP call with the configured timeout: (the body of a successful answer, its status).

        Inside :meth:`fetch` the body goes into the answer's hash (raising :class:`BodyUnchanged`
        when the answer so far is the last accepted one) and ``PARSE_SLOT`` is taken for it.
        Raises the matching :class:`ProviderError` for timeouts, connection failures and error
        statuses (with the provider's own error message).
        """
        context = self._fetch
        if context is not None:
            # The previous page is normalized by now; no wait below holds the slot.
            context.give_slot()
            if time.monotonic() > context.deadline:
                raise self._out_of_time(context)
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"
        hdrs = dict(self.auth_headers())
        hdrs.update(headers or {})
        # The local budget's wait, like every attempt, ends by the refresh's deadline.
        left = context.deadline - time.monotonic() if context is not None else math.inf
        if self.rate_limiter is not None and not self.rate_limiter.acquire(timeout=min(self.config.timeout, left)):
            if left < self.config.timeout:
                raise self._out_of_time(context)  # type: ignore[arg-type]
            raise ProviderRateLimited(f"{self.name}: local request budget exhausted "
                                      f"({self.rate_limiter.rate:g}/s, burst {self.rate_limiter.burst})")
        started = time.monotonic()
        # Inside a fetch every attempt, urllib3's retries included, ends by the refresh's deadline.
        timeout = self.config.timeout if context is None else DeadlineTimeout(self.config.timeout, context.deadline)
        try:
            # Redirects are not followed: a custom key header would travel to wherever one points.
            resp = self.session.request(method, url, params=params, json=json_body, headers=hdrs,
                                        timeout=timeout, stream=True, allow_redirects=False)
        except requests.exceptions.RetryError:
            if context is None:
                raise  # only a fetch's deadline stops retries with an error (_Retry.increment)
            raise self._out_of_time(context) from None
        except requests.Timeout:
            self._check_deadline(context)
            raise ProviderTimeout(f"no answer from {self.name} within {self.config.timeout:g}s"
                                  f"{self._after_retries()}") from None
        except requests.ConnectionError as exc:
            self._check_deadline(context)
            # Retries exhausted on read timeouts surface as ConnectionError(MaxRetryError(ReadTimeoutError)).
            inner = exc.args[0] if exc.args else None
            reason = inner.reason if isinstance(inner, MaxRetryError) else inner
            if isinstance(reason, ReadTimeoutError):
                raise ProviderTimeout(f"no answer from {self.name} within {self.config.timeout:g}s"
                                      f"{self._after_retries()}") from None
            if isinstance(reason, urllib3_exceptions.ProtocolError):
                # Connected, and then no HTTP answer: not "cannot connect", which sent the reader
                # of the run to the network for an answer that was garbage.
                raise self._no_http_answer(reason) from None
            raise ProviderUnreachable(f"cannot connect to {self.name} at {self.base_url}"
                                      f"{self._after_retries()}") from None
        try:
            body = self._read_body(resp, context)
        finally:
            resp.close()
        if resp.status_code >= 400:
            self._raise_for_status(resp, body)
        if 300 <= resp.status_code < 400:
            raise redirect_refused(self.name, resp.status_code, resp.headers.get("Location"))
        context = self._fetch
        if context is not None:
            context.network += time.monotonic() - started
            context.bodies += 1
            # Each body goes in with its length first: the bodies read so far hash to the last
            # accepted answer's hash only if they are that answer's bodies, all of them.
            context.digest.update(b"%d:" % len(body))
            context.digest.update(body)
            if context.memo is not None and context.memo.body_hash == context.digest.hexdigest()[:32]:
                # The same bytes take the format down the same path: to no further request, as
                # last time. So this body is not parsed (nor, in one body, anything at all).
                raise BodyUnchanged()
            # One answer parsed and normalized at a time, process-wide (see PARSE_SLOT).
            context.take_slot(len(body))
        return body, resp.status_code

    def get_listing(self, path: str, key: str = "data", params: Optional[Mapping[str, Any]] = None,
                    headers: Optional[Mapping[str, str]] = None, absent_is_empty: bool = False) -> Listing:
        """GET ``path``, a JSON object whose ``key`` is a list of objects, as a :class:`Listing`:
        the items are not parsed here. Raises MalformedAnswer as :meth:`list_field` does for a
        body of another shape, and for one that is not JSON. ``absent_is_empty``: the provider
        leaves an empty list out of its answer (Google's JSON), so no ``key`` is no items."""
        body, status = self.request_body("GET", path, params=params, headers=headers)
        fields = self.decode_spans(body, status, f"expected a JSON object with '{key}'")
        raw = fields.get(key)
        if raw is None and absent_is_empty:
            return Listing(fields, [])
        self.expect(raw is not None, f"'{key}' is not a list")
        try:
            items = _SPANS.decode(raw)
        except msgspec.ValidationError:
            raise MalformedAnswer(f"{self.name} answered with an unexpected shape: '{key}' is not a list") from None
        self.expect(all_objects(items), f"'{key}' holds non-objects")
        return Listing(fields, items)

    def decode_spans(self, body: bytes, status: int, what: str) -> Mapping[str, Any]:
        """A body that must be a JSON object, as its members' raw spans (MalformedAnswer naming
        ``what`` for another shape; the usual one for a body that is not JSON).

        A body that is not strict JSON but that the standard library still reads (``NaN``,
        ``Infinity``), as :meth:`request_json` does, is read that way and its members encoded
        again as strict JSON (a non-finite number becomes null): each span is then bytes.
        """
        try:
            return _FIELDS.decode(body)
        except msgspec.ValidationError:
            raise MalformedAnswer(f"{self.name} answered with an unexpected shape: {what}") from None
        except msgspec.DecodeError:
            pass
        try:
            doc = loads(body)
        except UNREADABLE as exc:
            raise unreadable_answer(self.name, exc) from None
        except ValueError:
            raise self._not_json(body, status) from None
        self.expect(isinstance(doc, dict), what)
        return {name: dumps(value) for name, value in doc.items()}

    def span_map(self, raw: msgspec.Raw, what: str) -> dict[str, msgspec.Raw]:
        """A JSON object's members as raw spans (MalformedAnswer naming ``what`` when it is not one)."""
        try:
            return _FIELDS.decode(raw)
        except msgspec.ValidationError:
            raise MalformedAnswer(f"{self.name} answered with an unexpected shape: {what}") from None

    def _after_retries(self) -> str:
        return f" (after {self.config.retries} retries)" if self.config.retries else ""

    def get_json(self, path: str, params: Optional[Mapping[str, Any]] = None,
                 headers: Optional[Mapping[str, str]] = None) -> Any:
        """GET ``path`` and decode its JSON body (see :meth:`request_json`)."""
        return self.request_json("GET", path, params=params, headers=headers)

    def _read_body(self, resp: requests.Response, context: Optional[_FetchContext] = None) -> bytes:
        """Read the body, refusing one larger than ``max_body_bytes``, or (inside :meth:`fetch`)
        one that takes the bodies of this answer read so far past it.

        ``timeout`` bounds each socket read; a body that drips slowly is bounded by the overall
        deadline of three timeouts enforced here.
        """
        import time

        deadline = time.monotonic() + self.config.timeout * 3
        if context is not None and context.deadline < deadline:
            deadline = context.deadline
        earlier = context.received if context is not None else 0
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                # read1 returns whatever has arrived, so the deadline is checked between trickles.
                chunk = resp.raw.read1(65536, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if earlier + size > self.max_body_bytes:
                    raise self._too_large(context if earlier else None)
                if time.monotonic() > deadline:
                    if context is not None and deadline == context.deadline:
                        raise self._out_of_time(context)
                    raise ProviderTimeout(f"{self.name} sent its answer too slowly "
                                          f"({size} bytes before the deadline)")
                chunks.append(chunk)
        except (requests.exceptions.ConnectionError, urllib3_exceptions.ReadTimeoutError,
                urllib3_exceptions.ProtocolError):
            raise ProviderTimeout(f"{self.name} stopped sending its answer") from None
        except (requests.exceptions.ChunkedEncodingError, urllib3_exceptions.DecodeError):
            raise MalformedAnswer(f"{self.name} broke off its answer") from None
        if context is not None:
            context.received += size
        return b"".join(chunks)

    def _check_deadline(self, context: Optional[_FetchContext]) -> None:
        """Raise the refresh's timeout when its deadline has passed (a request's attempt cut there)."""
        if context is not None and time.monotonic() >= context.deadline:
            raise self._out_of_time(context) from None

    def _out_of_time(self, context: _FetchContext) -> ProviderTimeout:
        return ProviderTimeout(f"{self.name} took longer than refresh_timeout ({self.config.refresh_timeout:g}s) "
                               f"to answer, over {context.bodies + 1} requests; refused")

    def _too_large(self, context: Optional[_FetchContext]) -> MalformedAnswer:
        limit = f"{self.max_body_bytes / (1024 * 1024):g} MiB"
        if context is None:
            return MalformedAnswer(f"{self.name} answered with a body larger than {limit}; refused")
        return MalformedAnswer(f"{self.name} answered with more than {limit} in {context.bodies + 1} bodies "
                               "(pages that do not end?); refused")

    def _raise_for_status(self, resp: requests.Response, body: bytes) -> None:
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):  # its status says what went wrong, readable body or not
            parsed = None
        stated = error_message(parsed)
        # The provider's own words, as a plain-text body's are: one line, bounded, scrubbed, and
        # no terminal control left in them (they are stored and logged).
        message = (excerpt(" ".join(stated.split()), 500) if stated else None) or plain_snippet(body) or resp.reason
        status = resp.status_code
        retry_after = self.retry_after(resp.headers, parsed)
        text = f"{self.name} answered HTTP {status}: {message}"
        if status == 404:
            # On a list call, nearly always a base_url missing or adding a segment (/v1): say where,
            # first (the provider's words may be long), without user part or query.
            where = urlsplit(resp.url or "")
            at = f"{where.scheme}://{where.netloc.rpartition('@')[2]}{where.path}"
            text = f"{self.name} answered HTTP 404 at {at} (is base_url right?): {message}"
        if retry_after is not None and retry_after > self.config.max_retry_after:
            asked = "Retry-After" if resp.headers.get("Retry-After") is not None else "wait asked"
            # A wait past a day was kept as a day (MAX_RETRY_AFTER_SECONDS): say so, not the cap as if asked.
            said = f"at least {retry_after:g}s" if retry_after >= MAX_RETRY_AFTER_SECONDS else f"{retry_after:g}s"
            text += f" ({asked} {said}, longer than max_retry_after {self.config.max_retry_after:g}s)"
        if self.key_refused(status, parsed):
            raise ProviderAuthError(text, status=status)
        if status == 429:
            raise ProviderRateLimited(text, status=status, retry_after=retry_after)
        raise ProviderHTTPError(text, status=status, retry_after=retry_after)

    # -- change detection ----------------------------------------------------------------------
    def _salt(self) -> bytes:
        """What every fingerprint of this client depends on besides the item itself."""
        parts: list[Any] = [NORMALIZER_VERSION, self.format, self.config.name, dict(self.config.options)]
        if self.date_dependent:
            parts.append(datetime.now(UTC).date().isoformat())
        return hashlib.blake2b(dumps(parts, sort_keys=True), digest_size=32).digest()

    def fetch(self, memo: Any = None) -> FetchResult:
        """:meth:`fetch_models` with change detection against ``memo`` (the last accepted answer).

        ``memo`` has ``body_hash`` and ``items`` (fingerprint → record). An answer whose body hash
        equals the memo's is ``unchanged``, and known so as soon as the bodies read so far are all
        of the last answer's: its last body (its only one, for most formats) is not parsed. An item
        whose fingerprint is in the memo is not normalized again: its record is the memo's.
        """
        context = _FetchContext(self._salt(), memo, time.monotonic() + self.config.refresh_timeout)
        self._fetch = context
        started_wall = time.time()
        try:
            models = tuple(self.fetch_models())
        except BodyUnchanged:
            return FetchResult((), True, memo.body_hash, {}, context.network * 1000,
                               started_wall + context.network)
        except UNREADABLE as exc:
            raise unreadable_answer(self.name, exc) from None
        finally:
            self._fetch = None
            context.give_slot()
        body_hash = context.digest.hexdigest()[:32]
        unchanged = memo is not None and memo.body_hash == body_hash
        if context.groups:
            self._groups = context.groups
        return FetchResult(() if unchanged else models, unchanged, body_hash, context.prints,
                           context.network * 1000, started_wall + context.network)

    def normalized(self, build: Callable[..., Model], *item: Any) -> Model:
        """``build(*item)``, unless the same item was normalized for the last accepted answer.

        ``item`` is everything the record is made from (the provider's JSON and any context);
        its hash is the fingerprint. Outside :meth:`fetch` this is just ``build(*item)``.
        """
        context = self._fetch
        if context is None:
            return build(*item)
        keyed: Any = item
        if self.volatile_fields:
            drop = self.volatile_fields
            keyed = tuple({k: v for k, v in part.items() if k not in drop} if isinstance(part, Mapping) else part
                          for part in item)
        try:
            encoded = orjson.dumps(keyed)
        except (orjson.JSONEncodeError, TypeError):  # integers beyond 64 bits, odd keys
            encoded = dumps(keyed)
        fp = hashlib.blake2b(encoded, digest_size=16, key=context.key).hexdigest()
        return context.remembered(fp, build, *item)

    def normalized_span(self, build: Callable[..., Model], span: msgspec.Raw, *context: Any) -> Model:
        """``build(item, *context)`` for the JSON object in ``span``, unless the same span (with the
        same context) was normalized for the last accepted answer: then the memo's record, and the
        item is not even parsed. The span must hold an object (:meth:`get_listing` checks).

        Like :meth:`normalized`, without encoding the parsed item again to fingerprint it: an
        unchanged item costs a hash of bytes already read. Formats whose items carry volatile
        fields (left out of the fingerprint) use :meth:`normalized`.
        """
        fetch = self._fetch
        if fetch is None:
            return build(loads(bytes(span)), *context)
        return fetch.remembered(_span_print(fetch, span, context), _parse_and_build, build, span, context)

    def normalized_spans(self, build: Callable[..., Model], spans: Sequence[Any],
                         contexts: Optional[Sequence[tuple[Any, ...]]] = None,
                         not_object: Optional[Callable[[int], str]] = None) -> list[Model]:
        """:meth:`normalized_span` of each of ``spans`` (with ``contexts[i]``), in order, a run of
        GROUP_SIZE items at a time: a run whose bytes and contexts are those of a run the last
        fetch read, and each of whose records the memo holds, is taken as those records, with no
        work per item (they are what normalized_span would give: each item's fingerprint depends
        only on its bytes and context). ``not_object(i)``, when given, is the message for a span
        that does not hold an object (checked for the items that are read)."""
        fetch = self._fetch
        if fetch is None:
            return [self.normalized_span(build, span, *(contexts[i] if contexts else ()))
                    for i, span in enumerate(spans)]
        items = fetch.memo.items if fetch.memo is not None else {}
        last, prints, groups = self._groups, fetch.prints, fetch.groups
        out: list[Model] = []
        for start in range(0, len(spans), GROUP_SIZE):
            part = spans[start:start + GROUP_SIZE]
            context = contexts[start:start + GROUP_SIZE] if contexts else ()
            digest = fetch.group_digest.copy()
            try:
                digest.update(orjson.dumps([list(map(len, part)), context]))
            except (orjson.JSONEncodeError, TypeError):
                digest.update(dumps([list(map(len, part)), context]))
            digest.update(b"".join(part))
            key = digest.hexdigest()
            known = last.get(key)
            if known is not None:
                models = list(map(items.get, known))
                if all(map(operator.is_not, models, itertools.repeat(None))):
                    for model_id, fp in zip(map(_ID, models), known):
                        prints.setdefault(model_id, fp)  # the first of a repeated id, as remembered() does
                    out.extend(models)
                    groups[key] = known
                    continue
            fps = []
            for i, span in enumerate(part):
                if not_object is not None and not holds_object(span):
                    self.expect(False, not_object(start + i))
                here = context[i] if context else ()
                fp = _span_print(fetch, span, here)
                out.append(fetch.remembered(fp, _parse_and_build, build, span, here))
                fps.append(fp)
            groups[key] = tuple(fps)
        return out

    # -- the format's job ----------------------------------------------------------------------
    def fetch_models(self) -> list[Model]:
        """Fetch every page of the model list and normalize it. Formats implement this."""
        raise NotImplementedError

    def probe(self) -> None:
        """The cheapest call that shows the provider answers (a one-item page where possible)."""
        self.fetch_models()

    def check(self) -> None:
        """:meth:`probe`, with an answer nothing here can read failing as :class:`MalformedAnswer`
        (as in :meth:`fetch`); the health check calls this."""
        try:
            self.probe()
        except UNREADABLE as exc:
            raise unreadable_answer(self.name, exc) from None

    # -- helpers for formats -------------------------------------------------------------------
    def expect(self, condition: bool, what: str) -> None:
        """Raise MalformedAnswer unless ``condition`` holds; ``what`` says what was expected."""
        if not condition:
            raise MalformedAnswer(f"{self.name} answered with an unexpected shape: {what}")

    def next_cursor(self, cursor: Any, followed: set[str], field: str) -> str:
        """``cursor``, the next page's, noted in ``followed`` (every cursor of this answer so far);
        MalformedAnswer unless it is a string not followed before: a cursor named again means the
        pages loop (A, B, A, ...), however long the loop, and the answer would never end."""
        self.expect(isinstance(cursor, str), f"'{field}' is not a string")
        self.expect(cursor not in followed, f"'{field}' names a page already read (the pages loop)")
        followed.add(cursor)
        return cursor

    def require_str(self, item: Mapping[str, Any], key: str = "id") -> str:
        """``item[key]`` as a non-empty string, or MalformedAnswer (every model needs its id)."""
        value = item.get(key)
        self.expect(isinstance(value, str) and value != "", f"a model without an '{key}'")
        return value

    def list_field(self, body: Any, key: str = "data") -> list[Mapping[str, Any]]:
        """``body[key]`` as a list of objects, or MalformedAnswer."""
        self.expect(isinstance(body, Mapping), f"expected a JSON object with '{key}'")
        items = body.get(key)
        self.expect(isinstance(items, list), f"'{key}' is not a list")
        # dict first: Mapping alone is an ABC check per item (5.5k of them in a 1%-changed round at 10k).
        self.expect(all(isinstance(i, dict) or isinstance(i, Mapping) for i in items), f"'{key}' holds non-objects")
        return items


def dedupe(models: Iterable[Model]) -> list[Model]:
    """Keep the first model of each id (some APIs repeat ids as a matter of course), preserving order.

    A format whose API is not known to repeat ids does not call this: the catalog then keeps the
    first record of a repeated id and counts the others in the run's ``rejected``.
    """
    models = list(models)
    ids = list(map(_ID, models))
    if len(set(ids)) == len(ids):
        return models
    seen: set[str] = set()
    out = []
    for m in models:
        if m.id not in seen:
            seen.add(m.id)
            out.append(m)
    return out
