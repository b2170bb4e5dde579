"""The registry of every package's tables, so that metadata is complete when it is needed."""

from __future__ import annotations

import importlib

MODEL_MODULES = ("gtfs.models", "passes.models")


def import_all_models() -> None:
    """Import every ``models`` module so their tables join :data:`maas.db.Base.metadata`."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
