"""Write the simulator's packaged fixtures from the project's shared data.

Run from the repository root: ``python -m discovery.simulator.build_fixtures [--data DIR]``.
It copies the newest models.dev snapshot and the LiteLLM map into ``discovery/simulator/fixtures/``
(compact, gzipped, with a fixed mtime so a rebuild of unchanged data is byte-identical). Every
provider's fixture is derived from these two documents when the simulator starts.
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path
from typing import Any

from discovery.simulator.sources import (
    FIXTURES_DIR,
    LITELLM_FIXTURE,
    MODELSDEV_FIXTURE,
    read_json,
)

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def newest_snapshot(data: Path) -> Path:
    """The models.dev snapshot with the latest date in its name."""
    snapshots = sorted((data / "modelsdev").glob("api-*.json*"))
    if not snapshots:
        raise SystemExit(f"no models.dev snapshots in {data / 'modelsdev'}")
    return snapshots[-1]


def write_gzip_json(doc: Any, path: Path) -> int:
    """Compact JSON, gzipped deterministically; returns the file size."""
    raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    with open(path, "wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0,
                                                 compresslevel=9) as gz:
        gz.write(raw)
    return path.stat().st_size


def build(data: Path, out: Path = FIXTURES_DIR) -> dict[str, int]:
    """Write both fixtures; returns their sizes in bytes."""
    out.mkdir(parents=True, exist_ok=True)
    snapshot = newest_snapshot(data)
    sizes = {MODELSDEV_FIXTURE: write_gzip_json(read_json(snapshot), out / MODELSDEV_FIXTURE)}
    litellm = read_json(data / "litellm" / "model_prices_and_context_window.json.gz")
    sizes[LITELLM_FIXTURE] = write_gzip_json(litellm, out / LITELLM_FIXTURE)
    return sizes


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data directory")
    parser.add_argument("--out", type=Path, default=FIXTURES_DIR, help="where the fixtures go")
    args = parser.parse_args(argv)
    for name, size in build(args.data, args.out).items():
        print(f"{name}: {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
