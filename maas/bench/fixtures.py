"""Signed material the benchmarks share, made without a server or a database.

Keys are generated in memory; the trust bundle is built and signed by :mod:`passes.bundle`,
credentials are issued and presented by :mod:`passes.credential` — the same code the server
and a rider's phone run — and a validator home holds the files ``maas-validator enroll`` writes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from maas.core.files import write_atomically
from passes import bundle as trust
from passes.credential import PassClaims, issue, new_pass_id, present
from passes.jwk import public_jwk
from validators.device import Enrolment

NOON = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)  # 12:00 in Kanazawa
OPERATOR = "hokutetsu"
PRODUCT = "kanazawa-1day"
ISSUING_KID = "k1"
BUNDLE_KID = "b1"
REVOKED = 2000  # deny-list entries in the bundle: a busy day's worth, so parsing it counts


@dataclasses.dataclass(frozen=True)
class Trust:
    """An issuing key, a rider's phone and the (unsigned) trust bundle naming the key."""

    issuer: ec.EllipticCurvePrivateKey
    phone: ec.EllipticCurvePrivateKey
    document: dict[str, Any]

    def presentation(self, at: dt.datetime = NOON) -> str:
        """A new pass for ``at``'s day, bound to the phone and presented by it at ``at``."""
        claims = PassClaims(new_pass_id(), PRODUCT, "adult", at.date(), self.phone.public_key())
        return present(issue(claims, self.issuer, ISSUING_KID), self.phone, at)


def make_trust(revoked: int = REVOKED) -> Trust:
    """Fresh keys and the bundle document of NOON's day with ``revoked`` deny-listed passes."""
    day = NOON.date()
    issuer, phone = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    document = trust.build(
        [{**public_jwk(issuer.public_key(), ISSUING_KID), "state": "current",
          "not_after": None}],
        [(new_pass_id(), day) for _ in range(revoked)],
        [{"code": PRODUCT, "operators": [OPERATOR], "static_allowed": False,
          "valid_from_minutes": 240, "day_boundary_minutes": 180}],
        day, "bench", NOON)
    return Trust(issuer, phone, document)


def enrolled_home(home: Path, material: Trust) -> Path:
    """``home`` as ``maas-validator enroll`` leaves it, the bundle signed by a pinned key.

    ``device.json`` (0600) pins a fresh bundle key and names an unreachable server (checks
    never call it); ``bundle.jws`` is ``material``'s bundle signed with that key.
    """
    bundle_key = ec.generate_private_key(ec.SECP256R1())
    enrolment = Enrolment(server="http://127.0.0.1:9", device_id="bench-device",
                          operator=OPERATOR, token="bench-token",  # noqa: S106 - never sent
                          bundle_keys=[public_jwk(bundle_key.public_key(), BUNDLE_KID)])
    home.mkdir(parents=True, exist_ok=True)
    write_atomically(home / "device.json",
                     json.dumps(dataclasses.asdict(enrolment)).encode(), 0o600)
    write_atomically(home / "bundle.jws",
                     trust.sign(material.document, bundle_key, BUNDLE_KID).encode())
    return home
