"""/api/v1/status: the catalog's size and version, and the model-record cache's statistics."""
from __future__ import annotations

import resource
from typing import Any

from flask import Blueprint, jsonify

from discovery.timestamps import iso
from web.context import service

bp = Blueprint("status", __name__, url_prefix="/api/v1")


def _rss_bytes() -> dict[str, int | None]:
    """This process's resident memory now and at its peak (Linux /proc; None elsewhere)."""
    out: dict[str, int | None] = {"rss_bytes": None, "peak_rss_bytes": None}
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    out["rss_bytes"] = int(line.split()[1]) * 1024
                elif line.startswith("VmHWM:"):
                    out["peak_rss_bytes"] = int(line.split()[1]) * 1024
    except OSError:
        out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


_benchmarked: tuple = (None, None)  # (the settings, what _benchmarking made of them): once per settings


def _benchmarking(settings) -> dict:
    global _benchmarked
    from actors.benchmark import benchmark_targets

    if _benchmarked[0] is not settings:
        sources = [source for source, _, _, _ in benchmark_targets(settings)]
        _benchmarked = (settings, {"enabled": bool(sources), "sources": sources})
    return dict(_benchmarked[1])


def _store(failure: tuple[float, str] | None) -> dict[str, Any]:
    return {"ok": failure is None, "failed_at": iso(failure[0]) if failure else None,
            "error": failure[1] if failure else None}


@bp.get("/status")
def status():
    """The published catalog (models, version, when it was published), the model-record cache
    (hits, misses, entries, evictions, bytes, hit rate), the same for the cache of finished list
    pages (``page_cache``), the cache of past catalogs built for ``as_of`` (``history_cache``),
    this process's memory, and its role:
    ``leader`` or ``follower``, the leader (instance, epoch, since), a follower's lag and the
    replication counters (docs/replicas.md)."""
    svc = service()
    index = svc.index
    return jsonify({
        "catalog": {"models": len(index), "version": index.version, "providers": len(index.providers()),
                    "published_at": iso(index.built_at), "last_event_id": svc.view.last_event_id},
        "cache": svc.cache_stats(),
        "page_cache": svc.view.pages.stats(),
        "history_cache": svc.history_cache_stats(),
        # Whether this service measures models, and which sources (the dashboard shows its
        # benchmark controls by it): records carry "performance" either way.
        "benchmarks": _benchmarking(svc.settings),
        # The database's refusal of the last commit, until one succeeds (disk full, connection lost).
        "store": _store(svc.view.store_failure),
        "process": _rss_bytes(),
        **svc.replication_status(),
    })
