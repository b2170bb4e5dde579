"""HTTP interface of the pass service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from flask import Blueprint, Response, request, url_for
from pydantic import BaseModel, ConfigDict, Field

from maas.accounts.models import Rider
from maas.accounts.services import current_rider
from maas.core import jsonin
from maas.core.dates import Day
from maas.core.errors import InvalidInput, Unauthorized
from maas.core.http import bearer_token, clock, db_session, endpoint, settings
from maas.core.secrets import key_encryptor
from passes import bundle, credential, qr, services
from passes.keys import KeyStore
from passes.models import Order, Pass, Product
from passes.payments import PaymentProvider, provider_for

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
    """Next, current and retired issuing keys; private keys never leave the server."""
    return JwksOut.model_validate(_keys().jwks())


def _provider() -> PaymentProvider:
    """The provider MAAS_PAYMENT_PROVIDER names (checked when the app was built)."""
    return provider_for(settings().payment_provider, settings().secret_key)


def _rider() -> Rider:
    return current_rider(db_session(), bearer_token(), settings().secret_key, clock())


def _keys() -> KeyStore:
    return KeyStore(db_session(), key_encryptor(settings()))


class PaymentIn(BaseModel):
    """How the rider pays."""

    model_config = ConfigDict(extra="forbid")

    method: str = Field(examples=["sandbox"])
    card_number: str = Field(min_length=12, max_length=23, examples=["4242424242424242"])


class OrderIn(BaseModel):
    """A purchase of one pass."""

    model_config = ConfigDict(extra="forbid")

    product: str
    service_date: Day
    category: Literal["adult", "child"] = "adult"
    payment: PaymentIn


class OrderOut(BaseModel):
    """An order's state."""

    id: str
    status: str = Field(description="pending, paid, declined, refunded or expired (no payment "
                        "confirmed within MAAS_ORDER_PENDING_MINUTES)")
    amount_yen: int
    product: str
    category: str
    service_date: str


class PassOut(BaseModel):
    """A pass and its credential."""

    id: str
    token: str
    service_date: str
    product: str
    category: str
    status: str = Field(description="valid or revoked")
    bound: bool = Field(description="bound to a phone key (shows a rotating code)")
    bound_key_thumbprint: str | None = Field(
        default=None, description="RFC 7638 JWK thumbprint of the phone key the credential is "
        "bound to (null when unbound): a phone compares it with its own key's before showing "
        "the pass, and offers to move the pass when they differ")
    credential_id: str = Field(
        description="id of the pass's current credential; a move to another phone "
        "issues a new one and puts this one on the validators' deny-list")
    colour: str | None = Field(
        default=None, description="colour of the service date (#RRGGBB) the rider page shows "
        "and validators check, given from the day before; null for other days")


class OrderResultOut(BaseModel):
    """An order and, once paid, its pass."""

    order: OrderOut
    pass_: PassOut | None = Field(alias="pass")

    model_config = ConfigDict(populate_by_name=True)


def _order_out(order: Order) -> OrderOut:
    return OrderOut(id=order.id, status=order.status, amount_yen=order.amount_yen,
                    product=order.product_code, category=order.category,
                    service_date=order.service_date.isoformat())


def _pass_out(found: Pass) -> PassOut:
    colour = services.pass_colour(found.service_date,
                                  bundle.colour_secret(settings().secret_key), clock()())
    # (tokens stored before validators took only low-s signatures are normalised on the way out)
    return PassOut(id=found.id, token=credential.low_s_token(found.token),
                   service_date=found.service_date.isoformat(),
                   product=found.product_code, category=found.category, status=found.status,
                   bound=found.device_key is not None,
                   bound_key_thumbprint=services.bound_key_thumbprint(found),
                   credential_id=found.credential_id, colour=colour)


def _result(result: services.OrderResult) -> OrderResultOut:
    return OrderResultOut(order=_order_out(result.order),
                          pass_=_pass_out(result.pass_) if result.pass_ else None)


@bp.post("/orders")
@endpoint(summary="Buy a pass (Idempotency-Key header required)", response=OrderResultOut,
          body=OrderIn, status=201, tags=["passes"], security=["rider"], errors=[404, 409])
def create_order(body: OrderIn) -> OrderResultOut:
    """One order, one charge and one pass per Idempotency-Key, whatever the retries."""
    request_ = services.OrderRequest(body.product, body.service_date, body.category,
                                     body.payment.method, body.payment.card_number)
    return _result(services.create_order(
        db_session(), _rider(), request.headers.get("Idempotency-Key", ""), request_,
        _provider(), _keys(), clock()))


@bp.post("/orders/<order_id>/refund")
@endpoint(summary="Refund an order (until the day before its service date)",
          response=OrderResultOut, tags=["passes"], security=["rider"], errors=[404, 409])
