"""Pass credentials, presentations, issuing keys and QR codes."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import string
from pathlib import Path

import jwt
import pytest
import zxingcpp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maas.core.errors import MaasError
from maas.core.secrets import AesGcmEncryptor
from passes import credential, qr
from passes.credential import CredentialError, PassClaims
from passes.jwk import public_jwk, thumbprint
from passes.keys import KeyStore
from passes.models import SigningKey
from tests.conftest import FIXED_NOW, Runner, app_keys

DAY = dt.date(2026, 12, 1)
ISSUER = ec.generate_private_key(ec.SECP256R1())
PHONE = ec.generate_private_key(ec.SECP256R1())
KEYS = {"k1": ISSUER.public_key()}


def claims(product: str = "kanazawa-1day", bound: bool = False) -> PassClaims:
    return PassClaims(credential.new_pass_id(), product, "adult", DAY,
                      PHONE.public_key() if bound else None)


def decode_png(data: bytes) -> str:
    [result] = zxingcpp.read_barcodes(Image.open(io.BytesIO(data)))
    text: str = result.text
    return text


product_codes = st.text(alphabet=string.ascii_lowercase + string.digits + "-", min_size=2,
                        max_size=24).filter(lambda s: s[0] != "-")


@settings(max_examples=25, deadline=None)
@given(product_codes, st.sampled_from(["adult", "child"]),
       st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)), st.booleans())
def test_credential_round_trip_fits_its_qr_budget(
    product: str, category: str, day: dt.date, bound: bool
) -> None:
    original = PassClaims(credential.new_pass_id(), product, category, day,
                          PHONE.public_key() if bound else None)
    token = credential.issue(original, ISSUER, "k1")
    decoded = credential.verify(token, KEYS)
    assert (decoded.pass_id, decoded.product, decoded.category, decoded.service_date) == (
        original.pass_id, product, category, day)
    if bound:
        assert decoded.device_key is not None
        assert decoded.device_key.public_numbers() == PHONE.public_key().public_numbers()
        shown = credential.present(token, PHONE, FIXED_NOW)
        presentation = credential.parse_presentation(shown)
        credential.verify_presentation(presentation, decoded)
        assert presentation.shown_at == FIXED_NOW
        assert qr.version(shown, qr.ROTATING_MAX_VERSION) <= 15
    else:
        assert decoded.device_key is None
        assert qr.version(token, qr.STATIC_MAX_VERSION) <= 12


def test_longest_codes_decode_back_from_the_image() -> None:
    product = "x" * credential.MAX_PRODUCT_CODE
    static = credential.issue(claims(product), ISSUER, "k1")
    rotating = credential.present(credential.issue(claims(product, bound=True), ISSUER, "k1"),
                                  PHONE, FIXED_NOW)
    assert qr.version(static, 12) <= 12
    assert qr.version(rotating, 15) <= 15
    assert decode_png(qr.png(static, qr.STATIC_MAX_VERSION)) == static
    assert decode_png(qr.png(rotating)) == rotating
    with pytest.raises(ValueError, match="longer than 24"):
        credential.issue(claims("y" * 25), ISSUER, "k1")


def test_svg_is_one_path_of_the_same_matrix() -> None:
    token = credential.issue(claims(), ISSUER, "k1")
    document = qr.svg(token).decode()
    assert document.startswith("<svg")
    assert document.count("<path") == 1
    assert 'viewBox="0 0 ' in document


def _with_header(token: str, header: dict[str, str], signature: bytes) -> str:
    _, payload, _ = token.split(".")
    head = credential.b64url(json.dumps(header).encode())
    return f"{head}.{payload}.{credential.b64url(signature)}"


def test_forged_and_foreign_tokens_are_rejected() -> None:
    token = credential.issue(claims(), ISSUER, "k1")
    head, payload, signature = token.split(".")
    # alg none (RFC 7515 A.5 style) with our kid
    none_head = credential.b64url(b'{"alg":"none","kid":"k1"}')
    none = f"{none_head}.{payload}."
    with pytest.raises(CredentialError) as info:
        credential.verify(none, KEYS)
    assert info.value.code in {"bad_signature", "malformed"}
    # HS256 "signed" with the issuer's public key bytes: algorithm confusion
    public_pem = ISSUER.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    forged_head = credential.b64url(b'{"alg":"HS256","kid":"k1"}')
    mac = hmac.new(public_pem, f"{forged_head}.{payload}".encode(), hashlib.sha256).digest()
    with pytest.raises(CredentialError, match=r"algorithm not allowed|signature"):
        credential.verify(f"{forged_head}.{payload}.{credential.b64url(mac)}", KEYS)
    # a tampered payload (child pass turned into adult, or another date)
    body = json.loads(credential.unb64url(payload))
    body["d"] = "20261202"
    tampered = f"{head}.{credential.b64url(credential.compact_json(body))}.{signature}"
    with pytest.raises(CredentialError) as info:
        credential.verify(tampered, KEYS)
    assert info.value.code == "bad_signature"
    # the same with spaces in the JSON is not even in the one form a credential has
    spaced = f"{head}.{credential.b64url(json.dumps(body).encode())}.{signature}"
    with pytest.raises(CredentialError) as info:
        credential.verify(spaced, KEYS)
    assert info.value.code == "malformed"
    # a key we do not know, and no fallback to "try every key"
    with pytest.raises(CredentialError) as info:
        credential.verify(credential.issue(claims(), ISSUER, "k2"), KEYS)
    assert info.value.code == "unknown_key"
    with pytest.raises(CredentialError) as info:
        credential.verify("not a token", KEYS)
    assert info.value.code == "malformed"


def test_presentation_from_another_phone_or_altered_time_fails() -> None:
    token = credential.issue(claims(bound=True), ISSUER, "k1")
    decoded = credential.verify(token, KEYS)
    other = ec.generate_private_key(ec.SECP256R1())
    stolen = credential.parse_presentation(credential.present(token, other, FIXED_NOW))
    with pytest.raises(CredentialError) as info:
        credential.verify_presentation(stolen, decoded)
    assert info.value.code == "bad_device_signature"
    shown = credential.present(token, PHONE, FIXED_NOW).split("~")
    later = credential.b64url((int(FIXED_NOW.timestamp()) + 60).to_bytes(4, "big"))
    replayed = credential.parse_presentation(f"{shown[0]}~{later}~{shown[2]}")
    with pytest.raises(CredentialError):
        credential.verify_presentation(replayed, decoded)
    with pytest.raises(CredentialError) as info:
        credential.parse_presentation(f"{shown[0]}~{later}")
    assert info.value.code == "malformed"
    static = credential.parse_presentation(token)
    assert static.shown_at is None


def test_rfc7515_a3_es256_example_verifies_with_pinned_algorithm() -> None:
    def number(text: str) -> int:
        return int.from_bytes(credential.unb64url(text), "big")

    key = ec.EllipticCurvePublicNumbers(
        number("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"),
        number("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"), ec.SECP256R1()).public_key()
    example = ("eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9"
               "leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgf"
               "TjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q")
    payload = jwt.decode(example, key, algorithms=[credential.ALGORITHM],
                         options={"verify_exp": False})
    assert payload == {"iss": "joe", "exp": 1300819380, "http://example.com/is_root": True}
    unsecured = example.split(".")[1]
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(f"eyJhbGciOiJub25lIn0.{unsecured}.", key, algorithms=[credential.ALGORITHM])


def test_key_store_rotation_and_jwks_in_the_database(db_session: Session) -> None:
    store = KeyStore(db_session, AesGcmEncryptor(bytes(range(32))))
    store.ensure(FIXED_NOW)
    infos = {info.state: info for info in store.infos()}
    assert set(infos) == {"current", "next"}
    rows = {row.kid: row for row in db_session.scalars(select(SigningKey))}
    for info in infos.values():
        assert thumbprint(store.private_key(info.kid).public_key()).startswith(info.kid)
        # the private part is stored only encrypted: no PKCS#8 DER of the key in the row
        stored = rows[info.kid].private_key
        assert stored is not None
        assert b"\x30\x81\x87" not in stored[:16]
    kid, _ = store.signing_key(FIXED_NOW)
    assert kid == infos["current"].kid
    store.record_use(kid, DAY)
    store.record_use(kid, DAY - dt.timedelta(days=3))  # never moves back
    assert {i.kid: i.last_service_date for i in store.infos()}[kid] == DAY.isoformat()
    # the next key is published before it signs
    published = {jwk["kid"] for jwk in store.jwks()["keys"]}
    assert published == {infos["current"].kid, infos["next"].kid}
    rotated = {info.state: info for info in store.rotate(FIXED_NOW, DAY)}
    assert rotated["current"].kid == infos["next"].kid
    assert rotated["retired"].kid == kid  # kept: it signed for today
    assert rotated["next"].kid not in published
    after = {info.state: info.kid for info in store.rotate(FIXED_NOW, DAY + dt.timedelta(2))}
    assert kid not in after.values()  # its last service date has passed
    archived = db_session.scalar(select(SigningKey).where(SigningKey.kid == kid))
    assert archived is not None
    assert archived.state == "archived"
    assert archived.private_key is None  # the private part is gone, the public half stays
    assert kid in {info.kid for info, _ in store.history()}


def test_keys_do_not_decrypt_under_another_key_encryption_key(db_session: Session) -> None:
    KeyStore(db_session, AesGcmEncryptor(bytes(32))).ensure(FIXED_NOW)
    other = KeyStore(db_session, AesGcmEncryptor(b"\x01" * 32), "issuing")
    kid = other.infos()[0].kid
    with pytest.raises(MaasError, match="MAAS_KEY_ENCRYPTION_KEY"):
        other.private_key(kid)
    # a wrapped key moved to another row (kid) does not decrypt either: the kid is bound in
    encryptor = AesGcmEncryptor(bytes(32))
    wrapped = encryptor.wrap(b"secret", b"maas signing key\0issuing\0aaaa")
    with pytest.raises(MaasError):
        encryptor.unwrap(wrapped, b"maas signing key\0issuing\0bbbb")


def test_the_first_keys_are_created_once_for_every_kind(db_session: Session) -> None:
    encryptor = AesGcmEncryptor(bytes(32))
    first = KeyStore(db_session, encryptor, "bundle")
    first.ensure(FIXED_NOW)
    KeyStore(db_session, encryptor, "bundle").ensure(FIXED_NOW)  # a second host: no new keys
    assert len(first.infos()) == 2
    # the index refuses a second current key
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.add(SigningKey(kind="bundle", kid="dup", state="current",
                                  created_at=FIXED_NOW, public_jwk={}, private_key=None,
                                  wrapped_by="x", archived_at=None))
    assert KeyStore(db_session, encryptor).infos() == []  # issuing keys are a kind of their own


def test_key_files_of_an_earlier_version_import_once(
        runner: Runner, tmp_path: Path, db_session: Session) -> None:
    folder = tmp_path / "keys"
    folder.mkdir()
    key = ec.generate_private_key(ec.SECP256R1())
    kid = thumbprint(key.public_key())[:8]
    (folder / f"{kid}.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    gone = ec.generate_private_key(ec.SECP256R1()).public_key()
    (folder / "keys.json").write_text(json.dumps([
        {"kid": kid, "state": "retired", "created_at": "2026-11-01T00:00:00+00:00",
         "last_service_date": "2026-12-05"}]))
    (folder / "archive.json").write_text(json.dumps([
        {"kid": "oldkey01", "state": "archived", "created_at": "2026-10-01T00:00:00+00:00",
         "last_service_date": "2026-10-02", "jwk": public_jwk(gone, "oldkey01"),
         "deleted_at": "2026-10-03T00:00:00+00:00"}]))
    result = runner.invoke("keys", "import-files", "--home", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["imported"] == {"issuing": [kid, "oldkey01"]}
    again = runner.invoke("keys", "import-files", "--home", str(tmp_path), "--json")
    assert json.loads(again.stdout)["imported"] == {"issuing": []}
    store = app_keys(runner.app, db_session)
    signed = credential.issue(PassClaims("p1", "kanazawa-1day", "adult", DAY, None),
                              store.private_key(kid), kid)
    assert credential.verify(signed, store.public_keys()).pass_id == "p1"
    missing = runner.invoke("keys", "import-files", "--home", str(tmp_path / "keys"))
    assert missing.exit_code == 1
    assert "no keys.json" in missing.output


@pytest.mark.usefixtures("loaded_demo")
def test_cli_issues_bound_passes_and_presentations(
    runner: Runner, client: FlaskClient, tmp_path: Path
) -> None:
    phone_public = tmp_path / "phone.pub.pem"
    phone_private = tmp_path / "phone.pem"
    phone_public.write_bytes(PHONE.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    phone_private.write_bytes(PHONE.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    result = runner.invoke("passes", "issue", "--product", "kanazawa-1day", "--date",
                           "2026-12-01", "--category", "child", "--device-key",
                           str(phone_public), "--json")
    assert result.exit_code == 0, result.output
    issued = json.loads(result.stdout)
    assert issued["service_date"] == "2026-12-01"
    jwks = client.get("/.well-known/jwks.json").get_json()
    keys = {jwk["kid"]: jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(jwk))
            for jwk in jwks["keys"]}
    decoded = credential.verify(issued["token"], keys)
    assert (decoded.pass_id, decoded.category) == (issued["id"], "child")
    shown = runner.invoke("passes", "present", issued["token"], "--device-key",
                          str(phone_private), "--at", "2026-12-01T09:03:00+09:00")
    assert shown.exit_code == 0, shown.output
    presentation = credential.parse_presentation(shown.stdout.strip())
    credential.verify_presentation(presentation, decoded)
    assert presentation.shown_at == FIXED_NOW
    listed = json.loads(runner.invoke("keys", "list", "--json").stdout)
    assert {k["state"] for k in listed["keys"]} >= {"current", "next"}

    unknown = runner.invoke("passes", "issue", "--product", "nope", "--date", "2026-12-01")
    assert unknown.exit_code == 1
    assert unknown.stderr == "Error: no product with code 'nope'\n"
    bad_key = runner.invoke("passes", "issue", "--product", "kanazawa-1day", "--date",
                            "2026-12-01", "--device-key", str(phone_private))
    assert bad_key.exit_code == 1
    assert "not a PEM public key" in bad_key.stderr


def test_bench_passes_reports_rates_within_the_qr_budget(runner: Runner) -> None:
    result = runner.invoke("bench", "passes", "--seconds", "0.2", "--renders", "3", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["signed_per_second"] > 0
    assert document["qr_version"] <= qr.ROTATING_MAX_VERSION
    assert document["payload_bytes"] <= 412  # QR 15-M byte capacity


def test_pass_ids_are_22_characters_and_never_look_like_options() -> None:
    ids = {credential.new_pass_id() for _ in range(3000)}
    assert len(ids) == 3000
    assert all(len(pass_id) == 22 for pass_id in ids)
    assert not any(pass_id.startswith("-") for pass_id in ids)
    # with 3000 draws a leading dash would have turned up ~47 times: the rule is at work
    assert any("-" in pass_id for pass_id in ids)


def test_codes_over_their_budget_are_refused_with_the_version_they_need() -> None:
    assert qr.version("x" * 287, qr.STATIC_MAX_VERSION) == 12
    with pytest.raises(ValueError, match="needs QR version 13, budget is 12"):
        qr.version("x" * 288, qr.STATIC_MAX_VERSION)
    with pytest.raises(ValueError, match="over 15"):
        qr.png("x" * 413)


def test_rfc8037_a4_ed25519_vector_and_our_pinning_refuses_eddsa() -> None:
    """RFC 8037 appendix A.4: the Ed25519 JWS is reproduced bit for bit; an EdDSA token that
    names one of our kids is still refused (ES256 only, whatever the header says)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    d = credential.unb64url("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
    okp = Ed25519PrivateKey.from_private_bytes(d)
    x = okp.public_key().public_bytes_raw()
    assert credential.b64url(x) == "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    signing_input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
    signature = credential.b64url(okp.sign(signing_input.encode()))
    assert signature == ("hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5Bh"
                         "VsPt9g7sVvpAr_MuM0KAg")
    header = credential.b64url(b'{"alg":"EdDSA","kid":"k1"}')
    body = credential.b64url(b'{"i":"AAAAAAAAAAAAAAAAAAAAAA","p":"kanazawa-1day","c":"a",'
                             b'"d":"20261201"}')
    forged = f"{header}.{body}.{credential.b64url(okp.sign(f'{header}.{body}'.encode()))}"
    with pytest.raises(credential.CredentialError) as refused:
        credential.verify(forged, {"k1": ISSUER.public_key()})
    assert refused.value.code == "bad_signature"


def test_issued_and_presented_codes_are_in_their_one_canonical_form() -> None:
    """Low s in both signatures (cryptography draws s at random: one in two would be high),
    strict base64url everywhere, the header and claims exactly as PyJWT writes them."""
    for _ in range(20):
        token = credential.issue(claims(bound=True), ISSUER, "k1")
        shown = credential.present(token, PHONE, FIXED_NOW)
        head, body, signature = token.split(".")
        assert credential.unb64url(head) == b'{"alg":"ES256","kid":"k1"}'
        decoded = json.loads(credential.unb64url(body))
        assert list(decoded) == ["i", "p", "c", "d", "k"]
        assert credential.unb64url(body) == credential.compact_json(decoded)
        for raw in (credential.unb64url(signature), credential.unb64url(shown.split("~")[2])):
            assert int.from_bytes(raw[32:], "big") <= credential.HALF_ORDER
            credential.check_signature_form(raw)
        credential.verify_presentation(credential.parse_presentation(shown),
                                       credential.verify(token, KEYS))


@pytest.mark.parametrize("text", ["QQ==", "QQ=", "Q", "QR", "+w", "/w", " QQ", "QQ\n", "Q Q"])
def test_unb64url_takes_only_the_canonical_text(text: str) -> None:
    with pytest.raises(ValueError, match="base64url"):
        credential.unb64url(text)
    assert credential.unb64url("QQ") == b"A"
    assert credential.unb64url("-w") == b"\xfb"


def test_high_s_signatures_verify_mathematically_but_are_malformed() -> None:
    token = credential.issue(claims(bound=True), ISSUER, "k1")
    head, body, signature = token.split(".")
    raw = credential.unb64url(signature)
    flipped = raw[:32] + (credential.CURVE_ORDER - int.from_bytes(raw[32:], "big")
                          ).to_bytes(32, "big")
    high = f"{head}.{body}.{credential.b64url(flipped)}"
    assert jwt.decode(high, ISSUER.public_key(), algorithms=["ES256"])  # PyJWT alone: fine
    with pytest.raises(CredentialError) as info:
        credential.verify(high, KEYS)
    assert info.value.code == "malformed"
    shown = credential.present(token, PHONE, FIXED_NOW).split("~")
    phone = credential.unb64url(shown[2])
    high_phone = phone[:32] + (credential.CURVE_ORDER - int.from_bytes(phone[32:], "big")
                               ).to_bytes(32, "big")
    with pytest.raises(CredentialError) as info:
        credential.parse_presentation(f"{shown[0]}~{shown[1]}~{credential.b64url(high_phone)}")
    assert info.value.code == "malformed"


def test_a_stored_high_s_token_is_served_in_its_accepted_form() -> None:
    token = credential.issue(claims(), ISSUER, "k1")
    head, body, signature = token.split(".")
    raw = credential.unb64url(signature)
    s = credential.CURVE_ORDER - int.from_bytes(raw[32:], "big")
    old = f"{head}.{body}.{credential.b64url(raw[:32] + s.to_bytes(32, 'big'))}"
    with pytest.raises(CredentialError):
        credential.verify(old, KEYS)
    assert credential.low_s_token(old) == token
    assert credential.low_s_token(token) == token
    assert credential.low_s_token("not a token") == "not a token"
