"""A follower asks its leader for the regions' health once for every caller in the while, stalled leader included."""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from actors.bedrock import BedrockQueries
from actors.replica import LeaderTimeout


class Follower(BedrockQueries):
    """What region_statuses reads of a Service: its role, settings and relayed bedrock_regions."""

    role = "follower"

    def __init__(self, answer):
        self.settings = SimpleNamespace(bedrock=SimpleNamespace(enabled=True), ask_timeout=5.0)
        self.asks = 0
        self._answer = answer

    def bedrock_regions(self):
        self.asks += 1
        time.sleep(0.3)  # the leader's round trip (or a stalled leader's wait)
        return self._answer()


def ask_from(follower, threads: int) -> list:
    got: list = []
    workers = [threading.Thread(target=lambda: got.append(follower.region_statuses())) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(10)
    return got


def test_callers_at_once_share_one_ask_of_a_stalled_leader():
    """Eight requests at once made eight asks, each waiting on the stalled leader."""
    def stalled():
        raise LeaderTimeout("the leader did not answer request 7 within 10 s")

    follower = Follower(stalled)
    assert ask_from(follower, 8) == [None] * 8 and follower.asks == 1
    assert follower.region_statuses() is None and follower.asks == 1  # remembered for twice ask_timeout


def test_callers_at_once_share_one_ask_of_a_leader_that_answers():
    row = {"region": "us-east-1", "status": "available", "reason": None, "latency_ms": 14.7}
    follower = Follower(lambda: [row])
    got = ask_from(follower, 8)
    assert follower.asks == 1 and all(set(g) == {"us-east-1"} for g in got)
    assert got[0]["us-east-1"].status == "available"
