"""Webhook delivery logic with no threads: URL checks, signatures, backoff and batch bodies.

A delivery is one JSON POST of a batch of events, signed with the subscription's shared secret::

    X-Discovery-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

The receiver recomputes the HMAC over the exact bytes it received (:func:`verify_signature`),
compares in constant time and refuses a ``t`` too far from its own clock (replays).
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from discovery.model import dumps
from discovery.store import StoredEvent

SIGNATURE_HEADER = "X-Discovery-Signature"
DELIVERY_HEADER = "X-Discovery-Delivery"
EVENT_IDS_HEADER = "X-Discovery-Event-Ids"
ATTEMPT_HEADER = "X-Discovery-Attempt"
SUBSCRIPTION_HEADER = "X-Discovery-Subscription"
USER_AGENT = "model-discovery-webhooks/1"
# How far a signature's timestamp may be from the receiver's clock before it is refused.
SIGNATURE_TOLERANCE = 300.0
MIN_SECRET_LENGTH = 16
# And this many different characters (sixteen zeros are no secret).
MIN_SECRET_DISTINCT = 8
# A secret is part of every signature and a pattern the redaction scans every answer and log line for.
MAX_SECRET_LENGTH = 256


class InvalidWebhookURL(ValueError):
    """A webhook URL the service will not deliver to, and why."""


_SHARED_NET = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT (and some clouds' metadata)
# NAT64 prefixes put an IPv4 address in the last 32 bits; the local-use one reaches private networks.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def embedded_ipv4(addr: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries, with the mechanism: mapped, 6to4, Teredo, NAT64."""
    found: list[tuple[str, ipaddress.IPv4Address]] = []
    if addr.ipv4_mapped is not None:
        found.append(("IPv4-mapped", addr.ipv4_mapped))
    if addr.sixtofour is not None:
        found.append(("6to4", addr.sixtofour))
    if addr.teredo is not None:
        server, client = addr.teredo
        found += [("Teredo", server), ("Teredo", client)]
    if addr in _NAT64:
        found.append(("NAT64", ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)))
    if addr in _IPV4_COMPATIBLE and int(addr) > 0xFFFF:
        found.append(("IPv4-compatible", ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)))
    return found


