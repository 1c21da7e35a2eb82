"""Transaction logs bigger than a workbook: a Parquet file, a folder of .parquet / .csv files, or a glob
(``exports/2025-*.csv``) — resolved, checked and read the one way every engine uses (issue 13).

:func:`resolve_log` decides whether INPUT is a log at all (a single workbook or CSV keeps the
workbook path) and checks every file before any work starts: headers must be a transactions
table (客戶編號, 日期, 金額 by any alias the schema knows), Parquet columns must have usable types,
a folder must hold nothing else (hidden files and ``_SUCCESS``-style markers of Spark/Hadoop
exports excepted). Anything else is :class:`UnusableInput` naming the file and what to do.
:func:`typed_partition` turns a piece of any file into canonical columns with the product's own
value parsers, so a CSV log reads like a CSV workbook.
"""

from __future__ import annotations

import glob as globbing
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from processor.errors import UnusableInput, step
from processor.read.schema import TRANSACTIONS, alias_index, normalise_header

LOG_SUFFIXES = (".parquet", ".csv")
USED = ("customer_id", "date", "amount", "margin", "cost")  # what the customer tables read (品項 is not used)
_ALIASES = alias_index(TRANSACTIONS)
_LABEL = {f.key: f.label for f in TRANSACTIONS.fields}


@dataclass(frozen=True)
class LogFile:
    """One file of a log: its path, format and which of its columns hold which field."""

    path: Path
    format: str  # "parquet" or "csv"
    columns: dict  # field key → the file's own column name (USED fields only)
    rows: int | None  # exact for Parquet (from the footer), None for CSV
    bytes: int


@dataclass(frozen=True)
class TransactionLog:
    """A checked log: its files (sorted by path) and the name it is reported under."""

    name: str
    files: tuple[LogFile, ...]

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    @property
    def estimated_rows(self) -> int:
        """Rows: exact for Parquet, by :data:`CSV_BYTES_PER_ROW` for CSV."""
        return sum(f.rows if f.rows is not None else f.bytes // CSV_BYTES_PER_ROW for f in self.files)


CSV_BYTES_PER_ROW = 30  # 客戶編號,日期,金額,品項 as exported: about 30 bytes a row (generate_transactions.py)


def is_log(text: str) -> bool:
    """INPUT names a log (Parquet file, folder or glob) rather than one workbook or CSV file."""
    path = Path(text)
    return path.suffix.lower() == ".parquet" or path.is_dir() or (not path.exists() and globbing.has_magic(text))


def resolve_log(text: str) -> TransactionLog:
    """The checked :class:`TransactionLog` INPUT names; :class:`UnusableInput` when it cannot be used whole.

    >>> resolve_log("no-such-folder/*.parquet")
    Traceback (most recent call last):
    processor.errors.UnusableInput: 找不到符合 no-such-folder/*.parquet 的檔案；請確認路徑與萬用字元...
    """
    path = Path(text)
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if not _ignored(p))
        if not found:
            raise UnusableInput(
                f"資料夾 {path.name} 是空的（沒有 .parquet 或 .csv 檔）",
                "請放入交易紀錄檔再送出",
                en=f"folder {path.name} is empty (no .parquet or .csv file)",
                fix_en="put the transaction files in it and try again",
            )
        name = path.name
    elif globbing.has_magic(text) and not path.exists():
        found = sorted(Path(p) for p in globbing.glob(text) if not _ignored(Path(p)))
        if not found:
            raise UnusableInput(
                f"找不到符合 {text} 的檔案",
                "請確認路徑與萬用字元（例：exports/2025-*.csv）",
                en=f"no file matches {text}",
                fix_en="check the path and the pattern (e.g. exports/2025-*.csv)",
            )
        name = text
    elif path.is_file():
        found, name = [path], path.name
    else:
        raise UnusableInput(
            f"找不到檔案 {path.name}",
            "請確認路徑與檔名",
            en=f"file not found: {path.name}",
            fix_en="check the path and the file name",
        )
    others = [p for p in found if p.is_dir() or p.suffix.lower() not in LOG_SUFFIXES]
    if others:
        shown = "、".join(p.name for p in others[:5]) + ("…" if len(others) > 5 else "")
        raise UnusableInput(
            f"{name} 裡有 {len(others)} 個不是交易紀錄的檔案或資料夾（{shown}），整批沒有處理",
            "請只放 .parquet 或 .csv 交易紀錄檔（其他檔案請移到別處），或用萬用字元只選交易檔",
            en=f"{name} holds {len(others)} file(s) or folder(s) that are not transaction logs "
            f"({shown}); nothing was scored",
            fix_en="keep only .parquet or .csv transaction files there, or select them with a glob",
        )
    files = tuple(_check(p) for p in found)
    not_transactions = [f for f in files if f.columns is None]
    if not_transactions:
        bad = not_transactions[0]
        raise UnusableInput(
            f"{bad.path.name} 不是交易紀錄（找不到 客戶編號、日期、金額 欄）"
            + (f"，另有 {len(not_transactions) - 1} 個檔案也是" if len(not_transactions) > 1 else "")
            + "，整批沒有處理",
            "請把不是交易紀錄的檔案移出，或改正欄名" + step("transactions_template_headers"),
            en=f"{bad.path.name} is not a transaction log (no 客戶編號/customer id, 日期/date, 金額/amount columns)"
            + (f"; {len(not_transactions) - 1} more file(s) too" if len(not_transactions) > 1 else "")
            + "; nothing was scored",
            fix_en="move the other files out, or rename the columns as in the transactions template",
        )
    return TransactionLog(name, files)


