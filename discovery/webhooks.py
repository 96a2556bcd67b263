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


class InvalidWebhookURL(ValueError):
    """A webhook URL the service will not deliver to, and why."""


def _refused_address(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address is not a public destination, or None if it is."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.is_loopback:
        return "loopback"
    if addr.is_link_local:
        return "link-local"
    if addr.is_unspecified or addr.is_multicast or addr.is_reserved:
        return "reserved"
    if addr.is_private or (isinstance(addr, ipaddress.IPv4Address) and addr in _SHARED_NET):
        return "private"
    return None


_SHARED_NET = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT: not reachable publicly either


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IP literals resolve to themselves)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


def validate_webhook_url(url: str, allow_private: bool = False,
                         resolver: Callable[[str, int], Iterable[str]] = resolve_host) -> str:
    """Return ``url`` if the service may POST to it; raise InvalidWebhookURL otherwise.

    Only http and https, no credentials in the URL, and (unless ``allow_private``) no host that
    resolves to a loopback, private, link-local or reserved address: a webhook must not be a way
    to reach the service's own network.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidWebhookURL("url is required")
    if len(url) > 2048:
        raise InvalidWebhookURL("url is longer than 2048 characters")
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
    if allow_private:
        return url.strip()
    try:
        addresses = list(resolver(host, port))
    except OSError as exc:
        raise InvalidWebhookURL(f"host {host!r} does not resolve: {exc}") from None
    if not addresses:
        raise InvalidWebhookURL(f"host {host!r} does not resolve")
    for text in addresses:
        why = _refused_address(ipaddress.ip_address(text.split("%", 1)[0]))
        if why:
            raise InvalidWebhookURL(
                f"host {host!r} resolves to a {why} address ({text}); set webhook_allow_private "
                "to deliver to such addresses")
    return url.strip()


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
                   attempt: int = 1, delivery_id: str | None = None, timestamp: int | None = None) -> Delivery:
    """The signed POST that carries ``events`` to one subscription."""
    delivery_id = delivery_id or uuid.uuid4().hex
    payload = {"subscription": subscription_id, "delivery": delivery_id,
               "events": [e.to_dict() for e in events]}
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
