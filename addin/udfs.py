"""Cell formulas (UDFs) for Excel: thin, vectorised wrappers over :mod:`processor` (DESIGN §5).

Each ``PL_*`` function takes a whole range (a block of cells arrives as a list of rows), turns
it into a pandas Series or DataFrame, calls the same core function the pipeline uses, and
returns a block of cells that Excel spills. Nothing is computed here: a shell converts, calls
and renders (STYLE.md). Cell values are checked by the pipeline's own parsers and validators
(:mod:`processor.read.values`, :mod:`processor.read.parse`), transactions are cleaned by the pipeline's
:func:`processor.analyse.transactions.clean_transactions`, so a formula and ``precision-list score``
agree on the same data.

Bad input is never dropped or guessed silently:

* a cell that cannot be used gets a ``⚠`` message in its own place (cell-by-cell formulas:
  ``⚠ 意向等級「Z」不是可選的值：請從下拉選單選：H / A / B / C``);
* per-customer tables (PL_SILENCE, PL_RFM) end with ``⚠`` note rows for what the cleaning set
  aside or merged (a purchase after as_of, a customer with only returns, ``A001``/``a001 ``
  counted as one customer), rows numbered within the selected range;
* a formula that cannot run at all returns one cell with the reason, never a Python traceback
  and never a bare ``#VALUE!``.

Only the open-source xlwings decorators are used (``xw.func``/``xw.arg``); on Linux they are
no-ops, so the tests call these functions directly with lists, exactly as xlwings would.
The VBA wrappers embedded in workbook.xlsm are generated from these signatures
(:func:`addin.vba.udf_wrappers`).
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools

import numpy as np
import pandas as pd
import xlwings as xw

from processor import privacy as idnumber
from processor.analyse import segments, silence
from processor.analyse import value as value_module
from processor.analyse.followup import due
from processor.analyse.propensity import expected_profit
from processor.analyse.segments import abc_classes
from processor.analyse.transactions import clean_transactions
from processor.errors import Problem, UnusableInput
from processor.models import predict_proba
from processor.read import parse as validation
from processor.read import schema
from processor.read import values as parsers
from processor.settings import Settings

from . import ribbon
from .adapter import as_in_file
from .excel import ExcelWorkbook
from .messages import IN_FORMULA, in_excel

#: the names Excel sees, in the order the function wizard lists them
UDF_NAMES = (
    "PL_TWDATE",
    "PL_AMOUNT",
    "PL_ZODIAC",
    "PL_ID_CHECK",
    "PL_NEXT_FOLLOWUP",
    "PL_SILENCE",
    "PL_RFM",
    "PL_CLV",
    "PL_PALIVE",
    "PL_ABC",
    "PL_PROB",
    "PL_EXPECTED_PROFIT",
)
CATEGORY = "精準名單"
#: what the function wizard says under each argument box
ARGUMENT_HELP = {
    "horizon_days": "預測未來幾天（預設 365）",
    "value": "要轉換的儲存格或範圍（整欄更快）",
    "birthday": "生日的儲存格或範圍（民國或西元皆可）",
    "id": "身分證字號或居留證號的儲存格或範圍",
    "last_contact": "最後聯絡日（一欄）",
    "intent_level": "意向等級 H/A/B/C（一欄，與最後聯絡日同列數；留白為未分級）",
    "touches": "聯絡次數（一欄，與最後聯絡日同列數；留白或 0 為初次接觸）",
    "as_of": "基準日（選填，例如 TODAY()；留白為今天）",
    "customer_ids": "客戶編號（一欄，每筆交易一列）",
    "dates": "交易日期（一欄，與客戶編號同列數）",
    "amounts": "交易金額（一欄，與客戶編號同列數；可寫 3萬；退貨寫負數）",
    "values": "要分類的金額（一欄，每位客戶一列）",
    "table_with_header": "客戶表，第一列為標題（欄名要和訓練時相同）",
    "model_name": "模型名稱（訓練模型時的名稱）或 .skops 檔的路徑（相對路徑從活頁簿所在資料夾算起）",
    "p": "購買機率（0 到 1，或 35%）",
    "price": "售價（選填，預設 2500）",
    "cost": "成本（選填，預設 750）",
    "contact_cost": "聯絡成本（選填，預設 175）",
}
#: note rows under a per-customer table, at most (the rest are counted in one more row)
MAX_NOTES = 20
WARN = "⚠ "


class FormulaProblem(Exception):
    """The formula as a whole cannot run; the message is what the cell shows."""


# ---------------------------------------------------------------------------------------------
# Range ↔ pandas conversion (the whole shell)


def _grid(value) -> np.ndarray:
    """What Excel passes (a scalar, one row/column as a flat list, or a list of rows) as a 2-D array."""
    if isinstance(value, list) and value and type(value[0]) is list and len(set(map(len, value))) == 1:
        width = len(value[0])  # xlwings' list of rows: its cells in one pass (np.array on nested lists is 3x slower)
        cells = np.fromiter(itertools.chain.from_iterable(value), dtype=object, count=len(value) * width)
        return cells.reshape(len(value), width) if width else np.array([[None]], dtype=object)
    grid = np.array(value, dtype=object) if isinstance(value, (list, tuple, np.ndarray)) else None
    if grid is None or grid.size == 0:
        grid = np.array([[value if grid is None else None]], dtype=object)
    elif grid.ndim == 1 and len(grid) and isinstance(grid[0], (list, tuple)):  # ragged rows
        width = max(len(r) for r in grid)
        grid = np.array([list(r) + [None] * (width - len(r)) for r in grid], dtype=object)
    elif grid.ndim == 1:
        grid = grid.reshape(1, -1)  # xlwings passes a single row or column as a flat list
    return grid


def _block(value) -> list[list]:
    """A range as a list of rows (for tables whose first row is the header)."""
    return _grid(value).tolist()


def _cells(value) -> tuple[pd.Series, tuple[int, int]]:
    """All cells of a range as one Series (row by row) and the range's shape, to give results back."""
    grid = _grid(value)
    return pd.Series(grid.reshape(-1), dtype=object), grid.shape


