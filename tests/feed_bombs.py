"""Hostile feed archives, built at test time in little memory and time (nothing big is committed).

A zip is written by hand so that its members' deflate streams can be repeated blocks: one
megabyte compressed once (about a kilobyte) and written N times is N megabytes of content, so a
3 GB member costs a 3 MB file and no 3 GB buffer. Headers may claim a size of our choosing.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MiB = 2**20


@dataclass(frozen=True)
class Member:
    """One zip member: its raw deflate stream, CRC-32, real size and the size its headers claim."""

    name: str
    data: bytes
    crc: int
    size: int
    declared: int


def member(name: str, prefix: bytes, chunk: bytes = b"", repeats: int = 0,
           declared: int | None = None, *, real_crc: bool = True) -> Member:
    """``prefix`` then ``chunk`` ``repeats`` times, deflated without ever holding the whole."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    # a full flush resets the history: the block stands alone and can be repeated
    body = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH) if repeats else b""
    data = head + body * repeats + compressor.flush()
    crc = zlib.crc32(prefix)
    if real_crc:
        for _ in range(repeats):
            crc = zlib.crc32(chunk, crc)
    size = len(prefix) + len(chunk) * repeats
    if size >= 2**32:
        raise ValueError("members of 4 GiB or more need zip64, which this writer lacks")
    return Member(name, data, crc, size, size if declared is None else declared)


def write_zip(path: Path, members: list[Member]) -> Path:
    """A zip of ``members`` (deflated), with the sizes they declare in both headers."""
    with path.open("wb") as out:
        central = bytearray()
        for item in members:
            offset = out.tell()
            name = item.name.encode()
            out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, item.crc,
                                  len(item.data), item.declared, len(name), 0) + name)
            out.write(item.data)
            central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21,
                                   item.crc, len(item.data), item.declared, len(name), 0, 0, 0,
                                   0, 0, offset) + name
        start = out.tell()
        out.write(bytes(central))
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members),
                              len(central), start, 0))
    return path


def feed_zip(path: Path, files: Mapping[str, str], *hostile: Member) -> Path:
    """A feed zip: the small ``files`` as they are, and the ``hostile`` members replacing any
    file of the same name."""
    replaced = {item.name for item in hostile}
    plain = [member(name, text.encode()) for name, text in files.items() if name not in replaced]
    return write_zip(path, plain + list(hostile))


def zip_bomb(path: Path, files: Mapping[str, str], gigabytes: int = 3) -> Path:
    """A feed whose stop_times.txt expands to ``gigabytes`` GiB of digits (honest headers)."""
    header = b"trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
    return feed_zip(path, files, member("stop_times.txt", header, b"0" * MiB,
                                        gigabytes * 1024 - 1))
