"""Build workbook.xlsm from text sources, byte-for-byte reproducibly: ``python -m addin.build [OUT]``
(OUT defaults to workbook.xlsm at the repository root; ``precision-list build-workbook -o OUT`` is the same).

The workbook is: a 說明 (start here) sheet, the template sheets generated from the one schema
(:func:`processor.sheets.templates.add_template_sheets`, when present), the ``xlwings.conf`` sheet,
the ribbon (customUI part + relationship), and the VBA project (:mod:`addin.vba` sources written
by :mod:`addin.ovba`). openpyxl writes the sheets; this module then rewrites the package with
fixed zip timestamps, a fixed entry order, fixed document dates and stored (not deflated)
entries, and adds the macro parts. The bytes depend only on the sources and on the exactly
pinned :data:`BYTE_DEPENDENCIES`, not on zlib.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import sys
import unicodedata
import zipfile
from pathlib import Path

import openpyxl
from openpyxl.styles import Alignment, Font, PatternFill

from processor.read.schema import KINDS
from processor.read.workbook import CONFIG_SHEET

from . import udfs
from .ovba import vba_project
from .vba import project_modules, ribbon_xml

FIXED_DATE = dt.datetime(2024, 1, 1)
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "workbook.xlsm"

#: the xlwings.conf sheet. Only keys with a value: xlwings' VBA (GetConfig) takes a key on this
#: sheet as set even when its value is blank, and would then ignore the rep's own
#: %USERPROFILE%\.xlwings\xlwings.conf (Interpreter_Win, Conda Path …). Our own keys (read by
#: addin.ribbon, where blank means "not set") are listed blank so a rep only fills in column B.
CONFIG = (
    ("UDF Modules", udfs.__name__),
    ("DROP_FOLDER", ""),
    ("MODELS_DIR", ""),
    ("MODEL", ""),
)
CONFIG_HINTS = {
    "UDF Modules": "PL_ 公式所在的 Python 模組（請勿更改）",
    "DROP_FOLDER": "共用資料夾根目錄，例如 \\\\server\\share\\精準名單（內含 inbox、outbox）",
    "MODELS_DIR": "已訓練模型的資料夾；留白則用 共用資料夾\\models 或 使用者資料夾\\精準名單\\models",
    "MODEL": "購買機率 / 全部執行 用哪個模型（名稱或 .skops 路徑）；留白時 購買機率 用模型資料夾中最新的",
}
#: xlwings settings a rep may add as extra rows (see the 說明 sheet); never written blank
XLWINGS_OPTIONAL = (
    ("Interpreter_Win", "Windows：python.exe 的完整路徑，例如 C:\\Python312\\python.exe（預設用 PATH 上的 python）"),
    ("Interpreter_Mac", "macOS：python 的完整路徑，例如 /usr/local/bin/python3"),
    ("Conda Path", "用 Anaconda/Miniconda 時：conda 的安裝資料夾"),
    ("Conda Env", "用 Anaconda/Miniconda 時：環境名稱，例如 base"),
    ("PYTHONPATH", "額外的 Python 路徑（通常不需要）"),
    ("Show Console", "TRUE 時顯示 Python 主控台（除錯用）"),
)

INTRO = (
    "精準名單 Precision List",
    "",
    "1. 把名單、交易、行銷名單等資料貼到範本工作表（或用 精準名單 › 插入範本工作表）。",
    "2. 按 精準名單 › 全部執行：結果工作表（摘要、沉默排名、客戶分群、精準名單…）會加進這個活頁簿。",
    "3. 購買機率：先在有已知結果（是否購買）的舊名單按 訓練模型；新名單貼進「行銷名單」後按 購買機率，"
    "會用模型資料夾中最新的模型評分（或 xlwings.conf 的 MODEL 指定的模型）。",
    "4. 儲存格公式：=PL_TWDATE(A2:A100)、=PL_AMOUNT(…)、=PL_ID_CHECK(…)、=PL_SILENCE(客戶編號, 日期, TODAY())…；"
    "有問題的格子顯示 ⚠ 與原因。",
    "5. 共用資料夾：在 xlwings.conf 工作表填 DROP_FOLDER，按 送出評分，稍後按 取回結果。",
    "",
    "xlwings.conf 工作表：A 欄是設定名稱、B 欄是值，由第 1 列往下連續（中間不可有空列）。",
    "只在需要時才加下列 xlwings 設定（加在最後一列下方）；不要留下空白值的設定列——"
    "空白值會蓋掉您電腦上 %USERPROFILE%\\.xlwings\\xlwings.conf 的設定：",
    *(f"　{key}：{hint}" for key, hint in XLWINGS_OPTIONAL),
    "",
    "需要：Windows 或 macOS 的 Excel、Python 3.11 以上，並安裝本專案（含 xlwings），再啟用巨集。",
    "安裝方式與限制：見 docs/excel-addin.md（pip install 本專案的資料夾、wheel 檔或 git 網址）。",
)


def _add_template_sheets(wb: openpyxl.Workbook) -> None:
    """The schema's template sheets, once processor.sheets.templates exists on this branch."""
    try:
        from processor.sheets.templates import add_template_sheets
    except ImportError:
        return
    add_template_sheets(wb)


