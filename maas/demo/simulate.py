"""A realistic month (or any number of days) of pass sales, scans and trip requests.

``maas demo --simulate-days N`` calls :func:`simulate` to fill the N days before today for the
statistics and their benchmark. The defaults make about 100,000 passes and 1,000,000 scans in
31 days: some 3,200 one-day passes a day (more at weekends), each boarding about ten times on
the buses (and the まちのり bikes of the bike pass) of the demo routes, a few percent of checks
rejected, a few passes flagged, and about one trip request per pass.

Everything is made from a seed and the day, with ids derived from them, so a second run adds
only the days that are missing. The roll-up cells are filled from the generated scans, as
scan ingestion would.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from maas.accounts.models import Rider
from maas.core.clock import TOKYO, Clock
from maas.core.errors import InvalidInput
from maas.demo.kanazawa import PORTS, ROUTES, STOP_BY_ID
from maas.stats.models import PlanRequest
from maas.stats.rollup import ScanFacts, rollup
from maas.stats.services import SalesKey, add_plan_cells, add_sales, add_to_cells, sale_of
from maas.stats.zones import zone_of
from passes.credential import credential_id
from passes.models import Order, Pass, Product
from validators.models import Device, FraudFlag, Scan

NAMESPACE = uuid.UUID("5f0c7c53-9f55-4c43-a3a5-7a3c2d9e6a10")
RIDERS = 5000
VEHICLES_PER_ROUTE = 6
# simulated passes carry no real credential: the id of their placeholder token
SIMULATED_CREDENTIAL = credential_id("simulated")
REJECT_CODES = (("expired", 40), ("outside_window", 25), ("not_covered", 15), ("replay", 10),
                ("wrong_device", 5), ("revoked", 5))
MODE_MIXES = (("default", 45), ("bus,walk", 30), ("bike,bus,walk", 15),
              ("bike,bus,taxi,walk", 7), ("walk", 3))
# boardings start most in the late morning; weights per hour of day from 06 to 23
HOUR_WEIGHTS = (2, 5, 8, 10, 12, 12, 11, 10, 10, 9, 8, 6, 4, 3, 2, 2, 1, 1)


@dataclass(frozen=True)
class Simulated:
    """What :func:`simulate` added."""

    days: int
    skipped_days: int
    orders: int
    passes: int
    scans: int
    flags: int
    plan_requests: int


def _id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "/".join(str(part) for part in parts))


@dataclass(frozen=True)
class _Place:
    operator: str
    route: str | None
    stops: tuple[str, ...]
    devices: tuple[str, ...]


def _places(operators: set[str]) -> dict[str, list[_Place]]:
    """Where each operator checks passes: its routes' vehicles, or the bike ports."""
    places: dict[str, list[_Place]] = {}
    for route in ROUTES:
        if route.agency in operators:
            stops = tuple(dict.fromkeys(s for _sign, pattern in route.patterns for s in pattern))
            devices = tuple(str(_id("device", route.id, n)) for n in range(VEHICLES_PER_ROUTE))
            places.setdefault(route.agency, []).append(
                _Place(route.agency, route.id, stops, devices))
    if "machinori" in operators:
        places["machinori"] = [_Place("machinori", None, (port.id,),
                                      (str(_id("device", "machinori", port.id)),))
                               for port in PORTS]
    return places


def _ensure_fixtures(session: Session, places: dict[str, list[_Place]], now: dt.datetime
                     ) -> list[str]:
    """The simulated riders and validator devices (made once)."""
    riders = [str(_id("rider", n)) for n in range(RIDERS)]
    if session.get(Rider, riders[0]) is None:
        session.execute(insert(Rider), [
            {"id": rider, "email": f"sim-{n:05d}@simulated.invalid",
             "password_hash": "!simulated", "created_at": now}  # no password signs in
            for n, rider in enumerate(riders)])
    known = set(session.scalars(select(Device.id)))
    devices = []
    for operator, spots in places.items():
        for place in spots:
            for n, device in enumerate(place.devices):
                if device not in known:
                    devices.append({
                        "id": device, "operator_id": operator, "status": "active",
                        "vehicle": f"sim-{place.route}-{n + 1}" if place.route else None,
                        "stop": None if place.route else place.stops[0],
                        "enrollment_code_hash": None, "token_hash": None,
                        "created_at": now, "enrolled_at": now})
    if devices:
        session.execute(insert(Device), devices)
    return riders


