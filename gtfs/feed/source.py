"""The files of a feed zip or folder: finding them, decoding them, locating bad lines."""

from __future__ import annotations

import contextlib
import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO

from gtfs_kit import constants as gtfs_kit_constants

from maas.errors import FieldError, InvalidInput

REQUIRED_FILES = ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
# What pandas reads as missing under gtfs-kit's options (its own list plus pandas' defaults).
_NA_TEXT = frozenset(
    {"", " ", "nan", "NaN", "null", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN",
     "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "None", "n/a"}
)
_INT_RANGES = {"Int16": (-(2**15), 2**15 - 1), "Int32": (-(2**31), 2**31 - 1)}
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(inf|Inf|INF)")


def invalid(file: str, line: int, column: str, problem: str) -> InvalidInput:
    where = f"{file} line {line} column {column}"
    return InvalidInput(f"{where}: {problem}", errors=[FieldError(where, problem)])


def is_blank_row(row: list[str]) -> bool:
    # pandas skips empty and whitespace-only lines; a row of empty fields (",,") is a row
    return not row or (len(row) == 1 and not row[0].strip())


class Source:
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
            if not any((path / name).is_file() for name in REQUIRED_FILES):
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
            if not is_blank_row(row):
                yield start, row
            start = reader.line_num + 1

    def header(self, name: str) -> list[str]:
        """The column names of ``name`` as written (not stripped); reads only the first lines."""
        with self._stream(name) as stream:
            text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
            return next((row for row in csv.reader(text) if not is_blank_row(row)), [])

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
                        raise invalid(name, line, column, problem)


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

