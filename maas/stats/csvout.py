"""Statistics rows as CSV (pure): one column per field, nested counts spread into columns."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel


def _flat(row: BaseModel) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    nested = {name for name, field in type(row).model_fields.items()
              if "dict[" in str(field.annotation)}
    for name, value in row.model_dump(mode="json", by_alias=True).items():
        if name in nested and value is None:
            continue  # a withheld breakdown: its columns stay empty
        if isinstance(value, dict):
            flat.update({f"{name}:{key}": item for key, item in value.items()})
        else:
            flat[name] = value
    return flat


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = " ".join(str(item) for item in value) if isinstance(value, list) else str(value)
    # labels come from devices and feeds: never let a spreadsheet run one as a formula
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_csv(rows: Sequence[BaseModel], columns: Sequence[str] = ()) -> str:
    """CSV text with a header; a suppressed cell's withheld numbers are empty fields.

    ``columns`` come first in that order; fields found only in some rows (reason codes) follow
    in order of appearance. Nested mappings become ``NAME:KEY`` columns.
    """
    flats = [_flat(row) for row in rows]
    header = list(columns)
    for flat in flats:
        header.extend(name for name in flat if name not in header)
    if "suppressed" in header:  # the marker last, where a reader looks for it
        header.remove("suppressed")
        header.append("suppressed")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for flat in flats:
        suppressed = flat.get("suppressed") is True
        writer.writerow([
            "" if suppressed and name.startswith("reasons:") else _cell(flat.get(name))
            for name in header])
    return out.getvalue()