def simulate(session: Session, days: int, clock: Clock, *, passes_per_day: int = 3200,
             seed: int = 7, step: Callable[[str], None] | None = None) -> Simulated:
    """Fill the ``days`` days before today; each day is one transaction (committed)."""
    if not 1 <= days <= 400:
        raise InvalidInput("--simulate-days: give 1 to 400 days")
    products = list(session.scalars(select(Product).where(Product.active.is_(True))
                                    .order_by(Product.code)))
    if not products:
        raise InvalidInput("no pass products: load the demo data first")
    now = clock()
    operators = {operator for product in products for operator in product.operators}
    places = _places(operators)
    riders = _ensure_fixtures(session, places, now)
    session.commit()
    today = now.astimezone(TOKYO).date()
    totals = dict.fromkeys(("orders", "passes", "scans", "flags", "plan_requests"), 0)
    skipped = 0
    for offset in range(days, 0, -1):
        day = today - dt.timedelta(days=offset)
        if session.get(Order, str(_id("order", seed, day, 0))) is not None:
            skipped += 1
        else:
            made = _simulate_day(session, day, products, places, riders, passes_per_day,
                                 random.Random(f"{seed}/{day}"), seed)  # noqa: S311 - made-up data
            for name, count in made.items():
                totals[name] += count
            session.commit()
        if step:
            step(f"simulated {day}")
    return Simulated(days=days - skipped, skipped_days=skipped, **totals)


