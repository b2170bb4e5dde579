"""The registry of every package's tables (for migrations and schema checks)."""

from __future__ import annotations

import importlib

MODEL_MODULES = ("maas.core.audit", "maas.accounts.models", "gtfs.models", "gtfs.places.models",
                 "gtfs.realtime.models", "passes.models",
                 "validators.models", "maas.stats.models")


def import_all_models() -> None:
    """Import every ``models`` module so their tables join :data:`maas.core.db.Base.metadata`."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
