"""Bounds on what a feed may make us read: sizes, lines, rows, JSON depth (pure; no pandas).

Feeds come from outside (an operator's download, a publisher's URL), so a hostile or broken one
must be refused before it costs memory: a zip member that expands to gigabytes, a file that is
one endless line, a JSON document nested a hundred thousand deep. :class:`FeedLimits` holds the
bounds; the defaults fit real city feeds (the NYC Bronx bus feed, 1.16 M stop_times rows, is
about a seventh of the row limit). Every violation is an :class:`maas.core.errors.InvalidInput`
naming the file (and the line), so the CLI prints one line and HTTP answers 422.

Sizes are checked twice: against what a zip's headers claim, before anything is read, and by
counting bytes while streaming, because headers lie. Streams are read in chunks; nothing reads
a whole file before it has been measured.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from maas.core.errors import InvalidInput

if TYPE_CHECKING:
    from maas.core.config import Settings

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
CHUNK = 1 * MiB


@dataclasses.dataclass(frozen=True, slots=True)
class FeedLimits:
    """What one feed import may read; every field has a ``MAAS_*`` setting (see :data:`ENV`)."""

    max_archive_bytes: int = 256 * MiB  # a feed zip (or a download), compressed
    max_file_bytes: int = 512 * MiB  # one file, uncompressed
    max_total_bytes: int = 1 * GiB  # all the files of a feed, uncompressed
    max_line_bytes: int = 64 * KiB  # one line of a text file
    max_rows: int = 5_000_000  # lines of one text file
    max_json_bytes: int = 32 * MiB  # one JSON document (GBFS, on-demand services)
    max_json_depth: int = 64  # nesting of arrays and objects in a JSON document
    fetch_seconds: float = 120.0  # one URL fetch, from connecting to the last byte
    allow_private_urls: bool = False  # fetch loopback, private, link-local ... addresses

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedLimits:
        """The limits the ``MAAS_FEED_*`` and ``MAAS_ALLOW_PRIVATE_URLS`` settings give."""
        return cls(
            max_archive_bytes=settings.feed_max_archive_bytes,
            max_file_bytes=settings.feed_max_file_bytes,
            max_total_bytes=settings.feed_max_total_bytes,
            max_line_bytes=settings.feed_max_line_bytes,
            max_rows=settings.feed_max_rows,
            max_json_bytes=settings.feed_max_json_bytes,
            max_json_depth=settings.feed_max_json_depth,
            fetch_seconds=float(settings.feed_fetch_seconds),
            allow_private_urls=settings.allow_private_urls,
        )

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name != "allow_private_urls" and not value > 0:
                raise ValueError(f"FeedLimits.{field.name} must be positive, not {value!r}")


DEFAULT_LIMITS = FeedLimits()

# field -> the environment variable that sets it (the names the errors and docs quote)
ENV: dict[str, str] = {
    "max_archive_bytes": "MAAS_FEED_MAX_ARCHIVE_BYTES",
    "max_file_bytes": "MAAS_FEED_MAX_FILE_BYTES",
    "max_total_bytes": "MAAS_FEED_MAX_TOTAL_BYTES",
    "max_line_bytes": "MAAS_FEED_MAX_LINE_BYTES",
    "max_rows": "MAAS_FEED_MAX_ROWS",
    "max_json_bytes": "MAAS_FEED_MAX_JSON_BYTES",
    "max_json_depth": "MAAS_FEED_MAX_JSON_DEPTH",
    "fetch_seconds": "MAAS_FEED_FETCH_SECONDS",
    "allow_private_urls": "MAAS_ALLOW_PRIVATE_URLS",
}


def over(where: str, what: str, limit: int, field: str) -> InvalidInput:
    """The error for ``where`` exceeding ``limit``, naming the setting that raises it."""
    return InvalidInput(f"{where}: {what} (the limit is {limit:,}; {ENV[field]} raises it)")


class Budget:
    """Uncompressed bytes read so far from one feed, against ``max_total_bytes``."""

    def __init__(self, limits: FeedLimits, feed: str) -> None:
        self.limits = limits
        self.feed = feed
        self.used = 0

    def spend(self, amount: int, name: str) -> None:
        self.used += amount
        if self.used > self.limits.max_total_bytes:
            raise over(f"{self.feed}", f"more than {self.limits.max_total_bytes:,} bytes "
                       f"uncompressed in all (reached in {name})", self.limits.max_total_bytes,
                       "max_total_bytes")


class LimitedReader(io.RawIOBase):
    """A binary stream that counts what passes: bytes, and (``text=True``) lines and their length.

    Raises :class:`InvalidInput` naming ``name`` (and the line) as soon as a limit is crossed,
    so a caller that reads in chunks never holds more than a chunk of an oversized file.
    A line ends at ``\\n`` or ``\\r``.
    """

    def __init__(self, raw: IO[bytes], name: str, limits: FeedLimits, *, text: bool = True,
                 budget: Budget | None = None, max_bytes: int | None = None) -> None:
        super().__init__()
        self._raw = raw
        self.label = name
        self.limits = limits
        self.text = text
        self.budget = budget
        self.max_bytes = limits.max_file_bytes if max_bytes is None else max_bytes
        self.size = 0
        self.lines = 0  # line breaks seen
        self._open_line = 0  # bytes of the line not yet ended

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._raw.read(len(view))
        self.count(data)
        view[: len(data)] = data
        return len(data)

    def count(self, data: bytes) -> None:
        """Account for ``data``, the next bytes of the stream."""
        self.size += len(data)
        if self.size > self.max_bytes:
            field = "max_file_bytes" if self.max_bytes == self.limits.max_file_bytes \
                else "max_archive_bytes"
            raise over(self.label, f"more than {self.max_bytes:,} bytes", self.max_bytes, field)
        if self.budget is not None:
            self.budget.spend(len(data), self.label)
        if self.text and data:
            self._count_lines(data)

    def _count_lines(self, data: bytes) -> None:
        limit = self.limits.max_line_bytes
        octets = np.frombuffer(data, dtype=np.uint8)
        breaks = np.flatnonzero((octets == 10) | (octets == 13))
        if breaks.size:
            # the open line ends at the first break; then the gaps; then the new open line
            lengths = np.r_[self._open_line + breaks[0], np.diff(breaks) - 1,
                            len(data) - 1 - breaks[-1]]
        else:
            lengths = np.array([self._open_line + len(data)])
        if int(lengths.max()) > limit:
            index = int(np.argmax(lengths > limit))
            start = 0 if index == 0 else int(breaks[index - 1]) + 1
            line = self.lines + 1 + data.count(b"\n", 0, start)
            raise over(f"{self.label} line {line}", f"longer than {limit:,} bytes", limit,
                       "max_line_bytes")
        self._open_line = int(lengths[-1])
        self.lines += max(data.count(b"\n"), data.count(b"\r"))
        if self.lines > self.limits.max_rows:
            raise over(f"{self.label} line {self.limits.max_rows + 1}",
                       f"more than {self.limits.max_rows:,} lines", self.limits.max_rows,
                       "max_rows")


def drain(stream: io.RawIOBase | IO[bytes]) -> None:
    """Read ``stream`` to its end in chunks (a :class:`LimitedReader` checks it on the way)."""
    while stream.read(CHUNK):
        pass


# --- archives ------------------------------------------------------------------------------


@contextlib.contextmanager
def zip_damage(where: str) -> Iterator[None]:
    """Turn a broken zip archive (bad headers, corrupt deflate data, a cut-off file) into one
    :class:`InvalidInput` naming ``where``."""
    try:
        yield
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise InvalidInput(f"{where}: damaged zip archive ({exc})") from None


def check_archive(path: Path, limits: FeedLimits) -> list[zipfile.ZipInfo]:
    """The members of the zip at ``path``, after checking its size and its headers' claims."""
    size = path.stat().st_size
    if size > limits.max_archive_bytes:
        raise over(path.name, f"{size:,} bytes compressed", limits.max_archive_bytes,
                   "max_archive_bytes")
    with zipfile.ZipFile(path) as archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
    total = 0
    for info in members:
        if info.file_size > limits.max_file_bytes:
            raise over(info.filename, f"{info.file_size:,} bytes uncompressed (zip header)",
                       limits.max_file_bytes, "max_file_bytes")
        total += info.file_size
    if total > limits.max_total_bytes:
        raise over(path.name, f"{total:,} bytes uncompressed in all (zip headers)",
                   limits.max_total_bytes, "max_total_bytes")
    return members


