"""retiring_soon: warn before a model's retirement (or deprecation) date, once per horizon.

A model whose ``lifecycle.retirement_date`` (or ``deprecation_date``) is ``d`` days away gets one
``retiring_soon`` notice when ``d`` first falls within a horizon (default 90, 30 and 7 days). A
model first seen already inside several horizons gets one notice, for the nearest, and the wider
ones count as given. Notices given are stored (``lifecycle_notices``), so a restart repeats none;
a date the provider moves is a new date, warned about again.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Optional

RETIREMENT, DEPRECATION = "retirement", "deprecation"
_MARKERS = (b'"retirement_date":"', b'"deprecation_date":"')


@dataclass(frozen=True)
class Notice:
    """One retiring_soon notice to give."""

    model_id: str
    provider: str
    kind: str  # retirement | deprecation
    date: str
    days_left: int
    horizon: int
    covers: tuple[int, ...]  # every horizon this notice counts for (the nearest first)
    status: Optional[str]
    successor: Optional[str]
    # The capabilities the model supports, as every event about one model carries them, so a
    # subscriber filtering by capability gets the notices of the models it would call.
    capabilities: tuple[str, ...] = ()

    def event_data(self) -> dict[str, Any]:
        """The event's ``data``: the date, how near it is, the record's status, successor and capabilities."""
        return {"model_id": self.model_id, "date_kind": self.kind, "date": self.date,
                "days_left": self.days_left, "horizon_days": self.horizon, "status": self.status,
                "successor": self.successor, "capabilities": list(self.capabilities)}


def supported_capabilities(record: Mapping[str, Any]) -> tuple[str, ...]:
    """The capabilities a record (its JSON list form) states as supported (true; not false or unknown)."""
    capabilities = record.get("capabilities")
    if not isinstance(capabilities, Mapping):
        return ()
    return tuple(name for name, value in capabilities.items() if value is True)


def may_have_dates(body: bytes) -> bool:
    """A cheap test on a record's JSON: does it state a retirement or deprecation date at all?"""
    return any(marker in body for marker in _MARKERS)


def today_of(now: float) -> date:
    return datetime.fromtimestamp(now, UTC).date()


def _parse(value: Any) -> Optional[date]:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def due(records: Iterable[Mapping[str, Any]], today: date, horizons: Iterable[int],
        given: Mapping[tuple[str, str], tuple[str, frozenset[int]]]) -> list[Notice]:
    """The notices due for these records (the JSON list form) on ``today``.

    ``given`` maps (model id, kind) to the date last warned about and the horizons covered.
    """
    widths = sorted({int(h) for h in horizons if int(h) >= 0})
    out: list[Notice] = []
    for record in records:
        lifecycle = record.get("lifecycle") or {}
        retirement, deprecation = lifecycle.get("retirement_date"), lifecycle.get("deprecation_date")
        dates = [(RETIREMENT, retirement)]
        if deprecation and deprecation != retirement:
            dates.append((DEPRECATION, deprecation))
        for kind, value in dates:
            when = _parse(value)
            if when is None:
                continue
            left = (when - today).days
            if left < 0:
                continue  # already past: the record's status says so, not a warning
            inside = tuple(h for h in widths if left <= h)
            if not inside:
                continue
            last_date, covered = given.get((record["id"], kind), (None, frozenset()))
            if last_date == value and inside[0] in covered:
                continue  # the nearest horizon reached has had its notice
            out.append(Notice(record["id"], record.get("provider") or record["id"].split("/", 1)[0], kind, value,
                              left, inside[0], inside, lifecycle.get("status"), lifecycle.get("successor"),
                              supported_capabilities(record)))
    return out
