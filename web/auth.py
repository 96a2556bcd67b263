"""Who may do what over HTTP: the admin token for every mutation, an optional read token for reads.

- A mutating request (any method but GET, HEAD, OPTIONS) and every webhook route need
  ``Authorization: Bearer <admin token>``. With no admin token configured they are accepted from
  loopback clients only (start-up says so once).
- With a read token configured, every read needs it (or the admin token); ``/healthz`` and
  ``/readyz`` stay open for probes, the dashboard's page and files (``/``, ``/ui/...``) for
  browsers, and ``/openapi.json`` and ``/docs`` for readers of the API.

Tokens are compared in constant time and never logged. The rules are plain functions of the
method, path, remote address and header, so the Flask app and the native event stream route
share them.
"""
from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Reads that reveal what only an admin should see (webhook URLs, delivery logs).
ADMIN_PREFIXES = ("/api/v1/subscriptions",)
# Probes answer without a token: they show nothing but liveness. So do the dashboard's page and
# static files (web/dashboard.py) and the API's description and its page (web/apidocs.py): they
# hold no data, and a browser cannot send a bearer token when it loads a page (the dashboard asks
# the API with the token entered in it).
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/", "/openapi.json", "/docs"})
OPEN_PREFIXES = ("/ui/", "/docs/")
CHALLENGE = 'Bearer realm="discovery"'
# Headers a reverse proxy, load balancer or tunnel adds when it passes a request on: a request
# that carries one came from the proxy's client, not from this host, whatever its socket says.
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-IP",
                      "X-Client-IP", "True-Client-IP", "CF-Connecting-IP", "Via", "X-Forwarded",
                      "X-Forwarded-Server", "X-Original-Forwarded-For", "X-Cluster-Client-IP", "Fastly-Client-IP",
                      "X-Envoy-External-Address", "Client-IP", "X-Forwarded-Port", "X-Original-URL")


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: HTTP status, error code and message."""

    status: int
    code: str
    message: str

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": CHALLENGE} if self.status == 401 else {}


def is_loopback(address: Optional[str]) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback; False for anything else or nothing."""
    if not address:
        return False
    try:
        addr = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


def bearer(header: Optional[str]) -> Optional[str]:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _, token = (header or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def same_token(given: Optional[str], expected: Optional[str]) -> bool:
    """Constant-time comparison; False when either side is missing."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def same_origin(origin: Optional[str], host: Optional[str]) -> bool:
    """Whether a browser's ``Origin`` names the service itself (the request's ``Host``); True when
    the request has no Origin (curl, the CLI, another service)."""
    if origin is None:
        return True
    parts = urlsplit(origin.strip())
    return bool(host) and parts.scheme in ("http", "https") and parts.netloc.lower() == host.strip().lower()


def loopback_host(host: Optional[str]) -> bool:
    """Whether a ``Host`` header names this machine's loopback: ``localhost`` (or a name under
    ``.localhost``, either written fully qualified with a final dot) or a loopback address, with
    or without a port."""
    if not host:
        return False
    name = urlsplit("//" + host.strip()).hostname or ""
    if name.endswith(".") and not name.endswith(".."):
        name = name[:-1]  # a fully qualified name: 'localhost.' is localhost
    if name == "localhost" or name.endswith(".localhost"):
        return True
    return is_loopback(name)


def forwarded_by(headers) -> Optional[str]:
    """The first header of :data:`FORWARDING_HEADERS` a request carries (any case), or None."""
    for name in FORWARDING_HEADERS:
        if headers.get(name) is not None:
            return name
    return None


def check_access(method: str, path: str, remote_addr: Optional[str], authorization: Optional[str],
                 admin_token: Optional[str], read_token: Optional[str], origin: Optional[str] = None,
                 host: Optional[str] = None, forwarded: Optional[str] = None) -> Optional[Refusal]:
    """None if the request may go on; otherwise the refusal to answer with.

    ``forwarded`` names the forwarding header the request carries (:func:`forwarded_by`): without
    an admin token, a change passed on by a proxy on this host is refused, since its socket is
    loopback but its sender is the proxy's client, anywhere. (A proxy that adds no such header
    cannot be told from a local client: behind one, set an admin token.)

    Without an admin token a change is accepted from loopback, but not from a page of another
    origin in a browser there (``Origin`` and ``Host`` differ): such a page can send a POST without
    asking first, and loopback alone would let it through. Nor when ``Host`` is not a loopback
    name: a page whose own name was made to resolve to 127.0.0.1 (DNS rebinding) sends its name in
    both ``Origin`` and ``Host``, so the two agree and only the name gives it away.
    """
    given = bearer(authorization)
    is_admin = same_token(given, admin_token)
    needs_admin = method.upper() not in SAFE_METHODS or path.startswith(ADMIN_PREFIXES)
    if needs_admin:
        if is_admin:
            return None
        if not admin_token:
            if is_loopback(remote_addr) and forwarded:
                return Refusal(403, "forbidden", f"a change passed on by a proxy ({forwarded} header) is refused: with "
                                                 "no admin token, changes are accepted only from clients on the "
                                                 "service's own host, and a proxy's clients may be anywhere; set "
                                                 "DISCOVERY_ADMIN_TOKEN to allow changes through it")
            if is_loopback(remote_addr) and host and not loopback_host(host):
                return Refusal(403, "forbidden", f"a change addressed to {host[:100]!r} is refused: with no admin token, "
                                                 "changes are accepted only when addressed to the service's own "
                                                 "loopback name (localhost, 127.0.0.1 or [::1])")
            if is_loopback(remote_addr) and same_origin(origin, host):
                return None
            if is_loopback(remote_addr):
                return Refusal(403, "forbidden", f"a change sent by a page of another origin ({origin}) is refused: "
                                                 "with no admin token, changes are accepted only from the "
                                                 "service's own host, and not from other sites' pages in a browser")
            return Refusal(403, "forbidden", "no admin token is configured, so changes are accepted only from "
                                             "the service's own host; set DISCOVERY_ADMIN_TOKEN to allow them "
                                             "from elsewhere")
        if same_token(given, read_token):
            if method.upper() in SAFE_METHODS:
                return Refusal(403, "forbidden", "the read token does not show webhook subscriptions (their URLs "
                                                 "and delivery logs are the admin's); this needs the admin token")
            return Refusal(403, "forbidden", "the read token cannot change anything; this needs the admin token")
        if given:
            return Refusal(401, "unauthorized", "the token sent is not the admin token, which this needs")
        return Refusal(401, "unauthorized", "this needs the admin token: send 'Authorization: Bearer <token>'")
    if not read_token or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES) or is_admin \
            or same_token(given, read_token):
        return None
    if given:
        return Refusal(401, "unauthorized", "the token sent is neither the read token nor the admin token")
    return Refusal(401, "unauthorized", "reads need the read token: send 'Authorization: Bearer <token>'")


def startup_notice(admin_token: Optional[str]) -> Optional[str]:
    """The one line start-up logs about mutations, or None when an admin token is set."""
    if admin_token:
        return None
    return ("no admin token configured (DISCOVERY_ADMIN_TOKEN): refreshes, webhooks and every other change "
            "are accepted only from loopback clients, and not through a proxy that says it forwarded them; "
            "behind a reverse proxy or tunnel on this host, set an admin token")