def _refused_address(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address is not a public destination, or None if it is.

    An IPv6 address that carries an IPv4 one (IPv4-mapped, 6to4, Teredo, NAT64) is judged by
    what it carries too; anything not globally routable (private, link-local such as the cloud
    metadata address 169.254.169.254, shared, reserved, documentation) is refused.
    """
    if isinstance(addr, ipaddress.IPv6Address):
        for how, inner in embedded_ipv4(addr):
            why = _refused_address(inner)
            if why:
                return f"{how} address embedding a {why}"
        if addr in _LOCAL_NAT64:
            return "local-use NAT64 (private)"
        if addr in _NAT64:
            return None  # DNS64's answer for a public IPv4 host, checked above
    if addr.is_loopback:
        return "loopback"
    if addr.is_link_local:
        return "link-local"
    if isinstance(addr, ipaddress.IPv6Address) and addr.is_site_local:
        return "site-local (private)"  # fec0::/10: deprecated, still routed inside sites
    if addr.is_unspecified or addr.is_multicast or addr.is_reserved:
        return "reserved"
    if addr.is_private or (isinstance(addr, ipaddress.IPv4Address) and addr in _SHARED_NET):
        return "private"
    if not addr.is_global and not (isinstance(addr, ipaddress.IPv6Address) and addr.sixtofour is not None):
        return "non-public"
    return None


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IP literals resolve to themselves)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


@dataclass(frozen=True)
class WebhookTarget:
    """Where a POST goes: the URL's parts and the addresses its host resolved to when checked.

    A delivery connects to ``addresses[0]`` itself (with ``Host`` and TLS server name from the
    URL), so a name that resolves elsewhere after the check (DNS rebinding) changes nothing.
    """

    url: str
    scheme: str
    host: str
    port: int
    target: str  # path and query
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def validate_webhook_url(url: str, allow_private: bool = False,
                         resolver: Callable[[str, int], Iterable[str]] = resolve_host) -> str:
    """Return ``url`` if the service may POST to it; raise InvalidWebhookURL otherwise.

    Only http and https, no credentials in the URL, and (unless ``allow_private``) no host that
    resolves to a loopback, private, link-local or reserved address: a webhook must not be a way
    to reach the service's own network.
    """
    if allow_private:
        # Registration of a private target (tests, single hosts): the name is resolved at delivery.
        resolver = _unresolved
    return resolve_webhook_target(url, allow_private, resolver).url


def _unresolved(host: str, port: int) -> list[str]:
    return [host]


def resolve_webhook_target(url: str, allow_private: bool = False,
                           resolver: Callable[[str, int], Iterable[str]] = resolve_host) -> WebhookTarget:
    """Check ``url`` (see :func:`validate_webhook_url`) and resolve its host once: the checked target."""
    if url is not None and not isinstance(url, str):
        raise InvalidWebhookURL(f"url must be a string, got {type(url).__name__}")
    if not isinstance(url, str) or not url.strip():
        raise InvalidWebhookURL("url is required")
    if len(url) > 2048:
        raise InvalidWebhookURL("url is longer than 2048 characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url.strip()):
        # No POST could carry it (http.client refuses them): every delivery would fail.
        raise InvalidWebhookURL("url must not contain spaces or control characters (percent-encode them)")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise InvalidWebhookURL(f"scheme must be http or https, got {parts.scheme or 'none'!r}")
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhookURL("credentials in the URL are not accepted; use the signing secret")
    host = parts.hostname
    if not host:
        raise InvalidWebhookURL("url has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidWebhookURL("url has an invalid port") from None
    try:
        addresses = list(resolver(host, port))
    except OSError as exc:
        raise InvalidWebhookURL(f"host {host!r} does not resolve: {exc}") from None
    if not addresses:
        raise InvalidWebhookURL(f"host {host!r} does not resolve")
    for text in addresses:
        why = None if allow_private else _refused_address(ipaddress.ip_address(text.split("%", 1)[0]))
        if why:
            raise InvalidWebhookURL(
                f"host {host!r} resolves to a {why} address ({text}); set webhook_allow_private "
                "to deliver to such addresses")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return WebhookTarget(url.strip(), parts.scheme, host, port, target, tuple(addresses))


# -- signatures --------------------------------------------------------------------------------

def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-Discovery-Signature`` value for ``body``: ``t=<unix>,v1=<hex>``."""
    t = int(time.time() if timestamp is None else timestamp)
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, tolerance: float = SIGNATURE_TOLERANCE,
                     now: float | None = None) -> bool:
    """True if ``header`` signs exactly ``body`` with ``secret`` and its time is within ``tolerance``."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        t = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


# -- retries -----------------------------------------------------------------------------------

def backoff_delay(attempt: int, base: float, maximum: float, rng: Callable[[], float] = random.random) -> float:
    """Seconds before retry number ``attempt`` (1 = first retry): "full jitter" exponential backoff.

    A random point in [base·2^(n-1)/2, base·2^(n-1)], capped at ``maximum``: half the window is
    kept so retries never come back-to-back, and the random half spreads many failing webhooks
    so they do not retry in lockstep.
    """
    window = min(maximum, base * (2 ** max(0, attempt - 1)))
    return window / 2 + rng() * window / 2


# -- batches -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Delivery:
    """One signed POST: the body, its headers, and the events (ids) it carries."""

    delivery_id: str
    subscription_id: str
    attempt: int
    body: bytes
    headers: Mapping[str, str]
    event_ids: tuple[int, ...]
    # The cursor to acknowledge once the receiver answers 2xx (the last event scanned, which may
    # be past the last event sent when the filter skipped some).
    ack_to: int


def build_delivery(subscription_id: str, secret: str, events: Sequence[StoredEvent], ack_to: int,
                   attempt: int = 1, delivery_id: str | None = None, timestamp: int | None = None,
                   missed: int = 0, missed_after: int = 0) -> Delivery:
    """The signed POST that carries ``events`` to one subscription.

    ``missed``: how many events after the cursor ``missed_after`` retention deleted before this
    delivery's scan began; the body then says so (``missed``, ``missed_after``, ``oldest_event_id``).
    """
    delivery_id = delivery_id or uuid.uuid4().hex
    payload: dict[str, object] = {"subscription": subscription_id, "delivery": delivery_id,
                                  "events": [e.wire_dict() for e in events]}
    if missed > 0:
        payload.update(missed=missed, missed_after=missed_after, oldest_event_id=missed_after + missed + 1)
    body = dumps(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(secret, body, timestamp),
        DELIVERY_HEADER: delivery_id,
        SUBSCRIPTION_HEADER: subscription_id,
        ATTEMPT_HEADER: str(attempt),
        EVENT_IDS_HEADER: ",".join(str(e.id) for e in events),
    }
    return Delivery(delivery_id, subscription_id, attempt, body, headers, tuple(e.id for e in events), ack_to)


def select_batch(pages: Iterable[Sequence[StoredEvent]], matches: Callable[[StoredEvent], bool],
                 max_batch: int) -> tuple[list[StoredEvent], int | None]:
    """The next batch from pages of the feed after a cursor: (matching events, cursor to ack).

    The cursor is the last event looked at, so events the filter skips are acknowledged with
    the batch; None when the pages held nothing at all.
    """
    batch: list[StoredEvent] = []
    scanned: int | None = None
    for page in pages:
        for event in page:
            scanned = event.id
            if matches(event):
                batch.append(event)
                if len(batch) >= max_batch:
                    return batch, scanned
    return batch, scanned