class _Distinct:
    """A column's cells as codes into its distinct values, factorized once, so every parser and
    check runs on the distinct values only: a rep's column of 100,000 dates holds a few
    thousand different ones."""

    def __init__(self, raw: pd.Series):
        codes, distinct = pd.factorize(raw, use_na_sentinel=True)
        self.index = raw.index
        self.codes = np.where(codes < 0, len(distinct), codes)  # blanks share one slot at the end
        self.values = pd.Series(list(distinct) + [None], dtype=object)

    def spread(self, result: pd.Series) -> pd.Series:
        return pd.Series(result.to_numpy()[self.codes], index=self.index, dtype=result.dtype)


def _distinct(raw) -> _Distinct:
    return raw if isinstance(raw, _Distinct) else _Distinct(raw)


def _each_distinct(parser, raw):
    """``parser`` on each distinct cell value once; its Series (or tuple of them) aligned with ``raw``."""
    cells = _distinct(raw)
    results = parser(cells.values)
    return tuple(map(cells.spread, results)) if isinstance(results, tuple) else cells.spread(results)


_NUMBER_TYPES = frozenset({float, int, np.float64, np.float32, np.int64, np.int32})  # not bool: True is no amount


_TYPED = _NUMBER_TYPES | {dt.datetime, pd.Timestamp}


