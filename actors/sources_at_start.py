"""The writer's sources at start-up: a source the settings no longer name is taken out of the
catalog, or kept as it was (listed and announced as unconfigured), a region watched again is
announced, and Bedrock's merge waits for the configured regions' first answers. A mixin of
:class:`actors.catalog.CatalogActor`, which provides the state, the view, the settings and the
commit's publishing."""
from __future__ import annotations

import time
from typing import Any, Optional

import pykka
from loguru import logger

from actors.scheduling import schedule
from discovery import refresh_runs, store
from discovery.catalog import UNCONFIGURED
from discovery.health import UNKNOWN
from discovery.messages import ProviderSnapshot, RefreshOutcome
from discovery.settings import ProviderConfig
from discovery.sources import region_of


class SourcesAtStart:
    """Taking out, keeping and holding sources as the writer loads them (see the module)."""

    def _kept_configs(self, rows: dict[str, dict[str, Any]]) -> list[ProviderConfig]:
        """A config, from its provider row, of each stored source the settings do not name whose
        models are kept (Settings.keeps): they merge as they did while it was configured (a catalog's
        records stay catalog entries, not live models, and a live provider's models are matched
        under the catalog name it had)."""
        from discovery.providers import FORMATS

        configured = {p.name for p in self.settings.providers}
        return [ProviderConfig(name=name, format=row["format"],
                               options={"catalog_provider": row["catalog_name"]} if row.get("catalog_name") else {})
                for name, row in sorted(rows.items())
                if name not in configured and row.get("model_count") and row.get("format") in FORMATS
                and self.settings.keeps(name, "") is not None]

    def retire_unconfigured(self, regions: Optional[list[str]] = None) -> list[RefreshOutcome]:
        """Take out of the catalog the models of every source the settings no longer name (or
        disable): one commit, a run per source (trigger ``unconfigured``), each version and event
        saying why. Called as the sources load at start-up; ``regions``: every watched Bedrock
        region, once EC2 has named them (``discover_regions``). Reached by tell too."""
        if regions is not None and self.state.awaited_regions:
            # Taken out now, a region's removal would be held with the awaited regions' answers and
            # written later under another run, without its reason (and taken out before those
            # answers, the models they serve too would leave and come back): after the hold.
            self._retire_after_hold = list(regions)
            return []
        try:
            stored = self.state.stored_sources()
        except Exception:
            logger.exception("could not read the stored sources")
            return []
        reasons = {}
        for name in sorted(stored):
            why = self.settings.unconfigured(name, regions)
            if why is None:
                self._watched_again(name, regions)
                continue
            kept = self.settings.keeps(name, why)
            if kept is None:
                reasons[name] = why
            else:
                self._keep(name, stored[name], *kept)
        if not reasons:
            return []
        started = time.time()
        runs = {name: self.view.next_run_id() for name in reasons}
        self.write_begun()
        try:
            refresh_runs.begin_runs([{"id": runs[name], "provider": name, "trigger": UNCONFIGURED,
                                      "started_at": started, "epoch": store.FENCE.epoch} for name in reasons])
            # A region has no provider row of its own until now: with one, its name stays known to
            # the filters of the runs and events that explain where its models went.
            unrowed = [name for name in reasons if name not in self.view.provider_rows]
            if unrowed:
                store.ensure_providers((name, self.state.formats.get(name, "bedrock"), False) for name in unrowed)
            outcomes, events, changed = self.state.retire({name: (runs[name], why) for name, why in reasons.items()})
        except Exception as exc:  # the transaction rolled back: the models stay, the next start tries again
            logger.exception("could not take the models of {} out of the catalog", ", ".join(reasons))
            store.heal_connection()
            return [self._fail(name, runs[name], f"store: {type(exc).__name__}: {exc}") for name in reasons]
        for o in outcomes:
            # Loud on purpose: a name mistyped in the settings file empties a source this way.
            logger.bind(provider=o.provider, run_id=o.run_id).warning(
                "{}: its {} models left the catalog (run {}: {} removed, {} updated where other sources "
                "still describe them; their history is kept); configure it again and its next refresh "
                "brings them back", reasons[o.provider], stored[o.provider], o.run_id, o.removed, o.updated)
        if any(name in self.view.memos for name in reasons):
            self.view.memos = {name: memo for name, memo in self.view.memos.items() if name not in reasons}
        snapshots = [ProviderSnapshot(source=o.provider, run_id=o.run_id, models=()) for o in outcomes]
        return self._committed(snapshots, outcomes, events, changed)

    def _keep(self, name: str, count: int, why: str, take_out: str) -> None:
        """Leave a source the settings do not name as it is (Settings.keeps): listed as unconfigured,
        not refreshed, its models unchanged; warned about once."""
        if name in self.view.kept_sources:
            return
        reason = f"{why}; its {count} models are kept as they were"
        self.view.kept_sources = {**self.view.kept_sources, name: (reason, count)}
        logger.bind(provider=name).warning("{} ({} is not refreshed; /api/v1/providers lists it as unconfigured); {}",
                                           reason, name, take_out)
        # Stored and announced as any other status (no event when it was already unconfigured): a
        # subscriber learns that the source's models are no longer refreshed. A region without a
        # provider row gets one with it (set_provider_status).
        self.set_provider_status(name, UNCONFIGURED, reason)

    def _watched_again(self, name: str, regions: Optional[list[str]]) -> None:
        """A region stored as unconfigured that is watched again: its status is unknown until its
        first answer (announced). A provider's own actor reports its status at its first check,
        against the stored one, so a provider needs nothing here."""
        region = region_of(name)
        if region is None or (self.view.provider_rows.get(name) or {}).get("status") != UNCONFIGURED:
            return
        if regions is None and self.settings.bedrock.discover_regions and region not in self.settings.bedrock.regions:
            return  # every region counts as watched until EC2 names the watched ones (retire_unconfigured)
        self.set_provider_status(name, UNKNOWN, "watched again; its status is known at its first refresh",
                                 UNCONFIGURED)

    def _await_regions(self) -> None:
        """At start-up, Bedrock's merge waits for every configured region's first answer (see
        CatalogState.await_regions), at most ``hold`` seconds."""
        bedrock = self.settings.bedrock
        if not (bedrock.enabled and self.settings.refresh_on_start and bedrock.regions):
            return
        from discovery.bedrock import source_name

        self.state.await_regions(source_name(r) for r in bedrock.regions)
        hold = max(30.0, bedrock.timeout * 3 + 5)
        schedule(hold, self._proxy.release_held.defer, name="timer-catalog-release-held")

    def release_held(self) -> None:
        """Stop waiting for regions that have not answered: merge what was held (reached by tell)."""
        try:
            events, changed = self.state.release_held()
        except Exception:
            logger.exception("could not merge the held Bedrock region answers")
            return
        self._published(events, changed)

    def _retire_when_settled(self) -> None:
        """Ask for the retire_unconfigured put off while the start-up merge waited, once it waits no more."""
        if self._retire_after_hold is not None and not self.state.awaited_regions:
            regions, self._retire_after_hold = self._retire_after_hold, None
            try:
                self._proxy.retire_unconfigured.defer(regions)
            except pykka.ActorDeadError:
                pass  # stopping (the last answers are written from on_stop): the next start does it
