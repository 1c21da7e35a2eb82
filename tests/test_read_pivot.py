"""A real workbook with a pivot table (issue 14) is scored like any other, from the command line and
from the drop folder, and its result — the rep's sheets copied in, the pivot sheet with them —
opens in LibreOffice.

tests/data/pivot-libreoffice.xlsx was written by LibreOffice Calc 7.4 through its Python-UNO bridge
from templates/交易.xlsx with 40 synthetic transactions and a DataPilot over them
(tests/data/make_pivot_fixture.py says how; the suite does not need UNO).
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest
from conftest import libreoffice_convert
from dropfolder_kit import ServiceProcess, drop, files, ledger_rows, results, write_config

from processor.read.workbook import read_input

AS_OF = "2026-01-01"  # the fixture's transactions run through 2025
PIVOT = Path(__file__).parent / "data" / "pivot-libreoffice.xlsx"


def _pivot_parts(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return [n for n in zf.namelist() if n.startswith(("xl/pivotTables/", "xl/pivotCache/"))]


def test_the_fixture_is_a_real_pivot_workbook_whose_sheets_are_read():
    parts = _pivot_parts(PIVOT)
    assert any(n.startswith("xl/pivotTables/pivotTable") for n in parts)
    assert any(n.startswith("xl/pivotCache/pivotCacheDefinition") for n in parts)
    sheets = {s.name: s.grid for s in read_input(PIVOT)}
    assert list(sheets) == ["交易", "設定", "樞紐分析"]
    assert sheets["交易"].shape == (41, 6) and sheets["交易"].iat[40, 0] == "C0008"
    pivot = sheets["樞紐分析"]
    assert pivot.iat[2, 0] == "品項" and pivot.iat[7, 1] == 90860  # LibreOffice's own total of 金額


def _check_result(out: Path, tmp_path: Path) -> None:
    wb = openpyxl.load_workbook(out)
    assert {"交易", "設定", "樞紐分析", "摘要", "沉默排名"} <= set(wb.sheetnames)
    copied = [[c.value for c in row] for row in wb["交易"].iter_rows(max_row=41)]
    assert copied[0] == ["客戶編號", "日期", "金額", "毛利", "成本", "品項"]
    assert copied[40][0] == "C0008" and copied[40][2] == 500 + (39 * 337) % 4000
    assert wb["樞紐分析"]["B8"].value == 90860
    # LibreOffice opens the result: converted to .ods, the rep's sheets and ours are all in it
    ods = libreoffice_convert(out, tmp_path / "lo", "ods")
    names = [s.name for s in read_input(ods)]
    assert {"交易", "樞紐分析", "摘要", "沉默排名"} <= set(names)


@pytest.mark.libreoffice
def test_a_pivot_workbook_is_scored_by_the_cli_and_its_result_opens_in_libreoffice(run_cli, tmp_path):
    out = tmp_path / "pivot.scored.xlsx"
    (tmp_path / "lo").mkdir()
    ran = run_cli("score", PIVOT, "-o", out, "--as-of", AS_OF)
    assert ran.returncode == 0 and "交易" in ran.stdout
    _check_result(out, tmp_path)


@pytest.mark.libreoffice
def test_a_pivot_workbook_dropped_on_the_share_is_scored_and_archived(tmp_path):
    root = tmp_path / "share"
    (tmp_path / "lo").mkdir()
    drop(root, "樞紐.xlsx", PIVOT.read_bytes())
    service = ServiceProcess(root, "--once", "--as-of", AS_OF, config=write_config(tmp_path / "c.toml"))
    assert service.wait(120) == 0
    assert results(root) == ["樞紐.scored.xlsx"] and files(root / "failed") == []
    assert files(root / "archive") == ["樞紐.xlsx"]
    assert [r["status"] for r in ledger_rows(root)] == ["archived"]
    out = tmp_path / "result.xlsx"
    shutil.copyfile(root / "outbox" / "樞紐.scored.xlsx", out)
    _check_result(out, tmp_path)


def test_a_pivot_workbook_whose_cache_openpyxl_cannot_load_is_scored_with_its_sheets_copied_as_values(
    run_cli, tmp_path
):
    # the same file with its pivot cache records part missing (the relationship to it kept): openpyxl's
    # full load raises KeyError, so the result copies the sheets from the grids calamine read
    broken = tmp_path / "no-records.xlsx"
    with zipfile.ZipFile(PIVOT) as zf, zipfile.ZipFile(broken, "w", zipfile.ZIP_DEFLATED) as out:
        for info in zf.infolist():
            if not info.filename.startswith("xl/pivotCache/pivotCacheRecords"):
                out.writestr(info, zf.read(info))
    with pytest.raises(KeyError):
        openpyxl.load_workbook(broken)
    out = tmp_path / "r.xlsx"
    run_cli("score", broken, "-o", out, "--as-of", AS_OF)
    wb = openpyxl.load_workbook(out)
    assert {"交易", "設定", "樞紐分析", "摘要", "沉默排名"} <= set(wb.sheetnames)
    assert [c.value for c in wb["樞紐分析"]["B"]][2:8] == ["Sum - 金額", 24400, 17660, 27770, 21030, 90860]
    assert wb["交易"]["A41"].value == "C0008"
