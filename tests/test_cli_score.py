"""End to end: the installed CLI on real files in a temp folder, output reopened with openpyxl."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from conftest import AS_OF, sheet_rows, write_rows


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    from processor.demo import write_demo

    directory = tmp_path_factory.mktemp("demo")
    write_demo(directory, seed=0)
    return directory


def test_demo_then_score_each_demo_file_gives_a_result_workbook(run_cli, demo_dir, tmp_path):
    for path in sorted(demo_dir.iterdir()):
        before = sha(path)
        out = tmp_path / f"{path.stem}.result.xlsx"
        result = run_cli("score", path, "-o", out, "--as-of", AS_OF, "--json")
        summary = json.loads(result.stdout)
        assert summary["output"] == str(out) and summary["as_of"] == AS_OF
        assert sha(path) == before, "the input must never be modified"
        wb = openpyxl.load_workbook(out)
        assert {"摘要", "資料檢查"} <= set(wb.sheetnames)
        assert wb.active.title == "摘要"
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".~pl-")], "no temp file left behind"


def test_contact_workbook_gets_followup_schedule_zodiac_and_the_deliberate_mistakes(run_cli, demo_dir, tmp_path):
    out = tmp_path / "contacts.xlsx"
    run_cli("score", demo_dir / "名單與跟進.xlsx", "-o", out, "--as-of", AS_OF)
    plan = sheet_rows(out, "跟進排程", "狀態")
    assert len(plan) >= 290
    assert {"下次跟進日", "逾期天數", "星座", "資料完整度", "MAN類型"} <= set(plan.columns)
    assert set(plan["狀態"]) <= {"逾期", "今天", "3天內", "未到", "尚未接觸"}
    checks = sheet_rows(out, "資料檢查", "嚴重度")
    found = set(zip(checks["列"], checks["欄位"]))
    # the demo's deliberate mistakes, at their Excel rows (title row + header row = +3 from index)
    assert {(6, "生日"), (10, "生日"), (14, "手機"), (18, "意向等級"), (22, "聯絡次數")} <= found
    assert any("重複" in p for p in checks["問題"])
    summary = openpyxl.load_workbook(out)["摘要"]
    assert len(summary._charts) >= 3, "trust, intent and stage bar charts"


def test_loan_workbook_masks_ids_everywhere_and_checks_income(run_cli, demo_dir, tmp_path):
    out = tmp_path / "loans.xlsx"
    run_cli("score", demo_dir / "貸款懶人包.xlsx", "-o", out, "--as-of", AS_OF)
    wb = openpyxl.load_workbook(out)
    review = sheet_rows(out, "貸款檢核", "身分證字號")
    assert len(review) == 7  # the form's applicant + six in the table
    assert review["身分證字號"].str.fullmatch(r"[A-Z]\d{2}\*{5}\d{2}").all()
    assert set(review["收入一致性"]) <= {"一致", "年所得低於月收入×12，請確認", "年所得遠高於月收入×12，請確認獎金或兼差",
                                         "無法比對（缺年所得或月收入）"}
    form_row = review.iloc[0]
    assert form_row["年所得"] == 1_200_000 and form_row["平均月收入"] == 85_000 and form_row["年齡"] == 34
    import re
    unmasked = re.compile(r"^[A-Z][12]\d{8}$")
    for ws in wb.worksheets:
        for row in ws.iter_rows(values_only=True):
            assert not any(isinstance(v, str) and unmasked.match(v) for v in row), f"unmasked ID on {ws.title}"


def test_messy_workbooks_simplified_english_and_xlsm_are_understood(run_cli, tmp_path):
    simplified = write_rows(tmp_path / "简体.xlsx", {"名单": [["姓名", "生日", "信任等级", "意向等级", "最后联络日", "联络次数"],
                                                          ["王小明", "85/03/12", "A", "H", "113/06/20", 5]]})
    english = write_rows(tmp_path / "english.xlsx", {"Sheet1": [["Name", "Birthday", "Trust level", "Intent", "Last contact"],
                                                                ["Amy", "1990-01-02", "b", "a", "2024/6/1"]]})
    xlsx = write_rows(tmp_path / "macro.xlsx", {"交易": [["客戶編號", "日期", "金額"], ["A1", "113/1/5", "3萬"]]})
    xlsm = tmp_path / "macro.xlsm"
    with zipfile.ZipFile(xlsx) as src, zipfile.ZipFile(xlsm, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "[Content_Types].xml":
                data = data.replace(b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                                    b"application/vnd.ms-excel.sheet.macroEnabled.main+xml")
            dst.writestr(item, data)
    for path, kind in ((simplified, "contacts"), (english, "contacts"), (xlsm, "transactions")):
        summary = json.loads(run_cli("score", path, "-o", tmp_path / f"{path.stem}.out.xlsx", "--as-of", AS_OF,
                                     "--json").stdout)
        assert [s["kind"] for s in summary["sheets"]] == [kind], path.name
        assert summary["problems"]["errors"] == 0, path.name


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp950"])
def test_csv_in_big5_and_utf8_with_bom(run_cli, tmp_path, encoding):
    path = tmp_path / f"list-{encoding}.csv"
    path.write_bytes("姓名,生日,信任等級,手機\n王小明,85/03/12,A,0912345678\n陳美玲,民國70年1月2日,C,(02)2345-6789\n"
                     .encode(encoding))
    out = tmp_path / "out.xlsx"
    summary = json.loads(run_cli("score", path, "-o", out, "--as-of", AS_OF, "--json").stdout)
    assert summary["sheets"][0]["kind"] == "contacts" and summary["sheets"][0]["rows"] == 2
    copied = openpyxl.load_workbook(out)[path.stem]
    assert copied["A2"].value == "王小明"


def test_text_that_looks_like_a_formula_is_written_back_as_text(run_cli, tmp_path):
    path = tmp_path / "inject.csv"
    path.write_text('姓名,生日,信任等級,備註\n"=1+1",85/03/12,A,"@SUM(A1)"\n"+886",85/03/12,B,"-2+3"\n'
                    '"=HYPERLINK(""http://x.invalid"",""x"")",85/13/12,A,x\n', encoding="utf-8")
    out = tmp_path / "out.xlsx"
    run_cli("score", path, "-o", out, "--as-of", AS_OF)
    with zipfile.ZipFile(out) as zf:
        xml = b"".join(zf.read(n) for n in zf.namelist() if n.startswith("xl/worksheets/"))
    assert b"<f>" not in xml, "no cell of the result is a formula"
    wb = openpyxl.load_workbook(out)
    values = {c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    assert {"=1+1", "@SUM(A1)", "-2+3", "+886"} <= values
    xlsx = write_rows(tmp_path / "inject.xlsx", {"名單": [["姓名", "生日", "信任等級"], ["=1+1", "85/03/12", "A"]]})
    run_cli("score", xlsx, "-o", tmp_path / "out2.xlsx", "--as-of", AS_OF)
    cell = openpyxl.load_workbook(tmp_path / "out2.xlsx")["名單"]["A2"]
    assert cell.value == "=1+1" and cell.data_type == "s"


def _docx_like(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<document/>")
    return buffer.getvalue()


def _encrypted(tmp_path: Path) -> Path:
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = write_rows(tmp_path / "plain.xlsx", {"名單": [["姓名", "生日"], ["甲", "85/03/12"]]})
    out = io.BytesIO()
    with open(plain, "rb") as fh:
        OOXMLFile(fh).encrypt("secret", out)
    path = tmp_path / "locked.xlsx"
    path.write_bytes(out.getvalue())
    return path


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make, words", [
    (lambda d: _bytes(d / "empty.xlsx", b""), "空檔案"),
    (lambda d: _bytes(d / "notes.xlsx", b"just some notes\n"), "不是真正的 Excel"),
    (lambda d: _bytes(d / "cut.xlsx", write_rows(d / "whole.xlsx", {"a": [["姓名"], ["x"]]}).read_bytes()[:600]), "損毀"),
    (lambda d: _encrypted(d), "密碼"),
    (lambda d: _bytes(d / "random.csv", bytes(range(256)) * 8), "二進位"),
    (lambda d: _bytes(d / "word.xlsx", _docx_like(d)), "不是 Excel 活頁簿"),
    (lambda d: write_rows(d / "headers-only.xlsx", {"名單": [["姓名", "生日", "信任等級"]]}), "沒有資料"),
    (lambda d: write_rows(d / "stock.xlsx", {"庫存": [["品名", "庫存量"], ["A", 1]]}), "找不到可分析的工作表"),
    (lambda d: d / "missing.xlsx", "找不到檔案"),
])
def test_unusable_files_exit_2_with_one_readable_line(run_cli, tmp_path, make, words):
    path = make(tmp_path)
    result = run_cli("score", path, "-o", tmp_path / "out.xlsx", check_exit=2)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "out.xlsx").exists()


def test_english_messages_with_lang_en(run_cli, tmp_path):
    (tmp_path / "e.xlsx").write_bytes(b"")
    result = run_cli("score", tmp_path / "e.xlsx", "--lang", "en", check_exit=2)
    assert "is empty" in result.stderr


def test_default_output_sits_beside_the_input_and_as_of_accepts_roc(run_cli, tmp_path):
    path = write_rows(tmp_path / "名單.xlsx", {"名單": [["姓名", "最後聯絡日", "意向等級", "聯絡次數"], ["甲", "113/06/20", "B", 6]]})
    summary = json.loads(run_cli("score", path, "--as-of", "113/06/28", "--json").stdout)
    assert summary["output"] == str(tmp_path / "名單.scored.xlsx") and summary["as_of"] == "2024-06-28"
    plan = sheet_rows(tmp_path / "名單.scored.xlsx", "跟進排程", "狀態")
    assert plan.loc[0, "下次跟進日"] == pd.Timestamp("2024-06-27") and plan.loc[0, "逾期天數"] == 1


def test_settings_sheet_in_the_workbook_changes_the_cadence(run_cli, tmp_path):
    rows = [["姓名", "最後聯絡日", "意向等級", "聯絡次數"], ["甲", "2024/06/20", "B", 6]]
    path = write_rows(tmp_path / "s.xlsx", {"名單": rows, "設定": [["項目", "值"], ["B級跟進天數", 10], ["亂寫", 3]]})
    summary = json.loads(run_cli("score", path, "--as-of", AS_OF, "--json").stdout)
    plan = sheet_rows(tmp_path / "s.scored.xlsx", "跟進排程", "狀態")
    assert plan.loc[0, "下次跟進日"] == pd.Timestamp("2024-06-30")
    assert summary["problems"]["warnings"] == 1  # the unknown setting 亂寫


def test_templates_command_writes_what_is_committed(run_cli, tmp_path):
    run_cli("templates", tmp_path)
    committed = Path(__file__).resolve().parents[1] / "templates"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in committed.glob("*.xlsx"))
    for path in tmp_path.iterdir():
        fresh, kept = openpyxl.load_workbook(path), openpyxl.load_workbook(committed / path.name)
        assert fresh.sheetnames == kept.sheetnames, path.name
        for name in fresh.sheetnames:
            a, b = fresh[name], kept[name]
            assert [c.value for c in a[1]] == [c.value for c in b[1]], (path.name, name)
            assert list(a.iter_rows(max_col=3, values_only=True)) == list(b.iter_rows(max_col=3, values_only=True))
            assert sorted((dv.sqref.__str__(), dv.formula1, dv.prompt) for dv in a.data_validations.dataValidation) == \
                sorted((dv.sqref.__str__(), dv.formula1, dv.prompt) for dv in b.data_validations.dataValidation)


def test_templates_are_recognised_by_score_as_their_own_kind(tmp_path):
    from processor.parse import detect_and_parse
    from processor.templates import write_templates
    from processor.workbook import read_input

    for path in write_templates(tmp_path):
        raw = read_input(path)
        for sheet in raw:  # add one row so empty templates count
            pass
        parsed, _ = detect_and_parse(raw, pd.Timestamp(AS_OF))
        kinds = {p.kind.key for p in parsed}
        assert kinds, path.name


@pytest.mark.libreoffice
def test_result_workbook_opens_and_renders_in_libreoffice(run_cli, demo_dir, tmp_path):
    import subprocess

    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice is not installed (CI installs it: see .ci/run)")
    out = tmp_path / "r.xlsx"
    run_cli("score", demo_dir / "貸款懶人包.xlsx", "-o", out, "--as-of", AS_OF)
    subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp_path}/lo", "--convert-to", "pdf",
                    "--outdir", str(tmp_path), str(out)], check=True, capture_output=True, timeout=240)
    pdf = tmp_path / "r.pdf"
    assert pdf.exists() and pdf.stat().st_size > 10_000
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout \
        if shutil.which("pdftotext") else ""
    if text:
        assert "貸款檢核" in text and "資料檢查" in text
