"""Ribbon handlers driven through the file adapter on real .xlsx workbooks (the same handler
code the Excel buttons run; only the adapter differs)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import openpyxl
import pytest
from conftest import sheet_rows, write_rows

from addin import ribbon
from addin.adapter import FileWorkbook
from addin.messages import CLI_REFERENCE, in_excel
from processor.pipeline import score_file
from processor.read import schema

ROOT = Path(__file__).resolve().parent.parent


def _book(demo_dir: Path, tmp_path: Path, name: str = "名單與跟進.xlsx") -> FileWorkbook:
    path = tmp_path / name
    shutil.copyfile(demo_dir / name, path)
    return FileWorkbook(path)


def _grid(ws) -> list[tuple]:
    return [tuple(row) for row in ws.iter_rows(values_only=True)]


@pytest.fixture(scope="module")
def ran_all(demo_dir, tmp_path_factory):
    """名單與跟進.xlsx after one press of 全部執行, and what the service's scorer makes of the untouched file:
    (book path, service result path, service summary, the button's outcome). Made once for the tests that
    compare the two; they only read them (a test that presses again works on a copy)."""
    folder = tmp_path_factory.mktemp("ran-all")
    book = _book(demo_dir, folder)
    service = score_file(book.path(), folder / "service.xlsx")
    outcome = ribbon.dispatch("run_all", book)
    return book.path(), folder / "service.xlsx", service, outcome


def test_run_all_puts_exactly_the_services_result_sheets_with_the_same_tables_charts_and_formats(ran_all, tmp_path):
    path, service_path, service, outcome = ran_all
    assert outcome.startswith("完成"), outcome
    ours, theirs = openpyxl.load_workbook(path), openpyxl.load_workbook(service_path)
    result_names = service["result_sheets"]
    assert [n for n in ours.sheetnames if n in result_names] == result_names
    for name in result_names:
        a, b = ours[name], theirs[name]
        assert _grid(a) == _grid(b), name
        assert sorted(t.ref for t in a.tables.values()) == sorted(t.ref for t in b.tables.values()), name
        assert len(a._charts) == len(b._charts), name
        assert [str(cf.sqref) for cf in a.conditional_formatting] == [str(cf.sqref) for cf in b.conditional_formatting]
        assert a.freeze_panes == b.freeze_panes, name
        assert [c.number_format for row in a.iter_rows() for c in row] == [
            c.number_format for row in b.iter_rows() for c in row
        ], name
        assert [a.column_dimensions[k].width for k in sorted(b.column_dimensions)] == [
            b.column_dimensions[k].width for k in sorted(b.column_dimensions)
        ], name
    # pressing the button again replaces its sheets instead of piling up copies
    first = ours.sheetnames
    book = FileWorkbook(shutil.copyfile(path, tmp_path / path.name))
    ribbon.dispatch("run_all", book)
    assert sorted(openpyxl.load_workbook(book.path()).sheetnames) == sorted(first)


def test_the_reps_own_sheets_are_left_exactly_as_they_were_id_numbers_included(demo_dir, tmp_path):
    book = _book(demo_dir, tmp_path, "貸款懶人包.xlsx")
    before = openpyxl.load_workbook(book.path())
    grids = {ws.title: _grid(ws) for ws in before.worksheets}
    outcome = ribbon.dispatch("run_all", book)
    assert outcome.startswith("完成"), outcome
    after = openpyxl.load_workbook(book.path())
    for name, grid in grids.items():
        assert _grid(after[name]) == grid, name


def test_check_data_adds_only_the_problem_list(demo_dir, tmp_path):
    book = _book(demo_dir, tmp_path)
    before = openpyxl.load_workbook(book.path()).sheetnames
    ribbon.dispatch("check", book)
    added = [n for n in openpyxl.load_workbook(book.path()).sheetnames if n not in before]
    assert set(added) == {"資料檢查", "結果說明", "xlwings.conf"}  # a plain .xlsx gets the config sheet on first use
    assert book.config()[ribbon.RESULT_SHEETS_KEY] == "資料檢查|結果說明"


def test_a_workbook_with_ribbon_results_sent_to_the_service_is_scored_on_the_reps_sheets_only(ran_all, tmp_path):
    """送出評分 copies the open workbook, ribbon results included, to the share: the service must
    read the results the ribbon recorded in xlwings.conf as results, not as unrecognised data."""
    path, first_path, first, _ = ran_all  # the book after 全部執行; the service's result of the untouched book
    assert FileWorkbook(path).config()[ribbon.RESULT_SHEETS_KEY]
    again = score_file(path, tmp_path / "again.xlsx")
    assert again["result_sheets"] == first["result_sheets"]
    # the ribbon's results give way to the service's: no "摘要 (2)" beside the old 摘要
    again_book, first_book = openpyxl.load_workbook(tmp_path / "again.xlsx"), openpyxl.load_workbook(first_path)
    assert sorted(again_book.sheetnames) == sorted(first_book.sheetnames + ["xlwings.conf"])
    for name in first["result_sheets"]:
        if name not in ("摘要", "結果說明"):  # 摘要 (and its line in 結果說明) names the input file
            assert _grid(again_book[name]) == _grid(first_book[name]), name


@pytest.mark.parametrize(
    "button, sheet, module",
    [("silence", "沉默排名", "processor.analyse.silence"), ("segments", "客戶分群", "processor.analyse.segments")],
)
def test_an_analysis_button_says_plainly_when_its_data_is_missing(demo_dir, tmp_path, button, sheet, module):
    book = _book(demo_dir, tmp_path)  # contacts and follow-ups, no transactions
    outcome = ribbon.dispatch(button, book)
    title, text, error = book.messages[-1]
    assert error and text == outcome
    assert f"找不到「{schema.KINDS['transactions'].label}」工作表" in text


def _small_book(tmp_path: Path) -> FileWorkbook:
    path = tmp_path / "小本.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "說明"
    wb.save(path)
    return FileWorkbook(path)


@pytest.mark.parametrize("kind", list(schema.KINDS))
def test_insert_template_adds_the_schema_sheet_for_each_kind(tmp_path, kind):
    book = _small_book(tmp_path)
    before = openpyxl.load_workbook(book.path()).sheetnames
    ribbon.dispatch(f"template_{kind}", book)
    wb = openpyxl.load_workbook(book.path())
    added = [n for n in wb.sheetnames if n not in before]
    assert added and not book.messages[-1][2]
    label = schema.KINDS[kind].label
    assert any(label in name for name in added)
    headers = {c.value for ws in (wb[n] for n in added) for row in ws.iter_rows(max_row=4) for c in row}
    required = {f.label for f in schema.KINDS[kind].fields if f.required}
    assert required <= headers


def test_inserting_the_same_template_twice_keeps_both_under_distinct_names(tmp_path):
    book = _small_book(tmp_path)
    ribbon.dispatch("template_transactions", book)
    ribbon.dispatch("template_transactions", book)
    names = openpyxl.load_workbook(book.path()).sheetnames
    assert len([n for n in names if n.startswith("交易")]) == 2 and len(set(names)) == len(names)


def _drop_folder(tmp_path: Path) -> Path:
    root = tmp_path / "share"
    for sub in ("inbox", "outbox", "failed", "archive"):
        (root / sub).mkdir(parents=True)
    return root


def test_submit_copies_the_workbook_into_the_inbox_complete_and_under_its_own_name(demo_dir, tmp_path):
    book = _book(demo_dir, tmp_path)
    root = _drop_folder(tmp_path)
    book.set_config("DROP_FOLDER", str(root))
    outcome = ribbon.dispatch("submit", book)
    assert not book.messages[-1][2], outcome
    assert [p.name for p in (root / "inbox").iterdir()] == [book.name]
    assert (root / "inbox" / book.name).read_bytes() == book.path().read_bytes()


def test_fetch_opens_the_newest_result_for_this_workbook_only(demo_dir, tmp_path):
    book = _book(demo_dir, tmp_path)
    root = _drop_folder(tmp_path)
    book.set_config("DROP_FOLDER", str(root))
    stem = Path(book.name).stem
    old, new, other = (
        root / "outbox" / f"{stem}.scored.xlsx",
        root / "outbox" / f"{stem}-2.scored.xlsx",
        root / "outbox" / "別人的.scored.xlsx",
    )
    for i, path in enumerate((old, new, other)):
        path.write_bytes(b"x")
        os.utime(path, (1_700_000_000 + i * 10, 1_700_000_000 + i * 10))
    os.utime(other, (1_800_000_000, 1_800_000_000))
    ribbon.dispatch("fetch", book)
    assert book.opened == [new]


def test_shared_folder_buttons_explain_how_to_configure_the_folder(demo_dir, tmp_path):
    book = _book(demo_dir, tmp_path)
    for button in ("submit", "fetch"):
        ribbon.dispatch(button, book)
        title, text, error = book.messages[-1]
        assert error and "DROP_FOLDER" in text
    book.set_config("DROP_FOLDER", str(tmp_path / "nowhere"))
    ribbon.dispatch("fetch", book)
    assert book.messages[-1][2] and "nowhere" in book.messages[-1][1]


def test_model_info_lists_saved_models_newest_first(demo_dir, tmp_path):
    book = _book(demo_dir, tmp_path)
    models = tmp_path / "models"
    models.mkdir()
    (models / "舊模型.skops").write_bytes(b"a")
    (models / "新模型.skops").write_bytes(b"b")
    os.utime(models / "舊模型.skops", (1_700_000_000, 1_700_000_000))
    book.set_config("MODELS_DIR", str(models))
    text = ribbon.dispatch("model_info", book)
    assert str(models) in text and text.index("新模型") < text.index("舊模型")


def test_a_workbook_with_no_data_sheets_gets_a_dialog_not_a_traceback(tmp_path):
    path = tmp_path / "空白.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "說明"
    wb.save(path)
    book = FileWorkbook(path)
    text = ribbon.dispatch("run_all", book)
    assert book.messages[-1][2] and "插入範本工作表" in text
    assert book.statuses[-1] is None


def test_a_corrupt_workbook_and_an_unknown_button_end_in_an_error_dialog(tmp_path):
    path = tmp_path / "壞掉.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    book = FileWorkbook(path)
    ribbon.dispatch("run_all", book)
    assert book.messages[-1][2]
    ribbon.dispatch("no_such_button", book)
    assert book.messages[-1][2] and "no_such_button" in book.messages[-1][1]


def _campaign_book(
    demo_dir: Path, folder: Path, name: str = "行銷.xlsx", rows: int | None = None, labels: bool = True
) -> FileWorkbook:
    """The demo campaign list (a CSV) as the 行銷名單 sheet of an .xlsx workbook; without
    ``labels`` it is a new list: the 是否購買 column left out."""
    from processor.read.workbook import read_input

    grid = read_input(demo_dir / "行銷名單.csv")[0].grid
    if not labels:
        grid = grid.loc[:, [v != "是否購買" for v in grid.iloc[0]]]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "行銷名單"
    for row in grid.head(None if rows is None else rows + 1).itertuples(index=False):
        ws.append(list(row))
    path = folder / name
    wb.save(path)
    return FileWorkbook(path)


@pytest.fixture(scope="module")
def trained(demo_dir, tmp_path_factory) -> tuple[FileWorkbook, Path, str]:
    """(the labelled workbook, its models folder, 訓練模型's outcome), trained once per module."""
    folder = tmp_path_factory.mktemp("trained")
    book = _campaign_book(demo_dir, folder)
    book.set_config("MODELS_DIR", str(folder / "models"))
    return book, folder / "models", ribbon.dispatch("train", book)


def test_train_saves_a_model_the_probability_formula_can_use(trained):
    book, models, text = trained
    assert not book.messages[-1][2], text
    saved = list(models.glob("*.skops"))
    assert len(saved) == 1 and saved[0].stem in text
    from addin import udfs

    rows = [list(r) for r in openpyxl.load_workbook(book.path())["行銷名單"].iter_rows(max_row=4, values_only=True)]
    out = udfs.PL_PROB(rows, str(saved[0]))
    assert out[0] == ["購買機率"] and all(0 <= r[0] <= 1 for r in out[1:]), out


def test_train_goes_through_the_same_pipeline_as_the_command_line_and_leaves_its_data_check_beside_the_model(
    trained,
):
    _, models, text = trained
    (model,) = models.glob("*.skops")
    report = model.with_name(f"{model.stem}.資料檢查.csv")
    assert report.is_file() and f"「{model.stem}」" in text and "「行銷名單」" in text


def test_propensity_scores_a_new_list_without_outcomes_with_the_newest_saved_model(demo_dir, trained, tmp_path):
    _, models, _ = trained
    book = _campaign_book(demo_dir, tmp_path, "新名單.xlsx", rows=300, labels=False)
    book.set_config("MODELS_DIR", str(models))
    text = ribbon.dispatch("propensity", book)
    assert not book.messages[-1][2], text
    assert "用已存模型「是否購買」評分" in text
    ranked = sheet_rows(book.path(), "精準名單", "購買機率")
    assert len(ranked) == 300 and ranked["購買機率"].between(0, 1).all()


def test_the_model_key_in_xlwings_conf_picks_the_model_even_when_a_newer_one_exists(demo_dir, trained, tmp_path):
    _, models, _ = trained
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copyfile(models / "是否購買.skops", folder / "舊模型.skops")
    shutil.copyfile(models / "是否購買.skops", folder / "新模型.skops")
    os.utime(folder / "舊模型.skops", (1_700_000_000, 1_700_000_000))
    book = _campaign_book(demo_dir, tmp_path, "新名單.xlsx", rows=50, labels=False)
    book.set_config("MODELS_DIR", str(folder))
    assert "「新模型」" in ribbon.dispatch("propensity", book)
    book.set_config("MODEL", "舊模型")
    assert "「舊模型」" in ribbon.dispatch("propensity", book)
    assert "舊模型　" in ribbon.dispatch("model_info", book).split("（購買機率 用這個）")[0].splitlines()[-1]
    book.set_config("MODEL", "沒有這個")
    text = ribbon.dispatch("propensity", book)
    assert book.messages[-1][2] and "MODEL" in text and "沒有這個" in text and "訓練模型" in text


def test_propensity_on_a_list_without_outcomes_and_no_saved_model_says_exactly_that(demo_dir, tmp_path):
    book = _campaign_book(demo_dir, tmp_path, "新名單.xlsx", rows=300, labels=False)
    book.set_config("MODELS_DIR", str(tmp_path / "empty"))
    text = ribbon.dispatch("propensity", book)
    assert book.messages[-1][2]
    assert "沒有已知結果" in text and "沒有已存的模型" in text and "訓練模型" in text
    assert "找不到" not in text and not CLI_REFERENCE.search(text)


def test_a_list_with_too_few_known_results_under_another_header_gets_the_cores_reason(tmp_path):
    # 買B商品 is a result column the core recognises by its header; 30 known results are too few
    # to train: Excel must say so, as `score` does, not claim the list has no result column
    rows = [["客戶編號", "年齡", "職業", "買B商品"]]
    rows += [
        [f"C{i:03d}", 20 + i % 40, ["藍領", "老闆", "學生"][i % 3], (i % 2 if i < 30 else None)] for i in range(300)
    ]
    book = FileWorkbook(write_rows(tmp_path / "B商品.xlsx", {"行銷名單": rows}))
    book.set_config("MODELS_DIR", str(tmp_path / "empty"))
    text = ribbon.dispatch("propensity", book)
    assert book.messages[-1][2]
    assert "只有 30 位客戶有已知結果" in text and "50" in text, text
    assert "沒有已知結果" not in text and "是否購買" not in text.split("：", 1)[0]
    core = score_file(tmp_path / "B商品.xlsx", tmp_path / "out.xlsx", as_of="2024-06-30")
    assert core["problems"]["errors"] >= 1  # the command line reports the same reason in 資料檢查
    check = sheet_rows(tmp_path / "out.xlsx", "資料檢查", "嚴重度")
    assert check["問題"].str.contains("只有 30 位客戶有已知結果").any()


def test_a_sheet_with_headers_but_no_rows_is_told_apart_from_a_missing_sheet(tmp_path):
    path = write_rows(tmp_path / "空交易.xlsx", {"交易": [["客戶編號", "日期", "金額"]]})
    book = FileWorkbook(path)
    text = ribbon.dispatch("silence", book)
    assert book.messages[-1][2] and "只有標題列" in text and "找不到" not in text


def test_when_no_row_is_usable_the_reasons_are_put_in_the_check_sheet_in_excel_terms(tmp_path):
    rows = [["客戶編號", "日期", "金額"], ["A1", "2099/01/05", 100], ["A2", "2099/02/01", 50]]
    book = FileWorkbook(write_rows(tmp_path / "未來.xlsx", {"交易": rows}))
    text = ribbon.dispatch("silence", book)
    assert book.messages[-1][2] and "都無法使用" in text and "資料檢查" in text
    checks = sheet_rows(book.path(), "資料檢查", "嚴重度")
    assert len(checks) >= 2
    for cell in (*checks["問題"], *checks["如何修正"]):
        assert not CLI_REFERENCE.search(str(cell)), cell


def test_every_core_message_that_names_the_command_line_has_an_excel_wording():
    """Scans every string in processor/ (all layers) that a person reads (it holds CJK text) and
    names a command-line option or subcommand: each must be one of the steps of
    processor.errors.STEPS, so in_excel words it without one. cli.py is left out: its messages are
    printed by the command line itself, never shown in Excel."""
    import ast

    from processor.errors import STEPS

    found = []
    for source in sorted(p for p in (ROOT / "processor").rglob("*.py") if p.name != "cli.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        # en= / fix_en=: the English line of the command line's --lang en and the service's log, never in Excel
        english = {
            id(part)
            for node in ast.walk(tree)
            if isinstance(node, ast.keyword) and node.arg in ("en", "fix_en")
            for part in ast.walk(node.value)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and id(node) not in english
                and re.search(r"[\u4e00-\u9fff]", node.value)
                and CLI_REFERENCE.search(node.value)
            ):
                found.append((source.relative_to(ROOT).as_posix(), node.value))
    assert found, "the scan must see the core's command-line hints (e.g. --as-of) to be worth anything"
    for name, text in found:
        assert name == "processor/errors.py" and text in STEPS.values(), (name, text)
        assert not CLI_REFERENCE.search(in_excel(text)), (name, text, in_excel(text))


def test_every_step_a_core_message_may_name_has_its_own_excel_wording():
    from addin.messages import IN_EXCEL, IN_FORMULA
    from processor.errors import STEPS, step

    assert IN_EXCEL.keys() == STEPS.keys() == IN_FORMULA.keys()
    for code in STEPS:
        for words in (IN_EXCEL, IN_FORMULA):
            text = in_excel("請修正；" + step(code), words)
            assert text == "請修正；" + words[code] and not CLI_REFERENCE.search(text), (code, text)


def test_run_all_on_the_untouched_built_workbook_reports_no_errors(tmp_path):
    """A rep's first click: the blank templates (the empty 貸款懶人包 form included) are not data.
    Needs processor/loans.py from fix/foundation, which stops counting a blank form as an applicant."""
    from addin import build

    book = FileWorkbook(build.build(tmp_path / "workbook.xlsm"))
    text = ribbon.dispatch("run_all", book)
    assert not book.messages[-1][2], text
    assert "錯誤" not in text, text


def test_relative_folders_and_model_paths_are_taken_from_the_workbooks_folder(tmp_path):
    book = _small_book(tmp_path)
    book.set_config("MODELS_DIR", "模型")
    assert ribbon.models_dir(book) == tmp_path / "模型"
    assert ribbon.model_file(book, "A商品") == tmp_path / "模型" / "A商品.skops"
    assert ribbon.model_file(book, "共用/A商品.skops") == tmp_path / "共用" / "A商品.skops"
    book.set_config("MODELS_DIR", "")
    book.set_config("DROP_FOLDER", "share")
    assert ribbon.models_dir(book) == tmp_path / "share" / "models"


def test_a_model_error_in_a_button_ends_in_a_dialog_with_its_fix(demo_dir, tmp_path, monkeypatch):
    from processor import models

    # e.g. 訓練模型 with a too-short signing key: the key is read when the model is saved
    monkeypatch.setenv(models.KEY_ENV, "short")
    monkeypatch.setitem(ribbon.HANDLERS, "train", lambda book: str(models.signing_key()))
    book = _book(demo_dir, tmp_path)
    outcome = ribbon.dispatch("train", book)
    title, text, error = book.messages[-1]
    assert error and text == outcome
    assert "模型簽章金鑰太短" in text and "secrets.token_hex(32)" in text  # what, and how to fix it
    assert "ModelError" not in text and "發生錯誤" not in text


def test_the_data_check_rewords_only_our_problem_and_fix_texts_never_the_reps_cells():
    import dataclasses

    from processor.errors import Problem
    from processor.sheets.check import problems_frame
    from processor.sheets.report import Block, ResultSheet

    @dataclasses.dataclass
    class Analysis:
        sheets: list

    rep_text = "請用 --as-of 指定"  # the rep's own cell, and sheet name, that happen to read like a CLI step
    problem = Problem(rep_text, 3, "生日", rep_text, "日期無法辨識", "若基準日不對，請用 --as-of 指定")
    check = ResultSheet(ribbon.CHECK_SHEET, (Block(problems_frame([problem])),))
    frame = ribbon._in_excel(Analysis([check])).sheets[0].blocks[0].frame
    assert frame.loc[0, "內容"] == rep_text and frame.loc[0, "工作表"] == rep_text
    assert frame.loc[0, "如何修正"] == in_excel("若基準日不對，請用 --as-of 指定") != "若基準日不對，請用 --as-of 指定"
    assert frame.loc[0, "問題"] == "日期無法辨識"


def test_the_file_adapter_rereads_a_workbook_someone_else_saved_between_two_of_its_writes(tmp_path):
    """FileWorkbook keeps the workbook it saved last for its next write (one parse instead of two per button):
    a save by anyone else in between is seen, and both of its own writes are in the file."""
    book = _small_book(tmp_path)
    book.set_config("甲", "1")
    other = openpyxl.load_workbook(book.path())
    other.create_sheet("別人加的")
    other.save(book.path())
    book.set_config("乙", "2")
    book.set_config("丙", "3")  # (from the kept copy: the file is this object's own last save)
    assert "別人加的" in openpyxl.load_workbook(book.path()).sheetnames
    assert {k: book.config()[k] for k in ("甲", "乙", "丙")} == {"甲": "1", "乙": "2", "丙": "3"}
