"""What validator services announce (see :mod:`maas.core.events`)."""

from __future__ import annotations

import dataclasses

from validators.models import IngestedScan


@dataclasses.dataclass(frozen=True)
class ScansIngested:
    """Scans stored for the first time, published inside the ingesting transaction."""

    scans: tuple[IngestedScan, ...]
