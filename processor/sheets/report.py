"""The result workbook, declared as data and rendered by one renderer.

Analytics return :class:`ResultSheet` objects (blocks of tables, notes, charts, conditional
formats); :func:`render` writes them, after the input's own sheets, into one .xlsx. The CLI,
the drop-folder service and the ribbon buttons all use this one renderer (DESIGN §5).
"""

from __future__ import annotations

import datetime as _dt
import re as _re
import unicodedata as _ud
from dataclasses import dataclass, field
from typing import Literal

import numpy as _np
import pandas as pd

from processor.privacy import mask_ids, mask_ids_in_text
from processor.read.schema import ID_HEADERS, normalise_header
from processor.read.workbook import RESULT_SHEETS_PROPERTY, atomic_output

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

    ``formats`` maps a column to an Excel number format ("0.0%", "#,##0", "yyyy/mm/dd"; a date
    format is shown in 民國 years when the 設定 日期顯示 says so, see :func:`render`).
    ``color_scale`` columns get a green→yellow→red 3-colour scale (low→high; reverse with
    ``color_scale_reverse``); ``data_bars`` columns get data bars. ``as_table`` makes it an
    Excel table with filter buttons (the first block of a sheet also gets frozen headers).
    ``comments`` explain a column in its header cell's comment (how it is computed);
    ``hidden`` columns are for analysts: grouped and folded away, one click (+) shows them.
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
    comments: dict[str, str] = field(default_factory=dict)
    hidden: tuple[str, ...] = ()
    #: columns whose text names result sheets ("跟進排程、沉默排名"): each cell links to the first one
    sheet_links: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResultSheet:
    """One result sheet: ``lead`` (one line on row 1: what the sheet is and how to read its first
    column, linked to the sheet's section of 結果說明), then its blocks from row 2 or 3; ``notes``
    (rules, sources, caveats) are the sheet's section of the 結果說明 sheet, not the sheet's top."""

    name: str
    blocks: tuple[Block, ...]
    notes: tuple[str, ...] = ()
    lead: str = ""
    #: A4 portrait instead of landscape (a sheet printed to write on); wrapped columns keep their widths
    portrait: bool = False
    front: bool = False  # the workbook's first tab, before the input's own sheets (今日聯絡)


# ---------------------------------------------------------------------------------------------
# Rendering (openpyxl). The only place that knows about cells, styles and charts.

HEADER_FILL = "1F4E78"
TITLE_SIZE = 13
MAX_EXCEL_ROWS = 1_048_576
MAX_COPIED_CSV_ROWS = 100_000  # larger sheets copied from grids are left out of the result: it would take minutes
_INVALID_SHEET = _re.compile(r"[\[\]:*?/\\]")
DATE_FORMAT = "yyyy/mm/dd"
#: the 民國 date format: Excel's own zh-TW built-in (numFmt 27 of ECMA-376 is [$-404]e/m/d): in the
#: Chinese (Taiwan) locale ``e`` is the year of the 民國 era, so 2026/11/29 shows as 115/11/29;
#: LibreOffice renders it the same (checked by rendering to PDF). The cell stays a real date.
ROC_DATE_FORMAT = "[$-404]e/mm/dd"


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

    cell = Cell(ws)
    _put_value(cell, _cell_value(value))
    return cell


def _put_value(cell, value) -> None:
    """Write an already converted value (:func:`_cell_value`): strings as text even when they
    begin with =, +, - or @ (openpyxl would bind them as formulas), anything else as itself."""
    if isinstance(value, str):
        cell._value = value  # bypass openpyxl's "starts with = means formula" binding
        cell.data_type = "s"
    else:
        cell.value = value


def safe_sheet_name(name: str, taken: set[str]) -> str:
    """A valid, unique (case-insensitively, as Excel compares) sheet name of ≤ 31 characters."""
    base = _INVALID_SHEET.sub("_", name).strip("'")[:31] or "Sheet"
    candidate, n = base, 2
    while candidate.lower() in {t.lower() for t in taken}:
        suffix = f" ({n})"
        candidate = base[: 31 - len(suffix)] + suffix
        n += 1
    return candidate


def _table_name(sheet: str, index: int, taken: set[str]) -> str:
    name = f"T{abs(hash(sheet)) % 10**8}_{index}"
    while name in taken:
        name += "x"
    taken.add(name)
    return name


