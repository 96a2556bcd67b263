"""An error answer's message becomes the refresh's reason: one line of bounded length, whatever
the provider sent (a review of malformed answers found a 5 MB message kept whole, newlines and
all, in the run, the provider's status, its health history and the log)."""
from __future__ import annotations

import pytest

from discovery.providers.errors import ProviderHTTPError
from tests.providers.conftest import make_client

# discovery.providers.errors.MAX_REASON_CHARS, and room for how many characters were left out.
LONGEST = 540


@pytest.mark.parametrize("message", ["x" * 5_000_000, "line one\nline two\r\n\t" * 200_000])
def test_a_huge_or_many_line_error_message_is_one_bounded_line(stub, message):
    stub.route("/v1/models", (500, {"error": {"message": message, "type": "server_error"}}))
    with pytest.raises(ProviderHTTPError) as caught:
        make_client("openai", f"{stub.url}/v1").fetch(None)
    reason = caught.value.reason
    assert reason.startswith("http: openai answered HTTP 500: ")
    assert "\n" not in reason and "\r" not in reason and "\t" not in reason
    assert len(str(caught.value)) <= LONGEST and "characters more)" in reason


def test_a_key_echoed_where_the_reason_is_cut_is_still_scrubbed(stub):
    key = "sk-test-0123456789abcdefghijklmnopqrstuv"
    # The key straddles the cut: scrubbed before cutting, no half of it is left to read.
    stub.route("/v1/models", (401, {"error": {"message": "k" * 450 + f" {key} " + "z" * 10_000}}))
    with pytest.raises(ProviderHTTPError) as caught:
        make_client("openai", f"{stub.url}/v1", env={"OPENAI_API_KEY": key}).fetch(None)
    assert key[:12] not in caught.value.reason and len(str(caught.value)) <= LONGEST