def refund(order_id: str) -> OrderResultOut:
    """Refunds revoke the pass."""
    return _result(services.refund_order(db_session(), _rider(), order_id, _provider(),
                                         clock()))


@bp.get("/passes")
@endpoint(summary="The rider's passes", response=list[PassOut], tags=["passes"],
          security=["rider"])
def list_passes() -> list[PassOut]:
    """Newest service date first."""
    return [_pass_out(found) for found in services.rider_passes(db_session(), _rider())]


@bp.get("/passes/<pass_id>")
@endpoint(summary="One of the rider's passes", response=PassOut, tags=["passes"],
          security=["rider"], errors=[404])
def get_pass(pass_id: str) -> PassOut:
    """Another rider's pass is not found."""
    return _pass_out(services.rider_pass(db_session(), _rider(), pass_id))


class DeviceIn(BaseModel):
    """The phone's public key."""

    model_config = ConfigDict(extra="forbid")

    public_key: str = Field(max_length=100,
                            description="P-256 public key, compressed point, base64url")


@bp.post("/passes/<pass_id>/device")
@endpoint(summary="Bind a pass to the phone's key (the credential is reissued)",
          response=PassOut, body=DeviceIn, tags=["passes"], security=["rider"],
          errors=[404, 409])
def bind_device(pass_id: str, body: DeviceIn) -> PassOut:
    """After binding, only that phone's signature makes a valid rotating code. Bound to another
    phone already: 409 ``/problems/pass-bound-elsewhere`` with a ``move`` link."""
    try:
        return _pass_out(services.bind_device(db_session(), _rider(), pass_id,
                                              body.public_key, _keys(), clock()))
    except services.PassBoundElsewhere as exc:
        exc.extra["links"] = {"move": url_for("passes.move_pass", pass_id=pass_id)}
        raise


@bp.post("/passes/<pass_id>/move")
@endpoint(summary="Move a pass to this phone's key: a new credential; the old phone's code is "
                  "refused once validators sync (MAAS_PASS_MOVES_PER_DAY a service day)",
          response=PassOut, body=DeviceIn, tags=["passes"], security=["rider"],
          errors=[404, 409, 410, 429])
def move_pass(pass_id: str, body: DeviceIn) -> PassOut:
    """Only the pass's owner; 429 with Retry-After past the daily limit, 409 for a revoked or
    flagged pass, 410 after its service day. The same key again changes nothing."""
    return _pass_out(services.move_pass(db_session(), pass_id, body.public_key, _keys(),
                                        clock(), per_day=settings().pass_moves_per_day,
                                        rider=_rider()))


def _qr(pass_id: str, render: Callable[[str, int], bytes], mimetype: str) -> Response:
    found = services.rider_pass(db_session(), _rider(), pass_id)
    return Response(render(credential.low_s_token(found.token), qr.STATIC_MAX_VERSION),
                    mimetype=mimetype,
                    headers={"Cache-Control": "private, no-store"})


@bp.get("/passes/<pass_id>/qr.svg")
def pass_qr_svg(pass_id: str) -> Response:
    """The credential as a printable (static) QR code, SVG."""
    return _qr(pass_id, qr.svg, "image/svg+xml")


@bp.get("/passes/<pass_id>/qr.png")
def pass_qr_png(pass_id: str) -> Response:
    """The credential as a printable (static) QR code, PNG."""
    return _qr(pass_id, lambda data, version: qr.png(data, version), "image/png")


class WebhookOut(BaseModel):
    """The order a webhook settled."""

    order: OrderOut


@bp.post("/payments/webhook")
@endpoint(summary="Payment provider webhook (the sandbox's: X-Sandbox-Signature, HMAC-SHA256 "
                  "of the body)",
          response=WebhookOut, tags=["passes"], errors=[401, 404])
def webhook() -> WebhookOut:
    """Settles pending charges; duplicates change nothing."""
    provider = _provider()
    body = request.get_data()
    if not provider.verify(body, request.headers.get(provider.webhook_signature_header, "")):
        raise Unauthorized("webhook signature does not verify")
    try:
        event = jsonin.loads(body)
        kind, reference = str(event["type"]), str(event["reference"])
    except (ValueError, KeyError, TypeError, IndexError):
        raise InvalidInput("webhook body: expected {type, reference}") from None
    status = {"charge.succeeded": "succeeded", "charge.failed": "failed"}.get(kind)
    if status is None:
        raise InvalidInput(f"webhook type {kind!r} is not handled")
    result = services.settle_payment(db_session(), reference, status, _keys(), clock())
    return WebhookOut(order=_order_out(result.order))
