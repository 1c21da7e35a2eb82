"""The open-workbook interface over Excel itself, through xlwings (Windows and macOS only).

Deliberately thin: every method is one or two xlwings calls; all logic is in
:mod:`addin.ribbon` and is tested on Linux through :class:`addin.adapter.FileWorkbook`.
This file cannot be exercised off Windows/macOS (no Excel), which docs/excel-addin.md states.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import xlwings as xw

from processor.read.workbook import RawSheet

from .adapter import CONFIG_SHEET, as_in_file, config_from_rows


class ExcelWorkbook:
    def __init__(self, book: xw.Book):
        self.book = book
        self.name = book.name

    @classmethod
    def caller(cls) -> ExcelWorkbook:
        return cls(xw.Book.caller())

    def path(self) -> Path | None:
        full = self.book.fullname
        return Path(full) if full and Path(full).is_file() else None

    def read_sheets(self) -> list[RawSheet]:
        out = []
        for sheet in self.book.sheets:
            last = sheet.used_range.last_cell
            rows = sheet.range((1, 1), (last.row, last.column)).options(ndim=2).value
            grid = pd.DataFrame(rows, dtype=object).map(as_in_file)
            out.append(RawSheet(sheet.name, grid, "xlsx"))
        return out

    def config(self) -> dict[str, object]:
        if CONFIG_SHEET not in [s.name for s in self.book.sheets]:
            return {}
        rows = self.book.sheets[CONFIG_SHEET].range("A1").expand("down").resize(column_size=2).options(ndim=2).value
        return config_from_rows(rows)

    def set_config(self, key: str, value: str) -> None:
        if CONFIG_SHEET not in [s.name for s in self.book.sheets]:
            self.book.sheets.add(CONFIG_SHEET, after=self.book.sheets[-1])
        sheet = self.book.sheets[CONFIG_SHEET]
        keys = list(self.config())
        row = keys.index(key) + 1 if key in keys else len(keys) + 1
        sheet.range((row, 1)).value = [key, value]

    def put_sheets(self, rendered: Path, replace: list[str]) -> list[str]:
        app = self.book.app
        alerts, app.display_alerts = app.display_alerts, False
        try:
            for name in replace:
                if name in [s.name for s in self.book.sheets]:
                    self.book.sheets[name].delete()
            source = app.books.open(str(rendered))
            try:
                added = []
                for sheet in source.sheets:
                    copied = sheet.copy(after=self.book.sheets[-1])  # Excel's Sheet.Copy: formats, tables, charts
                    added.append(copied.name)
                return added
            finally:
                source.close()  # never leave the temporary results workbook open in Excel
        finally:
            app.display_alerts = alerts

    def status(self, text: str | None) -> None:
        self.book.app.status_bar = text if text else False

    def message(self, text: str, title: str = "精準名單", error: bool = False) -> None:
        self.book.app.alert(text, title=title, mode="critical" if error else "info")

    def save_copy(self, destination: Path) -> None:
        if hasattr(self.book.api, "SaveCopyAs"):  # Windows COM: a copy; the open workbook is untouched
            self.book.api.SaveCopyAs(str(destination))
        else:
            # Excel for Mac's scripting has no "save a copy": the workbook is saved in place first
            # (送出評分 says so, and docs/excel-addin.md), then the saved file is copied
            self.book.save()
            Path(destination).write_bytes(Path(self.book.fullname).read_bytes())

    @property
    def saves_before_copy(self) -> bool:
        return not hasattr(self.book.api, "SaveCopyAs")

    def open_file(self, path: Path) -> None:
        self.book.app.books.open(str(path))
