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

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from passes import bundle as trust
from passes.credential import (
    CURVE_ORDER,
    PassClaims,
    b64url,
    credential_id,
    issue,
    low_s,
    new_pass_id,
    present,
    unb64url,
)
from passes.jwk import public_jwk
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

    # a pass moved from `phone` to `other_phone`: the first credential is withdrawn
    moved_id = new_pass_id()
    moved_from, moved_to = credential(pass_id=moved_id), credential(pass_id=moved_id,
                                                                    bound=other_phone)
    document = trust.build(keys, [(revoked_id, today)], products, today, "vectors", NOW,
                           denied_credentials=[(credential_id(moved_from), today)])

    good_id, static_id = new_pass_id(), new_pass_id()
    good_at = NOW - dt.timedelta(seconds=4)
    while True:  # until every signature has a - or _ to write as + or /
        good = shown(credential(pass_id=good_id), good_at)
        static = credential("kanazawa-print", bound=None, pass_id=static_id)
        signatures = (good.split("~")[2], good.split("~")[0].split(".")[2],
                      static.split(".")[2])
        if all({"-", "_"} & set(text) for text in signatures):
            break
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
         "seen": {replay_key(static_id, None): _iso(NOW - dt.timedelta(minutes=2))},
         "passes": {static_id: _iso(NOW - dt.timedelta(minutes=2))},
         "expected": "replay"},
        {"name": "printed code seen on this device 3 h ago", "payload": static,
         "seen": {replay_key(static_id, None): _iso(NOW - dt.timedelta(hours=3))},
         "passes": {static_id: _iso(NOW - dt.timedelta(hours=3))},
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
        {"name": "credential moved to another phone, shown by the first", "payload":
         shown(moved_from), "expected": "credential_moved"},
        {"name": "the moved pass's new credential on the new phone", "expected": "accept",
         "payload": shown(moved_to, by=other_phone)},
        {"name": "operator not covered", "expected": "not_covered", "operator": "machinori",
         "payload": good},
        {"name": "unknown product", "expected": "not_covered",
         "payload": shown(credential("mystery-pass"))},
        {"name": "replay on this device", "expected": "replay", "payload": good,
         "seen": {replay_key(good_id, good_at): _iso(NOW - dt.timedelta(seconds=2))},
         "passes": {good_id: _iso(NOW - dt.timedelta(seconds=2))}},
        {"name": "replay known only by its content (no pass history)", "expected": "replay",
         "payload": good,
         "seen": {replay_key(good_id, good_at): _iso(NOW - dt.timedelta(seconds=2))}},
        {"name": "new presentation of a pass accepted here 1 min ago", "expected": "replay",
         "payload": shown(credential(pass_id=good_id)),
         "seen": {replay_key(good_id, NOW - dt.timedelta(seconds=64)):
                  _iso(NOW - dt.timedelta(seconds=60))},
         "passes": {good_id: _iso(NOW - dt.timedelta(seconds=60))}},
        {"name": "new presentation of a pass accepted here 4 min 59 s ago",
         "expected": "replay", "payload": shown(credential(pass_id=good_id)),
         "passes": {good_id: _iso(NOW - dt.timedelta(seconds=299))}},
        {"name": "new presentation of a pass accepted here 5 min ago", "expected": "accept",
         "payload": shown(credential(pass_id=good_id)),
         "passes": {good_id: _iso(NOW - dt.timedelta(minutes=5))}},
        {"name": "a pass accepted here 1 min ago by another code: printed code",
         "expected": "replay", "payload": static,
         "passes": {static_id: _iso(NOW - dt.timedelta(minutes=1))}},
        {"name": "pass accepted 1 min ago on another device (not this one's history)",
         "expected": "accept", "payload": shown(credential(pass_id=good_id))},
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
    cases += _non_canonical(good, static, phone, current)
    for case in cases:
        case.setdefault("now", _iso(NOW))
        case.setdefault("operator", "hokutetsu")
        case.setdefault("seen", {})
        case.setdefault("passes", {})
    return {"about": __doc__.splitlines()[0], "bundle": document, "cases": cases}


B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def high_s(signature_text: str) -> str:
    """The same ECDSA signature with s replaced by n - s: it still verifies mathematically."""
    raw = unb64url(signature_text)
    s = int.from_bytes(raw[32:], "big")
    return b64url(raw[:32] + (CURVE_ORDER - s).to_bytes(32, "big"))


def unused_bits(text: str) -> str:
    """The same bytes with a non-zero unused bit in the last character (or None if none)."""
    if len(text) % 4 == 0:
        raise ValueError("no unused bits in a whole quad")
    return text[:-1] + B64URL[B64URL.index(text[-1]) | 1]


def padded(text: str) -> str:
    """The same bytes with base64 padding."""
    return text + "=" * (-len(text) % 4)


def standard_alphabet(text: str) -> str:
    """The same bytes in the standard alphabet (+ and /)."""
    return text.replace("-", "+").replace("_", "/")


def sign_jws(header: bytes, claims: bytes, key: ec.EllipticCurvePrivateKey) -> str:
    """A compact ES256 JWS over exactly these JSON bytes, low s: a code made with our key."""
    head, body = b64url(header), b64url(claims)
    r, s = decode_dss_signature(key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256())))
    return f"{head}.{body}.{b64url(low_s(r.to_bytes(32, 'big') + s.to_bytes(32, 'big')))}"


