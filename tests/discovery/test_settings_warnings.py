"""Settings that are valid but will not do what they seem: config check prints these, serve logs them."""
from __future__ import annotations

from discovery.effective_settings import settings_warnings
from discovery.settings import BedrockSettings, ProviderConfig, Settings


def test_a_key_asked_for_by_name_and_not_set_is_warned_of_for_formats_that_can_go_without_one():
    settings = Settings(providers=(
        ProviderConfig(name="local", format="openai_compatible", base_url="http://127.0.0.1:8000/v1",
                       api_key_env="LOCAL_VLLM_KEY"),
        ProviderConfig(name="ollama", format="ollama", base_url="http://127.0.0.1:11434"),
        ProviderConfig(name="off", format="groq", api_key_env="OFF_KEY", enabled=False),
        ProviderConfig(name="modelsdev", format="modelsdev")))
    assert settings_warnings(settings, {}) == [
        "provider local: LOCAL_VLLM_KEY is not set; it is called without a key until it is"]
    assert settings_warnings(settings, {"LOCAL_VLLM_KEY": "k"}) == []


def test_bedrock_alone_with_no_public_catalog_is_warned_of_too():
    settings = Settings(providers=(), bedrock=BedrockSettings(enabled=True, regions=("us-east-1",)))
    [warning] = settings_warnings(settings, {})
    assert warning.startswith("no public catalog is configured")
    assert settings_warnings(Settings(providers=()), {}) == []
