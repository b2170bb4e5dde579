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

from gtfs.limits import (
    CHUNK,
    DEFAULT_LIMITS,
    Budget,
    FeedLimits,
    LimitedReader,
    check_archive,
    check_folder_file,
    drain,
    over,
    utf8_lines,
    zip_damage,
)
from maas.core.errors import FieldError, InvalidInput

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
    """The files of a feed zip or folder, by base name (zips may nest them one folder deep).

    Every file is read through :mod:`gtfs.limits`: the zip's headers (or the folder's sizes)
    are checked first, and the first time a file is opened it is streamed once, counting its
    bytes, lines and line lengths, before anything parses it.
    """

    def __init__(self, path: Path, limits: FeedLimits = DEFAULT_LIMITS) -> None:
        if not path.exists():
            raise InvalidInput(f"{path}: no such file or folder")
        self.kit_path = path
        self.limits = limits
        self._dir: Path | None = None
        self._members: dict[str, str] = {}
        self._sizes: dict[str, int] = {}
        self._measured: set[str] = set()
        self._line_maps: dict[str, tuple[int, list[int]]] = {}
        if path.is_dir():
            root = path
            if not any((path / name).is_file() for name in REQUIRED_FILES):
                children = [c for c in path.iterdir() if c.is_dir() and c.name[0] not in "._"]
                if len(children) == 1:
                    root = children[0]
            self._dir = self.kit_path = root
            for child in root.iterdir():
                if child.is_file():
                    self._members[child.name] = child.name
                    self._sizes[child.name] = check_folder_file(child, limits)
            total = sum(self._sizes.values())
            if total > limits.max_total_bytes:
                raise over(root.name, f"{total:,} bytes in all", limits.max_total_bytes,
                           "max_total_bytes")
        elif zipfile.is_zipfile(path):
            with zip_damage(self.kit_path.name):
                members = {i.filename: i.file_size for i in check_archive(path, limits)}
            # shallowest first, so a root file wins over a nested copy
            for member in sorted(members, key=lambda m: m.count("/"), reverse=True):
                parts = PurePosixPath(member).parts
                if len(parts) <= 2 and not parts[0].startswith("__MACOSX"):
                    self._members[parts[-1]] = member
                    self._sizes[parts[-1]] = members[member]
            self._zip_path = path
        else:
            raise InvalidInput(f"{path}: neither a GTFS zip nor a folder")
        self._budget = Budget(limits, self.kit_path.name)

    def has(self, name: str) -> bool:
        """True when the feed contains ``name``."""
        return name in self._members

    def size(self, name: str) -> int:
        """The size of ``name`` as the folder or the zip's header gives it."""
        return self._sizes[name]

    @contextlib.contextmanager
    def _raw(self, name: str) -> Iterator[IO[bytes]]:
        with zip_damage(self.kit_path.name):
            if self._dir is not None:
                with (self._dir / name).open("rb") as stream:
                    yield stream
            else:
                with zipfile.ZipFile(self._zip_path) as archive, archive.open(
                    self._members[name]
                ) as stream:
                    yield stream

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        """``name`` as a buffered binary stream, within the limits.

        The first open measures the whole file (bytes, lines, line lengths, the feed's total)
        chunk by chunk, so an oversized file is refused before a parser holds any of it.
        """
        if name not in self._measured:
            with self._raw(name) as raw:
                drain(LimitedReader(raw, name, self.limits, budget=self._budget))
            self._measured.add(name)
        with self._raw(name) as raw:
            # measured: the lines are known to fit; the bytes are counted again (in case the
            # file changed under us)
            yield io.BufferedReader(LimitedReader(raw, name, self.limits, text=False), CHUNK)

    def rows(self, name: str) -> Iterator[tuple[int, list[str]]]:
        """Non-blank CSV rows with the physical line each starts on (the header included).

        Streamed; bytes that are not UTF-8 fail naming their line.
        """
        with self.open(name) as stream:
            reader = csv.reader(utf8_lines(stream, name))
            start = 1
            try:
                for row in reader:
                    if not is_blank_row(row):
                        yield start, row
                    start = reader.line_num + 1
            except csv.Error as exc:
                raise InvalidInput(f"{name} line {reader.line_num}: {exc}") from None

    def header(self, name: str) -> list[str]:
        """The column names of ``name`` as written (not stripped); reads only the first lines."""
        with self.open(name) as stream:
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

