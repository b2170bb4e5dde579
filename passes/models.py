"""Tables of the pass service."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from maas.db import Base


class Product(Base):
    """A pass product, such as 金沢市内1日フリー乗車券.

    Validity follows the service-date rule: from ``valid_from_minutes`` after midnight of the
    service date until ``day_boundary_minutes`` after midnight of the next day.
    """

    __tablename__ = "products"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    adult_yen: Mapped[int]
    child_yen: Mapped[int]
    operators: Mapped[list[str]] = mapped_column(default=list)
    valid_from_minutes: Mapped[int] = mapped_column(default=4 * 60)
    day_boundary_minutes: Mapped[int] = mapped_column(default=3 * 60)
    max_days_ahead: Mapped[int] = mapped_column(default=30)
    static_allowed: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
