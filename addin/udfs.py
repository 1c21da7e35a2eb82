"""Cell formulas (UDFs) for Excel: thin, vectorised wrappers over :mod:`processor` (DESIGN §5).

Each ``PL_*`` function takes a whole range (a block of cells arrives as a list of rows), turns
it into a pandas Series or DataFrame, calls the same core function the pipeline uses, and
returns a block of cells that Excel spills. Nothing is computed here: a shell converts, calls
and renders (STYLE.md). A cell that cannot be understood gets a readable message in its place
("無法辨識日期「abc」…"); a formula that cannot run at all returns one cell with the reason,
never a Python traceback and never a bare ``#VALUE!``.

Only the open-source xlwings decorators are used (``xw.func``/``xw.arg``); on Linux they are
no-ops, so the tests call these functions directly with lists, exactly as xlwings would.
The VBA wrappers embedded in workbook.xlsm are generated from these signatures
(:func:`addin.vba.udf_wrappers`).
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path

import numpy as np
import pandas as pd
import xlwings as xw

from processor import idnumber
from processor import values as parse
from processor.errors import UnusableInput
from processor.settings import Settings

#: the names Excel sees, in the order the function wizard lists them
UDF_NAMES = ("PL_TWDATE", "PL_AMOUNT", "PL_ZODIAC", "PL_ID_CHECK", "PL_NEXT_FOLLOWUP", "PL_SILENCE",
             "PL_RFM", "PL_ABC", "PL_PROB", "PL_EXPECTED_PROFIT")
CATEGORY = "精準名單"
#: what the function wizard says under each argument box
ARGUMENT_HELP = {
    "value": "要轉換的儲存格或範圍（整欄更快）",
    "birthday": "生日的儲存格或範圍（民國或西元皆可）",
    "id": "身分證字號或居留證號的儲存格或範圍",
    "last_contact": "最後聯絡日（一欄）",
    "intent_level": "意向等級 H/A/B/C（一欄，與最後聯絡日同列數）",
    "touches": "聯絡次數（一欄，與最後聯絡日同列數）",
    "as_of": "基準日（選填，例如 TODAY()；留白為今天）",
    "customer_ids": "客戶編號（一欄，每筆交易一列）",
    "dates": "交易日期（一欄，與客戶編號同列數）",
    "amounts": "交易金額（一欄，與客戶編號同列數；可寫 3萬）",
    "values": "要分類的金額（一欄）",
    "table_with_header": "客戶表，第一列為標題（欄名要和訓練時相同）",
    "model_name": "模型名稱（訓練模型時的名稱）或 .skops 檔的完整路徑",
    "p": "購買機率（0 到 1）",
    "price": "售價（選填，預設 2500）",
    "cost": "成本（選填，預設 750）",
    "contact_cost": "聯絡成本（選填，預設 175）",
}
NOT_AVAILABLE = "尚未提供 / not available yet"


class FormulaProblem(Exception):
    """The formula as a whole cannot run; the message is what the cell shows."""


# ---------------------------------------------------------------------------------------------
# Range ↔ pandas conversion (the whole shell)

def _grid(value) -> np.ndarray:
    """What Excel passes (a scalar, one row/column as a flat list, or a list of rows) as a 2-D array."""
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


def _each_distinct(parser, raw: pd.Series):
    """``parser(raw)``, parsing each distinct cell value once: a rep's column of 100,000 dates
    holds a few thousand different ones. Returns the parser's Series, aligned with ``raw``."""
    codes, distinct = pd.factorize(raw, use_na_sentinel=True)
    codes = np.where(codes < 0, len(distinct), codes)  # blanks share one slot at the end
    results = parser(pd.Series(list(distinct) + [None], dtype=object))
    spread = lambda r: r.iloc[codes].set_axis(raw.index)  # noqa: E731
    return tuple(map(spread, results)) if isinstance(results, tuple) else spread(results)


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
        out[present] = np.asarray(series[present].dt.to_pydatetime(), dtype=object)
    else:
        out[present] = series[present].astype(object).to_numpy()
    return out.tolist()


