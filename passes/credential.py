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
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
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
    """Decode unpadded base64url (raises ValueError on bad input)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


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
    return jwt.encode(payload, signing_key, algorithm=ALGORITHM,
                      headers={"kid": kid, "typ": None})


def verify(token: str, keys: Mapping[str, ec.EllipticCurvePublicKey]) -> PassClaims:
    """Check the signature with the key named by ``kid`` and return the claims.

    The algorithm is pinned to ES256 whatever the header says; an unknown ``kid`` is rejected
    rather than trying every key.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise CredentialError("malformed", "not a JWT") from None
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in keys:
        raise CredentialError("unknown_key", f"unknown signing key {kid!r}")
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
        return PassClaims(
            pass_id=str(payload["i"]), product=str(payload["p"]),
            category=CATEGORY_NAMES[payload["c"]],
            service_date=dt.date.fromisoformat(
                f"{payload['d'][:4]}-{payload['d'][4:6]}-{payload['d'][6:]}"),
            device_key=expand_public_key(payload["k"]) if "k" in payload else None,
            kid=kid,
        )
    except (KeyError, ValueError, TypeError):
        raise CredentialError("malformed", "claims are not a pass") from None


def present(credential: str, device_key: ec.EllipticCurvePrivateKey, at: dt.datetime) -> str:
    """The rotating presentation a bound phone shows at ``at``."""
    message = f"{credential}{SEPARATOR}{_time_text(at)}"
    der = device_key.sign(message.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{message}{SEPARATOR}{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


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
    """Split a scanned payload into credential, time and phone signature."""
    parts = payload.strip().split(SEPARATOR)
    if len(parts) == 1:
        return Presentation(parts[0], None, None, "")
    if len(parts) != 3:
        raise CredentialError("malformed", "not a pass code")
    try:
        seconds = int.from_bytes(unb64url(parts[1]), "big")
        signature = unb64url(parts[2])
    except ValueError:
        raise CredentialError("malformed", "presentation is not base64url") from None
    if len(signature) != 64 or len(parts[1]) != 6:
        raise CredentialError("malformed", "presentation has the wrong length")
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
