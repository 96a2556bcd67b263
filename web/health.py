"""Liveness and readiness."""
from __future__ import annotations

from flask import Blueprint, jsonify

from web.context import service

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """200 while the process serves requests; the catalog size and version."""
    index = service().index
    return jsonify({"status": "ok", "models": len(index), "catalog_version": index.version})


@bp.get("/readyz")
def readyz():
    """200 once the last committed catalog is loaded; 503 before. Lists providers refreshed since start."""
    svc = service()
    ready = svc.view.ready.is_set()
    started = svc.started_at or 0
    refreshed = [p["name"] for p in svc.providers() if (p.get("last_success_at") or 0) >= started]
    body = {"ready": ready, "models": len(svc.index), "refreshed_since_start": refreshed,
            "providers": len(svc.provider_names())}
    return jsonify(body), (200 if ready else 503)
