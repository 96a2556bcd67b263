"""Bedrock's regions folded into one catalog entry per model, and the regions ranked for a call."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from discovery.bedrock.normalize import REGION_GROUPS
from discovery.bedrock.regions import PROVIDER, SOURCE_PREFIX, RegionStatus, UnknownBedrockModel, canonical_id, region_of
from discovery.model import Model


# -- one entry per model -------------------------------------------------------------------------
def _combine_one(per_region: Mapping[str, Model]) -> Model:
    """One model from its per-region records (``per_region`` ordered by region name)."""
    records = list(per_region.values())
    if len(records) == 1 and (records[0].regions or ()) == tuple(per_region):
        return records[0]
    direct = ("on_demand", "provisioned")
    # The record itself comes from the first region listing the model directly, so it does not
    # flip between regions from one refresh to the next.
    base = next((m for m in records
                 if any(m.attributes.get("regions_by_inference_type", {}).get(t) for t in direct)), records[0])
    attributes = dict(base.attributes)
    # Unions across regions; what holds where is kept in the regions_by_* groups.
    for key in ("inference_types", "inference_profiles", "customizations"):
        attributes[key] = tuple(sorted({v for m in records for v in m.attributes.get(key) or ()}))
    for key in REGION_GROUPS:
        grouped: dict[str, set[str]] = {}
        for m in records:
            for value, regions in (m.attributes.get(key) or {}).items():
                grouped.setdefault(value, set()).update(regions)
        attributes[key] = {v: tuple(sorted(grouped[v])) for v in sorted(grouped)}
    lifecycle = base.lifecycle
    if attributes["regions_by_lifecycle"].get("active") and lifecycle.status != "active":
        # Legacy in one region but active in another: still usable, so active.
        lifecycle = replace(lifecycle, status="active")
    capabilities = base.capabilities
    tunable = [m.capabilities.fine_tuning for m in records if m.capabilities.fine_tuning is not None]
    if tunable and any(tunable) != capabilities.fine_tuning:
        # Fine-tuning offered in some region is fine-tuning the model has (the region is in the groups).
        capabilities = replace(capabilities, fine_tuning=any(tunable))
    return base.evolve(regions=tuple(per_region), attributes=attributes, lifecycle=lifecycle,
                       capabilities=capabilities)


class RegionFold:
    """Per-region models → one model per Bedrock id, ``regions`` the union.

    Incremental: :meth:`update` takes one region's changed and removed models and recombines
    only those ids, returning the combined models that changed; :meth:`combine` takes every
    region's dict and recombines the models of regions whose dict is a different object than
    last time. A combined model whose per-region records are the very same objects as last time
    is kept as it is.
    """

    def __init__(self) -> None:
        self._regions: dict[str, Mapping[str, Model]] = {}
        self._by_id: dict[str, dict[str, Model]] = {}
        self._combined: dict[str, Model] = {}
        self._view: dict[str, Model] = {}
        # model id → (the per-region records it was combined from, the result)
        self._memo: dict[str, tuple[tuple[tuple[str, Model], ...], Model]] = {}

    def update(self, region: str, upserts: Mapping[str, Model], removed: Iterable[str] = ()
               ) -> tuple[dict[str, Model], list[str]]:
        """One region's changes in; the combined models that changed (by id) and the ids now gone out."""
        return self.update_many([(region, upserts, removed)])

    def update_many(self, changes: Iterable[tuple[str, Mapping[str, Model], Iterable[str]]]
                    ) -> tuple[dict[str, Model], list[str]]:
        """Several regions' changes (in order) in, each touched model recombined once."""
        touched: set[str] = set()
        for region, upserts, removed in changes:
            for model_id in removed:
                per_region = self._by_id.get(model_id)
                if per_region is not None and per_region.pop(region, None) is not None:
                    touched.add(model_id)
            for model_id, m in upserts.items():
                self._by_id.setdefault(model_id, {})[region] = m
                touched.add(model_id)
        return self._recombine(touched)

    def combine(self, region_models: Mapping[str, Mapping[str, Model]]) -> dict[str, Model]:
        """Combine (``region_models``: region → that region's models by id); a dict sorted by id.

        The same dict object is returned while nothing changed.
        """
        touched: set[str] = set()
        for region in self._regions.keys() - region_models.keys():
            touched.update(self._drop(region))
        for region, models in region_models.items():
            if self._regions.get(region) is not models:
                touched.update(self._drop(region))
                self._regions[region] = models
                for model_id, m in models.items():
                    self._by_id.setdefault(model_id, {})[region] = m
                touched.update(models)
        if not touched:
            return self._view
        upserts, removed = self._recombine(touched)
        if upserts or removed or not self._view:
            self._view = {k: self._combined[k] for k in sorted(self._combined)}
        return self._view

    def _recombine(self, touched: Iterable[str]) -> tuple[dict[str, Model], list[str]]:
        upserts: dict[str, Model] = {}
        removed: list[str] = []
        for model_id in touched:
            per_region = self._by_id.get(model_id)
            if not per_region:
                self._by_id.pop(model_id, None)
                self._memo.pop(model_id, None)
                if self._combined.pop(model_id, None) is not None:
                    removed.append(model_id)
                continue
            ordered = {r: per_region[r] for r in sorted(per_region)}
            parts = tuple(ordered.items())
            hit = self._memo.get(model_id)
            # A region's new dict usually holds the very same records: keep the combined one too.
            if hit is None or len(hit[0]) != len(parts) or any(
                    a[0] != b[0] or a[1] is not b[1] for a, b in zip(hit[0], parts)):
                hit = self._memo[model_id] = (parts, _combine_one(ordered))
            if self._combined.get(model_id) is not hit[1]:
                self._combined[model_id] = hit[1]
                upserts[model_id] = hit[1]
        return upserts, removed

    def _drop(self, region: str) -> Iterable[str]:
        old = self._regions.pop(region, None) or {}
        for model_id in old:
            per_region = self._by_id.get(model_id)
            if per_region is not None:
                per_region.pop(region, None)
        return old.keys()