def _table(frame: pd.DataFrame) -> list[list]:
    """A result frame as a block with its header row on top."""
    columns = [_excel_values(frame[c]) for c in frame.columns]
    return [[str(c) for c in frame.columns]] + [list(row) for row in zip(*columns)]


def _with_messages(parsed: pd.Series, bad: pd.Series, raw: pd.Series, what: str, fix: str) -> pd.Series:
    """Parsed values, with a message in each cell that could not be understood."""
    out = pd.Series(_excel_values(parsed), index=parsed.index, dtype=object)
    if bad.any():
        out[bad] = "無法辨識" + what + "「" + raw[bad].astype(str) + "」：" + fix
    return out


def _as_of(value) -> pd.Timestamp:
    """The formula's "today": the as_of argument if given (e.g. =TODAY()), else today's date."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return pd.Timestamp.today().normalize()
    parsed, bad = parse.parse_dates(pd.Series([value], dtype=object))
    if bad.iloc[0]:
        raise FormulaProblem(f"as_of「{value}」不是日期：請寫 2024/3/5 或用 =TODAY()")
    return parsed.iloc[0]


def _number(value, name: str, default: float) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return float(default)
    number = parse.parse_number_scalar(value)
    if number is None:
        raise FormulaProblem(f"「{name}」「{value}」不是數字")
    return number


def _core(module: str, name: str):
    """A core function that may not have landed yet; missing → a formula problem, not a crash."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise FormulaProblem(f"{NOT_AVAILABLE}: {module}.{name}") from None


def _readable(func):
    """Turn any failure into one cell with a readable reason (Excel would show only #VALUE!)."""
    @functools.wraps(func)
    def wrapper(*args):
        try:
            return func(*args)
        except FormulaProblem as problem:
            return [[f"⚠ {problem}"]]
        except UnusableInput as problem:  # the core's own message for people (sheet, value, fix)
            return [[f"⚠ {problem}"]]
        except Exception as error:
            if type(error).__name__ == "ModelError":  # processor.models: missing/tampered model file
                return [[f"⚠ {error}" + (f"；{error.fix}" if getattr(error, "fix", "") else "")]]
            return [[f"⚠ {func.__name__} 無法計算：{type(error).__name__}: {error}"]]
    return wrapper


def _transactions(customer_ids, dates, amounts=None) -> pd.DataFrame:
    """Transactions frame (customer_id, date, amount) from parallel columns; misaligned → problem."""
    ids = _column(customer_ids, "customer_ids")
    when, bad_dates = _each_distinct(parse.parse_dates, _column(dates, "dates"))
    if amounts is None:  # dates only (PL_SILENCE): every listed date is a purchase, worth one unit
        amount, bad_amounts = pd.Series(1.0, index=ids.index), pd.Series(False, index=ids.index)
    else:
        amount, bad_amounts = _each_distinct(parse.parse_amounts, _column(amounts, "amounts"))
    if not len(ids) == len(when) == len(amount):
        raise FormulaProblem(f"客戶編號、日期、金額的列數不同（{len(ids)}、{len(when)}、{len(amount)}）：請選同樣多列")
    keep = parse.normalise_text(ids).notna() & (parse.normalise_text(ids) != "")
    if (bad_dates & keep).any():
        first = int(np.flatnonzero(bad_dates & keep)[0])
        raise FormulaProblem(f"第 {first + 1} 列日期「{_column(dates, 'dates').iloc[first]}」無法辨識：請寫 2024/3/5 或 113/3/5")
    if (bad_amounts & keep).any():
        first = int(np.flatnonzero(bad_amounts & keep)[0])
        raise FormulaProblem(f"第 {first + 1} 列金額「{_column(amounts, 'amounts').iloc[first]}」無法辨識：請寫 1200 或 3萬")
    keep &= when.notna()
    return pd.DataFrame({"customer_id": parse.normalise_text(ids)[keep].astype(str),
                         "date": when[keep], "amount": amount[keep]}).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# The formulas

