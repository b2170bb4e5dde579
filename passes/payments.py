"""Payment providers, chosen by ``MAAS_PAYMENT_PROVIDER`` through :func:`provider_for`.

The built-in ``sandbox`` stands in for a card network (pure); production refuses it unless
``MAAS_ALLOW_SANDBOX_PAYMENTS=1`` (see maas.core.config). A real provider is added to
:data:`PROVIDERS`.

Sandbox test cards: ``4242424242424242`` succeeds, ``4000000000000002`` is declined,
``4000000000003220`` stays pending until its HMAC-signed webhook says it succeeded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Protocol

from maas.core.errors import ConfigError

SUCCEEDS = "4242424242424242"
DECLINED = "4000000000000002"
PENDING = "4000000000003220"


@dataclasses.dataclass(frozen=True)
class Charge:
    """A provider's answer to a charge."""

    status: str  # succeeded, declined, pending
    reference: str
    message: str = ""


class PaymentProvider(Protocol):
    """What an order needs from a payment provider."""

    name: str
    webhook_signature_header: str

    def charge(self, order_id: str, amount_yen: int, card_number: str) -> Charge:
        """Charge ``amount_yen`` for ``order_id`` (idempotent per order id)."""

    def refund(self, reference: str, amount_yen: int) -> None:
        """Give the money of a charge back."""

    def verify(self, body: bytes, signature: str) -> bool:
        """Whether ``signature`` (the webhook's signature header) authenticates ``body``."""


class SandboxProvider:
    """Deterministic test cards; references derive from the order id, so a retried charge is
    the same charge."""

    name = "sandbox"
    webhook_signature_header = "X-Sandbox-Signature"

    def __init__(self, webhook_secret: str) -> None:
        self.webhook_secret = webhook_secret.encode()
        self.refunds: list[str] = []

    def charge(self, order_id: str, amount_yen: int, card_number: str) -> Charge:
        """Answer by test card number."""
        reference = "sbx_" + hashlib.sha256(order_id.encode()).hexdigest()[:20]
        digits = "".join(ch for ch in card_number if ch.isdigit())
        if digits == SUCCEEDS:
            return Charge("succeeded", reference)
        if digits == PENDING:
            return Charge("pending", reference, "awaiting confirmation")
        return Charge("declined", reference, "the card was declined")

    def refund(self, reference: str, amount_yen: int) -> None:
        """Record the refund (the sandbox moves no money)."""
        self.refunds.append(reference)

    def sign(self, body: bytes) -> str:
        """The ``X-Sandbox-Signature`` header value for a webhook body."""
        return hmac.new(self.webhook_secret, body, hashlib.sha256).hexdigest()

    def verify(self, body: bytes, signature: str) -> bool:
        """Constant-time check of a webhook signature (any text: a header may carry
        characters ``compare_digest`` refuses in a ``str``, so bytes are compared)."""
        given = signature.strip().lower().encode("utf-8", "surrogatepass")
        return hmac.compare_digest(self.sign(body).encode("ascii"), given)

    def webhook_body(self, reference: str, status: str) -> bytes:
        """The event the sandbox sends when a pending charge settles."""
        return json.dumps({"type": "charge." + status, "reference": reference}).encode()


def _sandbox(secret_key: str) -> PaymentProvider:
    secret = hashlib.sha256(f"sandbox-webhook:{secret_key}".encode()).hexdigest()
    return SandboxProvider(secret)


# provider name (MAAS_PAYMENT_PROVIDER) -> a factory given the application's secret key
PROVIDERS: Mapping[str, Callable[[str], PaymentProvider]] = {"sandbox": _sandbox}


def provider_for(name: str, secret_key: str) -> PaymentProvider:
    """The provider called ``name``; an unknown name is a :class:`ConfigError`."""
    factory = PROVIDERS.get(name)
    if factory is None:
        raise ConfigError(f"MAAS_PAYMENT_PROVIDER: {name!r} is not a payment provider "
                          f"(known: {', '.join(sorted(PROVIDERS))})")
    return factory(secret_key)
