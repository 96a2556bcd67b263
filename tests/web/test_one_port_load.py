"""The one-port load run of bench/bench_one_port.py, shortened: streams, queries and refreshes together."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_open_streams_queries_and_refreshes_share_one_port_without_errors_and_every_client_gets_every_event():
    # 100 streams for 4 s with a refresh every 0.5 s; the latency bounds are loose here (CI shares
    # two cores with everything else); the bench itself holds the real targets.
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_one_port.py"), "--clients", "100",
                           "--duration", "4", "--refresh-every", "0.5", "--query-connections", "2",
                           "--healthz-target", "500", "--latency-target", "500"],
                          capture_output=True, text=True, timeout=180, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert summary["errors"] == 0
    assert summary["clients_with_every_event_once_in_order"] == 100
    assert summary["commits"] >= 4 and summary["events"] >= 2 * summary["commits"]
    assert summary["healthz"]["requests"] > 50 and summary["queries"]["requests"] > 50
