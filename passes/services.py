"""Pass products, orders and payments, stored passes and their credentials, revocation and
the trust bundle (services: a Session, a clock and keys in; commits at the boundary)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maas.accounts.models import Rider
from maas.core.clock import TOKYO, Clock
from maas.core.errors import (
    Conflict,
    FieldError,
    Gone,
    InvalidInput,
    NotFound,
    TooManyRequests,
)
from maas.core.events import publish
from passes import bundle, credential
from passes.events import OrderChanged, OrderState
from passes.jwk import public_jwk, thumbprint
from passes.keys import KeyInfo, KeyStore
from passes.models import Order, Pass, PassMove, Product, SignedBundle
from passes.payments import PaymentProvider


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
    bundle_outdated(session)  # product coverage is in the bundle
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


def pass_operators(session: Session, code: str) -> frozenset[str]:
    """Operator ids an active pass product covers (what the planner prices at ¥0).

    An unknown or retired product is an :class:`InvalidInput` naming the ``pass`` parameter.
    """
    product = session.get(Product, code)
    if product is None or not product.active:
        message = f"no active pass product {code!r}"
        raise InvalidInput(f"pass: {message}", errors=[FieldError("pass", message)])
    return frozenset(product.operators)


def issue_pass(session: Session, keys: KeyStore, product_code: str, service_date: dt.date,
               category: str, device_key: ec.EllipticCurvePublicKey | None,
               clock: Clock) -> IssuedPass:
    """Sign and store a pass without an order (support staff, kiosks, tests).

    Bound to ``device_key`` when given. The pass is stored like a sold one, so it can be
    revoked and its scans are checked for fraud.
    """
    product = get_product(session, product_code)
    if category not in credential.CATEGORIES:
        raise InvalidInput(f"category: {category!r} is not adult or child",
                           errors=[FieldError("category", "adult or child")])
    issued, kid = _new_pass(session, keys, product.code, category, service_date, device_key,
                            None, clock)
    session.commit()
    return IssuedPass(issued.id, issued.token, service_date, kid)


def _new_pass(session: Session, keys: KeyStore, product_code: str, category: str,
              service_date: dt.date, device_key: ec.EllipticCurvePublicKey | None,
              order: Order | None, clock: Clock) -> tuple[Pass, str]:
    """Sign a credential and add its pass row (the caller commits); returns it and the kid."""
    issued = Pass(id=credential.new_pass_id(), order_id=order.id if order else None,
                  rider_id=order.rider_id if order else None, product_code=product_code,
                  category=category, service_date=service_date, status="valid",
                  revoked_reason=None, issued_at=clock())
    kid = _issue_credential(issued, device_key, keys, clock)
    session.add(issued)
    return issued, kid


def _issue_credential(found: Pass, device_key: ec.EllipticCurvePublicKey | None,
                      keys: KeyStore, clock: Clock) -> str:
    """Sign a new credential of ``found`` (bound to ``device_key`` when given) and make it the
    pass's one credential: token, bound key and credential id change together. Returns the
    kid that signed it."""
    kid, signing_key = keys.signing_key(clock())
    found.token = credential.issue(
        credential.PassClaims(found.id, found.product_code, found.category, found.service_date,
                              device_key), signing_key, kid)
    found.credential_id = credential.credential_id(found.token)
    found.device_key = credential.compress_public_key(device_key) if device_key else None
    keys.record_use(kid, found.service_date)
    return kid


Owned = TypeVar("Owned", Order, Pass)


@dataclasses.dataclass(frozen=True)
class OrderRequest:
    """What a rider asks to buy."""

    product: str
    service_date: dt.date
    category: str
    payment_method: str
    card_number: str

    def digest(self) -> str:
        """Identifies the request body (the card number only by its last four digits)."""
        text = json.dumps([self.product, self.service_date.isoformat(), self.category,
                           self.payment_method, self.card_number[-4:]])
        return hashlib.sha256(text.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class OrderResult:
    """An order and the pass it yielded (None until paid)."""

    order: Order
    pass_: Pass | None


def _pass_of(session: Session, order: Order) -> Pass | None:
    return session.scalar(select(Pass).where(Pass.order_id == order.id))


def create_order(session: Session, rider: Rider, idempotency_key: str, request: OrderRequest,
                 provider: PaymentProvider, keys: KeyStore, clock: Clock) -> OrderResult:
    """Buy a pass: one order, one charge and one pass per (rider, Idempotency-Key).

    The order row is inserted first; a concurrent request with the same key waits on the
    unique index and then finds it, so only one of them charges. The same key with another
    body is a :class:`Conflict`.
    """
    if not 1 <= len(idempotency_key) <= 200:
        raise InvalidInput("Idempotency-Key: required, at most 200 characters",
                           errors=[FieldError("Idempotency-Key", "required")])
    existing = session.scalar(select(Order).where(Order.rider_id == rider.id,
                                                  Order.idempotency_key == idempotency_key))
    if existing is not None:
        return _replay(session, existing, request)
    product = get_product(session, request.product)
    if request.category not in credential.CATEGORIES:
        raise InvalidInput("category: adult or child",
                           errors=[FieldError("category", "adult or child")])
    if request.payment_method != provider.name:
        raise InvalidInput(f"payment.method: only {provider.name!r} is available",
                           errors=[FieldError("payment.method", f"use {provider.name}")])
    today = clock().astimezone(TOKYO).date()
    last = today + dt.timedelta(days=product.max_days_ahead)
    if not today <= request.service_date <= last:
        message = f"must be between {today} and {last}"
        raise InvalidInput(f"service_date: {message}",
                           errors=[FieldError("service_date", message)])
    order = Order(
        id=str(uuid.uuid4()), rider_id=rider.id, idempotency_key=idempotency_key,
        request_hash=request.digest(), product_code=product.code, category=request.category,
        service_date=request.service_date,
        amount_yen=product.adult_yen if request.category == "adult" else product.child_yen,
        status="pending", provider=provider.name, payment_ref=None, created_at=clock(),
        paid_at=None,
    )
    session.add(order)
    try:
        session.flush()
    except IntegrityError:  # the same key, concurrently: the other request owns the order
        session.rollback()
        existing = session.scalar(select(Order).where(
            Order.rider_id == rider.id, Order.idempotency_key == idempotency_key))
        if existing is None:
            raise
        return _replay(session, existing, request)
    charge = provider.charge(order.id, order.amount_yen, request.card_number)
    order.payment_ref = charge.reference
    issued = None
    if charge.status == "succeeded":
        issued = _fulfil(session, order, keys, clock)
    elif charge.status == "declined":
        _set_status(session, order, "declined")
    session.commit()
    return OrderResult(order, issued)


def _replay(session: Session, order: Order, request: OrderRequest) -> OrderResult:
    if order.request_hash != request.digest():
        raise Conflict("this Idempotency-Key was used for a different order")
    return OrderResult(order, _pass_of(session, order))


def _fulfil(session: Session, order: Order, keys: KeyStore, clock: Clock) -> Pass:
    """Mark an order paid and issue its one pass (the caller commits)."""
    issued, _ = _new_pass(session, keys, order.product_code, order.category,
                          order.service_date, None, order, clock)
    _set_status(session, order, "paid", paid_at=clock())
    session.flush()
    return issued


def _set_status(session: Session, order: Order, status: str,
                paid_at: dt.datetime | None = None) -> None:
    """Change an order's status and announce it (:class:`OrderChanged`; the caller commits)."""
    before = OrderState.of(order)
    order.status = status
    if paid_at is not None:
        order.paid_at = paid_at
    publish(session, OrderChanged(order.id, before, OrderState.of(order)))


