"""Rider accounts: registration, sign-in, bearer tokens — and every wrong principal."""

from __future__ import annotations

import datetime as dt

import jwt
import pytest
from flask.testing import FlaskClient

from maas.core.auth import ACCESS_ALGORITHM, issue_access_token
from tests.conftest import FIXED_NOW

SECRET = "kanazawa-maas-demo-secret-not-for-production"


def register(client: FlaskClient, email: str, password: str = "correct horse") -> str:
    """Register, sign in and return the rider id (registration itself reveals no id)."""
    response = client.post("/api/v1/riders", json={"email": email, "password": password})
    assert response.status_code == 201, response.get_json()
    assert response.get_json() == {"email": email.strip().lower(), "status": "created"}
    token = sign_in(client, email, password)
    me = client.get("/api/v1/riders/me", headers={"Authorization": f"Bearer {token}"})
    rider_id: str = me.get_json()["id"]
    return rider_id


def sign_in(client: FlaskClient, email: str, password: str = "correct horse") -> str:
    response = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86400
    token: str = body["access_token"]
    return token


def test_register_sign_in_and_who_am_i(client: FlaskClient) -> None:
    rider_id = register(client, "Hanako@Example.jp")
    token = sign_in(client, "hanako@example.jp")
    me = client.get("/api/v1/riders/me", headers={"Authorization": f"Bearer {token}"})
    assert me.get_json() == {"id": rider_id, "email": "hanako@example.jp"}
    other = register(client, "taro@example.jp")
    other_token = sign_in(client, "taro@example.jp")
    them = client.get("/api/v1/riders/me", headers={"Authorization": f"Bearer {other_token}"})
    assert them.get_json()["id"] == other != rider_id


def test_duplicate_and_weak_registrations(client: FlaskClient) -> None:
    register(client, "dup@example.jp")
    again = client.post("/api/v1/riders", json={"email": "DUP@example.jp",
                                                "password": "another one"})
    assert again.status_code == 201  # the same answer as for a new address (test_logins.py)
    weak = client.post("/api/v1/riders", json={"email": "weak@example.jp", "password": "short"})
    assert weak.status_code == 422
    assert [e["field"] for e in weak.get_json()["errors"]] == ["password"]
    bad = client.post("/api/v1/riders", json={"email": "not-an-address", "password": "x" * 9})
    assert [e["field"] for e in bad.get_json()["errors"]] == ["email"]


def test_wrong_password_and_unknown_address_answer_alike(client: FlaskClient) -> None:
    register(client, "kana@example.jp")
    wrong = client.post("/api/v1/auth/token", json={"email": "kana@example.jp",
                                                    "password": "wrong password"})
    unknown = client.post("/api/v1/auth/token", json={"email": "nobody@example.jp",
                                                      "password": "wrong password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json()["detail"] == unknown.get_json()["detail"]
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("case", ["missing", "garbage", "wrong_secret", "none_alg", "expired",
                                  "other_type", "deleted_rider", "no_session",
                                  "unknown_session"])
def test_bad_tokens_are_401(client: FlaskClient, case: str) -> None:
    rider_id = register(client, f"{case}@example.jp")
    session_id = jwt.decode(sign_in(client, f"{case}@example.jp"),
                            options={"verify_signature": False})["sid"]
    payload = {"sub": rider_id, "typ": "rider", "exp": int(FIXED_NOW.timestamp()) + 3600}
    headers = {
        "missing": {},
        "garbage": {"Authorization": "Bearer not-a-token"},
        "wrong_secret": {"Authorization": "Bearer " + jwt.encode(payload, "x" * 40,
                                                                 algorithm=ACCESS_ALGORITHM)},
        "none_alg": {"Authorization": "Bearer " + jwt.encode(payload, None, algorithm="none")},
        "expired": {"Authorization": "Bearer " + issue_access_token(
            rider_id, session_id, SECRET, FIXED_NOW - dt.timedelta(days=2))},
        "other_type": {"Authorization": "Bearer " + jwt.encode(
            {**payload, "typ": "partner"}, SECRET, algorithm=ACCESS_ALGORITHM)},
        "deleted_rider": {"Authorization": "Bearer " + issue_access_token(
            "00000000-0000-0000-0000-000000000000", session_id, SECRET, FIXED_NOW)},
        "no_session": {"Authorization": "Bearer " + jwt.encode(payload, SECRET,
                                                               algorithm=ACCESS_ALGORITHM)},
        "unknown_session": {"Authorization": "Bearer " + issue_access_token(
            rider_id, "00000000-0000-0000-0000-000000000000", SECRET, FIXED_NOW)},
    }[case]
    response = client.get("/api/v1/riders/me", headers=headers)
    assert response.status_code == 401, case
    assert response.mimetype == "application/problem+json"
