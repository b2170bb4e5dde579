"""The gtfs-kit bridge: each GTFS file as a DataFrame typed as gtfs-kit types it.

pandas stays inside :class:`Table`; what leaves it are numpy arrays and Python lists. What pandas
raises while reading is turned into :class:`maas.core.errors.InvalidInput` naming file, line
and column.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
import warnings
import zipfile
import zlib
from collections.abc import Collection, Iterable, Iterator
from typing import Any, NoReturn

import numpy as np
import numpy.typing as npt
import pandas as pd
from gtfs_kit import constants as gtfs_kit_constants

from gtfs.feed.source import Source, invalid
from gtfs.gtfstime import parse_time
from maas.core.errors import InvalidInput

# Columns we read that gtfs-kit does not type: left to pandas, "01" would become the number 1.
UNTYPED_COLUMNS = {"stops": {"platform_code": "string"}}
_DATE = re.compile(r"[0-9]{8}")


class Table:
    """One GTFS file as a gtfs-kit DataFrame, with the way back to its physical lines."""

    def __init__(self, source: Source, table: str, frame: Any) -> None:
        self.source = source
        self.name = f"{table}.txt"
        self.frame = frame  # a pandas DataFrame; pandas is untyped here, so it stays inside
        self.rows = len(frame)

    def has(self, column: str) -> bool:
        return column in self.frame.columns

    def line(self, row: int) -> int:
        return self.source.data_line(self.name, row)

    def first_line(self, rows: npt.NDArray[np.int64]) -> int:
        """The line of the earliest of ``rows`` in the file."""
        return self.line(int(rows.min()))

    def fail(self, row: int, column: str, problem: str) -> NoReturn:
        raise invalid(self.name, self.line(row), column, problem)

    def require(self, columns: Iterable[str]) -> None:
        for column in columns:
            if not self.has(column):
                raise invalid(
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
        seconds = np.append(clock_times(texts), -1)  # the last slot is for code -1 (empty)
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


def clock_times(texts: list[str]) -> npt.NDArray[np.int64]:
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
def _pandas_reading(source: Source, tables: Iterable[str]) -> Iterator[None]:
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


# gtfs-kit's read_feed options (gtfs_kit.feed._read_feed_from_path); it opens the files
# itself, which cannot be bounded, so we read each file as it does, through Source.open.
_KIT_OPTIONS: dict[str, Any] = {
    "na_values": ["", " ", "nan", "NaN", "null"],
    "keep_default_na": True,
    "dtype_backend": "numpy_nullable",
    "encoding": "utf-8-sig",
}


def read_tables(source: Source) -> dict[str, Table]:
    """Every standard file gtfs-kit knows, as tables; absent and row-less files are left out."""
    frames: dict[str, Any] = {}
    with _pandas_reading(source, gtfs_kit_constants.DTYPES):
        for table in gtfs_kit_constants.DTYPES:
            frame = _kit_read(source, table)
            if frame is not None:
                frames[table] = frame
    tables: dict[str, Table] = {}
    for table, frame in frames.items():
        if _needs_own_read(source, table, frame):
            frame = _read_own(source, table)
        tables[table] = Table(source, table, frame)
    return tables


def _kit_read(source: Source, table: str) -> Any:
    """One file read exactly as gtfs-kit's read_feed reads it (None when empty or absent)."""
    name = f"{table}.txt"
    if not source.has(name) or not source.size(name):
        return None
    with source.open(name) as stream:
        frame = pd.read_csv(stream, dtype=gtfs_kit_constants.DTYPES[table], **_KIT_OPTIONS)
    if frame.empty:
        return None
    frame.columns = [column.strip() for column in frame.columns]
    return frame


def _needs_own_read(source: Source, table: str, frame: Any) -> bool:
    # gtfs-kit maps dtypes by the raw column names, so " stop_id" is left to inference (and
    # "0001" becomes 1); a delimiter at the end of every line makes pandas take the first
    # column as the index and shift the others.
    header = source.header(f"{table}.txt")
    return (
        any(column != column.strip() for column in header)
        or not isinstance(frame.index, pd.RangeIndex)
        or any(column in frame.columns for column in UNTYPED_COLUMNS.get(table, {}))
    )


def _read_own(source: Source, table: str) -> Any:
    """Read one file with gtfs-kit's options and dtypes, robust to the cases above."""
    with _pandas_reading(source, [table]):
        return _pandas_read(source, table)


def _pandas_read(source: Source, table: str) -> Any:
    name = f"{table}.txt"
    dtypes = {**gtfs_kit_constants.DTYPES[table], **UNTYPED_COLUMNS.get(table, {})}
    header = source.header(name)
    with source.open(name) as stream:
        frame = pd.read_csv(
            stream,
            dtype={raw: dtypes[raw.strip()] for raw in header if raw.strip() in dtypes},
            index_col=False,
            **_KIT_OPTIONS,
        )
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame

