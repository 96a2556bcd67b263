"""Immutable messages that travel between actors (pykka does not copy them)."""
from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from discovery.model import Model
from discovery.sources import wanted_source
from discovery.store import StoredEvent
from discovery.taxonomy import canonical_capabilities


@dataclass(frozen=True)
class ProviderSnapshot:
    """Everything one source reported in one successful refresh.

    A model the source answered exactly as last time is the very record the catalog handed out
    in its memo (same object); a new or changed one carries its raw answer. ``unchanged`` means
    the whole answer's body hash equals the last accepted one: ``models`` is then empty.
    ``fingerprints`` maps a model id to the hash of the item it was normalized from.
    """

    source: str
    run_id: int
    models: tuple[Model, ...]
    is_catalog: bool = False
    fetched_at: float = 0.0
    duration: float = 0.0
    # Allow an answer that empties or guts the source (from settings).
    allow_empty: bool = False
    max_removal_ratio: float = 0.5
    unchanged: bool = False
    body_hash: Optional[str] = None
    fingerprints: Mapping[str, str] = field(default_factory=dict)
    # Milliseconds spent on the request and reading the body; when (wall clock) the body was read.
    fetch_ms: Optional[float] = None
    received_at: Optional[float] = None


@dataclass(frozen=True)
class RefreshFailure:
    """A refresh that did not produce a snapshot, and why."""

    source: str
    run_id: int
    reason: str
    kind: str = "error"


# How a refresh's error begins when the provider answered and the database refused the commit.
STORE_FAILURE = "store: "


@dataclass(frozen=True)
class RefreshOutcome:
    """How a refresh run ended, as the API reports it."""

    run_id: int
    provider: str
    outcome: str  # succeeded | failed | interrupted
    added: int = 0
    updated: int = 0
    removed: int = 0
    total: Optional[int] = None
    error: Optional[str] = None
    # Records left out for breaking a limit (discovery/limits.py), and the first reasons.
    rejected: int = 0
    rejections: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "provider": self.provider, "outcome": self.outcome,
                "added": self.added, "updated": self.updated, "removed": self.removed,
                "total": self.total, "rejected": self.rejected, "rejections": list(self.rejections),
                "error": self.error}


@dataclass(frozen=True)
class ChangeBatch:
    """Events already committed to the outbox, in id order."""

    events: tuple[StoredEvent, ...]


# The longest model glob a filter takes (the webhook API's limit too): fnmatch compiles a
# pattern to a regular expression once, but matching a huge one costs each event that much.
MAX_GLOB = 512


def _names(value: Any, what: str) -> tuple[str, ...]:
    """A filter's list of names; a bare string is refused (it would be taken letter by letter)."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"{what} must be a list of names, not {type(value).__name__} {value!r}")
    names = tuple(value)
    odd = [n for n in names if not isinstance(n, str)]
    if odd:
        raise TypeError(f"{what} must be names (strings), not {odd!r}")
    return names


def check_batching(max_batch: Any, max_delay: Any) -> None:
    """Refuse a batch size that is not a positive integer or a delay that is not a finite number
    of seconds, 0 or more (None: the notifier's default); a subscriber learns it at once, not by
    missing events later."""
    if max_batch is not None and (isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1):
        raise ValueError(f"max_batch must be a positive integer, not {max_batch!r}")
    if max_delay is not None and (isinstance(max_delay, bool) or not isinstance(max_delay, (int, float))
                                  or not math.isfinite(max_delay) or not 0 <= max_delay <= MAX_DELAY):
        raise ValueError(f"max_delay must be a number of seconds from 0 to {MAX_DELAY:g} (an hour), "
                         f"not {max_delay!r}")


# The longest a subscriber's batch may gather events (a webhook's bound too): a delay past what a
# timer can be set for (1e300 s) ended the process's one timer thread.
MAX_DELAY = 3600.0


@dataclass(frozen=True)
class EventFilter:
    """Which events a subscriber wants. Empty fields match everything."""

    kinds: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    model_glob: Optional[str] = None

    def key(self) -> tuple:
        """The filter's fields as a plain tuple: equal filters have equal keys, and the key holds
        no reference to the filter itself, so a table of shared filters keyed by it (a
        ``weakref.WeakValueDictionary``) forgets a filter once nothing else uses it."""
        return (self.kinds, self.providers, self.capabilities, self.model_glob)

    @classmethod
    def build(cls, kinds=(), providers=(), capabilities=(), model_glob=None) -> "EventFilter":
        """Validate and normalize (capability aliases accepted; unknown kinds refused)."""
        from discovery.diff import EVENT_KINDS

        kinds = _names(kinds, "kinds")
        providers = _names(providers, "providers")
        capabilities = _names(capabilities, "capabilities")
        if model_glob is not None and not isinstance(model_glob, str):
            raise TypeError(f"model_glob must be a string, not {type(model_glob).__name__}")
        if model_glob is not None and len(model_glob) > MAX_GLOB:
            raise ValueError(f"model_glob must be at most {MAX_GLOB} characters")
        bad = [k for k in kinds if k not in EVENT_KINDS]
        if bad:
            raise ValueError(f"unknown event kind {', '.join(bad)}; valid: {', '.join(EVENT_KINDS)}")
        return cls(kinds, providers, canonical_capabilities(capabilities), model_glob or None)

    def matches(self, event: StoredEvent) -> bool:
        if self.kinds and event.kind not in self.kinds:
            return False
        if self.providers and not wanted_source(self.providers, event.provider):
            return False
        if self.model_glob and not (event.model_id and fnmatch.fnmatchcase(event.model_id, self.model_glob)):
            return False
        if self.capabilities:
            caps = set(event.data.get("capabilities") or ())
            if event.data.get("capability"):
                caps.add(event.data["capability"])
            for key in ("gained", "lost"):
                caps.update(event.data.get(key) or ())
            if not caps & set(self.capabilities):
                return False
        return True


@dataclass(frozen=True)
class Subscription:
    """An in-process subscriber: a callable or a pykka actor ref, with its filter and batching."""

    id: int
    target: Any
    filter: EventFilter = field(default_factory=EventFilter)
    max_batch: int = 100
    max_delay: float = 0.05
    read_only: bool = True
