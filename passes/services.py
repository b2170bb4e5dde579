"""Pass products and credentials (orders and stored passes arrive with the order service)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from maas.clock import Clock
from maas.errors import FieldError, InvalidInput, NotFound
from passes import credential
from passes.keys import KeyStore
from passes.models import Product


def _clock_minutes(text: str) -> int:
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and int(minutes) < 60):
        raise ValueError(f"{text!r} is not HH:MM")
    return int(hours) * 60 + int(minutes)


class ProductSpec(BaseModel):
    """A product as written in a products file."""

    # at most 24 characters: the code travels in every QR code (see passes.credential)
    code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,23}$")
    name: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    adult_yen: int = Field(ge=0)
    child_yen: int = Field(ge=0)
    operators: list[str] = Field(min_length=1)
    valid_from: str = "04:00"
    day_boundary: str = "03:00"
    max_days_ahead: int = Field(default=30, ge=0, le=366)
    static_allowed: bool = False

    @field_validator("valid_from", "day_boundary")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        minutes = _clock_minutes(value)
        if minutes >= 24 * 60:
            raise ValueError(f"{value!r} must be before 24:00")
        return value


def load_products(session: Session, path: Path) -> list[Product]:
    """Create or update the products listed in a JSON file (all or nothing)."""
    try:
        document: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(document, list):
        raise InvalidInput(f"{path}: expected a JSON list of products")
    specs: list[ProductSpec] = []
    for index, item in enumerate(document):
        try:
            specs.append(ProductSpec.model_validate(item))
        except ValidationError as exc:
            errors = [
                FieldError(f"[{index}]." + ".".join(map(str, e["loc"])), e["msg"])
                for e in exc.errors(include_url=False)
            ]
            raise InvalidInput(
                f"{path}: product {index} is invalid: "
                + "; ".join(f"{e.field}: {e.message}" for e in errors),
                errors=errors,
            ) from None
    products = [
        session.merge(
            Product(
                code=spec.code,
                name=spec.name,
                name_en=spec.name_en,
                adult_yen=spec.adult_yen,
                child_yen=spec.child_yen,
                operators=spec.operators,
                valid_from_minutes=_clock_minutes(spec.valid_from),
                day_boundary_minutes=_clock_minutes(spec.day_boundary),
                max_days_ahead=spec.max_days_ahead,
                static_allowed=spec.static_allowed,
                active=True,
            )
        )
        for spec in specs
    ]
    session.commit()
    return products


def list_products(session: Session) -> list[Product]:
    """Products on sale, by code."""
    return list(
        session.scalars(select(Product).where(Product.active.is_(True)).order_by(Product.code))
    )


def get_product(session: Session, code: str) -> Product:
    """The product with ``code``; :class:`NotFound` when there is none on sale."""
    product = session.get(Product, code)
    if product is None or not product.active:
        raise NotFound(f"no product with code {code!r}")
    return product


@dataclasses.dataclass(frozen=True)
class IssuedPass:
    """A freshly signed credential."""

    pass_id: str
    token: str
    service_date: dt.date
    kid: str


def issue_pass(session: Session, keys: KeyStore, product_code: str, service_date: dt.date,
               category: str, device_key: ec.EllipticCurvePublicKey | None,
               clock: Clock) -> IssuedPass:
    """Sign a pass credential for a product on sale (bound to ``device_key`` when given).

    Orders and stored passes arrive with the order service; this signs the credential itself.
    """
    product = get_product(session, product_code)
    if category not in credential.CATEGORIES:
        raise InvalidInput(f"category: {category!r} is not adult or child",
                           errors=[FieldError("category", "adult or child")])
    kid, signing_key = keys.signing_key(clock())
    claims = credential.PassClaims(credential.new_pass_id(), product.code, category,
                                   service_date, device_key)
    token = credential.issue(claims, signing_key, kid)
    keys.record_use(kid, service_date)
    return IssuedPass(claims.pass_id, token, service_date, kid)
