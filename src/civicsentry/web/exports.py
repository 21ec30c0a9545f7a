"""CSV and XLSX downloads. Every text cell goes through ``safe_cell``: a value starting
with = + - @ (or tab/CR) gets a leading apostrophe, so a spreadsheet shows it instead of
evaluating it; XLSX cells are also typed as strings, never formulas."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from fastapi.responses import Response

from ..errors import InvalidParams
from ..service import clusters as _clusters
from ..service.summary import safe_cell
from ..store import Workspace

MEMBER_COLUMNS = ("account_id", "handle", "degree", "strength", "coaction_share", "actions")
POST_COLUMNS = ("post_id", "platform", "account_id", "handle", "created_at", "kind", "text")
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        value = " ".join(str(v) for v in value)
    elif value is not None and not isinstance(value, int | float | str):
        value = str(value)
    return safe_cell(value)


def table_bytes(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str) -> bytes:
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(columns)
        for r in rows:
            w.writerow([_cell(r.get(c)) for c in columns])
        return buf.getvalue().encode("utf-8")
    if fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        sheet = wb.active
        sheet.append(list(columns))
        for r in rows:
            sheet.append([_cell(r.get(c)) for c in columns])
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # never a formula, whatever the text
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue()
    raise InvalidParams(f"Export format is csv or xlsx, not {fmt!r}.")


def download(data: bytes, filename: str, fmt: str) -> Response:
    return Response(
        data,
        media_type=MEDIA[fmt],
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


def members(ws: Workspace, cluster_id: int, run_id: int | None, fmt: str, actor: str) -> Response:
    if fmt not in MEDIA:
        raise InvalidParams(f"Export format is csv or xlsx, not {fmt!r}.")
    rows = _clusters.cluster_members(ws, cluster_id, run_id)
    ws.audit("export.members", {"cluster_id": cluster_id, "format": fmt, "rows": len(rows)}, actor)
    return download(table_bytes(rows, MEMBER_COLUMNS, fmt), f"cluster-{cluster_id}.{fmt}", fmt)


def posts(
    rows: list[dict[str, Any]], fmt: str, ws: Workspace, actor: str, what: dict[str, Any]
) -> Response:
    if fmt not in MEDIA:
        raise InvalidParams(f"Export format is csv or xlsx, not {fmt!r}.")
    ws.audit("export.posts", what | {"format": fmt, "rows": len(rows)}, actor)
    return download(table_bytes(rows, POST_COLUMNS, fmt), f"posts.{fmt}", fmt)
