"""The documents partner statistics answer with (JSON and, row by row, CSV)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class Window(BaseModel):
    """What a statistic covers: the period (Asia/Tokyo dates), grouping, operator, threshold."""

    model_config = ConfigDict(populate_by_name=True)

    from_: dt.date = Field(alias="from")
    to: dt.date
    group: str
    operator: str | None = Field(description="the operator in detail; null: all operators")
    k: int = Field(description="cells with fewer distinct passes are suppressed")


class SalesRow(BaseModel):
    """Passes sold and their revenue in one cell (day, product or category)."""

    key: str | None
    passes: int | None
    revenue_yen: int | None
    suppressed: bool


class SalesReport(Window):
    """Passes sold (paid orders) by day of payment, product or category."""

    rows: list[SalesRow]
    consortium: list[SalesRow] = Field(description="the same over every product")


class ValidationRow(BaseModel):
    """Scans in one cell: accepted, rejected (by reason) and the distinct passes behind them."""

    key: str | None
    accepted: int | None
    rejected: int | None
    cannot_judge: int | None
    reasons: dict[str, int] | None = Field(description="rejected scans by reason code")
    passes: int | None
    suppressed: bool


class ValidationsReport(Window):
    """Scans by service day, hour, route, stop, operator, device or product."""

    rows: list[ValidationRow]
    consortium: list[ValidationRow] = Field(
        description="every operator together: per key for day and hour, else one 'total' row")


class ShareRow(BaseModel):
    """One operator's part of the pass revenue."""

    operator: str
    yen: int
    base_yen: float = Field(description="exact base part (before rounding)")
    usage_yen: float = Field(description="exact part by weighted validations")
    validations: int | None
    weighted_validations: float | None
    suppressed: bool


class ProductRevenue(BaseModel):
    """Revenue of one product in the period."""

    product: str
    passes: int
    revenue_yen: int
    operators: list[str]


class ApportionmentReport(Window):
    """Pass revenue of the period (by service date) split among operators, to the yen."""

    revenue_yen: int
    base_share: float
    weights: dict[str, float]
    shares: list[ShareRow] = Field(description="their yen add up to revenue_yen")
    products: list[ProductRevenue]


class FraudRow(BaseModel):
    """Fraud flags in one cell (day or reason)."""

    key: str | None
    flags: int | None
    passes: int | None
    suppressed: bool


class FlagOut(BaseModel):
    """One flagged pass (administrator only)."""

    id: int
    pass_id: str
    service_date: dt.date | None
    reason: str
    detail: str
    operator: str
    speed_kmh: float | None
    created_at: str
    first_scan_id: str
    second_scan_id: str


class DisputedScanOut(BaseModel):
    """A scan a device uploaded as accepted that the server could not confirm."""

    scan_id: str
    device_id: str
    operator: str
    vehicle: str | None
    stop: str | None
    device_result: str = Field(description="what the device said (accept)")
    server_code: str | None = Field(
        description="why the server disagrees: the verifier's code (bad_signature, "
                    "unknown_key, malformed, wrong_device, outside_window, replay, ...), "
                    "no_code, unknown_pass or pass_mismatch")
    pass_id: str | None = Field(description="the pass id the device claimed: administrator only")
    scanned_at: str = Field(description="as the device claims")
    received_at: str


class DeviceFlagOut(BaseModel):
    """A device flagged for sending too many disputed scans (its operator decides)."""

    id: int
    device_id: str
    operator: str
    vehicle: str | None
    stop: str | None
    device_status: str = Field(description="active, or revoked once the operator acted")
    reason: str
    disputed: int
    detail: str
    created_at: str


class FraudReport(Window):
    """Passes flagged by the fraud checks, for the partner's operator; disputed scans and the
    devices that sent them."""

    rows: list[FraudRow]
    consortium: list[FraudRow]
    flags: list[FlagOut] | None = Field(description="the flagged passes: administrator only")
    disputed_total: int = Field(description="disputed scans received in the period")
    disputed: list[DisputedScanOut] = Field(
        description="the latest disputed scans received in the period (at most 500)")
    devices: list[DeviceFlagOut] = Field(
        description="devices flagged in the period for sending disputed scans")


class PlannerRow(BaseModel):
    """Trip requests in one cell (hour, day or mode mix)."""

    key: str | None
    requests: int | None
    suppressed: bool


class ODRow(BaseModel):
    """Trip requests between two zones (about 1 km grid cells, named by their centre)."""

    origin_zone: str
    destination_zone: str
    requests: int | None
    suppressed: bool


class PlannerReport(Window):
    """Trip requests answered by the planner: by hour/day/modes, the mode mix, top zones."""

    rows: list[PlannerRow]
    modes: list[PlannerRow]
    top_od: list[ODRow]