def settle_payment(session: Session, reference: str, status: str, keys: KeyStore,
                   clock: Clock) -> OrderResult:
    """Apply a provider's (verified) webhook; duplicates change nothing."""
    order = session.scalar(select(Order).where(Order.payment_ref == reference)
                           .with_for_update())
    if order is None:
        raise NotFound(f"no order for payment {reference!r}")
    # an order the worker expired while waiting is still fulfilled when the money arrives
    if order.status in ("pending", "expired"):
        if status == "succeeded":
            _fulfil(session, order, keys, clock)
        elif status == "failed":
            _set_status(session, order, "declined")
        session.commit()
    return OrderResult(order, _pass_of(session, order))


def _owned(session: Session, model: type[Owned], key: str, rider: Rider, what: str) -> Owned:
    """A row of ``model`` that belongs to ``rider``; another rider's is simply not found."""
    row = session.get(model, key)
    if row is None or row.rider_id != rider.id:
        raise NotFound(f"no {what} {key!r}")
    return row


def rider_order(session: Session, rider: Rider, order_id: str) -> Order:
    """One of the rider's orders."""
    return _owned(session, Order, order_id, rider, "order")


def refund_order(session: Session, rider: Rider, order_id: str, provider: PaymentProvider,
                 clock: Clock) -> OrderResult:
    """Refund a paid order until the day before its service date; the pass is revoked."""
    order = rider_order(session, rider, order_id)
    if order.status != "paid":
        raise Conflict(f"order is {order.status}; only paid orders can be refunded")
    today = clock().astimezone(TOKYO).date()
    if today >= order.service_date:
        raise Conflict("refunds close at the end of the day before the service date")
    if order.payment_ref:
        provider.refund(order.payment_ref, order.amount_yen)
    _set_status(session, order, "refunded")
    issued = _pass_of(session, order)
    if issued is not None:
        _revoke(issued, "refunded")
    session.commit()
    return OrderResult(order, issued)


