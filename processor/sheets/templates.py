"""Blank templates generated from the schema: one sheet per kind, zh-TW headers, dropdowns,
input hints, formats, frozen header; the loan intake also as seed 000's 貸款懶人包 form.

``precision-list templates DIR`` writes them; the same files are committed under templates/.
"""

from __future__ import annotations

from pathlib import Path

from processor.read import schema
from processor.settings import FIELDS as SETTING_FIELDS
from processor.settings import Settings

#: formats and dropdowns cover every row Excel has: a template's column style is what a cell typed
#: anywhere below takes (85/03/12 stays text on row 5,000 too, instead of becoming 1985)
LAST_ROW = 1_048_576
EXAMPLE_ROW, FIRST_DATA_ROW = 2, 3  # the grey example row (schema.EXAMPLES), then the rep's rows
HEADER_FILL = "1F4E78"
FORM_SHEET = "貸款懶人包"
SETTINGS_SHEET = "設定"
ALL_IN_ONE = "精準名單範本.xlsx"


def _validation(f: schema.Field, ref: str):
    """The field's dropdown (choices, 是/否) and, for every field, its hint as the input message."""
    from openpyxl.worksheet.datavalidation import DataValidation

    if f.type == schema.CHOICE:
        dv = DataValidation(type="list", formula1='"' + ",".join(f.choices) + '"', allow_blank=True)
        dv.error, dv.errorTitle, dv.showErrorMessage = f"請從清單選：{' / '.join(f.choices)}", f.label[:32], True
    elif f.suggestions:
        dv = DataValidation(type="list", formula1='"' + ",".join(f.suggestions) + '"', allow_blank=True)
        dv.showErrorMessage = False  # a suggestion list: any other text is accepted as typed
    elif f.type == schema.BOOL:
        dv = DataValidation(type="list", formula1='"是,否"', allow_blank=True)
        dv.showErrorMessage = False  # reps may type Y/N/V/有/無; score understands them
    else:
        dv = DataValidation(allow_blank=True)  # no restriction: only the input message
    dv.promptTitle, dv.prompt, dv.showInputMessage = f.label[:32], f.hint[:255], True
    dv.add(ref)
    return dv


def add_table_sheet(wb, kind: schema.SheetKind, title: str | None = None):
    """A one-row-per-record sheet for ``kind``: header row, widths, formats and dropdowns on whole
    columns, hints, a grey example row, and a page setup that prints one page wide (A4 landscape)."""
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(title or kind.label)
    fields = [f for f in kind.fields if not f.derived] + [f for f in kind.fields if f.derived]
    example = schema.EXAMPLES.get(kind.key, {})
    example_font = Font(italic=True, color="808080")
    for col, f in enumerate(fields, start=1):
        cell = ws.cell(row=1, column=col, value=f.label)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="7F7F7F" if f.derived else HEADER_FILL)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        letter = get_column_letter(col)
        ws.column_dimensions[letter].width = f.width + 2
        # text keeps phones' leading 0 and ROC dates as typed, on every row (the column's own style)
        ws.column_dimensions[letter].number_format = f.number_format
        ws.add_data_validation(_validation(f, f"{letter}{EXAMPLE_ROW}:{letter}{LAST_ROW}"))
        value = ws.cell(row=EXAMPLE_ROW, column=col, value=example.get(f.key))
        value.number_format, value.font = f.number_format, example_font
    ws.row_dimensions[1].height = 32
    ws.freeze_panes = "B2" if kind.key in ("contacts", "loans") else "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(fields))}1"
    _print_setup(ws, landscape=True, one_page=False)
    ws.print_title_rows = "1:1"
    return ws


def _print_setup(ws, *, landscape: bool, one_page: bool) -> None:
    """A4, one page wide (and, for a form, one page tall): what a rep gets when printing."""
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 1 if one_page else 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_margins.left = ws.page_margins.right = 0.4