def combine_regions(region_models: Mapping[str, Iterable[Model]]) -> list[Model]:
    """Per-region models → one model per Bedrock id, ``regions`` the union, per-region groups unioned."""
    return list(RegionFold().combine({r: {m.id: m for m in ms} for r, ms in region_models.items()}).values())


def combine_region_sources(sources: Mapping[str, Mapping[str, Model]]) -> dict[str, Mapping[str, Model]]:
    """``sources`` with every ``bedrock@<region>`` source folded into one ``bedrock`` source (in place of the first)."""
    regions = {region_of(name): models for name, models in sources.items() if name.startswith(SOURCE_PREFIX)}
    if not regions:
        return dict(sources)
    combined = RegionFold().combine(regions)
    out: dict[str, Mapping[str, Model]] = {}
    for name, models in sources.items():
        if not name.startswith(SOURCE_PREFIX):
            out[name] = models
        elif PROVIDER not in out:
            out[PROVIDER] = combined  # where the first region was, so source order is kept
    return out


# -- ranking -------------------------------------------------------------------------------------
def rank_regions(available: Iterable[str], preferred: Sequence[str] = (),
                 statuses: Mapping[str, RegionStatus] | None = None,
                 ttft: Mapping[str, float] | None = None) -> list[str]:
    """Regions to call a model in, best first.

    The preferred regions where the model is available come first, in the order given; the rest
    follow: regions whose last refresh succeeded before the others, then the regions where the
    model's time to first token was measured (``ttft``, ms), fastest first, then the others by
    control-plane latency (EWMA, unmeasured last), then by name. A region given up on (its actor
    kept crashing: nothing is known of it any more) comes last, preferred or not.
    """
    available = list(dict.fromkeys(available))
    statuses = statuses or {}
    given_up = {r for r in available if (st := statuses.get(r)) is not None and st.given_up}
    present = set(available) - given_up
    first = [r for r in dict.fromkeys(preferred) if r in present]
    ttft = ttft or {}

    def key(region: str) -> tuple:
        status = statuses.get(region)
        latency = status.latency if status is not None else None
        healthy = status is None or status.healthy
        measured = ttft.get(region)
        return (region in given_up, not healthy, measured is None, measured or 0.0, latency is None, latency or 0.0,
                region)

    return first + sorted((r for r in available if r not in first), key=key)


def resolve_model(models: Iterable[Model], lookup: Callable[[str], Model | None], model_id: str) -> Model:
    """The Bedrock model for a canonical id, a bare model id, or an inference profile id.

    Raises :class:`UnknownBedrockModel` when none matches.
    """
    wanted = canonical_id(model_id)
    found = lookup(wanted)
    if found is not None and found.provider == PROVIDER and found.regions:
        return found
    # A profile id (us.anthropic.…) means its model, even where a catalog lists the id on its own.
    profile = wanted[len(PROVIDER) + 1:]
    for m in models:
        if profile in (m.attributes.get("inference_profiles") or ()):
            return m
    if found is not None and found.provider == PROVIDER:
        return found  # known only from a catalog: no regions
    raise UnknownBedrockModel(model_id)


def region_details(model: Model) -> dict[str, dict[str, Any]]:
    """Region → how the model is reached there: access, inference types, profiles, lifecycle."""
    out: dict[str, dict[str, Any]] = {r: {"access": "inference_profile", "inference_types": [],
                                          "inference_profiles": [], "lifecycle": None, "customizations": []}
                                      for r in model.regions or ()}
    groups = model.attributes
    for value, regions in (groups.get("regions_by_inference_type") or {}).items():
        for r in regions:
            if r in out:
                out[r]["inference_types"].append(value)
                if value in ("on_demand", "provisioned"):
                    out[r]["access"] = "direct"
    for value, regions in (groups.get("regions_by_profile") or {}).items():
        for r in regions:
            if r in out:
                out[r]["inference_profiles"].append(value)
    for value, regions in (groups.get("regions_by_lifecycle") or {}).items():
        for r in regions:
            if r in out:
                out[r]["lifecycle"] = value
    for value, regions in (groups.get("regions_by_customization") or {}).items():
        for r in regions:
            if r in out:
                out[r]["customizations"].append(value)
    return out


def model_region_rows(model: Model, statuses: Mapping[str, RegionStatus]) -> list[dict[str, Any]]:
    """One row per region the model is available in: access, profiles, inference types, region health."""
    rows = []
    for region, detail in region_details(model).items():
        status = statuses.get(region)
        rows.append({"region": region, **detail,
                     "region_status": status.status if status else None,
                     "latency_ms": round(status.latency * 1000, 1) if status and status.latency is not None else None})
    return rows
