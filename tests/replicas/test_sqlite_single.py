"""SQLite serves one instance: it is its own leader, and a second one on the same file is refused."""
from __future__ import annotations

import subprocess

from tests.conftest import wait_for
from tests.replicas.conftest import Instance, write_config


def test_a_second_instance_on_one_sqlite_file_is_refused_and_the_first_leads(tmp_path, simulator):
    config = write_config(tmp_path / "single.toml", f"sqlite:///{tmp_path / 'single.db'}", simulator)
    first = Instance("s1", config, tmp_path).start()
    second = Instance("s2", config, tmp_path)
    try:
        status = wait_for(first.status, timeout=10, what="s1's status")
        assert status["role"] == "leader" and status["instance"] == "s1"
        assert status["leader"]["instance"] == "s1" and status["lag"] == {"events": 0, "seconds": 0.0}

        second.launch()
        try:
            code = second.proc.wait(20)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"a second instance on the same SQLite file kept running (stdout: {second.stdout}):\n"
                                 f"{second.log_tail()}") from None
        assert code != 0
        assert "another instance" in second.log_text(), second.log_tail()
        # The first goes on serving, still the leader.
        assert first.alive and first.status()["role"] == "leader"
    finally:
        second.stop()
        first.stop()