def _ignored(path: Path) -> bool:
    """Hidden files, Excel lock files and the ``_SUCCESS`` / ``_metadata`` markers Spark and Hadoop write."""
    return path.name.startswith((".", "_", "~$"))


def _check(path: Path) -> LogFile:
    """A file's format and column mapping (None when it is not a transactions table); wrong types raise."""
    size = path.stat().st_size
    if size == 0:
        raise UnusableInput(
            f"{path.name} 是空檔案（0 位元組）",
            "請重新匯出或複製一次",
            en=f"{path.name} is empty (0 bytes)",
            fix_en="export or copy the file again",
        )
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            meta = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow's own error types vary by version: any failure here is a bad file
            raise UnusableInput(
                f"{path.name} 不是有效的 Parquet 檔（{type(exc).__name__}）",
                "請重新匯出或複製一次",
                en=f"{path.name} is not a valid Parquet file",
                fix_en="export or copy it again",
            ) from exc
        schema = meta.schema_arrow
        columns = _mapping(schema.names)
        if columns is not None:
            _check_types(path, schema, columns)
        return LogFile(path, "parquet", columns, meta.metadata.num_rows, size)
    headers = _csv_header(path)
    return LogFile(path, "csv", _mapping(headers), None, size)


def _mapping(names) -> dict | None:
    found: dict[str, str] = {}
    for name in names:
        key = _ALIASES.get(normalise_header(name))
        if key in USED and key not in found:
            found[key] = name
    return found if {"customer_id", "date", "amount"} <= found.keys() else None


def _check_types(path: Path, schema, columns: dict) -> None:
    """Parquet is typed: a date must be a date or timestamp, money a number (text there is an export mistake
    that would otherwise silently drop every row)."""
    import pyarrow as pa

    expected = {
        "date": (pa.types.is_timestamp, pa.types.is_date, "日期或時間 (date/timestamp)"),
        "amount": (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal, "數字 (number)"),
        "margin": (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal, "數字 (number)"),
        "cost": (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal, "數字 (number)"),
    }
    for key, name in columns.items():
        if key not in expected:
            continue
        *tests, wanted = expected[key]
        kind = schema.field(name).type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if not any(test(kind) for test in tests):
            raise UnusableInput(
                f"{path.name} 的「{name}」欄型別是 {kind}，應該是{wanted}",
                "請在匯出時把這欄存成正確的型別",
                en=f"column {name!r} of {path.name} has type {kind}; expected {wanted}",
                fix_en="export that column with the right type",
                sheet=path.name,
                column=name,
            )


