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
from validators.verify import (
    MESSAGES,
    Context,
    Result,
    TrustBundle,
    replay_key,
    scan_digest,
    verify,
)

VECTORS = vectors.load()
BUNDLE = TrustBundle.from_document(VECTORS["bundle"])


def context_of(case: dict[str, Any]) -> Context:
    seen = {key: dt.datetime.fromisoformat(at) for key, at in case["seen"].items()}
    passes = {key: dt.datetime.fromisoformat(at) for key, at in case["passes"].items()}
    return Context(case["operator"], seen, passes)


def judge(case: dict[str, Any]) -> Result:
    bundle = None if case.get("bundle", "") is None else BUNDLE
    return verify(case["payload"], bundle, dt.datetime.fromisoformat(case["now"]),
                  context_of(case))


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
        result = verify(case["payload"], None if case.get("bundle", "") is None else bundle,
                        dt.datetime.fromisoformat(case["now"]), context_of(case))
        assert result.code == case["expected"], case["name"]


PHONE = ec.generate_private_key(ec.SECP256R1())
ISSUER = ec.generate_private_key(ec.SECP256R1())


def _bundle_for(issuer: ec.EllipticCurvePrivateKey, now: dt.datetime) -> TrustBundle:
    from passes import bundle
    from passes.jwk import public_jwk

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


NOON = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
GENUINE = {
    "rotating": present(issue(PassClaims(new_pass_id(), "p", "adult", NOON.date(),
                                         PHONE.public_key()), ISSUER, "k1"), PHONE, NOON),
    "static": issue(PassClaims(new_pass_id(), "s", "adult", NOON.date()), ISSUER, "k1"),
}
PRINTABLE = [chr(c) for c in range(0x20, 0x7F)] + ["\t", "\n", "\r"]


def _static_bundle(now: dt.datetime) -> TrustBundle:
    from passes import bundle
    from passes.jwk import public_jwk

    document = bundle.build(
        [{**public_jwk(ISSUER.public_key(), "k1"), "state": "current", "not_after": None}],
        [], [{"code": "p", "operators": ["op"], "static_allowed": False},
             {"code": "s", "operators": ["op"], "static_allowed": True}],
        now.date(), "s", now)
    return TrustBundle.from_document(document)


SINGLE_BUNDLE = _static_bundle(NOON)


def test_the_genuine_codes_are_accepted() -> None:
    for payload in GENUINE.values():
        assert verify(payload, SINGLE_BUNDLE, NOON, Context("op")).accepted


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from(sorted(GENUINE)), position=st.integers(min_value=0),
       char=st.sampled_from(PRINTABLE), edit=st.sampled_from(["replace", "insert", "delete"]))
def test_no_single_character_change_is_accepted(kind: str, position: int, char: str,
                                                edit: str) -> None:
    """Any position, any printable ASCII character (and tab, CR, LF): a changed code is
    never accepted — no re-encoding of a signed code survives, so it cannot be replayed."""
    payload = GENUINE[kind]
    index = position % (len(payload) + (edit == "insert"))
    if edit == "replace":
        changed = payload[:index] + char + payload[index + 1:]
    elif edit == "insert":
        changed = payload[:index] + char + payload[index:]
    else:
        changed = payload[:index] + payload[index + 1:]
    if changed == payload:
        return
    assert not verify(changed, SINGLE_BUNDLE, NOON, Context("op")).accepted


def test_replay_key_is_the_content_not_the_text() -> None:
    """The key names the pass and the presentation second; a journal holding it refuses the
    code, and the same pass again within the same-device window, however it is shown."""
    payload = GENUINE["rotating"]
    first = verify(payload, SINGLE_BUNDLE, NOON, Context("op"))
    assert first.code == "accept"
    assert first.pass_id is not None
    assert first.replay_key == replay_key(first.pass_id, NOON)
    seen = {first.replay_key: NOON}
    assert verify(payload, SINGLE_BUNDLE, NOON, Context("op", seen)).code == "replay"
    later = NOON + dt.timedelta(seconds=20)
    again = present(payload.split("~")[0], PHONE, later)
    history = {first.pass_id: NOON}
    assert verify(again, SINGLE_BUNDLE, later, Context("op", seen)).code == "accept"
    assert verify(again, SINGLE_BUNDLE, later, Context("op", seen, history)).code == "replay"
    # the window is the device's setting
    short = Context("op", seen, history, same_device=dt.timedelta(seconds=10))
    assert verify(again, SINGLE_BUNDLE, later, short).code == "accept"
    static = verify(GENUINE["static"], SINGLE_BUNDLE, NOON, Context("op"))
    assert static.code == "accept_static"
    assert static.pass_id is not None
    assert static.replay_key == replay_key(static.pass_id, None)


def test_bundle_denies_yesterdays_revoked_passes_until_the_day_boundary() -> None:
    """Yesterday's passes ride until 03:00, so their revocations travel in today's bundle."""
    from passes import bundle

    now = dt.datetime(2026, 11, 30, 17, 30, tzinfo=dt.UTC)  # 02:30 on 12-01 in Kanazawa
    today = dt.date(2026, 12, 1)
    denied = [(f"pass{offset}", today + dt.timedelta(days=offset)) for offset in range(-2, 3)]
    document = bundle.build([], denied, [], today, "s", now)
    assert document["deny"] == ["pass-1", "pass0", "pass1"]


def test_unreadable_text_still_has_a_digest() -> None:
    """A device journals every scan: a lone surrogate (argv bytes that are not UTF-8 arrive
    surrogate-escaped) is malformed and digested, not a crash."""
    result = verify("\udcff", SINGLE_BUNDLE, NOON, Context("op"))
    assert result.code == "malformed"
    assert len(scan_digest("\udcff", result)) == 32
