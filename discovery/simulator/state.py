"""The simulator's mutable world: each provider's model set, fault knobs and request log.

One :class:`SimulatorState` is shared by every request thread of the simulator and by the test
that drives it, so every method takes the lock. Stored records are never mutated in place (a
change stores a new copy), which lets a view serialize the records it was handed without holding
the lock.
"""
from __future__ import annotations

import copy
import gc
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Kinds of fault a provider can be told to show, and the parameters each accepts.
FAULT_PARAMS: dict[str, frozenset[str]] = {
    # ``message`` and ``headers`` values may hold "{key}": the API key the request carried (a
    # provider echoing the key, as some do in their 401 bodies).
    "status": frozenset({"status", "times", "path", "message", "headers"}),
    "redirect": frozenset({"status", "location", "times", "path"}),
    "rate_limit": frozenset({"retry_after", "times", "path"}),
    "unavailable": frozenset({"retry_after", "times", "path"}),
    "malformed": frozenset({"times", "path"}),
    "wrong_shape": frozenset({"times", "path"}),
    "empty": frozenset({"times", "path"}),
    "hang": frozenset({"seconds", "times", "path"}),
    "huge": frozenset({"mb", "times", "path"}),
    "drip": frozenset({"bytes_per_second", "times", "path"}),
    "close": frozenset({"times", "path"}),
    # Every listed record sent twice, the copy marked "duplicate": true (APIs that repeat ids).
    "duplicate": frozenset({"times", "path"}),
    # A streaming chat answer breaks off after this many answer tokens with the format's in-stream error.
    "midstream": frozenset({"after_tokens", "message", "times", "path"}),
}
FAULT_KINDS = tuple(FAULT_PARAMS)
# Whether a model set, once stored, is moved out of the cyclic collector's reach (gc.freeze). Only
# the simulator's own process turns it on (python -m discovery.simulator): there the model sets
# are most of the heap (a benchmark's catalogs run to hundreds of thousands of objects), they hold
# no reference cycles (reference counting frees a replaced one), and a full collection walking
# them stopped every request for 0.3 s. A freeze takes whatever else is alive at that moment too
# (requests in flight): their cyclic garbage, if any, is not collected, once per stored set. In a
# process that merely embeds the simulator (the tests) freezing would be that process's business,
# so it stays off.
FREEZE_MODEL_SETS = False
FAULT_DEFAULTS: dict[str, dict[str, Any]] = {
    "status": {"status": 500},
    "redirect": {"status": 302, "location": "https://elsewhere.invalid/v1/models?key={key}"},
    "rate_limit": {"retry_after": 1},
    "unavailable": {"retry_after": 1},
    "hang": {"seconds": 30.0},
    "huge": {"mb": 80},
    "drip": {"bytes_per_second": 1024},
    "midstream": {"after_tokens": 3},
}
# Recent requests kept per provider; the count covers every request since the last reset.
REQUEST_LOG_SIZE = 500
# How a provider streams chat answers (set_stream): seconds to the first answer token, answer tokens
# per second after it, how many answer tokens (at most the request's cap), thinking tokens sent
# before the answer, and whether the usage report is sent. Fast by default, so tests stay quick.
STREAM_DEFAULTS: dict[str, Any] = {"ttft": 0.02, "tokens_per_second": 500.0, "output_tokens": 32,
                                   "thinking_tokens": 0, "usage": True}


class _Remove:
    """Marker for :meth:`SimulatorState.update_model`: delete this key instead of setting it."""

    def __repr__(self) -> str:
        return "REMOVE"


REMOVE = _Remove()
# The same marker as JSON, for the admin routes: {"field": {"__remove__": true}}.
REMOVE_JSON = {"__remove__": True}


class UnknownProvider(KeyError):
    """A provider name the simulator does not serve."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass
class Fault:
    """One armed fault: its kind, its parameters, and how many more requests it hits."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    remaining: int | None = None  # None: until cleared

    def applies_to(self, path: str) -> bool:
        """Whether the fault is limited to another path than ``path``."""
        wanted = self.params.get("path")
        return not wanted or path.endswith(wanted)

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the admin routes."""
        return {"kind": self.kind, **self.params, "times": self.remaining}


def validate_fault(kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Check a fault's kind and parameters; returns the parameters with defaults filled in.

    Raises ValueError with a message that says what was wrong.
    """
    if kind not in FAULT_PARAMS:
        raise ValueError(f"unknown fault kind {kind!r}; valid kinds: {', '.join(FAULT_KINDS)}")
    unknown = set(params) - FAULT_PARAMS[kind]
    if unknown:
        raise ValueError(f"fault {kind!r} takes no parameter {', '.join(sorted(unknown))}; "
                         f"it takes: {', '.join(sorted(FAULT_PARAMS[kind]))}")
    out = {**FAULT_DEFAULTS.get(kind, {}), **{k: v for k, v in params.items() if v is not None}}
    numeric = {"status": int, "times": int, "retry_after": float, "seconds": float,
               "mb": float, "bytes_per_second": float, "after_tokens": int}
    for key, kind_type in numeric.items():
        if key in out:
            value = out[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"fault parameter {key!r} must be a number, got {value!r}")
            if value < 0 or (key in ("times", "mb", "bytes_per_second") and value <= 0):
                raise ValueError(f"fault parameter {key!r} must be positive, got {value!r}")
            out[key] = kind_type(value)
    if kind == "status" and not 400 <= out["status"] <= 599:
        raise ValueError(f"fault 'status' needs an error status 400-599, got {out['status']}")
    if kind == "redirect" and not 300 <= out["status"] <= 399:
        raise ValueError(f"fault 'redirect' needs a redirect status 300-399, got {out['status']}")
    if "headers" in out and not (isinstance(out["headers"], Mapping)
                                 and all(isinstance(k, str) and isinstance(v, str) for k, v in out["headers"].items())):
        raise ValueError("fault parameter 'headers' must be an object of strings")
    for key in ("message", "location"):
        if key in out and not isinstance(out[key], str):
            raise ValueError(f"fault parameter {key!r} must be a string")
    if "path" in out and not isinstance(out["path"], str):
        raise ValueError("fault parameter 'path' must be a string")
    return out


