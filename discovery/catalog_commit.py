"""The commit of a batch of accepted answers: the merged models they can affect are resolved,
diffed against the published index, encoded once and written with their events in one
transaction; the next index version is published after it. A mixin of
:class:`discovery.catalog.CatalogState`, whose state (sources, merge engine, index, holds) it
reads and, once the transaction has ended, moves on."""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Optional

from discovery import refresh_commit, store, stored_models
from discovery.bedrock import SOURCE_PREFIX as BEDROCK_SOURCE
from discovery.diff import (
    ADDED,
    MODELS_REFRESHED,
    RECONCILIATION_CHANGED,
    REMOVED,
    UPDATED,
    ModelChange,
    capability_events,
    diff_contents,
    event_specs,
)
from discovery.enrich import trace_json
from discovery.entry import CatalogEntry, PackedModel, trace_hash
from discovery.messages import RefreshOutcome
from discovery.model import Model, dumps, join_record, loads
from discovery.reconcile import ModelValues, conflicts_of

# Meta key of the merge settings the stored catalog follows ("held" while Bedrock's merge waits).
MERGE_KEY = "merge_fingerprint"
# Meta key prefix of each live source's missing models (JSON: the source, and its missing models
# as id → [first missed, answers missed]); the key names the source by a hash (keys are bounded).
MISSING_KEY = "missing:"


def missing_key(source: str) -> str:
    """The meta key of one source's missing models."""
    return MISSING_KEY + hashlib.blake2b(source.encode(), digest_size=16).hexdigest()


