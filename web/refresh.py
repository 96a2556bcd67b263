"""Manual refresh and refresh history."""
from __future__ import annotations

import time

from flask import Blueprint, jsonify, request

from actors.provider import RefreshRateLimited
from actors.replica import relay_deadline
from actors.service import ProviderUnavailable, UnknownProvider
from discovery.query import number
from discovery.redaction import excerpt
from web.context import flag, int_arg, no_body, service
from web.errors import ApiError
from web.parameters import check_providers, values

bp = Blueprint("refresh", __name__, url_prefix="/api/v1")


MIN_WAIT = 0.1


def _wait_timeout() -> float:
    value = request.args.get("timeout", "30")
    try:
        t = number(value, float)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"timeout must be a number of seconds, got {value!r}") from None
    if not MIN_WAIT <= t <= 300:
        # Below a tenth of a second no refresh can end: 5e-324 started every refresh and answered a 504.
        raise ApiError(400, "invalid_parameter", f"timeout must be at least {MIN_WAIT:g} and at most 300 seconds")
    return t


def _wait_args() -> float | None:
    """``wait`` and ``timeout`` checked before anything starts: None without wait, else the timeout."""
    no_body("?wait=true&timeout=SECONDS")
    wait = flag("wait")
    timeout = _wait_timeout()
    return timeout if wait else None


def _left(deadline: float | None) -> float | None:
    """The seconds of the request's ``timeout`` left (None without wait)."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _answer(tickets, timeout: float | None, skipped: list | None = None, asked: float | None = None):
    svc = service()
    extra = {} if skipped is None else {"skipped": skipped}
    if timeout is not None:
        try:
            outcomes = svc.wait(tickets, timeout)
        except TimeoutError:
            # Which runs are late, and the outcome of those that ended: a 504 listed every run with
            # none, and gave the time left of the deadline rather than the timeout asked for.
            runs = [t.future.result().to_dict() if t.future.done() and t.future.exception() is None
                    else {"run_id": t.run_id, "provider": t.provider, "outcome": "running"} for t in tickets]
            late = [r["provider"] for r in runs if r["outcome"] == "running"]
            raise ApiError(504, "refresh_timeout",
                           f"{len(late)} of {len(runs)} refreshes still running after {asked or timeout:g}s: "
                           f"{', '.join(late)}", runs=runs, **extra) from None
        return jsonify({"runs": [o.to_dict() for o in outcomes], **extra}), 200
    return jsonify({"runs": [{"run_id": t.run_id, "provider": t.provider, "outcome": "running"}
                             for t in tickets], **extra}), 202


@bp.post("/refresh")
def refresh_all():
    """Refresh every provider. 202 with run ids; ``?wait=true`` → 200 with each run's outcome.

    ``skipped`` lists the providers not refreshed and why (``rate_limited`` with ``retry_after``,
    ``unavailable``).

    :raise 400: a malformed ``wait`` or ``timeout``, or a body (nothing is started).
    :raise 504: with wait, a run did not finish within ``timeout`` seconds.
    """
    timeout = _wait_args()
    deadline = None if timeout is None else time.monotonic() + timeout
    with relay_deadline(deadline):  # on a follower, handing the refresh to the leader counts too
        tickets, skipped = service().refresh_many()
    return _answer(tickets, _left(deadline), skipped, timeout)


@bp.post("/providers/<name>/refresh")
def refresh_one(name: str):
    """Refresh one provider (joins a refresh already in flight).

    A refresh already in flight began before this request, so its result would not show what
    the provider says now: the request queues one follow-up refresh (shared by every request
    that arrives meanwhile) and answers with that.

    :raise 400: a malformed ``wait`` or ``timeout``, or a body (nothing is started).
    :raise 404: no provider by that name.
    :raise 429: too many manual refreshes of this provider in a minute (with Retry-After).
    :raise 503: the provider's actor is restarting or failed.
    """
    timeout = _wait_args()
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        with relay_deadline(deadline):  # on a follower, handing the refresh to the leader counts too
            ticket = service().refresh(name)
    except UnknownProvider:
        raise ApiError(404, "provider_not_found", f"no provider {name!r}") from None
    except RefreshRateLimited as exc:
        raise ApiError(429, "too_many_refreshes", str(exc), retry_after=round(exc.retry_after, 1)) from None
    except ProviderUnavailable as exc:
        raise ApiError(503, "provider_unavailable", str(exc)) from None
    return _answer([ticket], _left(deadline), asked=timeout)


@bp.get("/refresh/runs")
def runs():
    """Refresh history, newest first. Filters: provider (a list; ``bedrock@<region>`` for a region),
    limit, before (a run id, for paging).

    :raise 400: a malformed parameter or an unknown provider.
    """
    providers = values("provider")
    check_providers(service(), providers)
    limit = int_arg("limit", 50, 1, 1000)
    before = int_arg("before", 0, 1, 2**62) or None  # before=0: no run is older; a 400, not the newest
    found = service().refresh_runs(providers or None, limit + 1, before)
    page, more = found[:limit], len(found) > limit
    # As the other pages of the API: whether there is more, and the ``before`` that gets it.
    return jsonify({"data": page, "has_more": more, "next": page[-1]["id"] if more else None})


@bp.get("/refresh/runs/<run_id>")
def run(run_id: str):
    """One refresh run.

    :raise 400: an id that is not a whole number from 0 to 2^62 (as the document says).
    :raise 404: no run with that id.
    """
    try:
        number_id = number(run_id)
    except ValueError:
        number_id = -1
    if not 0 <= number_id <= 2**62:
        raise ApiError(400, "invalid_parameter", f"run_id must be a whole number between 0 and {2**62}, "
                                                 f"got {excerpt(run_id, 40)!r}")
    found = service().refresh_run(number_id)
    if found is None:
        raise ApiError(404, "run_not_found", f"no refresh run {run_id}")
    return jsonify(found)
