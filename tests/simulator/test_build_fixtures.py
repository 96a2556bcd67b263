"""The packaged fixtures are exactly what build_fixtures.py makes from the shared data."""
from __future__ import annotations

import pytest

from discovery.simulator import build_fixtures
from discovery.simulator.sources import FIXTURES_DIR


@pytest.mark.skipif(not build_fixtures.DEFAULT_DATA.is_dir(), reason="the shared data directory is not present")
def test_rebuilding_the_fixtures_reproduces_the_committed_files_byte_for_byte(tmp_path):
    sizes = build_fixtures.build(build_fixtures.DEFAULT_DATA, tmp_path)
    for name in sizes:
        assert (tmp_path / name).read_bytes() == (FIXTURES_DIR / name).read_bytes()
    assert sum(sizes.values()) < 1_500_000
