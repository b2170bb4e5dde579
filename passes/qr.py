"""QR codes of credentials and presentations (qrcode; error correction M, path-based SVG)."""

from __future__ import annotations

import io

import qrcode
from qrcode.constants import ERROR_CORRECT_M

MASK = 4
STATIC_MAX_VERSION = 12  # printable, unbound credential
ROTATING_MAX_VERSION = 15  # credential + time + phone signature


def _code(data: str, max_version: int) -> qrcode.QRCode:
    # A fixed mask skips scoring all eight masks (most of qrcode's time); every mask decodes,
    # and the rotating code is redrawn every few seconds.
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4, mask_pattern=MASK)
    code.add_data(data.encode("ascii"), optimize=0)  # byte mode: base64url is not alphanumeric
    code.make(fit=True)
    if code.version > max_version:
        raise ValueError(f"code needs QR version {code.version}, budget is {max_version}")
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
    """A PNG (black on white)."""
    code = _code(data, max_version)
    code.box_size = box_size
    buffer = io.BytesIO()
    code.make_image().save(buffer)
    return buffer.getvalue()
