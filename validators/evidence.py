"""Scans are evidence, not verdicts: the server's own judgement of what a device uploads.

A device's upload carries the code it read (``payload``), its own verdict, time and place.
Nothing of it counts until the server has verified the code itself, with the same verifier
(:func:`validators.verify.verify`) on a bundle made for the scan's time:

- **issuing keys**: the issuing keys' whole history — next, current, retired and archived (the
  public half of a retired key kept after its files are deleted) — with a retired or archived
  key good only for the service dates it signed (``not_after``), as on the devices. When a key
  was first published is not held against a scan: the time a code can be shown is already
  bounded by its pass's service window, which is checked against the scan's time;
- **products**: as the products table has them now (on sale or not);
- **deny-list**: none in the bundle; the pass's current state on the server decides instead
  (below);
- **replay**: the replay keys this device had confirmed before, and those of the same batch in
  time order, as the device's own journal would have them.

A code the verifier accepts must then name a pass the server issued: the ``passes`` row must
exist with the same product, category and service date; a pass revoked (a refund, support)
counts as revoked at any time, a pass flagged for fraud from the flag's time on; a credential
withdrawn by a move to another phone counts from the move on (``credential_moved``: the old
phone's code scanned before the move still counts). When the device names a pass id, it must
be the code's.

What follows (``Scan.status``):

- the device accepted, the server accepts: ``confirmed`` — it counts in statistics,
  apportionment and fraud checks;
- the device accepted, the server finds the pass ``revoked`` or the credential moved away
  (``credential_moved``; the device's deny-list was older than the server's): ``rejected``;
- the device accepted, the server finds anything else — no code, not a pass code, an unknown
  key, a bad signature, another phone, outside the window, a replay, no such pass:
  ``disputed``, evidence against the device, counted nowhere;
- the device rejected or could not judge: ``rejected``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import ColumnElement, String, any_, bindparam, func, literal_column, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import QueryableAttribute, Session

from passes.credential import credential_id, unb64url
from passes.keys import KeyStore
from passes.models import Pass, PassMove, Product
from validators import fraud
from validators.models import CONFIRMED, DISPUTED, REJECTED, FraudFlag, Scan
from validators.verify import (
    ACCEPT_CODES,
    CANNOT_JUDGE_CODES,
    Context,
    IssuingKey,
    Result,
    TrustBundle,
    scan_digest,
    verify,
)

# server codes beyond the verifier's
NO_CODE = "no_code"  # the upload carries no code: nothing to verify
UNKNOWN_PASS = "unknown_pass"  # noqa: S105 - a code that verifies, of a pass never issued
PASS_MISMATCH = "pass_mismatch"  # noqa: S105 - the pass row (or the device) says otherwise
# what a device may rightly accept and the server still refuse: the device judged on an older
# deny-list than the server's
EXPLAINED = frozenset({"revoked", "credential_moved"})
# never stale: the server judges as the device did at the time, not by the bundle's age
_TIMELESS = dt.datetime.min.replace(tzinfo=dt.UTC)
_CHUNK = 500


class Upload(Protocol):
    """What the server reads of an uploaded scan."""

    @property
    def id(self) -> str: ...
    @property
    def result(self) -> str: ...
    @property
    def payload(self) -> str | None: ...
    @property
    def pass_id(self) -> str | None: ...
    @property
    def product(self) -> str | None: ...
    @property
    def category(self) -> str | None: ...
    @property
    def service_date(self) -> dt.date | None: ...
    @property
    def scanned_at(self) -> dt.datetime: ...


@dataclasses.dataclass(frozen=True, slots=True)
class KeyWindow:
    """An issuing key, when it was made and the last service date it may vouch for."""

    kid: str
    key: ec.EllipticCurvePublicKey
    published_at: dt.datetime
    not_after: dt.date | None  # the last service date a retired key signed


_windows: dict[str, tuple[tuple[object, ...], tuple[KeyWindow, ...]]] = {}


def key_windows(store: KeyStore) -> tuple[KeyWindow, ...]:
    """Every issuing key ever published, built again only when the keys change."""
    stamp = store.stamp()
    cached = _windows.get(store.kind)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    windows = []
    for info, key in store.history():
        retired = info.state in ("retired", "archived")
        if retired and info.last_service_date is None:
            continue  # retired without having signed anything: it vouches for nothing
        published = dt.datetime.fromisoformat(info.created_at)
        if published.tzinfo is None:
            published = published.replace(tzinfo=dt.UTC)
        windows.append(KeyWindow(
            info.kid, key, published,
            dt.date.fromisoformat(info.last_service_date)
            if retired and info.last_service_date else None))
    _windows[store.kind] = (stamp, tuple(windows))
    return tuple(windows)


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """The server's verdict on one uploaded scan and the pass fields it stores."""

    status: str
    server_result: str
    server_code: str
    digest: str | None
    pass_id: str | None
    product: str | None
    category: str | None
    service_date: dt.date | None


