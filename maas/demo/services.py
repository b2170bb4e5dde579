"""Setting up the demo: generate the bundled Kanazawa data and load it (idempotently)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from gtfs.services import LoadResult, load_feed
from maas.clock import TOKYO, Clock
from maas.demo.kanazawa import write_demo
from passes.services import load_products

DEMO_FEED = "kanazawa-demo"


@dataclass(frozen=True)
class DemoData:
    """What the demo loaded: each feed's result and the product codes."""

    feeds: dict[str, LoadResult]
    products: list[str]


def load_demo(session: Session, home: Path, clock: Clock) -> DemoData:
    """Write the demo files under ``home/demo`` for today and load what changed."""
    today = clock().astimezone(TOKYO).date()
    parts = write_demo(home / "demo", today)
    feeds = {
        kind: load_feed(session, kind, DEMO_FEED, parts[kind], clock)
        for kind in ("gtfs", "gbfs", "ondemand")
    }
    products = load_products(session, parts["products"])
    return DemoData(feeds=feeds, products=[product.code for product in products])
