"""Method calls on an actor through its ref, without a pykka proxy.

``ActorRef.proxy()`` introspects every attribute of the actor each time a proxy is made (about
3 ms for a provider or region actor, far more with 80 of them starting at once and sharing the
GIL). The actors only ever call methods on each other, which pykka's public ``ProxyCall`` message
does directly: ``Calls(ref).refresh("manual")`` is the pykka Future of ``refresh("manual")``
and ``Calls(ref).flush.defer()`` a call whose result nobody waits for, as with a proxy.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
from typing import Any

import pykka
from pykka.messages import ProxyCall


class _Method:
    __slots__ = ("ref", "path")

    def __init__(self, ref: pykka.ActorRef, name: str):
        self.ref = ref
        self.path = (name,)

    def __call__(self, *args: Any, **kwargs: Any) -> pykka.Future:
        return self.ref.ask(ProxyCall(attr_path=self.path, args=args, kwargs=kwargs), block=False)

    def defer(self, *args: Any, **kwargs: Any) -> None:
        self.ref.tell(ProxyCall(attr_path=self.path, args=args, kwargs=kwargs))


class Calls:
    """An actor's methods, called by message (see the module's note)."""

    __slots__ = ("actor_ref",)

    def __init__(self, ref: pykka.ActorRef):
        self.actor_ref = ref

    def __getattr__(self, name: str) -> _Method:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Method(self.actor_ref, name)

    def __repr__(self) -> str:
        return f"Calls({self.actor_ref!r})"


def resolve(future: concurrent.futures.Future, result: Any) -> None:
    """Give ``future`` its result unless it has one already. A refresh's ticket can be ended by
    two threads at once (a crashed actor's I/O thread, and the writer marking its run
    interrupted): the first result stands, and the other is no error.
    """
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        if not future.done():
            future.set_result(result)