def _weighted(rng: random.Random, choices: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([c for c, _w in choices], weights=[w for _c, w in choices])[0]


def _simulate_day(session: Session, day: dt.date, products: list[Product],
                  places: dict[str, list[_Place]], riders: list[str], per_day: int,
                  rng: random.Random, seed: int) -> dict[str, int]:
    weekend = day.weekday() >= 5
    count = round(per_day * (1.25 if weekend else 0.9) * rng.uniform(0.9, 1.1))
    midnight = dt.datetime.combine(day, dt.time(), TOKYO)
    orders: list[dict[str, Any]] = []
    passes: list[dict[str, Any]] = []
    scans: list[dict[str, Any]] = []
    facts: list[ScanFacts] = []
    flags: list[dict[str, Any]] = []
    plans: list[dict[str, Any]] = []
    for n in range(count):
        product = products[0] if len(products) == 1 or rng.random() < 0.72 else rng.choice(
            products[1:])
        category = "child" if rng.random() < 0.12 else "adult"
        order_id, pass_id = str(_id("order", seed, day, n)), _id("pass", seed, day, n).hex
        paid_at = midnight + dt.timedelta(minutes=rng.randint(-6 * 60, 13 * 60))
        amount = product.child_yen if category == "child" else product.adult_yen
        rider = rng.choice(riders)
        status = "refunded" if rng.random() < 0.01 else "paid"
        orders.append({
            "id": order_id, "rider_id": rider, "idempotency_key": f"sim-{seed}-{day}-{n}",
            "request_hash": hashlib.sha256(order_id.encode()).hexdigest(),
            "product_code": product.code, "category": category, "service_date": day,
            "amount_yen": amount, "status": status, "provider": "simulator",
            "payment_ref": None, "created_at": paid_at, "paid_at": paid_at})
        passes.append({
            "id": pass_id, "order_id": order_id, "rider_id": rider,
            "product_code": product.code, "category": category, "service_date": day,
            "token": "simulated", "credential_id": SIMULATED_CREDENTIAL,
            "device_key": None,
            "status": "revoked" if status == "refunded" else "valid", "revoked_reason": None,
            "issued_at": paid_at})
        if status == "refunded":
            continue
        pass_scans = _rides(rng, day, midnight, pass_id, product, category, places)
        scans.extend(pass_scans)
        if rng.random() < 0.0015 and len(pass_scans) >= 2:
            first, second = pass_scans[0], pass_scans[1]
            flags.append({
                "pass_id": pass_id, "service_date": day, "reason": "impossible_speed",
                "detail": "seen at two places too far apart for the time between",
                "first_scan_id": first["id"], "second_scan_id": second["id"],
                "operator_id": second["operator_id"], "speed_kmh": round(rng.uniform(80, 300), 1),
                "created_at": second["received_at"]})
        if rng.random() < 0.9:
            plans.append(_plan_request(rng, midnight))
    for _ in range(count // 50):  # codes that are no pass at all
        place = rng.choice(rng.choice(list(places.values())))
        scans.append(_scan(rng, place, midnight + dt.timedelta(hours=rng.uniform(6, 23)), None,
                           None, None, None, "reject", "malformed"))
    for row in scans:
        facts.append(ScanFacts(row["pass_id"], row["service_date"], row["operator_id"],
                               row["device_id"], row["route_id"], row["stop"],
                               row["product_code"], row["result"], row["code"],
                               row["scanned_at"], row["server_code"], row["status"]))
    for model, rows in ((Order, orders), (Pass, passes), (Scan, scans), (FraudFlag, flags),
                        (PlanRequest, plans)):
        for start in range(0, len(rows), 10_000):
            session.execute(insert(cast(Table, model.__table__)), rows[start:start + 10_000])
    counted = rollup(facts)
    add_to_cells(session, counted.scans, counted.pass_counts())
    sold: Counter[SalesKey] = Counter()
    revenue: Counter[SalesKey] = Counter()
    for order in orders:  # inserted without the ORM, so counted here as a flush would
        key = sale_of(order["status"], order["paid_at"], order["service_date"],
                      order["product_code"], order["category"])
        if key is not None:
            sold[key] += 1
            revenue[key] += order["amount_yen"]
    add_sales(session, sold, revenue)
    add_plan_cells(session, plans)
    return {"orders": len(orders), "passes": len(passes), "scans": len(scans),
            "flags": len(flags), "plan_requests": len(plans)}


def _rides(rng: random.Random, day: dt.date, midnight: dt.datetime, pass_id: str,
           product: Product, category: str, places: dict[str, list[_Place]]
           ) -> list[dict[str, Any]]:
    """One pass's boardings through the day (and the odd rejected check)."""
    usable = [operator for operator in product.operators if operator in places]
    rides = max(1, min(24, round(rng.gauss(10.3, 3.5))))
    hour = 6 + _weighted(rng, list(enumerate(HOUR_WEIGHTS)))
    moment = midnight + dt.timedelta(hours=hour, minutes=rng.uniform(0, 60))
    out = []
    for _ in range(rides):
        operator = rng.choice(usable)
        place = rng.choice(places[operator])
        result, code = ("reject", _weighted(rng, REJECT_CODES)) if rng.random() < 0.03 else (
            "accept", "accept")
        if moment < midnight + dt.timedelta(hours=27):  # the pass's day ends at 03:00
            out.append(_scan(rng, place, moment, pass_id, product.code, category, day, result,
                             code))
        moment += dt.timedelta(minutes=rng.uniform(12, 75))
    return out


def _scan(rng: random.Random, place: _Place, moment: dt.datetime, pass_id: str | None,
          product: str | None, category: str | None, day: dt.date | None, result: str,
          code: str) -> dict[str, Any]:
    stop = rng.choice(place.stops)
    where = _COORDS.get(stop)
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "device_id": rng.choice(place.devices), "operator_id": place.operator,
        "vehicle": place.route and f"sim-{place.route}", "stop": stop, "route_id": place.route,
        "result": result, "code": code, "pass_id": pass_id, "product_code": product,
        "category": category,
        "service_date": day, "digest": None, "lat": where[0] if where else None,
        "lon": where[1] if where else None, "scanned_at": moment,
        "received_at": moment + dt.timedelta(minutes=rng.uniform(0, 30)),
        # as the server's re-verification would find them (the codes are not simulated)
        "payload": None, "server_result": result, "server_code": code,
        "status": "confirmed" if result == "accept" else "rejected"}


_COORDS = {stop.id: (stop.lat, stop.lon) for stop in STOP_BY_ID.values()} | {
    port.id: (port.lat, port.lon) for port in PORTS}
_ZONE_POINTS = list(_COORDS.values())


def _plan_request(rng: random.Random, midnight: dt.datetime) -> dict[str, Any]:
    hour = 6 + _weighted(rng, list(enumerate(HOUR_WEIGHTS)))
    moment = midnight + dt.timedelta(hours=hour, minutes=rng.uniform(0, 60))
    origin, destination = rng.sample(_ZONE_POINTS, 2)
    local = moment.astimezone(TOKYO)
    return {"requested_at": moment, "day": local.date(), "hour": local.hour,
            "modes": _weighted(rng, MODE_MIXES), "origin_zone": zone_of(*origin),
            "destination_zone": zone_of(*destination)}
