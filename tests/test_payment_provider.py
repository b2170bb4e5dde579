"""The payment provider is chosen by configuration (issue 12, item 7).

Before, the sandbox answered on every instance: card 4242… made a paid pass in production too.
Now MAAS_PAYMENT_PROVIDER names the provider; production must name one and refuses the sandbox
unless MAAS_ALLOW_SANDBOX_PAYMENTS=1; an unknown name stops the program at start.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from maas.app import create_app, register_events
from maas.cli import cli
from maas.core.config import load_settings
from maas.core.errors import ConfigError
from passes import payments
from tests.conftest import fixed_clock

PRODUCTION = {"MAAS_ENV": "production", "MAAS_SECRET_KEY": "k" * 40,
              "MAAS_DATABASE_URL": "postgresql://u@h/db", "MAAS_REDIS_URL": "redis://cache/0",
              "MAAS_KEY_ENCRYPTION_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}


@pytest.mark.parametrize("env", ["demo", "development", "test"])
def test_the_sandbox_is_the_default_outside_production(env: str) -> None:
    settings = load_settings(environ={"MAAS_ENV": env})
    assert (settings.payment_provider, settings.allow_sandbox_payments) == ("sandbox", False)
    assert payments.provider_for(settings.payment_provider, settings.secret_key).name == "sandbox"


def test_production_must_name_a_provider() -> None:
    with pytest.raises(ConfigError, match=r"^MAAS_PAYMENT_PROVIDER: must be set in production$"):
        load_settings(environ=PRODUCTION)


@pytest.mark.parametrize("allow", [None, "0", "no", ""])
def test_production_refuses_the_sandbox_unless_allowed(allow: str | None) -> None:
    environ = {**PRODUCTION, "MAAS_PAYMENT_PROVIDER": "sandbox"}
    if allow is not None:
        environ["MAAS_ALLOW_SANDBOX_PAYMENTS"] = allow
    with pytest.raises(ConfigError, match=r"^MAAS_PAYMENT_PROVIDER: the sandbox .* unless "
                                          r"MAAS_ALLOW_SANDBOX_PAYMENTS=1$"):
        load_settings(environ=environ)


@pytest.mark.parametrize("allow", ["1", "true", "yes", "ON"])
def test_production_runs_the_sandbox_when_explicitly_allowed(allow: str) -> None:
    settings = load_settings(environ={**PRODUCTION, "MAAS_PAYMENT_PROVIDER": "Sandbox",
                                      "MAAS_ALLOW_SANDBOX_PAYMENTS": allow})
    assert (settings.payment_provider, settings.allow_sandbox_payments) == ("sandbox", True)


def test_bad_values_name_their_variable() -> None:
    with pytest.raises(ConfigError, match=r"^MAAS_ALLOW_SANDBOX_PAYMENTS: 'maybe' is not 1 "
                                          r"or 0 \(true or false\)$"):
        load_settings(environ={"MAAS_ALLOW_SANDBOX_PAYMENTS": "maybe"})
    with pytest.raises(ConfigError, match=r"^MAAS_PAYMENT_PROVIDER: 'card network!' is not a "):
        load_settings(environ={"MAAS_PAYMENT_PROVIDER": "card network!"})


def test_an_unknown_provider_is_a_config_error_at_start(database_url: str,
                                                        shared_home: Path) -> None:
    with pytest.raises(ConfigError, match=r"^MAAS_PAYMENT_PROVIDER: 'stripe' is not a payment "
                                          r"provider \(known: sandbox\)$"):
        payments.provider_for("stripe", "secret")
    with pytest.raises(ConfigError, match="'stripe' is not a payment provider"):
        create_app({"env": "test", "home": shared_home, "database_url": database_url,
                    "payment_provider": "stripe"})


@pytest.mark.parametrize(("env", "expected"), [
    ({**PRODUCTION, "MAAS_PAYMENT_PROVIDER": "sandbox"},
     "Error: MAAS_PAYMENT_PROVIDER: the sandbox accepts test cards and moves no money; "
     "production refuses it unless MAAS_ALLOW_SANDBOX_PAYMENTS=1\n"),
    ({"MAAS_PAYMENT_PROVIDER": "stripe"},
     "Error: MAAS_PAYMENT_PROVIDER: 'stripe' is not a payment provider (known: sandbox)\n"),
])
def test_the_cli_stops_with_one_line(env: dict[str, str], expected: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["db", "upgrade"], env={"MAAS_HOME": str(tmp_path), **env})
    assert (result.exit_code, result.stderr) == (1, expected)
    assert "Traceback" not in result.output


class DecliningProvider:
    """A stand-in for a real card network: it knows no test cards."""

    name = "strict"
    webhook_signature_header = "X-Strict-Signature"

    def __init__(self, secret_key: str) -> None:
        self.secret_key = secret_key

    def charge(self, order_id: str, amount_yen: int, card_number: str) -> payments.Charge:
        return payments.Charge("declined", f"strict_{order_id}", "no such card")

    def refund(self, reference: str, amount_yen: int) -> None:
        raise AssertionError("nothing was charged")

    def verify(self, body: bytes, signature: str) -> bool:
        return False


@pytest.fixture
def strict_app(monkeypatch: pytest.MonkeyPatch, sessions: object,
               events: object, database_url: str, shared_home: Path) -> Flask:
    monkeypatch.setattr(payments, "PROVIDERS", {**payments.PROVIDERS,
                                                "strict": DecliningProvider})
    strict = create_app({"env": "test", "home": shared_home, "database_url": database_url,
                         "clock": fixed_clock, "payment_provider": "strict"})
    state = strict.extensions["maas"]
    strict.extensions["maas"] = dataclasses.replace(state, sessions=sessions, events=events)
    register_events(strict)
    state.engine.dispose()
    return strict


@pytest.mark.usefixtures("loaded_demo")
def test_the_configured_provider_is_the_one_that_charges(strict_app: Flask) -> None:
    client = strict_app.test_client()
    email, password = "provider-check@example.jp", "kanazawa strict rider 10"
    client.post("/api/v1/riders", json={"email": email, "password": password})
    token = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    auth = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
    body = {"product": "kanazawa-1day", "service_date": "2026-12-02",
            "payment": {"method": "sandbox", "card_number": payments.SUCCEEDS}}
    sandbox = client.post("/api/v1/orders", json=body, headers={**auth, "Idempotency-Key": "a"})
    assert sandbox.status_code == 422
    assert "only 'strict' is available" in sandbox.get_json()["detail"]
    body["payment"]["method"] = "strict"  # type: ignore[index]
    test_card = client.post("/api/v1/orders", json=body, headers={**auth, "Idempotency-Key": "b"})
    assert test_card.status_code == 201
    assert test_card.get_json()["order"]["status"] == "declined"
    assert test_card.get_json()["pass"] is None
    # the sandbox's signature header means nothing to this provider
    sandbox_key = payments.provider_for("sandbox", "kanazawa-maas-demo-secret-not-for-production")
    event = b'{"type": "charge.succeeded", "reference": "strict_x"}'
    webhook = client.post("/api/v1/payments/webhook", data=event, headers={
        "X-Sandbox-Signature": sandbox_key.sign(event)})  # type: ignore[attr-defined]
    assert webhook.status_code == 401
