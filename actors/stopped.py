"""What a call on a stopped service raises: one error that says so, not a dead actor's."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import pykka

F = TypeVar("F", bound=Callable[..., Any])


class ServiceStopped(RuntimeError, pykka.ActorDeadError):
    """The service was stopped: its actors are gone (still a pykka.ActorDeadError, as before)."""

    def __init__(self, what: str = "") -> None:
        super().__init__(f"the service is stopped{f' ({what} needs it running)' if what else ''}; "
                         "start another with start_service")


def while_running(method: F) -> F:
    """A Service method that asks the actors: after stop, ServiceStopped instead of pykka's
    "SupervisorActor (urn:uuid:...) not found"."""
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self._stopped.is_set():
            raise ServiceStopped(f"{method.__name__}()")
        return method(self, *args, **kwargs)
    return wrapper  # type: ignore[return-value]