def _amounts(cells: pd.Series) -> tuple[pd.Series, pd.Series]:
    """:func:`processor.read.values.parse_amounts`, with cells Excel already typed as numbers taken as
    the numbers they are (what the parser does with them) so only text goes through its text
    path. ``tests/test_addin_udfs.py`` checks this equals the parser on any mix of cells."""
    number = np.fromiter((type(v) in _NUMBER_TYPES for v in cells.to_numpy()), dtype=bool, count=len(cells))
    if not number.any():
        return parsers.parse_amounts(cells)
    value = pd.Series(np.nan, index=cells.index, dtype=float)
    value[number] = cells[number].to_numpy(dtype=float)
    bad = pd.Series(False, index=cells.index)
    if not number.all():
        value[~number], bad[~number] = parsers.parse_amounts(cells[~number])
    return value, bad


def _dates(cells: pd.Series) -> tuple[pd.Series, pd.Series]:
    """:func:`processor.read.values.parse_dates`, with date cells (datetimes from Excel) taken as the
    days they are, so only text and serial numbers go through the parser (checked equal too)."""
    when = np.fromiter((isinstance(v, dt.datetime) for v in cells.to_numpy()), dtype=bool, count=len(cells))
    if not when.any():
        return parsers.parse_dates(cells)
    value = pd.Series(pd.NaT, index=cells.index, dtype="datetime64[ns]")
    value[when] = pd.to_datetime(cells[when].tolist()).normalize()
    bad = pd.Series(False, index=cells.index)
    if not when.all():
        value[~when], bad[~when] = parsers.parse_dates(cells[~when])
    return value, bad


def _blank(raw) -> np.ndarray:
    """Where a cell is empty (processor.read.values.is_blank), judged once per distinct value; a number
    or date cell is blank only when it is missing (NaN), which spares turning it into text."""
    cells = _distinct(raw)
    typed = np.fromiter((type(v) in _TYPED for v in cells.values.to_numpy()), dtype=bool, count=len(cells.values))
    blank = np.zeros(len(cells.values), dtype=bool)
    blank[typed] = cells.values[typed].isna().to_numpy()
    if not typed.all():
        blank[~typed] = parsers.is_blank(cells.values[~typed]).to_numpy(dtype=bool)
    return blank[cells.codes]


def _column(value, name: str) -> pd.Series:
    """A one-column (or one-row) range as a Series; a 2-D block is a readable formula problem."""
    series, (rows, cols) = _cells(value)
    if rows > 1 and cols > 1:
        raise FormulaProblem(f"「{name}」請選一欄（或一列），不是 {rows}×{cols} 的區塊")
    return series


def _shaped(series: pd.Series, shape: tuple[int, int]) -> list[list]:
    """Cell values back into the range's shape; blanks stay blank."""
    return np.asarray(_excel_values(series), dtype=object).reshape(shape).tolist()


def _excel_values(series: pd.Series) -> list:
    """Python values Excel accepts: datetimes for dates, floats, strings, "" for missing."""
    present = series.notna().to_numpy()
    out = np.full(len(series), "", dtype=object)
    if pd.api.types.is_datetime64_any_dtype(series):
        codes, days = pd.factorize(series[present])  # a column of dates holds few distinct days
        out[present] = np.asarray(days.to_pydatetime(), dtype=object)[codes]
    else:
        out[present] = series[present].astype(object).to_numpy()
    return out.tolist()


def _table(frame: pd.DataFrame) -> list[list]:
    """A result frame as a block with its header row on top."""
    columns = [_excel_values(frame[c]) for c in frame.columns]
    return [[str(c) for c in frame.columns]] + [list(row) for row in zip(*columns)]


def _with_messages(parsed: pd.Series, messages: pd.Series) -> pd.Series:
    """Parsed values, with the message in each cell that has one."""
    out = pd.Series(_excel_values(parsed), index=parsed.index, dtype=object)
    has = messages.notna().to_numpy()
    out[has] = messages[has]
    return out


def _unreadable(bad: pd.Series, raw: pd.Series, what: str, fix: str) -> pd.Series:
    """``⚠ 無法辨識<what>「<cell>」：<fix>`` where ``bad``, else missing."""
    out = pd.Series(None, index=raw.index, dtype=object)
    if bad.any():
        out[bad] = WARN + "無法辨識" + what + "「" + raw[bad].astype(str) + "」：" + fix
    return out


