"""The application shell's tables (rider accounts) and the registry of every package's tables."""

from __future__ import annotations

import datetime as dt
import importlib

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from maas.db import Base

MODEL_MODULES = ("maas.models", "gtfs.models", "passes.models", "validators.models",
                 "maas.stats.models")


def import_all_models() -> None:
    """Import every ``models`` module so their tables join :data:`maas.db.Base.metadata`."""
    for name in MODEL_MODULES:
        importlib.import_module(name)


class Rider(Base):
    """A rider's account: an e-mail address and a password hash, nothing else."""

    __tablename__ = "riders"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime]
