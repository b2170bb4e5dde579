"""The pass credential and its rotating presentation (pure: no database, no HTTP).

Credential: a compact ES256 JWT, ``kid`` in the header, algorithms always pinned. Claims have
one-letter names because the code must fit a QR code (static ≤ version 12-M, 287 bytes;
rotating ≤ 15-M, 412 bytes) — with a 24-character product code the rotating code is 411 bytes:

- ``i`` — the pass id: 128 random bits, base64url;
- ``p`` — product code (at most 24 characters); ``c`` — ``a`` (adult) or ``c`` (child);
- ``d`` — service date, ``YYYYMMDD``;
- ``k`` — once bound: the phone's P-256 public key, compressed point, base64url.

Presentation (what a bound phone shows, renewed at least every 10 s)::

    <credential>~<time>~<signature>

``time`` is the Unix second as 4 bytes big-endian, base64url (6 characters); the signature is
the phone's ECDSA P-256/SHA-256 signature, raw ``r || s`` (what WebCrypto produces), over the
ASCII text ``<credential>~<time>``. No personal data goes into either.

**One byte form.** Each code has exactly one accepted encoding, so that a code cannot be made
"new" by re-encoding it (docs/validators.md, "Canonical form"): strict base64url (``A-Z a-z
0-9 - _``, no padding, no whitespace, zero unused bits in the last character); the header
exactly ``{"alg":"ES256","kid":"…"}`` and the claims exactly ``i p c d [k]`` in that order,
printable ASCII strings, compact JSON as PyJWT writes it (``separators=(",", ":")``); ECDSA
signatures — the issuer's and the phone's — with low s (``s <= n/2``). :func:`issue`
and :func:`present` write that form; anything else is ``malformed``.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Mapping

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALGORITHM = "ES256"  # the only algorithm ever accepted
SEPARATOR = "~"
MAX_PRODUCT_CODE = 24
CATEGORIES = {"adult": "a", "child": "c"}
CATEGORY_NAMES = {code: name for name, code in CATEGORIES.items()}
# the order of P-256's base point: a signature (r, s) verifies as (r, n - s) too,
# so only s <= n/2 is accepted (BIP 62's low-s rule), and issue()/present() always write it
CURVE_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
HALF_ORDER = CURVE_ORDER // 2
CLAIM_ORDERS = (("i", "p", "c", "d"), ("i", "p", "c", "d", "k"))
TIME_CHARS = 6  # the presentation time: 4 bytes of base64url
SIGNATURE_CHARS = 86  # a raw r || s signature: 64 bytes of base64url
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_DATE = re.compile(r"[0-9]{8}")
_PRINTABLE = re.compile(r"[\x20-\x7e]*")


class CredentialError(ValueError):
    """A credential or presentation that must not be trusted; ``code`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclasses.dataclass(frozen=True)
class PassClaims:
    """What a credential says."""

    pass_id: str
    product: str
    category: str  # "adult" | "child"
    service_date: dt.date
    device_key: ec.EllipticCurvePublicKey | None = None
    kid: str | None = None  # the issuing key, once verified (ignored when issuing)


def b64url(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Decode strict base64url: the one form :func:`b64url` writes, or ValueError.

    No padding, no ``+`` or ``/``, no whitespace, and zero unused bits in the last character:
    every byte string has exactly one accepted text.
    """
    if len(text) % 4 == 1 or not _B64URL.fullmatch(text):
        raise ValueError("not strict base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(data) != text:
        raise ValueError("not canonical base64url (unused bits set)")
    return data


def low_s(signature: bytes) -> bytes:
    """A raw ``r || s`` ECDSA P-256 signature with s replaced by n - s when above n/2.

    Both verify; the low one is the only one validators accept.
    """
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if s > HALF_ORDER:
        s = CURVE_ORDER - s
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def low_s_token(token: str) -> str:
    """A stored credential in its accepted form: a token issued before low s was enforced
    gets n - s in place of a high s (no key needed: both verify); anything else unchanged."""
    signing_input, _, signature = token.rpartition(".")
    try:
        raw = unb64url(signature)
    except ValueError:
        return token
    if len(raw) != 64 or not signing_input:
        return token
    return f"{signing_input}.{b64url(low_s(raw))}"


def credential_id(token: str) -> str:
    """The id of one issued credential: the first 32 hex characters of SHA-256 of its text
    in the accepted (low-s) form.

    Distinct from the pass id: binding a pass to a phone, or moving it to another one, issues
    a new credential of the same pass, and the issuer's ECDSA signature is drawn afresh each
    time (with one accepted spelling, low s), so each issue has its own id — without a claim,
    which the QR budget has no room for (a 32-bit claim would already push the worst-case
    rotating code past version 15-M). The deny-list of moved credentials carries these ids.
    """
    return hashlib.sha256(low_s_token(token).encode("ascii", "replace")).hexdigest()[:32]


def check_signature_form(signature: bytes) -> None:
    """64 bytes, 0 < r < n, 0 < s <= n/2 — or ``malformed``."""
    if len(signature) != 64:
        raise CredentialError("malformed", "a signature is 64 bytes")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if not (0 < r < CURVE_ORDER and 0 < s <= HALF_ORDER):
        raise CredentialError("malformed", "signature not in low-s form")


def compact_json(value: object) -> bytes:
    """JSON as PyJWT writes a JWT's claims: no spaces, ASCII (``\\u`` escapes)."""
    return json.dumps(value, separators=(",", ":")).encode("ascii")


def new_pass_id() -> str:
    """A random 128-bit pass id that never starts with ``-``.

    Support staff type pass ids into commands (``maas passes revoke ID``), where a leading
    dash reads as an option; redrawing those 1 in 64 ids costs a negligible 0.02 bit.
    """
    while True:
        pass_id = b64url(secrets.token_bytes(16))
        if not pass_id.startswith("-"):
            return pass_id


def compress_public_key(key: ec.EllipticCurvePublicKey) -> str:
    """A P-256 public key as a base64url compressed point (44 characters)."""
    return b64url(key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint))


def expand_public_key(text: str) -> ec.EllipticCurvePublicKey:
    """The inverse of :func:`compress_public_key`."""
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(text))


def issue(claims: PassClaims, signing_key: ec.EllipticCurvePrivateKey, kid: str) -> str:
    """Sign ``claims`` as a compact ES256 JWT."""
    if len(claims.product) > MAX_PRODUCT_CODE:
        raise ValueError(f"product code {claims.product!r} is longer than {MAX_PRODUCT_CODE}")
    payload: dict[str, object] = {
        "i": claims.pass_id,
        "p": claims.product,
        "c": CATEGORIES[claims.category],
        "d": claims.service_date.isoformat().replace("-", ""),
    }
    if claims.device_key is not None:
        payload["k"] = compress_public_key(claims.device_key)
    # "typ": None drops PyJWT's default typ header: every byte counts in the QR code
    token = jwt.encode(payload, signing_key, algorithm=ALGORITHM,
                       headers={"kid": kid, "typ": None})
    # cryptography signs with a random s; validators take only the low one
    signing_input, signature = token.rsplit(".", 1)
    return f"{signing_input}.{b64url(low_s(unb64url(signature)))}"


def verify(token: str, keys: Mapping[str, ec.EllipticCurvePublicKey]) -> PassClaims:
    """Check the signature with the key named by ``kid`` and return the claims.

    The checks, in order (the browser verifier follows them one for one): three strict
    base64url segments, a JSON header with a string ``kid`` (else ``malformed``) → ``kid``
    known (else ``unknown_key``) → ``alg`` exactly ES256 (else ``bad_signature``) → the
    header and claims in their one canonical form, a low-s signature (else ``malformed``) →
    the ES256 signature (PyJWT, algorithm pinned; else ``bad_signature``) → the claims make
    a pass (else ``malformed``). An unknown ``kid`` is rejected rather than trying every key.
    """
    segments = token.split(".")
    if len(segments) != 3:
        raise CredentialError("malformed", "not a JWT")
    try:
        header_bytes, claims_bytes, signature = (unb64url(part) for part in segments)
    except ValueError:
        raise CredentialError("malformed", "JWT segments are not strict base64url") from None
    header = _json_object(header_bytes, "header")
    if "kid" in header and not isinstance(header["kid"], str):
        raise CredentialError("malformed", "kid is not a string")
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in keys:
        raise CredentialError("unknown_key", f"unknown signing key {kid!r}")
    if header.get("alg") != ALGORITHM:
        raise CredentialError("bad_signature", "algorithm not allowed")
    # PyJWT writes the header with sorted keys, the claims in the order given
    if header_bytes != json.dumps({"alg": ALGORITHM, "kid": kid}, separators=(",", ":"),
                                  sort_keys=True).encode("ascii"):
        raise CredentialError("malformed", "header not in its canonical form")
    claims = _json_object(claims_bytes, "claims")
    if (tuple(claims) not in CLAIM_ORDERS
            or not all(isinstance(value, str) and _PRINTABLE.fullmatch(value)
                       for value in claims.values())
            or claims_bytes != compact_json(claims)):
        raise CredentialError("malformed", "claims not in their canonical form")
    check_signature_form(signature)
    try:
        payload = jwt.decode(token, keys[kid], algorithms=[ALGORITHM],
                             options={"require": ["i", "p", "c", "d"]})
    except jwt.InvalidAlgorithmError:
        raise CredentialError("bad_signature", "algorithm not allowed") from None
    except jwt.InvalidSignatureError:
        raise CredentialError("bad_signature", "signature does not verify") from None
    except jwt.PyJWTError as exc:
        raise CredentialError("malformed", str(exc)) from None
    try:
        if not _DATE.fullmatch(payload["d"]):
            raise ValueError("d is not YYYYMMDD")
        if "k" in payload and len(unb64url(payload["k"])) != 33:
            raise ValueError("k is not a compressed point")
        return PassClaims(
            pass_id=str(payload["i"]), product=str(payload["p"]),
            category=CATEGORY_NAMES[payload["c"]],
            service_date=dt.date(int(payload["d"][:4]), int(payload["d"][4:6]),
                                 int(payload["d"][6:])),
            device_key=expand_public_key(payload["k"]) if "k" in payload else None,
            kid=kid,
        )
    except (KeyError, ValueError, TypeError):
        raise CredentialError("malformed", "claims are not a pass") from None


def _json_object(data: bytes, what: str) -> dict[str, object]:
    """A JSON object from UTF-8 bytes (no byte-order mark, no NaN or Infinity)."""
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CredentialError("malformed", f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise CredentialError("malformed", f"{what} is not a JSON object")
    return value


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def present(credential: str, device_key: ec.EllipticCurvePrivateKey, at: dt.datetime) -> str:
    """The rotating presentation a bound phone shows at ``at``."""
    message = f"{credential}{SEPARATOR}{_time_text(at)}"
    der = device_key.sign(message.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    signature = low_s(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    return f"{message}{SEPARATOR}{b64url(signature)}"


def _time_text(at: dt.datetime) -> str:
    return b64url(int(at.timestamp()).to_bytes(4, "big"))


@dataclasses.dataclass(frozen=True)
class Presentation:
    """A parsed presentation: the credential, when it was made, and whether it is static."""

    credential: str
    shown_at: dt.datetime | None  # None for a static (unbound, printed) code
    signature: bytes | None
    time_text: str  # the time field exactly as signed


def parse_presentation(payload: str) -> Presentation:
    """Split a scanned payload into credential, time and phone signature.

    The text is taken exactly as read: whitespace anywhere is ``malformed`` (a reader that
    appends a newline must drop it before, as ``maas-validator check --stdin`` does). The
    time and the signature must be strict base64url of 4 and 64 bytes, the signature low-s.
    """
    parts = payload.split(SEPARATOR)
    if len(parts) == 1:
        return Presentation(parts[0], None, None, "")
    if len(parts) != 3:
        raise CredentialError("malformed", "not a pass code")
    if len(parts[1]) != TIME_CHARS or len(parts[2]) != SIGNATURE_CHARS:
        raise CredentialError("malformed", "presentation has the wrong length")
    try:
        seconds = int.from_bytes(unb64url(parts[1]), "big")
        signature = unb64url(parts[2])
    except ValueError:
        raise CredentialError("malformed", "presentation is not strict base64url") from None
    check_signature_form(signature)
    return Presentation(parts[0], dt.datetime.fromtimestamp(seconds, dt.UTC), signature,
                        parts[1])


def verify_presentation(presentation: Presentation, claims: PassClaims) -> None:
    """Check the phone's signature with the key bound into the credential."""
    if claims.device_key is None or presentation.signature is None or (
            presentation.shown_at is None):
        raise CredentialError("not_bound", "a rotating code needs a bound credential")
    message = f"{presentation.credential}{SEPARATOR}{presentation.time_text}"
    r = int.from_bytes(presentation.signature[:32], "big")
    s = int.from_bytes(presentation.signature[32:], "big")
    try:
        claims.device_key.verify(encode_dss_signature(r, s), message.encode("ascii"),
                                 ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise CredentialError("bad_device_signature",
                              "presentation not signed by the bound phone") from None
