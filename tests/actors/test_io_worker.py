"""IOWorker: one call at a time on a daemon thread; a call it will not run has its future cancelled."""
from __future__ import annotations

import threading

import pytest

from actors.io import IOWorker


def test_a_calls_future_has_its_result_or_its_exception():
    worker = IOWorker("io-test")
    try:
        assert worker.submit(lambda a, b: a + b, 2, 3).result(timeout=5) == 5

        def fails():
            raise ValueError("no answer")
        with pytest.raises(ValueError, match="no answer"):
            worker.submit(fails).result(timeout=5)
        assert worker.submit(lambda: "still running").result(timeout=5) == "still running"
    finally:
        worker.shutdown()


def test_a_call_submitted_after_shutdown_is_cancelled_at_once_and_never_runs():
    worker = IOWorker("io-test")
    worker.shutdown()
    ran = threading.Event()
    future = worker.submit(ran.set)
    assert future.cancelled()
    worker._thread.join(5)  # the worker's thread has ended: nothing can run the call later
    assert not worker._thread.is_alive() and not ran.is_set()


def test_calls_queued_behind_a_running_one_at_shutdown_are_cancelled_when_it_ends():
    worker = IOWorker("io-test")
    gate, began, ran = threading.Event(), threading.Event(), threading.Event()

    def blocking():
        began.set()
        gate.wait(5)
        return "finished"
    running = worker.submit(blocking)
    assert began.wait(5)
    queued = [worker.submit(ran.set) for _ in range(3)]
    worker.shutdown()
    assert not any(f.done() for f in queued)  # still behind the running call
    gate.set()
    assert running.result(timeout=5) == "finished"  # the running call finishes on its own
    for future in queued:
        with pytest.raises(Exception) as caught:
            future.result(timeout=5)
        assert future.cancelled(), caught.value
    assert not ran.is_set()