@dataclasses.dataclass(frozen=True, slots=True)
class _PassRow:
    product: str
    category: str
    service_date: dt.date
    status: str


class Judge:
    """Verifies uploaded scans for one device (one batch: it reads the passes it needs once)."""

    def __init__(self, session: Session, windows: Sequence[KeyWindow], operator: str,
                 device_id: str) -> None:
        self.session = session
        # the confirmed scans already stored of the passes judged (see _seen)
        self.history: list[fraud.ScanPoint] = []
        # when this device last had a confirmed accept of each pass (the same-device rule)
        self.seen_passes: dict[str, dt.datetime] = {}
        self.windows = windows
        self.operator = operator
        self.device_id = device_id
        # one bundle for every scan: the keys' windows are service dates, not scan times,
        # and the deny-list is left to the pass rows
        self.bundle = TrustBundle(
            version="server", issued_at=_TIMELESS, max_age=dt.timedelta.max,
            keys={w.kid: IssuingKey(w.key, w.not_after) for w in windows},
            deny=frozenset(), products=_products(session), colours={})

    def judge(self, uploads: Sequence[Upload]) -> dict[str, Verdict]:
        """The verdict on each upload, by scan id (judged in time order, for replays)."""
        named = {claimed_pass_id(u.payload) for u in uploads if u.payload} | {
            u.pass_id for u in uploads if u.pass_id}
        named.discard(None)
        pass_ids = sorted(p for p in named if p)
        passes = self._passes(pass_ids)
        flagged_at = self._flag_times([p for p, row in passes.items() if row.status == "flagged"])
        moved_at = self._move_times(list(passes))
        seen = self._seen(pass_ids)
        verdicts = {}
        for upload in sorted(uploads, key=lambda u: u.scanned_at):
            verdicts[upload.id] = self._one(upload, passes, flagged_at, moved_at, seen)
        return verdicts

    def _one(self, upload: Upload, passes: Mapping[str, _PassRow],
             flagged_at: Mapping[str, dt.datetime], moved_at: Mapping[str, dt.datetime],
             seen: dict[str, dt.datetime]) -> Verdict:
        when = upload.scanned_at
        payload = upload.payload
        if not payload:
            result, code, digest = None, NO_CODE, None
        else:
            result = verify(payload, self.bundle, when,
                            Context(self.operator, seen, self.seen_passes))
            # the key the verifier matches replays by (``seen``), as devices journal it
            digest = scan_digest(payload, result)
            code = result.code
            if result.accepted:
                code = pass_code(result, passes.get(result.pass_id or ""),
                                 flagged_at.get(result.pass_id or ""), when)
                withdrawn = moved_at.get(credential_id(payload.split("~", 1)[0])) if (
                    moved_at) else None
                if code in ACCEPT_CODES and withdrawn is not None and withdrawn <= when:
                    code = "credential_moved"
                if upload.pass_id and upload.pass_id != result.pass_id:
                    code = PASS_MISMATCH
        server_result = "accept" if code in ACCEPT_CODES else (
            "cannot_judge" if code in CANNOT_JUDGE_CODES else "reject")
        if upload.result != "accept":
            status = REJECTED
        elif code in ACCEPT_CODES:
            status = CONFIRMED
        else:
            status = REJECTED if code in EXPLAINED else DISPUTED
        if status == CONFIRMED and digest is not None:
            seen[digest] = when
            if result is not None and result.pass_id:
                self.seen_passes[result.pass_id] = when
        if status == DISPUTED:
            # what the device claimed stays as evidence; it counts nowhere
            return Verdict(status, server_result, code, digest, upload.pass_id, upload.product,
                           upload.category, upload.service_date)
        if result is None:
            return Verdict(status, server_result, code, digest, None, None, None, None)
        return Verdict(status, server_result, code, digest, result.pass_id, result.product,
                       result.category, result.service_date)

    def _passes(self, pass_ids: Sequence[str]) -> dict[str, _PassRow]:
        rows = {}
        for chunk in _chunks(pass_ids):
            for pass_id, product, category, service_date, status in self.session.execute(
                    select(Pass.id, Pass.product_code, Pass.category, Pass.service_date,
                           Pass.status).where(among(self.session, Pass.id, chunk))):
                rows[pass_id] = _PassRow(product, category, service_date, status)
        return rows

    def _move_times(self, pass_ids: Sequence[str]) -> dict[str, dt.datetime]:
        """When each credential of these passes was withdrawn by a move, by credential id."""
        times: dict[str, dt.datetime] = {}
        for chunk in _chunks(pass_ids):
            for withdrawn, at in self.session.execute(
                    select(PassMove.from_credential_id, PassMove.moved_at)
                    .where(among(self.session, PassMove.pass_id, chunk))):
                times[withdrawn] = at
        return times

    def _flag_times(self, pass_ids: Sequence[str]) -> dict[str, dt.datetime]:
        times: dict[str, dt.datetime] = {}
        for chunk in _chunks(pass_ids):
            for pass_id, at in self.session.execute(
                    select(FraudFlag.pass_id, func.min(FraudFlag.created_at))
                    .where(among(self.session, FraudFlag.pass_id, chunk))
                    .group_by(FraudFlag.pass_id)):
                times[pass_id] = at
        return times

    def _seen(self, pass_ids: Sequence[str]) -> dict[str, dt.datetime]:
        """Replay keys of this device's confirmed scans of these passes.

        The confirmed scans of the batch's passes are read once, by pass (its index), and
        kept in :attr:`history` for the fraud check; the device is told apart here: with the
        device in the query the planner may walk all of the device's scans instead.
        """
        seen: dict[str, dt.datetime] = {}
        for chunk in _chunks(pass_ids):
            for row in self.session.execute(
                    select(Scan.id, Scan.pass_id, Scan.service_date, Scan.scanned_at,
                           Scan.operator_id, Scan.vehicle, Scan.lat, Scan.lon, Scan.digest,
                           Scan.device_id)
                    .where(among(self.session, Scan.pass_id, chunk),
                           Scan.status == CONFIRMED)):
                self.history.append(row)
                digest, at = row.digest, row.scanned_at
                if row.device_id != self.device_id:
                    continue
                if digest is not None and (digest not in seen or seen[digest] < at):
                    seen[digest] = at
                if row.pass_id not in self.seen_passes or self.seen_passes[row.pass_id] < at:
                    self.seen_passes[row.pass_id] = at
        return seen


