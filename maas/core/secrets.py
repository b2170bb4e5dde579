"""Encrypting private key material at rest: the ``KeyEncryptor`` protocol and AES-GCM.

Signing keys live in the database with their private parts wrapped by a key-encryption key
(KEK) that never touches the database: ``MAAS_KEY_ENCRYPTION_KEY`` (base64 of 32 bytes). A KMS
can take its place later by implementing :class:`KeyEncryptor` (``wrap``/``unwrap`` with the
associated data, and an ``id`` naming the KEK a row was wrapped with, for re-wrapping).
Outside production, when the variable is unset, the KEK is derived from ``MAAS_SECRET_KEY``
(HKDF-SHA256), so every host of a demo or test deployment with the same secret shares it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
from typing import TYPE_CHECKING, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from maas.core.errors import ConfigError, MaasError

if TYPE_CHECKING:
    from maas.core.config import Settings

KEK_BYTES = 32
NONCE_BYTES = 12


class KeyEncryptor(Protocol):
    """Wraps and unwraps secret bytes; ``associated`` binds a ciphertext to its row."""

    @property
    def id(self) -> str:
        """A short, non-secret name of the key-encryption key (stored beside each row)."""
        ...

    def wrap(self, secret: bytes, associated: bytes) -> bytes:
        """Encrypt ``secret``."""
        ...

    def unwrap(self, wrapped: bytes, associated: bytes) -> bytes:
        """Decrypt what :meth:`wrap` made (MaasError when the KEK or the row differs)."""
        ...


class AesGcmEncryptor:
    """AES-256-GCM under a 32-byte KEK; a fresh 96-bit nonce is stored before each ciphertext."""

    def __init__(self, kek: bytes) -> None:
        if len(kek) != KEK_BYTES:
            raise ValueError(f"a key-encryption key has {KEK_BYTES} bytes, not {len(kek)}")
        self._aead = AESGCM(kek)
        # names the KEK without revealing it: a hash of a derived value, not of the KEK itself
        self._id = hashlib.sha256(b"maas kek id\0" + kek).hexdigest()[:12]

    @property
    def id(self) -> str:
        """The KEK's name (first 12 hex digits of a domain-separated hash)."""
        return self._id

    def wrap(self, secret: bytes, associated: bytes) -> bytes:
        """``nonce || ciphertext+tag``."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, secret, associated)

    def unwrap(self, wrapped: bytes, associated: bytes) -> bytes:
        """The secret, or MaasError when the KEK is not the one it was wrapped with."""
        try:
            return self._aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], associated)
        except InvalidTag:
            raise MaasError("a stored private key does not decrypt with this "
                            "MAAS_KEY_ENCRYPTION_KEY (wrong key, or the row was altered)"
                            ) from None


def parse_kek(text: str) -> bytes:
    """``MAAS_KEY_ENCRYPTION_KEY`` as 32 bytes (ConfigError naming the variable otherwise)."""
    try:
        kek = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        kek = b""
    if len(kek) != KEK_BYTES:
        raise ConfigError("MAAS_KEY_ENCRYPTION_KEY: must be the base64 of 32 random bytes "
                          "(make one with: python3 -c \"import base64,os;"
                          "print(base64.b64encode(os.urandom(32)).decode())\")")
    return kek


def derived_kek(secret_key: str) -> bytes:
    """The demo KEK: HKDF-SHA256 of the server secret (never used in production)."""
    return HKDF(algorithm=hashes.SHA256(), length=KEK_BYTES, salt=None,
                info=b"kanazawa-maas key-encryption-key").derive(secret_key.encode())


def key_encryptor(settings: Settings) -> KeyEncryptor:
    """The encryptor the settings name (production always has MAAS_KEY_ENCRYPTION_KEY)."""
    return _encryptor(settings.key_encryption_key, settings.secret_key)


@functools.lru_cache(maxsize=8)
def _encryptor(key_encryption_key: str, secret_key: str) -> KeyEncryptor:
    """One encryptor per KEK for the process (requests do not derive it again)."""
    if key_encryption_key:
        return AesGcmEncryptor(parse_kek(key_encryption_key))
    return AesGcmEncryptor(derived_kek(secret_key))
