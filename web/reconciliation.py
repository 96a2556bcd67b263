"""/api/v1/reconciliation: where the catalogs and the providers' live lists disagree."""
from __future__ import annotations

import math

from flask import Blueprint, jsonify, request

from discovery.query import number
from discovery.reconcile import KINDS
from web.context import int_arg, service
from web.errors import ApiError
from web.parameters import check_providers, values

bp = Blueprint("reconciliation", __name__, url_prefix="/api/v1")


@bp.get("/reconciliation")
def reconciliation():
    """Per provider: stale catalog entries (the live list does not contain them), live models no
    catalog knows, field conflicts above the tolerance (both values and their sources) and models
    missing from their live list within the grace; counts first.

    Parameters: ``kind`` (stale, unknown, conflicts, missing; repeatable), ``provider``
    (repeatable), ``tolerance`` (a fraction, 0-10; default the ``reconciliation_tolerance``
    setting), ``limit`` (items per kind and provider, 0-10000, default 1000).
    """
    kinds = values("kind")
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise ApiError(400, "invalid_parameter", f"unknown kind {', '.join(bad)}; valid: {', '.join(KINDS)}")
    tolerance = None
    raw = request.args.get("tolerance")
    if raw is not None:
        try:
            tolerance = number(raw, float)
        except ValueError:
            raise ApiError(400, "invalid_parameter", f"tolerance must be a number, got {raw[:40]!r}") from None
        if not math.isfinite(tolerance) or not 0 <= tolerance <= 10:
            raise ApiError(400, "invalid_parameter", "tolerance must be between 0 and 10")
    svc = service()
    providers = values("provider")
    check_providers(svc, providers, regions=False)  # findings are per provider of models
    return jsonify(svc.reconciliation(kinds=kinds or KINDS, providers=providers, tolerance=tolerance,
                                      limit=int_arg("limit", 1000, 0, 10_000)))
