"""JWK helpers for P-256 keys (pure: no database, loaded by benchmarks and the device side).

``kid`` is the first 8 characters of a key's RFC 7638 JWK thumbprint (:func:`thumbprint`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from passes.credential import b64url, unb64url


def thumbprint(key: ec.EllipticCurvePublicKey) -> str:
    """The RFC 7638 JWK thumbprint (base64url SHA-256 of the canonical JWK)."""
    numbers = key.public_numbers()
    canonical = json.dumps(
        {"crv": "P-256", "kty": "EC", "x": b64url(numbers.x.to_bytes(32, "big")),
         "y": b64url(numbers.y.to_bytes(32, "big"))},
        separators=(",", ":"), sort_keys=True,
    )
    return b64url(hashlib.sha256(canonical.encode()).digest())


def public_jwk(key: ec.EllipticCurvePublicKey, kid: str) -> dict[str, str]:
    """The public key as a JWK for the JWKS document."""
    numbers = key.public_numbers()
    return {"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
            "x": b64url(numbers.x.to_bytes(32, "big")), "y": b64url(numbers.y.to_bytes(32, "big"))}


def jwk_public(jwk: dict[str, Any]) -> ec.EllipticCurvePublicKey:
    """A P-256 public JWK as a key."""
    return ec.EllipticCurvePublicNumbers(
        int.from_bytes(unb64url(jwk["x"]), "big"), int.from_bytes(unb64url(jwk["y"]), "big"),
        ec.SECP256R1()).public_key()