def check_folder_file(path: Path, limits: FeedLimits) -> int:
    """The size of ``path`` (a file of a feed folder), refused when over the file limit."""
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise over(path.name, f"{size:,} bytes", limits.max_file_bytes, "max_file_bytes")
    return size


# --- JSON ----------------------------------------------------------------------------------

# possessive: a long string costs no backtracking state
_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(data: bytes, stop: int) -> int:
    """The nesting depth of the arrays and objects in ``data`` (counting stops above ``stop``).

    Strings are skipped, so brackets inside them do not count. Linear, and without recursion.
    """
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop:
                    break
        else:
            depth -= 1
    return deepest


def parse_json(data: bytes, where: str, limits: FeedLimits) -> Any:
    """``data`` parsed as JSON (UTF-8, a byte-order mark allowed) within the size and depth
    limits; every failure is one :class:`InvalidInput` naming ``where``."""
    if len(data) > limits.max_json_bytes:
        raise over(where, f"more than {limits.max_json_bytes:,} bytes of JSON",
                   limits.max_json_bytes, "max_json_bytes")
    if json_depth(data, limits.max_json_depth) > limits.max_json_depth:
        raise over(where, f"JSON nested more than {limits.max_json_depth} deep",
                   limits.max_json_depth, "max_json_depth")
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{where}: not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{where}: invalid JSON at line {exc.lineno} column {exc.colno}: "
                           f"{exc.msg}") from None
    except RecursionError:  # deeper than the interpreter allows, whatever the limit says
        raise InvalidInput(f"{where}: JSON nested too deep") from None