def _checked(raw, field: schema.Field, as_of: pd.Timestamp, cell=None) -> tuple[pd.Series, pd.Series]:
    """(values, messages) of one column by the pipeline's own parsing and validation of a schema
    field (:mod:`processor.read.parse`: unreadable, not a choice, not a whole number, a date after
    as_of or before 1900 — what 資料檢查 reports), once per distinct cell value. ``messages``
    holds ``⚠ <label>「<cell>」<problem>：<fix>`` where a cell fails and is missing elsewhere;
    ``cell`` converts each distinct value first."""

    def check(distinct: pd.Series):
        values = distinct if cell is None else distinct.map(cell)
        parsed, problems = validation._parse_values(values, field, "", as_of, limit=None)  # noqa: SLF001
        messages = np.full(len(distinct), None, dtype=object)
        for p in problems:  # one per bad distinct value
            if messages[p.row] is None:
                messages[p.row] = f"{WARN}{field.label}「{p.value}」{p.problem}：{p.fix}"
        return parsed, pd.Series(messages, index=distinct.index, dtype=object)

    return _each_distinct(check, raw)


def _as_of(value) -> pd.Timestamp:
    """The formula's "today": the as_of argument if given (e.g. =TODAY()), else today's date."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return pd.Timestamp.today().normalize()
    parsed, bad = parsers.parse_dates(pd.Series([value], dtype=object))
    if bad.iloc[0]:
        raise FormulaProblem(f"as_of「{value}」不是日期：請寫 2024/3/5 或用 =TODAY()")
    return parsed.iloc[0]


def _number(value, name: str, default: float) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return float(default)
    number = parsers.parse_number_scalar(value)
    if number is None:
        raise FormulaProblem(f"「{name}」「{value}」不是數字")
    return number


def _readable(func):
    """Turn any failure into one cell with a readable reason (Excel would show only #VALUE!)."""

    @functools.wraps(func)
    def wrapper(*args):
        try:
            return func(*args)
        except FormulaProblem as problem:
            return [[f"{WARN}{problem}"]]
        except UnusableInput as problem:  # the core's own message for people (sheet, value, fix)
            return [[WARN + str(in_excel(problem, IN_FORMULA))]]
        except Exception as error:
            return [[f"{WARN}{func.__name__} 無法計算：{type(error).__name__}: {error}"]]

    return wrapper


# ---------------------------------------------------------------------------------------------
# Transactions: the pipeline's cleaning, with what it set aside as note rows


def _note(problem: Problem) -> str:
    """One ``⚠`` row under a table: what the cleaning did to which rows of the range, and the fix."""
    where = "、".join(
        part
        for part in (
            f"第 {problem.row} 列" if problem.row is not None and "列" not in problem.problem else "",
            f"{problem.column}" + (f" {problem.value}" if problem.value.startswith("「") else f"「{problem.value}」")
            if problem.column and problem.value
            else "",
        )
        if part
    )
    fix = in_excel(problem.fix, IN_FORMULA)
    return (
        f"{WARN}{problem.severity}：{problem.problem}" + (f"（{where}）" if where else "") + (f"：{fix}" if fix else "")
    )


def _transactions(customer_ids, dates, as_of: pd.Timestamp, amounts=None) -> tuple[pd.DataFrame, list[str]]:
    """(clean transactions, note rows): parallel columns cleaned by the pipeline's own
    :func:`processor.analyse.transactions.clean_transactions` (ids normalised, purchases after as_of
    and incomplete rows set aside and reported, returns deducted). Rows blank in every column
    are the unused end of a selected range and are skipped without a note."""
    ids = _column(customer_ids, "customer_ids")
    raw_dates = _column(dates, "dates")
    raw_amounts = None if amounts is None else _column(amounts, "amounts")
    lengths = [len(ids), len(raw_dates)] + ([] if raw_amounts is None else [len(raw_amounts)])
    if len(set(lengths)) > 1:
        raise FormulaProblem(
            f"客戶編號、日期{'、金額' if amounts is not None else ''}的列數不同"
            f"（{'、'.join(map(str, lengths))}）：請選同樣多列"
        )
    id_cells, date_cells = _Distinct(ids), _Distinct(raw_dates)
    when, bad_dates = _each_distinct(_dates, date_cells)
    if raw_amounts is None:  # dates only (PL_SILENCE): every listed date is a purchase, worth one unit
        amount, bad_amounts = pd.Series(1.0, index=ids.index), pd.Series(False, index=ids.index)
        used = pd.Series(~(_blank(id_cells) & _blank(date_cells)))
    else:
        amount_cells = _Distinct(raw_amounts)
        amount, bad_amounts = _each_distinct(_amounts, amount_cells)
        used = pd.Series(~(_blank(id_cells) & _blank(date_cells) & _blank(amount_cells)))
    rows = pd.RangeIndex(1, len(ids) + 1)  # "第 N 列" = the Nth row of the selected range
    # ids as the pipeline reads a 客戶編號 cell from a file: Excel's 1001.0 is the 1001 openpyxl gives
    text_ids, _ = _checked(id_cells, schema.KINDS["transactions"].field("customer_id"), as_of, as_in_file)
    frame = pd.DataFrame(
        {"customer_id": text_ids.to_numpy(), "date": when.to_numpy(), "amount": amount.to_numpy()}, index=rows
    )[used.to_numpy()]
    if not frame["customer_id"].notna().any():
        raise FormulaProblem("客戶編號都是空的：第一個引數請選客戶編號那一欄")
    notes = []
    for bad, raw, label, fix in (
        (bad_dates, raw_dates, "日期", DATE_FIX),
        (bad_amounts, raw_amounts, "金額", AMOUNT_FIX),
    ):
        where = np.flatnonzero((bad & used).to_numpy())
        notes += [
            f"{WARN}錯誤：第 {i + 1} 列{label}「{raw.iloc[i]}」無法辨識，這列沒有納入計算：{fix}"
            for i in where[:MAX_NOTES]
        ]
        if len(where) > MAX_NOTES:
            notes.append(f"{WARN}錯誤：另有 {len(where) - MAX_NOTES:,} 列{label}無法辨識，也沒有納入計算：{fix}")
    clean, problems = clean_transactions(frame, as_of, sheet="")
    return clean, notes + [_note(p) for p in problems]


def _with_notes(table: list[list], notes: list[str]) -> list[list]:
    """The table, then one row per note (capped at MAX_NOTES), as wide as the table."""
    width = len(table[0])
    shown = notes[:MAX_NOTES] + (
        [f"{WARN}另有 {len(notes) - MAX_NOTES} 個問題未列出"] if len(notes) > MAX_NOTES else []
    )
    return table + [[note] + [""] * (width - 1) for note in shown]


def _customer_table(table_of, labels: dict, transactions: tuple, as_of, columns: tuple[str, ...]) -> list[list]:
    """PL_SILENCE / PL_RFM: the core's per-customer table on cleaned transactions, zh-TW headed
    (``labels``), followed by the cleaning's notes."""
    when = _as_of(as_of)
    clean, notes = _transactions(*transactions[:2], when, *transactions[2:])
    if not (clean["amount"] > 0).any():
        return _with_notes([[f"{WARN}沒有可計算的購買（正數金額、基準日 {when:%Y/%m/%d} 以前）"]], notes)
    table = table_of(clean, when, Settings())
    return _with_notes(_table(table.loc[:, list(columns)].rename(columns=labels)), notes)


# ---------------------------------------------------------------------------------------------
# The formulas

DATE_FIX = "請寫 85/03/12、民國85年3月12日 或 2024/3/5"
AMOUNT_FIX = "請寫 30000、3萬 或 1,200"
PROBABILITY_FIX = "請填 0 到 1 之間的數字（例：0.35 或 35%）"
_CONTACT = schema.KINDS["contacts"]


@xw.func(category=CATEGORY)
@xw.arg("value", ndim=2)
@_readable
def PL_TWDATE(value):
    """日期：把民國/西元/Excel 序號等各種寫法轉成日期（例：85/03/12 → 1996/03/12）。無法辨識的格顯示 ⚠ 與寫法。"""
    raw, shape = _cells(value)
    parsed, bad = _each_distinct(_dates, raw)
    return _shaped(_with_messages(parsed, _unreadable(bad, raw, "日期", DATE_FIX)), shape)


@xw.func(category=CATEGORY)
@xw.arg("value", ndim=2)
@_readable
def PL_AMOUNT(value):
    """金額：把 3萬、80萬、1,200、NT$500、(500) 等寫法轉成數字（例：3萬 → 30000）。無法辨識的格顯示 ⚠。"""
    raw, shape = _cells(value)
    parsed, bad = _each_distinct(_amounts, raw)
    return _shaped(_with_messages(parsed, _unreadable(bad, raw, "金額", AMOUNT_FIX)), shape)


@xw.func(category=CATEGORY)
@xw.arg("birthday", ndim=2)
@_readable
def PL_ZODIAC(birthday):
    """星座：由生日推算（例：85/03/12 → 雙魚座）。生日在今天之後、早於 1900 年或無法辨識時顯示 ⚠ 與原因。"""
    raw, shape = _cells(birthday)
    born, messages = _checked(raw, _CONTACT.field("birthday"), pd.Timestamp.today().normalize())
    return _shaped(_with_messages(parsers.zodiac_signs(born), messages), shape)


@xw.func(category=CATEGORY)
@xw.arg("id", ndim=2)
@_readable
def PL_ID_CHECK(id):  # noqa: A002 - the name the function wizard shows
    """身分證字號/居留證號檢查：回傳 有效、格式錯誤 或 檢查碼錯誤（例：A123456789 → 有效）。"""
    raw, shape = _cells(id)
    _, status = _each_distinct(idnumber.check_ids, raw)
    return _shaped(status, shape)


@xw.func(category=CATEGORY)
@xw.arg("last_contact", ndim=2)
@xw.arg("intent_level", ndim=2)
@xw.arg("touches", ndim=2)
@_readable
def PL_NEXT_FOLLOWUP(last_contact, intent_level, touches, as_of=None):
    """下次跟進日與逾期天數（兩欄，同 跟進排程）：+1/+3/+7 天，之後 H 每天、A 3天、B 7天、C 15天；意向留白 14 天。錯的格顯示 ⚠。"""  # noqa: E501  the text Excel shows
    when = _as_of(as_of)
    columns = {
        key: _column(arg, key)
        for key, arg in (("last_contact", last_contact), ("intent", intent_level), ("touches", touches))
    }
    lengths = [len(c) for c in columns.values()]
    if len(set(lengths)) > 1:
        raise FormulaProblem(
            f"最後聯絡日、意向等級、聯絡次數的列數不同（{'、'.join(map(str, lengths))}）：請選同樣多列"
        )
    columns = {key: _Distinct(raw) for key, raw in columns.items()}
    checked = {key: _checked(cells, _CONTACT.field(key), when) for key, cells in columns.items()}
    count, count_messages = checked["touches"]  # a negative count is the schema's problem too (minimum 0)
    message = checked["last_contact"][1].fillna(checked["intent"][1]).fillna(count_messages)
    # the 跟進排程 sheet's own rule (never contacted: due today; overdue: days past the due date)
    next_date, overdue = due(checked["last_contact"][0], checked["intent"][0], count, when, Settings())
    dates = np.array(_with_messages(next_date, message).tolist(), dtype=object)
    late = np.array(_excel_values(overdue.clip(lower=0).astype("Int64").where(message.isna())), dtype=object)
    blank = np.logical_and.reduce([_blank(cells) for cells in columns.values()])
    dates[blank] = late[blank] = ""
    return np.column_stack([dates, late]).tolist()


SILENCE_COLUMNS = ("customer_id", "recency", "rank_ratio", "silence_score", "silence_group")
RFM_COLUMNS = ("customer_id", "recency", "frequency", "monetary", "r_score", "f_score", "m_score", "rfm_segment")


@xw.func(category=CATEGORY)
@_readable
def PL_SILENCE(customer_ids, dates, as_of=None):
    """沉默排名（每位客戶一列，含標題）：客戶、Tr、TrF、S、分組 a–e（種子 004）。表下的 ⚠ 列說明未納入或合併的資料。"""
    return _customer_table(silence.silence_table, silence.LABELS, (customer_ids, dates), as_of, SILENCE_COLUMNS)


@xw.func(category=CATEGORY)
@_readable
def PL_RFM(customer_ids, dates, amounts, as_of=None):
    """RFM（每位客戶一列，含標題）：R、F、M 1–5 分與八大客戶分群（種子 002）。表下的 ⚠ 列說明未納入或合併的資料。"""
    return _customer_table(segments.rfm_table, segments.LABELS, (customer_ids, dates, amounts), as_of, RFM_COLUMNS)


VALUE_COLUMNS = (
    "customer_id",
    "p_alive",
    "expected_purchases",
    "expected_ticket",
    "expected_revenue",
    "expected_margin",
    "clv",
    "value_tier",
)
ALIVE_COLUMNS = ("customer_id", "p_alive", "expected_purchases", "repeat_purchases", "recency")


def _value_table(transactions: tuple, as_of, horizon_days, columns: tuple[str, ...]) -> list[list]:
    """PL_CLV / PL_PALIVE: :func:`processor.analyse.value.customer_value` on cleaned transactions, zh-TW
    headed, then the cleaning's notes and (when no model could be fitted) the fallback in one ⚠ row."""
    when = _as_of(as_of)
    horizon = int(_number(horizon_days, "horizon_days", Settings().horizon_days))
    if not 1 <= horizon <= 3650:
        raise FormulaProblem(f"horizon_days {horizon}：請給 1–3650 的天數")
    clean, notes = _transactions(*transactions[:2], when, *transactions[2:])
    if not (clean["amount"] > 0).any():
        return _with_notes([[f"{WARN}沒有可計算的購買（正數金額、基準日 {when:%Y/%m/%d} 以前）"]], notes)
    result = value_module.customer_value(clean, when, Settings(), horizon)
    labels = {k: text.format(h=horizon) for k, text in value_module.LABELS.items()}
    table = result.table.loc[:, list(columns)].astype({"value_tier": object} if "value_tier" in columns else {})
    if result.model.fallback:
        notes = notes + [f"{WARN}{result.model.fallback}"]
    return _with_notes(_table(table.rename(columns=labels)), notes)


@xw.func(category=CATEGORY)
@_readable
def PL_CLV(customer_ids, dates, amounts, as_of=None, horizon_days=None):
    """客戶價值（每位客戶一列）：仍是客戶機率、預期購買次數、客單價、營收、毛利、終身價值、分級。"""
    return _value_table((customer_ids, dates, amounts), as_of, horizon_days, VALUE_COLUMNS)


@xw.func(category=CATEGORY)
@_readable
def PL_PALIVE(customer_ids, dates, as_of=None, horizon_days=None):
    """仍是客戶機率（每位客戶一列）：P(alive)、預期購買次數、回購次數、距今天數。"""
    return _value_table((customer_ids, dates), as_of, horizon_days, ALIVE_COLUMNS)


@xw.func(category=CATEGORY)
@xw.arg("values", ndim=2)
@_readable
def PL_ABC(values):
    """ABC 分類（柏拉圖 10%/20%/70%）：依金額由大到小，每格回傳 A、B 或 C；0、負數與無法辨識的金額不分類，顯示 ⚠。"""
    raw, shape = _cells(values)
    amount, bad = _each_distinct(_amounts, raw)
    # like 客戶分群: a customer without a positive amount has bought nothing and is not ranked
    not_positive = (amount <= 0).to_numpy()
    classes = pd.Series(abc_classes(amount.where(~not_positive), Settings()), index=raw.index, dtype=object)
    messages = _unreadable(bad, raw, "金額", AMOUNT_FIX)
    if not_positive.any():
        messages[not_positive] = (
            WARN
            + "金額 "
            + amount[not_positive].map("{:,.0f}".format)
            + " 不是正數，不分類：ABC 只比較有消費的客戶（退貨多於購買或 0 元請另外看）"
        )
    return _shaped(_with_messages(classes, messages), shape)


@xw.func(category=CATEGORY)
@xw.arg("table_with_header", ndim=2)
@_readable
def PL_PROB(table_with_header, model_name, as_of=None, caller=None):
    """購買機率：選含標題列的客戶表與模型名稱，回傳每位客戶的購買機率（第一格為標題）。模型檔變更時自動重新載入。"""
    rows = _block(table_with_header)
    if len(rows) < 2:
        raise FormulaProblem("請選含標題列的客戶表（至少一列標題、一列資料）")
    header = [str(h).strip() if h is not None else "" for h in rows[0]]
    frame = pd.DataFrame(rows[1:], columns=header)
    book = None
    if caller is not None:  # xlwings passes the calling cell; None off Excel
        book = ExcelWorkbook(caller.sheet.book)
    if model_name is None or not str(model_name).strip():
        raise FormulaProblem("請填模型名稱（按 訓練模型 時的名稱，見 模型說明）")
    model = ribbon.saved_model(book, str(model_name))
    p = pd.Series(np.asarray(predict_proba(model, frame, _as_of(as_of)), dtype=float).reshape(-1))
    return [["購買機率"]] + [[v] for v in _excel_values(p)]


@xw.func(category=CATEGORY)
@xw.arg("p", ndim=2)
@_readable
def PL_EXPECTED_PROFIT(p, price=None, cost=None, contact_cost=None):
    """預期利潤 = 購買機率 × (售價 − 成本) − 聯絡成本（種子 000）。機率可寫 0.35 或 35%；售價/成本/聯絡成本留白則用 2500/750/175。"""  # noqa: E501  the text Excel shows
    defaults = Settings()
    economics = defaults.with_values(
        {
            "price": _number(price, "price", defaults.price),
            "cost": _number(cost, "cost", defaults.cost),
            "contact_cost": _number(contact_cost, "contact_cost", defaults.contact_cost),
        }
    )
    raw, shape = _cells(p)
    prob, unread = _each_distinct(_probabilities, raw)
    outside = ((prob < 0) | (prob > 1)).to_numpy()
    profit = pd.Series(expected_profit(prob.where(~(unread | outside)), economics), index=raw.index, dtype=float)
    messages = _unreadable(unread, raw, "機率", PROBABILITY_FIX)
    if outside.any():
        messages[outside] = WARN + "機率「" + raw[outside].astype(str) + "」不在 0 到 1 之間：" + PROBABILITY_FIX
    return _shaped(_with_messages(profit, messages), shape)


def _probabilities(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(probability, unreadable) from numbers, number text and percent text (``35%`` → 0.35)."""
    is_text = np.fromiter((type(v) is str for v in raw.to_numpy()), dtype=bool, count=len(raw))
    percent = np.zeros(len(raw), dtype=bool)
    cells = raw
    if is_text.any():
        text = parsers.normalise_text(raw[is_text])
        percent[is_text] = text.str.fullmatch(r"[^%]+%").fillna(False).to_numpy(dtype=bool)
        cells = raw.copy()
        cells[percent] = text[percent[is_text]].str[:-1].to_numpy(dtype=object)
    number, unreadable = _amounts(cells)
    number[percent] = number[percent] / 100
    return number, unreadable