DATE_FIX = "請寫 85/03/12、民國85年3月12日 或 2024/3/5"
AMOUNT_FIX = "請寫 30000、3萬 或 1,200"


@xw.func(category=CATEGORY)
@xw.arg("value", ndim=2)
@_readable
def PL_TWDATE(value):
    """日期：把民國/西元/Excel 序號等各種寫法轉成日期（例：85/03/12 → 1996/03/12）。儲存格請設為日期格式。"""
    raw, shape = _cells(value)
    parsed, bad = _each_distinct(parse.parse_dates, raw)
    return _shaped(_with_messages(parsed, bad, raw, "日期", DATE_FIX), shape)


@xw.func(category=CATEGORY)
@xw.arg("value", ndim=2)
@_readable
def PL_AMOUNT(value):
    """金額：把 3萬、80萬、1,200、NT$500 等寫法轉成數字（例：3萬 → 30000）。"""
    raw, shape = _cells(value)
    parsed, bad = _each_distinct(parse.parse_amounts, raw)
    return _shaped(_with_messages(parsed, bad, raw, "金額", AMOUNT_FIX), shape)


@xw.func(category=CATEGORY)
@xw.arg("birthday", ndim=2)
@_readable
def PL_ZODIAC(birthday):
    """星座：由生日推算（例：85/03/12 → 雙魚座）。生日可寫民國或西元。"""
    raw, shape = _cells(birthday)
    parsed, bad = _each_distinct(parse.parse_dates, raw)
    return _shaped(_with_messages(parse.zodiac_signs(parsed), bad, raw, "生日", DATE_FIX), shape)


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
    """下次跟進日與逾期天數（兩欄）：初次接觸後 +1/+3/+7 天，之後依意向 H 每天、A 3天、B 7天、C 15天。"""
    next_followup = _core("processor.followup", "next_followup")
    raw_last = _column(last_contact, "last_contact")
    last, bad = _each_distinct(parse.parse_dates, raw_last)
    intent = parse.normalise_text(_column(intent_level, "intent_level")).str.upper()
    count, _ = _each_distinct(parse.parse_amounts, _column(touches, "touches"))
    if not len(last) == len(intent) == len(count):
        raise FormulaProblem(f"最後聯絡日、意向等級、聯絡次數的列數不同（{len(last)}、{len(intent)}、{len(count)}）")
    due = next_followup(last, intent.set_axis(last.index), count.set_axis(last.index), Settings())
    overdue = (_as_of(as_of) - due).dt.days.clip(lower=0)  # as 跟進排程 counts it: days past the due date
    dates = _with_messages(due, bad, raw_last, "日期", DATE_FIX)
    return [[d, o] for d, o in zip(dates, _excel_values(overdue.astype("Int64")))]


def _labelled(frame: pd.DataFrame, columns: tuple[str, ...], labels: dict) -> list[list]:
    """The chosen columns of a core table, headed by the core's own zh-TW labels."""
    return _table(frame.loc[:, list(columns)].rename(columns=labels))


SILENCE_COLUMNS = ("customer_id", "recency", "rank_ratio", "silence_score", "silence_group")
RFM_COLUMNS = ("customer_id", "recency", "frequency", "monetary", "r_score", "f_score", "m_score", "rfm_segment")


@xw.func(category=CATEGORY)
@_readable
def PL_SILENCE(customer_ids, dates, as_of=None):
    """沉默排名（每位客戶一列，含標題）：客戶、Tr 距上次天數、TrF 排名比、S 沉默指數、分組 a–e（種子 004）。"""
    silence_table = _core("processor.silence", "silence_table")
    table = silence_table(_transactions(customer_ids, dates), _as_of(as_of), Settings())
    return _labelled(table, SILENCE_COLUMNS, getattr(importlib.import_module("processor.silence"), "LABELS", {}))


