"""Ribbon handlers driven through the file adapter on real .xlsx workbooks (the same handler
code the Excel buttons run; only the adapter differs)."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import openpyxl
import pytest

from addin import ribbon
from addin.adapter import FileWorkbook
from processor import schema
from processor.demo import write_demo
from processor.pipeline import score_file


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    write_demo(folder)
    return folder


def _book(demo_dir: Path, tmp_path: Path, name: str = "名單與跟進.xlsx") -> FileWorkbook:
    path = tmp_path / name
    shutil.copyfile(demo_dir / name, path)
    return FileWorkbook(path)


def _grid(ws) -> list[tuple]:
    return [tuple(row) for row in ws.iter_rows(values_only=True)]


def test_run_all_puts_exactly_the_services_result_sheets_with_the_same_tables_charts_and_formats(demo_dir, tmp_path):
    book = _book(demo_dir, tmp_path)
    service = score_file(book.path(), tmp_path / "service.xlsx")
    outcome = ribbon.dispatch("run_all", book)
    assert outcome.startswith("完成"), outcome
    ours, theirs = openpyxl.load_workbook(book.path()), openpyxl.load_workbook(tmp_path / "service.xlsx")
    result_names = service["result_sheets"]
    assert [n for n in ours.sheetnames if n in result_names] == result_names
    for name in result_names:
        a, b = ours[name], theirs[name]
        assert _grid(a) == _grid(b), name
        assert sorted(t.ref for t in a.tables.values()) == sorted(t.ref for t in b.tables.values()), name
        assert len(a._charts) == len(b._charts), name
        assert [str(cf.sqref) for cf in a.conditional_formatting] == [str(cf.sqref) for cf in b.conditional_formatting]
        assert a.freeze_panes == b.freeze_panes, name
        assert [c.number_format for row in a.iter_rows() for c in row] == \
               [c.number_format for row in b.iter_rows() for c in row], name
        assert [a.column_dimensions[k].width for k in sorted(b.column_dimensions)] == \
               [b.column_dimensions[k].width for k in sorted(b.column_dimensions)], name
    # pressing the button again replaces its sheets instead of piling up copies
    first = ours.sheetnames
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
    assert set(added) == {"資料檢查", "xlwings.conf"}  # a plain .xlsx gets the config sheet on first use
    assert book.config()[ribbon.RESULT_SHEETS_KEY] == "資料檢查"


@pytest.mark.parametrize("button, sheet, module", [("silence", "沉默排名", "processor.silence"),
                                                   ("segments", "客戶分群", "processor.segments")])
def test_an_analysis_button_says_plainly_when_its_analysis_is_not_available_or_its_data_is_missing(
        demo_dir, tmp_path, button, sheet, module):
    book = _book(demo_dir, tmp_path)  # contacts and follow-ups, no transactions
    outcome = ribbon.dispatch(button, book)
    title, text, error = book.messages[-1]
    assert error and text == outcome
    if importlib.util.find_spec(module) is None:
        assert ribbon.NOT_AVAILABLE in text and module in text
    else:
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
    old, new, other = (root / "outbox" / f"{stem}.scored.xlsx", root / "outbox" / f"{stem}-2.scored.xlsx",
                       root / "outbox" / "別人的.scored.xlsx")
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


def _campaign_book(demo_dir: Path, tmp_path: Path) -> FileWorkbook:
    """The demo campaign list (a CSV) as a sheet of an .xlsx workbook."""
    from processor.workbook import read_input

    grid = read_input(demo_dir / "行銷名單.csv")[0].grid
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "行銷名單"
    for row in grid.itertuples(index=False):
        ws.append(list(row))
    path = tmp_path / "行銷.xlsx"
    wb.save(path)
    return FileWorkbook(path)


def test_train_saves_a_model_the_probability_formula_can_use_or_says_it_is_not_available(demo_dir, tmp_path):
    book = _campaign_book(demo_dir, tmp_path)
    models = tmp_path / "models"
    book.set_config("MODELS_DIR", str(models))
    text = ribbon.dispatch("train", book)
    if importlib.util.find_spec("processor.models") is None:
        assert book.messages[-1][2] and ribbon.NOT_AVAILABLE in text
        return
    assert not book.messages[-1][2], text
    saved = list(models.glob("*.skops"))
    assert len(saved) == 1 and saved[0].stem in text
    from addin import udfs
    rows = [list(r) for r in openpyxl.load_workbook(book.path())["行銷名單"].iter_rows(max_row=4, values_only=True)]
    out = udfs.PL_PROB(rows, str(saved[0]))
    assert out[0] == ["購買機率"] and all(0 <= r[0] <= 1 for r in out[1:]), out
