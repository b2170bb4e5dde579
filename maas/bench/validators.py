"""``maas bench validators``: verification latency and scan ingestion throughput.

Each figure comes with its floor measured in the same run: verification beside the two
signatures it checks, done bare (PyJWT's ES256 decode of the credential and the phone's ECDSA
signature of the presentation), ingestion beside a plain executemany INSERT into the same
table (no duplicate handling, no verification of the codes, no fraud check, no roll-ups). p50
and p99 are :func:`maas.bench.timing.percentiles`.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from maas.bench.fixtures import NOON, OPERATOR, PRODUCT, make_trust
from maas.bench.timing import percentiles, timed
from maas.core.cli import emit, json_option
from maas.core.clistate import CliState, pass_state
from maas.core.db import create_db_engine, session_factory, upgrade
from maas.core.secrets import AesGcmEncryptor
from passes.credential import PassClaims, credential_id, issue, new_pass_id, present, unb64url
from passes.keys import KeyStore
from passes.models import Pass, Product
from validators import services
from validators.evidence import key_windows
from validators.models import Device, Scan
from validators.verify import Context, TrustBundle, verify


def bench_verify(checks: int) -> dict[str, Any]:
    """Time ``verify`` on fresh bound presentations (the accept path: every check runs).

    Its floor checks the same two signatures and nothing else: PyJWT's ES256 decode of the
    credential (the issuer's signature) and the phone's ECDSA signature over credential and
    time, with the phone's public key already in hand (``verify`` reads it from the
    credential's claims). PyJWT's decode alone is reported too.
    """
    material = make_trust()
    bundle = TrustBundle.from_document(material.document)
    payloads = [material.presentation(NOON) for _ in range(checks)]
    ours, floor, decode_only = [], [], []
    context = Context(OPERATOR)
    public = material.issuer.public_key()
    phone = material.phone.public_key()
    for payload in payloads:
        elapsed, result = timed(functools.partial(verify, payload, bundle, NOON, context))
        ours.append(elapsed)
        if not result.accepted:
            raise click.ClickException(f"bench payload judged {result.code}")
        token = payload.split("~", 1)[0]
        floor.append(timed(functools.partial(_two_signatures, payload, public, phone))[0])
        decode_only.append(timed(functools.partial(jwt.decode, token, public,
                                                   algorithms=["ES256"]))[0])
    verify_p50, verify_p99 = percentiles(ours, 50, 99, digits=3)
    floor_p50, floor_p99 = percentiles(floor, 50, 99, digits=3)
    decode_p50, decode_p99 = percentiles(decode_only, 50, 99, digits=3)
    return {"checks": checks, "verify_p50_ms": verify_p50, "verify_p99_ms": verify_p99,
            "two_signatures_p50_ms": floor_p50, "two_signatures_p99_ms": floor_p99,
            "verify_over_two_signatures": round(verify_p50 / floor_p50, 3) if floor_p50 else None,
            "pyjwt_decode_p50_ms": decode_p50, "pyjwt_decode_p99_ms": decode_p99}


def _two_signatures(payload: str, issuer: ec.EllipticCurvePublicKey,
                    phone: ec.EllipticCurvePublicKey) -> None:
    """The floor: the issuer's signature (PyJWT) and the phone's, nothing else."""
    message, _, signature = payload.rpartition("~")
    jwt.decode(message.split("~", 1)[0], issuer, algorithms=["ES256"])
    raw = unb64url(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    phone.verify(der, message.encode("ascii"), ec.ECDSA(hashes.SHA256()))


@contextmanager
def scratch_database(url: str) -> Iterator[Engine]:
    """A new, migrated database beside ``url`` (same server or folder), dropped afterwards."""
    parsed = make_url(url)
    name = f"maas_bench_{uuid.uuid4().hex[:10]}"
    if parsed.get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            engine = create_db_engine(f"sqlite:///{Path(folder) / name}.sqlite3")
            upgrade(engine)
            yield engine
            engine.dispose()
        return
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_db_engine(parsed.set(database=name).render_as_string(hide_password=False))
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench_ingest(state: CliState, scans: int, batch: int) -> dict[str, Any]:
    """Scans per second through ``ingest_scans`` and through a bare INSERT.

    Every scan carries a real rotating code (a bound credential of a pass stored in the
    scratch database, presented by the phone at the scan's time), so ingestion verifies each
    one as it does a device's upload. Both run on a scratch database beside the configured
    one, with scratch issuing keys, so statistics and keys stay clean.
    """
    runtime = state.runtime()
    url = runtime.settings.database_url
    phone = ec.generate_private_key(ec.SECP256R1())
    def records(offset: int) -> list[services.ScanRecord]:
        made = []
        for i in range(batch):
            pass_id = pass_ids[(offset + i) % len(pass_ids)]
            at = NOON + dt.timedelta(seconds=offset + i)
            made.append(services.ScanRecord(
                id=str(uuid.uuid4()), result="accept", code="accept",
                payload=present(tokens[pass_id], phone, at), digest=uuid.uuid4().hex,
                pass_id=pass_id, product=PRODUCT, category="adult",
                service_date=NOON.date(), scanned_at=at))
        return made

    rounds = max(1, scans // batch)
    with scratch_database(url) as engine:
        sessions = session_factory(engine, runtime.events)  # roll-ups run, as in a server
        with sessions() as session:
            # scratch issuing keys under a throw-away key-encryption key
            store = KeyStore(session, AesGcmEncryptor(os.urandom(32)))
            store.ensure(NOON - dt.timedelta(days=1))
            kid, issuer = store.signing_key(NOON)
            tokens = {claims.pass_id: issue(claims, issuer, kid) for claims in (
                PassClaims(new_pass_id(), PRODUCT, "adult", NOON.date(), phone.public_key())
                for _ in range(max(1, scans // 3)))}
            keys = key_windows(store)
        pass_ids = list(tokens)
        batches = [records(r * batch) for r in range(rounds)]
        with sessions() as session:
            # the operators registry belongs to gtfs; its table is looked up, not imported
            operators = Device.metadata.tables["operators"]
            session.execute(insert(operators).values(id="bench", name="bench", modes=[],
                                                     feed_name="bench"))
            session.add(Product(code=PRODUCT, name="bench", name_en="bench",
                                adult_yen=800, child_yen=400, operators=["bench"]))
            session.flush()
            session.execute(insert(Pass), [
                {"id": pass_id, "order_id": None, "rider_id": None,
                 "product_code": PRODUCT, "category": "adult",
                 "service_date": NOON.date(), "token": token,
                 "credential_id": credential_id(token), "device_key": None,
                 "status": "valid", "revoked_reason": None, "issued_at": NOON}
                for pass_id, token in tokens.items()])
            device = services.add_device(session, "bench", "bench-bus", None,
                                         runtime.clock).device
            device_id = device.id
        elapsed_ms = 0.0
        confirmed = 0
        for batch_records in batches:
            with sessions() as session:
                device = session.get_one(Device, device_id)
                elapsed, outcome = timed(functools.partial(
                    services.ingest_scans, session, device, batch_records, runtime.clock, keys))
                elapsed_ms += elapsed
                confirmed += outcome.statuses.get("confirmed", 0)
        if confirmed != rounds * batch:
            raise click.ClickException(f"only {confirmed} of {rounds * batch} bench scans "
                                       "were confirmed")
        bare_ms = 0.0
        for r in range(rounds):
            rows = [{"id": str(uuid.uuid4()), "device_id": device_id, "operator_id": "bench",
                     "vehicle": "bench-bus", "stop": None, "route_id": None,
                     "result": rec.result, "code": rec.code, "pass_id": rec.pass_id,
                     "product_code": rec.product, "category": rec.category,
                     "service_date": rec.service_date, "digest": rec.digest, "lat": None,
                     "lon": None, "scanned_at": rec.scanned_at, "received_at": NOON,
                     "payload": rec.payload, "server_result": "accept",
                     "server_code": "accept", "status": "confirmed"}
                    for rec in batches[r]]
            with sessions() as session:
                bare_ms += timed(functools.partial(_insert, session, rows))[0]
        dialect = engine.dialect.name
    total = rounds * batch
    return {"database": dialect, "scans": total, "batch": batch,
            "ingest_scans_per_s": round(total * 1000 / elapsed_ms),
            "bare_insert_scans_per_s": round(total * 1000 / bare_ms)}


def _insert(session: Session, rows: list[dict[str, Any]]) -> None:
    """The floor: one executemany INSERT of ready rows and its commit."""
    session.execute(insert(Scan), rows)
    session.commit()


@click.command("validators")
@click.option("--checks", default=5000, show_default=True, help="Presentations to verify.")
@click.option("--scans", default=20000, show_default=True, help="Scans to ingest.")
@click.option("--batch", default=500, show_default=True, help="Scans per upload batch.")
@json_option
@pass_state
def bench_validators(state: CliState, checks: int, scans: int, batch: int,
                     as_json: bool) -> None:
    """Verification p50/p99 and ingestion scans/s on the configured database."""
    document = {**bench_verify(checks), **bench_ingest(state, scans, batch)}
    emit(as_json, document, "\n".join(f"{k:>26}  {v}" for k, v in document.items()))
