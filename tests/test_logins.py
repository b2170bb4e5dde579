"""Logins from the attacker's side: guessing, spraying, weak passwords, stolen tokens,
probing which e-mail addresses have accounts (issue 12, item 4)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from typing import Any

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maas.accounts.models import LoginThrottle, Rider, RiderSession
from maas.accounts.passwords import common_passwords, password_problems
from maas.accounts.throttle import DEFAULT_POLICY, account_key
from maas.core import auth
from maas.core.errors import ServiceUnavailable
from tests.conftest import FIXED_NOW

SECRET = "kanazawa-maas-demo-secret-not-for-production"
GOOD = "correct horse"


class MovableClock:
    """The tests' fixed time, which a test can move on."""

    def __init__(self) -> None:
        self.now = FIXED_NOW

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock(app: Flask) -> MovableClock:
    """Replace the app's clock with one the test moves."""
    moving = MovableClock()
    app.extensions["maas"] = dataclasses.replace(app.extensions["maas"], clock=moving)
    return moving


def register(client: FlaskClient, email: str, password: str = GOOD) -> Any:
    return client.post("/api/v1/riders", json={"email": email, "password": password})


def attempt(client: FlaskClient, email: str, password: str,
            address: str = "198.51.100.7") -> Any:
    return client.post("/api/v1/auth/token", json={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed_in(client: FlaskClient, email: str, address: str = "198.51.100.7") -> str:
    response = attempt(client, email, GOOD, address)
    assert response.status_code == 200, response.get_json()
    token: str = response.get_json()["access_token"]
    return token


# ---- throttling


def test_twenty_wrong_passwords_lead_to_429_with_retry_after(
        client: FlaskClient, clock: MovableClock) -> None:
    register(client, "victim@example.jp")
    statuses = [attempt(client, "victim@example.jp", f"guess number {i}").status_code
                for i in range(20)]
    assert statuses[:5] == [401] * 5  # the 5th failure locks the account
    assert set(statuses[5:]) == {429}
    last = attempt(client, "victim@example.jp", "guess number 21")
    assert last.status_code == 429
    assert last.mimetype == "application/problem+json"
    assert last.get_json()["type"] == "/problems/too-many-requests"
    assert 1 <= int(last.headers["Retry-After"]) <= 60


def test_lockout_holds_for_the_right_password_then_lifts(
        client: FlaskClient, clock: MovableClock) -> None:
    register(client, "locked@example.jp")
    for i in range(5):
        assert attempt(client, "locked@example.jp", f"wrong {i}").status_code == 401
    refused = attempt(client, "locked@example.jp", GOOD)
    assert refused.status_code == 429  # no password is checked while locked, not even this
    wait = int(refused.headers["Retry-After"])
    assert wait == 60
    clock.advance(wait - 1)
    assert attempt(client, "locked@example.jp", GOOD).status_code == 429
    clock.advance(1)
    assert attempt(client, "locked@example.jp", GOOD).status_code == 200
    # the success forgot the failures: four more wrong ones are allowed again
    for i in range(4):
        assert attempt(client, "locked@example.jp", f"again {i}").status_code == 401
    assert attempt(client, "locked@example.jp", GOOD).status_code == 200


def test_each_further_failure_doubles_the_lockout(
        client: FlaskClient, clock: MovableClock) -> None:
    register(client, "doubling@example.jp")
    for i in range(5):
        attempt(client, "doubling@example.jp", f"wrong {i}")
    waits = []
    for i in range(8):
        refused = attempt(client, "doubling@example.jp", "still wrong")
        waits.append(int(refused.headers["Retry-After"]))
        clock.advance(waits[-1])
        assert attempt(client, "doubling@example.jp", f"wrong again {i}").status_code == 401
    assert waits == [60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_unknown_addresses_lock_alike(client: FlaskClient, clock: MovableClock) -> None:
    """A lockout would otherwise tell which e-mail addresses have accounts."""
    register(client, "exists@example.jp")
    for email in ("exists@example.jp", "nobody@example.jp"):
        answers = [attempt(client, email, f"wrong {i}").status_code for i in range(6)]
        assert answers == [401] * 5 + [429]


def test_per_address_limit_across_many_accounts(
        client: FlaskClient, clock: MovableClock, db_session: Session) -> None:
    """Password spraying: one wrong guess each for many accounts from one address."""
    for i in range(3):
        register(client, f"sprayed{i}@example.jp")
    statuses = [attempt(client, f"sprayed{i % 3}@example.jp", f"spray {i}", "203.0.113.9")
                .status_code for i in range(12)]
    # each account alone would allow 4 free failures; these 12 are spread over 3 accounts
    assert statuses == [401] * 12
    statuses = [attempt(client, f"other{i}@example.jp", "spray", "203.0.113.9").status_code
                for i in range(10)]
    assert statuses == [401] * 8 + [429, 429]  # 20 failures from the address
    refused = attempt(client, "sprayed0@example.jp", GOOD, "203.0.113.9")
    assert refused.status_code == 429  # any account, even with the right password
    assert int(refused.headers["Retry-After"]) == 15 * 60
    # another address is not affected; the account's own count (4) is below its limit
    assert attempt(client, "sprayed0@example.jp", GOOD, "192.0.2.1").status_code == 200
    clock.advance(15 * 60)
    assert attempt(client, "sprayed1@example.jp", GOOD, "203.0.113.9").status_code == 200
    # the table holds hashes, not the addresses or e-mails tried
    keys = db_session.scalars(select(LoginThrottle.key)).all()
    assert all(len(key) == 64 and "@" not in key and "." not in key for key in keys)


def test_account_failures_are_forgotten_after_a_day(
        client: FlaskClient, clock: MovableClock) -> None:
    register(client, "slow@example.jp")
    for i in range(4):
        assert attempt(client, "slow@example.jp", f"wrong {i}").status_code == 401
    clock.advance(DEFAULT_POLICY.account_memory.total_seconds())
    for i in range(4):
        assert attempt(client, "slow@example.jp", f"later {i}").status_code == 401
    assert attempt(client, "slow@example.jp", GOOD).status_code == 200


def test_trusted_proxy_setting_decides_which_address_counts(
        app: Flask, clock: MovableClock) -> None:
    """Without trusted proxies an X-Forwarded-For header is ignored (else an attacker would
    name a new address on every guess); with one, the proxy's view is used."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    client = app.test_client()
    for i in range(20):
        client.post("/api/v1/auth/token", json={"email": f"p{i}@example.jp", "password": "x"},
                    headers={"X-Forwarded-For": f"192.0.2.{i}"})
    refused = client.post("/api/v1/auth/token", json={"email": "q@example.jp",
                                                      "password": "x"},
                          headers={"X-Forwarded-For": "192.0.2.99"})
    assert refused.status_code == 429
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # type: ignore[method-assign]
    allowed = client.post("/api/v1/auth/token", json={"email": "q@example.jp",
                                                      "password": "x"},
                          headers={"X-Forwarded-For": "192.0.2.99"})
    assert allowed.status_code == 401


def test_trusted_proxies_setting_installs_proxy_fix(tmp_path: Any) -> None:
    from werkzeug.middleware.proxy_fix import ProxyFix

    from maas.app import create_app

    database = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    plain = create_app({"env": "test", "home": tmp_path, "database_url": database})
    assert not isinstance(plain.wsgi_app, ProxyFix)
    proxied = create_app({"env": "test", "home": tmp_path, "database_url": database,
                          "trusted_proxies": 1})
    assert isinstance(proxied.wsgi_app, ProxyFix)
    for app in (plain, proxied):
        app.extensions["maas"].engine.dispose()


def test_locks_are_shared_through_the_database_and_remembered_in_process(
        db_session: Session) -> None:
    """Two workers (two limiters with their own memory) see the same lock; a worker that has
    seen a lock refuses again without asking the database."""
    from sqlalchemy import event

    from maas.accounts.throttle import DatabaseLimiter, KnownLocks

    first = DatabaseLimiter(db_session, known=KnownLocks())
    for _ in range(5):
        first.record_failure("shared@example.jp", "192.0.2.50", FIXED_NOW)
    db_session.commit()
    second = DatabaseLimiter(db_session, known=KnownLocks())
    assert second.retry_after("shared@example.jp", None, FIXED_NOW) == 60
    queries: list[str] = []

    def record(*args: Any) -> None:
        queries.append(args[2])

    bind = db_session.get_bind()
    event.listen(bind, "before_cursor_execute", record)
    try:
        assert second.retry_after("shared@example.jp", "192.0.2.1", FIXED_NOW) == 60
        assert first.retry_after("shared@example.jp", None, FIXED_NOW) == 60
    finally:
        event.remove(bind, "before_cursor_execute", record)
    assert queries == []
    later = FIXED_NOW + dt.timedelta(seconds=60)
    assert second.retry_after("shared@example.jp", None, later) is None
    # memory is bounded
    known = KnownLocks(size=3)
    for i in range(10):
        known.note(str(i), later, FIXED_NOW)
    assert len(known._until) <= 3


# ---- hashing


def test_hash_gate_refuses_instead_of_queueing() -> None:
    gate = auth.HashGate(slots=1, wait=0.01)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with gate.slot():
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(5)
        with pytest.raises(ServiceUnavailable) as refused, gate.slot():
            pass
        assert refused.value.retry_after == 1
    finally:
        release.set()
        holder.join()
    with gate.slot():  # free again
        pass


def test_busy_hashing_is_a_503_with_retry_after(
        client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    busy = auth.HashGate(slots=1, wait=0.0)
    monkeypatch.setattr(auth, "HASH_GATE", busy)
    with busy.slot():
        response = attempt(client, "anyone@example.jp", GOOD)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.mimetype == "application/problem+json"


def test_hashes_use_the_chosen_parameters_and_old_ones_are_upgraded(
        client: FlaskClient, db_session: Session) -> None:
    from argon2 import PasswordHasher

    register(client, "old@example.jp")
    rider = db_session.scalar(select(Rider).where(Rider.email == "old@example.jp"))
    assert rider is not None
    assert rider.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    # a hash made with the library's defaults before this change still verifies ...
    rider.password_hash = PasswordHasher().hash(GOOD)
    db_session.commit()
    assert attempt(client, "old@example.jp", GOOD).status_code == 200
    db_session.expire_all()
    # ... and is replaced by one with today's parameters at that sign-in
    assert rider.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert attempt(client, "old@example.jp", GOOD).status_code == 200


def test_no_hash_is_computed_at_import() -> None:
    import subprocess
    import sys

    code = ("import maas.core.auth as a, argon2; "
            "print(a._dummy_hash.cache_info().currsize)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "0"


# ---- password policy


@pytest.mark.parametrize(("password", "why"), [
    ("        ", "blank"),
    ("\u3000\u3000\u3000\u3000\u3000\u3000\u3000\u3000", "blank"),  # ideographic spaces
    ("password", "common"),
    ("12345678", "common"),
    ("PassWord1", "common"),  # compared without case
    ("ｐａｓｓｗｏｒｄ", "common"),  # full-width: NFKC makes it "password"
    ("  abc  de ", "characters"),
    ("aaaaaaaaaaaa", "different characters"),
    ("hanako-rides-2026", "e-mail"),
    ("HANAKO@example.jp", "e-mail"),
])
def test_weak_passwords_are_422_naming_password(
        client: FlaskClient, password: str, why: str) -> None:
    response = register(client, "hanako@example.jp", password)
    assert response.status_code == 422, password
    body = response.get_json()
    assert [error["field"] for error in body["errors"]][:1] == ["password"]
    assert why in body["detail"]


def test_acceptable_passwords() -> None:
    for password in ("correct horse", "のりまっし金沢で通勤", "Tr4in-to-Noto!", "ɡ" * 3 + "abcde"):
        assert password_problems(password, "hanako@example.jp") == [], password
    # a short local part does not forbid every password that contains it
    assert password_problems("correct horse", "ho@example.jp") == []


def test_common_list_is_shipped_and_sane() -> None:
    passwords = common_passwords()
    assert 8000 < len(passwords) < 10000
    assert {"password", "12345678", "iloveyou", "qwerty123"} <= passwords
    assert all(len(p) >= 8 and p == p.lower() for p in passwords)


# ---- registration reveals nothing


def test_registering_an_existing_address_looks_like_a_new_one(
        client: FlaskClient, db_session: Session) -> None:
    first = register(client, "Taken@example.jp")
    original = db_session.scalar(select(Rider.password_hash)
                                 .where(Rider.email == "taken@example.jp"))
    again = register(client, "taken@example.jp", "a different secret")
    new = register(client, "fresh@example.jp", "a different secret")
    assert first.status_code == again.status_code == new.status_code == 201
    assert first.get_json() == again.get_json() == {"email": "taken@example.jp",
                                                    "status": "created"}
    assert set(new.get_json()) == set(again.get_json())
    assert dict(again.headers).keys() == dict(new.headers).keys()
    # the existing account keeps its password; the newcomer's does not work on it
    db_session.expire_all()
    assert db_session.scalar(select(Rider.password_hash)
                             .where(Rider.email == "taken@example.jp")) == original
    assert attempt(client, "taken@example.jp", "a different secret").status_code == 401
    assert attempt(client, "taken@example.jp", GOOD).status_code == 200
    count = db_session.scalar(select(func.count()).select_from(Rider)
                              .where(Rider.email == "taken@example.jp"))
    assert count == 1


def test_registration_hashes_either_way(
        client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Timing: the existing-account answer does the same argon2 work as the new one."""
    calls: list[str] = []
    real = auth.hash_password
    monkeypatch.setattr("maas.accounts.services.hash_password",
                        lambda password: calls.append(password) or real(password))
    register(client, "twice@example.jp")
    register(client, "twice@example.jp", "something else")
    assert calls == [GOOD, "something else"]


# ---- sessions: log out, log out everywhere


def test_logout_ends_this_token_only(client: FlaskClient) -> None:
    register(client, "phone@example.jp")
    phone = signed_in(client, "phone@example.jp")
    laptop = signed_in(client, "phone@example.jp")
    assert client.get("/api/v1/riders/me", headers=bearer(phone)).status_code == 200
    out = client.post("/api/v1/auth/logout", headers=bearer(phone))
    assert out.status_code == 204
    assert out.data == b""
    for path in ("/api/v1/riders/me", "/api/v1/passes"):
        refused = client.get(path, headers=bearer(phone))
        assert refused.status_code == 401, path
        assert refused.mimetype == "application/problem+json"
    assert client.post("/api/v1/auth/logout", headers=bearer(phone)).status_code == 401
    assert client.get("/api/v1/riders/me", headers=bearer(laptop)).status_code == 200
    assert client.get("/api/v1/passes", headers=bearer(laptop)).status_code == 200


def test_logout_everywhere_kills_every_token_of_the_rider(client: FlaskClient) -> None:
    register(client, "lost-phone@example.jp")
    register(client, "bystander@example.jp")
    tokens = [signed_in(client, "lost-phone@example.jp") for _ in range(3)]
    other = signed_in(client, "bystander@example.jp")
    assert client.post("/api/v1/auth/logout-all", headers=bearer(tokens[0])).status_code == 204
    for token in tokens:
        assert client.get("/api/v1/riders/me", headers=bearer(token)).status_code == 401
        assert client.get("/api/v1/passes", headers=bearer(token)).status_code == 401
    assert client.get("/api/v1/riders/me", headers=bearer(other)).status_code == 200
    fresh = signed_in(client, "lost-phone@example.jp")  # signing in again works
    assert client.get("/api/v1/riders/me", headers=bearer(fresh)).status_code == 200


def test_another_riders_token_cannot_end_someone_elses_session(
        client: FlaskClient, db_session: Session) -> None:
    register(client, "alice@example.jp")
    register(client, "mallory@example.jp")
    alice = signed_in(client, "alice@example.jp")
    mallory = signed_in(client, "mallory@example.jp")
    assert client.post("/api/v1/auth/logout", headers=bearer(mallory)).status_code == 204
    mallory = signed_in(client, "mallory@example.jp")
    assert client.post("/api/v1/auth/logout-all", headers=bearer(mallory)).status_code == 204
    assert client.get("/api/v1/riders/me", headers=bearer(alice)).status_code == 200
    # a token naming Alice's session but Mallory's account (it would need our secret) fails
    claims = jwt.decode(alice, options={"verify_signature": False})
    mallory_id = db_session.scalar(select(Rider.id).where(Rider.email == "mallory@example.jp"))
    assert mallory_id is not None
    forged = auth.issue_access_token(mallory_id, claims["sid"], SECRET, FIXED_NOW)
    assert client.post("/api/v1/auth/logout", headers=bearer(forged)).status_code == 401
    assert client.get("/api/v1/riders/me", headers=bearer(alice)).status_code == 200
    # and logging out needs a token at all
    assert client.post("/api/v1/auth/logout").status_code == 401
    assert client.post("/api/v1/auth/logout-all").status_code == 401


def test_sessions_are_recorded_and_last_seen_is_refreshed_sparingly(
        client: FlaskClient, clock: MovableClock, db_session: Session) -> None:
    register(client, "seen@example.jp")
    token = signed_in(client, "seen@example.jp")
    sid = jwt.decode(token, options={"verify_signature": False})["sid"]
    clock.advance(60)
    client.get("/api/v1/riders/me", headers=bearer(token))
    row = db_session.get(RiderSession, sid)
    assert row is not None
    assert row.created_at == row.last_seen_at == FIXED_NOW
    assert row.revoked_at is None
    clock.advance(5 * 60)
    client.get("/api/v1/riders/me", headers=bearer(token))
    db_session.expire_all()
    assert db_session.get(RiderSession, sid).last_seen_at == clock.now  # type: ignore[union-attr]


def test_expired_sessions_are_deleted_at_the_next_sign_in(
        client: FlaskClient, clock: MovableClock, db_session: Session) -> None:
    register(client, "tidy@example.jp")
    signed_in(client, "tidy@example.jp")
    clock.advance(auth.ACCESS_LIFETIME.total_seconds())
    signed_in(client, "tidy@example.jp")
    count = db_session.scalar(select(func.count()).select_from(RiderSession)
                              .join(Rider).where(Rider.email == "tidy@example.jp"))
    assert count == 1


def test_logout_is_in_the_openapi_document(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/auth/logout", "/api/v1/auth/logout-all"):
        operation = paths[path]["post"]
        assert "content" not in operation["responses"]["204"]
        assert operation["security"] == [{"rider": []}]
    assert "429" in paths["/api/v1/auth/token"]["post"]["responses"]


# ---- tokens


@given(rider_id=st.text(min_size=1, max_size=64), session_id=st.text(min_size=1, max_size=64),
       seconds=st.integers(min_value=0, max_value=86_399))
def test_token_round_trip(rider_id: str, session_id: str, seconds: int) -> None:
    token = auth.issue_access_token(rider_id, session_id, SECRET, FIXED_NOW)
    now = FIXED_NOW + dt.timedelta(seconds=seconds)
    assert auth.claims_from_token(token, SECRET, now) == (rider_id, session_id)


def test_a_successful_sign_in_leaves_no_counter(
        client: FlaskClient, db_session: Session) -> None:
    register(client, "x@example.jp")
    attempt(client, "x@example.jp", "wrong one")
    assert db_session.get(LoginThrottle, account_key("x@example.jp")) is not None
    assert attempt(client, "x@example.jp", GOOD).status_code == 200
    db_session.expire_all()
    assert db_session.get(LoginThrottle, account_key("x@example.jp")) is None
