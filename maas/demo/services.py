"""Setting up the demo: generate the bundled Kanazawa data and load it (idempotently)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from gtfs.network import NetworkStore
from gtfs.realtime.services import add_feed
from gtfs.services import LoadResult, import_gtfs, load_feed
from gtfs.timetable import Timetable
from maas.core.clock import TOKYO, Clock
from maas.core.files import write_atomically
from maas.demo.kanazawa import write_demo
from maas.demo.realtime import Publisher
from maas.demo.simulate import Simulated, simulate
from maas.stats.models import Partner
from maas.stats.services import add_partner
from passes.services import load_products
from validators.models import Device
from validators.services import add_device

DEMO_FEED = "kanazawa-demo"
REALTIME_INTERVALS = {"trip-updates": 20, "vehicle-positions": 10, "alerts": 60}


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


def publish_demo_realtime(sessions: Callable[[], Session],
                          timetable: Callable[[], Timetable | None], clock: Clock) -> Publisher:
    """Start the demo's GTFS-Realtime publisher for the current ``timetable`` and register
    its three feeds (again at each start: the port is new)."""
    publisher = Publisher(timetable, clock)
    publisher.start()
    with sessions() as session:
        for kind, interval in REALTIME_INTERVALS.items():
            add_feed(session, publisher.url(kind), DEMO_FEED, kind, interval)
    return publisher


def simulate_days(session: Session, days: int, clock: Clock,
                  step: Callable[[str], None] | None = None) -> Simulated:
    """Fill the ``days`` days before today with simulated sales, scans and trip requests."""
    return simulate(session, days, clock, step=step)


@dataclass(frozen=True)
class DemoLogins:
    """Credentials a demo visitor needs for the driver and partner pages."""

    device_id: str
    enrollment_code: str
    admin_key: str
    operator_key: str


DEMO_OPERATOR = "hokutetsu"
DEMO_VEHICLE = "demo-bus-1"


def ensure_demo_logins(session: Session, home: Path, clock: Clock) -> DemoLogins:
    """A driver enrolment code and partner keys for the demo, kept under MAAS_HOME (0600).

    Keys are stored hashed, so the demo keeps its own plain copies in
    ``demo-credentials.json``; a spent enrolment code or a revoked key is replaced.
    """
    path = home / "demo-credentials.json"
    try:
        saved: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = {}
    device = session.get(Device, str(saved.get("device_id", "")))
    if device is None or device.status != "pending":
        created = add_device(session, DEMO_OPERATOR, DEMO_VEHICLE, None, clock)
        saved["device_id"], saved["enrollment_code"] = created.device.id, created.enrollment_code
    for role, operator in (("admin", None), ("operator", DEMO_OPERATOR)):
        partner = session.get(Partner, str(saved.get(f"{role}_partner_id", "")))
        if partner is None or partner.revoked_at is not None:
            name = "金沢市 (demo)" if operator is None else f"{operator} (demo)"
            new = add_partner(session, name, operator, clock)
            saved[f"{role}_partner_id"], saved[f"{role}_key"] = new.partner.id, new.api_key
    home.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(saved, indent=1).encode(), 0o600)
    return DemoLogins(saved["device_id"], saved["enrollment_code"], saved["admin_key"],
                      saved["operator_key"])
