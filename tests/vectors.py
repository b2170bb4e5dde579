"""The shared verifier test vectors: payloads with the codes both verifiers must give.

The Python verifier (validators/verify.py) and the driver page's browser verifier read the same
file, ``tests/data/verify-vectors.json``. It is generated once and committed (signatures are
randomised, so regenerating changes every payload)::

    python -m tests.vectors        # rewrites tests/data/verify-vectors.json
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from passes import bundle as trust
from passes.credential import PassClaims, b64url, issue, new_pass_id, present
from passes.keys import public_jwk
from validators.verify import replay_key

VECTORS = Path(__file__).parent / "data" / "verify-vectors.json"
NOW = dt.datetime(2026, 12, 1, 0, 3, tzinfo=dt.UTC)  # 09:03 in Kanazawa


def load() -> dict[str, Any]:
    """The committed vectors."""
    document: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
    return document


def _iso(at: dt.datetime) -> str:
    return at.isoformat()


def build() -> dict[str, Any]:
    """A bundle and the cases judged against it."""
    current, retired, unknown = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    phone, other_phone = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    keys = [
        {**public_jwk(current.public_key(), "cur00001"), "state": "current", "not_after": None},
        {**public_jwk(retired.public_key(), "old00001"), "state": "retired",
         "not_after": "2026-12-01"},
    ]
    products = [
        {"code": "kanazawa-1day", "operators": ["hokutetsu", "jrbus", "flatbus"],
         "static_allowed": False, "valid_from_minutes": 240, "day_boundary_minutes": 180},
        {"code": "kanazawa-print", "operators": ["hokutetsu"], "static_allowed": True,
         "valid_from_minutes": 240, "day_boundary_minutes": 180},
    ]
    revoked_id = new_pass_id()
    today = NOW.date()
    document = trust.build(keys, [(revoked_id, today)], products, today, "vectors", NOW)

    def credential(product: str = "kanazawa-1day", day: dt.date = today,
                   bound: ec.EllipticCurvePrivateKey | None = phone,
                   key: ec.EllipticCurvePrivateKey = current, kid: str = "cur00001",
                   pass_id: str | None = None) -> str:
        claims = PassClaims(pass_id or new_pass_id(), product, "adult", day,
                            bound.public_key() if bound else None)
        return issue(claims, key, kid)

    def shown(token: str, at: dt.datetime = NOW - dt.timedelta(seconds=4),
              by: ec.EllipticCurvePrivateKey = phone) -> str:
        return present(token, by, at)

    good = shown(credential())
    static = credential("kanazawa-print", bound=None)
    header, payload, signature = credential().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "==").decode())
    tampered_claims = b64url(json.dumps({**claims, "c": "a", "d": "20261202"},
                                        separators=(",", ":")).encode())
    public_pem = current.public_key().public_bytes(Encoding.PEM,
                                                   PublicFormat.SubjectPublicKeyInfo)
    unsigned = (b64url(json.dumps({"alg": "none", "kid": "cur00001"}).encode()) + "."
                + payload + ".")
    hs256 = _hs256_with_public_key(claims, public_pem)
    late = dt.datetime(2026, 11, 30, 17, 59, tzinfo=dt.UTC)  # 02:59 on 12-01 in Tokyo
    cases: list[dict[str, Any]] = [
        {"name": "bound pass shown 4 s ago", "payload": good, "expected": "accept"},
        {"name": "shown 44 s in the future", "expected": "accept",
         "payload": shown(credential(), NOW + dt.timedelta(seconds=44))},
        {"name": "shown 46 s ago", "expected": "outside_window",
         "payload": shown(credential(), NOW - dt.timedelta(seconds=46))},
        {"name": "screenshot from 10 minutes ago", "expected": "outside_window",
         "payload": shown(credential(), NOW - dt.timedelta(minutes=10))},
        {"name": "printed code of a product that allows it", "payload": static,
         "expected": "accept_static"},
        {"name": "printed code seen on this device 2 min ago", "payload": static,
         "seen": {replay_key(static): _iso(NOW - dt.timedelta(minutes=2))},
         "expected": "replay"},
        {"name": "printed code seen on this device 3 h ago", "payload": static,
         "seen": {replay_key(static): _iso(NOW - dt.timedelta(hours=3))},
         "expected": "accept_static"},
        {"name": "printed code of the 1-day pass", "expected": "static_not_allowed",
         "payload": credential(bound=None)},
        {"name": "bound credential without the phone's rotation",
         "expected": "static_not_allowed", "payload": credential()},
        {"name": "rotation made up for an unbound credential", "expected": "wrong_device",
         "payload": shown(credential(bound=None))},
        {"name": "signed by another phone", "expected": "wrong_device",
         "payload": shown(credential(), by=other_phone)},
        {"name": "tampered claims", "expected": "bad_signature",
         "payload": f"{header}.{tampered_claims}.{signature}"},
        {"name": "alg none", "expected": "bad_signature", "payload": unsigned},
        {"name": "HS256 keyed with the public key", "expected": "bad_signature",
         "payload": hs256},
        {"name": "unknown kid", "expected": "unknown_key",
         "payload": shown(credential(key=unknown, kid="zzz00001"))},
        {"name": "retired key, date it covers", "expected": "accept",
         "payload": shown(credential(key=retired, kid="old00001"))},
        {"name": "retired key, date after its retirement", "expected": "unknown_key",
         "payload": shown(credential(day=today + dt.timedelta(days=1), key=retired,
                                     kid="old00001"))},
        {"name": "pass for tomorrow", "expected": "too_early",
         "payload": shown(credential(day=today + dt.timedelta(days=1)))},
        {"name": "pass for yesterday", "expected": "expired",
         "payload": shown(credential(day=today - dt.timedelta(days=1)))},
        {"name": "yesterday's pass on the last bus at 02:59", "expected": "accept",
         "now": _iso(late),
         "payload": shown(credential(day=today - dt.timedelta(days=1)),
                          late - dt.timedelta(seconds=3))},
        {"name": "yesterday's pass at 03:00", "expected": "expired",
         "now": _iso(late + dt.timedelta(minutes=1)),
         "payload": shown(credential(day=today - dt.timedelta(days=1)),
                          late + dt.timedelta(minutes=1))},
        {"name": "today's pass at 03:59 before the day starts", "expected": "too_early",
         "now": _iso(dt.datetime(2026, 11, 30, 18, 59, tzinfo=dt.UTC)),
         "payload": shown(credential(day=today),
                          dt.datetime(2026, 11, 30, 18, 59, tzinfo=dt.UTC))},
        {"name": "revoked pass", "expected": "revoked",
         "payload": shown(credential(pass_id=revoked_id))},
        {"name": "operator not covered", "expected": "not_covered", "operator": "machinori",
         "payload": good},
        {"name": "unknown product", "expected": "not_covered",
         "payload": shown(credential("mystery-pass"))},
        {"name": "replay on this device", "expected": "replay", "payload": good,
         "seen": {replay_key(good): _iso(NOW - dt.timedelta(seconds=2))}},
        {"name": "not a pass", "expected": "malformed", "payload": "https://example.jp/"},
        {"name": "three parts of nonsense", "expected": "malformed", "payload": "a~b~c"},
        {"name": "bad time field", "expected": "malformed",
         "payload": good.rsplit("~", 2)[0] + "~AAAA~" + good.rsplit("~", 1)[1]},
        {"name": "non-ASCII", "expected": "malformed", "payload": "乗車券"},
        {"name": "empty", "expected": "malformed", "payload": ""},
        {"name": "bundle 73 h old", "expected": "stale_bundle", "payload": good,
         "now": _iso(NOW + dt.timedelta(hours=73))},
        {"name": "no bundle", "expected": "no_bundle", "payload": good, "bundle": None},
    ]
    for case in cases:
        case.setdefault("now", _iso(NOW))
        case.setdefault("operator", "hokutetsu")
        case.setdefault("seen", {})
    return {"about": __doc__.splitlines()[0], "bundle": document, "cases": cases}


def _hs256_with_public_key(claims: dict[str, Any], public_pem: bytes) -> str:
    """The algorithm-confusion attack: HMAC keyed with the issuer's public key.

    Made by hand because PyJWT refuses to sign HS256 with a PEM key.
    """
    header = b64url(json.dumps({"alg": "HS256", "kid": "cur00001"}).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64url(mac)}"


if __name__ == "__main__":
    VECTORS.parent.mkdir(exist_ok=True)
    VECTORS.write_text(json.dumps(build(), ensure_ascii=False, indent=1) + "\n",
                       encoding="utf-8")
    print(f"wrote {VECTORS}")
