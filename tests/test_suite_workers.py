"""The suite's two pytest-xdist workers: a test marked ``alone`` runs while no other test does."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TESTS = '''
import time

import pytest


def record(name):
    began = time.time()
    time.sleep(0.25)
    with open({log!r}, "a") as out:
        out.write(f"{{name}} {{began}} {{time.time()}}\\n")

{tests}
'''


def test_an_alone_test_runs_while_no_other_test_does_and_the_others_run_side_by_side(tmp_path):
    log = str(tmp_path / "intervals")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    alone: runs with no other test\n")
    (tmp_path / "conftest.py").write_text("from tests.conftest import _machine_share  # noqa: F401\n")

    def tests(names):
        return "\n".join(("@pytest.mark.alone\n" if name.startswith("alone") else "")
                         + f"def test_{name}():\n    record('{name}')\n" for name in names)
    # Files with the most tests start first: the alone ones fall in the middle of the largest.
    files = {"a": ["a0", "a1", "a2", "alone0", "a3", "a4", "alone1", "a5"],
             "b": [f"b{i}" for i in range(8)], "c": [f"c{i}" for i in range(3)]}
    for name, names in files.items():
        (tmp_path / f"test_{name}.py").write_text(TESTS.format(log=log, tests=tests(names)))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist",
                          "loadfile", "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), str(tmp_path)],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    spans = {name: (float(a), float(b)) for name, a, b in (line.split() for line in open(log))}
    assert len(spans) == 19

    def overlap(x, y):
        return x[0] < y[1] and y[0] < x[1]
    for name, span in spans.items():
        if name.startswith("alone"):
            beside = [other for other, s in spans.items() if other != name and overlap(span, s)]
            assert not beside, f"{name} ran beside {beside}"
    # The others did run two at a time (the check above could not pass by the workers taking turns).
    assert any(overlap(spans[a], spans[b]) for a in files["a"] for b in files["b"] if not a.startswith("alone"))
