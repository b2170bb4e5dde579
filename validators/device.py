"""The device side of a validator: enrolment, the pinned trust bundle, the scan journal, sync.

Everything lives in one folder (``--home``):

- ``device.json`` (0600) — server URL, device id, operator, token and the pinned bundle keys;
- ``bundle.jws`` — the last trust bundle fetched, checked against the pinned keys on every load;
- ``journal.sqlite3`` — every check with the code it read, written (WAL, ``synchronous=FULL``)
  before its result is shown, and marked uploaded only after the server answered for its
  batch (the code is then dropped from the journal: the server keeps it as evidence).

Uploads are idempotent by scan id on the server, so a process killed at any moment — after
the journal write, during an upload, before marking a batch — loses no scan and duplicates
none: the next sync sends again whatever is not marked.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from maas.core.errors import InvalidInput, MaasError, ServiceUnavailable
from maas.core.files import write_atomically
from passes import bundle as trust
from validators.verify import (
    MAX_PAYLOAD,
    SAME_DEVICE,
    Context,
    Result,
    TrustBundle,
    scan_digest,
    verify,
)

if TYPE_CHECKING:
    from urllib.error import HTTPError

BATCH = int(os.environ.get("MAAS_VALIDATOR_BATCH", "500"))
# the same pass accepted again within this many seconds is a replay (verify.SAME_DEVICE)
SAME_DEVICE_ENV = "MAAS_VALIDATOR_SAME_DEVICE_S"
TIMEOUT_S = 10.0
RETRIES = 4  # attempts per request, with exponential backoff between them
SCHEMA = """
CREATE TABLE IF NOT EXISTS scans (
    id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    result TEXT NOT NULL,
    code TEXT NOT NULL,
    pass_id TEXT,
    product TEXT,
    category TEXT,
    service_date TEXT,
    scanned_at TEXT NOT NULL,
    uploaded INTEGER NOT NULL DEFAULT 0,
    payload TEXT
);
CREATE INDEX IF NOT EXISTS ix_scans_pending ON scans (uploaded) WHERE uploaded = 0;
CREATE INDEX IF NOT EXISTS ix_scans_digest ON scans (digest, result);
CREATE INDEX IF NOT EXISTS ix_scans_pass ON scans (pass_id, result);
"""


class DeviceError(MaasError):
    """A device-side problem worth one clear line (not enrolled, bad server answer)."""


@dataclasses.dataclass(frozen=True)
class Enrolment:
    """What ``enroll`` saved."""

    server: str
    device_id: str
    operator: str
    token: str
    bundle_keys: list[dict[str, Any]]

    def pinned(self) -> dict[str, ec.EllipticCurvePublicKey]:
        """The bundle keys pinned at enrolment."""
        keys = {}
        for jwk in self.bundle_keys:
            key = ECAlgorithm.from_jwk(json.dumps(jwk))
            if isinstance(key, ec.EllipticCurvePublicKey):
                keys[str(jwk["kid"])] = key
        return keys


@dataclasses.dataclass(frozen=True)
class Check:
    """A journaled verdict."""

    scan_id: str
    result: Result

    def as_json(self) -> dict[str, Any]:
        """The ``check --json`` document of CONTRACT.md."""
        return {**self.result.as_json(), "scan_id": self.scan_id}


@dataclasses.dataclass(frozen=True)
class SyncReport:
    """What one ``sync`` did."""

    bundle_version: str | None
    uploaded: int
    duplicates: int
    pending: int


class Device:
    """One validator's state folder."""

    def __init__(self, home: Path, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.home = home
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._journal: sqlite3.Connection | None = None
        # `run` checks many codes per process: the files are read again only when they change
        self._enrolment: Enrolment | None = None
        self._bundle: tuple[tuple[int, int], TrustBundle | None] | None = None

    # -- enrolment and bundle -------------------------------------------------------------

    def enrol(self, server: str, code: str) -> Enrolment:
        """Trade the one-time code for a token and pin the bundle keys; fetch the bundle."""
        server = server.rstrip("/")
        answer = _request("POST", f"{server}/api/v1/devices/enroll", {"code": code})
        enrolment = Enrolment(server, answer["device_id"], answer["operator"],
                              answer["token"], answer["bundle_keys"])
        self.home.mkdir(parents=True, exist_ok=True)
        write_atomically(self.home / "device.json",
                         json.dumps(dataclasses.asdict(enrolment)).encode(), 0o600)
        self._enrolment, self._bundle = enrolment, None
        self.fetch_bundle(enrolment)
        return enrolment

    def enrolment(self) -> Enrolment:
        """The saved enrolment (a clear error when there is none)."""
        if self._enrolment is not None:
            return self._enrolment
        try:
            self._enrolment = Enrolment(**json.loads((self.home / "device.json").read_text()))
            return self._enrolment
        except FileNotFoundError:
            raise DeviceError(f"{self.home}: not enrolled (run `maas-validator enroll`)"
                              ) from None

    def bundle(self) -> TrustBundle | None:
        """The saved bundle, verified against the pinned keys (the verifier judges its age).

        None when there is none, or when it does not verify: a tampered file is no bundle.
        """
        path = self.home / "bundle.jws"
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        if self._bundle is None or self._bundle[0] != stamp:
            try:
                document = trust.open_bundle(path.read_text().strip(),
                                             self.enrolment().pinned(), self.clock(),
                                             refuse_stale=False)
                self._bundle = (stamp, TrustBundle.from_document(document))
            except ValueError:
                self._bundle = (stamp, None)
        return self._bundle[1]

    def fetch_bundle(self, enrolment: Enrolment) -> str | None:
        """Pull the bundle when it changed; returns its version."""
        path = self.home / "bundle.jws"
        version = None
        if path.exists():
            try:
                version = trust.open_bundle(path.read_text().strip(), enrolment.pinned(),
                                            self.clock())["version"]
            except ValueError:
                version = None
        headers = {"If-None-Match": f'"{version}"'} if version else {}
        answer = _request("GET", f"{enrolment.server}/api/v1/validators/bundle", None,
                          enrolment.token, headers)
        if answer is None:  # 304: unchanged
            return version
        try:
            document = trust.open_bundle(answer["bundle"], enrolment.pinned(), self.clock())
        except ValueError as exc:
            raise DeviceError(f"refusing the server's bundle: {exc}") from None
        write_atomically(path, answer["bundle"].encode())
        return str(document["version"])

    # -- checks and the journal -----------------------------------------------------------

    def journal(self) -> sqlite3.Connection:
        """The journal, opened once per process (WAL, every commit synced to disk)."""
        if self._journal is None:
            self.home.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.home / "journal.sqlite3", isolation_level=None,
                                         timeout=30)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.executescript(SCHEMA)
            columns = {row[1] for row in connection.execute("PRAGMA table_info(scans)")}
            if "payload" not in columns:  # a journal from before codes were uploaded
                with contextlib.suppress(sqlite3.OperationalError):  # another process did it
                    connection.execute("ALTER TABLE scans ADD COLUMN payload TEXT")
            self._journal = connection
        return self._journal

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        journal = self.journal()
        journal.execute("BEGIN IMMEDIATE")
        try:
            yield journal
        except BaseException:
            journal.execute("ROLLBACK")
            raise
        journal.execute("COMMIT")

    def same_device(self) -> dt.timedelta:
        """How soon the same pass again is a replay (``MAAS_VALIDATOR_SAME_DEVICE_S``)."""
        text = os.environ.get(SAME_DEVICE_ENV)
        if not text:
            return SAME_DEVICE
        try:
            seconds = int(text)
        except ValueError:
            seconds = -1
        if seconds < 0:
            raise InvalidInput(f"{SAME_DEVICE_ENV}: {text!r} is not a number of seconds")
        return dt.timedelta(seconds=seconds)

    def check(self, payload: str, at: dt.datetime | None = None) -> Check:
        """Judge a code and journal the verdict durably; only then return it.

        The replay checks read the journal inside the same transaction that writes the
        verdict, so two processes checking one code cannot both accept it.
        """
        enrolment = self.enrolment()
        now = at or self.clock()
        with self._transaction() as journal:
            context = Context(enrolment.operator, _Accepted(journal, "digest"),
                              _Accepted(journal, "pass_id"), same_device=self.same_device())
            result = verify(payload, self.bundle(), now, context)
            scan_id = str(uuid.uuid4())
            # the code itself goes up with the verdict: the server verifies it again and
            # counts nothing it cannot confirm (longer than a code can be: malformed anyway)
            journal.execute(
                "INSERT INTO scans (id, digest, result, code, pass_id, product, category,"
                " service_date, scanned_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (scan_id, scan_digest(payload, result), result.result, result.code,
                 result.pass_id, result.product,
                 result.category,
                 result.service_date.isoformat() if result.service_date else None,
                 now.astimezone(dt.UTC).isoformat(), _storable(payload)))
        return Check(scan_id, result)

    def pending(self) -> int:
        """Scans not yet confirmed by the server."""
        row = self.journal().execute("SELECT count(*) FROM scans WHERE uploaded = 0").fetchone()
        return int(row[0])

    def sync(self) -> SyncReport:
        """Pull the bundle if it changed, then push the journal in batches."""
        enrolment = self.enrolment()
        version = self.fetch_bundle(enrolment)
        uploaded = duplicates = 0
        while True:
            rows = self.journal().execute(
                "SELECT id, digest, result, code, pass_id, product, category, service_date,"
                " scanned_at, payload FROM scans WHERE uploaded = 0 ORDER BY scanned_at"
                " LIMIT ?", (BATCH,)).fetchall()
            if not rows:
                break
            scans = [{"id": r[0], "digest": r[1], "result": r[2], "code": r[3],
                      "pass_id": r[4], "product": r[5], "category": r[6],
                      "service_date": r[7], "scanned_at": r[8], "payload": r[9]}
                     for r in rows]
            answer = _request("POST", f"{enrolment.server}/api/v1/scans", {"scans": scans},
                              enrolment.token)
            with self._transaction() as journal:
                # the server keeps the code now; the journal needs only its replay key
                journal.executemany("UPDATE scans SET uploaded = 1, payload = NULL WHERE id = ?",
                                    [(r[0],) for r in rows])
            uploaded += int(answer["accepted"])
            duplicates += int(answer["duplicates"])
        return SyncReport(version, uploaded, duplicates, self.pending())


