"""What gtfs services announce (see :mod:`maas.core.events`)."""

from __future__ import annotations

import dataclasses
import datetime as dt


@dataclasses.dataclass(frozen=True)
class PlanAnswered:
    """A trip request was answered: when, between which resolved points, with which modes."""

    moment: dt.datetime
    origin: tuple[float, float]
    destination: tuple[float, float]
    modes: frozenset[str] | None  # None: the default (every mode)
