"""CSV downloads of the operator console's tables (`?format=csv`): one row per list item, nested
objects flattened to `<key>_<subkey>` columns, cells that a spreadsheet would run as a formula
neutralised."""

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from fastapi import Response

# A cell starting with one of these is a formula in Excel, LibreOffice and Google Sheets (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not _is_number(text):
        return "'" + text  # phone numbers (+98…) and negative amounts are numbers, kept as they are
    return text


def _is_number(text: str) -> bool:
    body = text[1:] if text[:1] in "+-" else text
    return body.replace(".", "", 1).isdigit()


def flatten(item: dict[str, Any], nested: Iterable[str] = ()) -> dict[str, Any]:
    """The keys named in `nested` (dicts such as revenue per currency) become one column per subkey."""
    row: dict[str, Any] = {}
    for key, value in item.items():
        if key in nested and isinstance(value, dict):
            row.update({f"{key}_{sub}": v for sub, v in value.items()})
        else:
            row[key] = value
    return row


def csv_response(filename: str, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Response:
    """`columns`: the header when there are no rows, else the union of the rows' keys in first-seen order."""
    header = list(columns or [])
    for row in rows:
        header.extend(k for k in row if k not in header)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(row.get(k)) for k in header])
    return Response(
        out.getvalue(), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )
