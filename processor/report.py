"""The result workbook, declared as data and rendered by one renderer.

Analytics return :class:`ResultSheet` objects (blocks of tables, notes, charts, conditional
formats); :func:`render` writes them, after the input's own sheets, into one .xlsx. The CLI,
the drop-folder service and the ribbon buttons all use this one renderer (DESIGN §5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

ChartKind = Literal["bar", "col", "line", "pie"]


@dataclass(frozen=True)
class Chart:
    """A native Excel chart over columns of the block it belongs to.

    ``categories`` and ``values`` name columns of the block's frame (display labels).
    ``mark_row`` (0-based row of the frame) highlights one point, e.g. the profit curve's peak.
    """

    kind: ChartKind
    title: str
    categories: str
    values: tuple[str, ...]
    y_title: str = ""
    x_title: str = ""
    mark_row: int | None = None
    width_cm: float = 16.0
    height_cm: float = 8.0


@dataclass(frozen=True)
class Block:
    """A titled table on a result sheet. Columns are display labels (zh-TW), in order.

    ``formats`` maps a column to an Excel number format ("0.0%", "#,##0", "yyyy/mm/dd").
    ``color_scale`` columns get a green→yellow→red 3-colour scale (low→high; reverse with
    ``color_scale_reverse``); ``data_bars`` columns get data bars. ``as_table`` makes it an
    Excel table with filter buttons (the first block of a sheet also gets frozen headers).
    """

    frame: pd.DataFrame
    title: str | None = None
    formats: dict[str, str] = field(default_factory=dict)
    color_scale: tuple[str, ...] = ()
    color_scale_reverse: bool = False
    data_bars: tuple[str, ...] = ()
    charts: tuple[Chart, ...] = ()
    as_table: bool = True
    widths: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ResultSheet:
    """One result sheet: notes on top (rules, sources, caveats), then its blocks in order."""

    name: str
    blocks: tuple[Block, ...]
    notes: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# Rendering (openpyxl). The only place that knows about cells, styles and charts.

import datetime as _dt
import re as _re
import unicodedata as _ud

import numpy as _np

HEADER_FILL = "1F4E78"
TITLE_SIZE = 13
MAX_EXCEL_ROWS = 1_048_576
MAX_COPIED_CSV_ROWS = 100_000  # larger CSVs are not copied into the result: it would take minutes
_INVALID_SHEET = _re.compile(r"[\[\]:*?/\\]")


def _display_width(text: str) -> int:
    return sum(2 if _ud.east_asian_width(ch) in "WF" else 1 for ch in str(text))


def _cell_value(value):
    """A frame value as openpyxl wants it (None for missing, python scalars, naive datetimes)."""
    if value is None:
        return None
    if isinstance(value, float) and _np.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime().replace(tzinfo=None)
    if isinstance(value, _np.generic):
        value = value.item()
        if isinstance(value, float) and _np.isnan(value):
            return None
    if isinstance(value, (_dt.datetime, _dt.date, int, float, str, bool)):
        return value
    return str(value)


def text_cell(ws, value):
    """A write-only-safe cell: strings are always text, never formulas (=, +, -, @ included)."""
    from openpyxl.cell.cell import Cell

    value = _cell_value(value)
    cell = Cell(ws)
    if isinstance(value, str):
        cell._value = value  # bypass openpyxl's "starts with = means formula" binding
        cell.data_type = "s"
    else:
        cell.value = value
    return cell


def safe_sheet_name(name: str, taken: set[str]) -> str:
    """A valid, unique (case-insensitively, as Excel compares) sheet name of ≤ 31 characters."""
    base = _INVALID_SHEET.sub("_", name).strip("'")[:31] or "Sheet"
    candidate, n = base, 2
    while candidate.lower() in {t.lower() for t in taken}:
        suffix = f" ({n})"
        candidate = base[:31 - len(suffix)] + suffix
        n += 1
    return candidate


def _table_name(sheet: str, index: int, taken: set[str]) -> str:
    name = f"T{abs(hash(sheet)) % 10**8}_{index}"
    while name in taken:
        name += "x"
    taken.add(name)
    return name


def write_result_sheet(wb, sheet: ResultSheet, table_names: set[str]):
    """Write one :class:`ResultSheet` as a new worksheet of ``wb``; returns the worksheet."""
    from openpyxl.formatting.rule import ColorScaleRule, DataBarRule
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.table import Table, TableStyleInfo

    ws = wb.create_sheet(safe_sheet_name(sheet.name, set(wb.sheetnames)))
    ws.sheet_view.showGridLines = True
    header_font = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", fgColor=HEADER_FILL)
    widths: dict[int, int] = {}
    row = 1
    for note in sheet.notes:
        ws.append([text_cell(ws, note)])
        ws.cell(row=row, column=1).alignment = Alignment(wrap_text=False, vertical="top")
        row += 1
    if sheet.notes:
        ws.cell(row=1, column=1).font = Font(bold=True, size=TITLE_SIZE)
        ws.append([])
        row += 1
    first_table = True
    next_chart_row = 1  # charts stack down a column right of the widest block, never overlapping
    chart_col = get_column_letter(max((len(b.frame.columns) for b in sheet.blocks), default=1) + 2)
    for index, block in enumerate(sheet.blocks):
        frame = block.frame
        if block.title:
            ws.append([text_cell(ws, block.title)])
            ws.cell(row=row, column=1).font = Font(bold=True, size=12)
            row += 1
        columns = [str(c) for c in frame.columns]
        header_row = row
        ws.append([text_cell(ws, c) for c in columns])
        for j, name in enumerate(columns, start=1):
            cell = ws.cell(row=row, column=j)
            cell.font, cell.fill = header_font, header_fill
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
            widths[j] = max(widths.get(j, 0), min(40, _display_width(name) + 2), block.widths.get(name, 0))
        row += 1
        n = len(frame)
        formats = [block.formats.get(c) for c in columns]
        for values in frame.itertuples(index=False, name=None):  # openpyxl writes cell by cell
            cells = []
            for j, value in enumerate(values):
                cell = text_cell(ws, value)
                if formats[j]:
                    cell.number_format = formats[j]
                elif isinstance(cell.value, (_dt.datetime, _dt.date)):
                    cell.number_format = "yyyy/mm/dd"
                cells.append(cell)
            ws.append(cells)
        if n:
            sample = frame.head(200)
            for j, name in enumerate(columns, start=1):
                lengths = sample.iloc[:, j - 1].map(lambda v: _display_width(v) if isinstance(v, str) else 10)
                if len(lengths):
                    widths[j] = max(widths[j], min(40, int(lengths.max()) + 2))
        last_row = header_row + n
        last_col = get_column_letter(max(1, len(columns)))
        if block.as_table and n and len(set(columns)) == len(columns):
            table = Table(displayName=_table_name(sheet.name, index, table_names),
                          ref=f"A{header_row}:{last_col}{last_row}")
            table.tableStyleInfo = TableStyleInfo(name="TableStyleLight9", showRowStripes=True)
            ws.add_table(table)
        if first_table:
            ws.freeze_panes = ws.cell(row=header_row + 1, column=1)
            first_table = False
        for name in block.color_scale:
            if name in columns and n:
                col = get_column_letter(columns.index(name) + 1)
                low, high = ("63BE7B", "F8696B") if not block.color_scale_reverse else ("F8696B", "63BE7B")
                ws.conditional_formatting.add(
                    f"{col}{header_row + 1}:{col}{last_row}",
                    ColorScaleRule(start_type="min", start_color=low, mid_type="percentile", mid_value=50,
                                   mid_color="FFEB84", end_type="max", end_color=high))
        for name in block.data_bars:
            if name in columns and n:
                col = get_column_letter(columns.index(name) + 1)
                ws.conditional_formatting.add(f"{col}{header_row + 1}:{col}{last_row}",
                                              DataBarRule(start_type="min", end_type="max", color="638EC6"))
        for chart in block.charts:
            if n:
                # beside a short block; a block far down a long sheet gets its chart at the top
                top = max(header_row, next_chart_row) if header_row <= 60 else next_chart_row
                ws.add_chart(_chart(ws, chart, columns, header_row, last_row), f"{chart_col}{top}")
                next_chart_row = top + int(chart.height_cm / 0.5) + 2
        row = last_row + 1
        ws.append([])
        ws.append([])
        row += 2
    for j, width in widths.items():
        ws.column_dimensions[get_column_letter(j)].width = max(8, width)
    _print_setup(ws)
    return ws


def _print_setup(ws) -> None:
    """Landscape, one page wide: what a rep gets when printing or exporting to PDF."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.gridLines = False


