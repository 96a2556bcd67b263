"""Outage then recovery: how long after a provider comes back are its models refreshed?

Target (issue 6): within the breaker's reset timeout + 1 s of the provider recovering.
Run: python bench/bench_recovery.py [--rounds N] [--reset-timeout S]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.service import start_service  # noqa: E402
from discovery.settings import ProviderConfig, Settings  # noqa: E402
from discovery.simulator import SimulatorServer  # noqa: E402


def wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reset-timeout", type=float, default=2.0)
    args = parser.parse_args()
    sim = SimulatorServer()
    sim.start()
    tmp = tempfile.mkdtemp()
    cfg = ProviderConfig(name="openai", format="openai_compatible", base_url=sim.base_url("openai"),
                         refresh_interval=3600, fail_max=2, reset_timeout=args.reset_timeout, retries=0,
                         timeout=2.0, health_check_interval=0)
    service = start_service(Settings(database_url=f"sqlite:///{tmp}/bench.db", providers=(cfg,)))

    def provider():
        return service.providers()[0]

    results = []
    try:
        wait(lambda: provider().get("last_success_at"), 10)
        for _ in range(args.rounds):
            sim.state.set_fault("openai", "status", status=503)
            while provider()["breaker"]["state"] != "open":
                service.wait([service.refresh("openai", trigger="timer")], timeout=10)
            # The outage lasts a while after the breaker opened; then the provider recovers.
            time.sleep(args.reset_timeout * 0.3)
            recovered = time.time()
            sim.state.clear_faults("openai")
            ok = wait(lambda t=recovered: (provider().get("last_success_at") or 0) > t, args.reset_timeout + 5)
            took = provider()["last_success_at"] - recovered if ok else float("inf")
            results.append(took)
            print(f"recovered and refreshed {took:.3f}s after the provider came back")
    finally:
        service.stop()
        sim.stop()
    target = args.reset_timeout + 1.0
    print(f"rounds={len(results)} reset_timeout={args.reset_timeout:g}s "
          f"median={statistics.median(results):.3f}s max={max(results):.3f}s target<= {target:.1f}s "
          f"{'OK' if max(results) <= target else 'MISSED'}")


if __name__ == "__main__":
    main()
