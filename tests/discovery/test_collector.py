"""collector_paused: the cyclic collector held off across threads, back as it was afterwards."""
from __future__ import annotations

import gc
import threading

from discovery.collector import collector_paused


def test_pauses_nest_across_threads_and_the_collector_is_back_on_after_the_last():
    assert gc.isenabled()
    inside = threading.Event()
    release = threading.Event()

    def other() -> None:
        with collector_paused():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    with collector_paused():
        assert not gc.isenabled()
        thread.start()
        assert inside.wait(5)
    # This block ended first: the other thread's pause still holds.
    assert not gc.isenabled()
    release.set()
    thread.join(5)
    assert gc.isenabled()


def test_a_collector_turned_off_before_stays_off_and_an_error_still_ends_the_pause():
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
    try:
        with collector_paused():
            raise ValueError("inside")
    except ValueError:
        pass
    assert gc.isenabled()
