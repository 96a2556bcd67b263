"""``/_admin/``: the SimulatorState API as JSON over HTTP, for driving a simulator out of process.

Every route answers JSON; bad input is a 400 ``{"error": "..."}`` saying what was wrong, an unknown
provider or model a 404.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from discovery.simulator.state import SimulatorState, UnknownProvider

blueprint = Blueprint("_admin", __name__, url_prefix="/_admin")


class AdminInputError(ValueError):
    """The admin request's body or parameters are not usable."""


def _state() -> SimulatorState:
    return current_app.extensions["simulator_state"]


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), status


@blueprint.errorhandler(AdminInputError)
@blueprint.errorhandler(ValueError)
@blueprint.errorhandler(TypeError)
def _bad_input(exc: Exception):
    return _error(400, str(exc))


@blueprint.errorhandler(UnknownProvider)
@blueprint.errorhandler(KeyError)
def _not_found(exc: KeyError):
    return _error(404, str(exc.args[0]) if exc.args else "not found")


def _body(expect: type = dict) -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise AdminInputError("the request body must be JSON")
    if not isinstance(body, expect):
        raise AdminInputError(f"the request body must be a JSON {'object' if expect is dict else 'array or object'}")
    return body


@blueprint.get("/")
def overview():
    """Every provider with its model count, faults and knobs."""
    state = _state()
    return jsonify({name: {"models": len(state.model_items(name)), "faults": state.faults(name),
                           "latency": state.latency(name), "page_size": state.page_size(name),
                           "stream": state.stream(name),
                           "requests": state.request_count(name),
                           "expects_key": state.expected_key(name) is not None}
                    for name in state.providers})


@blueprint.post("/reset")
def reset():
    """Back to defaults. :return: ``{"ok": true}``"""
    _state().reset()
    return jsonify({"ok": True})


@blueprint.get("/<provider>/models")
def list_models(provider: str):
    """The provider's wire records. :raise 404: unknown provider."""
    return jsonify(_state().models(provider))


@blueprint.put("/<provider>/models")
def replace_models(provider: str):
    """Replace the model set with a JSON array of records or an object id -> record."""
    body = _body((list, dict))
    _state().set_models(provider, body)
    return jsonify({"ok": True, "count": len(_state().model_items(provider))})


@blueprint.post("/<provider>/models")
def add_model(provider: str):
    """Add one record (``?id=`` for formats keyed from outside the record, like LiteLLM)."""
    model_id = _state().add_model(provider, _body(), model_id=request.args.get("id"))
    return jsonify({"ok": True, "id": model_id}), 201


@blueprint.delete("/<provider>/models/<path:model_id>")
def remove_model(provider: str, model_id: str):
    """Remove one model. :raise 404: no such model."""
    _state().remove_model(provider, model_id)
    return jsonify({"ok": True})


@blueprint.patch("/<provider>/models/<path:model_id>")
def update_model(provider: str, model_id: str):
    """Deep-merge the body into one record; ``{"__remove__": true}`` as a value deletes a key."""
    return jsonify(_state().update_model(provider, model_id, _body()))


@blueprint.get("/<provider>/fault")
def list_faults(provider: str):
    """The provider's armed faults."""
    return jsonify(_state().faults(provider))


@blueprint.post("/<provider>/fault")
def set_fault(provider: str):
    """Arm a fault: ``{"kind": "status", "status": 500, "times": 2}``."""
    body = dict(_body())
    kind = body.pop("kind", None)
    if not isinstance(kind, str):
        raise AdminInputError("a fault needs a 'kind'")
    _state().set_fault(provider, kind, **body)
    return jsonify({"ok": True, "faults": _state().faults(provider)})


@blueprint.delete("/<provider>/fault")
def clear_faults(provider: str):
    """Disarm the provider's faults (``?kind=`` for one kind only)."""
    _state().clear_faults(provider, request.args.get("kind"))
    return jsonify({"ok": True})


@blueprint.delete("/fault")
def clear_all_faults():
    """Disarm every provider's faults."""
    _state().clear_faults()
    return jsonify({"ok": True})


def _number_field(name: str) -> Any:
    body = _body()
    if name not in body:
        raise AdminInputError(f"the body needs {name!r}")
    return body[name]


@blueprint.post("/<provider>/latency")
def set_latency(provider: str):
    """Delay every answer: ``{"seconds": 0.5}``."""
    _state().set_latency(provider, _number_field("seconds"))
    return jsonify({"ok": True})


@blueprint.get("/<provider>/stream")
def stream_settings(provider: str):
    """How the provider streams chat answers: ttft, tokens_per_second, output_tokens, thinking_tokens, usage."""
    return jsonify(_state().stream(provider))


@blueprint.post("/<provider>/stream")
def set_stream(provider: str):
    """Change the stream knobs: ``{"ttft": 0.3, "tokens_per_second": 50, "usage": false}``."""
    return jsonify({"ok": True, "stream": _state().set_stream(provider, **_body())})


@blueprint.post("/<provider>/page_size")
def set_page_size(provider: str):
    """Cap pages: ``{"page_size": 5}`` (null: the format's default)."""
    _state().set_page_size(provider, _number_field("page_size"))
    return jsonify({"ok": True})


@blueprint.post("/<provider>/key")
def set_expected_key(provider: str):
    """Require an API key: ``{"key": "sk-test"}`` (null: accept any)."""
    key = _number_field("key")
    if key is not None and not isinstance(key, str):
        raise AdminInputError("'key' must be a string or null")
    _state().set_expected_key(provider, key)
    return jsonify({"ok": True})


@blueprint.post("/<provider>/option")
def set_option(provider: str):
    """Set a format switch: ``{"name": "tags_capabilities", "value": false}``."""
    body = _body()
    if not isinstance(body.get("name"), str) or "value" not in body:
        raise AdminInputError("the body needs 'name' and 'value'")
    _state().set_option(provider, body["name"], body["value"])
    return jsonify({"ok": True})


@blueprint.get("/<provider>/requests")
def request_log(provider: str):
    """``{"count": N, "requests": [...]}``: recent requests, credentials' names only."""
    state = _state()
    return jsonify({"count": state.request_count(provider), "requests": state.requests(provider)})
