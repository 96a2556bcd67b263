"""``GET /api/v1/export/litellm``: the catalog as a LiteLLM ``model_list``, from a real service
(real actors, SQLite, the simulator over loopback HTTP, real boto3 for two Bedrock regions)."""
from __future__ import annotations

import datetime
import json

import pytest
import yaml

from tests.bedrock.conftest import bedrock_settings, regions_settled
from tests.conftest import provider_config, wait_for
from web import create_app

KEY_ENV = "DISCOVERY_TEST_EXPORT_KEY"
KEY = "sk-export-test-secret-7f3a9c2e41"
REGIONS = ("us-east-1", "eu-west-1")


@pytest.fixture
def exported(start_service, simulator, monkeypatch, tmp_path):
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXPORTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "export-test-aws-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    records = dict(simulator.state.model_items("modelsdev"))
    simulator.state.set_models("modelsdev", {k: records[k] for k in ("openai", "anthropic")})
    providers = [provider_config(simulator, "openai", "openai", api_key_env=KEY_ENV),
                 provider_config(simulator, "anthropic", "anthropic", api_key_env=KEY_ENV),
                 provider_config(simulator, "ollama", "ollama"),
                 provider_config(simulator, "azure", "azure", api_key_env=KEY_ENV),
                 provider_config(simulator, "modelsdev", "modelsdev")]
    service = start_service(providers, bedrock=bedrock_settings(simulator, REGIONS))
    wait_for(lambda: regions_settled(service, REGIONS) and all(p.get("last_success_at") for p in service.providers()
                                                               if not p["name"].startswith("bedrock@")),
             timeout=30, what="every source's first refresh")
    return service, create_app(service).test_client()


def test_every_live_model_of_a_configured_provider_is_a_deployment_litellm_can_route(exported, simulator):
    service, client = exported
    resp = client.get("/api/v1/export/litellm")
    assert resp.status_code == 200
    body = resp.get_json()
    text = resp.get_data(as_text=True)
    # Keys are named, never copied: answers are redacted, so a copied key would read [REDACTED].
    assert KEY not in text and "export-test-aws-secret" not in text and "[REDACTED]" not in text
    entries = {e["model_name"]: e for e in body["model_list"]}
    models = client.get("/api/v1/models?limit=1000").get_json()["data"]
    live = {m["id"]: m for m in models if m["live"]}
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    retired = {i for i, m in live.items() if m["lifecycle"]["status"] == "retired"
               or (m["lifecycle"]["retirement_date"] or "9999") <= today}
    assert retired  # the simulator's OpenAI list has retired models: left out, with why
    assert set(entries) == {i for i in live if not i.startswith("azure/")} - retired
    assert body["catalog_only"] == sum(1 for m in models if not m["live"]) > 0
    assert {s["model_id"] for s in body["skipped"]} == {i for i in live if i.startswith("azure/")} | retired
    assert all(("deployments" if s["model_id"].startswith("azure/") and s["model_id"] not in retired else "retired")
               in s["reason"] for s in body["skipped"])
    # Every price a YAML loader reads back as a number (PyYAML took 3e-06 for a string).
    loaded = yaml.safe_load(text)["model_list"]
    assert all(isinstance(v, (int, float)) for e in loaded for k, v in e["model_info"].items() if k.endswith("cost_per_token"))
    assert all(e["model_info"].get("max_input_tokens", 0) <= (live[e["model_name"]]["limits"]["context_window"] or 10**12)
               for e in body["model_list"])

    gpt = entries["openai/gpt-4o"]
    assert gpt["litellm_params"] == {"model": "openai/gpt-4o", "api_key": f"os.environ/{KEY_ENV}",
                                     "api_base": simulator.base_url("openai")}
    info, record = gpt["model_info"], live["openai/gpt-4o"]
    assert info["id"] == "openai/gpt-4o" and info["mode"] == "chat"
    assert info["input_cost_per_token"] == pytest.approx(record["pricing"]["input"] / 1e6)
    assert info["max_input_tokens"] == (record["limits"]["max_input_tokens"] or record["limits"]["context_window"])
    assert info["supports_vision"] is record["capabilities"]["vision"] is True
    claude = next(e for name, e in entries.items() if name.startswith("anthropic/"))
    assert claude["litellm_params"]["model"].startswith("anthropic/")
    assert not claude["litellm_params"]["api_base"].endswith("/v1")  # LiteLLM adds /v1/messages itself
    ollama = {e["litellm_params"]["model"].split("/", 1)[0] for n, e in entries.items() if n.startswith("ollama/")}
    assert "ollama_chat" in ollama and all(e["litellm_params"]["api_base"] == simulator.base_url("ollama")
                                           for n, e in entries.items() if n.startswith("ollama/"))
    # No key is configured for it: the format's own variable is named (Ollama's cloud takes one).
    assert {e["litellm_params"].get("api_key") for n, e in entries.items() if n.startswith("ollama/")} == {
        "os.environ/OLLAMA_API_KEY"}

    bedrock = [e for n, e in entries.items() if n.startswith("bedrock/")]
    assert bedrock and all(e["litellm_params"]["aws_region_name"] in REGIONS for e in bedrock)
    for e in bedrock:
        model = service.index.get(e["model_name"])
        region, target = e["litellm_params"]["aws_region_name"], e["litellm_params"]["model"].split("/", 1)[1]
        direct = (model.attributes.get("regions_by_inference_type") or {}).get("on_demand") or ()
        via = (model.attributes.get("regions_by_profile") or {}).get(target) or ()
        assert (target == model.provider_model_id and region in direct) or region in via, e


