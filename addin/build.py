"""Build workbook.xlsm from text sources, byte-for-byte reproducibly: ``python -m addin.build [OUT]``.

The workbook is: a 說明 (start here) sheet, the template sheets generated from the one schema
(:func:`processor.templates.add_template_sheets`, when present), the ``xlwings.conf`` sheet,
the ribbon (customUI part + relationship), and the VBA project (:mod:`addin.vba` sources written
by :mod:`addin.ovba`). openpyxl writes the sheets; this module then rewrites the package with
fixed zip timestamps, a fixed entry order and fixed document dates, and adds the macro parts.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import sys
import zipfile
from pathlib import Path

import openpyxl
from openpyxl.styles import Alignment, Font, PatternFill

from processor.schema import KINDS

from . import udfs
from .ovba import vba_project
from .vba import ribbon_xml, project_modules

FIXED_DATE = dt.datetime(2024, 1, 1)
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "workbook.xlsm"
CONFIG_SHEET = "xlwings.conf"

#: the xlwings.conf sheet: xlwings' own keys, then ours (read by addin.ribbon)
CONFIG = (
    ("UDF Modules", udfs.__name__),
    ("Interpreter_Win", ""),
    ("Interpreter_Mac", ""),
    ("PYTHONPATH", ""),
    ("Show Console", False),
    ("DROP_FOLDER", ""),
    ("MODELS_DIR", ""),
)
CONFIG_HINTS = {
    "UDF Modules": "PL_ 公式所在的 Python 模組（請勿更改）",
    "Interpreter_Win": "Windows：python.exe 的完整路徑；留白則用 PATH 上的 python",
    "Interpreter_Mac": "macOS：python 的完整路徑；留白則用預設",
    "PYTHONPATH": "額外的 Python 路徑（通常留白）",
    "Show Console": "TRUE 時顯示 Python 主控台（除錯用）",
    "DROP_FOLDER": "共用資料夾根目錄，例如 \\\\server\\share\\精準名單（內含 inbox、outbox）",
    "MODELS_DIR": "已訓練模型的資料夾；留白則用 共用資料夾\\models 或 使用者資料夾\\精準名單\\models",
}

INTRO = (
    "精準名單 Precision List",
    "",
    "1. 把名單、交易、行銷名單等資料貼到範本工作表（或用 精準名單 › 插入範本工作表）。",
    "2. 按 精準名單 › 全部執行：結果工作表（摘要、沉默排名、客戶分群、精準名單…）會加進這個活頁簿。",
    "3. 儲存格公式：=PL_TWDATE(A2:A100)、=PL_AMOUNT(…)、=PL_ID_CHECK(…)、=PL_SILENCE(客戶編號, 日期, TODAY())…",
    "4. 共用資料夾：在 xlwings.conf 工作表填 DROP_FOLDER，按 送出評分，稍後按 取回結果。",
    "",
    "需要：Windows 或 macOS 的 Excel、Python 與 pip install precision-list（含 xlwings），並啟用巨集。",
    "說明文件：docs/excel-addin.md",
)


def _add_template_sheets(wb: openpyxl.Workbook) -> None:
    """The schema's template sheets, once processor.templates exists on this branch."""
    try:
        from processor.templates import add_template_sheets
    except ImportError:
        return
    add_template_sheets(wb)


def workbook_sheets() -> openpyxl.Workbook:
    """The workbook's sheets (no VBA yet), with VBA code names set."""
    wb = openpyxl.Workbook()
    intro = wb.active
    intro.title = "說明"
    for row, text in enumerate(INTRO, start=1):
        intro.cell(row=row, column=1, value=text)
    intro["A1"].font = Font(size=16, bold=True)
    intro.column_dimensions["A"].width = 110
    _add_template_sheets(wb)
    conf = wb.create_sheet(CONFIG_SHEET)
    for row, (key, value) in enumerate(CONFIG, start=1):
        conf.cell(row=row, column=1, value=key)
        conf.cell(row=row, column=2, value=value)
        conf.cell(row=row, column=3, value=CONFIG_HINTS[key]).font = Font(color="808080")
    conf.column_dimensions["A"].width = 18
    conf.column_dimensions["B"].width = 40
    conf.column_dimensions["C"].width = 70
    for cell in conf["A"]:
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(vertical="top")
    wb.code_name = "ThisWorkbook"
    for index, sheet in enumerate(wb.worksheets, start=1):
        sheet.sheet_properties.codeName = f"Sheet{index}"
    props = wb.properties
    props.creator = props.lastModifiedBy = "precision-list"
    props.title = "精準名單 Precision List"
    props.created = props.modified = FIXED_DATE
    return wb


MACRO_MAIN = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
PLAIN_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
VBA_CONTENT = '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
VBA_REL = ('<Relationship Id="rIdVBA" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" '
           'Target="vbaProject.bin"/>')
UI_REL = ('<Relationship Id="rIdCustomUI" Type="http://schemas.microsoft.com/office/2006/relationships/ui/extensibility" '
          'Target="customUI/customUI.xml"/>')


def _insert_before_close(xml: str, close_tag: str, addition: str) -> str:
    if close_tag not in xml:
        raise ValueError(f"{close_tag} not found")
    return xml.replace(close_tag, addition + close_tag, 1)


def _fixed_core(xml: str) -> str:
    """openpyxl stamps docProps/core.xml with the clock on save; pin both dates."""
    stamp = FIXED_DATE.strftime("%Y-%m-%dT%H:%M:%SZ")
    return re.sub(r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)", rf"\g<1>{stamp}\g<3>", xml)


def build_bytes() -> bytes:
    """The bytes of workbook.xlsm (same sources → same bytes)."""
    wb = workbook_sheets()
    code_names = [sheet.sheet_properties.codeName for sheet in wb.worksheets]
    raw = io.BytesIO()
    wb.save(raw)
    parts = {}
    with zipfile.ZipFile(raw) as plain:
        for name in plain.namelist():
            parts[name] = plain.read(name)

    types = parts["[Content_Types].xml"].decode("utf-8").replace(PLAIN_MAIN, MACRO_MAIN)
    parts["[Content_Types].xml"] = _insert_before_close(types, "</Types>", VBA_CONTENT).encode("utf-8")
    rels = parts["xl/_rels/workbook.xml.rels"].decode("utf-8")
    parts["xl/_rels/workbook.xml.rels"] = _insert_before_close(rels, "</Relationships>", VBA_REL).encode("utf-8")
    root_rels = parts["_rels/.rels"].decode("utf-8")
    parts["_rels/.rels"] = _insert_before_close(root_rels, "</Relationships>", UI_REL).encode("utf-8")
    parts["docProps/core.xml"] = _fixed_core(parts["docProps/core.xml"].decode("utf-8")).encode("utf-8")
    parts["customUI/customUI.xml"] = ribbon_xml(KINDS).encode("utf-8")
    parts["xl/vbaProject.bin"] = vba_project(project_modules(code_names))

    out = io.BytesIO()
    order = ["[Content_Types].xml"] + sorted(n for n in parts if n != "[Content_Types].xml")
    with zipfile.ZipFile(out, "w") as package:
        for name in order:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 0
            info.external_attr = 0
            package.writestr(info, parts[name], compresslevel=9)
    return out.getvalue()


def build(output_path: str | Path = DEFAULT_OUTPUT) -> Path:
    """Write workbook.xlsm to ``output_path`` (atomically) and return the path."""
    output_path = Path(output_path)
    data = build_bytes()
    tmp = output_path.with_name(output_path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(output_path)
    return output_path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = build(args[0] if args else DEFAULT_OUTPUT)
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
