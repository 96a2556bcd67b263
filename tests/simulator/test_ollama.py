"""Ollama's /api/tags and /api/show, with and without the v0.30 fields in the tags."""
from __future__ import annotations


def tags(sim, http) -> list[dict]:
    return http.get(sim.base_url("ollama") + "/api/tags").json()["models"]


def show(sim, http, name: str):
    return http.post(sim.base_url("ollama") + "/api/show", json={"model": name, "verbose": False})


def test_ollama_tags_rows_have_the_real_fields(sim, http):
    rows = {r["name"]: r for r in tags(sim, http)}
    qwen = rows["qwen3:8b"]
    assert {"name", "model", "modified_at", "size", "digest", "details"} <= set(qwen)
    assert set(qwen["details"]) >= {"format", "family", "families", "parameter_size", "quantization_level"}
    assert "model_info" not in qwen and "template" not in qwen
    assert len(rows) == len(tags(sim, http))


def test_ollama_v030_tags_carry_capabilities_and_context_length(sim, http):
    rows = {r["name"]: r for r in tags(sim, http)}
    assert rows["qwen3:8b"]["capabilities"] == ["completion", "tools", "thinking"]
    assert rows["qwen3:8b"]["details"]["context_length"] == 40960
    assert "vision" in rows["llava:7b"]["capabilities"]
    assert rows["nomic-embed-text:latest"]["capabilities"] == ["embedding"]
    assert rows["gpt-oss:120b"]["remote_host"].startswith("https://ollama.com")


def test_ollama_older_server_tags_lack_capabilities_and_show_supplies_them(sim, http):
    sim.state.set_option("ollama", "tags_capabilities", False)
    for row in tags(sim, http):
        assert "capabilities" not in row and "context_length" not in row["details"]
    body = show(sim, http, "qwen3:8b").json()
    assert body["capabilities"] == ["completion", "tools", "thinking"]
    arch = body["model_info"]["general.architecture"]
    assert body["model_info"][f"{arch}.context_length"] == 40960
    assert http.get(sim.base_url("ollama") + "/api/version").json()["version"] < "0.30"


def test_ollama_show_unknown_model_is_404_with_ollamas_error(sim, http):
    resp = show(sim, http, "nope:1b")
    assert resp.status_code == 404 and resp.json() == {"error": "model 'nope:1b' not found"}


def test_ollama_show_accepts_a_name_without_tag_as_latest(sim, http):
    assert show(sim, http, "nomic-embed-text").json()["capabilities"] == ["embedding"]


def test_ollama_show_without_a_model_is_400(sim, http):
    resp = http.post(sim.base_url("ollama") + "/api/show", json={})
    assert resp.status_code == 400 and "error" in resp.json()


def test_ollama_one_update_changes_both_tags_and_show(sim, http):
    sim.state.update_model("ollama", "llama3.2:3b", {"capabilities": ["completion"]})
    assert {r["name"]: r for r in tags(sim, http)}["llama3.2:3b"]["capabilities"] == ["completion"]
    assert show(sim, http, "llama3.2:3b").json()["capabilities"] == ["completion"]


def test_ollama_fault_limited_to_show_leaves_tags_working(sim, http):
    sim.state.set_fault("ollama", "status", status=500, path="/api/show")
    assert http.get(sim.base_url("ollama") + "/api/tags").status_code == 200
    resp = show(sim, http, "qwen3:8b")
    assert resp.status_code == 500 and isinstance(resp.json()["error"], str)


def test_ollama_cloud_key_is_a_bearer_token(sim, http):
    sim.state.set_expected_key("ollama", "ol-key")
    resp = http.get(sim.base_url("ollama") + "/api/tags")
    assert resp.status_code == 401 and resp.json() == {"error": "unauthorized"}
    ok = http.get(sim.base_url("ollama") + "/api/tags", headers={"Authorization": "Bearer ol-key"})
    assert ok.status_code == 200
