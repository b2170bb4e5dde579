"""The privacy threshold of partner statistics (pure).

A cell (one row of a statistic) that counts fewer than ``k`` distinct passes — or, where no
pass is involved, fewer than ``k`` events — is *suppressed*: its numbers are withheld (null in
JSON, empty in CSV) and the row says ``suppressed: true``. Statistics never carry pass ids
or rider data; only the administrator's fraud view lists flagged passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULT_K = 5


def suppressed(distinct: int, k: int) -> bool:
    """True when a cell of ``distinct`` passes (or events) is too small to show."""
    return distinct < k


def apply(row: Mapping[str, Any], distinct: int, k: int, keep: tuple[str, ...]) -> dict[str, Any]:
    """``row`` as shown: numbers withheld unless ``distinct`` reaches ``k``.

    The fields named in ``keep`` (the cell's labels) are always shown; every other field
    becomes None in a suppressed cell. The result gains ``suppressed``.
    """
    if not suppressed(distinct, k):
        return {**row, "suppressed": False}
    return {name: (value if name in keep else None) for name, value in row.items()} | {
        "suppressed": True}
