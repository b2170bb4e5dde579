"""Partner statistics over HTTP: ``/api/v1/stats/*`` (JSON or ``?format=csv``).

Every endpoint takes a partner API key as ``Authorization: Bearer``; see docs/partners.md.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

from flask import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from maas.core.dates import Day
from maas.core.http import bearer_token, clock, db_session, endpoint, settings, state
from maas.stats import services
from maas.stats.csvout import to_csv
from maas.stats.models import Partner
from maas.stats.reports import (
    ApportionmentReport,
    FraudReport,
    PlannerReport,
    SalesReport,
    ValidationsReport,
)

bp = Blueprint("stats", __name__)
log = logging.getLogger(__name__)

SECURITY = ["partner"]
ERRORS = [401, 403, 422]
CSV_NOTE = " `?format=csv` answers the rows as text/csv (suppressed cells empty and marked)."


class StatsQuery(BaseModel):
    """Parameters every statistic takes."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: Day | None = Field(default=None, alias="from",
                              description="first day (Asia/Tokyo); default: 29 days before to")
    to: Day | None = Field(default=None, description="last day (inclusive); default today")
    operator: str | None = Field(default=None, max_length=64,
                                 description="operator in detail (an operator key: its own)")
    format: Literal["json", "csv"] = "json"


class SalesQuery(StatsQuery):
    """Parameters of /stats/sales."""

    group: Literal["day", "product", "category"] = "day"


class ValidationsQuery(StatsQuery):
    """Parameters of /stats/validations."""

    group: Literal["day", "hour", "route", "stop", "operator", "device", "product"] = "day"


class ApportionmentQuery(StatsQuery):
    """Parameters of /stats/apportionment."""

    group: Literal["operator"] = "operator"


class FraudQuery(StatsQuery):
    """Parameters of /stats/fraud."""

    group: Literal["day", "reason"] = "day"


class PlannerQuery(StatsQuery):
    """Parameters of /stats/planner."""

    group: Literal["hour", "day", "modes"] = "hour"


class PartnerOut(BaseModel):
    """Who a partner key belongs to (what the dashboard shows after signing in)."""

    partner_id: str
    name: str
    role: Literal["operator", "admin"]
    operator: str | None


@bp.get("/stats/me")
@endpoint(summary="The partner of the API key", response=PartnerOut, tags=["partners"],
          security=SECURITY, errors=[401])
def me() -> PartnerOut:
    """The partner's name, role and operator."""
    partner = services.authenticate_partner(db_session(), bearer_token())
    return PartnerOut(partner_id=partner.id, name=partner.name,
                      role="admin" if partner.role == "admin" else "operator",
                      operator=partner.operator_id)


def _request(query: StatsQuery, group: str) -> tuple[Partner, services.StatsRequest]:
    session = db_session()
    partner = services.authenticate_partner(session, bearer_token())
    return partner, services.stats_request(session, partner, query.from_, query.to, group,
                                           query.operator, clock())


def _csv(name: str, query: StatsQuery, rows: Sequence[BaseModel],
         columns: Sequence[str] = ()) -> Response:
    response = Response(to_csv(rows, columns), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{name}-{query.from_ or ""}-{query.to or ""}.csv"'
        .replace("--", "-"))
    return response


@bp.get("/stats/sales")
@endpoint(summary="Passes sold and revenue by day, product or category", response=SalesReport,
          query=SalesQuery, tags=["partners"], security=SECURITY, errors=ERRORS,
          description="Paid orders; days of payment in Asia/Tokyo." + CSV_NOTE)
def sales(query: SalesQuery) -> SalesReport | Response:
    """Sales of the products covering the operator in detail, and of the whole consortium."""
    _partner, asked = _request(query, query.group)
    report = services.sales(db_session(), asked, settings().stats_min_passes)
    return _csv("sales", query, report.rows, ("key",)) if query.format == "csv" else report


@bp.get("/stats/validations")
@endpoint(summary="Accepted and rejected scans by day, hour, route, stop, operator, device",
          response=ValidationsReport, query=ValidationsQuery, tags=["partners"],
          security=SECURITY, errors=ERRORS,
          description="Scans count on the service date of their pass." + CSV_NOTE)
def validations(query: ValidationsQuery) -> ValidationsReport | Response:
    """Scans of the operator in detail, and consortium totals."""
    _partner, asked = _request(query, query.group)
    report = services.validations(db_session(), asked, settings().stats_min_passes)
    return (_csv("validations", query, report.rows,
                 ("key", "accepted", "rejected", "cannot_judge", "passes"))
            if query.format == "csv" else report)


@bp.get("/stats/apportionment")
@endpoint(summary="Pass revenue split among operators (adds up to the yen)",
          response=ApportionmentReport, query=ApportionmentQuery, tags=["partners"],
          security=SECURITY, errors=ERRORS,
          description="A fixed base share plus a share by weighted accepted validations; "
                      "largest-remainder rounding." + CSV_NOTE)
def apportionment(query: ApportionmentQuery) -> ApportionmentReport | Response:
    """The operator's share (and the others' together), or every share for the administrator."""
    _partner, asked = _request(query, query.group)
    report = services.apportionment(db_session(), asked, settings())
    return _csv("apportionment", query, report.shares) if query.format == "csv" else report


@bp.get("/stats/fraud")
@endpoint(summary="Passes flagged by the fraud checks", response=FraudReport, query=FraudQuery,
          tags=["partners"], security=SECURITY, errors=ERRORS,
          description="Counts per day or reason; the administrator also gets the flags (with "
                      "pass ids)." + CSV_NOTE)
def fraud(query: FraudQuery) -> FraudReport | Response:
    """Flags of the operator in detail."""
    partner, asked = _request(query, query.group)
    report = services.fraud(db_session(), asked, settings().stats_min_passes,
                            admin=partner.role == "admin")
    return _csv("fraud", query, report.rows, ("key",)) if query.format == "csv" else report


@bp.get("/stats/planner")
@endpoint(summary="Trip requests by hour and mode mix, and the top zone pairs",
          response=PlannerReport, query=PlannerQuery, tags=["partners"], security=SECURITY,
          errors=ERRORS,
          description="Zones are ~1 km grid cells; no coordinates or riders." + CSV_NOTE)
def planner(query: PlannerQuery) -> PlannerReport | Response:
    """Recorded plan requests."""
    _partner, asked = _request(query, query.group)
    # every request answered so far (on this host: the journals) counts
    services.roll_up_plan_requests(db_session(), state().domains.get(services.PLAN_RECORDER))
    report = services.planner(db_session(), asked, settings().stats_min_passes)
    return _csv("planner", query, report.rows, ("key",)) if query.format == "csv" else report

