"""Hand-made .xlsx packages for the reader's limits: written part by part (no spreadsheet library),
so a test can declare what a hostile or odd writer declares (a dimension of A1:XFD1048576, row
spans, 16,384 styled columns, a merged whole column) without the writing itself taking minutes.

All content is synthetic. Used by tests/test_read_limits.py and benchmarks/bench_read.py.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path

from openpyxl.utils import get_column_letter

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WB_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL}/styles" Target="styles.xml"/>'
    f'<Relationship Id="rId3" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/></Relationships>'
)
#: style 1: a fill (a "formatted" cell), style 2: a date (yyyy/mm/dd)
_STYLES = (
    f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{_MAIN}">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy/mm/dd"/></numFmts>'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="3"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/>'
    '</fill><fill><patternFill patternType="solid"><fgColor rgb="FFFFFF00"/></patternFill></fill></fills>'
    '<borders count="1"><border/></borders><cellStyleXfs count="1"><xf/></cellStyleXfs>'
    '<cellXfs count="3"><xf/><xf fillId="2" applyFill="1"/><xf numFmtId="164" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def cell(ref: str, value=None, style: int | None = None, shared: dict | None = None) -> str:
    """One ``<c>``: a number, text (shared when ``shared`` is given, else inline) or, with no value,
    an empty cell that only carries a style — what spreadsheet programs write for formatting."""
    s = f' s="{style}"' if style else ""
    if value is None:
        return f'<c r="{ref}"{s}/>'
    if isinstance(value, str):
        text = value.replace("&", "&amp;").replace("<", "&lt;")
        if shared is not None:
            return f'<c r="{ref}"{s} t="s"><v>{shared.setdefault(text, len(shared))}</v></c>'
        return f'<c r="{ref}"{s} t="inlineStr"><is><t>{text}</t></is></c>'
    return f'<c r="{ref}"{s}><v>{value}</v></c>'


def row(number: int, values: Iterable, first_column: int = 1, shared: dict | None = None, attrs: str = "") -> str:
    """A ``<row>`` of values from ``first_column`` on (None → no cell)."""
    cells = "".join(
        cell(f"{get_column_letter(j)}{number}", v, shared=shared)
        for j, v in enumerate(values, start=first_column)
        if v is not None
    )
    return f'<row r="{number}"{attrs}>{cells}</row>'


def write_xlsx(
    path: str | Path,
    rows: Iterable[str],
    *,
    dimension: str = "A1",
    cols: str = "",
    merges=(),
    shared: dict | None = None,
    sheet_name: str = "Sheet1",
    level: int = 6,
) -> Path:
    """A one-sheet workbook whose ``<sheetData>`` is ``rows`` (XML strings, streamed into the zip).

    ``shared``: the dict ``cell``/``row`` filled while ``rows`` was consumed, written as the
    shared-strings part afterwards (Excel's way of storing text).
    """
    path = Path(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level, allowZip64=True) as zf:
        zf.writestr("[Content_Types].xml", _TYPES)
        zf.writestr("_rels/.rels", _ROOT_RELS)
        zf.writestr(
            "xl/workbook.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_MAIN}" '
            f'xmlns:r="{_REL}"><sheets><sheet name="{sheet_name}" sheetId="1" '
            'r:id="rId1"/></sheets></workbook>',
        )
        zf.writestr("xl/_rels/workbook.xml.rels", _WB_RELS)
        zf.writestr("xl/styles.xml", _STYLES)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as out:
            out.write(
                f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_MAIN}" xmlns:r="{_REL}">'
                f'<dimension ref="{dimension}"/>{cols}<sheetData>'.encode()
            )
            batch = []
            for r in rows:
                batch.append(r)
                if len(batch) >= 5000:
                    out.write("".join(batch).encode())
                    batch = []
            out.write("".join(batch).encode())
            merged = "".join(f'<mergeCell ref="{m}"/>' for m in merges)
            out.write(
                (
                    "</sheetData>"
                    + (f'<mergeCells count="{len(merges)}">{merged}</mergeCells>' if merges else "")
                    + "</worksheet>"
                ).encode()
            )
        strings = list(shared or {})
        with zf.open("xl/sharedStrings.xml", "w", force_zip64=True) as out:
            out.write(
                f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{_MAIN}" count="{len(strings)}" '
                f'uniqueCount="{len(strings)}">'.encode()
            )
            for start in range(0, len(strings), 20_000):
                out.write("".join(f"<si><t>{t}</t></si>" for t in strings[start : start + 20_000]).encode())
            out.write(b"</sst>")
    return path


def followup_rows(n: int, shared: dict | None = None, start: int = 2) -> Iterable[str]:
    """``n`` synthetic follow-up rows (姓名, 日期, 方式, 結果) below a header row at row 1."""
    yield row(1, ["姓名", "日期", "方式", "結果"], shared=shared)
    ways = ["電話", "Line", "見面"]
    for i in range(min(n, 5000)):  # every text appears by row 5,000: the shared strings get their order here
        r = start + i
        yield (
            f'<row r="{r}">'
            + cell(f"A{r}", f"客戶{i % 5000:04d}", shared=shared)
            + f'<c r="B{r}" s="2"><v>{45000 + i % 700}</v></c>'
            + cell(f"C{r}", ways[i % 3], shared=shared)
            + cell(f"D{r}", "未接" if i % 2 else "有興趣", shared=shared)
            + "</row>"
        )
    if n <= 5000:
        return
    # the same XML, one f-string a row (a million rows: ~3 s less than cell() per cell)
    if shared is None:
        a = [f"<is><t>客戶{k:04d}</t></is></c>" for k in range(5000)]
        c = [f"<is><t>{w}</t></is></c>" for w in ways]
        d = ["<is><t>有興趣</t></is></c>", "<is><t>未接</t></is></c>"]
        kind = ' t="inlineStr">'
    else:
        a = [f"<v>{shared[f'客戶{k:04d}']}</v></c>" for k in range(5000)]
        c = [f"<v>{shared[w]}</v></c>" for w in ways]
        d = [f"<v>{shared['有興趣']}</v></c>", f"<v>{shared['未接']}</v></c>"]
        kind = ' t="s">'
    for i in range(5000, n):
        r = start + i
        yield (
            f'<row r="{r}"><c r="A{r}"{kind}{a[i % 5000]}<c r="B{r}" s="2"><v>{45000 + i % 700}</v></c>'
            f'<c r="C{r}"{kind}{c[i % 3]}<c r="D{r}"{kind}{d[i % 2]}</row>'
        )