def add_loan_form_sheet(wb, title: str = FORM_SHEET):
    """The loan intake laid out like seed 000's 貸款懶人包: sections 1–5, items (a)…, values in column B."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    ws = wb.create_sheet(title)
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["B"].width = 36
    ws.cell(row=1, column=1, value="貸款懶人包（一位申請人一張）").font = Font(bold=True, size=14)
    ws.cell(row=2, column=1, value="在 B 欄填寫；日期可寫民國 85/03/12，金額可寫 80萬。身分證字號在結果中會遮蔽。")
    row, section, letter = 3, None, 0
    thin = Side(style="thin", color="BFBFBF")
    for f in schema.LOANS.fields:
        if f.section != section:
            section, letter = f.section, 0
            row += 1
            cell = ws.cell(row=row, column=1, value=section)
            cell.font = Font(bold=True, color="FFFFFF")
            cell.fill = PatternFill("solid", fgColor=HEADER_FILL)
            ws.cell(row=row, column=2).fill = PatternFill("solid", fgColor=HEADER_FILL)
            row += 1
        ws.cell(row=row, column=1, value=f"({chr(ord('a') + letter)}){f.label}:").alignment = Alignment(indent=1)
        value = ws.cell(row=row, column=2)
        value.border = Border(bottom=thin)
        value.number_format = f.number_format
        ws.add_data_validation(_validation(f, f"B{row}"))
        letter += 1
        row += 1
    ws.freeze_panes = "A3"
    _print_setup(ws, landscape=False, one_page=True)  # labels and answers side by side on page 1
    return ws


def add_settings_sheet(wb, settings: Settings | None = None, title: str = SETTINGS_SHEET):
    """項目 / 值 / 說明 for every setting, defaults filled in (seed 000 economics, seed 004 cadence …)."""
    from openpyxl.styles import Font, PatternFill

    settings = settings or Settings()
    ws = wb.create_sheet(title)
    for col, (text, width) in enumerate((("項目", 22), ("值", 14), ("說明", 60)), start=1):
        cell = ws.cell(row=1, column=col, value=text)
        cell.font, cell.fill = Font(bold=True, color="FFFFFF"), PatternFill("solid", fgColor=HEADER_FILL)
        ws.column_dimensions["ABC"[col - 1]].width = width
    for row, (name, f) in enumerate(SETTING_FIELDS.items(), start=2):
        value = getattr(settings, name)
        ws.cell(row=row, column=1, value=f.metadata["label"])
        ws.cell(row=row, column=2, value=",".join(map(str, value)) if isinstance(value, tuple) else value)
        ws.cell(row=row, column=3, value=f.metadata["hint"])
        if f.metadata["choices"]:  # e.g. 日期顯示: 自動 / 西元 / 民國
            from openpyxl.worksheet.datavalidation import DataValidation

            shown = list(dict.fromkeys(f.metadata["choices"].values()))
            dv = DataValidation(type="list", formula1='"' + ",".join(shown) + '"', allow_blank=True)
            dv.error, dv.showErrorMessage = f"請從清單選：{' / '.join(shown)}", True
            dv.add(f"B{row}")
            ws.add_data_validation(dv)
    ws.freeze_panes = "A2"
    _print_setup(ws, landscape=False, one_page=False)
    return ws


def add_template_sheets(wb, kinds: list[str] | None = None, *, settings: bool = True) -> list:
    """Add the template sheets (all kinds by default, the loan intake as form and table) to ``wb``."""
    added = []
    for key in kinds or list(schema.KINDS):
        kind = schema.KINDS[key]
        if key == "loans":
            added.append(add_loan_form_sheet(wb))
        added.append(add_table_sheet(wb, kind))
    if settings:
        added.append(add_settings_sheet(wb))
    return added


def template_files() -> dict[str, list[str]]:
    """File name → kinds it holds: one file per kind, plus the all-in-one workbook."""
    files = {f"{kind.label}.xlsx": [key] for key, kind in schema.KINDS.items()}
    files[ALL_IN_ONE] = list(schema.KINDS)
    return files


def write_templates(directory: Path) -> list[Path]:
    """Write every template file into ``directory``; returns the paths."""
    import openpyxl

    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, kinds in template_files().items():
        wb = openpyxl.Workbook()
        wb.remove(wb.active)
        add_template_sheets(wb, kinds, settings=True)
        path = directory / name
        wb.save(path)
        paths.append(path)
    return paths