@xw.func(category=CATEGORY)
@_readable
def PL_RFM(customer_ids, dates, amounts, as_of=None):
    """RFM（每位客戶一列，含標題）：R、F、M 1–5 分與八大客戶分群（種子 002）。"""
    rfm_table = _core("processor.segments", "rfm_table")
    table = rfm_table(_transactions(customer_ids, dates, amounts), _as_of(as_of), Settings())
    return _labelled(table, RFM_COLUMNS, getattr(importlib.import_module("processor.segments"), "LABELS", {}))


@xw.func(category=CATEGORY)
@xw.arg("values", ndim=2)
@_readable
def PL_ABC(values):
    """ABC 分類（柏拉圖 10%/20%/70%）：依金額由大到小，每格回傳 A、B 或 C。"""
    abc_classes = _core("processor.segments", "abc_classes")
    raw, shape = _cells(values)
    amount, bad = _each_distinct(parse.parse_amounts, raw)
    classes = pd.Series(abc_classes(amount, Settings()), index=raw.index).astype(object)
    return _shaped(_with_messages(classes.where(amount.notna()), bad, raw, "金額", AMOUNT_FIX), shape)


def _models_dir(caller) -> Path:
    """The models folder of the calling workbook's xlwings.conf (xlwings passes the calling cell
    as ``caller``; None off Excel), by the same rule as the ribbon's 訓練模型."""
    from . import ribbon

    book = None
    if caller is not None:
        from .excel import ExcelWorkbook

        book = ExcelWorkbook(caller.sheet.book)
    return ribbon.models_dir(book)


@xw.func(category=CATEGORY)
@xw.arg("table_with_header", ndim=2)
@_readable
def PL_PROB(table_with_header, model_name, as_of=None, caller=None):
    """購買機率：選含標題列的客戶表與模型名稱，回傳每位客戶的購買機率（第一格為標題）。模型檔變更時自動重新載入。"""
    load_model_cached = _core("processor.models", "load_model_cached")
    predict_proba = _core("processor.models", "predict_proba")
    rows = _block(table_with_header)
    if len(rows) < 2:
        raise FormulaProblem("請選含標題列的客戶表（至少一列標題、一列資料）")
    header = [str(h).strip() if h is not None else "" for h in rows[0]]
    frame = pd.DataFrame(rows[1:], columns=header)
    model = load_model_cached(str(model_name), _models_dir(caller))  # a model name, or a path to a .skops file
    p = pd.Series(np.asarray(predict_proba(model, frame, _as_of(as_of)), dtype=float).reshape(-1))
    return [["購買機率"]] + [[v] for v in _excel_values(p)]


@xw.func(category=CATEGORY)
@xw.arg("p", ndim=2)
@_readable
def PL_EXPECTED_PROFIT(p, price=None, cost=None, contact_cost=None):
    """預期利潤 = 購買機率 × (售價 − 成本) − 聯絡成本（種子 000）。售價/成本/聯絡成本留白則用預設 2500/750/175。"""
    expected_profit = _core("processor.propensity", "expected_profit")
    defaults = Settings()
    economics = defaults.with_values({"price": _number(price, "price", defaults.price),
                                      "cost": _number(cost, "cost", defaults.cost),
                                      "contact_cost": _number(contact_cost, "contact_cost", defaults.contact_cost)})
    raw, shape = _cells(p)
    prob = pd.to_numeric(raw, errors="coerce")
    unread = prob.isna().to_numpy(copy=True)
    unread[unread] = ~parse.is_blank(raw[unread]).to_numpy()  # only unreadable cells need the text check
    bad = pd.Series(unread, index=raw.index) | (prob < 0) | (prob > 1)
    profit = pd.Series(expected_profit(prob.where(~bad), economics), index=raw.index, dtype=float)
    return _shaped(_with_messages(profit, bad, raw, "機率", "請填 0 到 1 之間的數字（例：0.35 或 35%）"), shape)
