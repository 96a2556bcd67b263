"""``discovery serve`` killed with SIGKILL in the middle of a webhook delivery, then started again."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import requests

from tests.conftest import wait_for
from tests.notify.conftest import ADMIN_TOKEN, SECRET

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def serve(tmp_path, config):
    """Start ``discovery serve`` on a free port; returns (process, base URL, its stderr lines)."""
    env = {**os.environ, "DISCOVERY_ADMIN_TOKEN": ADMIN_TOKEN, "DISCOVERY_LOG_LEVEL": "INFO"}
    proc = subprocess.Popen([sys.executable, "-m", "web.cli", "serve", "--config", str(config), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    out: list[str] = []
    err: list[str] = []
    threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True).start()
    threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True).start()
    url = wait_for(lambda: next((ln.split()[-1] for ln in out if ln.startswith("serving on")), None),
                   timeout=30, what="the serving line")
    return proc, url, err


def test_sigkill_mid_delivery_then_restart_delivers_what_was_not_acknowledged(tmp_path, simulator, receiver):
    state = simulator.state
    state.set_models("modelsdev", {k: v for k, v in state.model_items("modelsdev") if k in ("anthropic", "mistral")})
    config = tmp_path / "discovery.toml"
    config.write_text(f"""
[service]
database_url = "sqlite:///{tmp_path / 'd.db'}"
webhook_allow_private = true
webhook_backoff = 0.05
webhook_backoff_max = 0.2
# Longer than the receiver holds the request, so the kill lands while the POST is in flight.
webhook_timeout = 30

[providers.modelsdev]
format = "modelsdev"
base_url = "{simulator.base_url('modelsdev')}"
refresh_interval = 3600
""")
    hook = receiver()
    hook.hold.clear()
    hook.hold_from = 2  # the first batch is answered at once; the second is held open
    proc, url, err = serve(tmp_path, config)
    second = None
    # One kept-alive connection: a client closing its connection just as SIGTERM arrives can make
    # the server miss the stop.
    http = requests.Session()
    try:
        feed = wait_for(lambda: http.get(f"{url}/api/v1/events?limit=1000", timeout=5).json()["data"],
                        timeout=30, what="the first refresh's events")
        assert len(feed) > 40  # several batches of 20
        resp = http.post(f"{url}/api/v1/subscriptions", headers=AUTH, timeout=5,
                             json={"url": hook.url, "secret": SECRET, "since": 0, "max_batch": 20})
        assert resp.status_code == 201, resp.text
        wait_for(hook.holding.is_set, timeout=15, what="the second delivery to be in flight")
        first_acked = hook.acked_ids()
        assert first_acked == [e["id"] for e in feed[:20]]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

        hook.hold_from = None  # answer everything from now on, including the held POST (to nobody)
        hook.hold.set()
        before_kill = feed[-1]["id"]
        second, url, err = serve(tmp_path, config)

        def after_restart_refresh():
            events = http.get(f"{url}/api/v1/events?limit=1000", timeout=5).json()["data"]
            done = any(e["kind"] == "models_refreshed" and e["id"] > before_kill for e in events)
            return events if done else None

        wait_for(after_restart_refresh, timeout=90, what="the restart's refresh")

        seen: list[list[int]] = []

        def settled():
            # The feed once every event in it is acknowledged and it is the same in two polls in a
            # row: the refresh's commit may be followed by others of its own (the provider's status).
            ids = [e["id"] for e in http.get(f"{url}/api/v1/events?limit=1000", timeout=5).json()["data"]]
            same = bool(seen) and seen[-1] == ids
            seen.append(ids)
            return ids if same and set(hook.acked_ids()) >= set(ids) else None

        all_ids = wait_for(settled, timeout=30, interval=0.2, what="every event after the restart")
        acked = hook.acked_ids()
        # Nothing acknowledged is sent again; the unacknowledged batch comes first after the restart.
        assert acked[:20] == first_acked and acked[20:] == all_ids[20:len(acked)]
        assert sorted(set(acked)) == acked
        sub = http.get(f"{url}/api/v1/subscriptions", headers=AUTH, timeout=5).json()["data"][0]
        assert sub["cursor"] == max(all_ids) and sub["state"] == "active"
    finally:
        for p in (proc, second):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=15)
        http.close()
    logs = "".join(err)
    assert ADMIN_TOKEN not in logs and SECRET not in logs, "no secret reaches the logs"