def _chart(ws, spec: Chart, columns: list[str], header_row: int, last_row: int):
    from openpyxl.chart import BarChart, LineChart, PieChart, Reference
    from openpyxl.chart.marker import DataPoint, Marker

    if spec.kind in ("bar", "col"):
        chart = BarChart()
        chart.type = "bar" if spec.kind == "bar" else "col"
    elif spec.kind == "line":
        chart = LineChart()
    else:
        chart = PieChart()
    chart.title = spec.title
    chart.width, chart.height = spec.width_cm, spec.height_cm
    if spec.kind != "pie":
        chart.y_axis.title = spec.y_title or None
        chart.x_axis.title = spec.x_title or None
        chart.y_axis.delete = False
        if spec.kind in ("bar", "col"):
            chart.y_axis.scaling.min = 0
        chart.x_axis.delete = False
        chart.legend.position = "b"
    cat_col = columns.index(spec.categories) + 1
    for value in spec.values:
        col = columns.index(value) + 1
        data = Reference(ws, min_col=col, min_row=header_row, max_row=last_row)
        chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=cat_col, min_row=header_row + 1, max_row=last_row))
    if len(spec.values) == 1 and spec.kind != "pie":
        chart.legend = None
    if spec.mark_row is not None and chart.series:
        point = DataPoint(idx=spec.mark_row)
        if spec.kind == "line":
            point.marker = Marker(symbol="diamond", size=12)
            point.marker.graphicalProperties = None
        else:
            point.graphicalProperties.solidFill = "C00000"
        chart.series[0].dPt.append(point)
    for series in chart.series if spec.kind == "line" else ():
        series.smooth = False  # openpyxl writes smooth="1" by default; a profit curve must not overshoot
    return chart


