"""The docs' examples work: every ``curl`` of README.md and docs/*.md against ``discovery serve --demo``.

Each example is sent as written (its method, path and query) to the demo in a subprocess, once
the demo is ready and Bedrock's regions have answered, and must answer 2xx; one asking for a
model ``as_of`` a date before the demo's own history began may answer the documented 404 (the
fresh demo did not hold it then). Examples that need a body or a header of their own
(subscriptions) or never end (the event stream) are left out.
"""
from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIPPED_OPTIONS = ("-d", "--data", "-H", "--header", "-N", "--no-buffer", "-F")


def examples() -> list[tuple[str, str, str]]:
    """(doc, method, path with query) of every runnable curl example."""
    found = []
    for doc in DOCS:
        for line in doc.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line.startswith("curl ") or line.endswith("\\"):
                continue
            words = shlex.split(line)
            if any(w in SKIPPED_OPTIONS for w in words):
                continue
            method = words[words.index("-X") + 1] if "-X" in words else "GET"
            url = next((w for w in words if w.startswith("localhost:8080")), None)
            if url is not None:
                found.append((doc.name, method, url[len("localhost:8080"):]))
    return found


EXAMPLES = examples()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    # This checkout's code, whatever the venv has installed.
    env = {**os.environ, "DISCOVERY_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "web.cli", "serve", "--demo", "--port", "0", "--database",
                             f"sqlite:///{tmp / 'demo.db'}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=tmp)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    threading.Thread(target=lambda: proc.stderr.read(), daemon=True).start()
    try:
        url = wait_for(lambda: next((ln.split()[-1] for ln in lines if ln.startswith("serving on")), None),
                       timeout=30, what="the serving line")
        wait_for(lambda: requests.get(url + "/readyz", timeout=5).status_code == 200, timeout=60,
                 what="the demo to be ready")
        wait_for(lambda: all(r["status"] != "starting" for r in
                             requests.get(url + "/api/v1/bedrock/regions", timeout=5).json()["data"]),
                 timeout=60, what="every Bedrock region's first answer")
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


def python_blocks() -> list[tuple[str, str]]:
    """(doc, code) of every ```python block of the docs."""
    found = []
    for doc in DOCS:
        for code in re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
            found.append((doc.name, code))
    return found


def test_every_python_example_of_the_docs_parses_and_its_imports_work():
    """The in-process example imported load_settings from a module it had left."""
    import ast

    blocks = python_blocks()
    assert any("start_service" in code for _, code in blocks)
    for doc, code in blocks:
        tree = ast.parse(code, filename=doc)  # a block that is not Python fails here
        imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
        exec(compile(ast.Module(body=imports, type_ignores=[]), doc, "exec"), {})


def test_the_docs_have_examples():
    assert len(EXAMPLES) >= 10


@pytest.mark.parametrize("doc,method,path", EXAMPLES)
def test_every_curl_example_of_the_docs_answers_in_the_demo(demo, doc, method, path):
    resp = requests.request(method, demo + path, timeout=60)
    if resp.status_code == 404 and "as_of=" in path:
        assert "not yet added" in resp.json()["error"]["message"]
        return
    assert 200 <= resp.status_code < 300, f"{doc}: {method} {path} -> {resp.status_code} {resp.text[:300]}"


def test_the_model_ids_the_readme_gives_as_examples_are_in_the_demo(demo):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    ids = set(re.findall(r"`((?:openrouter|bedrock|openai|anthropic)/[^`\s]+)`", text))
    ids = {i for i in ids if "*" not in i and "<" not in i}
    assert "openrouter/anthropic/claude-sonnet-4.5" in ids
    for model_id in sorted(ids):
        assert requests.get(f"{demo}/api/v1/models/{model_id}", timeout=10).status_code == 200, model_id