def deep_merge(target: Any, changes: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``target`` with ``changes`` merged in; nested objects merge, REMOVE deletes."""
    out = copy.deepcopy(dict(target)) if isinstance(target, Mapping) else {}
    for key, value in changes.items():
        if value is REMOVE or value == REMOVE_JSON:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class _ProviderState:
    """Everything the simulator holds for one provider (always used under the state's lock)."""

    def __init__(self, page_size: int | None):
        self.models: OrderedDict[str, dict] | None = None  # None: defaults not loaded yet
        self.faults: dict[str, Fault] = {}
        self.latency = 0.0
        self.page_size = page_size
        self.expected_key: str | None = None
        self.request_count = 0
        self.log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.options: dict[str, Any] = {}
        self.stream: dict[str, Any] = dict(STREAM_DEFAULTS)


def validate_stream(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Check stream knobs (see STREAM_DEFAULTS); returns them converted. Raises ValueError saying what is wrong."""
    unknown = set(changes) - set(STREAM_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown stream setting {', '.join(sorted(unknown))}; "
                         f"valid: {', '.join(STREAM_DEFAULTS)}")
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "usage":
            if not isinstance(value, bool):
                raise ValueError(f"stream setting 'usage' must be true or false, got {value!r}")
            out[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"stream setting {key!r} must be a number, got {value!r}")
        if value < 0 or (key == "tokens_per_second" and value <= 0):
            raise ValueError(f"stream setting {key!r} must be {'positive' if key == 'tokens_per_second' else '>= 0'}")
        out[key] = int(value) if key in ("output_tokens", "thinking_tokens") else float(value)
    return out


class SimulatorState:
    """Thread-safe model sets and fault knobs for every simulated provider."""

    def __init__(self) -> None:
        from discovery.simulator.formats import FORMATS_BY_PROVIDER, PROVIDER_ALIASES

        self._formats = FORMATS_BY_PROVIDER
        self._aliases = PROVIDER_ALIASES
        self._lock = threading.RLock()
        # Signalled to cut short every latency, hang and drip wait (reset and server stop).
        self._wake = threading.Condition(self._lock)
        self._generation = 0
        # Set while the server stops: a wait begun then (a request that came in meanwhile) ends at
        # once instead of holding the stop for its whole latency or time to first token.
        self._closing = False
        self._providers: dict[str, _ProviderState] = {}
        self.reset()

    # -- names -----------------------------------------------------------------------------------
    @property
    def providers(self) -> tuple[str, ...]:
        """Every provider name the simulator serves."""
        return tuple(self._formats)

    def _name(self, provider: str) -> str:
        name = self._aliases.get(provider, provider)
        if name not in self._formats:
            raise UnknownProvider(f"unknown simulated provider {provider!r}; "
                                  f"known: {', '.join(self._formats)}")
        return name

    def _get(self, provider: str) -> _ProviderState:
        return self._providers[self._name(provider)]

    def _models(self, provider: str) -> OrderedDict[str, dict]:
        """The provider's model set, loading the format's default fixture on first use."""
        name = self._name(provider)
        ps = self._providers[name]
        if ps.models is None:
            # Fixture records are shared, not copied: stored records are never changed in place.
            ps.models = self._index(name, self._formats[name].default_records(), copy_records=False)
        return ps.models

    def _index(self, provider: str, records: Iterable[Mapping[str, Any]] | Mapping[str, Any],
               copy_records: bool = True) -> OrderedDict[str, dict]:
        if isinstance(records, Mapping):
            items = [(str(k), v) for k, v in records.items()]
        else:
            record_id = self._formats[provider].record_id
            items = [(record_id(r), r) for r in records]
        out: OrderedDict[str, dict] = OrderedDict()
        for model_id, record in items:
            if not isinstance(record, Mapping):
                raise TypeError(f"model {model_id!r}: a record must be a JSON object")
            out[model_id] = copy.deepcopy(dict(record)) if copy_records else record
        if FREEZE_MODEL_SETS:
            gc.freeze()
        return out

    # -- model sets ------------------------------------------------------------------------------
    def set_models(self, provider: str, records: Iterable[Mapping[str, Any]] | Mapping[str, Any]) -> None:
        """Replace the provider's model set: a list of wire records, or a mapping id -> record."""
        with self._lock:
            name = self._name(provider)
            self._providers[name].models = self._index(name, records)

    def add_model(self, provider: str, record: Mapping[str, Any], *, model_id: str | None = None) -> str:
        """Add (or replace) one wire record; returns its id. ``model_id`` for keyed formats (LiteLLM)."""
        with self._lock:
            name = self._name(provider)
            key = model_id if model_id is not None else self._formats[name].record_id(record)
            if not isinstance(record, Mapping):
                raise TypeError("a record must be a JSON object")
            self._models(name)[key] = copy.deepcopy(dict(record))
            return key

    def remove_model(self, provider: str, model_id: str) -> None:
        """Remove one model; KeyError if the provider has no such model."""
        with self._lock:
            models = self._models(provider)
            if model_id not in models:
                raise KeyError(f"{provider} has no model {model_id!r}")
            del models[model_id]

    def update_model(self, provider: str, model_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Deep-merge ``changes`` into one wire record (REMOVE deletes a key); returns the new record."""
        with self._lock:
            models = self._models(provider)
            if model_id not in models:
                raise KeyError(f"{provider} has no model {model_id!r}")
            models[model_id] = deep_merge(models[model_id], changes)
            return copy.deepcopy(models[model_id])

    def models(self, provider: str) -> list[dict[str, Any]]:
        """A copy of the provider's current wire records, in serving order."""
        with self._lock:
            return copy.deepcopy(list(self._models(provider).values()))

    def model_items(self, provider: str) -> list[tuple[str, dict[str, Any]]]:
        """(id, record) pairs, not copied: for views, which only read them."""
        with self._lock:
            return list(self._models(provider).items())

    # -- knobs -----------------------------------------------------------------------------------
    def set_fault(self, provider: str, kind: str, **params: Any) -> None:
        """Arm a fault (see FAULT_PARAMS); ``times=N`` limits it to the next N requests."""
        clean = validate_fault(kind, params)
        times = clean.pop("times", None)
        with self._lock:
            self._get(provider).faults[kind] = Fault(kind, clean, times)

    def clear_faults(self, provider: str | None = None, kind: str | None = None) -> None:
        """Disarm the faults of one provider (one kind, or all), or of every provider."""
        with self._lock:
            targets = [self._get(provider)] if provider else list(self._providers.values())
            for ps in targets:
                if kind:
                    ps.faults.pop(kind, None)
                else:
                    ps.faults.clear()
            # A client stuck in a hang or drip is released when its fault is cleared.
            self._generation += 1
            self._wake.notify_all()

    def faults(self, provider: str) -> list[dict[str, Any]]:
        """The provider's armed faults."""
        with self._lock:
            return [f.as_dict() for f in self._get(provider).faults.values()]

    def take_fault(self, provider: str, kind: str, path: str) -> dict[str, Any] | None:
        """If a fault of ``kind`` hits this request, use up one of its times and return its params."""
        with self._lock:
            ps = self._get(provider)
            fault = ps.faults.get(kind)
            if fault is None or not fault.applies_to(path):
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del ps.faults[kind]
            return dict(fault.params)

    def set_latency(self, provider: str, seconds: float) -> None:
        """Delay every answer of the provider by ``seconds``."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ValueError(f"latency must be a number of seconds >= 0, got {seconds!r}")
        with self._lock:
            self._get(provider).latency = float(seconds)

    def latency(self, provider: str) -> float:
        """The provider's added latency in seconds."""
        with self._lock:
            return self._get(provider).latency

    def set_page_size(self, provider: str, n: int | None) -> None:
        """Largest page the provider serves (and its size when the client asks for none).

        None lifts the cap, so the provider's documented default and maximum apply; reset()
        restores the fixture's own knob, which is lowered where the fixture is short, so that the
        default answer spans three pages. Formats without pagination ignore it, except OpenRouter,
        which starts paginating with ``links.next`` when it is set.
        """
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ValueError(f"page size must be a positive integer or null, got {n!r}")
        with self._lock:
            self._get(provider).page_size = n

    def page_size(self, provider: str) -> int | None:
        """The provider's page size knob (None: no cap, the provider's wire default applies)."""
        with self._lock:
            return self._get(provider).page_size

    def set_option(self, provider: str, key: str, value: Any) -> None:
        """A format-specific switch, e.g. Ollama's ``tags_capabilities`` (v0.30+ fields in /api/tags)."""
        with self._lock:
            name = self._name(provider)
            allowed = self._formats[name].options
            if key not in allowed:
                raise ValueError(f"{name} has no option {key!r}; options: {', '.join(allowed) or 'none'}")
            self._providers[name].options[key] = value

    def option(self, provider: str, key: str) -> Any:
        """A format-specific switch's value (the format's default when never set)."""
        with self._lock:
            name = self._name(provider)
            return self._providers[name].options.get(key, self._formats[name].options.get(key))

    def set_expected_key(self, provider: str, key: str | None) -> None:
        """Require this API key (None: accept any request, keyed or not)."""
        with self._lock:
            self._get(provider).expected_key = key

    def expected_key(self, provider: str) -> str | None:
        """The key the provider requires, or None."""
        with self._lock:
            return self._get(provider).expected_key

    def set_stream(self, provider: str, **knobs: Any) -> dict[str, Any]:
        """Change how the provider streams chat answers (STREAM_DEFAULTS names the knobs); returns them all."""
        clean = validate_stream(knobs)
        with self._lock:
            ps = self._get(provider)
            ps.stream = {**ps.stream, **clean}
            return dict(ps.stream)

    def stream(self, provider: str) -> dict[str, Any]:
        """The provider's stream knobs."""
        with self._lock:
            return dict(self._get(provider).stream)

    # -- request log -----------------------------------------------------------------------------
    def record_request(self, provider: str, entry: Mapping[str, Any]) -> None:
        """Log one request (never a credential's value)."""
        with self._lock:
            ps = self._get(provider)
            ps.request_count += 1
            ps.log.append({"at": time.time(), **entry})

    def request_count(self, provider: str) -> int:
        """Requests the provider received since the last reset."""
        with self._lock:
            return self._get(provider).request_count

    def requests(self, provider: str) -> list[dict[str, Any]]:
        """The most recent requests: method, path, query, auth (which header carried a key)."""
        with self._lock:
            return copy.deepcopy(list(self._get(provider).log))

    # -- waiting ---------------------------------------------------------------------------------
    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; returns False if cut short by reset, clear_faults or wake_all."""
        deadline = time.monotonic() + seconds
        with self._lock:
            if self._closing:
                return False
            generation = self._generation
            while self._generation == generation:
                left = deadline - time.monotonic()
                if left <= 0:
                    return True
                self._wake.wait(left)
            return False

    def wake_all(self, closing: bool = False) -> None:
        """End every pending latency, hang and drip wait now; ``closing`` (the server stopping):
        every wait begun later too, until :meth:`reopen`."""
        with self._lock:
            self._generation += 1
            self._closing = self._closing or closing
            self._wake.notify_all()

    def reopen(self) -> None:
        """Waits wait again (the server started after a stop)."""
        with self._lock:
            self._closing = False

    def reset(self) -> None:
        """Back to the default fixtures, no faults, no latency, no keys, empty request logs."""
        with self._lock:
            self._providers = {name: _ProviderState(fmt.default_page_size)
                               for name, fmt in self._formats.items()}
            self._generation += 1
            self._wake.notify_all()
