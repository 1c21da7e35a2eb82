"""The blank templates: formats and dropdowns on every row, page setup, the example row, wording."""

from __future__ import annotations

import subprocess
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from conftest import libreoffice_convert

from processor.read import schema
from processor.read.parse import detect_and_parse
from processor.read.workbook import read_input
from processor.sheets.templates import (
    EXAMPLE_ROW,
    FIRST_DATA_ROW,
    FORM_SHEET,
    LAST_ROW,
    add_loan_form_sheet,
    add_table_sheet,
    write_templates,
)

AS_OF = pd.Timestamp("2024-06-28")


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("templates")
    write_templates(folder)
    return folder


def _column(ws, label: str) -> str:
    return next(c.column_letter for c in ws[1] if c.value == label)


def test_text_format_and_dropdowns_cover_every_row_not_only_the_first_500(written):
    ws = openpyxl.load_workbook(written / "名單.xlsx")["名單"]
    birthday, intent = _column(ws, "生日"), _column(ws, "意向等級")
    assert ws.column_dimensions[birthday].number_format == "@", "a ROC date typed on row 5,000 must stay text"
    ranges = {str(r) for dv in ws.data_validations.dataValidation for r in dv.sqref.ranges}
    assert f"{intent}{EXAMPLE_ROW}:{intent}{LAST_ROW}" in ranges and LAST_ROW == 1_048_576


def test_a_roc_date_typed_far_below_row_500_reads_as_that_date_not_1985(written, tmp_path):
    wb = openpyxl.load_workbook(written / "名單.xlsx")
    ws = wb["名單"]
    row = 5_000
    for label, value in (("姓名", "陳大文"), ("生日", "85/03/12"), ("意向等級", "B")):
        cell = ws[f"{_column(ws, label)}{row}"]
        cell.value = value
        cell.number_format = ws.column_dimensions[cell.column_letter].number_format  # what Excel gives a typed cell
    wb.save(tmp_path / "far.xlsx")
    parsed, problems = detect_and_parse(read_input(tmp_path / "far.xlsx"), AS_OF)
    contacts = next(s for s in parsed if s.kind.key == "contacts")
    assert contacts.frame.loc[row, "birthday"] == pd.Timestamp("1996-03-12")
    assert len(contacts.frame) == 1, "the example row is not a contact"


def test_the_example_row_is_shown_grey_and_never_read_as_data(written):
    ws = openpyxl.load_workbook(written / "名單.xlsx")["名單"]
    first = ws.cell(row=EXAMPLE_ROW, column=1)
    assert str(first.value).startswith(schema.EXAMPLE_MARK) and first.font.i
    assert ws[f"{_column(ws, '生日')}{EXAMPLE_ROW}"].value == "85/03/12"
    parsed, _ = detect_and_parse(read_input(written / "名單.xlsx"), AS_OF)
    assert all(len(s.frame) == 0 for s in parsed if s.layout == "table"), [(s.sheet, len(s.frame)) for s in parsed]
    assert FIRST_DATA_ROW == EXAMPLE_ROW + 1


def test_every_table_kind_has_an_example_that_parses_without_problems(written):
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for kind in schema.KINDS.values():
        add_table_sheet(wb, kind)
        ws = wb[kind.label]
        for cell in ws[EXAMPLE_ROW]:  # the example, with its mark taken off, is a valid record
            if isinstance(cell.value, str) and cell.value.startswith(schema.EXAMPLE_MARK):
                cell.value = cell.value.split("：", 1)[1]
    path = Path(written) / "examples.xlsx"
    wb.save(path)
    parsed, problems = detect_and_parse(read_input(path), AS_OF)
    assert sorted(s.kind.key for s in parsed) == sorted(schema.KINDS)
    assert all(len(s.frame) == 1 for s in parsed)
    assert [p for p in problems if p.severity != "提醒"] == []


def test_relation_and_education_offer_a_dropdown_that_still_accepts_other_text(written):
    for file, sheet, label, choices in (
        ("名單.xlsx", "名單", "關係", schema.RELATIONS),
        ("貸款.xlsx", "貸款", "學歷", schema.EDUCATION),
    ):
        ws = openpyxl.load_workbook(written / file)[sheet]
        column = _column(ws, label)
        dv = next(
            dv
            for dv in ws.data_validations.dataValidation
            if any(str(r).startswith(f"{column}{EXAMPLE_ROW}:") for r in dv.sqref.ranges)
        )
        assert dv.type == "list" and dv.formula1.strip('"').split(",") == list(choices)
        assert not dv.showErrorMessage, "a relation not on the list is typed as it is"


def test_the_impression_column_says_mainland_china_and_the_old_header_still_reads():
    assert schema.CONTACTS.field("china").label == "C對中國大陸的印象"
    index = schema.ALIASES["contacts"]
    for header in ("C對中國大陸的印象", "C對內地的印象", "C对内地的印象", "對內地的印象/有沒有去過"):
        assert index[schema.normalise_header(header)] == "china", header


def _pages(workbook: Path, tmp_path: Path) -> int:
    libreoffice_convert(workbook, tmp_path, "pdf")
    info = subprocess.run(["pdfinfo", str(workbook.with_suffix(".pdf"))], capture_output=True, text=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


@pytest.mark.libreoffice
def test_the_contact_template_prints_one_page_wide_and_the_loan_form_on_one_page(tmp_path):
    for name, add in (
        ("contacts", lambda wb: add_table_sheet(wb, schema.CONTACTS)),
        ("form", lambda wb: add_loan_form_sheet(wb)),
    ):
        wb = openpyxl.Workbook()
        wb.remove(wb.active)
        ws = add(wb)
        path = tmp_path / f"{name}.xlsx"
        wb.save(path)
        assert str(ws.page_setup.paperSize) == ws.PAPERSIZE_A4 and int(ws.page_setup.fitToWidth) == 1
        assert _pages(path, tmp_path) == 1, f"{name} spills onto a second page"
    assert openpyxl.load_workbook(tmp_path / "form.xlsx")[FORM_SHEET].page_setup.orientation == "portrait"
