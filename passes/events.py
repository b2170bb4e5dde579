"""What pass services announce (see :mod:`maas.core.events`)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from passes.models import Order


@dataclasses.dataclass(frozen=True)
class OrderState:
    """The parts of an order that sales statistics count."""

    status: str
    paid_at: dt.datetime | None
    service_date: dt.date
    product_code: str
    category: str
    amount_yen: int

    @classmethod
    def of(cls, order: Order) -> OrderState:
        """The state ``order`` is in now."""
        return cls(order.status, order.paid_at, order.service_date, order.product_code,
                   order.category, order.amount_yen)


@dataclasses.dataclass(frozen=True)
class OrderChanged:
    """An order's status changed (paid, declined, refunded), inside that transaction."""

    order_id: str
    before: OrderState
    after: OrderState
