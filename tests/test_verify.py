"""The offline verifier on the shared vectors, and its properties."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from passes.credential import PassClaims, issue, new_pass_id, present
from tests import vectors
from validators.verify import MESSAGES, Context, Result, TrustBundle, verify

VECTORS = vectors.load()
BUNDLE = TrustBundle.from_document(VECTORS["bundle"])


def judge(case: dict[str, Any]) -> Result:
    seen = {key: dt.datetime.fromisoformat(at) for key, at in case["seen"].items()}
    bundle = None if case.get("bundle", "") is None else BUNDLE
    return verify(case["payload"], bundle, dt.datetime.fromisoformat(case["now"]),
                  Context(case["operator"], seen))


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[c["name"] for c in VECTORS["cases"]])
def test_shared_vectors(case: dict[str, Any]) -> None:
    result = judge(case)
    assert result.code == case["expected"]
    assert result.message_ja
    assert result.message_en


def test_vectors_cover_every_code() -> None:
    assert {case["expected"] for case in VECTORS["cases"]} == set(MESSAGES)


def test_result_document() -> None:
    accepted = judge(VECTORS["cases"][0])
    document = accepted.as_json()
    assert document["result"] == "accept"
    assert document["pass_id"]
    assert document["service_date"] == "2026-12-01"
    assert accepted.replay_key is not None
    stale = judge(next(c for c in VECTORS["cases"] if c["expected"] == "stale_bundle"))
    assert stale.result == "cannot_judge"
    assert stale.pass_id is None
    rejected = judge(next(c for c in VECTORS["cases"] if c["expected"] == "revoked"))
    assert rejected.result == "reject"
    assert rejected.pass_id is not None


def test_regenerated_vectors_agree() -> None:
    """The generator still produces cases the verifier judges as the file says."""
    fresh = vectors.build()
    bundle = TrustBundle.from_document(fresh["bundle"])
    for case in fresh["cases"]:
        seen = {key: dt.datetime.fromisoformat(at) for key, at in case["seen"].items()}
        result = verify(case["payload"], None if case.get("bundle", "") is None else bundle,
                        dt.datetime.fromisoformat(case["now"]), Context(case["operator"], seen))
        assert result.code == case["expected"], case["name"]


PHONE = ec.generate_private_key(ec.SECP256R1())
ISSUER = ec.generate_private_key(ec.SECP256R1())


def _bundle_for(issuer: ec.EllipticCurvePrivateKey, now: dt.datetime) -> TrustBundle:
    from passes import bundle
    from passes.keys import public_jwk

    document = bundle.build(
        [{**public_jwk(issuer.public_key(), "k1"), "state": "current", "not_after": None}],
        [], [{"code": "p", "operators": ["op"], "static_allowed": False,
              "valid_from_minutes": 240, "day_boundary_minutes": 180}],
        now.date(), "s", now)
    return TrustBundle.from_document(document)


@settings(max_examples=40, deadline=None)
@given(offset=st.integers(min_value=-120, max_value=120))
def test_window_is_45_seconds_either_way(offset: int) -> None:
    now = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)  # noon in Kanazawa
    token = issue(PassClaims(new_pass_id(), "p", "child", dt.date(2026, 12, 1),
                             PHONE.public_key()), ISSUER, "k1")
    payload = present(token, PHONE, now + dt.timedelta(seconds=offset))
    result = verify(payload, _bundle_for(ISSUER, now), now, Context("op"))
    assert result.code == ("accept" if abs(offset) <= 45 else "outside_window")
    assert result.category == "child"


@settings(max_examples=60, deadline=None)
@given(flip=st.integers(min_value=0, max_value=10_000), char=st.sampled_from("AQgw-_"))
def test_any_changed_character_is_rejected(flip: int, char: str) -> None:
    now = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
    token = issue(PassClaims(new_pass_id(), "p", "adult", dt.date(2026, 12, 1),
                             PHONE.public_key()), ISSUER, "k1")
    payload = present(token, PHONE, now)
    index = flip % len(payload)
    if payload[index] in (char, "~", "."):
        return
    changed = payload[:index] + char + payload[index + 1:]
    assert not verify(changed, _bundle_for(ISSUER, now), now, Context("op")).accepted


def test_bundle_denies_yesterdays_revoked_passes_until_the_day_boundary() -> None:
    """Yesterday's passes ride until 03:00, so their revocations travel in today's bundle."""
    from passes import bundle

    now = dt.datetime(2026, 11, 30, 17, 30, tzinfo=dt.UTC)  # 02:30 on 12-01 in Kanazawa
    today = dt.date(2026, 12, 1)
    denied = [(f"pass{offset}", today + dt.timedelta(days=offset)) for offset in range(-2, 3)]
    document = bundle.build([], denied, [], today, "s", now)
    assert document["deny"] == ["pass-1", "pass0", "pass1"]