def rider_passes(session: Session, rider: Rider) -> list[Pass]:
    """The rider's passes, newest service date first."""
    return list(session.scalars(select(Pass).where(Pass.rider_id == rider.id)
                                .order_by(Pass.service_date.desc(), Pass.issued_at.desc())))


def rider_pass(session: Session, rider: Rider, pass_id: str) -> Pass:
    """One of the rider's passes."""
    return _owned(session, Pass, pass_id, rider, "pass")


def pass_colour(service_date: dt.date, secret: str, now: dt.datetime) -> str | None:
    """The colour of the day a pass shows, known from the day before its service date (as the
    trust bundle carries today and tomorrow) until the day after (buses after midnight)."""
    today = now.astimezone(TOKYO).date()
    if abs((service_date - today).days) > 1:
        return None
    return bundle.colour_of_day(service_date, secret)


class PassBoundElsewhere(Conflict):
    """The pass is bound to another phone's key: showing it here needs a move."""

    title = "Pass bound to another phone"
    problem_type = "pass-bound-elsewhere"


class PassNotUsable(Conflict):
    """A revoked (refunded, support) or fraud-flagged pass: it cannot be bound or moved."""

    title = "Pass not usable"
    problem_type = "pass-not-usable"


class PassExpired(Gone):
    """The pass's service day is over: nothing to bind or move any more."""

    title = "Pass expired"
    problem_type = "pass-expired"


class MoveLimitReached(TooManyRequests):
    """The pass was moved as often today as ``MAAS_PASS_MOVES_PER_DAY`` allows."""

    title = "Move limit reached"
    problem_type = "pass-move-limit"


def phone_key(public_key: str) -> ec.EllipticCurvePublicKey:
    """A phone's P-256 public key from its compressed point, base64url (the rider page's
    form), or :class:`InvalidInput` naming ``public_key``."""
    try:
        return credential.expand_public_key(public_key)
    except (ValueError, TypeError):
        message = "a P-256 public key as a base64url compressed point"
        raise InvalidInput(f"public_key: {message}",
                           errors=[FieldError("public_key", message)]) from None


def bound_key_thumbprint(found: Pass) -> str | None:
    """The RFC 7638 thumbprint of the phone key the pass is bound to (None when unbound): a
    phone compares it with its own key's before showing the pass; the key itself stays in
    the credential, which only the pass's owner gets."""
    if found.device_key is None:
        return None
    return thumbprint(credential.expand_public_key(found.device_key))


def _day_boundary(session: Session, found: Pass) -> int:
    """Minutes after midnight the pass's service day ends (its product's setting)."""
    product = session.get(Product, found.product_code)
    if product is None:  # the foreign key makes this impossible
        raise NotFound(f"no product {found.product_code!r}")
    return product.day_boundary_minutes


def _usable(found: Pass, boundary_minutes: int, now: dt.datetime) -> None:
    """Refuse a pass that is revoked, flagged or past its service day."""
    if found.status != "valid":
        reason = f" ({found.revoked_reason})" if found.revoked_reason else ""
        raise PassNotUsable(f"pass is {found.status}{reason}")
    end = dt.datetime.combine(found.service_date, dt.time(), TOKYO) + dt.timedelta(
        days=1, minutes=boundary_minutes)
    if now >= end:
        raise PassExpired(f"pass expired at {end.isoformat()}")


def bind_device(session: Session, rider: Rider, pass_id: str, public_key: str,
                keys: KeyStore, clock: Clock) -> Pass:
    """Bind a pass to the phone's P-256 key (compressed point, base64url) and reissue it.

    Binding the key it is already bound to returns the pass as it is (a retry after a lost
    answer): the phone keeps one credential, so a later move withdraws all it ever had. A pass
    bound to another key is :class:`PassBoundElsewhere` (the rider may move it).
    """
    found = rider_pass(session, rider, pass_id)
    if found.status != "valid":
        raise PassNotUsable(f"pass is {found.status}")
    phone = phone_key(public_key)
    compressed = credential.compress_public_key(phone)
    if found.device_key == compressed:
        return found
    if found.device_key is not None:
        raise PassBoundElsewhere("this pass is bound to another phone; move it to this one "
                                 "to show it here (the other phone's code stops working)")
    _issue_credential(found, phone, keys, clock)
    session.commit()
    return found