def test_the_export_is_filtered_as_the_list_is_and_refuses_what_does_not_apply(exported, simulator):
    service, client = exported
    # Made once a minute for the same catalog and parameters; a new catalog version makes it again.
    first = client.get("/api/v1/export/litellm?provider=openai").get_json()
    assert client.get("/api/v1/export/litellm?provider=openai").get_json()["generated_at"] == first["generated_at"]
    simulator.state.add_model("openai", {"id": "gpt-export-new", "object": "model", "created": 1, "owned_by": "x"})
    service.wait([service.refresh("openai")], timeout=10)
    again = client.get("/api/v1/export/litellm?provider=openai").get_json()
    assert again["catalog_version"] > first["catalog_version"] and again["generated_at"] != first["generated_at"]
    assert "openai/gpt-export-new" in {e["model_name"] for e in again["model_list"]}
    seeing = client.get("/api/v1/export/litellm?provider=openai&capability=vision").get_json()
    listed = client.get("/api/v1/models?provider=openai&capability=vision&live=true&limit=1000").get_json()["data"]
    assert [e["model_name"] for e in seeing["model_list"]] == [m["id"] for m in listed] and listed
    own = client.get("/api/v1/export/litellm?provider=openai&names=provider").get_json()["model_list"]
    assert own and all(e["model_name"] == e["model_info"]["id"].split("/", 1)[1] for e in own)
    for url, said in (("?limit=10", "unknown parameter limit"), ("?names=nickname", "names must be one of"),
                      ("?provider=nope", "nope"), ("?capability=telepathy", "telepathy")):
        resp = client.get("/api/v1/export/litellm" + url)
        assert resp.status_code == 400 and said in resp.get_json()["error"]["message"], (url, resp.get_json())


