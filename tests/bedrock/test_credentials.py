"""AWS credentials never reach logs, HTTP responses or the database, wherever the chain found them."""
from __future__ import annotations

from pathlib import Path

from loguru import logger

from discovery.redaction import MASK, scrub
from tests.bedrock.conftest import bedrock_settings
from tests.conftest import wait_for
from web import create_app


def test_credentials_from_a_shared_credentials_file_are_redacted_when_a_region_echoes_them(
        start_service, simulator, db_url, monkeypatch, tmp_path):
    # Not in the environment: the chain reads them from the shared credentials file. The key id
    # is of no shape the redactor knows (an S3-compatible or test endpoint's, say).
    key_id, secret, token = "PROFILEKEYID0123456", "profile-secret-0123456789xyz", "profile-session-token-0123456789"
    creds = tmp_path / "credentials"
    creds.write_text(f"[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
                     f"aws_session_token = {token}\n")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    simulator.state.set_fault("bedrock@us-east-1", "status", status=403,
                              message="The access key {key} is not valid for this account")
    lines: list[str] = []
    sink = logger.add(lines.append, level="TRACE")
    try:
        service = start_service([], bedrock=bedrock_settings(simulator, ["us-east-1"]))
        client = create_app(service).test_client()
        wait_for(lambda: [r for r in client.get("/api/v1/refresh/runs").get_json()["data"] if r["finished_at"]],
                 what="the failed run")
        bodies = [client.get(u).get_data(as_text=True) for u in (
            "/api/v1/refresh/runs", "/api/v1/providers", "/api/v1/events", "/api/v1/bedrock/regions")]
    finally:
        logger.remove(sink)
    service.stop()
    assert "not valid for this account" in bodies[0]
    # botocore logs every request's headers at DEBUG (X-Amz-Security-Token among them).
    logged = f"headers={{'X-Amz-Security-Token': b'{token}'}}"  # as botocore writes them
    assert scrub(logged) == f"headers={{'X-Amz-Security-Token': b'{MASK}'}}"
    for text in bodies + lines:
        assert key_id not in text and secret not in text
    db_file = Path(db_url.removeprefix("sqlite:///"))
    for path in db_file.parent.glob(db_file.name + "*"):
        data = path.read_bytes()
        assert key_id.encode() not in data and secret.encode() not in data


def test_credentials_the_chain_refreshes_after_the_client_was_made_are_redacted_too(
        start_service, simulator, db_url, monkeypatch, tmp_path):
    # A credential_process hands out a new short-lived key (an SSO or role session's) at each refresh:
    # the ones the requests are signed with were never seen when the client was made.
    import json
    import sys
    from datetime import UTC, datetime, timedelta

    counter = tmp_path / "issued"
    script = tmp_path / "issue.py"
    expires = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")  # inside botocore's refresh window
    script.write_text(
        "import json, pathlib\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': f'ROTATEDKEYID{n:08d}', 'SecretAccessKey': f'rotated-secret-{n:08d}',"
        f" 'SessionToken': f'rotated-session-{{n:08d}}', 'Expiration': {json.dumps(expires)}}}))\n")
    config = tmp_path / "config"
    config.write_text(f"[profile rotating]\ncredential_process = {sys.executable} {script}\n")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    simulator.state.set_fault("bedrock@us-east-1", "status", status=403,
                              message="The access key {key} is not valid for this account")
    lines: list[str] = []
    sink = logger.add(lines.append, level="TRACE")
    try:
        service = start_service([], bedrock=bedrock_settings(simulator, ["us-east-1"], profile="rotating"))
        client = create_app(service).test_client()
        wait_for(lambda: [r for r in client.get("/api/v1/refresh/runs").get_json()["data"] if r["finished_at"]],
                 what="the failed run")
        bodies = [client.get(u).get_data(as_text=True) for u in ("/api/v1/refresh/runs", "/api/v1/events")]
    finally:
        logger.remove(sink)
    service.stop()
    issued = int(counter.read_text())
    assert issued >= 2 and "not valid for this account" in bodies[0]
    keys = [f"ROTATEDKEYID{n:08d}" for n in range(1, issued + 1)]
    for text in bodies + lines:
        assert not [k for k in keys if k in text], text[:300]
    db_file = Path(db_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in db_file.parent.glob(db_file.name + "*"))
    assert not [k for k in keys if k.encode() in stored]