def _csv_header(path: Path) -> list[str]:
    with open(path, "rb") as fh:
        head = fh.read(64 * 1024)
    for encoding in ("utf-8-sig", "cp950"):
        try:
            text = head.decode(encoding)
            break
        except UnicodeDecodeError as exc:
            if exc.start > len(head) - 4:  # cut mid-character by the 64 KB read
                text = head[: exc.start].decode(encoding)
                break
    else:
        raise UnusableInput(
            f"{path.name} 不是 UTF-8 或 Big5 的文字檔",
            "請另存為 UTF-8 的 CSV",
            en=f"{path.name} is not UTF-8 or Big5 text",
            fix_en="save it as a UTF-8 CSV",
        )
    first_line = text.splitlines()[0] if text else ""
    return list(pd.read_csv(io.StringIO(first_line + "\n"), dtype=str, nrows=0).columns) if first_line.strip() else []


def csv_encoding(path: Path) -> str:
    """utf-8 (BOM or not) or cp950 (Big5), the two encodings reps' CSVs come in."""
    with open(path, "rb") as fh:
        head = fh.read(64 * 1024)
    try:
        head.decode("utf-8-sig")
        return "utf-8-sig"
    except UnicodeDecodeError as exc:
        return "utf-8-sig" if exc.start > len(head) - 4 else "cp950"


PIECE_ROWS = 1_000_000  # rows a piece of a log holds at most (Parquet row groups joined up to it): ~50 MB read


@dataclass(frozen=True)
class LogPiece:
    """A unit of reading: some row groups of a Parquet file (None: the whole file, as for a CSV)."""

    file: LogFile
    row_groups: tuple[int, ...] | None = None


def pieces(log: TransactionLog, rows: int = PIECE_ROWS) -> list[LogPiece]:
    """The log cut into pieces of at most ``rows`` rows where the files allow it (Parquet row groups;
    a CSV file is one piece), in file order: what the engines read one at a time."""
    import pyarrow.parquet as pq

    out: list[LogPiece] = []
    for f in log.files:
        if f.format != "parquet":
            out.append(LogPiece(f))
            continue
        meta = pq.ParquetFile(f.path).metadata
        group: list[int] = []
        held = 0
        for i in range(meta.num_row_groups):
            n = meta.row_group(i).num_rows
            if group and held + n > rows:
                out.append(LogPiece(f, tuple(group)))
                group, held = [], 0
            group.append(i)
            held += n
        out.append(LogPiece(f, tuple(group) if meta.num_row_groups > 1 else None))
    return out


@dataclass(frozen=True)
class PieceColumns:
    """A piece of a log as arrays: id codes, day numbers (int64 min when missing), amounts (NaN missing),
    and the optional 毛利 / 成本 (None when the file has no such column)."""

    ids: object  # processor.read.values.IdCodes
    day: np.ndarray
    amount: np.ndarray
    margin: np.ndarray | None
    cost: np.ndarray | None
    problems: list = field(default_factory=list)  # text cells that could not be read (CSV), a line per cell

    def __len__(self) -> int:
        return len(self.amount)


def read_piece(piece: LogPiece) -> PieceColumns:
    """A piece's used columns, typed. Parquet columns that are already dates and numbers are converted by Arrow
    (no text parsing: a day is a division, an id is hashed once per distinct spelling); text (CSV) goes through
    the product's own parsers (:func:`typed_partition`: ROC dates, 3萬, full-width digits), so both read alike."""
    f = piece.file
    if f.format != "parquet":
        frame = read_file(f)
        frame.index = pd.RangeIndex(2, len(frame) + 2)  # each row's line in its file (line 1: the header)
        typed, problems = typed_partition(frame, f.path.name)
        columns = _columns_of_frame(typed)
        columns.problems.extend(problems)
        return columns
    import pyarrow.parquet as pq

    names = list(f.columns.values())
    handle = pq.ParquetFile(f.path)
    table = handle.read(columns=names) if piece.row_groups is None else handle.read_row_groups(piece.row_groups, names)
    column = {key: table.column(name) for key, name in f.columns.items()}
    return PieceColumns(
        _arrow_ids(column["customer_id"]),
        _arrow_days(column["date"]),
        _arrow_numbers(column["amount"]),
        _arrow_numbers(column["margin"]) if "margin" in column else None,
        _arrow_numbers(column["cost"]) if "cost" in column else None,
    )