def _text_units(text: str) -> float:
    """Roughly how many column-width units a text takes: a full-width (CJK) character about two
    and a half, others about one (fonts differ a little between Excel and LibreOffice)."""
    return sum(2.5 if unicodedata.east_asian_width(ch) in "WF" else 1.1 for ch in text)


def _wrapped_column(ws, letter: str, width: float) -> None:
    """Column ``letter`` ``width`` wide, its texts wrapped and each row tall enough for its lines,
    so nothing spills past the column on screen or is cut at the page edge in print."""
    ws.column_dimensions[letter].width = width
    for cell in ws[letter]:
        if isinstance(cell.value, str) and cell.value:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            lines = math.ceil(_text_units(cell.value) / (width - 2))
            if lines > 1:
                ws.row_dimensions[cell.row].height = 15 * lines + 2


def _print_one_page_wide(ws) -> None:
    """Landscape, fitted to one page wide (as many pages tall as needed)."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def workbook_sheets() -> openpyxl.Workbook:
    """The workbook's sheets (no VBA yet), with VBA code names set."""
    wb = openpyxl.Workbook()
    intro = wb.active
    intro.title = "說明"
    for row, text in enumerate(INTRO, start=1):
        intro.cell(row=row, column=1, value=text)
    _wrapped_column(intro, "A", 90)
    intro["A1"].font = Font(size=16, bold=True)
    _print_one_page_wide(intro)
    _add_template_sheets(wb)
    conf = wb.create_sheet(CONFIG_SHEET)
    for row, (key, value) in enumerate(CONFIG, start=1):
        conf.cell(row=row, column=1, value=key)
        conf.cell(row=row, column=2, value=value)
        conf.cell(row=row, column=3, value=CONFIG_HINTS[key]).font = Font(color="808080")
    conf.column_dimensions["A"].width = 18
    conf.column_dimensions["B"].width = 40
    _wrapped_column(conf, "C", 70)
    for cell in conf["A"]:
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(vertical="top")
    _print_one_page_wide(conf)
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
VBA_REL = (
    '<Relationship Id="rIdVBA" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" '
    'Target="vbaProject.bin"/>'
)
UI_REL = (
    '<Relationship Id="rIdCustomUI" Type="http://schemas.microsoft.com/office/2006/relationships/ui/extensibility" '
    'Target="customUI/customUI.xml"/>'
)


def _insert_before_close(xml: str, close_tag: str, addition: str) -> str:
    if close_tag not in xml:
        raise ValueError(f"{close_tag} not found")
    return xml.replace(close_tag, addition + close_tag, 1)


def _fixed_core(xml: str) -> str:
    """openpyxl stamps docProps/core.xml with the clock on save; pin both dates."""
    stamp = FIXED_DATE.strftime("%Y-%m-%dT%H:%M:%SZ")
    return re.sub(r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)", rf"\g<1>{stamp}\g<3>", xml)


#: what the bytes depend on besides our sources: pinned exactly in pyproject.toml (a test checks
#: the installed versions against the pins; xlwings also supplies the embedded VBA module)
BYTE_DEPENDENCIES = ("openpyxl", "et-xmlfile", "xlwings")
REBUILD = "python -m addin.build"


def build_bytes() -> bytes:
    """The bytes of workbook.xlsm (same sources and pinned writers → same bytes).

    openpyxl's XML is written by et-xmlfile, or by lxml when lxml is installed (different
    bytes), so a build with lxml active is refused rather than silently differing.
    """
    if openpyxl.LXML:
        raise RuntimeError(
            f"openpyxl is writing through lxml, which gives different bytes: run OPENPYXL_LXML=False {REBUILD}"
        )
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
            # stored, not deflated: deflate's bytes depend on the zlib build (zlib-ng, a newer
            # zlib), stored bytes only on the parts; Excel compresses the file when a rep saves it
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 0
            info.external_attr = 0
            package.writestr(info, parts[name])
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