def test_the_exports_tag_holds_across_a_rebuild_and_its_numbers_stay_numbers(exported, monkeypatch):
    """The tag was the bytes' hash, generated_at included: every rebuild (a minute) was a new tag,
    and a gateway polling each minute downloaded the whole list each time."""
    import web.export
    from discovery.export import encode_entry
    from discovery.model import dumps

    service, client = exported
    first = client.get("/api/v1/export/litellm?provider=openai")
    tag = first.headers["ETag"]
    monkeypatch.setattr(web.export, "_made", web.export.WeakKeyDictionary())  # what the minute's end does
    again = client.get("/api/v1/export/litellm?provider=openai", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.headers["ETag"] == tag
    monkeypatch.setattr(web.export, "_made", web.export.WeakKeyDictionary())
    rebuilt = client.get("/api/v1/export/litellm?provider=openai")
    assert rebuilt.headers["ETag"] == tag and rebuilt.get_json()["generated_at"] != first.get_json()["generated_at"]
    # A name holding text that looks like a member and a bare exponent is left as it was.
    odd = {"model_name": 'acme/odd":1e5,x', "litellm_params": {"model": 'openai/odd":1e5,x'},
           "model_info": {"id": 'acme/odd":1e5,x', "input_cost_per_token": 3e-06, "max_input_tokens": 8192}}
    encoded = encode_entry(odd, dumps)
    decoded = json.loads(encoded)
    assert decoded["model_name"] == decoded["model_info"]["id"] == 'acme/odd":1e5,x'
    assert decoded["litellm_params"] == odd["litellm_params"]
    assert yaml.safe_load(encoded)["model_info"]["input_cost_per_token"] == 3e-06
    assert b"3.0e-06" in encoded or b"3.0e-6" in encoded


def test_an_export_larger_than_the_kept_bytes_is_still_made_once_a_minute(exported, monkeypatch):
    # A whole 100k catalog's export (23 MB) is over the bytes kept for exports together; it was made
    # again at every request. Here the budget is shrunk below one export's size instead.
    import web.export

    service, client = exported
    monkeypatch.setattr(web.export, "EXPORT_BYTES", 256)
    monkeypatch.setattr(web.export, "_made", web.export.WeakKeyDictionary())
    first = client.get("/api/v1/export/litellm")
    assert first.status_code == 200 and len(first.data) > 256
    made = first.get_json()["generated_at"]
    assert client.get("/api/v1/export/litellm").get_json()["generated_at"] == made
    # Only the newest large one is kept: another replaces it, and the first is made anew.
    other = client.get("/api/v1/export/litellm?names=provider").get_json()["generated_at"]
    assert other > made
    assert client.get("/api/v1/export/litellm?names=provider").get_json()["generated_at"] == other
    assert client.get("/api/v1/export/litellm").get_json()["generated_at"] > other


def test_discovery_export_litellm_writes_the_model_list_and_says_what_it_left_out(exported, tmp_path):
    from click.testing import CliRunner

    from web.cli import cli
    from web.server import ServerThread

    service, client = exported
    server = ServerThread(service).start()
    try:
        env = {"DISCOVERY_ADMIN_TOKEN": None, "DISCOVERY_READ_TOKEN": None, "DISCOVERY_URL": None}
        target = tmp_path / "litellm.json"
        result = CliRunner().invoke(cli, ["--url", server.url, "export", "litellm", "--provider", "openai",
                                          "--provider", "azure", "-o", str(target)], env=env)
        assert result.exit_code == 0, result.stderr
        written = json.loads(target.read_text())
        direct = client.get("/api/v1/export/litellm?provider=openai,azure").get_json()
        assert written["model_list"] == direct["model_list"] and written["model_list"]
        assert result.stderr.startswith(f"{len(direct['model_list'])} deployments; ")
        azure = [s for s in direct["skipped"] if "Azure" in s["reason"]]
        assert f"{len(azure)} × Azure lists the models a resource can deploy" in result.stderr
        assert f"{len(direct['skipped']) - len(azure)} × retired (its status)" in result.stderr
        named = CliRunner().invoke(cli, ["--url", server.url, "export", "litellm", "--provider", "openai",
                                         "--names", "provider"], env=env)
        assert {e["model_name"] for e in json.loads(named.stdout)["model_list"]} >= {"gpt-4o"}
        refused = CliRunner().invoke(cli, ["--url", server.url, "export", "litellm", "--limit", "3"], env=env)
        assert refused.exit_code == 2 and "No such option '--limit'" in refused.stderr
        nowhere = CliRunner().invoke(cli, ["--url", server.url, "export", "litellm", "-o",
                                           str(tmp_path / "missing" / "x.json")], env=env)
        assert nowhere.exit_code == 1 and nowhere.stderr.strip().startswith("Error: cannot write ") \
            and "No such file or directory" in nowhere.stderr and "Traceback" not in nowhere.stderr
    finally:
        server.stop()


def test_a_bedrock_model_goes_to_the_best_region_that_can_call_it_and_answered_its_last_refresh():
    from discovery.export import litellm_model_list
    from discovery.model import Model
    from discovery.settings import ProviderConfig

    providers = {"bedrock": ProviderConfig(name="bedrock", format="bedrock")}

    def bedrock(model_id, on_demand=(), provisioned=(), profiles=None):
        regions = sorted({*on_demand, *provisioned, *(r for rs in (profiles or {}).values() for r in rs)})
        types = {"on_demand": list(on_demand), "provisioned": list(provisioned)}
        return Model("bedrock", model_id, source="bedrock@us-east-1", regions=tuple(regions),
                     attributes={"regions_by_inference_type": {k: v for k, v in types.items() if v},
                                 "regions_by_profile": profiles or {}})

    nova = bedrock("amazon.nova-lite-v1:0", on_demand=["us-east-1"], provisioned=["eu-west-1"])
    claude = bedrock("anthropic.claude-x-v1:0", profiles={"eu.anthropic.claude-x-v1:0": ["eu-west-1"]})
    stranded = bedrock("meta.llama-z-v1:0", on_demand=["ap-south-1"])

    def ranked(model):
        return sorted(model.regions, key=lambda r: r != "eu-west-1")  # eu-west-1 ranks first

    entries, skipped, _ = litellm_model_list([nova, claude, stranded], providers, ranked,
                                             available=lambda region: region != "ap-south-1")
    params = {e["model_name"]: e["litellm_params"] for e in entries}
    # eu-west-1 serves nova only as provisioned throughput: the next region that can call it.
    assert params["bedrock/amazon.nova-lite-v1:0"] == {"model": "bedrock/amazon.nova-lite-v1:0",
                                                        "aws_region_name": "us-east-1"}
    assert params["bedrock/anthropic.claude-x-v1:0"] == {"model": "bedrock/eu.anthropic.claude-x-v1:0",
                                                          "aws_region_name": "eu-west-1"}
    assert skipped == [{"model_id": "bedrock/meta.llama-z-v1:0",
                        "reason": "no region that can call it answered its last refresh (ap-south-1)"}]


def test_bedrock_models_are_exported_while_their_regions_have_not_been_asked_since_a_restart(start_service, simulator,
                                                                                             monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXPORTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "export-test-aws-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    first = start_service([], bedrock=bedrock_settings(simulator, REGIONS))
    wait_for(lambda: regions_settled(first, REGIONS), timeout=20, what="every region's first refresh")
    before = create_app(first).test_client().get("/api/v1/export/litellm").get_json()["model_list"]
    first.stop()
    # Restarted without a refresh at start: the stored catalog is served, the regions are "starting".
    again = start_service([], bedrock=bedrock_settings(simulator, REGIONS), refresh_on_start=False)
    wait_for(lambda: len(again.index) > 0, what="the stored catalog")
    assert {r["status"] for r in again.bedrock_regions()} == {"starting"}
    after = create_app(again).test_client().get("/api/v1/export/litellm").get_json()
    assert before and {e["model_name"] for e in after["model_list"]} == {e["model_name"] for e in before}
    assert after["skipped"] == [] and "regions_health" not in after


def test_what_a_gateway_calls_and_is_charged_is_the_catalogs_own():
    """A regional profile priced as the base model (LiteLLM undercharged 10%), a keyless server
    handed the gateway's OPENAI_API_KEY, retired models exported, an embedding's vector size as
    its output limit, a max input past the provider's own window, JSON mode under a flag LiteLLM
    has not, the PDF and audio flags and deprecation dates left out, the demo's Bedrock endpoint."""
    from discovery.export import NO_KEY, litellm_model_list
    from discovery.model import Capabilities, Lifecycle, Limits, Modalities, Model, Pricing
    from discovery.settings import ProviderConfig

    providers = {"bedrock": ProviderConfig(name="bedrock", format="bedrock"),
                 "local": ProviderConfig(name="local", format="openai_compatible", base_url="http://127.0.0.1:9/v1"),
                 "openai": ProviderConfig(name="openai", format="openai")}
    profiles = {"eu.anthropic.claude-x-v1:0": ["eu-west-1"], "us.anthropic.claude-x-v1:0": ["us-east-1"]}
    claude = Model("bedrock", "anthropic.claude-x-v1:0", source="bedrock@us-east-1", regions=("eu-west-1", "us-east-1"),
                   pricing=Pricing(input=1.0, output=5.0), attributes={"regions_by_profile": profiles})
    catalog = {"bedrock/eu.anthropic.claude-x-v1:0": Model("bedrock", "eu.anthropic.claude-x-v1:0",
                                                           pricing=Pricing(input=1.1, output=5.5),
                                                           lifecycle=Lifecycle(status="deprecated")),
               "bedrock/us.anthropic.claude-x-v1:0": Model("bedrock", "us.anthropic.claude-x-v1:0",
                                                           pricing=Pricing(input=1.1, output=5.5))}
    keyless = Model("local", "acme-7b", limits=Limits(context_window=32768, max_input_tokens=65536),
                    modalities=Modalities(input=("text", "pdf"), output=("text",)),
                    capabilities=Capabilities(json_mode=True, tool_calling=True),
                    lifecycle=Lifecycle(deprecation_date="2027-01-31"))
    embedding = Model("openai", "text-embedding-3-small", kind="embedding", limits=Limits(max_output_tokens=1536))
    gone = Model("openai", "gpt-old", lifecycle=Lifecycle(status="retired"))
    past = Model("openai", "gpt-past", lifecycle=Lifecycle(status="deprecated", retirement_date="2026-03-31"))
    entries, skipped, _ = litellm_model_list(
        [claude, keyless, embedding, gone, past], providers, lambda m: list(m.regions), record_of=catalog.get,
        runtime_endpoint="http://127.0.0.1:9/bedrock/{region}", today="2026-12-04")
    by_name = {e["model_name"]: e for e in entries}
    # The deprecated eu profile ranks first but is the last choice; the call is priced as the us one.
    bedrock = by_name["bedrock/anthropic.claude-x-v1:0"]
    assert bedrock["litellm_params"] == {"model": "bedrock/us.anthropic.claude-x-v1:0", "aws_region_name": "us-east-1",
                                         "aws_bedrock_runtime_endpoint": "http://127.0.0.1:9/bedrock/us-east-1"}
    assert bedrock["model_info"]["input_cost_per_token"] == pytest.approx(1.1e-06)
    assert bedrock["model_info"]["output_cost_per_token"] == pytest.approx(5.5e-06)
    local = by_name["local/acme-7b"]
    assert local["litellm_params"]["api_key"] == NO_KEY
    info = local["model_info"]
    assert info["max_input_tokens"] == 32768 and "supports_json_mode" not in info
    assert info["supports_function_calling"] is True and info["supports_pdf_input"] is True
    assert info["supports_audio_input"] is False and info["supports_audio_output"] is False
    assert info["deprecation_date"] == "2027-01-31"
    assert "max_output_tokens" not in by_name["openai/text-embedding-3-small"]["model_info"]
    assert by_name["openai/text-embedding-3-small"]["litellm_params"]["api_key"] == "os.environ/OPENAI_API_KEY"
    assert skipped == [{"model_id": "openai/gpt-old", "reason": "retired (its status)"},
                       {"model_id": "openai/gpt-past", "reason": "retired on 2026-03-31"}]