class CatalogCommit:
    """The commit of accepted answers (see the module)."""

    def _commit(self, snapshots, accepted, working, outcomes, now, reasons: Mapping[int, str] | None = None):
        """Merge, diff and store what ``accepted`` changed, in one transaction. ``reasons``: run id →
        why its changes were made, given to the versions and events of the models its source held."""
        index = self._index
        reasons = reasons or {}
        affected: set[str] = set(self._dirty)
        regions = list(self._held)
        awaited = set(self.awaited_regions)
        for snap, _previous, new, write in accepted:
            if snap.source.startswith(BEDROCK_SOURCE):
                awaited.discard(snap.source)
            if write.upserts or write.deletes:
                # The records as kept (packed), so the merge holds what the source state holds.
                upserts = {r.model.id: new.models[r.model.id] for r in write.upserts}
                if snap.source.startswith(BEDROCK_SOURCE):
                    regions.append((snap.source, upserts, write.deletes))
                else:
                    affected |= self._feed(snap.source, upserts, write.deletes)
        held: list = []
        if regions and awaited:
            # Regions still owe their first answer: hold the Bedrock merge until they all have
            # answered (or failed), so a model gets one version, not one per region answering.
            held = regions
        elif regions:
            affected |= self._feed_regions(regions)
        fallback = accepted[-1][0].run_id if accepted else self._held_run
        # Whose change a model's is, in a commit of several answers: the answer that wrote or
        # deleted its record; else its own provider's answer (ids are "<provider>/...", Bedrock's
        # regions "bedrock@<region>"): a catalog-only record that provider's new model absorbs;
        # else an answer that holds it; else the last one. (Crediting the last answer counted a
        # start-up commit's mistral and together removals in cohere's run.)
        written: dict[str, int] = {}
        for snap, _, _, write in accepted:
            for record in write.upserts:
                written[record.model.id] = snap.run_id
            for model_id in write.deletes:
                written[model_id] = snap.run_id
        provider_runs = {snap.source.partition("@")[0]: snap.run_id for snap, _, _, _ in accepted}

        def run_of(model_id: str) -> int:
            run = written.get(model_id)
            if run is None:
                run = provider_runs.get(model_id.partition("/")[0])
            if run is not None:
                return run
            for snap, previous, new, _ in reversed(accepted):
                if model_id in new.models or model_id in previous.models:
                    return snap.run_id
            return fallback  # type: ignore[return-value]

        def reason_of(model_id: str) -> Optional[str]:
            for snap, previous, _, _ in accepted:
                if snap.run_id in reasons and model_id in previous.models:
                    return reasons[snap.run_id]
            return None

        engine = self._engine_now()
        # A merged record that is a source's record as it came (nothing enriched) reuses its packing.
        packed_of = {id(rec._model): rec.packed for _, _, new, _ in accepted for model_id in new.fresh
                     for rec in (new.models.get(model_id),) if isinstance(rec, PackedModel) and rec._model is not None}
        changes: list[tuple[ModelChange, int]] = []
        touches: list[tuple[Model, bytes, bytes]] = []
        index_changes: dict[str, Optional[CatalogEntry]] = {}
        # Each new version's list form, encoded once: the store writes it, the entry keeps it packed.
        bodies: dict[str, bytes] = {}
        # Each written model's traced provenance (source, entry, match, conflicts per field), JSON.
        traced: dict[str, bytes] = {}
        # What the reconciliation looks at again: each affected id's chosen values and trace.
        resolved: dict[str, Any] = {}
        for model_id in sorted(affected):
            trace: dict = {}
            entry, merged = index.entry(model_id), engine.resolve(model_id, trace)
            resolved[model_id] = conflicts_of(ModelValues(merged), trace) if merged is not None else ()
            if entry is None and merged is None:
                continue
            trace_bytes = trace_json(trace) if merged is not None else b"{}"
            if entry is None:
                changes.append((ModelChange(model_id, ADDED, None, merged), run_of(model_id)))
            elif merged is None:
                changes.append((ModelChange(model_id, REMOVED, entry.model(), None), run_of(model_id)))
            elif entry.content_hash != merged.content_hash() and (
                    diff := diff_contents(loads(entry.body), merged.content())):
                changes.append((ModelChange(model_id, UPDATED, None, merged, diff), run_of(model_id)))
            elif (entry.content_hash != merged.content_hash() or entry.trace_hash != trace_hash(trace_bytes)
                  or entry.source != merged.source):
                # The same content (a hash written by older rules, or stated by other sources or
                # entries): no new version.
                touches.append((merged, merged.encode_body(), trace_bytes))
                bodies[model_id] = touches[-1][1]
            else:
                continue
            if merged is not None:
                body = bodies.get(model_id) or merged.encode_body()
                bodies[model_id] = body
                traced[model_id] = trace_bytes
                index_changes[model_id] = new_entry = CatalogEntry.of(merged, body, packed_of.get(id(merged)),
                                                                      keep_plain=True)
                new_entry.trace_hash = trace_hash(trace_bytes)
            else:
                index_changes[model_id] = None
        new_index = index.apply(index_changes, self.version + 1) if index_changes else index

        # Raw answers for the versions written: from this batch where the record came with one, else stored.
        fresh = {(w.source, r.model.id): r.raw for _, _, _, w in accepted for r in w.upserts}
        wanted = [(ch.new.source, ch.model_id) for ch, _ in changes if ch.new is not None]
        wanted += [(index.entry(ch.model_id).source, ch.model_id) for ch, _ in changes if ch.new is None]  # type: ignore
        stored = stored_models.load_raws(pair for pair in wanted if pair not in fresh)
        # A removed model's last version keeps the provenance it was served with.
        stored_trace = stored_models.load_provenances(ch.model_id for ch, _ in changes if ch.new is None)

        def raw_of(source: Optional[str], model_id: str) -> bytes:
            return fresh.get((source, model_id)) or stored.get((source, model_id)) or b"{}"  # type: ignore[arg-type]

        specs: list[tuple[str, Optional[str], Optional[str], Optional[int], Mapping[str, Any]]] = []
        upserts, deletes = [], []
        counts: dict[Optional[int], dict[str, int]] = {
            run: {"added": 0, "updated": 0, "removed": 0} for run in [fallback] + [s.run_id for s, _, _, _ in accepted]}
        for ch, run_id in changes:
            counts[run_id][ch.change] += 1
            announced = index_changes[ch.model_id] if ch.new is not None else index.entry(ch.model_id)
            # A retired source's models carry its reason, and so does what its going revealed (a
            # catalog entry its model stood for, now a model of its own: added) when one source
            # goes: with several, which of them it was is not known here, and no reason is better
            # than another's.
            reason = reason_of(ch.model_id) if reasons else None
            if reason is None and len(reasons) == 1 and ch.change == ADDED:
                reason = reasons.get(run_id)
            for kind, data in event_specs(ch, announced):
                specs.append((kind, ch.provider, ch.model_id, run_id, data if reason is None else {**data, "reason": reason}))
            if ch.new is not None:
                upserts.append(refresh_commit.ModelWrite(ch.new, ch.change, run_id, raw_of(ch.new.source, ch.model_id),
                                                dict(ch.diff) or None, bodies[ch.model_id], traced[ch.model_id],
                                                index_changes[ch.model_id].packed, reason))  # type: ignore[union-attr]
            else:
                old = index.entry(ch.model_id)
                assert old is not None
                last = join_record(old.body, stored_trace.get(ch.model_id) or old.provenance.json(),
                                   raw_of(old.source, ch.model_id))
                deletes.append(refresh_commit.ModelRemoval(ch.model_id, old.content_hash, last, run_id, reason))
        last_run = fallback
        for kind, data in capability_events(index.capability_counts, new_index.capability_counts):
            specs.append((kind, None, None, last_run, data))
        if affected:
            delta = self.reconciler.update(engine, affected, resolved)
            if delta:
                specs.append((RECONCILIATION_CHANGED, None, None, last_run, self._reconciliation_event(delta)))
        for snap, _, new, write in accepted:
            rejected = {"rejected": write.rejected} if write.rejected else {}
            why = {"reason": reasons[snap.run_id]} if snap.run_id in reasons else {}
            specs.append((MODELS_REFRESHED, snap.source, None, snap.run_id,
                          {"source": snap.source, "total": len(new.models), **counts[snap.run_id], **rejected, **why}))
        source_writes = tuple(with_counts(w, counts[snap.run_id]) for snap, _, _, w in accepted)
        # What the detail of each new version adds to its list form, for the record cache.
        details = {w.model.id: (w.raw, traced[w.model.id]) for w in upserts}
        if held:
            # Until the held changes are merged the store must not claim a merge that is current.
            meta: dict[str, Optional[str]] = {MERGE_KEY: "held"}
        else:
            meta = {} if self._settings_recorded else {MERGE_KEY: self.merge_fingerprint()}
        for snap, previous, new, _ in accepted:
            if new.missing != previous.missing:
                meta[missing_key(snap.source)] = dumps({
                    "source": snap.source,
                    "models": {k: [since, count] for k, (since, count) in new.missing.items()}}).decode()
        try:
            result = refresh_commit.commit_refresh(refresh_commit.RefreshWrite(
                sources=source_writes, model_upserts=tuple(upserts), model_deletes=tuple(deletes),
                model_touches=tuple((m, body, trace, index_changes[m.id].packed)  # type: ignore[union-attr]
                                    for m, body, trace in touches),
                events=tuple(specs), meta=meta), now=now)
        finally:
            # The events are stored: the new entries keep their list form packed only from here on.
            for new_entry in index_changes.values():
                if new_entry is not None:
                    new_entry.release()
        # Only after the commit: the in-memory state follows what is stored.
        self.last_commit_at = result.finished_at
        self.last_details = details
        self._sources.update(working)
        self._dirty.clear()
        self._settings_recorded = not held
        self._held = held
        self.awaited_regions = awaited
        if held:
            self._held_run = fallback
        if new_index is not index:
            self.version = new_index.version
            self._index = new_index
        for snap, _, new, write in accepted:
            outcomes[snap.run_id] = RefreshOutcome(snap.run_id, snap.source, store.SUCCEEDED,
                                                   total=len(new.models), rejected=write.rejected,
                                                   rejections=write.rejections, **counts[snap.run_id])
        changed = set(index_changes) | {r.model.id for w in source_writes for r in w.upserts}
        return [outcomes[s.run_id] for s in snapshots], result.events, changed


def with_counts(write: refresh_commit.SourceWrite, counts: Mapping[str, int]) -> refresh_commit.SourceWrite:
    from dataclasses import replace

    return replace(write, counts=dict(counts))
