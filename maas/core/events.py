"""Domain events: a service that changes something says so, and whoever cares subscribes.

A service publishes an event on its session (:func:`publish`); the handlers subscribed to the
event's type run at once, inside the publisher's transaction, so what they write commits or
rolls back with the change that caused it. The bus travels with the session (``Session.info``),
put there by the session factory the application builds: a service needs no extra argument,
and a session made without a bus publishes to nobody.

Event types belong to the package that publishes them (``passes.events``,
``validators.events``, ``gtfs.events``); the shell subscribes the statistics to them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

E = TypeVar("E")
Handler = Callable[["Session", Any], None]
SESSION_KEY = "maas.events"


class Events:
    """Subscriptions by event type; handlers run synchronously in subscription order."""

    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = {}

    def subscribe(self, kind: type[E], handler: Callable[[Session, E], None]) -> None:
        """Call ``handler(session, event)`` for every published event of type ``kind``."""
        self._handlers.setdefault(kind, []).append(handler)

    def handlers(self, kind: type) -> tuple[Handler, ...]:
        """The handlers of ``kind`` (for tests and diagnostics)."""
        return tuple(self._handlers.get(kind, ()))

    def publish(self, session: Session, event: object) -> None:
        """Hand ``event`` to each handler of its type."""
        for handler in self._handlers.get(type(event), ()):
            handler(session, event)


def publish(session: Session, event: object) -> None:
    """Publish ``event`` on the bus ``session`` carries (nothing happens without one)."""
    events: Events | None = session.info.get(SESSION_KEY)
    if events is not None:
        events.publish(session, event)
