"""Full Bedrock discovery over 30 simulated regions, each answering in 0.2-1 s.

Regions are discovered in parallel, so a full discovery (every region's answer committed to the
catalog) should take about the slowest region's latency: at most 1.2 x. The simulator runs in its
own process, as AWS would, so its work does not compete with the service for the GIL.

Prints, for a discovery round on the running service (every region refreshed and committed), the
time and its ratio to the slowest region's latency, and the same for the cold start (empty
database, from ``start_service`` to every region committed).

    python bench/bench_bedrock_regions.py [--regions 30] [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.service import start_service  # noqa: E402
from discovery.settings import BedrockSettings, Settings  # noqa: E402
from discovery.simulator.formats.bedrock import NOT_OFFERED, REGIONS  # noqa: E402

LIMIT = 1.2


def start_simulator() -> tuple[subprocess.Popen, str]:
    """The simulator in a child process; returns it and its URL."""
    proc = subprocess.Popen([sys.executable, "-m", "discovery.simulator", "--port", "0"], stdout=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parents[1])
    assert proc.stdout is not None
    first = proc.stdout.readline()  # "provider simulator on http://127.0.0.1:PORT (...)"
    url = next(word for word in first.split() if word.startswith("http://"))
    return proc, url


def wait_committed(service, regions: list[str], since: float, deadline: float = 60.0) -> float:
    """Seconds from ``since`` until every region's last refresh after ``since`` succeeded."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        rows = {r["region"]: r for r in service.bedrock_regions()}
        if all((rows[r].get("last_success_at") or 0) >= since for r in regions):
            return max(rows[r]["last_success_at"] for r in regions) - since
        time.sleep(0.002)  # a benchmark's poll, not a test's wait
    raise TimeoutError("regions did not all commit in time")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    # Dummy credentials for this process only: boto3 signs the requests, the simulator ignores them.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "AKIDBENCHMARK")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench-secret")
    os.environ.setdefault("DISCOVERY_LOG_LEVEL", "WARNING")
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level=os.environ["DISCOVERY_LOG_LEVEL"])

    regions = [r for r in REGIONS if r not in NOT_OFFERED][:args.regions]
    rng = random.Random(7)
    order = rng.sample(regions, len(regions))
    latency = {r: round(0.2 + 0.8 * i / max(1, len(order) - 1), 3) for i, r in enumerate(order)}
    slowest = max(latency.values())
    proc, url = start_simulator()
    service = None
    try:
        with requests.Session() as admin:
            for region, seconds in latency.items():
                admin.post(f"{url}/_admin/bedrock@{region}/latency", json={"seconds": seconds}, timeout=5)
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                database_url=f"sqlite:///{tmp}/bench.db", batch_max_delay=0.01,
                bedrock=BedrockSettings(enabled=True, regions=tuple(regions), endpoint_url=url + "/bedrock/{region}",
                                        timeout=10.0, refresh_interval=3600.0))
            started = time.time()
            service = start_service(settings)
            cold = wait_committed(service, regions, started)
            rounds = []
            for _ in range(args.rounds):
                since = time.time()
                tickets = service.refresh_bedrock()
                outcomes = service.wait(tickets, timeout=60)
                assert all(o.outcome == "succeeded" for o in outcomes), outcomes
                rounds.append(time.time() - since)
            models = len(service.index.by_provider.get("bedrock", ()))
    finally:
        if service is not None:
            service.stop()
        proc.terminate()
        proc.wait(timeout=10)

    print(f"{len(regions)} regions, latency 0.2-{slowest:g} s each (slowest {slowest:g} s), "
          f"{models} Bedrock models in the catalog")
    for i, seconds in enumerate(rounds, 1):
        print(f"discovery round {i}: {seconds:.3f} s, ratio {seconds / slowest:.2f}")
    best, median = min(rounds), statistics.median(rounds)
    print(f"cold start (empty database, start_service to all committed): {cold:.3f} s, "
          f"ratio {cold / slowest:.2f}")
    ok = median / slowest <= LIMIT
    print(f"ratio (median round) {median / slowest:.2f} (best {best / slowest:.2f}); limit {LIMIT}: "
          f"{'ok' if ok else 'OVER'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
