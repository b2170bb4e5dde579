"""Issuing keys and trust-bundle keys: P-256 keys in the database, their private parts
encrypted with the key-encryption key (``maas.core.secrets``), never in plain text anywhere.

A key is published as ``next`` (in the JWKS, not signing) before it becomes ``current`` (the one
that signs), and stays published as ``retired`` until the last service date it signed has
passed, so validators can still check every pass it signed. When a retired key is archived its
private part is dropped and its public half kept: the server re-verifies scans uploaded late (a
device may be offline for days) against the keys that were published when they were made.
``kid`` is the first 8 characters of the key's RFC 7638 JWK thumbprint (48 bits: unique among a
handful of live keys, and short because it travels in every QR code).

Every host of a deployment reads the same rows, so a rotation through one host is published
and used by all at once. Keys from the earlier file store (``MAAS_HOME/keys``) are imported
with ``maas keys import-files`` (:meth:`KeyStore.import_folder`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import threading
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maas.core.errors import InvalidInput
from maas.core.secrets import KeyEncryptor
from passes.jwk import jwk_public, public_jwk, thumbprint
from passes.models import SigningKey

STATES = ("next", "current", "retired")
KINDS = ("issuing", "bundle")


@dataclasses.dataclass
class KeyInfo:
    """One key's life cycle."""

    kid: str
    state: str
    created_at: str
    last_service_date: str | None = None  # the latest service date it has signed for


def _info(row: SigningKey) -> KeyInfo:
    return KeyInfo(kid=row.kid, state=row.state,
                   created_at=row.created_at.isoformat(timespec="seconds"),
                   last_service_date=(row.last_service_date.isoformat()
                                      if row.last_service_date else None))


# decrypted private keys by (kind, kid, KEK id): a key's private part never changes, and
# unwrapping it once per process saves an AES-GCM and a PKCS#8 parse on every signature
_unwrapped: dict[tuple[str, str, str], ec.EllipticCurvePrivateKey] = {}
_unwrapped_lock = threading.Lock()