def pass_code(result: Result, row: _PassRow | None, flagged_at: dt.datetime | None,
              when: dt.datetime) -> str:
    """The server's code for an accepted code, given the pass row it names (if any)."""
    if row is None:
        return UNKNOWN_PASS
    if (row.product, row.category, row.service_date) != (
            result.product, result.category, result.service_date):
        return PASS_MISMATCH
    if row.status == "revoked" or (
            row.status == "flagged" and (flagged_at is None or flagged_at <= when)):
        return "revoked"
    return result.code


def claimed_pass_id(payload: str | None) -> str | None:
    """The pass id a code names, read without checking anything (to look rows up in bulk)."""
    if not payload:
        return None
    try:
        body = payload.strip().split("~", 1)[0].split(".")[1]
        claims: Any = json.loads(unb64url(body))
        pass_id = claims.get("i")
    except (IndexError, ValueError, AttributeError, TypeError, RecursionError):
        return None
    return pass_id if isinstance(pass_id, str) and 0 < len(pass_id) <= 32 else None


def _products(session: Session) -> dict[str, dict[str, Any]]:
    """Every product's coverage and hours, as a bundle carries them."""
    return {code: {"operators": list(operators or []), "static_allowed": static_allowed,
                   "valid_from_minutes": valid_from, "day_boundary_minutes": boundary}
            for code, operators, static_allowed, valid_from, boundary in session.execute(
                select(Product.code, Product.operators, Product.static_allowed,
                       Product.valid_from_minutes, Product.day_boundary_minutes))}


def among(session: Session, column: QueryableAttribute[Any], values: Sequence[str]
          ) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``= ANY(array)``, one parameter instead of hundreds
    (psycopg splits and converts a 500-parameter IN list on every batch: ~2 ms a query)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(String)))
    return column.in_(values)


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


def disputed_since(session: Session, device_id: str, since: dt.datetime) -> int:
    """Disputed scans a device uploaded since ``since`` (the partial index answers)."""
    return int(session.scalar(
        select(func.count()).select_from(Scan)
        .where(Scan.status == literal_column(f"'{DISPUTED}'"), Scan.device_id == device_id,
               Scan.received_at >= since)) or 0)