def service_day_start(now: dt.datetime, boundary_minutes: int) -> dt.datetime:
    """When the service day around ``now`` began: the day boundary (03:00 by default)."""
    local = now.astimezone(TOKYO)
    start = dt.datetime.combine(local.date(), dt.time(), TOKYO) + dt.timedelta(
        minutes=boundary_minutes)
    return start if local >= start else start - dt.timedelta(days=1)


def move_pass(session: Session, pass_id: str, public_key: str, keys: KeyStore, clock: Clock,
              *, per_day: int, rider: Rider | None = None, force: bool = False) -> Pass:
    """Move a pass to another phone: a new credential bound to ``public_key`` (compressed
    point, base64url) replaces the one it had, whose id goes onto the trust bundle's deny-list
    (``deny_credentials``) while the pass can be used.

    The one place a pass moves — the rider API (``rider`` given: only their pass, else
    :class:`NotFound`) and support staff (``rider=None``) both call it. At most ``per_day``
    moves per pass per service day (from the product's day boundary), else
    :class:`MoveLimitReached` with the seconds until the next service day; ``force`` (support
    staff only) goes past that. A revoked or flagged pass is :class:`PassNotUsable`, one past
    its service day :class:`PassExpired`. Moving to the key the pass is bound to already
    changes nothing (a retried request); an unbound pass is simply bound.
    """
    found = session.get(Pass, pass_id, with_for_update=True)  # one move at a time per pass
    if found is None or (rider is not None and found.rider_id != rider.id):
        raise NotFound(f"no pass {pass_id!r}")
    phone = phone_key(public_key)
    now = clock()
    boundary = _day_boundary(session, found)
    _usable(found, boundary, now)
    compressed = credential.compress_public_key(phone)
    if found.device_key == compressed:
        return found
    if found.device_key is None:
        _issue_credential(found, phone, keys, clock)
        session.commit()
        return found
    start = service_day_start(now, boundary)
    moved_today = session.scalar(select(func.count()).select_from(PassMove).where(
        PassMove.pass_id == found.id, PassMove.moved_at >= start)) or 0
    if moved_today >= per_day and not force:
        next_day = start + dt.timedelta(days=1)
        wait = max(1, int((next_day - now).total_seconds()))
        raise MoveLimitReached(
            f"this pass has been moved {moved_today} times today; the limit is {per_day} a "
            f"day, so it can move again from {next_day.astimezone(TOKYO):%H:%M} "
            f"({next_day.astimezone(TOKYO).date()}), or ask support",
            retry_after=wait)
    before_id, before_key = found.credential_id, found.device_key
    _issue_credential(found, phone, keys, clock)
    session.add(PassMove(
        id=str(uuid.uuid4()), pass_id=found.id, from_credential_id=before_id,
        to_credential_id=found.credential_id,
        from_key_thumbprint=thumbprint(credential.expand_public_key(before_key)),
        to_key_thumbprint=thumbprint(phone), moved_at=now,
        actor="rider" if rider is not None else "support",
        forced=force and moved_today >= per_day))
    bundle_outdated(session)
    session.commit()
    return found


def revoke_pass(session: Session, pass_id: str, reason: str) -> Pass:
    """Revoke a pass (the deny-list of the next trust bundle will carry it)."""
    if not reason.strip():
        raise InvalidInput("--reason: say why the pass is revoked")
    found = session.get(Pass, pass_id)
    if found is None:
        raise NotFound(f"no pass {pass_id!r}")
    if found.status == "revoked":
        raise Conflict(f"pass {pass_id} is already revoked ({found.revoked_reason})")
    _revoke(found, reason.strip())
    bundle_outdated(session)
    session.commit()
    return found


def _revoke(found: Pass, reason: str) -> None:
    found.status = "revoked"
    found.revoked_reason = reason[:200]


# a flagged pass (validators' fraud checks) is denied like a revoked one
DENIED_STATUSES = ("revoked", "flagged")


def expire_pending_orders(session: Session, clock: Clock, after: dt.timedelta) -> int:
    """Mark orders still waiting for their payment after ``after`` as ``expired`` and commit;
    returns how many. A payment confirmed later still fulfils the order (settle_payment)."""
    cutoff = clock() - after
    stale = list(session.scalars(
        select(Order).where(Order.status == "pending", Order.created_at < cutoff)
        .order_by(Order.created_at).limit(1000).with_for_update(skip_locked=True)))
    for order in stale:
        _set_status(session, order, "expired")
    session.commit()
    return len(stale)


