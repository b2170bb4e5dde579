"""Issuing keys: P-256 private keys in files under ``MAAS_HOME/keys`` (mode 0600), never in
the database, with their life cycle in ``keys.json``.

A key is published as ``next`` (in the JWKS, not signing) before it becomes ``current`` (the one
that signs), and stays published as ``retired`` until the last service date it signed has
passed, so validators can still check every pass it signed. When a retired key is deleted its
public half goes to ``archive.json``: the server re-verifies scans uploaded late (a device may
be offline for days) against the keys that were published when they were made. ``kid`` is
the first 8 characters of the key's RFC 7638 JWK thumbprint (48 bits: unique among a handful
of live keys, and short because it travels in every QR code).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from passes.credential import b64url, unb64url

STATES = ("next", "current", "retired")


@dataclasses.dataclass
class KeyInfo:
    """One key's life cycle."""

    kid: str
    state: str
    created_at: str
    last_service_date: str | None = None  # the latest service date it has signed for


def thumbprint(key: ec.EllipticCurvePublicKey) -> str:
    """The RFC 7638 JWK thumbprint (base64url SHA-256 of the canonical JWK)."""
    numbers = key.public_numbers()
    canonical = json.dumps(
        {"crv": "P-256", "kty": "EC", "x": b64url(numbers.x.to_bytes(32, "big")),
         "y": b64url(numbers.y.to_bytes(32, "big"))},
        separators=(",", ":"), sort_keys=True,
    )
    return b64url(hashlib.sha256(canonical.encode()).digest())


def public_jwk(key: ec.EllipticCurvePublicKey, kid: str) -> dict[str, str]:
    """The public key as a JWK for the JWKS document."""
    numbers = key.public_numbers()
    return {"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
            "x": b64url(numbers.x.to_bytes(32, "big")), "y": b64url(numbers.y.to_bytes(32, "big"))}


def _jwk_public(jwk: dict[str, str]) -> ec.EllipticCurvePublicKey:
    """A P-256 public JWK as a key."""
    return ec.EllipticCurvePublicNumbers(
        int.from_bytes(unb64url(jwk["x"]), "big"), int.from_bytes(unb64url(jwk["y"]), "big"),
        ec.SECP256R1()).public_key()