def read_json_file(path: Path, where: str, limits: FeedLimits) -> Any:
    """A JSON file parsed with :func:`parse_json`; its size is checked before it is read."""
    with path.open("rb") as stream:
        return parse_json(read_bounded(stream, where, limits.max_json_bytes, "max_json_bytes"),
                          where, limits)


def read_bounded(stream: IO[bytes], where: str, limit: int, field: str) -> bytes:
    """All of ``stream``, read in chunks, refused as soon as it passes ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    while chunk := stream.read(min(CHUNK, limit + 1 - size)):
        size += len(chunk)
        if size > limit:
            raise over(where, f"more than {limit:,} bytes", limit, field)
        parts.append(chunk)
    return b"".join(parts)


def utf8_lines(stream: IO[bytes], name: str) -> Iterator[str]:
    """The lines of ``stream`` decoded as UTF-8 (a byte-order mark dropped), each with its
    ending; a line that is not UTF-8 fails naming its number and the first bad byte.

    Lines split at ``\\n`` (a character never spans one) and then at a lone ``\\r``, as
    universal newlines would, so :mod:`csv` counts lines the way it always did.
    """
    for number, raw in enumerate(stream, 1):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{name} line {number}: not UTF-8 text (byte 0x{raw[exc.start]:02x})"
            ) from None
        if "\r" in text and not (text.endswith("\r\n") and text.count("\r") == 1):
            yield from (piece for piece in _LONE_CR.split(text) if piece)
        else:
            yield text


_LONE_CR = re.compile(r"(?<=\r)(?!\n)")
