"""Partner statistics: partners and keys, the roll-ups, and each statistic.

Statistics read roll-up cells (``stats_scan_cells``, ``stats_pass_cells``) kept current by
:func:`on_scans` inside every scan ingestion, the orders, the fraud flags and the recorded
plan requests. Nothing here imports flask; each public function that writes commits.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import secrets
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import groupby
from typing import Any, cast

from sqlalchemy import (
    Table,
    column,
    delete,
    func,
    insert,
    literal_column,
    select,
    table,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gtfs.events import PlanAnswered
from maas.core.auth import hash_token
from maas.core.clock import TOKYO, Clock, isoformat_tokyo
from maas.core.config import Settings
from maas.core.errors import FieldError, Forbidden, InvalidInput, NotFound, Unauthorized
from maas.core.journal import Journal
from maas.stats import privacy
from maas.stats.apportion import apportion
from maas.stats.models import (
    ALL_OPERATORS,
    Partner,
    PassCell,
    PlanCell,
    PlanPairCell,
    PlanRequest,
    SalesCell,
    ScanCell,
)
from maas.stats.reports import (
    ApportionmentReport,
    DeviceFlagOut,
    DisputedScanOut,
    FlagOut,
    FraudReport,
    FraudRow,
    ODRow,
    PlannerReport,
    PlannerRow,
    ProductRevenue,
    SalesReport,
    SalesRow,
    ShareRow,
    ValidationRow,
    ValidationsReport,
)
from maas.stats.rollup import PassKey, ScanFacts, ScanKey, counted, increment, rollup
from maas.stats.zones import zone_of
from passes.events import OrderChanged
from passes.models import Order, Pass, Product
from validators.events import ScansIngested
from validators.evidence import among
from validators.models import DISPUTED, Device, DeviceFlag, FraudFlag, Scan

log = logging.getLogger(__name__)

KEY_PREFIX = "maas_pk_"
MAX_DAYS = 400
DEFAULT_DAYS = 30
OTHERS = "(others)"  # what an operator partner sees of the other operators' shares
TOP_OD = 20
MAX_FLAGS = 500
_operators = table("operators", column("id"))


# --- partners and keys -----------------------------------------------------------------------

@dataclass(frozen=True)
class NewPartner:
    """A partner and its API key (shown once; only its hash is stored)."""

    partner: Partner
    api_key: str


def add_partner(session: Session, name: str, operator_id: str | None, clock: Clock) -> NewPartner:
    """Create an operator partner (``operator_id``) or the administrator (None)."""
    if not name.strip():
        raise InvalidInput("NAME: give the partner's name", errors=[FieldError("name", "empty")])
    if operator_id is not None and session.scalar(
            select(_operators.c.id).where(_operators.c.id == operator_id)) is None:
        raise NotFound(f"no operator {operator_id!r} (see GET /api/v1/operators)")
    api_key = KEY_PREFIX + secrets.token_urlsafe(32)
    partner = Partner(id=str(uuid.uuid4()), name=name.strip(),
                      role="operator" if operator_id else "admin", operator_id=operator_id,
                      key_hash=hash_token(api_key), created_at=clock(), revoked_at=None)
    session.add(partner)
    session.commit()
    return NewPartner(partner, api_key)


def revoke_partner(session: Session, partner_id: str, clock: Clock) -> Partner:
    """Stop a partner's key working (revoking twice keeps the first time)."""
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise NotFound(f"no partner {partner_id!r}")
    if partner.revoked_at is None:
        partner.revoked_at = clock()
        session.commit()
    return partner


def list_partners(session: Session) -> list[Partner]:
    """Every partner, oldest first."""
    return list(session.scalars(select(Partner).order_by(Partner.created_at, Partner.id)))


def authenticate_partner(session: Session, api_key: str) -> Partner:
    """The partner an API key belongs to; :class:`Unauthorized` for anything else.

    A rider's access token or a device token is not a partner key and is refused the same way.
    """
    partner = session.scalar(select(Partner).where(Partner.key_hash == hash_token(api_key)))
    if partner is None:
        raise Unauthorized("not a partner API key")
    if partner.revoked_at is not None:
        raise Unauthorized("this partner API key has been revoked")
    return partner


# --- what a request asks for -----------------------------------------------------------------