def rotation_due(keys: KeyStore, now: dt.datetime, every: dt.timedelta) -> bool:
    """True when the newest key (the ``next`` one, made at the last rotation) is ``every``
    old: the scheduled rotation is due."""
    keys.ensure(now)
    newest = max(dt.datetime.fromisoformat(info.created_at) for info in keys.infos())
    return now - newest >= every


def rotate_keys(session: Session, keys: KeyStore, now: dt.datetime) -> list[KeyInfo]:
    """Rotate ``keys`` (see :meth:`KeyStore.rotate`) and commit: every host publishes the new
    ``next`` key and signs with the promoted one from its next request on."""
    infos = keys.rotate(now, now.astimezone(TOKYO).date())
    bundle_outdated(session)
    session.commit()
    return infos


def trust_bundle(session: Session, keys: KeyStore, bundle_keys: KeyStore, secret: str,
                 clock: Clock) -> tuple[dict[str, Any], str]:
    """The current trust bundle: the document and its signed form."""
    now = clock()
    today = now.astimezone(TOKYO).date()
    keys.ensure(now)
    public = keys.public_keys()
    issuing = [
        {**public_jwk(public[info.kid], info.kid), "state": info.state,
         "not_after": info.last_service_date if info.state == "retired" else None}
        for info in keys.infos()
    ]
    denied = session.execute(
        select(Pass.id, Pass.service_date).where(
            Pass.status.in_(DENIED_STATUSES),
            Pass.service_date.in_(bundle.deny_dates(today)))
    ).all()
    # credentials withdrawn by a move, while their pass can still be used
    moved = session.execute(
        select(PassMove.from_credential_id, Pass.service_date)
        .join(Pass, Pass.id == PassMove.pass_id)
        .where(Pass.service_date.in_(bundle.deny_dates(today)))
    ).all()
    products = [
        {"code": p.code, "operators": p.operators, "static_allowed": p.static_allowed,
         "valid_from_minutes": p.valid_from_minutes,
         "day_boundary_minutes": p.day_boundary_minutes}
        for p in list_products(session)
    ]
    document = bundle.build(issuing, [(row[0], row[1]) for row in denied], products, today,
                            secret, now,
                            denied_credentials=[(row[0], row[1]) for row in moved])
    kid, signing_key = bundle_keys.signing_key(now)
    return document, bundle.sign(document, signing_key, kid)


BUNDLE_NAME = "validators"


def bundle_outdated(session: Session) -> None:
    """What the trust bundle carries changed (a revocation, a flag, a move, keys, products):
    the stored bundle is dropped in the caller's transaction, so every host builds the new one
    on its next request instead of serving the old one until the worker's next run."""
    session.execute(delete(SignedBundle).where(SignedBundle.name == BUNDLE_NAME))
# a bundle the worker confirmed within this long is served as it is (else built on request)
BUNDLE_FRESH = dt.timedelta(minutes=2)
# an unchanged bundle is signed again this often, so its issued_at stays far from max_age
BUNDLE_RESIGN = dt.timedelta(hours=1)


def publish_bundle(session: Session, keys: KeyStore, bundle_keys: KeyStore, secret: str,
                   clock: Clock) -> bool:
    """Build the trust bundle and store it for every host to serve (``maas worker``'s task);
    commits. True when a new bundle was signed, False when the stored one was still current
    (it is then marked checked)."""
    now = clock()
    stored = session.get(SignedBundle, BUNDLE_NAME, with_for_update=True)
    document, token = trust_bundle(session, keys, bundle_keys, secret, clock)
    fresh = stored is None or stored.version != document["version"] \
        or now - stored.built_at >= BUNDLE_RESIGN
    if stored is None:
        stored = SignedBundle(name=BUNDLE_NAME)
        session.add(stored)
    if fresh:
        stored.version, stored.document, stored.token = document["version"], document, token
        stored.built_at = now
    stored.checked_at = now
    session.commit()
    return fresh


def published_bundle(session: Session, clock: Clock) -> tuple[dict[str, Any], str] | None:
    """The bundle the worker stored, if it confirmed it within :data:`BUNDLE_FRESH` (a
    revocation reaches it at the worker's next run); None when there is none or the worker
    has stopped confirming it."""
    stored = session.get(SignedBundle, BUNDLE_NAME)
    if stored is None or clock() - stored.checked_at > BUNDLE_FRESH:
        return None
    return dict(stored.document), stored.token
