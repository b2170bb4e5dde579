"""HTTP interface of the pass service."""

from __future__ import annotations

from flask import Blueprint
from pydantic import BaseModel, Field

from maas.http import db_session, endpoint, settings
from passes import services
from passes.keys import KeyStore
from passes.models import Product

bp = Blueprint("passes", __name__)


class ProductOut(BaseModel):
    """A pass product on sale."""

    code: str
    name: str
    name_en: str
    prices: dict[str, int] = Field(description="yen by category: adult, child")
    operators: list[str] = Field(description="operator ids whose services the pass covers")
    valid_from: str = Field(description="local time the pass starts on its service date")
    day_boundary: str = Field(description="local time on the next morning the pass ends")
    max_days_ahead: int
    static_code_accepted: bool

    @classmethod
    def of(cls, product: Product) -> ProductOut:
        """Serialise a product row."""
        return cls(
            code=product.code,
            name=product.name,
            name_en=product.name_en,
            prices={"adult": product.adult_yen, "child": product.child_yen},
            operators=product.operators,
            valid_from=_hhmm(product.valid_from_minutes),
            day_boundary=_hhmm(product.day_boundary_minutes),
            max_days_ahead=product.max_days_ahead,
            static_code_accepted=product.static_allowed,
        )


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@bp.get("/products")
@endpoint(summary="Pass products on sale", response=list[ProductOut], tags=["passes"])
def list_products() -> list[ProductOut]:
    """List the products riders can buy."""
    return [ProductOut.of(product) for product in services.list_products(db_session())]


@bp.get("/products/<code>")
@endpoint(summary="One pass product", response=ProductOut, tags=["passes"], errors=[404])
def get_product(code: str) -> ProductOut:
    """A product by its code."""
    return ProductOut.of(services.get_product(db_session(), code))


wellknown = Blueprint("wellknown", __name__)


class JwkOut(BaseModel):
    """A published issuing key (P-256, ES256)."""

    kty: str
    crv: str
    kid: str
    use: str
    alg: str
    x: str
    y: str


class JwksOut(BaseModel):
    """The issuing keys validators and partners may use to check credentials."""

    keys: list[JwkOut]


@wellknown.get("/.well-known/jwks.json")
@endpoint(summary="Published pass-issuing keys (JWKS)", response=JwksOut, tags=["passes"])
def jwks() -> JwksOut:
    """Next, current and retired issuing keys; private keys never leave MAAS_HOME."""
    return JwksOut.model_validate(KeyStore(settings().home).jwks())
