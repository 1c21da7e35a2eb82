"""The renderer: long blocks streamed as XML give the same cells as openpyxl cell by cell; print setup."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import openpyxl
import pandas as pd
import pytest

from processor.pipeline import Analysis
from processor.sheets.report import BULK_MIN_ROWS, Block, BulkRows, ResultSheet, render, save_workbook, write_result_sheet
from processor.settings import Settings


def mixed_frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    floats = rng.normal(100, 30, n)
    floats[::7] = np.nan
    dates = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D"))
    dates[::11] = pd.NaT
    text = np.array([f"客戶 {i} & <b>" if i % 5 else "=SUM(A1:A9)" for i in range(n)], dtype=object)
    text[::13] = None
    return pd.DataFrame({
        "整數": np.arange(n, dtype=np.int64),
        "小數": floats,
        "日期": dates,
        "文字": text,
        "分類": pd.Categorical(np.array(["a", "b", "c"])[np.arange(n) % 3]),
        "是否": np.arange(n) % 2 == 0,
        "可空整數": pd.array([None if i % 9 == 0 else i for i in range(n)], dtype="Int64"),
    })


def _sheet(frame: pd.DataFrame) -> ResultSheet:
    block = Block(frame, formats={"小數": "0.00"}, color_scale=("小數",), data_bars=("整數",), widths={"文字": 30})
    return ResultSheet("結果", (block, Block(frame.head(3), title="小表", as_table=False)), ("標題", "說明" * 200))


def _cells(path):
    """Every cell as (value, format, type); floats to 10 digits (openpyxl rounds floats it writes; the stream writes the exact repr)."""
    ws = openpyxl.load_workbook(path)["結果"]
    return [[(float(f"{c.value:.10g}") if isinstance(c.value, float) else c.value, c.number_format, c.data_type)
             for c in row] for row in ws.iter_rows()]


def test_long_block_streamed_as_xml_has_the_same_cells_as_openpyxl_writes(tmp_path):
    frame = mixed_frame(BULK_MIN_ROWS * 3)
    for name, bulk in (("bulk.xlsx", BulkRows()), ("cells.xlsx", None)):
        wb = openpyxl.Workbook()
        wb.remove(wb.active)
        write_result_sheet(wb, _sheet(frame), set(), bulk)
        save_workbook(wb, tmp_path / name, bulk)
    assert _cells(tmp_path / "bulk.xlsx") == _cells(tmp_path / "cells.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "bulk.xlsx")["結果"]
    header = next(r for r in range(1, 10) if ws.cell(r, 1).value == "整數")
    middle = header + 1 + BULK_MIN_ROWS  # a streamed row
    assert ws.cell(middle, 1).value == BULK_MIN_ROWS
    assert ws.cell(header + 6, 4).value == "=SUM(A1:A9)" and ws.cell(header + 6, 4).data_type == "s"  # text, not a formula
    assert ws.cell(header + 2, 4).value == "客戶 1 & <b>"
    table = next(iter(ws.tables.values()))
    assert table.ref == f"A{header}:G{header + len(frame)}"


def test_sheets_print_with_repeated_headers_and_wrapped_notes(tmp_path):
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    write_result_sheet(wb, _sheet(mixed_frame(100)), set(), BulkRows())
    ws = wb["結果"]
    header = next(r for r in range(1, 10) if ws.cell(r, 1).value == "整數")
    assert ws.print_title_rows == f"${header}:${header}"
    assert ws.page_setup.fitToWidth == 1 and ws.page_setup.orientation == "landscape"
    [note] = [r for r in ws.merged_cells.ranges if r.min_row == 2]  # the long note spans the table, wrapped
    assert note.min_col == 1 and note.max_col >= 7
    assert ws.cell(2, 1).alignment.wrap_text and ws.row_dimensions[2].height > 3 * 15


def test_summary_numbers_are_numbers_with_number_formats(tmp_path):
    from processor.analyse.transactions import build_results

    frame = pd.DataFrame({"customer_id": ["A", "A", "B", "C", "C", "C"], "amount": [100.0, 50, 20, 5, 5, 5],
                          "date": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-01-15", "2025-01-01",
                                                  "2025-01-10", "2025-03-01"])})
    results = build_results(frame, "2025-03-10", Settings())
    sheet = ResultSheet("摘要", tuple(results["summary_blocks"]))
    render(Analysis([], [], [], [sheet], {}, Settings()), tmp_path / "in.xlsx", tmp_path / "out.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "out.xlsx")["摘要"]
    values = {ws.cell(r, 1).value: ws.cell(r, 2) for r in range(1, 12)}
    assert values["客戶數"].value == 3 and values["客戶數"].number_format == "#,##0"
    share = values["已沉默比例（S ≥ 1）"]
    assert isinstance(share.value, float) and share.number_format == "0.0%"
    assert values["總消費金額"].value == 185


@pytest.mark.libreoffice
def test_libreoffice_reads_the_streamed_rows(tmp_path):
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice is not installed")
    frame = mixed_frame(BULK_MIN_ROWS * 2)
    bulk = BulkRows()
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    write_result_sheet(wb, ResultSheet("結果", (Block(frame),)), set(), bulk)
    save_workbook(wb, tmp_path / "r.xlsx", bulk)
    subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp_path}/lo", "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76",
                    "--outdir", str(tmp_path), str(tmp_path / "r.xlsx")], check=True, capture_output=True, timeout=240)
    back = pd.read_csv(tmp_path / "r.csv")
    assert len(back) == len(frame)
    assert back["整數"].tolist() == frame["整數"].tolist()
    assert back.loc[BULK_MIN_ROWS, "文字"] == frame.loc[BULK_MIN_ROWS, "文字"]


@pytest.mark.parametrize("text", ['=HYPERLINK("http://example.invalid/A123456789","開啟")',
                                  "=cmd|' /C calc'!A123456789", "+A123456789", "@A123456789"])
def test_a_masked_id_in_a_cell_that_starts_like_a_formula_stays_text_in_the_copied_sheet(run_cli, tmp_path, text):
    from conftest import write_rows

    path = write_rows(tmp_path / "list.xlsx", {"跟進": [["姓名", "日期", "方式", "備註"],
                                                         ["王小明", "2024/05/01", "電話", text]]})
    run_cli("score", path, "-o", tmp_path / "out.xlsx", "--as-of", "2024-06-28")
    cell = openpyxl.load_workbook(tmp_path / "out.xlsx")["跟進"]["D2"]
    assert cell.data_type == "s" and "A12*****89" in cell.value and "A123456789" not in cell.value
    with __import__("zipfile").ZipFile(tmp_path / "out.xlsx") as zf:
        sheet = next(n for n in zf.namelist() if n.startswith("xl/worksheets/sheet1"))
        assert b"<f>" not in zf.read(sheet), "a formula was written into the rep's sheet"
