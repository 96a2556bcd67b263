"""models.dev ``GET /api.json``: one object keyed by provider id, each with its ``models``.

The simulator's records are the provider objects themselves (keyed by provider id), so the served
document is exactly the model set, and a test edits one catalog model with a deep merge:
``state.update_model("modelsdev", "openai", {"models": {"gpt-4o": {"tool_call": False}}})``.
"""
from __future__ import annotations

from flask import Blueprint

from discovery.simulator.formats.wire import WireFormat, json_response, served_items
from discovery.simulator.sources import packaged_modelsdev

blueprint = Blueprint("modelsdev", __name__)


@blueprint.get("/api.json")
def api_json():
    """The whole catalog document (``{}`` while an "empty" fault is armed)."""
    return json_response({key: record for key, record in served_items("modelsdev")},
                         headers={"Cache-Control": "public, max-age=300"})


FORMAT = WireFormat(
    provider="modelsdev", url_prefix="/modelsdev", blueprint=blueprint,
    default_records=packaged_modelsdev,
    # models.dev needs no key; its CDN's errors are plain JSON messages.
    error_body=lambda status, kind, message: {"error": message},
)