@dataclass(frozen=True)
class StatsRequest:
    """A statistic's period (inclusive Asia/Tokyo dates), grouping and operator in detail."""

    start: dt.date
    end: dt.date
    group: str
    operator: str | None  # None: all operators (administrator only)

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """The period as [start, end) instants."""
        start = dt.datetime.combine(self.start, dt.time(), TOKYO)
        end = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), TOKYO)
        return start, end


def stats_request(session: Session, partner: Partner, start: dt.date | None,
                  end: dt.date | None, group: str, operator: str | None,
                  clock: Clock) -> StatsRequest:
    """Check the period and who may see which operator's detail.

    The period defaults to the 30 days up to today; an operator partner sees its own operator
    (asking for another is :class:`Forbidden`); the administrator sees any or all.
    """
    today = clock().astimezone(TOKYO).date()
    end = end or (today if start is None else min(today, start + dt.timedelta(days=29)))
    start = start or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise InvalidInput("from: must not be after to",
                           errors=[FieldError("from", "after to")])
    if (end - start).days >= MAX_DAYS:
        raise InvalidInput(f"from: a period spans at most {MAX_DAYS} days",
                           errors=[FieldError("from", f"more than {MAX_DAYS} days before to")])
    if partner.role != "admin":
        if operator not in (None, partner.operator_id):
            raise Forbidden(f"this key sees operator {partner.operator_id!r} in detail, "
                            f"not {operator!r}")
        operator = partner.operator_id
    elif operator is not None and session.scalar(
            select(_operators.c.id).where(_operators.c.id == operator)) is None:
        raise InvalidInput(f"operator: no operator {operator!r}",
                           errors=[FieldError("operator", "unknown operator")])
    return StatsRequest(start, end, group, operator)


def _window(request: StatsRequest, k: int) -> dict[str, Any]:
    return {"from": request.start, "to": request.end, "group": request.group,
            "operator": request.operator, "k": k}


# --- roll-ups --------------------------------------------------------------------------------

SCAN_KEY = ("dim", "day", "operator_id", "value", "result", "code")
PASS_KEY = ("dim", "day", "operator_id", "value")


def on_scans(session: Session, event: ScansIngested) -> None:
    """Add a batch of newly ingested scans to the roll-up cells (subscribed to
    :class:`ScansIngested`; runs inside the ingesting transaction, which the caller commits).

    Disputed scans count nowhere (:func:`maas.stats.rollup.counted`): what the server could
    not confirm never reaches the cells, the apportionment or the k threshold.
    """
    scans = [scan for scan in event.scans if counted(scan) is not None]
    if not scans:
        return
    ids = {scan.id for scan in event.scans}
    pass_ids = sorted({scan.pass_id for scan in scans if scan.pass_id})
    earlier: list[ScanFacts] = []
    for chunk in _chunks(pass_ids, 500):
        # this batch's own scans are among them: told apart here, by id, rather than by a
        # NOT IN over the whole batch that the database would test row by row
        earlier.extend(ScanFacts(*tuple(row)[1:]) for row in session.execute(
            select(Scan.id, *_FACT_COLUMNS).where(among(session, Scan.pass_id, chunk)))
            if row[0] not in ids)
    scan_counts, pass_counts = increment(scans, earlier)
    add_to_cells(session, scan_counts, pass_counts)


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for index in range(0, len(items), size):
        yield items[index:index + size]


def add_to_cells(session: Session, scans: Mapping[ScanKey, int],
                 passes: Mapping[PassKey, int]) -> None:
    """Add counts to the roll-up cells (insert or increment; no commit)."""
    _upsert_add(session, cast(Table, ScanCell.__table__), SCAN_KEY, "scans", scans)
    _upsert_add(session, cast(Table, PassCell.__table__), PASS_KEY, "passes", passes)


def _upsert_add(session: Session, target: Table, keys: tuple[str, ...], counter: str,
                counts: Mapping[tuple[Any, ...], int]) -> None:
    # sorted, so concurrent ingestions lock cells in the same order and never deadlock
    rows = [dict(zip(keys, key, strict=True)) | {counter: n}
            for key, n in sorted(counts.items()) if n]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert(target) if dialect == "postgresql" else sqlite.insert(target)
    statement = insert.on_conflict_do_update(
        index_elements=list(keys), set_={counter: target.c[counter] + insert.excluded[counter]})
    for start in range(0, len(rows), 5000):
        session.execute(statement, rows[start:start + 5000])


SALES_KEY = ("paid_day", "service_date", "product_code", "category")
SalesKey = tuple[dt.date, dt.date, str, str]


def sale_of(status: str | None, paid_at: dt.datetime | None, service_date: dt.date | None,
            product: str | None, category: str | None) -> SalesKey | None:
    """The sales cell a paid order counts in (None for an order that is not paid)."""
    if status != "paid" or paid_at is None or service_date is None or not product:
        return None
    return (paid_at.astimezone(TOKYO).date(), service_date, product, category or "")


def add_sales(session: Session, passes: Mapping[SalesKey, int],
              revenue: Mapping[SalesKey, int]) -> None:
    """Add paid passes and revenue to the sales cells (no commit)."""
    rows = [dict(zip(SALES_KEY, key, strict=True))
            | {"passes": passes.get(key, 0), "revenue_yen": revenue.get(key, 0)}
            for key in sorted(set(passes) | set(revenue))
            if passes.get(key, 0) or revenue.get(key, 0)]
    if not rows:
        return
    target = cast(Table, SalesCell.__table__)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert(target) if dialect == "postgresql" else sqlite.insert(target)
    session.execute(insert.on_conflict_do_update(index_elements=list(SALES_KEY), set_={
        "passes": target.c.passes + insert.excluded.passes,
        "revenue_yen": target.c.revenue_yen + insert.excluded.revenue_yen}), rows)


def on_order_changed(session: Session, event: OrderChanged) -> None:
    """Keep the sales cells current: an order paid, refunded or declined moves its count and
    revenue between cells in the same transaction (subscribed to :class:`OrderChanged`).
    """
    passes: Counter[SalesKey] = Counter()
    revenue: Counter[SalesKey] = Counter()
    for state, sign in ((event.before, -1), (event.after, 1)):
        key = sale_of(state.status, state.paid_at, state.service_date, state.product_code,
                      state.category)
        if key is not None:
            passes[key] += sign
            revenue[key] += sign * state.amount_yen
    add_sales(session, passes, revenue)


_FACT_COLUMNS = (Scan.pass_id, Scan.service_date, Scan.operator_id, Scan.device_id,
                 Scan.route_id, Scan.stop, Scan.product_code, Scan.result, Scan.code,
                 Scan.scanned_at, Scan.server_code, Scan.status)


def rebuild_rollups(session: Session) -> int:
    """Recompute every roll-up cell from the scans, orders and plan requests (a repair).

    Returns the number of scans read.

    Reads the scans pass by pass, so memory holds one pass's scans and the cells, not all
    the scans.
    """
    session.execute(delete(ScanCell))
    session.execute(delete(PassCell))
    session.execute(delete(SalesCell))
    session.execute(delete(PlanCell))
    session.execute(delete(PlanPairCell))
    session.execute(update(PlanRequest).where(PlanRequest.counted.is_(False))
                    .values(counted=True).execution_options(synchronize_session=False))
    plan_columns = (PlanRequest.day, PlanRequest.hour, PlanRequest.modes,
                    PlanRequest.origin_zone, PlanRequest.destination_zone)
    add_plan_cells(session, (row._asdict() for row in session.execute(
        select(*plan_columns).execution_options(yield_per=20_000))))
    sold: Counter[SalesKey] = Counter()
    revenue: Counter[SalesKey] = Counter()
    for status, paid_at, service_date, product, category, yen in session.execute(
            select(Order.status, Order.paid_at, Order.service_date, Order.product_code,
                   Order.category, Order.amount_yen).where(Order.status == "paid")):
        key = sale_of(status, paid_at, service_date, product, category)
        if key is not None:
            sold[key] += 1
            revenue[key] += yen
    add_sales(session, sold, revenue)
    scans: Counter[ScanKey] = Counter()
    passes: Counter[PassKey] = Counter()
    rows = session.execute(select(*_FACT_COLUMNS).order_by(Scan.pass_id, Scan.scanned_at)
                           .execution_options(yield_per=20_000))
    read = 0
    facts_of = (ScanFacts(**row._asdict()) for row in rows)
    for _pass_id, group in groupby(facts_of, lambda facts: facts.pass_id):
        facts = list(group)
        read += len(facts)
        counted = rollup(facts)
        scans.update(counted.scans)
        passes.update(counted.pass_counts())
    add_to_cells(session, scans, passes)
    session.commit()
    return read


