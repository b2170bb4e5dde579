"""QR codes of credentials and presentations (qrcode; error correction M, path-based SVG)."""

from __future__ import annotations

import struct
import zlib

import qrcode
from qrcode.constants import ERROR_CORRECT_M

MASK = 4
STATIC_MAX_VERSION = 12  # printable, unbound credential
ROTATING_MAX_VERSION = 15  # credential + time + phone signature


# bytes a byte-mode code holds at error correction M, versions 1-15 (ISO/IEC 18004 table 7)
BYTE_CAPACITY_M = (14, 26, 42, 62, 84, 106, 122, 152, 180, 213, 251, 287, 331, 362, 412)


def _code(data: str, max_version: int) -> qrcode.QRCode:
    # The version comes from the capacity table (qrcode's fit=True writes the data once per
    # candidate version), and a fixed mask skips scoring all eight: every mask decodes, and
    # the rotating code is redrawn every few seconds.
    size = len(data.encode("ascii"))
    fitting = [v for v, capacity in enumerate(BYTE_CAPACITY_M, 1) if capacity >= size]
    if not fitting or fitting[0] > max_version:
        needed = fitting[0] if fitting else "over 15"
        raise ValueError(f"code needs QR version {needed}, budget is {max_version}")
    code = qrcode.QRCode(version=fitting[0], error_correction=ERROR_CORRECT_M, border=4,
                         mask_pattern=MASK)
    code.add_data(data.encode("ascii"), optimize=0)  # byte mode: base64url is not alphanumeric
    code.make(fit=False)
    return code


def version(data: str, max_version: int = ROTATING_MAX_VERSION) -> int:
    """The QR version ``data`` needs at error correction M (fails over the budget)."""
    return int(_code(data, max_version).version)


def svg(data: str, max_version: int = ROTATING_MAX_VERSION) -> bytes:
    """An SVG with one path of horizontal runs (small, crisp at any size).

    Written from the module matrix: qrcode's own SVG factories build one element per module.
    """
    matrix = _code(data, max_version).get_matrix()  # includes the quiet zone
    size = len(matrix)
    runs = []
    for y, row in enumerate(matrix):
        x = 0
        while x < size:
            if row[x]:
                start = x
                while x < size and row[x]:
                    x += 1
                runs.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
        f'shape-rendering="crispEdges"><rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(runs)}"/></svg>'
    ).encode("ascii")


def png(data: str, max_version: int = ROTATING_MAX_VERSION, box_size: int = 6) -> bytes:
    """A PNG (1-bit greyscale, black on white), encoded here from the module matrix.

    Drawing one rectangle per module through an image library costs more than the QR code
    itself; a PNG of 1-bit rows needs only zlib.
    """
    matrix = _code(data, max_version).get_matrix()  # includes the quiet zone
    width = len(matrix) * box_size
    raw = bytearray()
    for row in matrix:
        bits = "".join(("0" if dark else "1") * box_size for dark in row)
        bits += "1" * (-len(bits) % 8)
        line = b"\x00" + int(bits, 2).to_bytes(len(bits) // 8, "big")  # filter 0: none
        raw += line * box_size
    header = struct.pack(">IIBBBBB", width, width, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(
        b"IDAT", zlib.compress(bytes(raw), 6)) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
