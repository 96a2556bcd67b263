"""Liveness and readiness."""
from __future__ import annotations

from flask import Blueprint, jsonify

from web.context import service

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """200 while the process serves requests; the catalog size and version (with a read token set,
    to a request that carries it)."""
    if not _may_read():
        return jsonify({"status": "ok"})
    index = service().index
    return jsonify({"status": "ok", "models": len(index), "catalog_version": index.version})


@bp.get("/readyz")
def readyz():
    """200 once the service is ready: the last committed catalog is loaded and (unless
    refresh_on_start is off) one refresh round has been attempted since start: every enabled
    provider's and watched Bedrock region's first refresh has finished, succeeded or failed, or
    the supervisor has given up on its actor (``given_up``, read from the supervisor now: such a
    source will not refresh again before a restart, so waiting for it would never end); 503
    before, saying what is pending. An empty catalog after that round is ready too: it is what
    the providers answered.

    With a read token set, a probe without it (or the admin token) gets ``ready`` alone: the
    sources' names, counts and the instance are data like any other read.
    """
    body, status = _readiness()
    if not _may_read():
        body = {"ready": body["ready"]}
    return jsonify(body), status


def _may_read() -> bool:
    """Whether this request may read the service's data, by the rule of every other read (no read
    token set, or it carries one)."""
    from flask import request

    from web.auth import check_access

    settings = service().settings
    return check_access("GET", "/api/v1/models", request.remote_addr, request.headers.get("Authorization"),
                        settings.admin_token, settings.read_token) is None


def _readiness() -> tuple[dict, int]:
    svc = service()
    loaded = svc.view.ready.is_set()
    role = svc.replication_status()
    role.pop("replication", None)
    if svc.role == "follower":
        # A follower discovers nothing itself: ready once its index is loaded and it follows the
        # leader's commits (connected to the database's notifications).
        follower = svc.follower_connected()
        ready = loaded and follower
        body = {"ready": ready, "catalog_loaded": loaded, "models": len(svc.index), "following": follower,
                **role}
        return body, (200 if ready else 503)
    started = svc.started_at or 0
    rows = {**svc.view.provider_rows, **{r["source"]: r for r in svc.bedrock_regions()}}
    names = svc.source_names()

    def since_start(name: str, field: str) -> bool:
        return (rows.get(name, {}).get(field) or 0) >= started

    attempted = [n for n in names if since_start(n, "last_refresh_at")]
    # The live state, not a stored "failed" status: that may be a previous process's, and a region's
    # row is its board status, which never says so.
    waiting = [n for n in names if n not in attempted]
    given_up = [n for n in svc.given_up_sources() if n in waiting] if waiting else []
    # Without refresh_on_start the stored catalog is what is served until each timer comes due:
    # there is no round to wait for.
    pending = [n for n in waiting if n not in given_up] if svc.settings.refresh_on_start else []
    ready = loaded and not pending
    body = {"ready": ready, "catalog_loaded": loaded, "models": len(svc.index), "providers": len(names),
            "attempted": attempted, "refreshed_since_start": [n for n in names if since_start(n, "last_success_at")],
            "given_up": given_up, "pending": pending, **role}
    return body, (200 if ready else 503)
