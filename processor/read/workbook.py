"""Reading input files as grids of raw cell values, and writing files atomically.

Accepts .xlsx / .xlsm (macros are never executed: the VBA part is not even loaded) and CSV in
UTF-8 (with or without BOM) or Big5/CP950. The file type is decided by its bytes, not its name;
anything else is :class:`UnusableInput` with one readable line.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from processor.errors import UnusableInput

MAX_UNZIPPED_BYTES = 2_000_000_000  # zip-bomb guard: a real workbook this large is not a rep's list
MAX_RATIO = 200  # compressed → uncompressed ratio beyond which the file is treated as a bomb
HEADER_SCAN_ROWS = 15  # header rows are looked for in the first rows only
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass
class RawSheet:
    """One input sheet as raw values: ``grid`` is a DataFrame without headers (row 0 = Excel row 1)."""

    name: str
    grid: pd.DataFrame
    source: str  # "xlsx" or "csv"
    result: bool = False  # a result sheet of an earlier run (the workbook is a *.scored.xlsx)


#: custom document property of a result workbook: its result sheets' names, "|"-separated
RESULT_SHEETS_PROPERTY = "PrecisionListResultSheets"
#: the result's team facts (processor.analyse.team.team_facts) as JSON in numbered custom properties
TEAM_PROPERTY = "PrecisionListTeam"
#: the add-in's settings sheet, and its key recording the result sheets the ribbon put in
#: ("|"-separated): a workbook.xlsm with ribbon results dropped on the share is read like a
#: *.scored.xlsx — the rep's sheets are data, the results are not
CONFIG_SHEET = "xlwings.conf"
RESULT_SHEETS_KEY = "RESULT_SHEETS"


def config_from_rows(rows) -> dict[str, object]:
    """Key → value from (key, value, …) rows, stopping at the first blank key (as xlwings reads it).

    >>> config_from_rows([("MODEL", "a"), ("RESULT_SHEETS", "摘要|資料檢查"), (None, None), ("X", 1)])
    {'MODEL': 'a', 'RESULT_SHEETS': '摘要|資料檢查'}
    """
    out = {}
    for row in rows:
        key, value = (tuple(row) + (None, None))[:2]
        if key is None or str(key).strip() == "":
            break
        out[str(key).strip()] = value
    return out


def sniff(path: Path) -> str:
    """'zip', 'ole' (encrypted OOXML or legacy .xls), 'empty' or 'text'."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head:
        return "empty"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head == OLE_MAGIC:
        return "ole"
    return "text"


