"""Times as the API prints and reads them: ISO 8601 in UTC, one format everywhere.

Inside the service a time is epoch seconds (a float: cheap to store, compare and sort). Every
time that leaves it, in a REST answer, an event (feed, stream, webhook body) or the Atom feed,
goes through :func:`iso`: ``2026-11-30T12:00:00.123456Z``, always with microseconds (the
precision ``as_of`` resolves at) and ``Z``.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Optional, overload

_SPACE_FOR_PLUS = re.compile(r"(\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?) (\d{2}(?::?\d{2})?)$")


@overload
def iso(when: None) -> None: ...


@overload
def iso(when: float | int | datetime) -> str: ...


def iso(when: Any) -> Optional[str]:
    """Epoch seconds (or a datetime; naive is UTC) as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``; None stays None.

    A string is taken to be a time this function made already and is returned as it is.
    """
    if when is None or isinstance(when, str):
        return when
    if isinstance(when, datetime):
        moment = when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    else:
        moment = datetime.fromtimestamp(float(when), timezone.utc)
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


# Subtrees that hold what a provider or a diff states, never a time of the service's own. Maps are
# keyed by provider names too (reconciliation's providers): no provider may have one of these names.
OPAQUE_FIELDS = frozenset({"raw", "attributes", "diff", "settings"})


def is_time_field(name: str) -> bool:
    """The API's naming rule for times: ``at``, ``time``, ``*_at`` and ``*_since`` (``since`` alone
    is an event id)."""
    return "." not in name and (name in ("at", "time") or name.endswith("_at") or name.endswith("_since"))


def with_iso_times(value: Any) -> Any:
    """``value`` (JSON-shaped) with every time field (:func:`is_time_field`) holding epoch seconds
    rewritten by :func:`iso`; what a provider stated (``raw``, ``attributes``) and diffs are kept as
    they are. Containers without a time field are returned unchanged, not copied."""
    if isinstance(value, Mapping):
        out: Optional[dict[str, Any]] = None
        for key, item in value.items():
            if key in OPAQUE_FIELDS or not isinstance(key, str):
                continue
            if is_time_field(key) and isinstance(item, (int, float)) and not isinstance(item, bool):
                new: Any = iso(item)
            elif isinstance(item, (Mapping, list, tuple)):
                new = with_iso_times(item)
            else:
                continue
            if new is not item:
                if out is None:
                    out = dict(value)
                out[key] = new
        return value if out is None else out
    if isinstance(value, (list, tuple)):
        items = [with_iso_times(item) for item in value]
        return value if all(a is b for a, b in zip(items, value)) else items
    return value


def epoch(when: float | datetime) -> float:
    """Epoch seconds of a time given as a number or a datetime (a naive datetime is UTC)."""
    if isinstance(when, datetime):
        return (when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)).timestamp()
    return float(when)


def parse_time(text: str) -> float:
    """An ISO 8601 time (``2026-04-01T12:00:00Z``, with any offset, or a date alone: its midnight)
    as epoch seconds; a time without an offset is UTC. Raise ValueError if it is not one.

    An offset whose ``+`` a query string turned into a space is read as the ``+`` it was.
    """
    text = _SPACE_FOR_PLUS.sub(r"\1+\2", text.strip())
    try:
        value = epoch(datetime.fromisoformat(text))
    except (ValueError, OverflowError):
        raise ValueError(f"{text!r} is not an ISO 8601 time (e.g. 2026-04-01T12:00:00Z)") from None
    if not FIRST_TIME <= value < END_TIME:
        # 0001-01-01T00:00:00+00:01 is a time of year 0 in UTC, which no answer can show.
        raise ValueError(f"{text!r} is outside the years 1 to 9999 in UTC")
    return value


# The first moment a time can be shown as, and the end of the last (years 1 to 9999, in UTC). A
# millisecond short of year 10000: a float that close to it rounds into it when shown.
FIRST_TIME = datetime(1, 1, 1, tzinfo=timezone.utc).timestamp()
END_TIME = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc).timestamp() + 0.999
