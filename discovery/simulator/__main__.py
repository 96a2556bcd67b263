"""``python -m discovery.simulator [--host H] [--port P]``: run the simulator until interrupted."""
from __future__ import annotations

import argparse
import sys
import threading

from discovery.simulator import state
from discovery.simulator.server import BASE_PATHS, SimulatorServer


def main(argv: list[str] | None = None) -> int:
    """Serve every simulated provider and print the base URL of each."""
    parser = argparse.ArgumentParser(prog="python -m discovery.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    args = parser.parse_args(argv)
    state.FREEZE_MODEL_SETS = True  # this process is the simulator's alone
    server = SimulatorServer(host=args.host, port=args.port).start()
    print(f"provider simulator on {server.url} (admin API under {server.url}/_admin/)")
    for provider in BASE_PATHS:
        print(f"  {provider:18} {server.base_url(provider)}")
    print(f"tenants: {server.url}/t/<tenant>/<any path above> (own models, knobs and admin API each)")
    sys.stdout.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
