"""日期顯示 (issue 15): dates in the result follow how the rep writes them, or the 設定, and survive
scoring the result again."""

from __future__ import annotations

import shutil
import subprocess

import openpyxl
import pytest
from conftest import libreoffice_convert, write_rows

AS_OF = "2024-06-28"
ROC_FORMAT = "[$-404]e/mm/dd"


def _contacts(path, last_contacts, settings=None):
    rows = [["姓名", "最後聯絡日", "意向等級"]] + [[f"客戶{i}", day, "B"] for i, day in enumerate(last_contacts)]
    sheets = {"名單": rows}
    if settings:
        sheets["設定"] = [["項目", "值"], *settings]
    return write_rows(path, sheets)


def _dated_cells(path, sheet="跟進排程"):
    """(header, value, number format) of every date cell of a result sheet."""
    ws = openpyxl.load_workbook(path)[sheet]
    header_row = next(r for r in range(1, 6) if ws.cell(r, 1).value == "狀態")
    headers = {c.column: c.value for c in ws[header_row]}
    return sorted(
        (headers[c.column], c.value, c.number_format)
        for row in ws.iter_rows(min_row=header_row + 1)
        for c in row
        if c.is_date and c.value is not None
    )


def test_roc_input_gives_roc_dates_and_the_scored_result_scored_again_gives_the_same_dates(run_cli, tmp_path):
    path = _contacts(tmp_path / "c.xlsx", ["113/06/20", "113/5/1", "民國113年6月1日"])
    run_cli("score", path, "--as-of", AS_OF)
    first = _dated_cells(tmp_path / "c.scored.xlsx")
    assert first and {fmt for _, _, fmt in first} == {ROC_FORMAT}, "dates typed in 民國 years show in 民國 years"
    assert ("最後聯絡日", __import__("datetime").datetime(2024, 6, 20), ROC_FORMAT) in first  # a real date
    run_cli("score", tmp_path / "c.scored.xlsx", "-o", tmp_path / "again.xlsx", "--as-of", AS_OF)
    assert _dated_cells(tmp_path / "again.xlsx") == first


def test_western_input_keeps_western_dates_and_the_setting_overrides_either_way(run_cli, tmp_path):
    western = _contacts(tmp_path / "w.xlsx", ["2024/06/20", "2024/05/01"])
    run_cli("score", western, "--as-of", AS_OF)
    assert {fmt for _, _, fmt in _dated_cells(tmp_path / "w.scored.xlsx")} == {"yyyy/mm/dd"}
    forced = _contacts(tmp_path / "f.xlsx", ["2024/06/20"], settings=[["日期顯示", "民國"]])
    run_cli("score", forced, "--as-of", AS_OF)
    assert {fmt for _, _, fmt in _dated_cells(tmp_path / "f.scored.xlsx")} == {ROC_FORMAT}
    kept = _contacts(tmp_path / "k.xlsx", ["113/06/20"], settings=[["日期顯示", "西元"]])
    run_cli("score", kept, "--as-of", AS_OF)
    assert {fmt for _, _, fmt in _dated_cells(tmp_path / "k.scored.xlsx")} == {"yyyy/mm/dd"}
    summary = openpyxl.load_workbook(tmp_path / "f.scored.xlsx")["摘要"]["A1"].value
    assert "基準日 113/06/28" in summary, "text dates follow the setting too"


def test_a_date_display_that_is_neither_is_reported_and_the_default_used(run_cli, tmp_path):
    from conftest import sheet_rows

    path = _contacts(tmp_path / "b.xlsx", ["113/06/20"], settings=[["日期顯示", "農曆"]])
    run_cli("score", path, "--as-of", AS_OF)
    check = sheet_rows(tmp_path / "b.scored.xlsx", "資料檢查", "問題")
    assert check["內容"].eq("農曆").any()


@pytest.mark.libreoffice
def test_libreoffice_shows_the_roc_year(run_cli, tmp_path):
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext not installed (CI installs it: see .ci/run)")
    path = _contacts(tmp_path / "c.xlsx", ["113/06/20"])
    run_cli("score", path, "--as-of", AS_OF)
    wb = openpyxl.load_workbook(tmp_path / "c.scored.xlsx")
    for name in wb.sheetnames:
        if name != "跟進排程":
            del wb[name]
    wb.save(tmp_path / "plan.xlsx")
    libreoffice_convert(tmp_path / "plan.xlsx", tmp_path, "pdf")
    text = subprocess.run(["pdftotext", str(tmp_path / "plan.pdf"), "-"], capture_output=True, text=True).stdout
    assert "113/06/20" in text and "2024/06/20" not in text


def test_the_basis_date_written_in_text_follows_the_date_display_too(run_cli, tmp_path):
    path = _contacts(tmp_path / "c.xlsx", ["113/06/20", "113/5/1"])
    run_cli("score", path, "--as-of", AS_OF)
    wb = openpyxl.load_workbook(tmp_path / "c.scored.xlsx")
    text = " ".join(
        str(c.value)
        for name in ("跟進排程", "今日聯絡", "結果說明")
        if name in wb.sheetnames
        for row in wb[name].iter_rows(max_row=60)
        for c in row
        if isinstance(c.value, str)
    )
    assert "基準日 113/06/28" in text and "2024/06/28" not in text