def read_file(file: LogFile) -> pd.DataFrame:
    """A whole file as raw canonical columns (text for CSV)."""
    if file.format == "parquet":
        frame = pd.read_parquet(file.path, columns=list(file.columns.values()))
    else:
        frame = pd.read_csv(
            file.path,
            usecols=list(file.columns.values()),
            dtype=str,
            keep_default_na=False,
            encoding=csv_encoding(file.path),
        )
    return frame.rename(columns={v: k for k, v in file.columns.items()})


def _columns_of_frame(frame: pd.DataFrame) -> PieceColumns:
    from processor.read.values import IdCodes

    def number(key):
        return frame[key].to_numpy(dtype=float) if key in frame.columns else None

    return PieceColumns(
        IdCodes.of(frame["customer_id"]), _days(frame["date"]), number("amount"), number("margin"), number("cost")
    )


def _days(dates: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 of a datetime column (NaT → int64 min, as numpy stores it)."""
    return pd.to_datetime(dates).to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").view(np.int64)


def _arrow_ids(column):
    """IdCodes of an Arrow column: dictionary-encoded in C, the distinct spellings folded once each."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from processor.read.values import IdCodes

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_dictionary(array.type):
        array = pc.dictionary_encode(array)
    codes = pc.fill_null(array.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    spellings = np.asarray(array.dictionary.to_pylist(), dtype=object)
    return IdCodes.of_spellings(codes, spellings)


_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


def _arrow_days(column) -> np.ndarray:
    """Days since 1970-01-01 (int64 min when missing) of a date or timestamp column; a time zone's local day."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    nat = np.iinfo(np.int64).min
    if pa.types.is_timestamp(kind) and kind.tz is not None:  # the local wall time's day, as pandas reads it
        return _days(column.to_pandas().dt.tz_localize(None))
    if pa.types.is_date32(kind):
        raw, per_day = column.cast(pa.int32()), 1
    elif pa.types.is_date64(kind):
        raw, per_day = column.cast(pa.int64()), 86_400_000
    else:
        raw, per_day = column.cast(pa.int64()), _PER_DAY[kind.unit]
    values = pc.fill_null(raw, nat).to_numpy().astype(np.int64, copy=False)
    return values if per_day == 1 else np.where(values == nat, nat, values // per_day)


def _arrow_numbers(column) -> np.ndarray:
    import pyarrow as pa

    return column.cast(pa.float64()).to_numpy().astype(float, copy=False)


def typed_partition(frame: pd.DataFrame, sheet: str = "") -> tuple[pd.DataFrame, list]:
    """Canonical columns with dates and money typed by the product's own parsers
    (:func:`processor.read.parse.parse_column`: ROC dates, ``3萬``, ``1,200``…), and the problems of the cells
    that cannot be read — missing here, one line each in the data check as on a workbook's sheet (``frame``'s
    index gives their rows, ``sheet`` the file). Typed columns (Parquet) pass through.
    """
    from processor.read.parse import parse_column

    def parsed(key):
        column, found = parse_column(frame[key], TRANSACTIONS.field(key), sheet, None)  # as-of: rows' rule
        problems.extend(found)
        return column

    problems: list = []
    out = {"customer_id": frame["customer_id"]}
    date = frame["date"]
    if date.dtype.kind == "M":
        out["date"] = date.dt.tz_localize(None) if getattr(date.dt, "tz", None) is not None else date
    else:
        out["date"] = parsed("date") if not _is_date_objects(date) else pd.to_datetime(date)
    for key in ("amount", "margin", "cost"):
        if key in frame.columns:
            column = frame[key]
            out[key] = (
                column.astype(float)
                if column.dtype.kind in "iufb"
                else parsed(key).astype(float)
                if column.dtype == object or pd.api.types.is_string_dtype(column)
                else pd.to_numeric(column.astype(object), errors="coerce").astype(float)
            )
    return pd.DataFrame(out, index=frame.index), problems


def _is_date_objects(column: pd.Series) -> bool:
    """Parquet date32 columns arrive as Python dates (object dtype), not text."""
    import datetime

    first = column.dropna().head(1)
    return bool(len(first)) and isinstance(first.iloc[0], datetime.date)
