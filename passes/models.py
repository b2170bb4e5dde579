"""Tables of the pass service."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from maas.core.db import Base


class Product(Base):
    """A pass product, such as 金沢市内1日フリー乗車券.

    Validity follows the service-date rule: from ``valid_from_minutes`` after midnight of the
    service date until ``day_boundary_minutes`` after midnight of the next day.
    """

    __tablename__ = "products"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    adult_yen: Mapped[int]
    child_yen: Mapped[int]
    operators: Mapped[list[str]] = mapped_column(default=list)
    valid_from_minutes: Mapped[int] = mapped_column(default=4 * 60)
    day_boundary_minutes: Mapped[int] = mapped_column(default=3 * 60)
    max_days_ahead: Mapped[int] = mapped_column(default=30)
    static_allowed: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)


class Order(Base):
    """A rider's purchase of one pass; unique per (rider, Idempotency-Key)."""

    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("rider_id", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    rider_id: Mapped[str] = mapped_column(ForeignKey("riders.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    product_code: Mapped[str] = mapped_column(ForeignKey("products.code"))
    category: Mapped[str] = mapped_column(String(8))
    service_date: Mapped[dt.date] = mapped_column(Date)
    amount_yen: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))  # pending, paid, declined, refunded, expired
    provider: Mapped[str] = mapped_column(String(32))
    payment_ref: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime]
    paid_at: Mapped[dt.datetime | None]


class Pass(Base):
    """The pass a paid order yields (exactly one: ``order_id`` is unique)."""

    __tablename__ = "passes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the credential's pass id
    order_id: Mapped[str | None] = mapped_column(ForeignKey("orders.id"), unique=True)
    rider_id: Mapped[str | None] = mapped_column(ForeignKey("riders.id"), index=True)
    product_code: Mapped[str] = mapped_column(ForeignKey("products.code"))
    category: Mapped[str] = mapped_column(String(8))
    service_date: Mapped[dt.date] = mapped_column(Date, index=True)
    token: Mapped[str] = mapped_column(Text)
    # the id of the credential in ``token`` (passes.credential.credential_id): each issue of a
    # pass's credential — binding, a move to another phone — has its own
    credential_id: Mapped[str] = mapped_column(String(32), index=True)
    device_key: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="valid")  # valid, revoked
    revoked_reason: Mapped[str | None] = mapped_column(String(200))
    issued_at: Mapped[dt.datetime]


class PassMove(Base):
    """A pass moved to another phone: the credential it had is withdrawn (the trust bundle's
    deny-list carries ``from_credential_id`` while the pass can be used) and a new one bound to
    the new phone's key replaces it."""

    __tablename__ = "pass_moves"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    pass_id: Mapped[str] = mapped_column(ForeignKey("passes.id"), index=True)
    # a credential is withdrawn once: moving on from the new one withdraws that one
    from_credential_id: Mapped[str] = mapped_column(String(32), unique=True)
    to_credential_id: Mapped[str] = mapped_column(String(32))
    # RFC 7638 thumbprints of the phone keys (support can tell phones apart, never see keys)
    from_key_thumbprint: Mapped[str] = mapped_column(String(43))
    to_key_thumbprint: Mapped[str] = mapped_column(String(43))
    moved_at: Mapped[dt.datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(16))  # rider, support
    forced: Mapped[bool] = mapped_column(default=False)  # support, past the daily limit
class SigningKey(Base):
    """An issuing key or a trust-bundle key (``kind``) with its life cycle (see passes.keys).

    ``private_key`` is the PKCS#8 DER wrapped by the key encryptor named ``wrapped_by``
    (maas.core.secrets); it is dropped when the key is archived, and the public half stays for
    re-verifying scans uploaded late. At most one ``current`` and one ``next`` key per kind
    (a partial unique index: two hosts creating the first keys at once cannot both win).
    """

    __tablename__ = "signing_keys"
    __table_args__ = (
        UniqueConstraint("kind", "kid"),
        Index("uq_signing_keys_live_state", "kind", "state", unique=True,
              sqlite_where=text("state IN ('current', 'next')"),
              postgresql_where=text("state IN ('current', 'next')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # issuing, bundle
    kid: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(10))  # next, current, retired, archived
    created_at: Mapped[dt.datetime]
    last_service_date: Mapped[dt.date | None] = mapped_column(Date)
    public_jwk: Mapped[dict[str, Any]]
    private_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    wrapped_by: Mapped[str] = mapped_column(String(64))
    archived_at: Mapped[dt.datetime | None]


class SignedBundle(Base):
    """The trust bundle the worker last built and signed (``name``: ``validators``).

    ``checked_at`` is when the worker last confirmed it current; the bundle endpoint serves it
    only while that is recent, and builds one itself otherwise (see passes.services).
    """

    __tablename__ = "signed_bundles"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[str] = mapped_column(String(32))
    document: Mapped[dict[str, Any]]
    token: Mapped[str] = mapped_column(Text)
    built_at: Mapped[dt.datetime]
    checked_at: Mapped[dt.datetime]
