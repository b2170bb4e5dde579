"""Fraud flags: one pass where one rider cannot be.

Only server-confirmed scans are compared (see :mod:`validators.evidence`): what a device merely
claims — a pass id, a place — never flags a rider's pass. Two confirmed scans of the same pass
are suspicious when the rider would have had to travel
faster than ``max_speed_kmh`` between them, or when they come from two different vehicles within
``two_vehicles_within``. A flag deny-lists the pass for the rest of its service day: the pass's
status becomes ``flagged`` and the next trust bundle carries it to every device.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from maas.core.geo import haversine_m
from passes.models import Pass
from passes.services import bundle_outdated
from validators.models import CONFIRMED, FraudFlag, IngestedScan, Scan

# GPS and stop positions are approximate: below this distance no speed is computed
MIN_DISTANCE_M = 1_000.0


@dataclasses.dataclass(frozen=True)
class FraudLimits:
    """What counts as impossible."""

    max_speed_kmh: float = 80.0
    two_vehicles_within: dt.timedelta = dt.timedelta(minutes=5)
    # a device uploading this many disputed scans within the window is flagged
    device_disputed: int = 5
    device_window: dt.timedelta = dt.timedelta(hours=24)


@dataclasses.dataclass(frozen=True)
class Suspicion:
    """Why two scans of one pass cannot both be genuine."""

    reason: str
    detail: str
    speed_kmh: float | None = None


class ScanPoint(Protocol):
    """What the fraud checks read of a scan (an ORM row or a plain result row)."""

    @property
    def id(self) -> str: ...
    @property
    def pass_id(self) -> str | None: ...
    @property
    def operator_id(self) -> str: ...
    @property
    def vehicle(self) -> str | None: ...
    @property
    def lat(self) -> float | None: ...
    @property
    def lon(self) -> float | None: ...
    @property
    def scanned_at(self) -> dt.datetime: ...
    @property
    def service_date(self) -> dt.date | None: ...


def judge_pair(first: ScanPoint, second: ScanPoint, limits: FraudLimits
               ) -> Suspicion | None:
    """Whether two accepted scans of one pass (``first`` not later) can both be genuine."""
    gap = abs((second.scanned_at - first.scanned_at).total_seconds())
    vehicles = {(first.operator_id, first.vehicle), (second.operator_id, second.vehicle)}
    if (first.vehicle and second.vehicle and len(vehicles) == 2
            and gap < limits.two_vehicles_within.total_seconds()):
        return Suspicion("two_vehicles",
                         f"vehicles {first.vehicle} and {second.vehicle} {gap:.0f} s apart")
    if (first.lat is None or first.lon is None or second.lat is None
            or second.lon is None):
        return None
    metres = haversine_m(first.lat, first.lon, second.lat, second.lon)
    if metres < MIN_DISTANCE_M:
        return None
    speed = metres / 1000 / (max(gap, 1.0) / 3600)
    if speed <= limits.max_speed_kmh:
        return None
    return Suspicion("impossible_speed",
                     f"{metres / 1000:.1f} km in {gap:.0f} s ({speed:.0f} km/h)", speed)


def check(session: Session, new_scans: Sequence[IngestedScan], now: dt.datetime,
          limits: FraudLimits, earlier: Sequence[ScanPoint] | None = None) -> list[str]:
    """Flag the passes of ``new_scans`` (confirmed, just inserted) that fail :func:`judge_pair`.

    Each new scan is compared with its neighbours in time among all confirmed scans of the
    same pass and service date. ``earlier``, when given, are the confirmed scans of those
    passes stored before this batch (ingestion has read them already); otherwise they are
    read here. Returns the pass ids flagged now.
    """
    if not new_scans:
        return []
    new_ids = {scan.id for scan in new_scans}
    pass_ids = {scan.pass_id for scan in new_scans if scan.pass_id}
    history: Sequence[ScanPoint]
    if earlier is None:
        # plain rows, not ORM objects: this runs on every upload batch
        history = session.execute(
            select(Scan.id, Scan.pass_id, Scan.service_date, Scan.scanned_at,
                   Scan.operator_id, Scan.vehicle, Scan.lat, Scan.lon)
            .where(Scan.pass_id.in_(pass_ids), Scan.status == CONFIRMED)
            .order_by(Scan.pass_id, Scan.scanned_at)).all()
    else:
        history = sorted([scan for scan in earlier if scan.pass_id in pass_ids
                          and scan.id not in new_ids] + list(new_scans),
                         key=lambda scan: (scan.pass_id or "", scan.scanned_at))
    already = set(session.scalars(
        select(FraudFlag.pass_id).where(FraudFlag.pass_id.in_(pass_ids))))
    by_pass: dict[tuple[str, object], list[ScanPoint]] = defaultdict(list)
    for scan in history:
        by_pass[(scan.pass_id or "", scan.service_date)].append(scan)
    flagged: list[str] = []
    for (pass_id, _), scans in by_pass.items():
        if pass_id in already:
            continue
        for first, second in itertools.pairwise(scans):
            if first.id not in new_ids and second.id not in new_ids:
                continue
            suspicion = judge_pair(first, second, limits)
            if suspicion is None:
                continue
            session.add(FraudFlag(
                pass_id=pass_id, service_date=second.service_date, reason=suspicion.reason,
                detail=suspicion.detail[:300], first_scan_id=first.id,
                second_scan_id=second.id, operator_id=second.operator_id,
                speed_kmh=suspicion.speed_kmh, created_at=now))
            flagged.append(pass_id)
            break
    if flagged:
        session.execute(update(Pass).where(Pass.id.in_(flagged), Pass.status == "valid")
                        .values(status="flagged", revoked_reason="fraud flag"))
        bundle_outdated(session)  # validators refuse the flagged passes from their next sync
    return flagged
