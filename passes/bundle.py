"""The trust bundle validators live on (pure: built from rows handed in, signed here).

A compact ES256 JWS, signed by a bundle key that devices pin at enrolment, holding the issuing
keys with their windows, the deny-list of pass ids revoked for yesterday (valid until the day
boundary), today and tomorrow, beside it the ids of credentials withdrawn by a move to another
phone (``deny_credentials``, :func:`passes.credential.credential_id`) for the same days,
product coverage, the colour of the day, ``issued_at`` and ``max_age``. ``version`` is a hash
of the content without ``issued_at``, so a device fetches only when something changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from passes.credential import ALGORITHM

MAX_AGE = dt.timedelta(hours=72)
# distinguishable at a glance on a driver's screen, also for common colour-vision deficiencies
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442",
           "#000000")


def colour_secret(server_secret: str) -> str:
    """The key of the colours, derived from the server secret (never the secret itself)."""
    return hashlib.sha256(f"colour:{server_secret}".encode()).hexdigest()


def colour_of_day(day: dt.date, secret: str) -> str:
    """A colour that cannot be guessed in advance (keyed by the server secret)."""
    digest = hmac.new(secret.encode(), day.isoformat().encode(), hashlib.sha256).digest()
    return PALETTE[digest[0] % len(PALETTE)]


def deny_dates(today: dt.date) -> list[dt.date]:
    """The service dates whose revoked passes a bundle made ``today`` must carry."""
    return [today + dt.timedelta(days=offset) for offset in (-1, 0, 1)]


def build(issuing_keys: Iterable[Mapping[str, Any]], denied: Iterable[tuple[str, dt.date]],
          products: Iterable[Mapping[str, Any]], today: dt.date, secret: str,
          issued_at: dt.datetime, *,
          denied_credentials: Iterable[tuple[str, dt.date]] = ()) -> dict[str, Any]:
    """The bundle document (unsigned).

    ``denied`` are (pass id, service date) of revoked or flagged passes, ``denied_credentials``
    (credential id, service date) of credentials a move withdrew; both are kept for the
    service dates of :func:`deny_dates`.
    """
    days = [today, today + dt.timedelta(days=1)]
    # yesterday's passes ride the last buses until the day boundary (03:00): deny those too
    deny_days = deny_dates(today)
    content: dict[str, Any] = {
        "keys": sorted(issuing_keys, key=lambda k: str(k["kid"])),
        "deny": sorted(pass_id for pass_id, service_date in denied
                       if service_date in deny_days),
        "deny_credentials": sorted(credential_id for credential_id, service_date
                                   in denied_credentials if service_date in deny_days),
        "products": {str(p["code"]): {k: v for k, v in p.items() if k != "code"}
                     for p in sorted(products, key=lambda p: str(p["code"]))},
        "colours": {day.isoformat(): colour_of_day(day, secret) for day in days},
        "max_age": int(MAX_AGE.total_seconds()),
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    content["version"] = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    content["issued_at"] = int(issued_at.timestamp())
    return content


def sign(document: Mapping[str, Any], key: ec.EllipticCurvePrivateKey, kid: str) -> str:
    """The bundle as a compact JWS."""
    return jwt.encode(dict(document), key, algorithm=ALGORITHM, headers={"kid": kid})


def open_bundle(token: str, pinned: Mapping[str, ec.EllipticCurvePublicKey],
                now: dt.datetime, *, refuse_stale: bool = True) -> dict[str, Any]:
    """Verify a bundle with the pinned keys and refuse a stale one (ValueError says why).

    With ``refuse_stale=False`` a stale bundle is returned, for a verifier that reports
    "cannot judge: bundle too old" itself.
    """
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        if not isinstance(kid, str) or kid not in pinned:
            raise ValueError(f"bundle signed by an unpinned key {kid!r}")
        document: dict[str, Any] = jwt.decode(token, pinned[kid], algorithms=[ALGORITHM])
    except jwt.PyJWTError as exc:
        raise ValueError(f"bundle does not verify: {exc}") from None
    age = now.timestamp() - float(document["issued_at"])
    if refuse_stale and age > float(document["max_age"]):
        raise ValueError(f"bundle is {age / 3600:.0f} h old; the limit is "
                         f"{float(document['max_age']) / 3600:.0f} h")
    return document
