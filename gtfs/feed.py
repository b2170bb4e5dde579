"""Reading GTFS / GTFS-JP feeds into a normalised, integer-indexed form (pure; no database).

:func:`read_feed` is the one entry point. It reads the standard files with gtfs-kit, the
GTFS-JP extras gtfs-kit drops (translations.txt, agency_jp.txt, office_jp.txt, routes_jp.txt)
with our own code, tolerates what real feeds do, and rejects what is broken with
:class:`maas.core.errors.InvalidInput` naming file, line and column.

Everything downstream (the compiled timetable, the planner) consumes :class:`FeedData`.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import math
import re
import warnings
import zipfile
import zlib
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import IO, Any, NoReturn

import gtfs_kit
import numpy as np
import numpy.typing as npt
import pandas as pd
from gtfs_kit import constants as gtfs_kit_constants

from gtfs.gtfstime import format_time, parse_time
from maas.core.errors import FieldError, InvalidInput

Int32Array = npt.NDArray[np.int32]
Int8Array = npt.NDArray[np.int8]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Agency:
    """agency.txt (+ English and kana names from translations.txt)."""

    id: str
    name: str
    url: str
    timezone: str
    name_en: str | None = None
    name_kana: str | None = None


@dataclass(frozen=True)
class Stop:
    """stops.txt; ``parent`` is the index of the parent station in ``FeedData.stops`` or -1."""

    id: str
    name: str
    lat: float
    lon: float
    location_type: int = 0
    parent: int = -1
    platform_code: str = ""
    zone_id: str = ""
    name_en: str | None = None
    name_kana: str | None = None


@dataclass(frozen=True)
class Route:
    """routes.txt; ``agency`` indexes ``FeedData.agencies``."""

    id: str
    agency: int
    short_name: str
    long_name: str
    route_type: int
    color: str = ""
    long_name_en: str | None = None


@dataclass(frozen=True)
class Trip:
    """trips.txt; ``route`` and ``service`` index ``FeedData.routes`` / ``FeedData.services``."""

    id: str
    route: int
    service: int
    headsign: str = ""
    direction_id: int = -1
    headsign_en: str | None = None


@dataclass(frozen=True)
class Transfer:
    """transfers.txt between two stops (indices); ``min_seconds`` -1 when not given."""

    from_stop: int
    to_stop: int
    transfer_type: int
    min_seconds: int = -1


@dataclass(frozen=True)
class FareRule:
    """fare_attributes.txt joined with fare_rules.txt (empty strings where a rule is open)."""

    fare_id: str
    price_yen: int
    agency: int
    route_id: str = ""
    origin_zone: str = ""
    destination_zone: str = ""


@dataclass(frozen=True)
class FeedData:
    """A whole feed, normalised.

    Stop times are parallel arrays sorted by (trip, stop_sequence); times are seconds after the
    service day's midnight (noon minus 12 h), and may exceed 86,400. ``frequencies.txt`` has
    already been expanded into ordinary trips (ids ``<trip_id>#<hh:mm:ss>``).

    Service days are a boolean matrix ``service_days[service, day]`` over the dates
    ``first_date + day`` (calendar.txt and calendar_dates.txt applied).
    """

    agencies: list[Agency]
    stops: list[Stop]
    routes: list[Route]
    trips: list[Trip]
    services: list[str]
    first_date: dt.date
    service_days: BoolArray  # shape (len(services), n_days)
    st_trip: Int32Array
    st_stop: Int32Array
    st_arrival: Int32Array
    st_departure: Int32Array
    st_pickup: Int8Array  # pickup_type: 0 regular, 1 none, 2/3 arrange
    st_dropoff: Int8Array  # drop_off_type
    transfers: list[Transfer] = field(default_factory=list)
    fares: list[FareRule] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def last_date(self) -> dt.date:
        """The last date the service matrix covers."""
        return self.first_date + dt.timedelta(days=int(self.service_days.shape[1]) - 1)


# --- reading -------------------------------------------------------------------------------------

_REQUIRED_FILES = ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "agency": ("agency_name", "agency_url", "agency_timezone"),
    "stops": ("stop_id", "stop_name", "stop_lat", "stop_lon"),
    "routes": ("route_id", "route_type"),
    "trips": ("route_id", "service_id", "trip_id"),
    "stop_times": ("trip_id", "stop_id", "stop_sequence"),
    "calendar": ("service_id", *_WEEKDAYS, "start_date", "end_date"),
    "calendar_dates": ("service_id", "date", "exception_type"),
    "frequencies": ("trip_id", "start_time", "end_time", "headway_secs"),
    "transfers": ("from_stop_id", "to_stop_id", "transfer_type"),
    "fare_attributes": ("fare_id", "price"),
    "fare_rules": ("fare_id",),
}
# Columns we read that gtfs-kit does not type: left to pandas, "01" would become the number 1.
_UNTYPED_COLUMNS = {"stops": {"platform_code": "string"}}
# What pandas reads as missing under gtfs-kit's options (its own list plus pandas' defaults).
_NA_TEXT = frozenset(
    {"", " ", "nan", "NaN", "null", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN",
     "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "None", "n/a"}
)
_INT_RANGES = {"Int16": (-(2**15), 2**15 - 1), "Int32": (-(2**31), 2**31 - 1)}
_DATE = re.compile(r"[0-9]{8}")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(inf|Inf|INF)")
# The translations.txt (GTFS-JP v2) trans_id is the Japanese text; these fields may carry it.
_TRANSLATED_FIELDS = (
    ("agency", "agency_name"),
    ("stops", "stop_name"),
    ("routes", "route_long_name"),
    ("trips", "trip_headsign"),
)


def _invalid(file: str, line: int, column: str, problem: str) -> InvalidInput:
    where = f"{file} line {line} column {column}"
    return InvalidInput(f"{where}: {problem}", errors=[FieldError(where, problem)])


def _is_blank_row(row: list[str]) -> bool:
    # pandas skips empty and whitespace-only lines; a row of empty fields (",,") is a row
    return not row or (len(row) == 1 and not row[0].strip())


class _Source:
    """The files of a feed zip or folder, by base name (zips may nest them one folder deep)."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise InvalidInput(f"{path}: no such file or folder")
        self.kit_path = path
        self._dir: Path | None = None
        self._members: dict[str, str] = {}
        self._line_maps: dict[str, tuple[int, list[int]]] = {}
        if path.is_dir():
            root = path
            if not any((path / name).is_file() for name in _REQUIRED_FILES):
                children = [c for c in path.iterdir() if c.is_dir() and c.name[0] not in "._"]
                if len(children) == 1:
                    root = children[0]
            self._dir = self.kit_path = root
            self._members = {c.name: c.name for c in root.iterdir() if c.is_file()}
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                members = [i.filename for i in archive.infolist() if not i.is_dir()]
            # shallowest first, so a root file wins over a nested copy
            for member in sorted(members, key=lambda m: m.count("/"), reverse=True):
                parts = PurePosixPath(member).parts
                if len(parts) <= 2 and not parts[0].startswith("__MACOSX"):
                    self._members[parts[-1]] = member
            self._zip_path = path
        else:
            raise InvalidInput(f"{path}: neither a GTFS zip nor a folder")

    def has(self, name: str) -> bool:
        """True when the feed contains ``name``."""
        return name in self._members

    def read_bytes(self, name: str) -> bytes:
        """The raw content of ``name``."""
        if self._dir is not None:
            return (self._dir / name).read_bytes()
        with zipfile.ZipFile(self._zip_path) as archive:
            return archive.read(self._members[name])

    @contextlib.contextmanager
    def _stream(self, name: str) -> Iterator[IO[bytes]]:
        if self._dir is not None:
            with (self._dir / name).open("rb") as stream:
                yield stream
        else:
            with zipfile.ZipFile(self._zip_path) as archive, archive.open(
                self._members[name]
            ) as stream:
                yield stream

    def text(self, name: str) -> str:
        """``name`` decoded as UTF-8 (a byte-order mark dropped); bad bytes name their line."""
        data = self.read_bytes(name)
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise InvalidInput(
                f"{name} line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x})"
            ) from None

    def rows(self, name: str) -> Iterator[tuple[int, list[str]]]:
        """Non-blank CSV rows with the physical line each starts on (the header included)."""
        reader = csv.reader(io.StringIO(self.text(name), newline=""))
        start = 1
        for row in reader:
            if not _is_blank_row(row):
                yield start, row
            start = reader.line_num + 1

    def header(self, name: str) -> list[str]:
        """The column names of ``name`` as written (not stripped); reads only the first lines."""
        with self._stream(name) as stream:
            text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
            return next((row for row in csv.reader(text) if not _is_blank_row(row)), [])

    def _line_map(self, name: str) -> tuple[int, list[int]]:
        if name not in self._line_maps:
            lines = [line for line, _ in self.rows(name)]
            self._line_maps[name] = (lines[0] if lines else 1, lines[1:])
        return self._line_maps[name]

    def header_line(self, name: str) -> int:
        """The physical line of the header (1 unless the file starts with blank lines)."""
        return self._line_map(name)[0]

    def data_line(self, name: str, row: int) -> int:
        """The physical line of data row ``row`` (0-based, as pandas numbers rows)."""
        lines = self._line_map(name)[1]
        return lines[row] if row < len(lines) else row + 2

    def diagnose(self, tables: Iterable[str]) -> None:
        """Find what made pandas refuse the feed and raise it with file, line and column."""
        for table in tables:
            name = f"{table}.txt"
            if not self.has(name):
                continue
            dtypes = gtfs_kit_constants.DTYPES.get(table, {})
            columns: list[str] = []
            allowed = 0
            for line, row in self.rows(name):
                if not columns:
                    columns = [column.strip() for column in row]
                    continue
                if not allowed:
                    # like pandas: one extra field on the first row is taken for an index column
                    allowed = len(columns) + (len(row) == len(columns) + 1)
                if len(row) > allowed:
                    raise InvalidInput(
                        f"{name} line {line}: {len(row)} fields, but the header has {len(columns)}"
                    )
                for column, value in zip(columns, row, strict=False):
                    problem = _number_problem(dtypes.get(column, "string"), value)
                    if problem:
                        raise _invalid(name, line, column, problem)


def _number_problem(dtype: str, value: str) -> str:
    """Why pandas cannot convert ``value`` to gtfs-kit's ``dtype`` ('' when it can)."""
    if dtype == "string" or value in _NA_TEXT or not value.strip():
        return ""
    text = value.strip()
    if not _NUMBER.fullmatch(text):
        return f"{value!r} is not a number"
    if dtype in _INT_RANGES:
        number = float(text)
        low, high = _INT_RANGES[dtype]
        if not number.is_integer():
            return f"{value!r} is not an integer"
        if not low <= number <= high:
            return f"{text} is out of range ({low} to {high})"
    return ""


class _Table:
    """One GTFS file as a gtfs-kit DataFrame, with the way back to its physical lines."""

    def __init__(self, source: _Source, table: str, frame: Any) -> None:
        self.source = source
        self.name = f"{table}.txt"
        self.frame = frame  # a pandas DataFrame; pandas is untyped here, so it stays inside
        self.rows = len(frame)

    def has(self, column: str) -> bool:
        return column in self.frame.columns

    def line(self, row: int) -> int:
        return self.source.data_line(self.name, row)

    def fail(self, row: int, column: str, problem: str) -> NoReturn:
        raise _invalid(self.name, self.line(row), column, problem)

    def require(self, columns: Iterable[str]) -> None:
        for column in columns:
            if not self.has(column):
                raise _invalid(
                    self.name, self.source.header_line(self.name), column,
                    "required column is missing",
                )

    def strings(self, column: str) -> list[str]:
        """Stripped text of ``column``; '' where empty or when the column is absent."""
        if not self.has(column):
            return [""] * self.rows
        return [_text(value) for value in self.frame[column].tolist()]

    def required_strings(self, column: str) -> list[str]:
        values = self.strings(column)
        for row, value in enumerate(values):
            if not value:
                self.fail(row, column, "empty")
        return values

    def ints(
        self,
        column: str,
        default: int,
        allowed: Collection[int] | None = None,
        *,
        required: bool = False,
    ) -> npt.NDArray[np.int64]:
        """Integers of ``column`` (``default`` where empty); values outside ``allowed`` fail."""
        if not self.has(column):
            return np.full(self.rows, default, dtype=np.int64)
        if required:
            empty = np.flatnonzero(self.missing(column))
            if empty.size:
                self.fail(int(empty[0]), column, "empty")
        values: npt.NDArray[np.int64] = self.frame[column].to_numpy(
            dtype=np.int64, na_value=default
        )
        if allowed is not None:
            bad = np.flatnonzero(~np.isin(values, np.fromiter(allowed, dtype=np.int64)))
            if bad.size:
                choices = ", ".join(str(value) for value in sorted(allowed))
                self.fail(int(bad[0]), column, f"{values[bad[0]]} is not one of {choices}")
        return values

    def missing(self, column: str) -> npt.NDArray[np.bool_]:
        if not self.has(column):
            return np.ones(self.rows, dtype=np.bool_)
        result: npt.NDArray[np.bool_] = self.frame[column].isna().to_numpy(dtype=np.bool_)
        return result

    def floats(self, column: str) -> npt.NDArray[np.float64]:
        """Numbers of ``column``; NaN where empty or when the column is absent."""
        if not self.has(column):
            return np.full(self.rows, np.nan)
        # a copy: pandas may hand out a read-only view, and callers fill gaps in place
        result: npt.NDArray[np.float64] = np.array(
            self.frame[column].to_numpy(dtype=np.float64, na_value=np.nan), copy=True
        )
        return result

    def codes(self, column: str) -> tuple[npt.NDArray[np.int64], list[str]]:
        """``column`` factorised: codes (-1 where empty) and the stripped distinct values.

        Factorising first keeps big columns fast: only the distinct values are parsed.
        """
        codes, uniques = pd.factorize(self.frame[column], use_na_sentinel=True)
        values = np.asarray(uniques, dtype=object).tolist()
        return codes.astype(np.int64), [_text(value) for value in values]

    def times(self, column: str) -> npt.NDArray[np.int64]:
        """GTFS times of ``column`` in seconds, -1 where empty, with parse_time's rules."""
        if not self.has(column):
            return np.full(self.rows, -1, dtype=np.int64)
        codes, uniques = pd.factorize(self.frame[column], use_na_sentinel=True)
        texts = [str(value) for value in np.asarray(uniques, dtype=object).tolist()]
        seconds = np.append(_clock_times(texts), -1)  # the last slot is for code -1 (empty)
        problems: dict[int, str] = {}
        for code in np.flatnonzero(seconds[:-1] < 0).tolist():
            # not plain [H]H:MM:SS: parse_time decides (spaces, 3-digit hours, or an error)
            if texts[code].strip():
                try:
                    seconds[code] = parse_time(texts[code])
                except ValueError as exc:
                    problems[code] = str(exc)
        if problems:
            row = int(np.flatnonzero(np.isin(codes, list(problems)))[0])
            self.fail(row, column, problems[int(codes[row])])
        result: npt.NDArray[np.int64] = seconds[codes]
        return result

    def dates(self, column: str) -> list[dt.date]:
        """YYYYMMDD dates of ``column`` (required in every row)."""
        result = []
        for row, value in enumerate(self.strings(column)):
            if not value:
                self.fail(row, column, "empty")
            try:
                if not _DATE.fullmatch(value):
                    raise ValueError(value)
                result.append(dt.date(int(value[:4]), int(value[4:6]), int(value[6:])))
            except ValueError:
                self.fail(row, column, f"{value!r} is not a GTFS date (YYYYMMDD)")
        return result

    def first_duplicate(self, values: list[str], column: str) -> None:
        """Fail on the second occurrence of any value of ``values``."""
        seen: dict[str, int] = {}
        for row, value in enumerate(values):
            if value in seen:
                first = self.line(seen[value])
                self.fail(row, column, f"duplicate {column} {value!r} (first on line {first})")
            seen[value] = row


def _clock_times(texts: list[str]) -> npt.NDArray[np.int64]:
    """Seconds of the texts that are exactly ``H:MM:SS`` or ``HH:MM:SS``; -1 for the others.

    Vectorised over the characters (one row of code points per text); what it leaves at -1
    goes through :func:`parse_time`, so the result never differs from it.
    """
    if not texts:
        return np.zeros(0, dtype=np.int64)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    chars = np.array(texts, dtype="U9").view(np.uint32).reshape(len(texts), 9).astype(np.int64)
    digits = chars - ord("0")
    # "7:42:00" becomes "07:42:00": shift right by one and put a zero digit in front
    short = lengths == 7
    digits[short, 1:] = digits[short, :-1]
    digits[short, 0] = 0
    d = digits[:, :8]
    colon = ord(":") - ord("0")
    plain = (
        ((lengths == 7) | (lengths == 8))
        & np.all((d[:, [0, 1, 3, 4, 6, 7]] >= 0) & (d[:, [0, 1, 3, 4, 6, 7]] <= 9), axis=1)
        & (d[:, 2] == colon)
        & (d[:, 5] == colon)
        & (d[:, 3] <= 5)
        & (d[:, 6] <= 5)
    )
    hours, minutes, secs = d[:, 0] * 10 + d[:, 1], d[:, 3] * 10 + d[:, 4], d[:, 6] * 10 + d[:, 7]
    seconds = hours * 3600 + minutes * 60 + secs
    result: npt.NDArray[np.int64] = np.where(plain, seconds, -1)
    return result


def _text(value: object) -> str:
    if isinstance(value, str):
        return value.strip()
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_KIT_ERRORS = (ValueError, TypeError, UnicodeDecodeError, pd.errors.ParserError)


@contextlib.contextmanager
def _pandas_reading(source: _Source, tables: Iterable[str]) -> Iterator[None]:
    """Turn what pandas raises while reading into InvalidInput naming file, line and column."""
    # Columns gtfs-kit does not type are left to pandas' inference, which warns about mixed
    # types in big files; those are columns we do not use.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.DtypeWarning)
        try:
            yield
        except (zipfile.BadZipFile, zlib.error) as exc:
            raise InvalidInput(f"{source.kit_path.name}: damaged zip archive ({exc})") from None
        except _KIT_ERRORS as exc:
            # pandas names neither the file nor (reliably) the line: find them ourselves
            source.diagnose(tables)
            for table in tables:  # at least the file, with pandas' own words
                if source.has(f"{table}.txt"):
                    try:
                        _pandas_read(source, table)
                    except _KIT_ERRORS as file_exc:
                        raise InvalidInput(f"{table}.txt: unreadable ({file_exc})") from None
            raise InvalidInput(f"{source.kit_path.name}: unreadable feed ({exc})") from None


def _read_tables(source: _Source) -> dict[str, _Table]:
    """Every standard file gtfs-kit knows, as tables; absent and row-less files are left out."""
    with _pandas_reading(source, gtfs_kit_constants.DTYPES):
        kit = gtfs_kit.read_feed(source.kit_path, dist_units="km")
    tables: dict[str, _Table] = {}
    for table in gtfs_kit_constants.DTYPES:
        frame = getattr(kit, table)
        if frame is None:
            continue
        if _needs_own_read(source, table, frame):
            frame = _read_own(source, table)
        tables[table] = _Table(source, table, frame)
    return tables


def _needs_own_read(source: _Source, table: str, frame: Any) -> bool:
    # gtfs-kit maps dtypes by the raw column names, so " stop_id" is left to inference (and
    # "0001" becomes 1); a delimiter at the end of every line makes pandas take the first
    # column as the index and shift the others.
    header = source.header(f"{table}.txt")
    return (
        any(column != column.strip() for column in header)
        or not isinstance(frame.index, pd.RangeIndex)
        or any(column in frame.columns for column in _UNTYPED_COLUMNS.get(table, {}))
    )


def _read_own(source: _Source, table: str) -> Any:
    """Read one file with gtfs-kit's options and dtypes, robust to the cases above."""
    with _pandas_reading(source, [table]):
        return _pandas_read(source, table)


def _pandas_read(source: _Source, table: str) -> Any:
    name = f"{table}.txt"
    dtypes = {**gtfs_kit_constants.DTYPES[table], **_UNTYPED_COLUMNS.get(table, {})}
    header = source.header(name)
    frame = pd.read_csv(
        io.BytesIO(source.read_bytes(name)),
        dtype={raw: dtypes[raw.strip()] for raw in header if raw.strip() in dtypes},
        index_col=False,
        na_values=["", " ", "nan", "NaN", "null"],
        keep_default_na=True,
        dtype_backend="numpy_nullable",
        encoding="utf-8-sig",
    )
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame


class _Translations:
    """translations.txt in the GTFS shape or the GTFS-JP v2 shape (trans_id is the text)."""

    def __init__(self, source: _Source, warnings_: list[str]) -> None:
        # (table, field, language) -> {record_id or field value: translation}
        self._by_record: dict[tuple[str, str, str], dict[str, str]] = {}
        self._by_value: dict[tuple[str, str, str], dict[str, str]] = {}
        name = "translations.txt"
        if not source.has(name):
            return
        rows = source.rows(name)
        header = [column.strip() for column in next(rows, (0, []))[1]]
        standard = {"table_name", "field_name", "language", "translation"} <= set(header)
        legacy = {"trans_id", "lang", "translation"} <= set(header)
        if not (standard or legacy):
            warnings_.append(f"{name}: neither the GTFS nor the GTFS-JP v2 columns; ignored")
            return
        for _, row in rows:
            record = dict(zip(header, (value.strip() for value in row), strict=False))
            language = _language(record.get("language" if standard else "lang", ""))
            translation = record.get("translation", "")
            if not language or not translation:
                continue
            if standard:
                key = (record.get("table_name", ""), record.get("field_name", ""), language)
                if record.get("record_id"):
                    self._by_record.setdefault(key, {}).setdefault(
                        record["record_id"], translation
                    )
                elif record.get("field_value"):
                    self._by_value.setdefault(key, {}).setdefault(
                        record["field_value"], translation
                    )
            elif record.get("trans_id"):
                for table, field_name in _TRANSLATED_FIELDS:
                    self._by_value.setdefault((table, field_name, language), {}).setdefault(
                        record["trans_id"], translation
                    )

    def get(self, table: str, field_name: str, language: str, record_id: str, value: str) -> (
        str | None
    ):
        """The translation of one record's field: by record id first, then by its text."""
        key = (table, field_name, language)
        found = self._by_record.get(key, {}).get(record_id)
        if found is None and value:
            found = self._by_value.get(key, {}).get(value)
        return found


def _language(code: str) -> str:
    lowered = code.lower()
    if lowered == "en" or lowered.startswith("en-"):
        return "en"
    return "kana" if lowered == "ja-hrkt" else ""


def read_feed(path: Path) -> FeedData:
    """Read a GTFS / GTFS-JP zip or folder into :class:`FeedData`.

    Raises :class:`maas.core.errors.InvalidInput` naming file, line and column for what is broken;
    what real feeds do and is merely untidy is tolerated and reported in ``FeedData.warnings``.
    """
    source = _Source(path)
    for name in _REQUIRED_FILES:
        if not source.has(name):
            raise InvalidInput(f"{name}: required file is missing")
    if not (source.has("calendar.txt") or source.has("calendar_dates.txt")):
        raise InvalidInput(
            "calendar.txt: required file is missing (a feed needs calendar.txt or "
            "calendar_dates.txt)"
        )
    tables = _read_tables(source)
    for name in _REQUIRED_FILES:
        if name.removesuffix(".txt") not in tables:
            raise InvalidInput(f"{name}: the file has no data rows")
    for table, columns in _REQUIRED_COLUMNS.items():
        if table in tables:
            tables[table].require(columns)
    if not (tables["stop_times"].has("arrival_time") or tables["stop_times"].has("departure_time")):
        tables["stop_times"].require(["arrival_time"])
    notes: list[str] = []
    translations = _Translations(source, notes)
    agencies, agency_index = _agencies(tables["agency"], translations)
    stops, stop_index = _stops(tables["stops"], translations)
    routes, route_index = _routes(tables["routes"], agency_index, translations)
    services, first_date, days = _calendar(tables.get("calendar"), tables.get("calendar_dates"))
    trips = _trips(tables["trips"], route_index, services, translations, notes)
    if len(services) > days.shape[0]:  # trips named services no calendar defines
        missing = np.zeros((len(services) - days.shape[0], days.shape[1]), dtype=np.bool_)
        days = np.vstack([days, missing])
    trip_index = {trip.id: index for index, trip in enumerate(trips)}
    times = _stop_times(tables["stop_times"], trip_index, stop_index, notes)
    if "frequencies" in tables:
        trips, times = _expand_frequencies(tables["frequencies"], trips, times, notes)
    without = len(trips) - int(np.unique(times.trip).size)
    if without:
        notes.append(f"trips.txt: {without} trips have no stop_times")
    transfers = _transfers(tables.get("transfers"), stop_index, notes)
    fares = _fares(tables.get("fare_attributes"), tables.get("fare_rules"), agency_index,
                   route_agency={route.id: route.agency for route in routes}, notes=notes)
    return FeedData(
        agencies=agencies,
        stops=stops,
        routes=routes,
        trips=trips,
        services=services,
        first_date=first_date,
        service_days=days,
        st_trip=times.trip.astype(np.int32),
        st_stop=times.stop.astype(np.int32),
        st_arrival=times.arrival.astype(np.int32),
        st_departure=times.departure.astype(np.int32),
        st_pickup=times.pickup.astype(np.int8),
        st_dropoff=times.dropoff.astype(np.int8),
        transfers=transfers,
        fares=fares,
        warnings=notes,
    )


def _agencies(table: _Table, translations: _Translations) -> tuple[list[Agency], dict[str, int]]:
    ids = table.strings("agency_id")
    if table.rows > 1:
        for row, agency_id in enumerate(ids):
            if not agency_id:
                table.fail(row, "agency_id", "empty (required when there are several agencies)")
    table.first_duplicate(ids, "agency_id")
    names = table.strings("agency_name")
    agencies = [
        Agency(
            id=agency_id,
            name=name,
            url=url,
            timezone=timezone,
            name_en=translations.get("agency", "agency_name", "en", agency_id, name),
            name_kana=translations.get("agency", "agency_name", "kana", agency_id, name),
        )
        for agency_id, name, url, timezone in zip(
            ids, names, table.strings("agency_url"), table.strings("agency_timezone"), strict=True
        )
    ]
    return agencies, {agency.id: index for index, agency in enumerate(agencies)}


def _stops(table: _Table, translations: _Translations) -> tuple[list[Stop], dict[str, int]]:
    ids = table.required_strings("stop_id")
    table.first_duplicate(ids, "stop_id")
    index = {stop_id: row for row, stop_id in enumerate(ids)}
    kinds = table.ints("location_type", 0, range(5))
    parents = []
    for row, parent_id in enumerate(table.strings("parent_station")):
        if parent_id and parent_id not in index:
            table.fail(row, "parent_station", f"unknown stop_id {parent_id!r} (not in stops.txt)")
        parents.append(index.get(parent_id, -1))
    lat, lon = table.floats("stop_lat"), table.floats("stop_lon")
    for row in np.flatnonzero(np.isnan(lat) | np.isnan(lon)).tolist():
        parent = parents[row]
        # generic nodes and boarding areas may leave out coordinates: they are where the parent is
        if kinds[row] >= 3 and parent >= 0 and not np.isnan(lat[parent] + lon[parent]):
            lat[row], lon[row] = lat[parent], lon[parent]
        else:
            column = "stop_lat" if np.isnan(lat[row]) else "stop_lon"
            table.fail(row, column, f"empty (required for location_type {kinds[row]})")
    for column, values, limit, what in (
        ("stop_lat", lat, 90, "latitude"), ("stop_lon", lon, 180, "longitude")
    ):
        bad = np.flatnonzero(~(np.abs(values) <= limit))
        if bad.size:
            value = values[bad[0]]
            table.fail(int(bad[0]), column, f"{value} is not a {what} (-{limit} to {limit})")
    names = table.strings("stop_name")
    stops = [
        Stop(
            id=stop_id,
            name=name,
            lat=float(lat[row]),
            lon=float(lon[row]),
            location_type=int(kinds[row]),
            parent=parents[row],
            platform_code=platform_code,
            zone_id=zone_id,
            name_en=translations.get("stops", "stop_name", "en", stop_id, name),
            name_kana=translations.get("stops", "stop_name", "kana", stop_id, name),
        )
        for row, (stop_id, name, platform_code, zone_id) in enumerate(
            zip(ids, names, table.strings("platform_code"), table.strings("zone_id"), strict=True)
        )
    ]
    return stops, index


def _routes(
    table: _Table, agency_index: dict[str, int], translations: _Translations
) -> tuple[list[Route], dict[str, int]]:
    ids = table.required_strings("route_id")
    table.first_duplicate(ids, "route_id")
    route_types = table.ints("route_type", 0, required=True)
    agencies = []
    for row, agency_id in enumerate(table.strings("agency_id")):
        if agency_id in agency_index:
            agencies.append(agency_index[agency_id])
        elif len(agency_index) == 1 and (not agency_id or "" in agency_index):
            agencies.append(0)  # the only agency (agency.txt may not even give it an id)
        elif not agency_id:
            table.fail(row, "agency_id", "empty (required when there are several agencies)")
        else:
            table.fail(row, "agency_id", f"unknown agency_id {agency_id!r} (not in agency.txt)")
    long_names = table.strings("route_long_name")
    routes = [
        Route(
            id=route_id,
            agency=agencies[row],
            short_name=short_name,
            long_name=long_name,
            route_type=int(route_types[row]),
            color=color,
            long_name_en=translations.get("routes", "route_long_name", "en", route_id, long_name),
        )
        for row, (route_id, short_name, long_name, color) in enumerate(
            zip(ids, table.strings("route_short_name"), long_names, table.strings("route_color"),
                strict=True)
        )
    ]
    return routes, {route.id: index for index, route in enumerate(routes)}


def _calendar(
    calendar: _Table | None, calendar_dates: _Table | None
) -> tuple[list[str], dt.date, BoolArray]:
    """Service ids and the service-day matrix from the earliest to the latest date given."""
    ids: list[str] = []
    weeks: list[npt.NDArray[np.int64]] = []
    starts: list[dt.date] = []
    ends: list[dt.date] = []
    if calendar is not None:
        ids = calendar.required_strings("service_id")
        calendar.first_duplicate(ids, "service_id")
        flags = [calendar.ints(day, 0, (0, 1), required=True) for day in _WEEKDAYS]
        weeks = list(np.stack(flags, axis=1))
        starts, ends = calendar.dates("start_date"), calendar.dates("end_date")
        for row, (start, end) in enumerate(zip(starts, ends, strict=True)):
            if end < start:
                calendar.fail(row, "end_date", f"{end:%Y%m%d} is before start_date {start:%Y%m%d}")
    extra_ids: list[str] = []
    extra_dates: list[dt.date] = []
    kinds = np.zeros(0, dtype=np.int64)
    if calendar_dates is not None:
        extra_ids = calendar_dates.required_strings("service_id")
        extra_dates = calendar_dates.dates("date")
        kinds = calendar_dates.ints("exception_type", 0, (1, 2), required=True)
    every_date = starts + ends + extra_dates
    if not every_date:
        raise InvalidInput("calendar.txt: no service dates in calendar.txt or calendar_dates.txt")
    first, last = min(every_date), max(every_date)
    services = list(dict.fromkeys(ids + extra_ids))
    index = {service: row for row, service in enumerate(services)}
    days = np.zeros((len(services), (last - first).days + 1), dtype=np.bool_)
    weekday = (first.weekday() + np.arange(days.shape[1])) % 7
    for service, week, start, end in zip(ids, weeks, starts, ends, strict=True):
        span = slice((start - first).days, (end - first).days + 1)
        days[index[service], span] = (week[weekday] == 1)[span]
    for service, date, kind in zip(extra_ids, extra_dates, kinds, strict=True):
        days[index[service], (date - first).days] = kind == 1
    return services, first, days


def _trips(
    table: _Table,
    route_index: dict[str, int],
    services: list[str],
    translations: _Translations,
    notes: list[str],
) -> list[Trip]:
    """trips.txt; service ids found in no calendar are appended to ``services`` (no days)."""
    ids = table.required_strings("trip_id")
    table.first_duplicate(ids, "trip_id")
    routes = []
    for row, route_id in enumerate(table.required_strings("route_id")):
        if route_id not in route_index:
            table.fail(row, "route_id", f"unknown route_id {route_id!r} (not in routes.txt)")
        routes.append(route_index[route_id])
    service_index = {service: row for row, service in enumerate(services)}
    unknown: list[str] = []
    service_rows = []
    for service in table.required_strings("service_id"):
        if service not in service_index:
            unknown.append(service)
            service_index[service] = len(services)
            services.append(service)
        service_rows.append(service_index[service])
    if unknown:
        notes.append(
            f"trips.txt: service_id {', '.join(map(repr, unknown))} is in neither calendar.txt "
            "nor calendar_dates.txt; those trips never run"
        )
    directions = table.ints("direction_id", -1, (-1, 0, 1))
    headsigns = table.strings("trip_headsign")
    return [
        Trip(
            id=trip_id,
            route=routes[row],
            service=service_rows[row],
            headsign=headsign,
            direction_id=int(directions[row]),
            headsign_en=translations.get("trips", "trip_headsign", "en", trip_id, headsign),
        )
        for row, (trip_id, headsign) in enumerate(zip(ids, headsigns, strict=True))
    ]


@dataclass
class _StopTimes:
    """Stop-time columns (int64 while we work on them), sorted by (trip, stop_sequence)."""

    trip: npt.NDArray[np.int64]
    stop: npt.NDArray[np.int64]
    arrival: npt.NDArray[np.int64]
    departure: npt.NDArray[np.int64]
    pickup: npt.NDArray[np.int64]
    dropoff: npt.NDArray[np.int64]

    def take(self, rows: npt.NDArray[np.int64]) -> _StopTimes:
        return _StopTimes(
            self.trip[rows], self.stop[rows], self.arrival[rows], self.departure[rows],
            self.pickup[rows], self.dropoff[rows],
        )


def _lookup(
    table: _Table, column: str, index: dict[str, int], target: str
) -> npt.NDArray[np.int64]:
    """Indices of the ids in ``column``; unknown or empty ids fail."""
    codes, uniques = table.codes(column)
    # the extra last slot is where code -1 (empty) lands
    mapped = np.array([index.get(u, -1) if u else -2 for u in uniques] + [-2], dtype=np.int64)
    result: npt.NDArray[np.int64] = mapped[codes]
    bad = np.flatnonzero(result < 0)
    if bad.size:
        row = int(bad[0])
        if result[row] == -2:
            table.fail(row, column, "empty")
        table.fail(row, column, f"unknown {column} {uniques[codes[row]]!r} (not in {target})")
    return result


def _first(table: _Table, rows: npt.NDArray[np.int64]) -> int:
    """The line of the earliest of ``rows`` in the file."""
    return table.line(int(rows.min()))


def _stop_times(
    table: _Table, trip_index: dict[str, int], stop_index: dict[str, int], notes: list[str]
) -> _StopTimes:
    trip = _lookup(table, "trip_id", trip_index, "trips.txt")
    stop = _lookup(table, "stop_id", stop_index, "stops.txt")
    sequence = table.ints("stop_sequence", 0, required=True)
    negative = np.flatnonzero(sequence < 0)
    if negative.size:
        table.fail(int(negative[0]), "stop_sequence", f"{sequence[negative[0]]} is negative")
    times = _StopTimes(
        trip,
        stop,
        table.times("arrival_time"),
        table.times("departure_time"),
        table.ints("pickup_type", 0, range(4)),
        table.ints("drop_off_type", 0, range(4)),
    )
    order = np.lexsort((sequence, trip))
    times, sequence, rows = times.take(order), sequence[order], order
    distance = table.floats("shape_dist_traveled")[order]
    trip, arrival, departure = times.trip, times.arrival, times.departure
    n = trip.size

    same_trip = trip[1:] == trip[:-1]
    repeated = np.flatnonzero(same_trip & (sequence[1:] == sequence[:-1]))
    if repeated.size:
        at = int(repeated[np.argmin(rows[repeated + 1])])
        table.fail(
            int(rows[at + 1]), "stop_sequence",
            f"duplicate stop_sequence {sequence[at]} in trip {table.strings('trip_id')[rows[at]]!r}"
            f" (first on line {table.line(int(rows[at]))})",
        )

    only_departure = (arrival < 0) & (departure >= 0)
    only_arrival = (departure < 0) & (arrival >= 0)
    arrival[only_departure] = departure[only_departure]
    departure[only_arrival] = arrival[only_arrival]
    copied = int(only_departure.sum() + only_arrival.sum())
    if copied:
        notes.append(
            f"stop_times.txt: {copied} stop times give only one of arrival_time and "
            f"departure_time (first on line {_first(table, rows[only_departure | only_arrival])});"
            " it was used for both"
        )

    untimed = arrival < 0
    starts = np.flatnonzero(np.r_[True, ~same_trip])
    ends = np.r_[starts[1:], n] - 1
    open_ends = np.r_[starts[untimed[starts]], ends[untimed[ends]]]
    if open_ends.size:
        at = int(open_ends[np.argmin(rows[open_ends])])
        table.fail(
            int(rows[at]), "arrival_time",
            "empty at the first or last stop of a trip (only stops between timed stops can be "
            "interpolated)",
        )

    timed = np.flatnonzero(~untimed)
    early_departure = timed[departure[timed] < arrival[timed]]
    follows = (trip[timed[1:]] == trip[timed[:-1]]) & (arrival[timed[1:]] < departure[timed[:-1]])
    backwards = timed[1:][follows]
    if early_departure.size or backwards.size:
        candidates = np.r_[early_departure, backwards]
        at = int(candidates[np.argmin(rows[candidates])])
        trip_id = table.strings("trip_id")[rows[at]]
        if departure[at] < arrival[at]:
            table.fail(
                int(rows[at]), "departure_time",
                f"{format_time(int(departure[at]))} is before the arrival "
                f"{format_time(int(arrival[at]))} at the same stop (trip {trip_id!r})",
            )
        previous = int(timed[np.searchsorted(timed, at) - 1])
        table.fail(
            int(rows[at]), "arrival_time",
            f"{format_time(int(arrival[at]))} is before the departure "
            f"{format_time(int(departure[previous]))} from the previous stop (trip {trip_id!r})",
        )

    if untimed.any():
        _interpolate(arrival, departure, untimed, distance)
        notes.append(
            f"stop_times.txt: {int(untimed.sum())} stop times without arrival_time and "
            f"departure_time (first on line {_first(table, rows[untimed])}) were interpolated "
            "between the timed stops around them"
        )
    return times


def _interpolate(
    arrival: npt.NDArray[np.int64],
    departure: npt.NDArray[np.int64],
    untimed: npt.NDArray[np.bool_],
    distance: npt.NDArray[np.float64],
) -> None:
    """Fill untimed rows in place, linearly between the timed rows around them.

    By shape_dist_traveled where it is given and increasing, else by the count of stops. The
    first and last stop of every trip are timed, so the neighbours are in the same trip.
    """
    n = arrival.size
    position = np.arange(n)
    before = np.maximum.accumulate(np.where(untimed, -1, position))
    after = np.minimum.accumulate(np.where(untimed, n, position)[::-1])[::-1]
    rows = np.flatnonzero(untimed)
    low, high = before[rows], after[rows]
    fraction = (rows - low) / (high - low)
    d_low, d_high, d_row = distance[low], distance[high], distance[rows]
    by_distance = np.isfinite(d_low) & np.isfinite(d_high) & np.isfinite(d_row) & (d_high > d_low)
    with np.errstate(invalid="ignore", divide="ignore"):
        along = np.clip((d_row - d_low) / (d_high - d_low), 0.0, 1.0)
    fraction = np.where(by_distance, along, fraction)
    start = departure[low]
    filled = start + np.floor(fraction * (arrival[high] - start) + 0.5).astype(np.int64)
    arrival[rows] = filled
    departure[rows] = filled


def _expand_frequencies(
    table: _Table, trips: list[Trip], times: _StopTimes, notes: list[str]
) -> tuple[list[Trip], _StopTimes]:
    """Replace each frequency-based trip by one ordinary trip per departure.

    Departures run from start_time while before end_time, every headway_secs; the template's
    times are shifted so its first departure is the departure. exact_times 0 and 1 alike.
    """
    template = _lookup(table, "trip_id", {trip.id: i for i, trip in enumerate(trips)}, "trips.txt")
    start, end = table.times("start_time"), table.times("end_time")
    for column, values in (("start_time", start), ("end_time", end)):
        empty = np.flatnonzero(values < 0)
        if empty.size:
            table.fail(int(empty[0]), column, "empty")
    headway = table.ints("headway_secs", 0, required=True)
    table.ints("exact_times", 0, (0, 1))
    departures: dict[int, list[int]] = {}
    for row in range(table.rows):
        if headway[row] <= 0:
            table.fail(row, "headway_secs", f"{headway[row]} is not a positive number of seconds")
        if end[row] < start[row]:
            table.fail(
                row, "end_time",
                f"{format_time(int(end[row]))} is before start_time {format_time(int(start[row]))}",
            )
        departures.setdefault(int(template[row]), []).extend(
            range(int(start[row]), int(end[row]), int(headway[row]))
        )
    counts = np.bincount(times.trip, minlength=len(trips))
    offsets = np.r_[0, np.cumsum(counts)]
    expanded: list[Trip] = []
    source: list[int] = []
    shift: list[int] = []
    repeated = 0
    for index, trip in enumerate(trips):
        if index not in departures:
            expanded.append(trip)
            source.append(index)
            shift.append(0)
            continue
        first = int(times.departure[offsets[index]]) if counts[index] else 0
        unique = sorted(set(departures[index]))
        repeated += len(departures[index]) - len(unique)
        for departure in unique:
            expanded.append(replace(trip, id=f"{trip.id}#{format_time(departure)}"))
            source.append(index)
            shift.append(departure - first)
    if repeated:
        notes.append(
            f"frequencies.txt: {repeated} departures given twice by overlapping periods were "
            "expanded once"
        )
    lengths = counts[source]
    begin = np.repeat(offsets[source] - (np.cumsum(lengths) - lengths), lengths)
    rows = np.arange(int(lengths.sum())) + begin
    moved = times.take(rows)
    moved.trip = np.repeat(np.arange(len(expanded)), lengths)
    shifts = np.repeat(np.array(shift, dtype=np.int64), lengths)
    moved.arrival = moved.arrival + shifts
    moved.departure = moved.departure + shifts
    return expanded, moved


def _transfers(
    table: _Table | None, stop_index: dict[str, int], notes: list[str]
) -> list[Transfer]:
    if table is None:
        return []
    specific = np.zeros(table.rows, dtype=np.bool_)
    for column in ("from_trip_id", "to_trip_id", "from_route_id", "to_route_id"):
        specific |= ~table.missing(column)
    kinds = table.ints("transfer_type", 0, range(6))
    minimum = table.ints("min_transfer_time", -1)
    transfers = []
    without_stops = 0
    for row, (origin, destination) in enumerate(
        zip(table.strings("from_stop_id"), table.strings("to_stop_id"), strict=True)
    ):
        if specific[row]:
            continue
        if not origin or not destination:
            without_stops += 1
            continue
        for column, stop_id in (("from_stop_id", origin), ("to_stop_id", destination)):
            if stop_id not in stop_index:
                table.fail(row, column, f"unknown stop_id {stop_id!r} (not in stops.txt)")
        transfers.append(
            Transfer(stop_index[origin], stop_index[destination], int(kinds[row]),
                     int(minimum[row]))
        )
    if specific.any():
        notes.append(
            f"transfers.txt: {int(specific.sum())} rows for particular trips or routes "
            f"(first on line {_first(table, np.flatnonzero(specific))}) were ignored"
        )
    if without_stops:
        notes.append(f"transfers.txt: {without_stops} rows without both stops were ignored")
    return transfers


def _fares(
    attributes: _Table | None,
    rules: _Table | None,
    agency_index: dict[str, int],
    route_agency: dict[str, int],
    notes: list[str],
) -> list[FareRule]:
    if attributes is None:
        if rules is not None:
            notes.append("fare_rules.txt: no fare_attributes.txt to give prices; ignored")
        return []
    fare_ids = attributes.required_strings("fare_id")
    attributes.first_duplicate(fare_ids, "fare_id")
    prices = attributes.floats("price")
    for row in np.flatnonzero(~(prices >= 0)).tolist():
        problem = "empty" if np.isnan(prices[row]) else f"{prices[row]} is not a price"
        attributes.fail(row, "price", problem)
    currencies = {c for c in attributes.strings("currency_type") if c and c != "JPY"}
    if currencies:
        notes.append(
            f"fare_attributes.txt: currency {', '.join(sorted(currencies))} is not JPY; "
            "prices were kept as given"
        )
    fare_agency: dict[str, int] = {}
    for row, agency_id in enumerate(attributes.strings("agency_id")):
        if agency_id and agency_id not in agency_index:
            attributes.fail(
                row, "agency_id", f"unknown agency_id {agency_id!r} (not in agency.txt)"
            )
        if agency_id or len(agency_index) == 1:
            fare_agency[fare_ids[row]] = agency_index.get(agency_id, 0)
    matched: dict[str, list[tuple[str, str, str]]] = {fare_id: [] for fare_id in fare_ids}
    if rules is not None:
        contains = 0
        for row, (fare_id, route_id, origin, destination, zone) in enumerate(
            zip(
                rules.required_strings("fare_id"), rules.strings("route_id"),
                rules.strings("origin_id"), rules.strings("destination_id"),
                rules.strings("contains_id"), strict=True,
            )
        ):
            if fare_id not in matched:
                rules.fail(
                    row, "fare_id", f"unknown fare_id {fare_id!r} (not in fare_attributes.txt)"
                )
            if zone:
                contains += 1
                continue
            matched[fare_id].append((route_id, origin, destination))
        if contains:
            notes.append(f"fare_rules.txt: {contains} rules with contains_id were ignored")
    fares = []
    for fare_id, price in zip(fare_ids, prices, strict=True):
        yen = math.floor(float(price) + 0.5)
        for route_id, origin, destination in matched[fare_id] or [("", "", "")]:
            agency = fare_agency.get(fare_id, route_agency.get(route_id, 0))
            fares.append(FareRule(fare_id, yen, agency, route_id, origin, destination))
    return fares


def feed_summary(feed: FeedData) -> dict[str, object]:
    """Counts, the service date range (ISO dates) and the number of warnings of a feed."""
    return {
        "agencies": len(feed.agencies),
        "stops": len(feed.stops),
        "routes": len(feed.routes),
        "trips": len(feed.trips),
        "stop_times": int(feed.st_trip.size),
        "service_start": feed.first_date.isoformat(),
        "service_end": feed.last_date.isoformat(),
        "warnings": len(feed.warnings),
    }
