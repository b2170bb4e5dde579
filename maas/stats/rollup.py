"""What a batch of scans adds to the statistics cells (pure).

Only what the server has checked counts (:func:`counted`): a confirmed scan as an accept
under the server's code, a rejected one under the device's reason (or the server's, when
the device accepted a pass the server had revoked); a disputed scan — a device's claim the
code does not bear out — counts nowhere, neither as a scan nor as a pass. Scans stored
before the server re-verified uploads (``legacy``) count as they always did.

A scan counts on its *service day*: the service date of the pass it carries, or, for a code
that yields no pass, the operating day of the moment it was scanned (Asia/Tokyo, the day
turning at 03:00 like a one-day pass). As a pass has one service date, the distinct passes of
a cell add up exactly over days. Each scan counts under every dimension: the day itself,
the hour of day (Asia/Tokyo), route, stop, device and product.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from maas.core.clock import TOKYO
from maas.stats.models import ALL_OPERATORS
from validators.models import CONFIRMED, DISPUTED, REJECTED

DIMENSIONS = ("day", "hour", "route", "stop", "device", "product")
DAY_TURNS = dt.timedelta(hours=3)

ScanKey = tuple[str, dt.date, str, str, str, str]  # dim, day, operator, value, result, code
PassKey = tuple[str, dt.date, str, str]  # dim, day, operator (or *), value


class ScanLike(Protocol):
    """The fields of a scan the statistics read (a ``Scan`` row or a simulated one)."""

    @property
    def pass_id(self) -> str | None: ...
    @property
    def service_date(self) -> dt.date | None: ...
    @property
    def operator_id(self) -> str: ...
    @property
    def device_id(self) -> str: ...
    @property
    def route_id(self) -> str | None: ...
    @property
    def stop(self) -> str | None: ...
    @property
    def product_code(self) -> str | None: ...
    @property
    def result(self) -> str: ...
    @property
    def code(self) -> str: ...
    @property
    def scanned_at(self) -> dt.datetime: ...
    @property
    def server_code(self) -> str | None: ...
    @property
    def status(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ScanFacts:
    """A scan's fields as plain values (read back in bulk, or made by the simulator)."""

    pass_id: str | None
    service_date: dt.date | None
    operator_id: str
    device_id: str
    route_id: str | None
    stop: str | None
    product_code: str | None
    result: str
    code: str
    scanned_at: dt.datetime
    server_code: str | None
    status: str


def counted(scan: ScanLike) -> tuple[str, str] | None:
    """The (result, code) a scan counts under, or None for a scan that counts nowhere."""
    status = scan.status
    if status == CONFIRMED:
        return "accept", scan.server_code or "accept"
    if status == DISPUTED:
        return None
    if status == REJECTED and scan.result == "accept":
        return "reject", scan.server_code or "revoked"
    return scan.result, scan.code  # refused by the device itself, or legacy


def service_day(scan: ScanLike) -> dt.date:
    """The day a scan is counted on (see the module's description)."""
    return _day(scan.pass_id, scan.service_date, scan.scanned_at.astimezone(TOKYO))


HOURS = tuple(f"{hour:02d}" for hour in range(24))


def values(scan: ScanLike) -> dict[str, str]:
    """The value of a scan under each dimension (empty when the scan does not say)."""
    return dict(_dimensions(scan, scan.scanned_at.astimezone(TOKYO)))


def _dimensions(scan: ScanLike, local: dt.datetime) -> tuple[tuple[str, str], ...]:
    return (("day", ""), ("hour", HOURS[local.hour]), ("route", scan.route_id or ""),
            ("stop", scan.stop or ""), ("device", scan.device_id),
            ("product", scan.product_code or ""))


def _day(pass_id: str | None, service_date: dt.date | None, local: dt.datetime) -> dt.date:
    if pass_id and service_date:
        return service_date
    return (local - DAY_TURNS).date()


@dataclass
class Rollup:
    """Scan counts per scan cell, and the (cell, pass) memberships behind distinct counts."""

    scans: Counter[ScanKey]
    passes: set[tuple[str, dt.date, str, str, str]]  # pass cell key + the pass id

    def pass_counts(self) -> Counter[PassKey]:
        """Distinct passes per pass cell."""
        return Counter((dim, day, operator, value)
                       for dim, day, operator, value, _pass in self.passes)


def rollup(scans: Iterable[ScanLike], *, count_scans: bool = True) -> Rollup:
    """Count ``scans`` into cells (with ``count_scans`` false, only the pass memberships).

    Runs inside every ingestion: each field is read once per scan.
    """
    counts: Counter[ScanKey] = Counter()
    members: set[tuple[str, dt.date, str, str, str]] = set()
    for scan in scans:
        verdict = counted(scan)
        if verdict is None:
            continue
        pass_id, operator = scan.pass_id, scan.operator_id
        local = scan.scanned_at.astimezone(TOKYO)
        day = _day(pass_id, scan.service_date, local)
        dimensions = _dimensions(scan, local)
        if count_scans:
            result, code = verdict
            for dim, value in dimensions:
                counts[(dim, day, operator, value, result, code)] += 1
        if pass_id:
            for dim, value in dimensions:
                members.add((dim, day, operator, value, pass_id))
                members.add((dim, day, ALL_OPERATORS, value, pass_id))
    return Rollup(counts, members)


def increment(new: Iterable[ScanLike], earlier: Iterable[ScanLike]) -> tuple[
        Counter[ScanKey], Counter[PassKey]]:
    """What ``new`` scans add, given the ``earlier`` scans of the same passes already counted.

    A pass adds to a cell's distinct count only if none of its earlier scans was in that cell.
    """
    added = rollup(new)
    seen = rollup(earlier, count_scans=False).passes
    return added.scans, Rollup(Counter(), added.passes - seen).pass_counts()