class KeyStore:
    """The issuing keys (or, with ``kind="bundle"``, the trust-bundle keys) of a MAAS_HOME."""

    def __init__(self, home: Path, kind: str = "issuing") -> None:
        self.folder = home / "keys" if kind == "issuing" else home / "keys" / kind

    def _index_path(self) -> Path:
        return self.folder / "keys.json"

    def infos(self) -> list[KeyInfo]:
        """Every key's life cycle, oldest first."""
        path = self._index_path()
        if not path.exists():
            return []
        return [KeyInfo(**item) for item in json.loads(path.read_text(encoding="utf-8"))]

    def _save(self, infos: list[KeyInfo]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self._index_path().with_suffix(".tmp")
        temporary.write_text(json.dumps([dataclasses.asdict(i) for i in infos], indent=1),
                             encoding="utf-8")
        temporary.replace(self._index_path())

    def _create(self, state: str, now: dt.datetime) -> KeyInfo:
        key = ec.generate_private_key(ec.SECP256R1())
        kid = thumbprint(key.public_key())[:8]
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        descriptor = os.open(self.folder / f"{kid}.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                             0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        return KeyInfo(kid=kid, state=state, created_at=now.isoformat(timespec="seconds"))

    def private_key(self, kid: str) -> ec.EllipticCurvePrivateKey:
        """Load a private key by kid."""
        key = serialization.load_pem_private_key((self.folder / f"{kid}.pem").read_bytes(),
                                                 password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{kid}: not an EC key")
        return key

    def ensure(self, now: dt.datetime) -> None:
        """Create a current and a next key when there are none (first start, demo)."""
        if {"current", "next"} <= {info.state for info in self.infos()}:
            return
        with self._locked():
            infos = self.infos()
            states = {info.state for info in infos}
            if "current" not in states:
                infos.append(self._create("current", now))
            if "next" not in states:
                infos.append(self._create("next", now))
            self._save(infos)

    def rotate(self, now: dt.datetime, today: dt.date) -> list[KeyInfo]:
        """Promote ``next`` to ``current``, retire the old current, publish a new ``next``.

        Retired keys whose last signed service date is before ``today`` are deleted.
        """
        self.ensure(now)
        with self._locked():
            return self._rotate(now, today)

    def _rotate(self, now: dt.datetime, today: dt.date) -> list[KeyInfo]:
        infos = self.infos()
        for info in infos:
            if info.state == "current":
                info.state = "retired"
        for info in infos:
            if info.state == "next":
                info.state = "current"
        infos.append(self._create("next", now))
        kept = []
        for info in infos:
            expired = info.state == "retired" and (
                info.last_service_date is None
                or dt.date.fromisoformat(info.last_service_date) < today)
            if expired:
                self._archive(info, now)
                (self.folder / f"{info.kid}.pem").unlink(missing_ok=True)
            else:
                kept.append(info)
        self._save(kept)
        return kept

    def _archive_path(self) -> Path:
        return self.folder / "archive.json"

    def _archive(self, info: KeyInfo, now: dt.datetime) -> None:
        """Keep the public half of a key about to be deleted (it signs nothing new)."""
        path = self._archive_path()
        archived = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
        public = self.private_key(info.kid).public_key()
        archived.append({**dataclasses.asdict(info), "state": "archived",
                         "jwk": public_jwk(public, info.kid),
                         "deleted_at": now.isoformat(timespec="seconds")})
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(archived, indent=1), encoding="utf-8")
        temporary.replace(path)

    def history(self) -> list[tuple[KeyInfo, ec.EllipticCurvePublicKey]]:
        """Every key ever published (live ones and archived ones) with its public key.

        Archived keys have the state ``archived``; their ``last_service_date`` bounds what
        they may have signed, as for a retired key.
        """
        keys = [(info, self.private_key(info.kid).public_key()) for info in self.infos()]
        path = self._archive_path()
        if path.exists():
            for item in json.loads(path.read_text(encoding="utf-8")):
                keys.append((KeyInfo(kid=item["kid"], state="archived",
                                     created_at=item["created_at"],
                                     last_service_date=item.get("last_service_date")),
                             _jwk_public(item["jwk"])))
        return keys

    def stamp(self) -> tuple[int, int]:
        """Changes whenever the keys do (modification times of the index and the archive)."""
        def mtime(path: Path) -> int:
            try:
                return path.stat().st_mtime_ns
            except FileNotFoundError:
                return 0
        return mtime(self._index_path()), mtime(self._archive_path())

    def signing_key(self, now: dt.datetime) -> tuple[str, ec.EllipticCurvePrivateKey]:
        """The current key (created on first use)."""
        self.ensure(now)
        current = next(info for info in self.infos() if info.state == "current")
        return current.kid, self.private_key(current.kid)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock across processes (gunicorn workers sign concurrently)."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with (self.folder / "keys.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def record_use(self, kid: str, service_date: dt.date) -> None:
        """Remember the latest service date a key has signed for (keeps it published)."""
        with self._locked():
            infos = self.infos()
            for info in infos:
                if info.kid == kid and (info.last_service_date is None
                                        or info.last_service_date < service_date.isoformat()):
                    info.last_service_date = service_date.isoformat()
                    self._save(infos)
                    return

    def public_keys(self) -> dict[str, ec.EllipticCurvePublicKey]:
        """Every published key by kid (next, current, retired)."""
        return {info.kid: self.private_key(info.kid).public_key() for info in self.infos()}

    def jwks(self) -> dict[str, Any]:
        """The JWKS document of the published keys."""
        return {"keys": [public_jwk(key, kid) for kid, key in self.public_keys().items()]}
