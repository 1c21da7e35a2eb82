"""The small interface the ribbon handlers see instead of Excel, and its file implementation.

:class:`OpenWorkbook` is everything a handler may do to "the open workbook": read its sheets
as raw grids, read/write its ``xlwings.conf`` settings, put the sheets of a rendered .xlsx into
it, show a status-bar text or a message box, save a copy, open another file. Two
implementations: :class:`addin.excel.ExcelWorkbook` (xlwings, as thin as possible) and
:class:`FileWorkbook` here (openpyxl on a real .xlsx/.xlsm file), which the tests drive on
Linux and which also serves a workbook that is not open in Excel.
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path
from typing import Protocol

import openpyxl

from processor.read.workbook import CONFIG_SHEET, RawSheet, atomic_output, config_from_rows, read_input
from processor.sheets.report import safe_sheet_name


class OpenWorkbook(Protocol):
    """What the ribbon handlers may do to the workbook the rep has open."""

    name: str

    def path(self) -> Path | None:
        """Where the workbook is saved (None if never saved)."""

    def read_sheets(self) -> list[RawSheet]:
        """Every sheet as a raw grid (row 0 = Excel row 1), as processor.read.workbook.read_input gives."""

    def config(self) -> dict[str, object]:
        """The ``xlwings.conf`` sheet: column A key → column B value (keys as written)."""

    def set_config(self, key: str, value: str) -> None:
        """Write one ``xlwings.conf`` entry (added at the end if new)."""

    def put_sheets(self, rendered: Path, replace: list[str]) -> list[str]:
        """Delete the sheets named in ``replace``, then copy every sheet of the ``rendered`` .xlsx
        in, at the end, formats, tables and charts included; returns the names they got."""

    def status(self, text: str | None) -> None:
        """Status-bar text (None restores Excel's own)."""

    def message(self, text: str, title: str = "精準名單", error: bool = False) -> None:
        """A message box."""

    def save_copy(self, destination: Path) -> None:
        """Save a copy of the workbook (as it is now, unsaved edits included) to ``destination``."""

    def open_file(self, path: Path) -> None:
        """Open another workbook for the rep."""


def as_in_file(value):
    """A cell value as the service's reader (openpyxl) gives it: Excel COM hands every number
    over as a float, openpyxl gives whole numbers as int — so 客戶編號 12345 is not "12345.0".

    >>> as_in_file(12345.0), as_in_file(2.5), as_in_file("A1")
    (12345, 2.5, 'A1')
    """
    return int(value) if isinstance(value, float) and value.is_integer() else value


class FileWorkbook:
    """The open-workbook interface over a workbook file (openpyxl): used by tests and scripts.

    Message boxes and status texts are recorded in ``messages`` / ``statuses``; files the
    handler asks to open are recorded in ``opened``.
    """

    def __init__(self, path: str | os.PathLike):
        self._path = Path(path)
        self.name = self._path.name
        self.messages: list[tuple[str, str, bool]] = []
        self.statuses: list[str | None] = []
        self.opened: list[Path] = []
        self._saved: tuple | None = None  # (the workbook this object saved last, the file's signature after it)

    def path(self) -> Path | None:
        return self._path

    def _load(self):
        """The workbook to change: the one this object saved last if the file is still exactly that save
        (a button writes its sheets, then its xlwings.conf line: one parse of the file instead of two), else
        the file parsed anew. The kept copy is taken out while it changes, so a failed save never leaves it."""
        kept, self._saved = self._saved, None
        if kept is not None and kept[1] == self._signature():
            return kept[0]
        return openpyxl.load_workbook(self._path, keep_vba=self._path.suffix.lower() == ".xlsm")

    def _save(self, wb) -> None:
        with atomic_output(self._path, suffix=self._path.suffix) as tmp:
            wb.save(tmp)
        if self._path.suffix.lower() != ".xlsm":  # (an .xlsm's kept VBA is read from the file it was loaded from)
            self._saved = (wb, self._signature())

    def _signature(self) -> tuple:
        """What changes whenever anything else writes the file: its inode, size and modification time."""
        stat = os.stat(self._path)
        return stat.st_ino, stat.st_size, stat.st_mtime_ns

    def read_sheets(self) -> list[RawSheet]:
        return read_input(self._path)

    def config(self) -> dict[str, object]:
        wb = openpyxl.load_workbook(self._path, read_only=True, data_only=True)
        try:
            if CONFIG_SHEET not in wb.sheetnames:
                return {}
            return config_from_rows(
                (row[0], row[1] if len(row) > 1 else None)
                for row in wb[CONFIG_SHEET].iter_rows(max_col=2, values_only=True)
            )
        finally:
            wb.close()

    def set_config(self, key: str, value: str) -> None:
        wb = self._load()
        ws = wb[CONFIG_SHEET] if CONFIG_SHEET in wb.sheetnames else wb.create_sheet(CONFIG_SHEET)
        row = 1
        while ws.cell(row, 1).value not in (None, "") and str(ws.cell(row, 1).value).strip() != key:
            row += 1
        ws.cell(row, 1, key)
        ws.cell(row, 2, value)
        self._save(wb)

    def put_sheets(self, rendered: Path, replace: list[str]) -> list[str]:
        target = self._load()
        for name in replace:
            if name in target.sheetnames:
                target.remove(target[name])
        source = openpyxl.load_workbook(rendered)
        added = []
        for ws in source.worksheets:
            added.append(copy_sheet(ws, target).title)
        self._save(target)
        return added

    def status(self, text: str | None) -> None:
        self.statuses.append(text)

    def message(self, text: str, title: str = "精準名單", error: bool = False) -> None:
        self.messages.append((title, text, error))

    def save_copy(self, destination: Path) -> None:
        shutil.copyfile(self._path, destination)

    def open_file(self, path: Path) -> None:
        self.opened.append(Path(path))


def copy_sheet(ws, target):
    """Copy one openpyxl worksheet into another workbook: values, styles, sizes, frozen panes,
    merged cells, conditional formats, validations, tables and charts (what Excel's Sheet.Copy
    keeps, for the parts processor.sheets.report writes)."""
    out = target.create_sheet(safe_sheet_name(ws.title, set(target.sheetnames)))
    styles: dict[tuple, object] = {}  # source style → the equivalent style in ``target``
    for row in ws.iter_rows():
        for cell in row:
            if cell.value is None and not cell.has_style:
                continue
            new = out.cell(row=cell.row, column=cell.column, value=cell.value)
            if cell.has_style:
                key = tuple(cell._style)  # noqa: SLF001 - style ids, valid only within ``ws``'s workbook
                if key not in styles:
                    new.font, new.fill, new.border = copy.copy(cell.font), copy.copy(cell.fill), copy.copy(cell.border)
                    new.alignment, new.protection = copy.copy(cell.alignment), copy.copy(cell.protection)
                    new.number_format = cell.number_format
                    styles[key] = new._style  # noqa: SLF001
                else:
                    new._style = copy.copy(styles[key])  # noqa: SLF001
            if cell.hyperlink:
                new.hyperlink = copy.copy(cell.hyperlink)
    for key, dim in ws.column_dimensions.items():
        out.column_dimensions[key].width = dim.width
        out.column_dimensions[key].hidden = dim.hidden
    for key, dim in ws.row_dimensions.items():
        out.row_dimensions[key].height = dim.height
    out.freeze_panes = ws.freeze_panes
    out.sheet_properties.tabColor = ws.sheet_properties.tabColor
    out.sheet_view.showGridLines = ws.sheet_view.showGridLines
    for merged in ws.merged_cells.ranges:
        out.merge_cells(str(merged))
    for cf in ws.conditional_formatting:
        for rule in cf.rules:
            out.conditional_formatting.add(str(cf.sqref), copy.copy(rule))
    for dv in ws.data_validations.dataValidation:
        out.add_data_validation(copy.copy(dv))
    if ws.auto_filter.ref:
        out.auto_filter.ref = ws.auto_filter.ref
    taken = {t for sheet in target.worksheets for t in sheet.tables}
    for table in ws.tables.values():
        new_table = copy.deepcopy(table)
        while new_table.displayName in taken:
            new_table.displayName = new_table.name = new_table.displayName + "_1"
        taken.add(new_table.displayName)
        out.add_table(new_table)
    for chart in ws._charts:  # noqa: SLF001 - openpyxl keeps loaded charts only here
        _retarget_chart(chart, ws.title, out.title)
        out.add_chart(chart, copy.copy(chart.anchor))
    out.print_options = copy.copy(ws.print_options)
    out.page_setup.orientation = ws.page_setup.orientation
    out.page_setup.fitToWidth = ws.page_setup.fitToWidth
    out.sheet_properties.pageSetUpPr = copy.copy(ws.sheet_properties.pageSetUpPr)
    return out


def _retarget_chart(chart, old: str, new: str) -> None:
    """Chart series refer to their sheet by name; a renamed copy must point at itself."""
    if old == new:
        return
    quoted_old, quoted_new = f"'{old}'!", f"'{new}'!"
    for series in getattr(chart, "series", []):
        for ref in (
            series.val and series.val.numRef,
            series.cat and (series.cat.numRef or series.cat.strRef),
            series.tx and series.tx.strRef,
        ):
            if ref is not None and ref.f:
                ref.f = ref.f.replace(quoted_old, quoted_new).replace(f"{old}!", quoted_new)
