"""/api/v1/bedrock: watched regions, and where each Bedrock model can be called, best region first."""
from __future__ import annotations

from flask import Blueprint, jsonify

from discovery.bedrock import REGION_NAME, UnknownBedrockModel
from discovery.timestamps import iso
from web.context import service
from web.errors import ApiError
from web.parameters import values

bp = Blueprint("bedrock", __name__, url_prefix="/api/v1/bedrock")
MAX_PREFERRED = 50


def _preferred() -> tuple[str, ...]:
    """The ``preferred`` query parameter: a comma list of AWS region names, in order."""
    regions = tuple(values("preferred"))
    bad = [r for r in regions if not REGION_NAME.match(r)]
    if bad:
        raise ApiError(400, "invalid_parameter", f"preferred: not AWS region names: {', '.join(bad)}")
    if len(regions) > MAX_PREFERRED:
        raise ApiError(400, "invalid_parameter", f"preferred: at most {MAX_PREFERRED} regions")
    return regions


def _model_id(model_id: str) -> str:
    """The canonical id of the Bedrock model asked about (a profile id resolves to its model)."""
    try:
        return service().bedrock_model(model_id).id
    except UnknownBedrockModel:
        raise ApiError(404, "model_not_found", f"no Bedrock model {model_id!r} in the catalog") from None


@bp.get("/regions")
def regions():
    """Every watched region: status, reason, latency EWMA (ms), model count, last error, breaker.

    ``enabled`` is false (and ``data`` empty) when Bedrock discovery is off. A follower answers
    with the leader's regions (it watches none itself).
    """
    svc = service()
    enabled = svc.bedrock_board is not None or (svc.role == "follower" and svc.settings.bedrock.enabled)
    return jsonify({"enabled": enabled, "data": svc.bedrock_regions()})


@bp.get("/models/<path:model_id>/regions")
def model_regions(model_id: str):
    """The regions the model is available in (directly or through an inference profile), by name.

    ``model_id`` is ``bedrock/<modelId>``, the bare model id, or an inference profile id.
    :raise 404: no such Bedrock model.
    """
    canonical = _model_id(model_id)
    svc = service()
    statuses = svc.region_statuses()  # a follower's, asked of the leader
    return jsonify({"model_id": canonical, "regions": svc.model_regions(canonical, statuses or {}),
                    **_health_unknown(statuses)})


def _health_unknown(statuses) -> dict:
    """What a follower's answer says when its leader did not answer for the regions' health."""
    if statuses is not None:
        return {}
    return {"regions_health": "unknown: the leader did not answer for the Bedrock regions' health; "
                              "their status and latency are null, ranked by measured TTFT alone"}


@bp.get("/models/<path:model_id>/best-regions")
def best_regions(model_id: str):
    """The model's regions best first: ``preferred`` (comma list) in the given order, then by the
    model's measured TTFT (``ttft_ms``) where it was benchmarked, then by control-plane latency.

    Preferred regions where the model is not available are listed in ``preferred_unavailable``.
    :raise 400: ``preferred`` holds something that is not an AWS region name.
    :raise 404: no such Bedrock model.
    """
    preferred = _preferred()
    canonical = _model_id(model_id)
    svc = service()
    statuses = svc.region_statuses()  # once: a follower asks the leader for them
    rows = {row["region"]: row for row in svc.model_regions(canonical, statuses or {})}
    ranked = svc.best_regions_for_model(canonical, preferred, statuses or {})
    measured = svc.view.performance.region_ttft(canonical)
    failing = svc.view.performance.region_failures(canonical)
    for region, row in rows.items():
        # A region whose newest benchmark kept no sample ranks as unmeasured; its last TTFT is shown
        # with when and why it failed since.
        since = failing.get(region)
        row["ttft_ms"] = measured.get(region) if since is None else since.ttft_ms
        row["benchmark_failed_at"] = iso(since.failed_at) if since is not None else None
        row["benchmark_error"] = since.last_error if since is not None else None
    return jsonify({
        "model_id": canonical,
        "preferred": list(preferred),
        "preferred_unavailable": [r for r in preferred if r not in rows],
        "regions": [{"rank": i, **rows[r], "preferred": r in preferred} for i, r in enumerate(ranked, 1) if r in rows],
        **_health_unknown(statuses),
    })