def write_result_sheet(
    wb,
    sheet: ResultSheet,
    table_names: set[str],
    bulk: BulkRows | None = None,
    *,
    date_format: str = DATE_FORMAT,
    help_link: str | None = None,
):
    """Write one :class:`ResultSheet` as a new worksheet of ``wb``; returns the worksheet.

    Row 1 is the sheet's lead line (linked to ``help_link``, a cell of the 結果說明 sheet, when given);
    the first table's header is on row 2 or 3. Each block's charts sit beside it, and the next
    block starts below them. Date columns take ``date_format`` (民國 or 西元, see :func:`render`).
    Long blocks have their middle rows handed to ``bulk`` (written as XML at save time, see
    :class:`BulkRows`); without ``bulk`` every cell goes through openpyxl.
    """
    from openpyxl.comments import Comment
    from openpyxl.formatting.rule import ColorScaleRule, DataBarRule
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.filters import AutoFilter
    from openpyxl.worksheet.table import Table, TableColumn, TableStyleInfo

    ws = wb.create_sheet(safe_sheet_name(sheet.name, set(wb.sheetnames)))
    ws.sheet_view.showGridLines = True
    header_font = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", fgColor=HEADER_FILL)
    widths: dict[int, int] = {}
    row = 1
    lead = sheet.lead or (sheet.notes[0] if sheet.notes else "")
    if lead:
        ws.append([text_cell(ws, lead)])
        cell = ws.cell(row=1, column=1)
        cell.font = Font(bold=True, size=LEAD_SIZE)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        row = 2
        if sheet.blocks and not sheet.blocks[0].title:
            ws.append([])
            row = 3
    first_table = True
    wrapped_text: list[tuple[int, int, str]] = []
    n_columns = max((len(b.frame.columns) for b in sheet.blocks), default=1)
    long_list = bool(sheet.blocks) and len(sheet.blocks[0].frame) > LONG_LIST_ROWS
    below_charts = 0  # first row under the charts placed so far: the next block starts there
    hidden: set[int] = set()
    for index, block in enumerate(sheet.blocks):
        while row < below_charts:
            ws.append([])
            row += 1
        frame = block.frame
        if block.title:
            ws.append([text_cell(ws, block.title)])
            ws.cell(row=row, column=1).font = Font(bold=True, size=12)
            row += 1
        columns = [str(c) for c in frame.columns]
        # below a long list, a block's text wraps in the list's columns instead of widening them
        own = index == 0 or not long_list
        cap = 40 if own else 14
        header_row = row
        ws.append([text_cell(ws, c) for c in columns])
        for j, name in enumerate(columns, start=1):
            cell = ws.cell(row=row, column=j)
            cell.font, cell.fill = header_font, header_fill
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
            widths[j] = max(
                widths.get(j, 0), min(cap, _display_width(name) + 2), block.widths.get(name, 0) if own else 0
            )
            if name in block.comments:
                cell.comment = Comment(
                    block.comments[name],
                    "精準名單",
                    width=320,
                    height=max(60, 18 * (1 + _display_width(block.comments[name]) // 40)),
                )
            if name in block.hidden:
                hidden.add(j)
        n = len(frame)
        last_row = header_row + n
        formats = [
            _dated(_column_format(frame.iloc[:, j], block.formats.get(c)), date_format) for j, c in enumerate(columns)
        ]
        wrapped = [Alignment(wrap_text=True, vertical="top") if c in block.widths else None for c in columns]
        if bulk is not None and n > BULK_MIN_ROWS:
            # openpyxl writes the first and the last row (so styles and the sheet's extent exist);
            # the rows between are streamed in at save time with the first row's styles
            _put_row(ws, header_row + 1, frame.iloc[0], formats, wrapped, 0, date_format=date_format)
            bulk.add(ws, header_row + 2, frame.iloc[1 : n - 1])
            _put_row(ws, last_row, frame.iloc[n - 1], formats, wrapped, n - 1, date_format=date_format)
        else:
            for i in range(n):
                _put_row(
                    ws, header_row + 1 + i, frame.iloc[i], formats, wrapped, i, wrapped_text, date_format=date_format
                )
        for name in block.sheet_links:
            if name in columns:
                _link_sheets(ws, columns.index(name) + 1, header_row + 1, frame[name])
        if n:
            sample = frame.head(200)
            for j, name in enumerate(columns, start=1):
                if sheet.portrait and name in block.widths:
                    continue  # a printed form: the wrapped column keeps the width it was given
                lengths = sample.iloc[:, j - 1].map(lambda v: _display_width(v) if isinstance(v, str) else 10)
                if len(lengths):
                    widths[j] = max(widths[j], min(cap, int(lengths.max()) + 2))
        last_col = get_column_letter(max(1, len(columns)))
        if block.as_table and n and len(set(columns)) == len(columns):
            table = Table(
                displayName=_table_name(sheet.name, index, table_names), ref=f"A{header_row}:{last_col}{last_row}"
            )
            table.tableStyleInfo = TableStyleInfo(name="TableStyleLight9", showRowStripes=True)
            # named here: left empty, openpyxl reads the header names back via ws[ref], creating every cell
            table.tableColumns = [TableColumn(id=j, name=name) for j, name in enumerate(columns, start=1)]
            table.autoFilter = AutoFilter(ref=table.ref)
            ws.add_table(table)
        if first_table:
            ws.freeze_panes = ws.cell(row=header_row + 1, column=1)
            if n > TITLE_ROWS_FROM:  # a table over several pages repeats its header on each
                ws.print_title_rows = f"{header_row}:{header_row}"
            first_table = False
        for name in block.color_scale:
            if name in columns and n:
                col = get_column_letter(columns.index(name) + 1)
                low, high = ("63BE7B", "F8696B") if not block.color_scale_reverse else ("F8696B", "63BE7B")
                ws.conditional_formatting.add(
                    f"{col}{header_row + 1}:{col}{last_row}",
                    ColorScaleRule(
                        start_type="min",
                        start_color=low,
                        mid_type="percentile",
                        mid_value=50,
                        mid_color="FFEB84",
                        end_type="max",
                        end_color=high,
                    ),
                )
        for name in block.data_bars:
            if name in columns and n:
                col = get_column_letter(columns.index(name) + 1)
                ws.conditional_formatting.add(
                    f"{col}{header_row + 1}:{col}{last_row}",
                    DataBarRule(start_type="min", end_type="max", color="638EC6"),
                )
        top = header_row
        for chart in block.charts if n else ():  # beside the block, one under the other
            negative = bool((frame[list(chart.values)].select_dtypes("number") < 0).any().any())
            ws.add_chart(
                _chart(ws, chart, columns, header_row, last_row, negative),
                f"{get_column_letter(len(columns) + 2)}{top}",
            )
            top += chart_rows(chart)
            below_charts = top + 1
        row = last_row + 1
        ws.append([])
        ws.append([])
        row += 2
    for j, width in widths.items():
        ws.column_dimensions[get_column_letter(j)].width = max(8 if not sheet.portrait else 4, width)
    for j in sorted(hidden):  # analyst columns: folded into an outline group, shown with its + button
        dimension = ws.column_dimensions[get_column_letter(j)]
        dimension.outlineLevel, dimension.hidden = 1, True
    if hidden:
        ws.sheet_properties.outlinePr.summaryRight = False
    lines: dict[int, int] = {}
    for r, j, text in wrapped_text:  # wrapped cells get the height of their lines (no viewer autofits them)
        lines[r] = max(lines.get(r, 1), -(-_display_width(text) // max(int(max(8, widths.get(j, 8))) - 1, 4)))
    for r, count in lines.items():
        if count > 1:
            ws.row_dimensions[r].height = 15 * count
    span = (
        _wrap_lead(ws, n_columns, widths, hidden, help_link, PORTRAIT_WIDTH if sheet.portrait else NOTE_MIN_WIDTH)
        if lead
        else n_columns
    )
    _print_setup(ws, sheet.portrait)
    if ws.max_row <= ONE_PAGE_ROWS:  # a short sheet (摘要) prints on one page, charts whole
        ws.page_setup.fitToHeight = 1
    if long_list:
        # a call list prints its columns only: a chart further right would shrink every page
        ws.print_area = f"A1:{get_column_letter(max(span, n_columns))}{max(ws.max_row, below_charts)}"
    return ws


LONG_LIST_ROWS = 60  # a first block longer than this is a list: it prints its own columns only
TITLE_ROWS_FROM = 30  # tables longer than this repeat their header row on every printed page
ONE_PAGE_ROWS = 80
LEAD_SIZE = 12
HELP_SHEET = "結果說明"  # not 說明: workbook.xlsm has a 說明 start page of its own
HELP_LINK_TEXT = "→ 結果說明"


def chart_rows(chart: Chart) -> int:
    """Sheet rows a chart covers (rows are about 0.5 cm), plus a gap."""
    return int(chart.height_cm / 0.5) + 1


def _dated(fmt, date_format: str):
    """A column's format with the date format swapped for ``date_format`` (per-row tuples too)."""
    if isinstance(fmt, tuple):
        return tuple(date_format if f == DATE_FORMAT else f for f in fmt)
    return date_format if fmt == DATE_FORMAT else fmt


NOTE_MIN_WIDTH = 110  # character widths the lead line may use before it wraps (about a landscape page)
PORTRAIT_WIDTH = 80  # about a portrait page


def _link_sheets(ws, col: int, first_row: int, values: pd.Series) -> None:
    """Internal hyperlinks: each cell to the sheet its text names first (text kept as written)."""
    from openpyxl.styles import Font
    from openpyxl.worksheet.hyperlink import Hyperlink

    for i, text in enumerate(values.tolist()):  # a call sheet: tens of rows
        if isinstance(text, str) and text:
            cell = ws.cell(row=first_row + i, column=col)
            target = text.split("、")[0].replace("'", "''")
            cell.hyperlink = Hyperlink(ref=cell.coordinate, location=f"'{target}'!A1", display=text)
            cell.font = Font(color="0563C1", underline="single")


def _wrap_lead(
    ws, n_columns: int, widths: dict[int, int], hidden: set[int], help_link: str | None, min_width: int = NOTE_MIN_WIDTH
) -> int:
    """The lead line merged across the tables' columns, wrapped, with a row height for its lines:
    it then prints inside the page instead of stretching it; the link to 結果說明 in the last of
    those columns (a hyperlinked cell is drawn on one line, so the link is short and apart).
    Returns the columns spanned."""
    from openpyxl.styles import Alignment, Font
    from openpyxl.worksheet.hyperlink import Hyperlink

    span, total = 0, 0.0
    # a merged cell wraps over its hidden columns' widths too (LibreOffice draws the line cut off), so
    # the lead stops before the first folded column
    last = min(hidden) - 1 if hidden else n_columns + 8
    while span < last and (span < max(n_columns, 1) or total < min_width):
        span += 1
        total += max(8, widths.get(span, 8.43))
    text_span = span - 1 if help_link and span > 1 else span
    if help_link:
        link = ws.cell(row=1, column=text_span + 1, value=HELP_LINK_TEXT)
        link.hyperlink = Hyperlink(ref=link.coordinate, location=help_link, tooltip="這張表怎麼算、怎麼看")
        link.font = Font(color="1F4E78", underline="single", size=10)
        link.alignment = Alignment(horizontal="right", vertical="top")
        total -= max(8, widths.get(text_span + 1, 8.43)) if text_span < span else 0
        span = max(span, text_span + 1)
    if text_span > 1:
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=text_span)
    lines = max(1, -(-_display_width(ws.cell(1, 1).value) // max(int(total) - 2, 10)))
    ws.row_dimensions[1].height = 18 * lines
    return span


def _column_format(values: pd.Series, given):
    """The number format of a column: the block's, else dates as yyyy/mm/dd."""
    if given is not None:
        return given
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return DATE_FORMAT
    return None


def _put_row(
    ws,
    r: int,
    values: pd.Series,
    formats,
    wrapped,
    i: int,
    wrapped_text: list | None = None,
    *,
    date_format: str = DATE_FORMAT,
) -> None:
    """One frame row at Excel row ``r``: text stays text, formats per column (or per row: a tuple).
    Wrapped text cells are noted in ``wrapped_text`` as (row, column, text) for the row heights."""
    for j, value in enumerate(values.tolist(), start=1):
        cell = ws.cell(row=r, column=j)
        value = _cell_value(value)
        _put_value(cell, value)  # never a formula
        fmt = formats[j - 1]
        if isinstance(fmt, tuple):
            fmt = fmt[i] if i < len(fmt) else None
        if fmt:
            cell.number_format = fmt
        elif isinstance(value, (_dt.datetime, _dt.date)):
            cell.number_format = date_format
        if wrapped[j - 1] is not None:
            cell.alignment = wrapped[j - 1]
            if wrapped_text is not None and isinstance(value, str):
                wrapped_text.append((r, j, value))


class BulkRows:
    """Rows of long blocks, written straight into the sheet XML when the workbook is saved.

    openpyxl spends ~25 µs per cell building and serialising cell objects: 50,000 listed customers
    × 19 columns took most of a minute. Here a block's middle rows are kept as the frame they are
    and formatted column by column into ``<row>`` XML (numbers, dates as serials, text as inline
    strings — never formulas), each cell with the style openpyxl gave the same column in the
    block's first row. :func:`save_workbook` streams them into the worksheet part between the
    block's first and last row, which openpyxl wrote itself.
    """

    def __init__(self):
        self.parts: dict[int, list[tuple[int, pd.DataFrame]]] = {}  # id(ws) → [(first Excel row, rows)]

    def add(self, ws, first_row: int, frame: pd.DataFrame) -> None:
        if len(frame):
            self.parts.setdefault(id(ws), []).append((first_row, frame))

    def write_sheet(self, ws, xml: str, out) -> None:
        """Write the worksheet XML ``xml`` to the binary stream ``out`` with the bulk rows inserted."""
        pos = 0
        for first_row, frame in sorted(self.parts[id(ws)], key=lambda p: p[0]):
            styles = _row_styles(xml, first_row - 1)
            cut = xml.index(f'<row r="{first_row + len(frame)}"', pos)
            out.write(xml[pos:cut].encode("utf-8"))
            step = max(1, min(20_000, BULK_CHUNK_CELLS // max(1, frame.shape[1])))  # memory by cells, not rows
            for start in range(0, len(frame), step):
                out.write(_rows_xml(frame.iloc[start : start + step], first_row + start, styles).encode("utf-8"))
            pos = cut
        out.write(xml[pos:].encode("utf-8"))


_CELL_ATTRS = _re.compile(r'<c r="([A-Z]+)\d+"(?: s="(\d+)")?')
_XML_ILLEGAL = _re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_XML_SPECIAL = _re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # what _inline changes
_EXCEL_EPOCH = _np.datetime64("1899-12-30", "ns")


def _row_styles(xml: str, r: int) -> dict[str, str]:
    """Column letter → style index of the cells openpyxl wrote in row ``r``."""
    start = xml.index(f'<row r="{r}"')
    body = xml[start : xml.index("</row>", start)]
    return {col: style for col, style in _CELL_ATTRS.findall(body) if style}


def _rows_xml(frame: pd.DataFrame, first_row: int, styles: dict[str, str]) -> str:
    from openpyxl.utils import get_column_letter

    numbers = [str(r) for r in range(first_row, first_row + len(frame))]
    letters = [get_column_letter(j + 1) for j in range(frame.shape[1])]
    attrs = [f' s="{styles[letter]}"' if letter in styles else "" for letter in letters]
    values = frame.to_numpy(dtype=object) if len(frame) and all(d == _np.dtype(object) for d in frame.dtypes) else None
    if values is not None and all(
        pd.api.types.infer_dtype(values[:, j], skipna=True) in ("string", "empty") for j in range(values.shape[1])
    ):
        return _text_rows_xml(values, numbers, letters, attrs)
    columns = [_cells_xml(frame.iloc[:, j], letters[j], attrs[j], numbers) for j in range(frame.shape[1])]
    return "".join(f'<row r="{r}">{"".join(cells)}</row>' for r, *cells in zip(numbers, *columns))


_ROW = "\x00"  # stands for the row number in a row template (never in a column letter or a style)


def _text_rows_xml(values: _np.ndarray, numbers: list[str], letters: list[str], attrs: list[str]) -> str:
    """Rows whose every cell is text or blank (a CSV's grid), each filled into one row template by a
    single ``%`` in C instead of one f-string per cell: a 2,000-column list copied into its result
    spent seconds there. The same XML as :func:`_cells_xml` writes, cell for cell."""
    try:  # blank cells are None (NaN at times): two comparisons in C, 6x faster than pd.isna on objects
        missing = _np.equal(values, None) | _np.not_equal(values, values)
    except TypeError:  # pd.NA, which will not be compared
        missing = pd.isna(values.ravel()).reshape(values.shape)
    values = _np.where(missing, None, values)
    for j in range(values.shape[1]):
        texts = values[~missing[:, j], j]
        if len(texts) and _XML_SPECIAL.search("\n".join(texts)):
            values[~missing[:, j], j] = [_escaped(t) for t in texts]
    cells = [
        f'<c r="{letter}{_ROW}"{a} t="inlineStr"><is><t xml:space="preserve">%s</t></is></c>'
        for letter, a in zip(letters, attrs)
    ]
    # a blank cell is no cell, or an empty one keeping its column's style; "%.0s" takes its None unseen
    blanks = [(f'<c r="{letter}{_ROW}"{a}/>' if a else "") + "%.0s" for letter, a in zip(letters, attrs)]
    template = "".join(cells)
    out = []
    for r, row, gaps in zip(numbers, values.tolist(), missing.tolist()):
        if any(gaps):
            pieces = cells.copy()
            for j in _np.flatnonzero(gaps).tolist():
                pieces[j] = blanks[j]
            row_template = "".join(pieces)
        else:
            row_template = template
        out.append(f'<row r="{r}">' + row_template.replace(_ROW, r) % tuple(row) + "</row>")
    return "".join(out)


def _cells_xml(values: pd.Series, letter: str, s: str, rows: list[str]) -> list[str]:
    """The ``<c>`` element of each value of one column, vectorised by dtype. A missing value is an
    empty cell that keeps the column's style (as openpyxl writes it), or nothing without a style."""
    empty = (lambda r: f'<c r="{letter}{r}"{s}/>') if s else (lambda r: "")
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        values = values.astype(object)
        dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype) and not values.hasnans:
        return [f'<c r="{letter}{r}"{s} t="b"><v>{int(v)}</v></c>' for r, v in zip(rows, values.tolist())]
    if pd.api.types.is_datetime64_any_dtype(dtype):
        stamps = values.to_numpy(dtype="datetime64[ns]")
        serial = (stamps - _EXCEL_EPOCH) / _np.timedelta64(1, "D")
        return _numbers_xml(serial, letter, s, rows, empty)
    if pd.api.types.is_numeric_dtype(dtype):
        if pd.api.types.is_integer_dtype(dtype):
            present = values.notna().to_numpy()
            texts = values.to_numpy(dtype=_np.int64, na_value=0).astype(str).tolist()
            return [
                f'<c r="{letter}{r}"{s} t="n"><v>{t}</v></c>' if ok else empty(r)
                for r, t, ok in zip(rows, texts, present.tolist())
            ]
        return _numbers_xml(values.to_numpy(dtype=float, na_value=_np.nan), letter, s, rows, empty)
    if pd.api.types.infer_dtype(values, skipna=True) == "string":
        texts, present = values.tolist(), values.notna().tolist()
        if not _XML_SPECIAL.search("\n".join(t for t, ok in zip(texts, present) if ok)):  # nothing to escape
            head = f'"{s} t="inlineStr"><is><t xml:space="preserve">'
            return [
                f'<c r="{letter}{r}{head}{t}</t></is></c>' if ok else empty(r) for r, t, ok in zip(rows, texts, present)
            ]
        codes, uniques = pd.factorize(values, use_na_sentinel=True)  # labels repeat: escape each once
        texts = [_inline(u) for u in uniques]
        return [
            f'<c r="{letter}{r}"{s} t="inlineStr">{texts[k]}</c>' if k >= 0 else empty(r)
            for r, k in zip(rows, codes.tolist())
        ]
    return [_value_xml(_cell_value(v), letter, r, s) or empty(r) for r, v in zip(rows, values.tolist())]


def _numbers_xml(values: _np.ndarray, letter: str, s: str, rows: list[str], empty) -> list[str]:
    finite = _np.isfinite(values)
    texts = _np.where(finite, values, 0).astype(str)
    return [
        f'<c r="{letter}{r}"{s} t="n"><v>{t}</v></c>' if ok else empty(r)
        for r, t, ok in zip(rows, texts.tolist(), finite.tolist())
    ]


def _value_xml(value, letter: str, r: str, s: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return f'<c r="{letter}{r}"{s} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (int, float)):
        return f'<c r="{letter}{r}"{s} t="n"><v>{value!r}</v></c>' if _np.isfinite(value) else ""
    if isinstance(value, (_dt.datetime, _dt.date)):
        serial = (_np.datetime64(value, "ns") - _EXCEL_EPOCH) / _np.timedelta64(1, "D")
        return f'<c r="{letter}{r}"{s} t="n"><v>{serial!r}</v></c>'
    return f'<c r="{letter}{r}"{s} t="inlineStr">{_inline(str(value))}</c>'


def _inline(text: str) -> str:
    return f'<is><t xml:space="preserve">{_escaped(text)}</t></is>'


def _escaped(text: str) -> str:
    if _XML_ILLEGAL.search(text):
        text = _XML_ILLEGAL.sub("", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


TEAM_CHUNK = 250
BULK_MIN_ROWS = 500  # shorter blocks go cell by cell through openpyxl
#: cells formatted into XML at a time: a 3,000-row × 2,000-column list in 20,000-row pieces built
#: 6 million cell strings at once (3 GB); 400,000 is the old 20,000 rows of a ~20-column list
BULK_CHUNK_CELLS = 400_000


class _Archive:
    """The zip openpyxl's writer saves into, inserting :class:`BulkRows` into worksheet parts."""

    def __init__(self, zf, wb, bulk: BulkRows):
        self._zf, self._wb, self._bulk = zf, wb, bulk

    def write(self, filename, arcname=None, *args, **kw):
        ws = next((w for w in self._wb.worksheets if w.path[1:] == arcname and id(w) in self._bulk.parts), None)
        if ws is None:
            return self._zf.write(filename, arcname, *args, **kw)
        with open(filename, encoding="utf-8") as fh:
            xml = fh.read()  # the sheet without its bulk rows: small
        with self._zf.open(arcname, "w", force_zip64=True) as out:
            self._bulk.write_sheet(ws, xml, out)

    def __getattr__(self, name):
        return getattr(self._zf, name)


def save_workbook(wb, path, bulk: BulkRows | None = None) -> None:
    """``wb.save(path)``, with the bulk rows streamed into their sheets."""
    import zipfile

    from openpyxl.writer.excel import ExcelWriter

    if bulk is None or not bulk.parts:
        wb.save(path)
        return
    with zipfile.ZipFile(
        path, "w", zipfile.ZIP_DEFLATED, allowZip64=True, compresslevel=1
    ) as zf:  # 3x faster, ~20% bigger
        ExcelWriter(wb, _Archive(zf, wb, bulk)).save()


def _print_setup(ws, portrait: bool = False) -> None:
    """Landscape (or portrait), one page wide: what a rep gets when printing or exporting to PDF."""
    ws.page_setup.orientation = "portrait" if portrait else "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.gridLines = False


def _chart(ws, spec: Chart, columns: list[str], header_row: int, last_row: int, negative: bool = False):
    """The openpyxl chart of ``spec``. A bar chart's value axis starts at 0 unless a value is
    negative (the "call everyone" loss must show as a bar below 0, with the labels at the bottom)."""
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
        if spec.kind in ("bar", "col") and not negative:
            chart.y_axis.scaling.min = 0
        elif negative:
            chart.x_axis.tickLblPos = "low"  # category labels under the plot, not on the 0 line among the bars
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


def copy_grid_sheet(wb, name: str, grid: pd.DataFrame, bulk: BulkRows | None = None):
    """A CSV's rows as a sheet: every string stays text (no formulas), row 1 frozen."""
    ws = wb.create_sheet(safe_sheet_name(name, set(wb.sheetnames)))
    n = len(grid)
    none = [None] * grid.shape[1]
    if bulk is not None and n > BULK_MIN_ROWS:
        _put_row(ws, 1, grid.iloc[0], none, none, 0)
        bulk.add(ws, 2, grid.iloc[1 : n - 1])
        _put_row(ws, n, grid.iloc[n - 1], none, none, n - 1)
    else:
        for values in grid.itertuples(index=False, name=None):
            ws.append([text_cell(ws, v) for v in values])
    ws.freeze_panes = "A2"
    return ws


def masked_grid(raw, parsed) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(grid, changed) of one input sheet with ID numbers masked (DESIGN §6): every filled cell
    of a column headed as an ID number (the loan field, or a 身分證字號 column on any other sheet
    kind), and any valid ID number in any other cell, wherever it sits (typed into 備註, on a
    sheet no kind matched)."""
    grid = raw.grid
    out = grid.copy()
    changed = pd.DataFrame(False, index=grid.index, columns=grid.columns)
    for j in range(grid.shape[1]):  # column by column, each vectorised
        column = grid.iloc[:, j]
        masked = mask_ids_in_text(column)
        if masked is not column:
            out.iloc[:, j] = masked
            changed.iloc[:, j] = ((masked != column) & column.notna()).to_numpy()
    for sheet in (s for s in parsed if s.sheet == raw.name):
        id_cells = [(row, col) for key, (row, col) in sheet.locations.items() if sheet.kind.field(key).type == "id"]
        if sheet.layout == "table" and sheet.header_row <= len(grid):  # e.g. 身分證字號 on a contact list
            for header in range(max(0, sheet.header_row - 2), sheet.header_row):  # the header may span two rows
                id_cells += [
                    (None, col + 1)
                    for col, text in enumerate(grid.iloc[header])
                    if isinstance(text, str) and normalise_header(text) in ID_HEADERS
                ]
        for row, col in id_cells:
            if col - 1 >= grid.shape[1]:
                continue
            rows = [row] if row is not None else list(sheet.frame.index)
            cells = grid.iloc[[r - 1 for r in rows if r - 1 < len(grid)], col - 1]
            cells = cells[cells.map(type).eq(str) & (cells.astype("string").str.strip() != "")]
            out.iloc[list(cells.index), col - 1] = mask_ids(cells).astype(object).to_numpy()
            changed.iloc[list(cells.index), col - 1] = True
    return out, changed


def mask_input_ids(wb, analysis) -> None:
    """ID numbers are masked in every output, the copied input sheets included (DESIGN §6)."""
    from openpyxl.cell.cell import MergedCell

    for raw in analysis.raw:
        if raw.name not in wb.sheetnames:
            continue
        grid, changed = masked_grid(raw, analysis.parsed)
        ws = wb[raw.name]
        for r, c in zip(*_np.nonzero(changed.to_numpy())):  # only the cells that held an ID
            cell = ws.cell(row=int(r) + 1, column=int(c) + 1)
            if not isinstance(cell, MergedCell):
                _put_value(cell, _cell_value(grid.iat[r, c]))  # a masked "=…" stays text, never a formula


def render(analysis, input_path, output_path, progress=None) -> None:
    """Write the result workbook: the input's sheets as they were (IDs masked), then the result
    sheets, 摘要 active. Written to a temp file beside ``output_path`` and renamed into place."""
    from pathlib import Path

    import openpyxl
    from openpyxl.packaging.custom import StringProperty

    progress = progress or (lambda message: None)
    input_path, output_path = Path(input_path), Path(output_path)
    bulk = BulkRows()
    wb = None
    if analysis.raw and all(raw.formatted_copy for raw in analysis.raw):
        try:
            wb = openpyxl.load_workbook(input_path, keep_vba=False, keep_links=False)
        except Exception:  # noqa: BLE001 — e.g. a pivot cache openpyxl cannot load: copy the values instead
            wb = None
        if wb is not None and not {raw.name for raw in analysis.raw} <= set(wb.sheetnames):
            wb = None  # e.g. Strict Open XML: openpyxl finds no sheets where calamine read them
        for raw in analysis.raw if wb is not None else ():  # scoring a result workbook again: old results go
            if raw.result and raw.name in wb.sheetnames:
                del wb[raw.name]
    if wb is None:  # (copies from grids are masked as they are written)
        # values from the grids already read (the input is read once): .xls/.xlsb/.ods, CSV, a large .xlsx
        wb = openpyxl.Workbook()
        wb.remove(wb.active)
        for raw in analysis.raw:
            if len(raw.grid) <= MAX_COPIED_CSV_ROWS and not raw.result:  # a big export stays in its file
                copy_grid_sheet(wb, raw.name, masked_grid(raw, analysis.parsed)[0], bulk)
    else:
        mask_input_ids(wb, analysis)
    tables: set[str] = {t for ws in wb.worksheets for t in ws.tables}
    from processor.settings import ROC

    date_format = ROC_DATE_FORMAT if analysis.settings.date_display == ROC else DATE_FORMAT
    helped = [s for s in analysis.sheets if s.notes or s.lead]
    help_ws = wb.create_sheet(safe_sheet_name(HELP_SHEET, set(wb.sheetnames))) if helped else None  # its name, kept
    sections = _help_rows(helped)
    first_result = None
    written = []
    for sheet in analysis.sheets:
        progress(f"寫出 {sheet.name}")
        link = f"'{help_ws.title}'!A{sections[id(sheet)]}" if id(sheet) in sections else None
        ws = write_result_sheet(wb, sheet, tables, bulk, date_format=date_format, help_link=link)
        if sheet.front:
            wb.move_sheet(ws, offset=-wb.index(ws))
        written.append(ws.title)
        first_result = first_result or ws
    if help_ws is not None:
        _write_help(help_ws, [(s, written[analysis.sheets.index(s)]) for s in helped], sections)
        wb.move_sheet(help_ws, offset=len(wb.sheetnames) - 1 - wb.sheetnames.index(help_ws.title))
        written.append(help_ws.title)
    # which sheets are ours, so scoring this file again skips them (processor.read.workbook reads it)
    props = wb.custom_doc_props
    for prop in [p for p in props if p.name == RESULT_SHEETS_PROPERTY]:
        props.props.remove(prop)
    props.append(StringProperty(name=RESULT_SHEETS_PROPERTY, value="|".join(written)))
    from processor.read.workbook import TEAM_PROPERTY

    for prop in [p for p in props if p.name.startswith(TEAM_PROPERTY)]:
        props.props.remove(prop)
    if "team" in analysis.summary:  # the manager's roll-up reads these (processor.team)
        import json

        text = json.dumps(analysis.summary["team"], ensure_ascii=False, separators=(",", ":"))
        for i in range(0, len(text), TEAM_CHUNK):  # Excel keeps custom text properties up to 255 characters
            props.append(StringProperty(name=f"{TEAM_PROPERTY}{i // TEAM_CHUNK}", value=text[i : i + TEAM_CHUNK]))
    if first_result is not None:
        wb.active = wb.sheetnames.index(first_result.title)
        for ws in wb.worksheets:
            ws.sheet_view.tabSelected = ws is first_result
    with atomic_output(output_path, suffix=".xlsx") as tmp:
        save_workbook(wb, tmp, bulk)


HELP_TITLE = "結果說明：每張結果表怎麼算、怎麼看（點各段標題回到那張表）"
HELP_WIDTH = 100  # characters of the text column of 說明


def _help_notes(sheet: ResultSheet) -> tuple[str, ...]:
    """What a sheet's 說明 section says below its lead line (a sheet without a lead used its first note)."""
    return sheet.notes if sheet.lead else sheet.notes[1:]


def _help_rows(sheets: list[ResultSheet]) -> dict[int, int]:
    """id(sheet) → the 說明 row its section starts on (title row, lead line, notes, a blank row)."""
    rows, r = {}, 3
    for sheet in sheets:
        rows[id(sheet)] = r
        r += 2 + len(_help_notes(sheet)) + 1
    return rows


def _write_help(ws, sheets: list[tuple[ResultSheet, str]], rows: dict[int, int]) -> None:
    """The 結果說明 sheet: one section per result sheet, its title linked back to the sheet (DESIGN §5);
    each note a bullet (column A) and its text (column B, wrapped)."""
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.hyperlink import Hyperlink

    ws.column_dimensions["A"].width = 3
    ws.column_dimensions["B"].width = HELP_WIDTH
    ws.cell(row=1, column=1, value=HELP_TITLE).font = Font(bold=True, size=TITLE_SIZE)
    wrap = Alignment(wrap_text=True, vertical="top")
    for sheet, title in sheets:
        r = rows[id(sheet)]
        head = ws.cell(row=r, column=1, value=title)
        head.font = Font(bold=True, size=12, color="FFFFFF", underline="single")
        head.fill = PatternFill("solid", fgColor=HEADER_FILL)
        ws.cell(row=r, column=2).fill = PatternFill("solid", fgColor=HEADER_FILL)
        head.hyperlink = Hyperlink(ref=f"A{r}", location=f"'{title}'!A1", tooltip=f"回到 {title}")
        lead = sheet.lead or (sheet.notes[0] if sheet.notes else "")
        for offset, text in enumerate((lead, *_help_notes(sheet)), start=1):
            cell = ws.cell(row=r + offset, column=2)
            _put_value(cell, text)  # text, never a formula
            cell.alignment = wrap
            if offset == 1:
                cell.font = Font(bold=True)
            else:
                ws.cell(row=r + offset, column=1, value="•").alignment = Alignment(horizontal="right", vertical="top")
            lines = max(1, -(-_display_width(text) // (HELP_WIDTH - 6)))
            ws.row_dimensions[r + offset].height = 16 * lines + 2
    ws.freeze_panes = "A2"
    ws.page_setup.orientation = "portrait"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