# --- helpers of the queries ------------------------------------------------------------------

def _key(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _product_operators(session: Session) -> dict[str, list[str]]:
    return {code: list(operators or []) for code, operators in
            session.execute(select(Product.code, Product.operators))}


# --- sales -----------------------------------------------------------------------------------

SALES_GROUPS = ("day", "product", "category")


def sales(session: Session, request: StatsRequest, k: int) -> SalesReport:
    """Passes sold (paid orders) and revenue by day of payment, product or category.

    With an operator in detail, the products that cover that operator; ``consortium`` is the
    same over every product.
    """
    covering = None
    if request.operator is not None:
        covering = {code for code, operators in _product_operators(session).items()
                    if request.operator in operators}
    key: Any = {"day": SalesCell.paid_day, "product": SalesCell.product_code,
                "category": SalesCell.category}[request.group]
    # cells by key and product, summed here both ways
    counted = session.execute(
        select(key, SalesCell.product_code, func.sum(SalesCell.passes),
               func.sum(SalesCell.revenue_yen))
        .where(SalesCell.paid_day.between(request.start, request.end))
        .group_by(key, SalesCell.product_code))
    mine: dict[str | None, list[int]] = {}
    everyone: dict[str | None, list[int]] = {}
    for value, product, count, revenue in counted:
        for cells, counts in ((everyone, True), (mine, covering is None or product in covering)):
            if counts and count:
                cell = cells.setdefault(_key(value), [0, 0])
                cell[0] += int(count)
                cell[1] += int(revenue or 0)

    def rows(cells: dict[str | None, list[int]]) -> list[SalesRow]:
        return [SalesRow.model_validate(privacy.apply(
            {"key": value, "passes": count, "revenue_yen": revenue}, count, k, ("key",)))
            for value, (count, revenue) in sorted(cells.items(), key=lambda i: str(i[0]))]

    return SalesReport.model_validate(_window(request, k) | {"rows": rows(mine),
                                                             "consortium": rows(everyone)})


# --- validations -----------------------------------------------------------------------------

VALIDATION_GROUPS = ("day", "hour", "route", "stop", "operator", "device", "product")


def validations(session: Session, request: StatsRequest, k: int) -> ValidationsReport:
    """Accepted and rejected scans (by reason) and distinct passes, per cell of the grouping."""
    rows = _validation_rows(session, request.group, request, request.operator, k)
    if request.group in ("day", "hour"):
        consortium = rows if request.operator is None else _validation_rows(
            session, request.group, request, None, k)
    else:
        consortium = _validation_rows(session, "total", request, None, k)
    return ValidationsReport.model_validate(_window(request, k) | {"rows": rows,
                                                                   "consortium": consortium})


def _validation_rows(session: Session, group: str, request: StatsRequest,
                     operator: str | None, k: int) -> list[ValidationRow]:
    dim = group if group in ("hour", "route", "stop", "device", "product") else "day"
    scan_key: Any
    pass_key: Any
    if group == "day":
        scan_key, pass_key = ScanCell.day, PassCell.day
    elif group == "operator":
        scan_key, pass_key = ScanCell.operator_id, PassCell.operator_id
    elif group == "total":
        scan_key, pass_key = ScanCell.dim, PassCell.dim
    else:
        scan_key, pass_key = ScanCell.value, PassCell.value
    scan_query = (select(scan_key, ScanCell.result, ScanCell.code, func.sum(ScanCell.scans))
                  .where(ScanCell.dim == dim, ScanCell.day.between(request.start, request.end))
                  .group_by(scan_key, ScanCell.result, ScanCell.code))
    pass_query = (select(pass_key, func.sum(PassCell.passes))
                  .where(PassCell.dim == dim, PassCell.day.between(request.start, request.end))
                  .group_by(pass_key))
    if operator is not None:
        scan_query = scan_query.where(ScanCell.operator_id == operator)
        pass_query = pass_query.where(PassCell.operator_id == operator)
    elif group == "operator":
        pass_query = pass_query.where(PassCell.operator_id != ALL_OPERATORS)
    else:
        pass_query = pass_query.where(PassCell.operator_id == ALL_OPERATORS)
    cells: dict[Any, dict[str, Any]] = {}
    for value, result, code, count in session.execute(scan_query):
        cell = cells.setdefault(value, {"accepted": 0, "rejected": 0, "cannot_judge": 0,
                                        "reasons": Counter()})
        if result == "accept":
            cell["accepted"] += int(count)
        elif result == "reject":
            cell["rejected"] += int(count)
            cell["reasons"][code] += int(count)
        else:
            cell["cannot_judge"] += int(count)
    distinct = {value: int(count) for value, count in session.execute(pass_query)}
    rows = []
    for value in sorted(cells, key=lambda v: (v is None, str(v))):
        cell = cells[value]
        label = "total" if group == "total" else _key(value)
        rows.append(ValidationRow.model_validate(privacy.apply(
            {"key": label, "accepted": cell["accepted"], "rejected": cell["rejected"],
             "cannot_judge": cell["cannot_judge"], "reasons": dict(sorted(cell["reasons"].items())),
             "passes": distinct.get(value, 0)},
            distinct.get(value, 0), k, ("key",))))
    return rows


# --- apportionment ---------------------------------------------------------------------------

def apportionment(session: Session, request: StatsRequest, settings: Settings
                  ) -> ApportionmentReport:
    """The period's pass revenue (paid orders by service date) split among operators.

    The administrator sees every operator's share; an operator partner its own share and the
    rest as one ``(others)`` share, so the shares still add up to the revenue.
    """
    k = settings.stats_min_passes
    product_operators = _product_operators(session)
    sold = [(code, int(count), int(yen)) for code, count, yen in session.execute(
        select(SalesCell.product_code, func.sum(SalesCell.passes),
               func.sum(SalesCell.revenue_yen))
        .where(SalesCell.service_date.between(request.start, request.end))
        .group_by(SalesCell.product_code).order_by(SalesCell.product_code)) if count]
    revenue = {code: int(yen or 0) for code, _count, yen in sold}
    counted = session.execute(
        select(ScanCell.value, ScanCell.operator_id, func.sum(ScanCell.scans))
        .where(ScanCell.dim == "product", ScanCell.result == "accept",
               ScanCell.day.between(request.start, request.end))
        .group_by(ScanCell.value, ScanCell.operator_id))
    used = {(product, operator): int(n) for product, operator, n in counted}
    distinct = {operator: int(n) for operator, n in session.execute(
        select(PassCell.operator_id, func.sum(PassCell.passes))
        .where(PassCell.dim == "day", PassCell.operator_id != ALL_OPERATORS,
               PassCell.day.between(request.start, request.end))
        .group_by(PassCell.operator_id))}
    weights = {operator: Fraction(str(weight)) for operator, weight in settings.apportion_weights}
    base_share = Fraction(str(settings.apportion_base_share))
    result = apportion(revenue, product_operators, used, base_share=base_share, weights=weights)
    shares = [
        ShareRow.model_validate(privacy.apply(
            {"operator": share.operator, "yen": share.yen, "base_yen": round(float(share.base), 2),
             "usage_yen": round(float(share.usage), 2), "validations": share.validations,
             "weighted_validations": round(float(share.weighted), 2)},
            distinct.get(share.operator, 0), k,
            ("operator", "yen", "base_yen", "usage_yen")))
        for share in result.shares
    ]
    if request.operator is not None:
        own = [share for share in shares if share.operator == request.operator]
        rest = [share for share in shares if share.operator != request.operator]
        shares = own + ([ShareRow(
            operator=OTHERS, yen=sum(share.yen for share in rest),
            base_yen=round(sum(share.base_yen for share in rest), 2),
            usage_yen=round(sum(share.usage_yen for share in rest), 2),
            validations=None, weighted_validations=None, suppressed=False)] if rest else [])
    products = [ProductRevenue(product=code, passes=count, revenue_yen=int(yen or 0),
                               operators=product_operators.get(code, []))
                for code, count, yen in sold]
    return ApportionmentReport.model_validate(_window(request, k) | {
        "revenue_yen": result.revenue_yen, "base_share": float(base_share),
        "weights": {operator: float(weight) for operator, weight in weights.items()},
        "shares": shares, "products": products})


# --- fraud -----------------------------------------------------------------------------------

FRAUD_GROUPS = ("day", "reason")


def fraud(session: Session, request: StatsRequest, k: int, *, admin: bool) -> FraudReport:
    """Flagged passes per day or reason (the administrator also gets the flags themselves),
    and the disputed scans and flagged devices of the operator (every operator for the
    administrator), by the time the server received them.

    Disputed scans name the device, never a rider: only the administrator sees the pass id a
    device claimed.
    """
    start, end = request.bounds()
    query = (select(FraudFlag).where(FraudFlag.created_at >= start, FraudFlag.created_at < end)
             .order_by(FraudFlag.created_at.desc(), FraudFlag.id.desc()))
    flags = list(session.scalars(query))
    mine = [flag for flag in flags
            if request.operator is None or flag.operator_id == request.operator]

    def cells(chosen: Iterable[FraudFlag]) -> list[FraudRow]:
        grouped: dict[str, list[FraudFlag]] = defaultdict(list)
        for flag in chosen:
            key = (flag.created_at.astimezone(TOKYO).date().isoformat()
                   if request.group == "day" else flag.reason)
            grouped[key].append(flag)
        return [FraudRow.model_validate(privacy.apply(
            {"key": key, "flags": len(group), "passes": len({f.pass_id for f in group})},
            len({f.pass_id for f in group}), k, ("key",))) for key, group in sorted(
                grouped.items())]

    listed = None
    if admin:
        listed = [FlagOut(id=flag.id, pass_id=flag.pass_id, service_date=flag.service_date,
                          reason=flag.reason, detail=flag.detail, operator=flag.operator_id,
                          speed_kmh=flag.speed_kmh, created_at=isoformat_tokyo(flag.created_at),
                          first_scan_id=flag.first_scan_id, second_scan_id=flag.second_scan_id)
                  for flag in mine[:MAX_FLAGS]]
    total, disputed = _disputed(session, request, start, end, admin=admin)
    return FraudReport.model_validate(_window(request, k) | {
        "rows": cells(mine), "consortium": cells(flags), "flags": listed,
        "disputed_total": total, "disputed": disputed,
        "devices": _flagged_devices(session, request, start, end)})


# the partial index on disputed scans is used only when the query names the status literally
_IS_DISPUTED = Scan.status == literal_column(f"'{DISPUTED}'")


def _disputed(session: Session, request: StatsRequest, start: dt.datetime, end: dt.datetime,
              *, admin: bool) -> tuple[int, list[DisputedScanOut]]:
    where = [_IS_DISPUTED, Scan.received_at >= start, Scan.received_at < end]
    if request.operator is not None:
        where.append(Scan.operator_id == request.operator)
    total = int(session.scalar(select(func.count()).select_from(Scan).where(*where)) or 0)
    rows = session.execute(
        select(Scan.id, Scan.device_id, Scan.operator_id, Scan.vehicle, Scan.stop, Scan.result,
               Scan.server_code, Scan.pass_id, Scan.scanned_at, Scan.received_at)
        .where(*where).order_by(Scan.received_at.desc(), Scan.id).limit(MAX_FLAGS))
    return total, [DisputedScanOut(
        scan_id=row.id, device_id=row.device_id, operator=row.operator_id, vehicle=row.vehicle,
        stop=row.stop, device_result=row.result, server_code=row.server_code,
        pass_id=row.pass_id if admin else None, scanned_at=isoformat_tokyo(row.scanned_at),
        received_at=isoformat_tokyo(row.received_at)) for row in rows]


def _flagged_devices(session: Session, request: StatsRequest, start: dt.datetime,
                     end: dt.datetime) -> list[DeviceFlagOut]:
    query = (select(DeviceFlag, Device).join(Device, Device.id == DeviceFlag.device_id)
             .where(DeviceFlag.created_at >= start, DeviceFlag.created_at < end)
             .order_by(DeviceFlag.created_at.desc(), DeviceFlag.id.desc()).limit(MAX_FLAGS))
    if request.operator is not None:
        query = query.where(DeviceFlag.operator_id == request.operator)
    return [DeviceFlagOut(id=flag.id, device_id=flag.device_id, operator=flag.operator_id,
                          vehicle=device.vehicle, stop=device.stop, device_status=device.status,
                          reason=flag.reason, disputed=flag.disputed, detail=flag.detail,
                          created_at=isoformat_tokyo(flag.created_at))
            for flag, device in session.execute(query)]


# --- planner ---------------------------------------------------------------------------------

PLANNER_GROUPS = ("hour", "day", "modes")


def planner(session: Session, request: StatsRequest, k: int) -> PlannerReport:
    """Trip requests by hour, day or mode mix; the mode mix; the busiest zone pairs.

    Plan requests belong to no operator: every partner sees the same consortium numbers. A
    cell of fewer than ``k`` requests is suppressed.
    """
    group_key: Any = {"hour": PlanCell.hour, "day": PlanCell.day,
                      "modes": PlanCell.modes}[request.group]
    by_group: Counter[Any] = Counter()
    by_modes: Counter[Any] = Counter()
    # one pass for the grouping and the mode mix
    for value, modes, n in session.execute(
            select(group_key, PlanCell.modes, func.sum(PlanCell.requests))
            .where(PlanCell.day.between(request.start, request.end))
            .group_by(group_key, PlanCell.modes)):
        by_group[value] += int(n)
        by_modes[modes] += int(n)

    def counted(cells: Counter[Any]) -> list[PlannerRow]:
        return [PlannerRow.model_validate(privacy.apply(
            {"key": f"{value:02d}" if isinstance(value, int) else _key(value),
             "requests": n}, n, k, ("key",))) for value, n in sorted(cells.items())]

    count = func.sum(PlanPairCell.requests).label("requests")
    pairs = session.execute(
        select(PlanPairCell.origin_zone, PlanPairCell.destination_zone, count)
        .where(PlanPairCell.day.between(request.start, request.end))
        .group_by(PlanPairCell.origin_zone, PlanPairCell.destination_zone)
        .order_by(count.desc(), PlanPairCell.origin_zone, PlanPairCell.destination_zone)
        .limit(TOP_OD))
    top = [ODRow.model_validate(privacy.apply(
        {"origin_zone": origin, "destination_zone": destination, "requests": int(n)}, int(n),
        k, ("origin_zone", "destination_zone"))) for origin, destination, n in pairs]
    return PlannerReport.model_validate(_window(request, k) | {
        "rows": counted(by_group), "modes": counted(by_modes), "top_od": top})


def plan_request_row(asked: PlanAnswered) -> dict[str, Any]:
    """The ``plan_requests`` row of a request: time, modes and ~1 km zones, never the rider."""
    local = asked.moment.astimezone(TOKYO)
    modes = ",".join(sorted(asked.modes or ()))
    return {"requested_at": asked.moment, "day": local.date(), "hour": local.hour,
            "modes": modes[:100] or "default",
            "origin_zone": zone_of(*asked.origin),
            "destination_zone": zone_of(*asked.destination)}


PLAN_RECORDER = "stats.plan_recorder"


class PlanRecorder:
    """Answered plan requests, off the request path: each is one line in the process's
    journal (:mod:`maas.core.journal`; microseconds, and a worker that crashes loses none);
    every ``interval`` seconds (``MAAS_JOURNAL_FLUSH_SECONDS``) the request that finds the
    journal due stores the lines of every process on this host in ``plan_requests``, one
    INSERT per file, as ``maas worker`` and the statistics endpoint do before they count.

    Without a journal (``None``: the folder cannot be written) each request is stored at once
    in a transaction of its own. A failure is logged: statistics never
    break a plan.
    """

    def __init__(self, journal: Journal | None, sessions: Callable[[], Session],
                 interval: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.journal = journal
        self.sessions = sessions
        self.interval = interval
        self.clock = clock
        self._due = clock() + interval

    def after_fork(self) -> None:
        """In a process just forked (a gunicorn worker): its first flush is due one interval
        after its first plan, not when the master's was (made at start, long past by then: a
        worker's first /plan paid for a flush, the INSERT compiled for the first time in the
        process and a commit, 4-17 ms). The lines wait in the journal meanwhile, as any do
        between flushes (``maas worker`` and /stats/planner store them too)."""
        self._due = math.inf

    def on_plan_answered(self, session: Session, event: PlanAnswered) -> None:
        """Subscribed to :class:`PlanAnswered`."""
        row = plan_request_row(event)
        try:
            if self.journal is not None:
                try:
                    self.journal.append(row)
                except OSError:
                    log.exception("the plan journal cannot be written; storing directly")
                    self.journal = None
            if self.journal is None:
                with self.sessions() as own:
                    _store_plan_request(own, row)
                    own.commit()
                return
        except Exception:
            log.exception("could not record a plan request for statistics")
            return
        now = self.clock()
        if self._due == math.inf:  # this worker's first plan (after_fork): no flush yet
            self._due = now + self.interval
        elif now >= self._due:
            self._due = now + self.interval
            try:
                with self.sessions() as own:
                    self.flush(own)
            except Exception:
                log.exception("could not store the journal's plan requests; kept for later")

    def flush(self, session: Session) -> int:
        """Store every journal line of this host in ``plan_requests`` (committed file by
        file; a line already stored is not stored again); returns how many lines."""
        if self.journal is None or not self.journal.pending():
            return 0

        def consume(records: list[dict[str, Any]]) -> None:
            rows = [{"requested_at": dt.datetime.fromisoformat(record["requested_at"]),
                     "day": dt.date.fromisoformat(record["day"]), "hour": int(record["hour"]),
                     "modes": str(record["modes"])[:100],
                     "origin_zone": record.get("origin_zone"),
                     "destination_zone": record.get("destination_zone"),
                     "entry": str(record["entry"])[:40], "counted": False}
                    for record in records]
            table = cast(Table, PlanRequest.__table__)
            dialect = session.get_bind().dialect.name
            insert_ = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
            statement = insert_.on_conflict_do_nothing(index_elements=["entry"])
            for start in range(0, len(rows), 5000):
                session.execute(statement, rows[start:start + 5000])
            session.commit()

        return self.journal.drain(consume)


def _store_plan_request(session: Session, row: Mapping[str, Any]) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # a statistic lost in a database crash is acceptable; waiting for the WAL flush on
        # every plan is not
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    session.execute(insert(cast(Table, PlanRequest.__table__)), [{**row, "counted": False}])


def roll_up_plan_requests(session: Session, recorder: PlanRecorder | None = None) -> int:
    """Store what the journals of this host hold (with ``recorder``), then add the plan
    requests not yet counted to the planner cells, each exactly once, and commit; returns how
    many were added.

    The rows are claimed by one UPDATE ... RETURNING: two processes rolling up at once never
    count a row twice (on PostgreSQL the second waits for the first's rows and skips them).
    """
    if recorder is not None:
        recorder.flush(session)
    claimed = session.execute(
        update(PlanRequest).where(PlanRequest.counted.is_(False)).values(counted=True)
        .returning(PlanRequest.day, PlanRequest.hour, PlanRequest.modes,
                   PlanRequest.origin_zone, PlanRequest.destination_zone)
        .execution_options(synchronize_session=False)).all()
    add_plan_cells(session, (row._asdict() for row in claimed))
    session.commit()
    return len(claimed)


def add_plan_cells(session: Session, rows: Iterable[Mapping[str, Any]]) -> None:
    """Count ``plan_requests`` rows into the planner cells (no commit)."""
    hours: Counter[tuple[Any, ...]] = Counter()
    pairs: Counter[tuple[Any, ...]] = Counter()
    for row in rows:
        hours[(row["day"], row["hour"], row["modes"])] += 1
        if row["origin_zone"] and row["destination_zone"]:
            pairs[(row["day"], row["origin_zone"], row["destination_zone"])] += 1
    _upsert_add(session, cast(Table, PlanCell.__table__), ("day", "hour", "modes"), "requests",
                hours)
    _upsert_add(session, cast(Table, PlanPairCell.__table__),
                ("day", "origin_zone", "destination_zone"), "requests", pairs)


def delete_partner(session: Session, partner_id: str) -> None:
    """Remove a partner entirely (the benchmark's temporary key); revoke real partners."""
    session.execute(delete(Partner).where(Partner.id == partner_id))
    session.commit()


def table_sizes(session: Session) -> dict[str, int]:
    """Rows in the tables statistics read (for benchmark reports)."""
    counts = {}
    for name, model in (("scans", Scan), ("orders", Order), ("flags", FraudFlag),
                        ("plan_requests", PlanRequest), ("scan_cells", ScanCell),
                        ("pass_cells", PassCell)):
        counts[name] = int(session.scalar(select(func.count()).select_from(model)) or 0)
    counts["passes"] = int(session.scalar(select(func.count()).select_from(Pass)) or 0)
    return counts