def read_input(path: str | os.PathLike) -> list[RawSheet]:
    """All sheets of a workbook or CSV as :class:`RawSheet` grids.

    >>> read_input("missing.xlsx")
    Traceback (most recent call last):
    processor.errors.UnusableInput: 找不到檔案 missing.xlsx；請確認路徑與檔名
    """
    path = Path(path)
    if not path.is_file():
        raise UnusableInput(f"找不到檔案 {path.name}", "請確認路徑與檔名", en=f"file not found: {path.name}",
                            fix_en="check the path and the file name")
    kind = sniff(path)
    if kind == "empty":
        raise UnusableInput(f"{path.name} 是空檔案（0 位元組）", "請重新存檔或重新複製一次",
                            en=f"{path.name} is empty (0 bytes)", fix_en="save or copy the file again")
    if kind == "ole":
        with open(path, "rb") as fh:
            blob = fh.read(1 << 20)
        if "EncryptionInfo".encode("utf-16-le") in blob:
            raise UnusableInput(f"{path.name} 有密碼保護（加密）", "請在 Excel 移除密碼後另存新檔再送出",
                                en=f"{path.name} is password-protected",
                                fix_en="remove the password in Excel (File › Info › Protect Workbook) and save a copy")
        raise UnusableInput(f"{path.name} 是舊版 Excel 97-2003 (.xls) 格式", "請在 Excel 另存為 .xlsx 再送出",
                            en=f"{path.name} is a legacy Excel 97-2003 .xls file", fix_en="save it as .xlsx in Excel")
    if kind == "zip":
        return _read_xlsx(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        raise UnusableInput(f"{path.name} 不是真正的 Excel 檔（內容是文字或已損毀）",
                            "請用 Excel 開啟後另存為 .xlsx；若是 CSV 請把副檔名改成 .csv",
                            en=f"{path.name} is not a valid Excel file (text or damaged)",
                            fix_en="open it in Excel and save as .xlsx; if it is a CSV, rename it to .csv")
    return [_read_csv(path)]


def _check_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            names = {i.filename for i in infos}
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnusableInput(f"{path.name} 已損毀，無法開啟（{type(exc).__name__}）", "請重新存檔或重新複製一次",
                            en=f"{path.name} is corrupt and cannot be opened",
                            fix_en="save or copy the file again") from exc
    if "xl/workbook.xml" not in names:
        raise UnusableInput(f"{path.name} 不是 Excel 活頁簿（可能是 Word/PowerPoint 或其他壓縮檔）",
                            "請送出 .xlsx、.xlsm 或 .csv 檔", en=f"{path.name} is not an Excel workbook",
                            fix_en="submit an .xlsx, .xlsm or .csv file")
    total = sum(i.file_size for i in infos)
    packed = max(1, sum(i.compress_size for i in infos))
    if total > MAX_UNZIPPED_BYTES or (total > 50_000_000 and total / packed > MAX_RATIO):
        raise UnusableInput(f"{path.name} 解壓後過大（{total / 1e9:.1f} GB），疑似壓縮炸彈，未處理",
                            "請確認檔案來源；正常名單請另存為 CSV 再送出",
                            en=f"{path.name} expands to {total / 1e9:.1f} GB: a likely zip bomb, not processed",
                            fix_en="check where the file came from; save a real list as CSV and submit that")


def _read_xlsx(path: Path) -> list[RawSheet]:
    import openpyxl

    _check_zip(path)
    read_only = path.stat().st_size > 20_000_000  # big exports: stream, skip merged-cell filling
    try:
        wb = openpyxl.load_workbook(path, read_only=read_only, data_only=True, keep_vba=False)
    except Exception as exc:  # openpyxl raises many types for broken parts
        raise UnusableInput(f"{path.name} 無法讀取（{type(exc).__name__}: {str(exc)[:120]}）",
                            "請用 Excel 開啟後另存新檔再送出", en=f"{path.name} cannot be read ({type(exc).__name__})",
                            fix_en="open it in Excel and save it again as .xlsx") from exc
    sheets = []
    try:
        results = set()
        for prop in getattr(wb, "custom_doc_props", None) or []:
            if prop.name == RESULT_SHEETS_PROPERTY and isinstance(prop.value, str):
                results = set(prop.value.split("|"))
        if CONFIG_SHEET in wb.sheetnames:
            recorded = config_from_rows(wb[CONFIG_SHEET].iter_rows(max_col=2, values_only=True))
            results |= {n for n in str(recorded.get(RESULT_SHEETS_KEY) or "").split("|") if n}
        for ws in wb.worksheets:
            rows = list(ws.iter_rows(values_only=True))
            grid = pd.DataFrame(rows, dtype=object) if rows else pd.DataFrame(dtype=object)
            if not read_only:
                for merged in ws.merged_cells.ranges:
                    if merged.min_row > HEADER_SCAN_ROWS:
                        continue  # only title and header rows are filled; data stays as typed
                    # a merged title/header cell: every cell of the range gets its value
                    top = grid.iat[merged.min_row - 1, merged.min_col - 1] if (
                        merged.min_row - 1 < len(grid) and merged.min_col - 1 < grid.shape[1]) else None
                    grid.iloc[merged.min_row - 1:merged.max_row, merged.min_col - 1:merged.max_col] = top
            sheets.append(RawSheet(ws.title, grid, "xlsx", result=ws.title in results))
    finally:
        wb.close()
    return sheets


def _decode(data: bytes, name: str) -> str:
    for encoding in ("utf-8-sig", "cp950", "big5hkscs", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnusableInput(f"{name} 的文字編碼無法辨識", "請在 Excel 另存為「CSV UTF-8」", en=f"{name}: unknown text encoding",
                        fix_en="save it from Excel as \"CSV UTF-8\"")


def _parse_csv(source: bytes | str, name: str) -> pd.DataFrame:
    """Cells as str, blank → None (UnicodeDecodeError when bytes are not UTF-8)."""
    head = source[:8000].decode("utf-8", errors="ignore") if isinstance(source, bytes) else source[:2000]
    tabs = head.count("\t") > head.count(",")
    if tabs and isinstance(source, bytes):
        source = source.decode("utf-8-sig")  # the python engine (to sniff the separator) reads text
    try:
        grid = pd.read_csv(io.BytesIO(source) if isinstance(source, bytes) else io.StringIO(source), header=None,
                           dtype=object, na_filter=False, encoding="utf-8-sig", sep=None if tabs else ",",
                           engine="python" if tabs else "c", skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UnusableInput(f"{name} 不是可讀的 CSV（{str(exc)[:120]}）", "請在 Excel 另存為「CSV UTF-8」",
                            en=f"{name} is not a readable CSV", fix_en="save it from Excel as \"CSV UTF-8\"") from exc
    columns = {}
    for j in range(grid.shape[1]):  # "" → None column by column in numpy (DataFrame.where is 5x slower)
        values = grid.iloc[:, j].to_numpy(dtype=object, copy=True)
        values[values == ""] = None
        columns[j] = values
    return pd.DataFrame(columns, dtype=object) if columns else pd.DataFrame(dtype=object)


def _read_csv(path: Path) -> RawSheet:
    data = path.read_bytes()
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnusableInput(f"{path.name} 是二進位檔，不是 CSV 或 Excel", "請送出 .xlsx、.xlsm 或 .csv 檔",
                            en=f"{path.name} is a binary file, not a CSV or Excel file",
                            fix_en="submit an .xlsx, .xlsm or .csv file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        grid = _parse_csv(data.decode("utf-16"), path.name)
    else:
        try:  # bytes straight to the C parser: 3x faster than decoding to a str first
            grid = _parse_csv(data, path.name)
        except UnicodeDecodeError:
            grid = _parse_csv(_decode(data, path.name), path.name)
    return RawSheet(path.stem[:31], grid, "csv")


@contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = ".xlsx"):
    """Yield a temp path beside ``path``; on success it replaces ``path`` in one rename.

    A crash mid-write leaves only a ``.~pl-*`` temp file, never a half-written result.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".~pl-", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        # mkstemp makes 0600; a result on a share must open for the other reps, as any new file would
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    """The process umask, read without changing it where the OS tells (Linux), else set and reset."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask

