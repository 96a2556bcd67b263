"""Field-level diffs between model versions and the change events they produce."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from discovery.model import CAPABILITIES, DEPRECATED_STATUSES, Model, RecordJSON

ADDED, UPDATED, REMOVED = "added", "updated", "removed"
CAPABILITIES_CHANGED, DEPRECATED = "capabilities_changed", "deprecated"
# A provider began or stopped listing a model a catalog describes (the record stays, live or not).
LISTED, DELISTED = "listed", "delisted"
CAPABILITY_ADDED, CAPABILITY_REMOVED = "capability_added", "capability_removed"
MODELS_REFRESHED, STATUS_CHANGED = "models_refreshed", "status_changed"
# Written by the benchmark commit (discovery.benchmark.stored.commit_benchmarks), not by a diff.
BENCHMARK_COMPLETED, BENCHMARK_REGRESSED = "benchmark_completed", "benchmark_regressed"
MODEL_EVENT_KINDS = (ADDED, UPDATED, REMOVED, CAPABILITIES_CHANGED, DEPRECATED, LISTED, DELISTED)
# retiring_soon: a model's retirement (or deprecation) date came within a horizon;
# reconciliation_changed: a write changed where the catalogs and the live lists disagree.
RETIRING_SOON, RECONCILIATION_CHANGED = "retiring_soon", "reconciliation_changed"
EVENT_KINDS = MODEL_EVENT_KINDS + (RETIRING_SOON, CAPABILITY_ADDED, CAPABILITY_REMOVED, MODELS_REFRESHED,
                                   STATUS_CHANGED, RECONCILIATION_CHANGED, BENCHMARK_COMPLETED, BENCHMARK_REGRESSED)


def flatten(content: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"limits": {"context_window": 1}}`` → ``{"limits.context_window": 1}`` (lists stay values)."""
    out: dict[str, Any] = {}
    for key, value in content.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def diff_models(old: Model, new: Model) -> dict[str, list[Any]]:
    """The fields that differ, as ``{path: [old, new]}``; empty when the content is the same."""
    if old.content_hash() == new.content_hash():
        return {}
    return diff_contents(old.content(), new.content())


def diff_contents(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The fields that differ between two records' content (JSON forms without raw and provenance),
    as ``{path: [old, new]}`` sorted by path; the paths are :func:`flatten` 's, and a field one side
    lacks reads as None.

    Equal subtrees are skipped with one comparison, so the cost follows what changed: a changed
    record differs in a few of its fields, and flattening both whole records was most of a diff.
    """
    out: dict[str, list[Any]] = {}
    _diff_into(out, old, new, "")
    out.pop("source", None)
    return {k: out[k] for k in sorted(out)}


def _is_tree(value: Any) -> bool:
    """Whether :func:`flatten` goes into ``value`` (a non-empty mapping) rather than keeping it."""
    return bool(value) and isinstance(value, Mapping)


def _diff_into(out: dict[str, list[Any]], old: Mapping[str, Any], new: Mapping[str, Any], prefix: str) -> None:
    for key in old.keys() | new.keys():
        a, b = old.get(key), new.get(key)
        if a == b:
            continue  # equal values flatten to equal fields
        path = f"{prefix}{key}"
        if _is_tree(a) and _is_tree(b):
            _diff_into(out, a, b, path + ".")
            continue
        fa = flatten(a, path + ".") if _is_tree(a) else {path: a}
        fb = flatten(b, path + ".") if _is_tree(b) else {path: b}
        for field_path in fa.keys() | fb.keys():
            x, y = fa.get(field_path), fb.get(field_path)
            if x != y:
                out[field_path] = [x, y]


@dataclass(frozen=True)
class ModelChange:
    """One model's change between two catalog states."""

    model_id: str
    change: str  # added | updated | removed
    old: Optional[Model]
    new: Optional[Model]
    diff: Mapping[str, list] = field(default_factory=dict)

    @property
    def provider(self) -> str:
        return (self.new or self.old).provider  # type: ignore[union-attr]

    def capability_delta(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(gained, lost) capabilities: names that became True, names that stopped being True."""
        gained, lost = [], []
        for cap in CAPABILITIES:
            path = f"capabilities.{cap}"
            if path in self.diff:
                before, after = self.diff[path]
                if after is True and before is not True:
                    gained.append(cap)
                elif before is True and after is not True:
                    lost.append(cap)
        return tuple(gained), tuple(lost)

    def liveness(self) -> Optional[str]:
        """LISTED when a provider now lists the model (it was a catalog's alone), DELISTED when no
        provider lists it any more but a catalog still describes it; else None."""
        if "live" not in self.diff:
            return None
        before, after = self.diff["live"]
        if after is True and before is not True:
            return LISTED
        if before is True and after is not True:
            return DELISTED
        return None

    def became_deprecated(self) -> bool:
        """True if the lifecycle status moved into legacy, deprecated or retired, or on from one
        of them to retired (the end a deprecation announced: a gateway stops routing there)."""
        if "lifecycle.status" not in self.diff:
            return False
        before, after = self.diff["lifecycle.status"]
        return (after in DEPRECATED_STATUSES and before not in DEPRECATED_STATUSES) or \
            (after == "retired" and before != "retired")


def compute_changes(old: Mapping[str, Model], new: Mapping[str, Model]) -> list[ModelChange]:
    """Every added, removed and updated model between two catalog states, sorted by id."""
    changes = []
    for model_id in sorted(old.keys() | new.keys()):
        a, b = old.get(model_id), new.get(model_id)
        if a is None and b is not None:
            changes.append(ModelChange(model_id, ADDED, None, b))
        elif b is None and a is not None:
            changes.append(ModelChange(model_id, REMOVED, a, None))
        elif a is not None and b is not None and a.content_hash() != b.content_hash():
            changes.append(ModelChange(model_id, UPDATED, a, b, diff_models(a, b)))
    return changes


def capability_counts(models: Mapping[str, Model]) -> dict[str, int]:
    """How many models support each capability (True only)."""
    counts = dict.fromkeys(CAPABILITIES, 0)
    for m in models.values():
        for cap in m.capabilities.supported():
            counts[cap] += 1
    return counts


def event_specs(change: ModelChange, entry: Any = None) -> list[tuple[str, dict[str, Any]]]:
    """The events (kind, data) one model change announces.

    Every change is ``added``/``updated``/``removed``; an update also announces
    ``capabilities_changed``, ``deprecated``, ``listed`` and ``delisted`` when those apply, so
    subscribers can listen for just those. ``entry`` (the catalog entry of the record announced) lets the event refer
    to the record's encoded form instead of encoding it again.
    """
    model = change.new or change.old
    assert model is not None
    caps = list(model.capabilities.supported())
    # The record as encoded once (a read-only mapping over its JSON), not a fresh tree of dicts.
    record = RecordJSON(entry if entry is not None else model.body(), model.provenance)  # type: ignore[arg-type]
    if change.change == ADDED:
        return [(ADDED, {"model": record, "capabilities": caps})]
    if change.change == REMOVED:
        return [(REMOVED, {"model": record, "capabilities": caps})]
    specs: list[tuple[str, dict[str, Any]]] = [
        (UPDATED, {"diff": dict(change.diff), "model": record, "capabilities": caps})
    ]
    gained, lost = change.capability_delta()
    if gained or lost:
        specs.append((CAPABILITIES_CHANGED, {"gained": list(gained), "lost": list(lost), "capabilities": caps}))
    liveness = change.liveness()
    if liveness is not None:
        # source: the provider's source that lists it now, or the catalog that still describes it.
        specs.append((liveness, {"source": model.source, "capabilities": caps}))
    if change.became_deprecated():
        before, after = change.diff["lifecycle.status"]
        specs.append((DEPRECATED, {
            "status": after, "previous_status": before,
            "deprecation_date": model.lifecycle.deprecation_date, "capabilities": caps,
        }))
    return specs


def capability_events(before: Mapping[str, int], after: Mapping[str, int]) -> list[tuple[str, dict[str, Any]]]:
    """``capability_added`` for a capability no model had before; ``capability_removed`` when the last lost it."""
    out: list[tuple[str, dict[str, Any]]] = []
    for cap in CAPABILITIES:
        if before.get(cap, 0) == 0 and after.get(cap, 0) > 0:
            out.append((CAPABILITY_ADDED, {"capability": cap, "models": after[cap]}))
        elif before.get(cap, 0) > 0 and after.get(cap, 0) == 0:
            out.append((CAPABILITY_REMOVED, {"capability": cap}))
    return out
