"""What an application holds for its whole life (``app.extensions['maas']``)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from maas.core.clock import Clock
    from maas.core.config import Settings
    from maas.core.events import Events

EXTENSION = "maas"


@dataclasses.dataclass(frozen=True)
class AppState:
    """Settings, database, clock and event bus, plus what domains keep for the process.

    ``domains`` holds the objects a domain package builds once per process (the compiled
    transit networks, the pass-coverage lookup the planner is handed), keyed by names the
    owning package defines: the foundation knows none of their types.
    """

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    events: Events
    domains: dict[str, Any] = dataclasses.field(default_factory=dict)
