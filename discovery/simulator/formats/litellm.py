"""LiteLLM's model map, ``model_prices_and_context_window.json``, as GitHub's raw host serves it.

The records are the map's entries keyed by model name (``sample_spec`` included, as published);
entries have no name field of their own, so ``add_model`` needs ``model_id=``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint

from discovery.simulator.formats.wire import WireFormat, json_response, served_items
from discovery.simulator.sources import packaged_litellm

PROVIDER = "litellm"

blueprint = Blueprint(PROVIDER, __name__)


def record_id(record: Mapping[str, Any]) -> str:
    """LiteLLM entries are keyed from outside; there is nothing in one to name it."""
    raise ValueError("a LiteLLM entry has no name of its own: pass model_id (admin: ?id=)")


@blueprint.get("/model_prices_and_context_window.json")
def model_map():
    """The whole map (``{}`` while an "empty" fault is armed)."""
    # raw.githubusercontent.com serves JSON files as text/plain.
    resp = json_response(dict(served_items(PROVIDER)))
    resp.mimetype = "text/plain"
    return resp


FORMAT = WireFormat(
    provider=PROVIDER, url_prefix="/litellm", blueprint=blueprint, default_records=packaged_litellm,
    record_id=record_id, error_body=lambda status, kind, message: {"message": message},
)
