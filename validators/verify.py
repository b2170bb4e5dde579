"""The verifier: judge a presented pass code offline (pure: no network, no database).

``verify(payload, bundle, now, context)`` answers from the opened trust bundle alone. The
checks run from the cheapest to the costliest and stop at the first failure, in this order:
bundle present and fresh → code well-formed → issuing key known and valid for the service
date → credential signature → deny-list (pass ids, then credential ids withdrawn by a move
to another phone) → product known and covering this operator → service
date window → static or rotating (phone signature, ±45 s window) → replay on this device.

A code has one accepted byte form (see :mod:`passes.credential`); the replay key is made from
what the code says — the pass id and the presentation time — not from its text, so a code
re-encoded is still the code already seen. A pass accepted on this device within
``SAME_DEVICE`` is a ``replay`` whatever its presentation time: nobody boards one vehicle
twice in a few minutes.

The result codes, their messages, the windows and limits are a contract with the browser
verifier of the driver page: ``python -m validators.contract`` writes them to
``maas/static/verify-contract.json``, which ``verify.js`` reads (a test fails when the file is
not what this module says). Both verifiers read the shared test vectors in
``tests/data/verify-vectors.json`` and must agree on every one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
from collections.abc import Mapping
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from maas.core.clock import TOKYO
from passes.credential import (
    CredentialError,
    PassClaims,
    credential_id,
    parse_presentation,
    verify_presentation,
)
from passes.credential import verify as verify_credential

WINDOW = dt.timedelta(seconds=45)
# a static (printed) code cannot prove freshness: the same code again on the same device soon
# after is someone else using it (pass-back), later it is the same rider's next ride
STATIC_REPLAY = dt.timedelta(minutes=10)
# the same pass accepted again by the same device (one vehicle, one stop) this soon is a
# second person on one pass — a phone handed back, a code relayed live to another phone — not
# a second ride: no bus of the network is back at the same stop within 5 minutes, and the
# fraud check already calls one pass in two vehicles within 5 minutes impossible
SAME_DEVICE = dt.timedelta(minutes=5)
MAX_PAYLOAD = 2048
# a product's service day when its settings say nothing else (minutes from local midnight)
VALID_FROM_MINUTES = 240  # 04:00 on the service date
DAY_BOUNDARY_MINUTES = 180  # until 03:00 the next morning

MESSAGES: dict[str, tuple[str, str]] = {
    "accept": ("有効です", "Valid pass"),
    "accept_static": ("有効です(印刷券)", "Valid pass (printed code)"),
    "bad_signature": ("偽造の疑い: 署名が不正です", "Invalid signature: possibly forged"),
    "wrong_device": ("登録された端末の表示ではありません",
                     "Not shown from the phone the pass is bound to"),
    "unknown_key": ("発行元の鍵が不明です", "Issued with an unknown key"),
    "too_early": ("利用日前です", "Not valid yet: the pass is for a later date"),
    "expired": ("有効期限切れです", "Expired: the pass was for an earlier date"),
    "revoked": ("無効化された乗車券です", "Revoked or flagged pass"),
    "credential_moved": ("別の端末に移された乗車券です。移した先の端末で表示してください",
                         "Pass moved to another phone: show it on that phone"),
    "not_covered": ("この事業者では使えません", "Not valid with this operator"),
    "static_not_allowed": ("印刷券は使えません。アプリで表示してください",
                           "Printed codes not accepted: show the pass in the app"),
    "outside_window": ("表示時刻がずれています(画面の写しの疑い)",
                       "Code too old or too new: possibly a screenshot"),
    "replay": ("この端末で使用済みのコードです", "Code already used on this device"),
    "malformed": ("乗車券のコードではありません", "Not a pass code"),
    "no_bundle": ("判定できません: 検証データがありません",
                  "Cannot judge: no trust bundle, sync the device"),
    "stale_bundle": ("判定できません: 検証データが古すぎます",
                     "Cannot judge: trust bundle too old, sync the device"),
}
ACCEPT_CODES = frozenset({"accept", "accept_static"})
CANNOT_JUDGE_CODES = frozenset({"no_bundle", "stale_bundle"})


@dataclasses.dataclass(frozen=True)
class Result:
    """The verdict on one presented code."""

    code: str
    pass_id: str | None = None
    product: str | None = None
    category: str | None = None
    service_date: dt.date | None = None
    # what the device remembers to detect a replay: set once the credential verified
    replay_key: str | None = None

    @property
    def result(self) -> str:
        """``accept``, ``reject`` or ``cannot_judge``."""
        if self.code in ACCEPT_CODES:
            return "accept"
        return "cannot_judge" if self.code in CANNOT_JUDGE_CODES else "reject"

    @property
    def accepted(self) -> bool:
        """Whether the rider may board."""
        return self.code in ACCEPT_CODES

    @property
    def message_ja(self) -> str:
        """The reason in Japanese, for the screen."""
        return MESSAGES[self.code][0]

    @property
    def message_en(self) -> str:
        """The reason in English."""
        return MESSAGES[self.code][1]

    def as_json(self) -> dict[str, Any]:
        """The ``check`` JSON document of CONTRACT.md (without the scan id)."""
        return {"result": self.result, "code": self.code, "message_ja": self.message_ja,
                "message_en": self.message_en, "pass_id": self.pass_id,
                "product": self.product, "category": self.category,
                "service_date": self.service_date.isoformat() if self.service_date else None}


@dataclasses.dataclass(frozen=True)
class IssuingKey:
    """An issuing key from the bundle and the service dates it may sign."""

    key: ec.EllipticCurvePublicKey
    not_after: dt.date | None


@dataclasses.dataclass(frozen=True)
class TrustBundle:
    """An opened, signature-checked bundle, parsed once for many checks."""

    version: str
    issued_at: dt.datetime
    max_age: dt.timedelta
    keys: Mapping[str, IssuingKey]
    deny: frozenset[str]
    products: Mapping[str, Mapping[str, Any]]
    colours: Mapping[str, str]
    # ids of credentials withdrawn by a move to another phone (passes.credential.credential_id)
    deny_credentials: frozenset[str] = frozenset()

    @functools.cached_property
    def public_keys(self) -> dict[str, ec.EllipticCurvePublicKey]:
        """The issuing keys by ``kid``."""
        return {kid: issuing.key for kid, issuing in self.keys.items()}

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> TrustBundle:
        """Parse the bundle document (as :func:`passes.bundle.open_bundle` returns it)."""
        keys = {}
        for jwk in document["keys"]:
            key = ECAlgorithm.from_jwk(json.dumps(jwk))
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise ValueError(f"bundle key {jwk.get('kid')!r} is not a public EC key")
            not_after = jwk.get("not_after")
            keys[str(jwk["kid"])] = IssuingKey(
                key, dt.date.fromisoformat(not_after) if not_after else None)
        return cls(
            version=str(document["version"]),
            issued_at=dt.datetime.fromtimestamp(int(document["issued_at"]), dt.UTC),
            max_age=dt.timedelta(seconds=int(document["max_age"])),
            keys=keys,
            deny=frozenset(document["deny"]),
            products=document["products"],
            colours=document["colours"],
            # a bundle from a server before moves existed has none
            deny_credentials=frozenset(document.get("deny_credentials", ())),
        )

    def is_stale(self, now: dt.datetime) -> bool:
        """Older than its max age: devices refuse to judge on it."""
        return now - self.issued_at > self.max_age


class Lookup(Protocol):
    """When this device last accepted something (a dict does; a journal answers lazily)."""

    def get(self, key: str, /) -> dt.datetime | None:
        """The time, or None if never."""


_NEVER: Mapping[str, dt.datetime] = {}


@dataclasses.dataclass(frozen=True)
class Context:
    """Where and when the check happens.

    ``seen`` maps the replay keys of codes this device has already accepted to when it last
    accepted them; ``passes`` maps pass ids to when this device last accepted that pass.
    Devices keep both in their journal; any object with ``get(key)`` will do, so a journal
    can answer just the one or two keys a check asks for.
    """

    operator: str
    seen: Lookup = dataclasses.field(default_factory=lambda: _NEVER)
    passes: Lookup = dataclasses.field(default_factory=lambda: _NEVER)
    window: dt.timedelta = WINDOW
    same_device: dt.timedelta = SAME_DEVICE


def digest(text: str) -> str:
    """The first 32 hex characters of SHA-256 of ``text``."""
    # surrogatepass: a lone surrogate from a JSON body is garbage to digest, not a crash
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def replay_key(pass_id: str, shown_at: dt.datetime | None) -> str:
    """What a code says, as a short digest: the pass id, and the presentation time (Unix
    seconds) for a rotating code. Every accepted form of one code has the same key."""
    if shown_at is None:
        return digest(pass_id)
    return digest(f"{pass_id}~{int(shown_at.timestamp())}")


def scan_digest(payload: str, result: Result) -> str:
    """What a journal records for a scan: the replay key of the code when it could be read,
    else a digest of the text as scanned (never matched against accepted scans)."""
    return result.replay_key or digest(payload)


def service_window(product: Mapping[str, Any], service_date: dt.date
                   ) -> tuple[dt.datetime, dt.datetime]:
    """When a pass for ``service_date`` is valid: [start, end) in Asia/Tokyo."""
    midnight = dt.datetime.combine(service_date, dt.time(), TOKYO)
    start = midnight + dt.timedelta(
        minutes=int(product.get("valid_from_minutes", VALID_FROM_MINUTES)))
    end = midnight + dt.timedelta(
        days=1, minutes=int(product.get("day_boundary_minutes", DAY_BOUNDARY_MINUTES)))
    return start, end


def verify(payload: str, bundle: TrustBundle | None, now: dt.datetime,
           context: Context) -> Result:
    """Judge ``payload`` at ``now`` on a device of ``context.operator``."""
    if bundle is None:
        return Result("no_bundle")
    if bundle.is_stale(now):
        return Result("stale_bundle")
    if not payload or len(payload) > MAX_PAYLOAD or not payload.isascii():
        return Result("malformed")
    try:
        presentation = parse_presentation(payload)
        claims = _credential(presentation.credential, bundle)
    except CredentialError as exc:
        return Result(exc.code if exc.code in MESSAGES else "malformed")
    key = replay_key(claims.pass_id, presentation.shown_at)
    if claims.pass_id in bundle.deny:
        return _judged("revoked", claims, key)
    if bundle.deny_credentials and credential_id(presentation.credential) in (
            bundle.deny_credentials):
        return _judged("credential_moved", claims, key)
    product = bundle.products.get(claims.product)
    if product is None or context.operator not in product.get("operators", ()):
        return _judged("not_covered", claims, key)
    start, end = service_window(product, claims.service_date)
    if now < start:
        return _judged("too_early", claims, key)
    if now >= end:
        return _judged("expired", claims, key)
    if presentation.shown_at is None:
        if claims.device_key is not None or not product.get("static_allowed", False):
            return _judged("static_not_allowed", claims, key)
        last = context.seen.get(key)
        if last is not None and abs(now - last) < STATIC_REPLAY:
            return _judged("replay", claims, key)
    else:
        try:
            verify_presentation(presentation, claims)
        except CredentialError:
            # a time and signature added to an unbound credential are someone else's too
            return _judged("wrong_device", claims, key)
        if abs(now - presentation.shown_at) > context.window:
            return _judged("outside_window", claims, key)
        if context.seen.get(key) is not None:
            return _judged("replay", claims, key)
    last_here = context.passes.get(claims.pass_id)
    if last_here is not None and abs(now - last_here) < context.same_device:
        return _judged("replay", claims, key)
    return _judged("accept" if presentation.shown_at else "accept_static", claims, key)


def _judged(code: str, claims: PassClaims, key: str) -> Result:
    return Result(code, claims.pass_id, claims.product, claims.category, claims.service_date,
                  key)


def _credential(token: str, bundle: TrustBundle) -> PassClaims:
    claims = verify_credential(token, bundle.public_keys)
    kid = str(claims.kid)
    not_after = bundle.keys[kid].not_after
    if not_after is not None and claims.service_date > not_after:
        # a retired key signs nothing new: a later date under it is a forgery or a leak
        raise CredentialError("unknown_key", f"key {kid} retired before {claims.service_date}")
    return claims