class KeyStore:
    """The issuing keys (or, with ``kind="bundle"``, the trust-bundle keys) of a deployment.

    Reads and writes go through ``session``; what changes is committed by the caller's
    service. The first keys are made once per deployment, normally before serving
    (``maas serve``, ``maas demo``, the worker): :meth:`ensure` commits them at once, except when
    a sale needs them first (:meth:`signing_key`), which stores them in its own transaction.
    """

    def __init__(self, session: Session, encryptor: KeyEncryptor, kind: str = "issuing") -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown key kind {kind!r}")
        self.session = session
        self.encryptor = encryptor
        self.kind = kind

    def _rows(self, *states: str) -> list[SigningKey]:
        query = select(SigningKey).where(SigningKey.kind == self.kind)
        if states:
            query = query.where(SigningKey.state.in_(states))
        # populate_existing: record_use updates rows without loading them
        return list(self.session.scalars(query.order_by(SigningKey.created_at, SigningKey.id)
                                         .execution_options(populate_existing=True)))

    def infos(self) -> list[KeyInfo]:
        """Every published key's life cycle (next, current, retired), oldest first."""
        return [_info(row) for row in self._rows(*STATES)]

    def _associated(self, kid: str) -> bytes:
        return f"maas signing key\0{self.kind}\0{kid}".encode()

    def _add(self, key: ec.EllipticCurvePrivateKey, state: str, created_at: dt.datetime,
             last_service_date: dt.date | None = None) -> SigningKey:
        kid = thumbprint(key.public_key())[:8]
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        row = SigningKey(kind=self.kind, kid=kid, state=state, created_at=created_at,
                         last_service_date=last_service_date,
                         public_jwk=public_jwk(key.public_key(), kid),
                         private_key=self.encryptor.wrap(der, self._associated(kid)),
                         wrapped_by=self.encryptor.id, archived_at=None)
        self.session.add(row)
        self.session.flush()
        return row

    def private_key(self, kid: str) -> ec.EllipticCurvePrivateKey:
        """A live key's private part, decrypted (ValueError when there is none)."""
        cache_key = (self.kind, kid, self.encryptor.id)
        with _unwrapped_lock:
            cached = _unwrapped.get(cache_key)
        if cached is not None:
            return cached
        wrapped = self.session.scalar(select(SigningKey.private_key).where(
            SigningKey.kind == self.kind, SigningKey.kid == kid))
        if wrapped is None:
            raise ValueError(f"{kid}: no private key (unknown or archived)")
        key = serialization.load_der_private_key(
            self.encryptor.unwrap(wrapped, self._associated(kid)), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{kid}: not an EC key")
        with _unwrapped_lock:
            _unwrapped[cache_key] = key
        return key

    def ensure(self, now: dt.datetime, *, commit: bool = True) -> None:
        """Create a current and a next key when there are none (first start, demo).

        Two hosts doing this at once: the unique index on live states lets one win, and the
        other reads the winner's keys. With ``commit`` the new keys are committed at once (the
        session's earlier work with them: call it before writing); without, they commit with
        the caller's transaction (a first sale signs with keys stored in its own commit).
        """
        if {"current", "next"} <= {row.state for row in self._rows("current", "next")}:
            return
        for state in ("current", "next"):
            if self.session.scalar(select(SigningKey.id).where(
                    SigningKey.kind == self.kind, SigningKey.state == state)) is not None:
                continue
            try:
                with self.session.begin_nested():
                    self._add(ec.generate_private_key(ec.SECP256R1()), state, now)
            except IntegrityError:
                continue  # another process created it first
        if commit:
            self.session.commit()

    def rotate(self, now: dt.datetime, today: dt.date) -> list[KeyInfo]:
        """Promote ``next`` to ``current``, retire the old current, publish a new ``next``.

        Retired keys whose last signed service date is before ``today`` are archived (their
        private part is dropped). The caller commits.
        """
        self.ensure(now)
        if self.session.get_bind().dialect.name == "postgresql":
            # rotations of the same kind queue up behind each other (a transaction lock)
            self.session.execute(select(func.pg_advisory_xact_lock(
                int.from_bytes(hashlib.sha256(f"keys:{self.kind}".encode()).digest()[:7]))))
        rows = self._rows(*STATES)
        for row in rows:
            if row.state == "current":
                row.state = "retired"
        self.session.flush()
        for row in rows:
            if row.state == "next":
                row.state = "current"
        self.session.flush()
        self._add(ec.generate_private_key(ec.SECP256R1()), "next", now)
        for row in rows:
            expired = row.state == "retired" and (
                row.last_service_date is None or row.last_service_date < today)
            if expired:
                row.state = "archived"
                row.private_key = None
                row.archived_at = now
        self.session.flush()
        return self.infos()

    def history(self) -> list[tuple[KeyInfo, ec.EllipticCurvePublicKey]]:
        """Every key ever published (live ones and archived ones) with its public key.

        Archived keys have the state ``archived``; their ``last_service_date`` bounds what
        they may have signed, as for a retired key.
        """
        return [(_info(row), jwk_public(row.public_jwk)) for row in self._rows()]

    def stamp(self) -> tuple[tuple[str, str, str | None], ...]:
        """Changes whenever the keys do (each key's kid, state and last service date)."""
        rows = self.session.execute(
            select(SigningKey.kid, SigningKey.state, SigningKey.last_service_date)
            .where(SigningKey.kind == self.kind).order_by(SigningKey.id)).all()
        return tuple((kid, state, day.isoformat() if day else None) for kid, state, day in rows)

    def signing_key(self, now: dt.datetime) -> tuple[str, ec.EllipticCurvePrivateKey]:
        """The current key (created on first use)."""
        kid = self.session.scalar(select(SigningKey.kid).where(
            SigningKey.kind == self.kind, SigningKey.state == "current"))
        if kid is None:
            # inside the caller's transaction: committing here would commit half of a sale
            self.ensure(now, commit=False)
            return self.signing_key(now)
        return kid, self.private_key(kid)

    def record_use(self, kid: str, service_date: dt.date) -> None:
        """Remember the latest service date a key has signed for (keeps it published).

        One conditional UPDATE in the caller's transaction: it touches the row only when the
        date moves forward, so concurrent sales of the same day do not queue on it.
        """
        self.session.execute(
            update(SigningKey)
            .where(SigningKey.kind == self.kind, SigningKey.kid == kid,
                   or_(SigningKey.last_service_date.is_(None),
                       SigningKey.last_service_date < service_date))
            .values(last_service_date=service_date)
            .execution_options(synchronize_session=False))

    def public_keys(self) -> dict[str, ec.EllipticCurvePublicKey]:
        """Every published key by kid (next, current, retired)."""
        return {row.kid: jwk_public(row.public_jwk) for row in self._rows(*STATES)}

    def jwks(self) -> dict[str, Any]:
        """The JWKS document of the published keys."""
        return {"keys": [dict(row.public_jwk) for row in self._rows(*STATES)]}

    def import_folder(self, folder: Path) -> list[str]:
        """Import the keys of the earlier file store (``keys.json``, ``*.pem``, ``archive.json``
        of ``folder``); kids already stored are skipped. Returns the kids imported; the
        caller commits. Refused when the database already has live keys of another lineage
        (two ``current`` keys cannot both sign).
        """
        index = folder / "keys.json"
        if not index.exists():
            raise InvalidInput(f"{folder}: no keys.json (not a key folder of MAAS_HOME)")
        known = {row.kid for row in self._rows()}
        items = json.loads(index.read_text(encoding="utf-8"))
        archive = folder / "archive.json"
        archived = json.loads(archive.read_text(encoding="utf-8")) if archive.exists() else []
        new = [item for item in items if item["kid"] not in known]
        live = {row.state for row in self._rows("current", "next")}
        if new and live & {item["state"] for item in new}:
            raise InvalidInput(f"{folder}: the database already has {', '.join(sorted(live))} "
                               f"{self.kind} keys; import into a database without them")
        imported = []
        for item in new:
            key = serialization.load_pem_private_key(
                (folder / f"{item['kid']}.pem").read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise InvalidInput(f"{folder}/{item['kid']}.pem: not an EC key")
            self._add(key, item["state"], _moment(item["created_at"]),
                      _day(item.get("last_service_date")))
            imported.append(item["kid"])
        for item in archived:
            if item["kid"] in known or item["kid"] in imported:
                continue
            self.session.add(SigningKey(
                kind=self.kind, kid=item["kid"], state="archived",
                created_at=_moment(item["created_at"]),
                last_service_date=_day(item.get("last_service_date")),
                public_jwk=item["jwk"], private_key=None, wrapped_by=self.encryptor.id,
                archived_at=_moment(item.get("deleted_at") or item["created_at"])))
            imported.append(item["kid"])
        self.session.flush()
        return imported


def _moment(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _day(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None
