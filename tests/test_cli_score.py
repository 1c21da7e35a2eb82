"""End to end: the CLI on real files in a temp folder, output reopened with openpyxl.

``run_cli`` calls :func:`processor.cli.main` in-process (argv in; stdout, stderr, exit code out); the
tests marked "installed" run the real ``precision-list`` command as a subprocess to prove the console
script itself works (help, exit codes, a score, quickstart)."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from conftest import AS_OF, libreoffice_convert, sheet_rows, write_rows


def test_demo_then_score_each_demo_file_gives_a_result_workbook(demo_dir, demo_scores):
    """Each demo file scored once for the session (``demo_scores``: score FILE -o OUT --as-of … --json)."""
    assert sorted(demo_scores) == sorted(p.name for p in demo_dir.iterdir())
    for score in demo_scores.values():
        summary, out = score.summary, score.output
        assert summary["output"] == str(out) and summary["as_of"] == AS_OF
        assert score.input_unchanged, "the input must never be modified"
        wb = openpyxl.load_workbook(out)
        assert {"摘要", "資料檢查"} <= set(wb.sheetnames)
        # the call sheet opens first where there are people to call, else the summary
        assert wb.active.title == ("今日聯絡" if "今日聯絡" in wb.sheetnames else "摘要") == summary["result_sheets"][0]
        assert not score.leftovers, "no temp file left behind"


def test_contact_workbook_gets_followup_schedule_zodiac_and_the_deliberate_mistakes(demo_scores):
    out = demo_scores["名單與跟進.xlsx"].output
    plan = sheet_rows(out, "跟進排程", "狀態")
    assert len(plan) >= 290
    assert {"下次跟進日", "逾期天數", "星座", "資料完整度", "MAN類型"} <= set(plan.columns)
    assert set(plan["狀態"]) <= {"逾期", "今天", "3天內", "未到", "尚未接觸", "建議降級/停止接觸", "已成交"}
    names = plan.dropna(subset=["手機"])  # the demo's duplicate contact (same name and phone) is one row
    assert (
        not names.duplicated(["姓名", "手機"]).any() and not plan.duplicated(["姓名", "最後聯絡日", "意向等級"]).any()
    )
    checks = sheet_rows(out, "資料檢查", "嚴重度")
    found = set(zip(checks["列"], checks["欄位"]))
    # the demo's deliberate mistakes, at their Excel rows (title row + header row = +3 from index)
    assert {(6, "生日"), (10, "生日"), (14, "手機"), (18, "意向等級"), (22, "聯絡次數")} <= found
    assert any("重複" in p for p in checks["問題"])
    summary = openpyxl.load_workbook(out)["摘要"]
    assert len(summary._charts) >= 3, "trust, intent and stage bar charts"


def test_loan_workbook_masks_ids_everywhere_and_checks_income(demo_scores):
    out = demo_scores["貸款懶人包.xlsx"].output
    wb = openpyxl.load_workbook(out)
    review = sheet_rows(out, "貸款檢核", "身分證字號")
    assert len(review) == 7  # the form's applicant + six in the table
    assert review["身分證字號"].str.fullmatch(r"[A-Z]\d{2}\*{5}\d{2}").all()
    assert set(review["收入一致性"]) <= {
        "一致",
        "年所得低於月收入×12，請確認",
        "年所得遠高於月收入×12，請確認獎金或兼差",
        "無法比對（缺年所得或月收入）",
    }
    form_row = review.iloc[0]
    assert form_row["年所得"] == 1_200_000 and form_row["平均月收入"] == 85_000 and form_row["年齡"] == 34
    import re

    unmasked = re.compile(r"^[A-Z][12]\d{8}$")
    for ws in wb.worksheets:
        for row in ws.iter_rows(values_only=True):
            assert not any(isinstance(v, str) and unmasked.match(v) for v in row), f"unmasked ID on {ws.title}"


def test_messy_workbooks_simplified_english_and_xlsm_are_understood(run_cli, tmp_path):
    simplified = write_rows(
        tmp_path / "简体.xlsx",
        {
            "名单": [
                ["姓名", "生日", "信任等级", "意向等级", "最后联络日", "联络次数"],
                ["王小明", "85/03/12", "A", "H", "113/06/20", 5],
            ]
        },
    )
    english = write_rows(
        tmp_path / "english.xlsx",
        {
            "Sheet1": [
                ["Name", "Birthday", "Trust level", "Intent", "Last contact"],
                ["Amy", "1990-01-02", "b", "a", "2024/6/1"],
            ]
        },
    )
    xlsx = write_rows(tmp_path / "macro.xlsx", {"交易": [["客戶編號", "日期", "金額"], ["A1", "113/1/5", "3萬"]]})
    xlsm = tmp_path / "macro.xlsm"
    with zipfile.ZipFile(xlsx) as src, zipfile.ZipFile(xlsm, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "[Content_Types].xml":
                data = data.replace(
                    b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                    b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
                )
            dst.writestr(item, data)
    for path, kind in ((simplified, "contacts"), (english, "contacts"), (xlsm, "transactions")):
        summary = json.loads(
            run_cli("score", path, "-o", tmp_path / f"{path.stem}.out.xlsx", "--as-of", AS_OF, "--json").stdout
        )
        assert [s["kind"] for s in summary["sheets"]] == [kind], path.name
        assert summary["problems"]["errors"] == 0, path.name


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp950"])
def test_csv_in_big5_and_utf8_with_bom(run_cli, tmp_path, encoding):
    path = tmp_path / f"list-{encoding}.csv"
    path.write_bytes(
        "姓名,生日,信任等級,手機\n王小明,85/03/12,A,0912345678\n陳美玲,民國70年1月2日,C,(02)2345-6789\n".encode(
            encoding
        )
    )
    out = tmp_path / "out.xlsx"
    summary = json.loads(run_cli("score", path, "-o", out, "--as-of", AS_OF, "--json").stdout)
    assert summary["sheets"][0]["kind"] == "contacts" and summary["sheets"][0]["rows"] == 2
    copied = openpyxl.load_workbook(out)[path.stem]
    assert copied["A2"].value == "王小明"


def test_text_that_looks_like_a_formula_is_written_back_as_text(run_cli, tmp_path):
    path = tmp_path / "inject.csv"
    path.write_text(
        '姓名,生日,信任等級,備註\n"=1+1",85/03/12,A,"@SUM(A1)"\n"+886",85/03/12,B,"-2+3"\n'
        '"=HYPERLINK(""http://x.invalid"",""x"")",85/13/12,A,x\n',
        encoding="utf-8",
    )
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


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda d: _bytes(d / "empty.xlsx", b""), "空檔案"),
        (lambda d: _bytes(d / "notes.xlsx", b"just some notes\n"), "不是真正的 Excel"),
        (
            lambda d: _bytes(d / "cut.xlsx", write_rows(d / "whole.xlsx", {"a": [["姓名"], ["x"]]}).read_bytes()[:600]),
            "損毀",
        ),
        (lambda d: _encrypted(d), "密碼"),
        (lambda d: _bytes(d / "random.csv", bytes(range(256)) * 8), "二進位"),
        (lambda d: _bytes(d / "word.xlsx", _docx_like(d)), "不是 Excel 活頁簿"),
        (lambda d: write_rows(d / "headers-only.xlsx", {"名單": [["姓名", "生日", "信任等級"]]}), "沒有資料"),
        (lambda d: write_rows(d / "stock.xlsx", {"庫存": [["品名", "庫存量"], ["A", 1]]}), "找不到可分析的工作表"),
        (lambda d: d / "missing.xlsx", "找不到檔案"),
    ],
)
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
    path = write_rows(
        tmp_path / "名單.xlsx", {"名單": [["姓名", "最後聯絡日", "意向等級", "聯絡次數"], ["甲", "113/06/20", "B", 6]]}
    )
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
            assert sorted(
                (dv.sqref.__str__(), dv.formula1, dv.prompt) for dv in a.data_validations.dataValidation
            ) == sorted((dv.sqref.__str__(), dv.formula1, dv.prompt) for dv in b.data_validations.dataValidation)


def test_every_template_column_and_form_line_has_an_input_message_and_dates_are_text(tmp_path):
    from openpyxl.utils import get_column_letter

    from processor.read import schema
    from processor.sheets.templates import FORM_SHEET, LAST_ROW, write_templates

    for path in write_templates(tmp_path):
        wb = openpyxl.load_workbook(path)
        for ws in wb.worksheets:
            kind = (
                schema.LOANS
                if ws.title == FORM_SHEET
                else next((k for k in schema.KINDS.values() if k.label == ws.title), None)
            )
            if kind is None:
                continue
            prompts = {str(cell): dv.prompt for dv in ws.data_validations.dataValidation for cell in dv.sqref.ranges}
            if ws.title == FORM_SHEET:  # label "(a)姓名:" in column A, the value cell beside it
                index = schema.ALIASES["loans"]
                cells = [
                    (kind.field(index[schema.normalise_header(c.value)]), f"B{c.row}")
                    for (c,) in ws.iter_rows(max_col=1)
                    if c.value and schema.normalise_header(c.value) in index
                ]
                assert len(cells) == len(kind.fields), path.name
            else:
                by_label = {f.label: f for f in kind.fields}
                cells = [
                    (by_label[c.value], f"{get_column_letter(c.column)}2:{get_column_letter(c.column)}{LAST_ROW}")
                    for c in ws[1]
                ]
            for f, ref in cells:
                assert prompts.get(ref) == f.hint and f.hint, (path.name, ws.title, f.label)
                if f.type == schema.DATE:
                    assert ws[ref.split(":")[0]].number_format == "@", "Excel must not turn 85/03/12 into 1985"
                    if ws.title != FORM_SHEET:  # and on every row below, not only the first 500
                        letter = ref.split(":")[0].rstrip("0123456789")
                        assert ws.column_dimensions[letter].number_format == "@", (ws.title, f.label)


#: one realistic synthetic row, by field key (no real person: the textbook ID number, a made-up name)
SYNTHETIC_ROW = {
    "name": "王小明",
    "customer_id": "C001",
    "birthday": "85/03/12",
    "zodiac": "雙魚座",
    "relation": "同學",
    "phone": "0912-345-678",
    "trust": "A",
    "intent": "H",
    "stage": "潛在客戶",
    "family": "已婚",
    "occupation": "業務",
    "dream_mid": "買房",
    "first_contact": "113/06/01",
    "last_contact": "113/06/20",
    "touches": 3,
    "date": "113/06/15",
    "channel": "電話",
    "result": "聊近況",
    "title": "讀書會",
    "purpose": "認識新朋友",
    "venue": "咖啡廳",
    "price": "500",
    "signups": 12,
    "went_well": "準時開始",
    "amount": "1,200",
    "label": "是",
    "id_number": "A123456789",
    "annual_income": "120萬",
    "monthly_income": "8萬5千",
    "hire_date": "3年2個月",
    "side_job": "無",
}
#: the result sheets each committed template gives once one row is filled in
EXPECTED_RESULTS = {
    "名單.xlsx": {"今日聯絡", "跟進排程"},
    "跟進紀錄.xlsx": {"今日聯絡", "跟進排程"},
    "暖線活動.xlsx": set(),
    "交易.xlsx": {"今日聯絡", "沉默排名", "客戶價值", "客戶分群"},
    "行銷名單.xlsx": set(),
    "貸款.xlsx": {"貸款檢核"},
    "精準名單範本.xlsx": {"今日聯絡", "跟進排程", "貸款檢核", "沉默排名", "客戶價值", "客戶分群"},
}


def _fill_one_row(template: Path, out: Path) -> Path:
    """The committed template with SYNTHETIC_ROW typed into the first row under the example row of
    every table sheet and into the value column of the 貸款懶人包 form, as a rep would."""
    from processor.read import schema
    from processor.sheets.templates import FIRST_DATA_ROW, FORM_SHEET

    wb = openpyxl.load_workbook(template)
    for ws in wb.worksheets:
        if ws.title == FORM_SHEET:
            index = schema.ALIASES["loans"]
            for label, value in ws.iter_rows(min_col=1, max_col=2):
                key = index.get(schema.normalise_header(label.value)) if label.value else None
                if key in SYNTHETIC_ROW:
                    value.value = SYNTHETIC_ROW[key]
            continue
        kind = next((k for k in schema.KINDS.values() if k.label == ws.title), None)
        if kind is not None:
            by_label = {f.label: f.key for f in kind.fields}
            for cell in ws[1]:
                if by_label.get(cell.value) in SYNTHETIC_ROW:
                    ws.cell(row=FIRST_DATA_ROW, column=cell.column, value=SYNTHETIC_ROW[by_label[cell.value]])
    wb.save(out)
    return out


@pytest.mark.parametrize("name", sorted(EXPECTED_RESULTS))
def test_each_committed_template_with_one_row_filled_in_scores_and_its_result_scores_again(run_cli, tmp_path, name):
    committed = Path(__file__).resolve().parents[1] / "templates" / name
    filled = _fill_one_row(committed, tmp_path / name)
    summary = json.loads(run_cli("score", filled, "--as-of", AS_OF, "--json").stdout)
    assert set(summary["result_sheets"]) == {"摘要", "資料檢查", "結果說明"} | EXPECTED_RESULTS[name]
    assert summary["sheets"] and all(s["rows"] == 1 for s in summary["sheets"]), summary["sheets"]
    assert not [
        p for p in sheet_rows(tmp_path / f"{filled.stem}.scored.xlsx", "資料檢查", "嚴重度")["問題"] if "必填" in str(p)
    ], "every required field was filled"
    scored = tmp_path / f"{filled.stem}.scored.xlsx"
    again = json.loads(run_cli("score", scored, "-o", tmp_path / "again.xlsx", "--as-of", AS_OF, "--json").stdout)
    assert again["result_sheets"] == summary["result_sheets"]
    assert [(s["sheet"], s["kind"], s["rows"]) for s in again["sheets"]] == [
        (s["sheet"], s["kind"], s["rows"]) for s in summary["sheets"]
    ], "old result sheets are not read as data"
    names = openpyxl.load_workbook(tmp_path / "again.xlsx").sheetnames
    assert len(names) == len(set(names)) and not [n for n in names if n.endswith(" (2)")]
    assert again.get("contacts", {}).get("people") == summary.get("contacts", {}).get("people")


@pytest.mark.libreoffice
def test_result_workbook_opens_and_renders_in_libreoffice(demo_scores, tmp_path):
    import subprocess

    out = tmp_path / "r.xlsx"
    shutil.copyfile(demo_scores["貸款懶人包.xlsx"].output, out)  # LibreOffice writes r.pdf beside it
    libreoffice_convert(out, tmp_path, "pdf")
    pdf = tmp_path / "r.pdf"
    assert pdf.exists() and pdf.stat().st_size > 10_000
    text = (
        subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
        if shutil.which("pdftotext")
        else ""
    )
    if text:
        assert "貸款檢核" in text and "資料檢查" in text


def test_quickstart_drops_the_demo_into_a_drop_folder_and_runs_the_service_once(run_installed_cli, tmp_path):
    result = run_installed_cli("quickstart", tmp_path / "pl", "--as-of", AS_OF)
    outbox = tmp_path / "pl" / "outbox"
    results = sorted(p.name for p in outbox.glob("*.scored.xlsx"))
    assert results == [
        "交易紀錄.scored.xlsx",
        "名單與跟進.scored.xlsx",
        "行銷名單.scored.xlsx",
        "貸款懶人包.scored.xlsx",
    ]
    assert sorted(p.name for p in (tmp_path / "pl" / "archive").iterdir()) == [
        "交易紀錄.csv",
        "名單與跟進.xlsx",
        "行銷名單.csv",
        "貸款懶人包.xlsx",
    ]
    assert not list((tmp_path / "pl" / "inbox").iterdir())
    assert str(outbox) in result.stdout


def _all_strings(path: Path) -> list[str]:
    wb = openpyxl.load_workbook(path)
    return [c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)]


def test_id_numbers_are_masked_in_every_copied_sheet_and_in_every_problem(run_cli, tmp_path):
    # a 身分證字號 column on a contact list (not a contact field), IDs typed into 備註, a sheet no kind matches
    path = write_rows(
        tmp_path / "ids.xlsx",
        {
            "名單": [
                ["姓名", "生日", "信任等級", "身分證字號", "備註"],
                ["王小明", "85/03/12", "A", "A123456789", "證號 F131104093 已核對"],
                ["陳美玲", "85/13/40", "B", "F131104093", None],
                ["林志明", "85/03/12", "C", "A123456788", "訂單 A123456788"],
            ],
            "雜項": [["王小明", "A123456789", "0912345678"], ["x", "y", "z"]],
        },
    )
    out = tmp_path / "out.xlsx"
    run_cli("score", path, "-o", out, "--as-of", AS_OF)
    strings = _all_strings(out)
    assert not [s for s in strings if "A123456789" in s or "F131104093" in s], "a valid ID number survived"
    assert "A12*****89" in strings and "證號 F13*****93 已核對" in strings
    copied = [r[3] for r in openpyxl.load_workbook(out)["名單"].iter_rows(min_row=2, values_only=True)]
    assert copied == ["A12*****89", "F13*****93", "A12*****88"], "an ID column is masked whole, typos included"
    assert "訂單 A123456788" in strings, "a look-alike that fails the checksum elsewhere stays readable"
    checks = sheet_rows(out, "資料檢查", "嚴重度")
    unrecognised = checks[checks["工作表"] == "雜項"].iloc[0]
    assert "王小明" not in str(unrecognised["內容"]) and "0912345678" not in str(unrecognised["內容"])


def test_a_csv_whose_name_is_not_a_valid_sheet_name_is_still_masked(run_cli, tmp_path):
    path = tmp_path / "貸款[1].csv"
    path.write_text("姓名,身分證字號,年所得,平均月收入\n王小明,A123456789,80萬,6萬\n", encoding="utf-8")
    out = tmp_path / "out.xlsx"
    run_cli("score", path, "-o", out, "--as-of", AS_OF)
    assert "貸款_1_" in openpyxl.load_workbook(out).sheetnames
    assert not [s for s in _all_strings(out) if "A123456789" in s]


def test_an_unrecognised_sheet_that_starts_with_data_is_not_echoed_into_the_exit_message(run_cli, tmp_path):
    path = write_rows(
        tmp_path / "data.xlsx",
        {"data": [["王小明", "A123456789", "0912345678"], ["陳美玲", "F131104093", "0922333444"]]},
    )
    result = run_cli("score", path, "-o", tmp_path / "out.xlsx", check_exit=2)
    for secret in ("王小明", "A123456789", "0912345678"):
        assert secret not in result.stderr
    assert "像是資料" in result.stderr


def test_headers_of_an_unrecognised_sheet_are_shown_with_id_and_phone_numbers_masked(run_cli, tmp_path):
    path = write_rows(
        tmp_path / "stock.xlsx", {"庫存": [["品名", "庫存量", "A123456789 的", "找 0912-345-678"], ["A", 1, 2, 3]]}
    )
    result = run_cli("score", path, "-o", tmp_path / "out.xlsx", check_exit=2)
    assert "品名、庫存量、A12*****89 的、找 ＊＊＊" in result.stderr


def test_a_blank_loan_form_is_not_an_applicant(run_cli, tmp_path):
    committed = Path(__file__).resolve().parents[1] / "templates" / "貸款.xlsx"
    blank = run_cli("score", committed, "-o", tmp_path / "blank.xlsx", check_exit=2)
    assert "沒有資料" in blank.stderr
    wb = openpyxl.load_workbook(committed)  # the table filled in, the form left blank
    for col, value in enumerate(["王小明", "A123456789"], start=1):
        wb["貸款"].cell(row=3, column=col, value=value)  # below the example row
    wb.save(tmp_path / "table-only.xlsx")
    out = tmp_path / "out.xlsx"
    summary = json.loads(run_cli("score", tmp_path / "table-only.xlsx", "-o", out, "--as-of", AS_OF, "--json").stdout)
    assert summary["loans"]["applicants"] == 1
    assert summary["problems"]["errors"] == 0
    notes = [r[0] for r in openpyxl.load_workbook(out)["摘要"].iter_rows(max_col=1, values_only=True) if r[0]]
    assert any("空白的貸款懶人包表單" in n for n in notes)


def test_the_installed_command_shows_help_and_exits_2_with_one_line_on_bad_input(run_installed_cli, tmp_path):
    shown = run_installed_cli("--help")
    assert "precision-list" in shown.stdout and all(
        c in shown.stdout for c in ("score", "train", "watch", "quickstart")
    )
    wrong = run_installed_cli("score", check_exit=2)  # argparse: the input is missing
    assert "usage:" in wrong.stderr and "Traceback" not in wrong.stderr
    (tmp_path / "empty.xlsx").write_bytes(b"")
    result = run_installed_cli("score", tmp_path / "empty.xlsx", "-o", tmp_path / "out.xlsx", check_exit=2)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "空檔案" in lines[0] and not (tmp_path / "out.xlsx").exists()


@pytest.mark.parametrize(
    "config, words",
    [
        ("[settings]\nprice = -5\n", "price"),
        ('[settings]\nprice = "abc"\n', "price"),
        ("[settings]\nnot_a_setting = 1\n", "not_a_setting"),
        ("[settings\nprice = 1\n", "TOML"),
        (None, "讀不到設定檔"),
    ],
)
def test_a_bad_config_file_exits_2_and_says_which_setting(run_cli, tmp_path, config, words):
    path = write_rows(tmp_path / "c.xlsx", {"名單": [["姓名", "信任等級"], ["甲", "A"]]})
    toml = tmp_path / "c.toml"
    if config is not None:
        toml.write_text(config, encoding="utf-8")
    result = run_cli("score", path, "--config", toml, check_exit=2)
    assert words in result.stderr and "Traceback" not in result.stderr and "內部錯誤" not in result.stderr


def test_an_output_folder_that_does_not_exist_exits_2(run_cli, tmp_path):
    path = write_rows(tmp_path / "c.xlsx", {"名單": [["姓名", "信任等級"], ["甲", "A"]]})
    result = run_cli("score", path, "-o", tmp_path / "no" / "such" / "x.xlsx", "--lang", "en", check_exit=2)
    assert "does not exist" in result.stderr and "create the folder" in result.stderr


def test_the_result_file_opens_for_other_reps_on_a_share(tmp_path):
    import os
    import stat
    import subprocess

    from conftest import REPO, cli_path

    path = write_rows(tmp_path / "c.xlsx", {"名單": [["姓名", "信任等級"], ["甲", "A"]]})
    out = tmp_path / "c.out.xlsx"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    subprocess.run(
        ["sh", "-c", 'umask 002 && exec "$@"', "sh", *cli_path(), "score", str(path), "-o", str(out)],
        check=True,
        env=env,
        capture_output=True,
    )
    assert stat.S_IMODE(out.stat().st_mode) == 0o664  # what any new file gets under that umask, not mkstemp's 0600


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda d: _bytes(d / "empty.xlsx", b""), "save or copy"),
        (lambda d: _encrypted(d), "remove the password"),
        (lambda d: write_rows(d / "stock.xlsx", {"庫存": [["品名", "庫存量"], ["A", 1]]}), "precision-list templates"),
        (lambda d: write_rows(d / "headers-only.xlsx", {"名單": [["姓名", "生日", "信任等級"]]}), "fill in rows"),
    ],
)
def test_english_messages_say_how_to_fix(run_cli, tmp_path, make, words):
    result = run_cli("score", make(tmp_path), "-o", tmp_path / "out.xlsx", "--lang", "en", check_exit=2)
    assert words in result.stderr and not any("\u4e00" <= ch <= "\u9fff" for ch in result.stderr.split(";")[-1])


def test_the_addin_workbook_start_page_and_xlwings_conf_are_skipped_quietly(run_cli, tmp_path):
    path = write_rows(
        tmp_path / "book.xlsx",
        {
            "說明": [["精準名單 Precision List"], ["1. 插入範本工作表"], ["2. 貼上資料"]],
            "名單": [["姓名", "信任等級"], ["甲", "A"]],
            "xlwings.conf": [["Interpreter_Win", "python"], ["UDF Modules", "addin.udfs"]],
        },
    )
    summary = json.loads(run_cli("score", path, "--as-of", AS_OF, "--json").stdout)
    assert summary["problems"] == {"errors": 0, "warnings": 0}


def test_json_summary_counts_stages_man_types_and_completeness(run_cli, tmp_path):
    path = write_rows(
        tmp_path / "c.xlsx",
        {
            "名單": [
                ["姓名", "階段", "M有購買力", "A有決定權", "N有需求", "F家庭", "O工作現況"],
                ["甲", "潛在客戶", "是", "否", "是", "已婚", "業務"],
                ["乙", "潜在客户", None, None, None, None, None],
            ]
        },
    )
    summary = json.loads(run_cli("score", path, "--as-of", AS_OF, "--json").stdout)["contacts"]
    assert summary["by_stage"]["潛在客戶"] == 2  # 简体 潜在客户 is the same stage
    assert summary["by_man"] == {"M+a+N": 1, "未填": 1}
    assert summary["completeness"] == {"0–30%": 2, "31–60%": 0, "61–70%": 0, "71–100%": 0}


def test_a_negative_touch_count_is_reported_in_the_data_check(run_cli, tmp_path):
    path = write_rows(
        tmp_path / "list.xlsx",
        {
            "名單": [
                ["姓名", "最後聯絡日", "意向等級", "聯絡次數"],
                ["王小明", "2024/06/20", "B", -2],
                ["陳美玲", "2024/06/20", "A", 3],
            ]
        },
    )
    out = tmp_path / "out.xlsx"
    run_cli("score", path, "-o", out, "--as-of", AS_OF)
    checks = sheet_rows(out, "資料檢查", "嚴重度")
    found = set(zip(checks["工作表"], checks["列"], checks["欄位"], checks["內容"].astype(str), checks["問題"]))
    assert ("名單", 2, "聯絡次數", "-2", "不能是負數") in found
    assert not any(row == 3 for _, row, *_ in found)


def test_a_9999_placeholder_date_cell_is_a_data_check_line_not_a_crash(run_cli, tmp_path):
    import datetime as dt

    rows = [["客戶編號", "日期", "金額"]]
    rows += [[f"C{i % 12:03d}", dt.datetime(2025, 1, 1) + dt.timedelta(days=5 * i), 100 + i] for i in range(60)]
    rows += [["C001", dt.datetime(9999, 12, 31), 50], ["C002", "0001-01-01", 50]]
    path = write_rows(tmp_path / "tx.xlsx", {"交易紀錄": rows})
    out = tmp_path / "out.xlsx"
    run_cli("score", path, "-o", out, "--as-of", "2025-12-31")
    checks = sheet_rows(out, "資料檢查", "嚴重度")
    found = set(zip(checks["列"], checks["欄位"], checks["內容"].astype(str), checks["問題"]))
    assert {(62, "日期", "9999-12-31", "日期無法辨識"), (63, "日期", "0001-01-01", "日期無法辨識")} <= found
    assert len(sheet_rows(out, "沉默排名", "客戶編號")) == 12  # the other 60 rows still scored