def copy_grid_sheet(wb, name: str, grid: pd.DataFrame):
    """A CSV's rows as a sheet: every string stays text (no formulas), row 1 frozen."""
    ws = wb.create_sheet(safe_sheet_name(name, set(wb.sheetnames)))
    for values in grid.itertuples(index=False, name=None):
        ws.append([text_cell(ws, v) for v in values])
    ws.freeze_panes = "A2"
    return ws


def mask_input_ids(wb, analysis) -> None:
    """ID numbers are masked in every output, the copied input sheets included (DESIGN §6)."""
    from .idnumber import mask_ids

    for sheet in analysis.parsed:
        for key, (row, col) in sheet.locations.items():
            if sheet.kind.field(key).type != "id" or sheet.sheet not in wb.sheetnames:
                continue
            ws = wb[sheet.sheet]
            rows = [row] if row is not None else list(sheet.frame.index)
            for r in rows:
                cell = ws.cell(row=int(r), column=col)
                if isinstance(cell.value, str) and cell.value.strip():
                    cell.value = mask_ids(pd.Series([cell.value])).iloc[0]


def render(analysis, input_path, output_path) -> None:
    """Write the result workbook: the input's sheets as they were (IDs masked), then the result
    sheets, 摘要 active. Written to a temp file beside ``output_path`` and renamed into place."""
    from pathlib import Path

    import openpyxl

    from .workbook import atomic_output

    input_path, output_path = Path(input_path), Path(output_path)
    if analysis.raw and analysis.raw[0].source == "xlsx":
        wb = openpyxl.load_workbook(input_path, keep_vba=False, keep_links=False)
    else:
        wb = openpyxl.Workbook()
        wb.remove(wb.active)
        for raw in analysis.raw:
            if len(raw.grid) <= MAX_COPIED_CSV_ROWS:  # a big export stays in its CSV (archived, untouched)
                copy_grid_sheet(wb, raw.name, raw.grid)
    mask_input_ids(wb, analysis)
    tables: set[str] = {t for ws in wb.worksheets for t in ws.tables}
    first_result = None
    for sheet in analysis.sheets:
        ws = write_result_sheet(wb, sheet, tables)
        first_result = first_result or ws
    if first_result is not None:
        wb.active = wb.sheetnames.index(first_result.title)
        for ws in wb.worksheets:
            ws.sheet_view.tabSelected = ws is first_result
    with atomic_output(output_path, suffix=".xlsx") as tmp:
        wb.save(tmp)
