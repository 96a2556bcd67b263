"""Webhook subscriptions: register, list, inspect, delete, pause, resume and replay (admin token).

Every route needs ``Authorization: Bearer <token>`` with the token from ``DISCOVERY_ADMIN_TOKEN``
(without a configured token: loopback clients only; see :mod:`web.auth`). A subscription's
secret is never shown again after the create answer (and only there if the service generated it).
"""
from __future__ import annotations

import json
import math
from typing import Any

from flask import Blueprint, g, jsonify, request, url_for

from actors.webhooks import UnknownWebhook
from discovery.limits import text_problem
from discovery.redaction import REDACTOR
from discovery.webhooks import InvalidWebhookURL
from web.context import int_arg, no_body, service
from web.errors import ApiError
from web.parameters import check_providers

bp = Blueprint("subscriptions", __name__, url_prefix="/api/v1/subscriptions")

_CREATE_FIELDS = {"url", "secret", "kinds", "providers", "capabilities", "model_glob", "max_batch", "max_delay",
                  "description", "since"}


def _body() -> dict[str, Any]:
    """The JSON object sent. Another Content-Type is a 415 that says so: ``curl -d`` sends a form's,
    and the body read as a form was empty, so the answer said the url was missing. (Reading it as
    JSON anyway would let another site's page send one without asking first.)"""
    data = request.get_data(cache=True)
    if not data.strip():
        return {}
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type",
                       f"the body must be JSON, sent with Content-Type: application/json (it came as "
                       f"{request.mimetype or 'no type'}; with curl, add -H 'Content-Type: application/json')")
    try:
        body = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_body", f"the body must be a JSON object; it is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", f"the body must be a JSON object, not {type(body).__name__}")
    return body


# A filter list's names: each once, and no more than this many (every event kind, provider and
# capability there is fits; 100,000 "added" made a stored subscription of 800 KB).
MAX_NAMES = 256


def _names(body: dict[str, Any], key: str) -> tuple[str, ...]:
    """A list of names from the body (null or absent: none), each once, in order."""
    value = body.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, "invalid_body", f"{key} must be a list of strings")
    names = tuple(dict.fromkeys(v.strip() for v in value if v.strip()))
    if len(names) > MAX_NAMES:
        raise ApiError(400, "invalid_body", f"{key} holds {len(names)} different names; at most {MAX_NAMES}")
    return names


# Event ids and counts fit the store's 64-bit integers with room to spare.
MAX_ID = 2**62


def _number(body: dict[str, Any], key: str, default: Any, kind: type, lo: float = 0, hi: float = MAX_ID) -> Any:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or (kind is int and value != int(value)):
        raise ApiError(400, "invalid_body", f"{key} must be a {'whole ' if kind is int else ''}number")
    if value < lo:
        raise ApiError(400, "invalid_subscription", f"{key} must be at least {lo:g}, got {value!r}")
    if value > hi:
        raise ApiError(400, "invalid_subscription", f"{key} must be at most {hi:g}, got {value!r}")
    return kind(value)


def _check_since(since: Any) -> None:
    """A ``since`` past the newest event would hold every delivery back until the feed got there."""
    if since is None:
        return
    newest = service().last_event_id()
    if since > newest:
        raise ApiError(400, "invalid_subscription",
                       f"since {since} is after the newest event ({newest}): nothing would be delivered until "
                       "the feed got there; leave since out to start from now")


def _get(webhook_id: str) -> dict[str, Any]:
    found = service().webhooks.get(webhook_id)
    if found is None:
        raise ApiError(404, "subscription_not_found", f"no subscription {webhook_id!r}")
    return found


@bp.post("")
def create():
    """Register a webhook: 201 with the subscription (and ``secret`` once, if the service made it).

    Body: ``url`` (required), ``secret`` (16-256 characters; generated when absent), ``kinds``,
    ``providers``, ``capabilities``, ``model_glob``, ``max_batch`` (1–1000), ``max_delay``
    (seconds), ``description``, ``since`` (deliver events after this id; default: from now).

    :raise 400: invalid URL (scheme, or a private address not allowed), filter or field; an unknown
        provider (the answer names the known ones); ``since`` after the newest event.
    """
    body = _body()
    unknown = sorted(set(body) - _CREATE_FIELDS)
    if unknown:
        raise ApiError(400, "invalid_body", f"unknown field {', '.join(unknown)}; known: "
                       f"{', '.join(sorted(_CREATE_FIELDS))}")
    secret = body.get("secret")
    if secret is not None and not isinstance(secret, str):
        raise ApiError(400, "invalid_body", "secret must be a string")
    glob = body.get("model_glob")
    if glob is not None and not isinstance(glob, str):
        raise ApiError(400, "invalid_body", "model_glob must be a string")
    description = body.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 1000):
        raise ApiError(400, "invalid_body", "description must be a string of at most 1000 characters")
    if glob is not None and len(glob) > 512:
        raise ApiError(400, "invalid_body", "model_glob must be at most 512 characters")
    # As in ids and names (discovery.limits): no NUL (PostgreSQL refuses it), no terminal escape,
    # no character that reverses what follows it on a screen.
    for field, value, limit in (("description", description, 1000), ("model_glob", glob, 512)):
        problem = text_problem(value, field, limit)
        if problem is not None:
            raise ApiError(400, "invalid_body", problem)
    # Stored as given and shown to every admin: a configured secret in one would be kept in the
    # database in the clear (and the create answer shows the body as stored).
    for field in ("url", "description", "model_glob"):
        value = body.get(field)
        if isinstance(value, str) and REDACTOR.scrub_known_text(value) != value:
            raise ApiError(400, "invalid_body", f"{field} holds a secret this service is configured with "
                           "(a key or token); it is not stored")
    since = _number(body, "since", None, int)
    _check_since(since)
    max_batch = _number(body, "max_batch", 100, int, 1, 1000)
    max_delay = _number(body, "max_delay", 0.0, float, 0, 3600)
    # The same filter as the feed and the stream: an unknown provider would match nothing, ever.
    check_providers(service(), _names(body, "providers"))
    try:
        created, generated = service().webhooks.create(
            body.get("url"), secret, _names(body, "kinds"), _names(body, "providers"),
            _names(body, "capabilities"), glob, max_batch, max_delay, description, since)
    except InvalidWebhookURL as exc:
        raise ApiError(400, "invalid_url", str(exc)) from None
    except ValueError as exc:
        raise ApiError(400, "invalid_subscription", str(exc)) from None
    if generated is not None:
        # Shown once, here: the one secret the redaction layer lets through (web/__init__.py).
        g.reveals_secret = generated
        created = {**created, "secret": generated}
    resp = jsonify(created)
    resp.status_code = 201
    resp.headers["Location"] = url_for("subscriptions.get", webhook_id=created["id"])
    return resp


@bp.get("")
def list_subscriptions():
    """Every subscription with its state, cursor and last error (never the secret)."""
    return jsonify({"data": service().webhooks.list_all()})


@bp.get("/<webhook_id>")
def get(webhook_id: str):
    """One subscription with ``pending_events`` and its newest ``deliveries``.

    :raise 404: no such subscription.
    """
    return jsonify(_get(webhook_id))


@bp.delete("/<webhook_id>")
def delete(webhook_id: str):
    """Delete a subscription (it stops holding events back from retention). 204.

    :raise 404: no such subscription.
    """
    if not service().webhooks.delete(webhook_id):
        raise ApiError(404, "subscription_not_found", f"no subscription {webhook_id!r}")
    return "", 204


def _act(action: str, webhook_id: str, *args: Any):
    try:
        return jsonify(getattr(service().webhooks, action)(webhook_id, *args))
    except UnknownWebhook:
        raise ApiError(404, "subscription_not_found", f"no subscription {webhook_id!r}") from None


@bp.post("/<webhook_id>/pause")
def pause(webhook_id: str):
    """Hold deliveries; events wait after the cursor. :raise 404: no such subscription."""
    no_body()
    return _act("pause", webhook_id)


@bp.post("/<webhook_id>/resume")
def resume(webhook_id: str):
    """Deliver again from the cursor. :raise 404: no such subscription."""
    no_body()
    return _act("resume", webhook_id)


@bp.post("/<webhook_id>/replay")
def replay(webhook_id: str):
    """Active again: from the cursor (e.g. out of dead letter) or, with ``since``, after that event id.

    ``since`` in the JSON body or the query string.

    :raise 400: ``since`` after the newest event.
    :raise 404: no such subscription.
    """
    body = _body()
    unknown = sorted(set(body) - {"since"})
    if unknown:  # {"sincee": 1} replayed from the cursor, a dead-lettered one made active
        raise ApiError(400, "invalid_body", f"unknown field {', '.join(unknown)}; known: since")
    since = _number(body, "since", None, int)
    if since is None and "since" in request.args:
        since = int_arg("since", 0, 0, MAX_ID)
    _check_since(since)
    return _act("replay", webhook_id, since)