class _Accepted:
    """When the journal last accepted a code with this replay key / of this pass."""

    def __init__(self, journal: sqlite3.Connection, column: str) -> None:
        self.journal = journal
        self.query = (f"SELECT max(scanned_at) FROM scans WHERE {column} = ?"  # noqa: S608
                      " AND result = 'accept'")

    def get(self, key: str, /) -> dt.datetime | None:
        (last,) = self.journal.execute(self.query, (key,)).fetchone()
        return dt.datetime.fromisoformat(last) if last else None


def _request(method: str, url: str, body: Any, token: str | None = None,
             headers: dict[str, str] | None = None) -> Any:
    """One JSON request with retries and backoff; ``None`` for 304 Not Modified."""
    if not url.startswith(("http://", "https://")):
        raise InvalidInput(f"--server: {url.split('/api/')[0]!r} is not an http(s) URL")
    data = json.dumps(body).encode() if body is not None else None
    all_headers = {"Accept": "application/json", **(headers or {})}
    if data is not None:
        all_headers["Content-Type"] = "application/json"
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    # only enrolment and sync talk to the server: `check` does not pay for loading urllib
    import urllib.error
    import urllib.request

    delay = 0.5
    for attempt in range(RETRIES):
        # the scheme is checked above: only http(s), never file: or custom schemes
        request = urllib.request.Request(  # noqa: S310
            url, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 304:
                return None
            if exc.code < 500 or attempt == RETRIES - 1:
                raise DeviceError(f"{method} {url}: {exc.code} {_detail(exc)}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            if attempt == RETRIES - 1:
                raise ServiceUnavailable(f"{url}: server unreachable ({exc})") from None
        time.sleep(delay)
        delay *= 2
    raise ServiceUnavailable(f"{url}: no answer")  # pragma: no cover - the loop returns


def _detail(error: HTTPError) -> str:
    try:
        return str(json.loads(error.read()).get("detail", ""))
    except (ValueError, AttributeError):
        return ""


def _storable(payload: str) -> str:
    """The code as the server takes it: at most 2048 characters of valid Unicode (a command
    line of undecodable bytes gives lone surrogates, which no JSON parser accepts)."""
    return payload[:MAX_PAYLOAD].encode("utf-8", "replace").decode("utf-8")


def parse_at(text: str | None) -> dt.datetime | None:
    """``--at``: an ISO 8601 time with offset."""
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"--at: {text!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise InvalidInput(f"--at: {text!r} needs an offset, e.g. +09:00")
    return moment


def decode_image(path: Path) -> str:
    """The text of the first QR code in an image file (zxing-cpp and Pillow)."""
    try:
        import zxingcpp
        from PIL import Image
    except ImportError:
        raise DeviceError("--image needs zxing-cpp and Pillow (pip install zxing-cpp pillow)"
                          ) from None
    try:
        image = Image.open(path)
        image.load()
    except OSError as exc:
        raise InvalidInput(f"--image: {path}: not an image ({exc})") from None
    found = zxingcpp.read_barcodes(image)
    if not found:
        raise InvalidInput(f"--image: {path}: no QR code found")
    return str(found[0].text)
