"""The renderer: long blocks streamed as XML give the same cells as openpyxl cell by cell; print setup."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import openpyxl
import pandas as pd
import pytest
from conftest import libreoffice_convert

from processor.pipeline import Analysis
from processor.settings import Settings
from processor.sheets.report import (
    BULK_MIN_ROWS,
    Block,
    BulkRows,
    ResultSheet,
    render,
    save_workbook,
    write_result_sheet,
)


def mixed_frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    floats = rng.normal(100, 30, n)
    floats[::7] = np.nan
    dates = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D"))
    dates[::11] = pd.NaT
    text = np.array([f"客戶 {i} & <b>" if i % 5 else "=SUM(A1:A9)" for i in range(n)], dtype=object)
    text[::13] = None
    return pd.DataFrame(
        {
            "整數": np.arange(n, dtype=np.int64),
            "小數": floats,
            "日期": dates,
            "文字": text,
            "分類": pd.Categorical(np.array(["a", "b", "c"])[np.arange(n) % 3]),
            "是否": np.arange(n) % 2 == 0,
            "可空整數": pd.array([None if i % 9 == 0 else i for i in range(n)], dtype="Int64"),
        }
    )


def _sheet(frame: pd.DataFrame) -> ResultSheet:
    block = Block(frame, formats={"小數": "0.00"}, color_scale=("小數",), data_bars=("整數",), widths={"文字": 30})
    return ResultSheet("結果", (block, Block(frame.head(3), title="小表", as_table=False)), ("標題", "說明" * 200))


def _cells(path):
    """Every cell as (value, format, type); floats to 10 digits (openpyxl rounds floats it writes;
    the stream writes the exact repr)."""
    ws = openpyxl.load_workbook(path)["結果"]
    return [
        [
            (float(f"{c.value:.10g}") if isinstance(c.value, float) else c.value, c.number_format, c.data_type)
            for c in row
        ]
        for row in ws.iter_rows()
    ]


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
    assert (
        ws.cell(header + 6, 4).value == "=SUM(A1:A9)" and ws.cell(header + 6, 4).data_type == "s"
    )  # text, not a formula
    assert ws.cell(header + 2, 4).value == "客戶 1 & <b>"
    table = next(iter(ws.tables.values()))
    assert table.ref == f"A{header}:G{header + len(frame)}"


def test_sheets_print_with_repeated_headers_and_a_wrapped_lead_line(tmp_path):
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    sheet = dataclasses.replace(_sheet(mixed_frame(100)), lead="這張表是每位客戶的結果，第一欄是整數；" * 20)
    write_result_sheet(wb, sheet, set(), BulkRows())
    ws = wb["結果"]
    header = next(r for r in range(1, 10) if ws.cell(r, 1).value == "整數")
    assert header == 3 and ws.print_title_rows == f"${header}:${header}"
    assert ws.page_setup.fitToWidth == 1 and ws.page_setup.orientation == "landscape"
    [lead] = [r for r in ws.merged_cells.ranges if r.min_row == 1]  # the long lead spans the table, wrapped
    assert lead.min_col == 1 and lead.max_col >= 7
    assert ws.cell(1, 1).alignment.wrap_text and ws.row_dimensions[1].height > 3 * 15


def test_summary_numbers_are_numbers_with_number_formats(tmp_path):
    from processor.sheets.transactions import build_results

    frame = pd.DataFrame(
        {
            "customer_id": ["A", "A", "B", "C", "C", "C"],
            "amount": [100.0, 50, 20, 5, 5, 5],
            "date": pd.to_datetime(
                ["2025-01-01", "2025-02-01", "2025-01-15", "2025-01-01", "2025-01-10", "2025-03-01"]
            ),
        }
    )
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
    libreoffice_convert(tmp_path / "r.xlsx", tmp_path, "csv:Text - txt - csv (StarCalc):44,34,76")
    back = pd.read_csv(tmp_path / "r.csv")
    assert len(back) == len(frame)
    assert back["整數"].tolist() == frame["整數"].tolist()
    assert back.loc[BULK_MIN_ROWS, "文字"] == frame.loc[BULK_MIN_ROWS, "文字"]


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("http://example.invalid/A123456789","開啟")',
        "=cmd|' /C calc'!A123456789",
        "+A123456789",
        "@A123456789",
    ],
)
def test_a_masked_id_in_a_cell_that_starts_like_a_formula_stays_text_in_the_copied_sheet(run_cli, tmp_path, text):
    from conftest import write_rows

    path = write_rows(
        tmp_path / "list.xlsx", {"跟進": [["姓名", "日期", "方式", "備註"], ["王小明", "2024/05/01", "電話", text]]}
    )
    run_cli("score", path, "-o", tmp_path / "out.xlsx", "--as-of", "2024-06-28")
    cell = openpyxl.load_workbook(tmp_path / "out.xlsx")["跟進"]["D2"]
    assert cell.data_type == "s" and "A12*****89" in cell.value and "A123456789" not in cell.value
    with __import__("zipfile").ZipFile(tmp_path / "out.xlsx") as zf:
        sheet = next(n for n in zf.namelist() if n.startswith("xl/worksheets/sheet1"))
        assert b"<f>" not in zf.read(sheet), "a formula was written into the rep's sheet"


def _render(tmp_path, sheets, settings=None):
    out = tmp_path / "out.xlsx"
    render(Analysis([], [], [], list(sheets), {}, settings or Settings()), tmp_path / "in.xlsx", out)
    return openpyxl.load_workbook(out)


def test_each_sheet_opens_with_one_line_linked_to_its_own_section_of_the_help_sheet(tmp_path):
    frame = pd.DataFrame({"排名": [1, 2], "客戶": ["A", "B"]})
    sheets = [
        ResultSheet("甲表", (Block(frame),), ("甲的算法一", "甲的算法二"), lead="甲表是名單；第一欄是排名。"),
        ResultSheet("乙表", (Block(frame, title="乙的表"),), ("乙的算法",), lead="乙表是統計。"),
    ]
    wb = _render(tmp_path, sheets)
    assert wb.sheetnames == ["甲表", "乙表", "結果說明"]
    help_ws = wb["結果說明"]
    for name, notes in (("甲表", ("甲的算法一", "甲的算法二")), ("乙表", ("乙的算法",))):
        ws = wb[name]
        assert ws["A1"].value.startswith(sheets[0].lead if name == "甲表" else sheets[1].lead)
        [link] = [c for c in ws[1] if c.hyperlink is not None]  # on row 1, beside the lead line
        sheet_name, cell = link.hyperlink.location.split("!")
        assert sheet_name.strip("'") == "結果說明" and help_ws[cell].value == name  # the section's title
        assert help_ws[cell].hyperlink.location == f"'{name}'!A1"  # … which links back
        start = help_ws[cell].row
        assert [help_ws.cell(start + 2 + i, 2).value for i in range(len(notes))] == list(notes)
        header = next(r for r in range(1, 10) if ws.cell(r, 1).value == "排名")
        assert header <= 3, "the table starts by row 3"
        assert not any(note in str(c.value) for row in ws.iter_rows() for c in row for note in notes), (
            "method notes live in 結果說明, not above the table"
        )


def test_a_result_scored_again_drops_its_old_help_sheet(run_cli, tmp_path):
    from tests.conftest import write_rows

    rows = [["姓名", "最後聯絡日", "意向等級"], ["甲", "113/06/20", "B"]]
    path = write_rows(tmp_path / "c.xlsx", {"名單": rows})
    run_cli("score", path, "--as-of", "2024-06-28")
    run_cli("score", tmp_path / "c.scored.xlsx", "-o", tmp_path / "again.xlsx", "--as-of", "2024-06-28")
    names = openpyxl.load_workbook(tmp_path / "again.xlsx").sheetnames
    assert names.count("結果說明") == 1 and names[-1] == "結果說明" and "結果說明 (2)" not in names


def test_a_chart_with_a_loss_shows_the_bar_below_zero_and_sits_beside_its_table(tmp_path):
    from processor.sheets.report import Chart, chart_rows

    compare = pd.DataFrame({"做法": ["照名單打", "全部都打"], "利潤": [90520.0, -87500.0]})
    counts = pd.DataFrame({"組": ["a", "b"], "人數": [3, 4]})
    chart = Chart("col", "利潤比較", "做法", ("利潤",))
    wide = pd.DataFrame({f"欄{i}": [1] for i in range(12)})
    sheet = ResultSheet(
        "評估",
        (
            Block(compare, "比較", charts=(chart,)),
            Block(wide, "寬表"),
            Block(counts, "人數", charts=(Chart("col", "人數", "組", ("人數",)),)),
        ),
        lead="評估。",
    )
    ws = _render(tmp_path, [sheet])["評估"]
    loss, count = ws._charts
    assert loss.y_axis.scaling.min is None, "an axis pinned at 0 hides the −87,500 bar"
    assert count.y_axis.scaling.min == 0
    anchor = loss.anchor._from
    assert anchor.col == len(compare.columns) + 1  # 0-based: one empty column after the table's two
    compare_header = next(r for r in range(1, 10) if ws.cell(r, 1).value == "做法")
    assert anchor.row + 1 == compare_header
    wide_header = next(r for r in range(1, 80) if ws.cell(r, 1).value == "欄0")
    assert wide_header > compare_header + chart_rows(chart) - 1, "the next, wider table starts below the chart"


def test_header_comments_explain_columns_and_analyst_columns_are_folded_away(tmp_path):
    frame = pd.DataFrame({"排名": [1], "幾天沒來": [40], "秩次比 TrF": [0.9], "原始列": [7]})
    block = Block(frame, comments={"幾天沒來": "基準日 − 最近購買日"}, hidden=("秩次比 TrF", "原始列"))
    ws = _render(tmp_path, [ResultSheet("表", (block,), lead="表。")])["表"]
    header = next(r for r in range(1, 10) if ws.cell(r, 1).value == "排名")
    assert ws.cell(header, 2).comment.text == "基準日 − 最近購買日"
    assert [ws.column_dimensions[c].hidden for c in "ABCD"] == [False, False, True, True]
    assert ws.column_dimensions["C"].outlineLevel == 1


def test_dates_show_in_roc_years_when_the_setting_says_so_and_stay_real_dates(tmp_path):
    frame = pd.DataFrame({"日": pd.to_datetime(["2026-11-29"]), "文字": ["x"]})
    block = Block(frame, formats={"日": "yyyy/mm/dd"})
    for display, expected in (("民國", "[$-404]e/mm/dd"), ("西元", "yyyy/mm/dd")):
        ws = _render(tmp_path, [ResultSheet("表", (block,), lead="表。")], Settings(date_display=display))["表"]
        cell = ws.cell(next(r for r in range(1, 10) if ws.cell(r, 1).value == "日") + 1, 1)
        assert cell.number_format == expected and cell.value.year == 2026
