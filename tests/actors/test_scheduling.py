"""The process's one timer thread (actors.scheduling): a timer nobody could wait for breaks nothing."""
from __future__ import annotations

import threading
import time

from actors.scheduling import schedule


def test_a_delay_past_what_can_be_waited_for_does_not_end_the_timer_thread():
    """schedule(1e300): once it was the next timer, the thread's wait raised OverflowError and the
    thread ended with a traceback (a later timer started it again)."""
    raised: list[BaseException] = []
    before = threading.excepthook
    threading.excepthook = lambda args: raised.append(args.exc_value)
    fired = threading.Event()
    far = schedule(1e300, lambda: None, name="far")
    try:
        schedule(0.01, fired.set, name="soon")
        assert fired.wait(5)
        time.sleep(0.2)  # the far timer is now the next one: the thread waits for it
        assert raised == [], raised
        assert any(t.name == "timer-shared" and t.is_alive() for t in threading.enumerate())
    finally:
        far.cancel()
        threading.excepthook = before
