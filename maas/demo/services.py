"""Setting up the demo: generate the bundled Kanazawa data and load it (idempotently)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from gtfs.network import NetworkStore
from gtfs.services import LoadResult, import_gtfs, load_feed
from maas.clock import TOKYO, Clock
from maas.demo.kanazawa import write_demo
from maas.stats.simulate import Simulated, simulate
from passes.services import load_products

DEMO_FEED = "kanazawa-demo"


@dataclass(frozen=True)
class DemoData:
    """What the demo loaded: each feed's result and the product codes."""

    feeds: dict[str, LoadResult]
    products: list[str]


def load_demo(session: Session, networks: NetworkStore, clock: Clock) -> DemoData:
    """Write the demo files under ``MAAS_HOME/demo`` for today and load what changed."""
    home = networks.home
    today = clock().astimezone(TOKYO).date()
    parts = write_demo(home / "demo", today)
    feeds = {"gtfs": import_gtfs(session, networks, str(parts["gtfs"]), DEMO_FEED, clock)}
    for kind in ("gbfs", "ondemand"):
        feeds[kind] = load_feed(session, kind, DEMO_FEED, parts[kind], clock)
    products = load_products(session, parts["products"])
    return DemoData(feeds=feeds, products=[product.code for product in products])


def simulate_days(session: Session, days: int, clock: Clock,
                  step: Callable[[str], None] | None = None) -> Simulated:
    """Fill the ``days`` days before today with simulated sales, scans and trip requests."""
    return simulate(session, days, clock, step=step)
