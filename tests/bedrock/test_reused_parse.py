"""A Bedrock list answer equal to the last one is not parsed again: the same members, this
answer's own metadata; a changed answer, an error and other operations are parsed as botocore does."""
from __future__ import annotations

import copy
import threading

import pytest
from botocore.exceptions import ClientError

from discovery.bedrock import client as bedrock
from discovery.bedrock import endpoint_for, make_client
from tests.bedrock.conftest import bedrock_settings


@pytest.fixture
def client(simulator):
    settings = bedrock_settings(simulator, ["us-east-1"])
    return make_client("bedrock", "us-east-1", settings, endpoint_for(settings.endpoint_url, "us-east-1"))


@pytest.fixture
def parses(monkeypatch):
    """How many times botocore's own parser read a list answer's body (not an empty one)."""
    seen: list[str] = []
    real = bedrock.ReusingParser.parse

    def counting(self, response, shape):
        original = self.parser.parse

        def parse(resp, sh):
            if sh is not None and sh.name in bedrock.REUSED_SHAPES and resp["body"] != b"{}":
                seen.append(sh.name)
            return original(resp, sh)

        self.parser.parse = parse
        return real(self, response, shape)

    monkeypatch.setattr(bedrock.ReusingParser, "parse", counting)
    monkeypatch.setattr(bedrock, "_parsed_memo", threading.local())  # nothing from an earlier test
    return seen


def test_an_unchanged_answer_gives_the_same_members_without_a_second_parse(client, parses):
    first = client.list_foundation_models()
    kept = copy.deepcopy(first["modelSummaries"])
    second = client.list_foundation_models()
    assert parses == ["ListFoundationModelsResponse"]
    assert second["modelSummaries"] is first["modelSummaries"] and second["modelSummaries"] == kept
    assert second["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert second["ResponseMetadata"] is not first["ResponseMetadata"]
    profiles = client.list_inference_profiles()
    assert profiles["inferenceProfileSummaries"] == client.list_inference_profiles()["inferenceProfileSummaries"]
    assert parses == ["ListFoundationModelsResponse", "ListInferenceProfilesResponse"]


def test_a_changed_answer_is_parsed_again_and_shows_the_change(client, simulator, parses):
    first = client.list_foundation_models()["modelSummaries"]
    model_id = first[0]["modelId"]
    simulator.state.update_model("bedrock@us-east-1", model_id, {"modelName": "Renamed by the test"})
    second = client.list_foundation_models()["modelSummaries"]
    assert parses == ["ListFoundationModelsResponse"] * 2
    assert next(m for m in second if m["modelId"] == model_id)["modelName"] == "Renamed by the test"
    assert next(m for m in first if m["modelId"] == model_id)["modelName"] != "Renamed by the test"


def test_errors_are_parsed_and_raised_as_botocore_does(client, simulator):
    simulator.state.set_fault("bedrock@us-east-1", "status", status=403, times=2)
    for _ in range(2):
        with pytest.raises(ClientError) as caught:
            client.list_foundation_models()
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