def _non_canonical(good: str, static: str, phone: ec.EllipticCurvePrivateKey,
                   issuer: ec.EllipticCurvePrivateKey) -> list[dict[str, Any]]:
    """Every other byte form of a genuine code: each must be ``malformed``.

    Without the issuer's key an attacker can only re-encode what was signed (padding, the
    standard alphabet, whitespace, unused bits, n - s); with it (the cases "signed by our
    key") a code in another JSON form is still not one our issuer writes.
    """
    credential, time_text, phone_sig = good.split("~")
    head, body, sig = credential.split(".")
    static_head, static_body, static_sig = static.split(".")
    at = dt.datetime.fromtimestamp(int.from_bytes(unb64url(time_text), "big"), dt.UTC)
    claims = json.loads(unb64url(body))

    def reshown(token: str) -> str:
        return present(token, phone, at)

    def malformed(name: str, payload: str) -> dict[str, Any]:
        return {"name": f"non-canonical: {name}", "payload": payload, "expected": "malformed"}

    compact = {"separators": (",", ":")}
    header = {"alg": "ES256", "kid": "cur00001"}
    cases = [
        malformed("phone signature padded", f"{credential}~{time_text}~{padded(phone_sig)}"),
        malformed("time padded", f"{credential}~{padded(time_text)}~{phone_sig}"),
        malformed("issuer signature padded", f"{head}.{body}.{padded(sig)}~{time_text}"
                  f"~{phone_sig}"),
        malformed("printed code, issuer signature padded",
                  f"{static_head}.{static_body}.{padded(static_sig)}"),
        malformed("phone signature in the standard alphabet",
                  f"{credential}~{time_text}~{standard_alphabet(phone_sig)}"),
        malformed("issuer signature in the standard alphabet",
                  f"{head}.{body}.{standard_alphabet(sig)}~{time_text}~{phone_sig}"),
        malformed("printed code in the standard alphabet", standard_alphabet(static)),
        malformed("unused bits set in the phone signature",
                  f"{credential}~{time_text}~{unused_bits(phone_sig)}"),
        malformed("unused bits set in the time", f"{credential}~{unused_bits(time_text)}"
                  f"~{phone_sig}"),
        malformed("unused bits set in the issuer signature",
                  f"{head}.{body}.{unused_bits(sig)}~{time_text}~{phone_sig}"),
        malformed("printed code, unused bits set in the issuer signature",
                  f"{static_head}.{static_body}.{unused_bits(static_sig)}"),
        malformed("high s in the phone signature",
                  f"{credential}~{time_text}~{high_s(phone_sig)}"),
        malformed("high s in the issuer signature, shown again by the phone",
                  reshown(f"{head}.{body}.{high_s(sig)}")),
        malformed("printed code, high s in the issuer signature",
                  f"{static_head}.{static_body}.{high_s(static_sig)}"),
        malformed("leading space", " " + good),
        malformed("trailing newline", good + "\n"),
        malformed("trailing CR LF", good + "\r\n"),
        malformed("trailing space on a printed code", static + " "),
        malformed("space before a separator", good.replace("~", " ~", 1)),
        malformed("tab after a separator", good.replace("~", "~\t", 1)),
        malformed("line break inside the issuer signature",
                  f"{head}.{body}.{sig[:40]}\n{sig[40:]}~{time_text}~{phone_sig}"),
        malformed("claims with spaces, signed by our key", reshown(sign_jws(
            json.dumps(header, **compact).encode(), json.dumps(claims).encode(), issuer))),
        malformed("claims in another order, signed by our key", reshown(sign_jws(
            json.dumps(header, **compact).encode(),
            json.dumps(dict(reversed(claims.items())), **compact).encode(), issuer))),
        malformed("an extra claim, signed by our key", reshown(sign_jws(
            json.dumps(header, **compact).encode(),
            json.dumps({**claims, "exp": 4102444800}, **compact).encode(), issuer))),
        malformed("a claim written twice, signed by our key", reshown(sign_jws(
            json.dumps(header, **compact).encode(),
            json.dumps(claims, **compact).encode()[:-1] + b',"c":"a"}', issuer))),
        malformed("non-ASCII written raw, signed by our key", reshown(sign_jws(
            json.dumps(header, **compact).encode(),
            json.dumps({**claims, "p": "金沢"}, ensure_ascii=False, **compact).encode(),
            issuer))),
        malformed("header keys in another order, signed by our key", reshown(sign_jws(
            b'{"kid":"cur00001","alg":"ES256"}', json.dumps(claims, **compact).encode(),
            issuer))),
        malformed("header with typ JWT, signed by our key", reshown(sign_jws(
            json.dumps({**header, "typ": "JWT"}, **compact, sort_keys=True).encode(),
            json.dumps(claims, **compact).encode(), issuer))),
        malformed("header with spaces, signed by our key", reshown(sign_jws(
            json.dumps(header).encode(), json.dumps(claims, **compact).encode(), issuer))),
    ]
    # the same code, canonical, still accepted: the variants fail for their form alone
    cases.append({"name": "canonical form of the variants above", "payload": good,
                  "expected": "accept"})
    cases.append({"name": "canonical form signed by our key by hand", "expected": "accept",
                  "payload": reshown(sign_jws(
                      json.dumps(header, **compact).encode(),
                      json.dumps(claims, **compact).encode(), issuer))})
    return cases


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
