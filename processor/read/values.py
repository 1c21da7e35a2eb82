"""Parsers for values as Taiwanese reps type them, vectorised over pandas Series.

Every parser returns ``(parsed, bad)``: the parsed Series (missing where the cell was blank or
not understood) and a boolean Series that is True exactly where a non-blank cell could not be
understood, so the caller can report it (sheet, row, column, value) instead of guessing.
DESIGN §3: ROC dates, Excel serial dates, 3萬 / 80萬 / 1,200, full-width digits, 是/否/有/無/Y/N/V,
phones 0912-345-678 and (02)2345-6789.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

ROC_OFFSET = 1911
EXCEL_EPOCH = pd.Timestamp("1899-12-30")


def normalise_text(series: pd.Series) -> pd.Series:
    """NFKC-fold (full-width digits and letters to ASCII) and strip; non-strings become their str.

    >>> normalise_text(pd.Series(["１２３", " ａｂ "])).tolist()
    ['123', 'ab']
    """
    return series.astype("string").str.normalize("NFKC").str.strip()


def name_key(names: pd.Series) -> pd.Series:
    """Names as compared (follow-up linking, duplicates, one phone under two names): NFKC, no
    white space, lower case; blank → <NA>.

    >>> name_key(pd.Series(["王 小明", "王小明", "Ａmy", " "])).tolist()
    ['王小明', '王小明', 'amy', <NA>]
    """
    if len(names) > 10_000 and pd.api.types.infer_dtype(names, skipna=True) == "string":
        # a long column repeats its names: fold each distinct one once (strings only, so 1 and "1" never merge)
        return pd.Series(once_per_distinct(names, name_key), index=names.index, name=names.name)
    return normalise_text(names).str.replace(r"\s+", "", regex=True).str.lower().replace("", pd.NA)


#: cell types that read alike whenever they hash alike (1 and 1.0 both read 1); True and 1 hash alike but
#: read differently, so a column mixing them is converted cell by cell
_ONE_READING = frozenset(
    {"string", "floating", "integer", "mixed-integer-float", "boolean", "datetime", "date", "empty"}
)


def once_per_distinct(series: pd.Series, convert):
    """``convert`` of a column computed once per distinct value and taken back to every row (missing
    rows: ``convert``'s missing value): a long column repeats its names and dates. ``convert`` takes and
    returns a Series of the distinct values (object dtype), in order. A column whose values hash alike
    without reading alike (True beside 1) is converted cell by cell.

    >>> once_per_distinct(pd.Series(["a", None, "a", "b"]), lambda d: d.str.upper()).tolist()
    ['A', nan, 'A', 'B']
    >>> once_per_distinct(pd.Series([True, 1, None], dtype=object), lambda d: d.map(repr)).tolist()
    ['True', '1', nan]
    """
    if pd.api.types.infer_dtype(series, skipna=True) in _ONE_READING:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    else:
        present = pd.notna(series).to_numpy()
        codes = np.where(present, np.cumsum(present) - 1, -1)
        uniques = np.asarray(series, dtype=object)[present]
    converted = convert(pd.Series(np.asarray(uniques, dtype=object), dtype=object))
    return converted.array.take(codes, allow_fill=True)


def cell_types(obj: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(date cell, number cell, yes/no cell) masks of raw cell values, decided once per distinct
    Python type rather than per cell (an all-text column, as every CSV is, returns at once).

    >>> [m.tolist() for m in cell_types(pd.Series(["a", 1, 2.5, True, dt.date(2024, 1, 1)], dtype=object))]
    [[False, False, False, False, True], [False, True, True, False, False], [False, False, False, True, False]]
    """
    false = pd.Series(False, index=obj.index)
    if pd.api.types.infer_dtype(obj, skipna=True) in ("string", "empty"):
        return false, false.copy(), false.copy()
    types = obj.map(type)
    date_types, number_types, bool_types = set(), set(), set()
    for t in types.unique():  # a handful of types, not one per cell
        if issubclass(t, (bool, np.bool_)):
            bool_types.add(t)
        elif issubclass(t, (dt.date, np.datetime64)):
            date_types.add(t)
        elif issubclass(t, (int, float, np.integer, np.floating)):
            number_types.add(t)
    return types.isin(date_types), types.isin(number_types), types.isin(bool_types)


def is_blank(series: pd.Series) -> pd.Series:
    """True where a cell is empty: missing, or only white space."""
    if len(series) > 10_000:  # long columns repeat values: test each distinct value once
        return pd.Series(blank_codes(*pd.factorize(series, use_na_sentinel=True)), index=series.index)
    return _is_blank(series)


def blank_codes(codes: np.ndarray, uniques) -> np.ndarray:
    """:func:`is_blank` of a factorized column (``pd.factorize`` codes, −1 missing, and uniques)."""
    blank = _is_blank(pd.Series(np.asarray(uniques, dtype=object), dtype=object)).to_numpy(dtype=bool)
    return (codes < 0) | (blank[np.maximum(codes, 0)] if len(blank) else False)


_BLANK_LINE = re.compile(r"^[^\S\n]*$", re.MULTILINE)


def _is_blank(series: pd.Series) -> pd.Series:
    values = series.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=True) == "string" and len(values):
        # all text: the blank lines of the texts joined by line breaks, found by one regex in C
        missing = pd.isna(values)
        texts = values[~missing]
        joined = "\n".join(texts)
        if joined.count("\n") == len(texts) - 1:  # (a line break inside a cell: the general way below)
            lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
            starts = np.r_[0, np.cumsum(lengths + 1)[:-1]]
            blank = np.zeros(len(texts), dtype=bool)
            at = np.fromiter((m.start() for m in _BLANK_LINE.finditer(joined)), dtype=np.int64)
            blank[np.searchsorted(starts, at, side="right") - 1] = True
            missing[~missing] = blank
            return pd.Series(missing, index=series.index)
    text = series.astype("string")
    return text.isna() | (text.str.strip() == "")


def normalise_ids(ids: pd.Series) -> pd.Series:
    """Customer ids as compared: NFKC, no white space, upper case, Excel's ``1001.0`` → ``1001``.

    >>> normalise_ids(pd.Series(["A001", "a001 ", "Ａ００１", 1001.0, None])).tolist()
    ['A001', 'A001', 'A001', '1001', None]
    >>> normalise_ids(pd.Series([None, "  "])).tolist()
    [None, None]
    """
    ids_ = IdCodes.of(ids)
    return pd.Series(
        np.asarray(list(ids_.customers) + [None], dtype=object)[ids_.row_customer], index=ids.index, dtype=object
    )


@dataclass(frozen=True)
class IdCodes:
    """Customer ids as integer codes: row → spelling as typed → customer (normalised id)."""

    row_spelling: np.ndarray  # per row, index into spellings (−1 blank)
    spellings: np.ndarray  # distinct spellings as typed
    spelling_customer: np.ndarray  # per spelling, index into customers (−1 blank after folding)
    customers: np.ndarray  # distinct normalised ids

    @property
    def row_customer(self) -> np.ndarray:
        if not len(self.spelling_customer):  # every id blank
            return np.full(len(self.row_spelling), -1, dtype=np.int64)
        return np.where(self.row_spelling >= 0, self.spelling_customer[self.row_spelling], -1)

    @classmethod
    def of(cls, ids: pd.Series) -> IdCodes:
        if isinstance(ids.dtype, pd.StringDtype) and ids.dtype.storage == "pyarrow":
            return cls.of_spellings(*_arrow_factorize(ids.array))
        values = ids.to_numpy(dtype=object) if not isinstance(ids.dtype, pd.CategoricalDtype) else ids
        row_spelling, spellings = pd.factorize(values, use_na_sentinel=True)
        return cls.of_spellings(row_spelling, np.asarray(spellings, dtype=object))

    @classmethod
    def of_spellings(cls, row_spelling: np.ndarray, spellings: np.ndarray) -> IdCodes:
        """From ids already encoded as distinct spellings (−1 blank), e.g. an Arrow dictionary of a Parquet column:
        only the distinct spellings are folded, never one Python string per row."""
        folded = _fold_all(spellings)
        spelling_customer, customers = pd.factorize(folded, use_na_sentinel=True)
        return cls(row_spelling, spellings, spelling_customer, np.asarray(customers, dtype=object))


def _arrow_factorize(array) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(array, use_na_sentinel=True)`` of Arrow-backed text (what a parsed sheet's text columns are):
    the same codes in order of first appearance (−1 missing) and distinct values, by Arrow's dictionary encoding in C
    instead of one Python string per row (a 5M-row log: 0.15 s instead of 1 s; tests/test_values.py checks equality).
    """
    import pyarrow as pa

    arrow = pa.array(array)
    if isinstance(arrow, pa.ChunkedArray):
        arrow = arrow.combine_chunks()
    encoded = arrow.dictionary_encode()
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.intp)
    return codes, encoded.dictionary.to_numpy(zero_copy_only=False).astype(object)


_NOT_PLAIN = re.compile(r"[^0-9A-Z_\-\n]")  # already folded: ASCII upper case, digits, _ and -


def _fold_all(spellings: np.ndarray) -> np.ndarray:
    """:func:`_fold` on the spellings that need it; plain ASCII ids pass through (a million ids
    are mostly plain: one regex scan over them all in C beats folding or matching each in Python)."""
    is_text = (
        np.ones(len(spellings), dtype=bool)
        if pd.api.types.infer_dtype(spellings, skipna=False) == "string"
        else np.fromiter((type(v) is str for v in spellings), dtype=bool, count=len(spellings))
    )
    texts = spellings[is_text]
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    starts = np.r_[0, np.cumsum(lengths + 1)[:-1]] if len(texts) else np.empty(0, dtype=np.int64)
    joined = "\n".join(texts)
    if joined.count("\n") != max(len(texts) - 1, 0):  # a line break inside an id: test each one instead
        return np.asarray([_fold(v) for v in spellings], dtype=object)
    bad = [m.start() for m in _NOT_PLAIN.finditer(joined)]
    plain_text = lengths > 0
    plain_text[np.searchsorted(starts, np.asarray(bad, dtype=np.int64), side="right") - 1] = False
    plain = np.zeros(len(spellings), dtype=bool)
    plain[is_text] = plain_text
    folded = spellings.copy()
    folded[~plain] = [_fold(v) for v in spellings[~plain]]
    return folded


def _fold(value) -> str | None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = "".join(unicodedata.normalize("NFKC", str(value)).split()).upper()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text or None


#: a typed date: ROC or western year, month and day with 年月日, / . or - between them (a time after it ignored),
#: or the compact 7/8 digits of a ROC/western date (0850312, 20240305): one pattern, so one pass over the text
#: the years a date may have (a year below 1000 is a ROC year first); others — 0001-01-01, 9999-12-31 placeholders,
#: 24430401 typos — are reported as unreadable rather than raising pandas' out-of-bounds error
YEARS = (1800, 2200)
# ASCII digits only ([0-9], not \d): NFKC already folds full-width digits, and other scripts' digits (٣) are not dates
_DATE_PARTS = re.compile(
    r"^(?:(?:民國|民国|ROC)?\s*(?P<y>[0-9]{1,4})\s*(?:年|/|\.|-)\s*(?P<m>[0-9]{1,2})\s*(?:月|/|\.|-)\s*(?P<d>[0-9]{1,2})\s*日?"
    r"(?:[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?"
    r"|(?P<cy>[0-9]{3,4})(?P<cm>[0-9]{2})(?P<cd>[0-9]{2}))$"
)


def parse_dates(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Dates from what reps type: ROC (85/03/12, 民國85年3月12日, 0850312), 2024/3/5, Excel serials.

    A year below 1000 is a ROC year (+1911). A bare number between 1 and 80,000 is an Excel
    serial day (1900 date system); so is text of exactly five digits such as "45000" (what a
    date cell becomes in a CSV saved from a General-formatted column: 10000–99999 is 1927–2173,
    and no other date spelling has five digits). Returns (datetime64 Series normalised to days,
    bad mask).

    >>> parse_dates(pd.Series(["85/03/12", "民國113年1月5日", 45000, "2024-03-05"]))[0].dt.strftime("%Y-%m-%d").tolist()
    ['1996-03-12', '2024-01-05', '2023-03-15', '2024-03-05']
    """
    series = pd.Series(series)
    out = pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns]")
    blank = is_blank(series)
    if blank.all():
        return out, pd.Series(False, index=series.index)

    obj = series.astype(object)
    is_dt, is_num, _ = cell_types(obj)
    if is_dt.any():
        # a long column repeats its dates: each distinct cell value becomes a Timestamp once
        stamps = once_per_distinct(obj[is_dt], lambda d: pd.to_datetime(d.map(_cell_day), errors="coerce"))
        out[is_dt] = np.asarray(stamps)
    is_num = is_num & ~blank
    if is_num.any():
        num = pd.to_numeric(obj[is_num], errors="coerce")
        serial_ok = (num >= 1) & (num < 80000)
        out[num[serial_ok].index] = EXCEL_EPOCH + pd.to_timedelta(np.floor(num[serial_ok]), unit="D")
        compact_nums = num[(num >= 100000) & (num == np.floor(num))]
        obj = obj.copy()
        obj[compact_nums.index] = compact_nums.astype("int64").astype(str)
        is_num = is_num & ~obj.index.isin(compact_nums.index)

    todo = ~blank & ~is_dt & ~is_num
    if todo.any():
        text = normalise_text(obj[todo].astype("string"))
        # fast path: ISO-like text (exports, CSVs) parses in C; only the rest goes through the regex
        iso_like = text.str.match(r"^(?:1[89]|2[01])[0-9]{2}-[0-9]{1,2}-[0-9]{1,2}").fillna(False)  # 1800–2199
        iso = (
            pd.to_datetime(text.where(iso_like), format="ISO8601", errors="coerce")
            if iso_like.any()
            else pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")  # (to_datetime of nothing costs 2 ms)
        )
        out[todo] = iso.to_numpy()
        serial = iso.isna() & text.str.fullmatch(r"[0-9]{5}(?:\.[0-9]+)?").fillna(False)
        if serial.any():
            days = np.floor(pd.to_numeric(text[serial]))
            out.loc[serial[serial].index] = (EXCEL_EPOCH + pd.to_timedelta(days, unit="D")).to_numpy()
        rest = iso.isna() & ~serial
        if rest.any():
            out.loc[rest[rest].index] = _parse_date_text(text[rest]).to_numpy()
    out = out.dt.normalize()
    bad = out.isna() & ~blank
    return out, bad


def _cell_day(value) -> pd.Timestamp:
    """A date cell as a Timestamp, NaT when its year is outside :data:`YEARS` (Excel allows 9999-12-31;
    pandas' nanosecond days end in 2262)."""
    stamp = pd.Timestamp(value)
    return stamp if YEARS[0] <= stamp.year <= YEARS[1] else pd.NaT


def _parse_date_text(text: pd.Series) -> pd.Series:
    """Regex path of :func:`parse_dates` for ROC, slashed, dotted, 年月日 and compact spellings."""
    return pd.Series(calendar_days(*_date_parts(text)), index=text.index)


def _date_parts(text: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) as floats (NaN where absent) of ROC, slashed, 年月日 and compact spellings;
    a year below 1000 is a ROC year unless written with four digits (0001-01-01 is a placeholder, not ROC 1),
    a year outside :data:`YEARS` is NaN (24430401 is a typo)."""
    parts = text.str.extract(_DATE_PARTS)
    typed = parts[["y", "m", "d"]].to_numpy(dtype=object, na_value=np.nan)
    compact = parts[["cy", "cm", "cd"]].to_numpy(dtype=object, na_value=np.nan)
    digits = np.where(pd.isna(typed), compact, typed).ravel()
    year, month, day = pd.to_numeric(digits, errors="coerce").astype(float).reshape(-1, 3).T
    four_digits = parts["y"].fillna(parts["cy"]).str.len().to_numpy(dtype=float, na_value=0) == 4
    year = np.where(year >= 1000, year, np.where(four_digits, np.nan, year + ROC_OFFSET))
    year = np.where((year >= YEARS[0]) & (year <= YEARS[1]), year, np.nan)
    return year, month, day


def calendar_days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """``datetime64[ns]`` of whole (year, month, day) numbers, NaT where one is missing or the day does not exist
    (2023-02-29, month 13): what ``pd.to_datetime`` of a year/month/day frame gives, in numpy arithmetic.

    >>> year, month, day = np.array([[2024.0, 2023, 2024, 2024, np.nan], [2, 2, 13, 4, 1], [29, 29, 1, 31, 1]])
    >>> days = calendar_days(year, month, day)
    >>> [str(d)[:10] for d in days]
    ['2024-02-29', 'NaT', 'NaT', 'NaT', 'NaT']
    """
    year, month, day = (np.asarray(a, dtype=float) for a in (year, month, day))
    ok = ~(np.isnan(year) | np.isnan(month) | np.isnan(day)) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)
    months = np.where(ok, (year - 1970) * 12 + month - 1, 0).astype(np.int64).astype("datetime64[M]")
    days = months.astype("datetime64[D]") + np.where(ok, day - 1, 0).astype(np.int64)
    ok &= days.astype("datetime64[M]") == months  # the 31st of a 30-day month rolls into the next one
    return np.where(ok, days.astype("datetime64[ns]"), np.datetime64("NaT", "ns"))


_ROC_SPELLING = re.compile(r"^(?:民國|民国|ROC)|^[0-9]{1,3}\s*[年/.\-]\s*[0-9]{1,2}|^[0-9]{7}$")


def roc_spelled(series: pd.Series) -> pd.Series:
    """True where a cell is a date typed in 民國 years (85/03/12, 民國113年1月5日, 0850312); date
    cells, Excel serials and western years (2024/3/5) are not.

    >>> roc_spelled(pd.Series(["85/03/12", "民國113年1月5日", "0850312", "2024/3/5", 45000, None])).tolist()
    [True, True, True, False, False, False]
    """
    series = pd.Series(series)
    text = normalise_text(series.astype(object).where(series.map(type).eq(str)))
    return text.str.contains(_ROC_SPELLING).fillna(False).astype(bool)


def nonexistent_dates(series: pd.Series) -> pd.Series:
    """True where a typed date has a real year, a month 1–12 and a day 1–31, yet that day does not
    exist (115/11/31: November has 30 days; 76/2/29: 1987 is not a leap year) — a slip a rep can
    fix by checking the calendar, said as such instead of "not a date".

    >>> nonexistent_dates(pd.Series(["115/11/31", "76/2/29", "77/2/29", "2024/13/1", "abc", None])).tolist()
    [True, True, False, False, False, False]
    """
    series = pd.Series(series)
    text = normalise_text(series.astype(object).where(series.map(type).eq(str)))
    year, month, day = _date_parts(text.fillna(""))
    plausible = ~np.isnan(year) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)
    real = ~np.isnat(calendar_days(year, month, day))
    return pd.Series(plausible & ~real, index=series.index)


_UNITS = {"萬": 1e4, "万": 1e4, "w": 1e4, "千": 1e3, "k": 1e3, "億": 1e8, "亿": 1e8, "百": 1e2}
_AMOUNT = re.compile(
    r"^(?P<sign>-)?(?P<num>\d+(?:\.\d+)?)(?P<unit>萬|万|w|千|k|億|亿|百)?(?:(?P<rest>\d+(?:\.\d+)?)(?P<unit2>千|百)?)?$"
)
_AMOUNT_NOISE = re.compile(r"(?i)[,\s元圆円塊块]|NT\$|NTD|TWD|\$|約|约|左右")


def parse_amounts(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Amounts from what reps type: 3萬 → 30000, 80萬, 3.5萬, 3萬5千 → 35000, 1,200, NT$1,200, (1,200) → −1200.

    >>> parse_amounts(pd.Series(["3萬", "80萬", "1,200", "３.５萬", 42, "(500)"]))[0].tolist()
    [30000.0, 800000.0, 1200.0, 35000.0, 42.0, -500.0]
    """
    series = pd.Series(series)
    blank = is_blank(series)
    obj = series.astype(object)
    numeric = pd.to_numeric(obj.where(cell_types(obj)[1]), errors="coerce")
    todo = numeric.isna() & ~blank
    if todo.any():
        numeric[todo] = plain_decimals(obj[todo].to_numpy())
        todo = numeric.isna() & ~blank
    if todo.any():
        # one pass of compiled regexes per text cell: 4x faster than a chain of pandas .str calls,
        # each of which loops over the cells in Python anyway
        numeric[todo] = [_amount_text(str(v)) for v in obj[todo]]
    bad = numeric.isna() & ~blank
    return numeric.astype(float), bad


#: in "\n"-joined texts, what keeps a line from being a plain decimal that ``pd.to_numeric`` would not
#: refuse by itself: a character other than an ASCII digit, "." or "-", and a "." first (after an
#: optional "-") or last (".5" and "5." are no amounts to :func:`parse_amounts`)
_NOT_DECIMAL_CHAR = re.compile(r"[^0-9.\-\n]")
_LAST_DOT = re.compile(r"\.(?:\n|\Z)")
_FIRST_DOT = re.compile(r"\n-?\.")  # (and at the very start: checked on its own, an alternation scans slowly)


def plain_decimals(texts: np.ndarray) -> np.ndarray:
    """Floats of the texts written as plain decimals (``-12``, ``3.50``), NaN for every other cell.

    What :func:`parse_amounts` reads them as, found at C speed: two regexes over all the texts
    joined by line breaks mark the lines that are not plain decimals (few, in a column of numbers),
    and ``pd.to_numeric`` converts the rest — no Python per cell (a CSV holds its numbers as text,
    and a wide campaign list has millions). A cell that is not a str, or holds a line break, is NaN.

    >>> cells = np.array(["-12", "3.50", "1,200", "３", ".5", "5.", "1e5", " 7", "1-2", None, 8], dtype=object)
    >>> plain_decimals(cells).tolist()
    [-12.0, 3.5, nan, nan, nan, nan, nan, nan, nan, nan, nan]
    """
    texts = np.asarray(texts, dtype=object)
    out = np.full(len(texts), np.nan)
    if pd.api.types.infer_dtype(texts, skipna=False) == "string":
        is_text = np.ones(len(texts), dtype=bool)
    else:
        is_text = np.fromiter((type(v) is str for v in texts), dtype=bool, count=len(texts))
    strings = texts[is_text]
    if not len(strings):
        return out
    joined = "\n".join(strings)
    if joined.count("\n") != len(strings) - 1:  # a line break inside a cell: such cells take the slow path
        return out
    lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
    starts = np.r_[0, np.cumsum(lengths + 1)[:-1]]
    plain = np.ones(len(strings), dtype=bool)
    for pattern in (_NOT_DECIMAL_CHAR, _LAST_DOT, _FIRST_DOT):
        bad = np.fromiter((m.end() - 1 for m in pattern.finditer(joined)), dtype=np.int64)
        plain[np.searchsorted(starts, bad, side="right") - 1] = False
    plain[0] &= re.match(r"-?\.", joined) is None
    values = np.full(len(strings), np.nan)
    values[plain] = pd.to_numeric(strings[plain], errors="coerce").astype(float)
    out[is_text] = values
    return out


_PAREN = re.compile(r"^\((.*)\)$")
_PLAIN_AMOUNT = re.compile(r"[\d.,\-()萬万wk千億亿百]*")  # nothing to strip but thousands separators


def _amount_text(text: str) -> float:
    """One typed amount (not a number cell) as a float, NaN if it cannot be read."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    paren = _PAREN.match(text)
    negative = paren is not None or text.startswith("-")
    if paren is not None:
        text = paren.group(1) + text[paren.end() :]
    text = text.lstrip("-")
    text = text.replace(",", "") if _PLAIN_AMOUNT.fullmatch(text) else _AMOUNT_NOISE.sub("", text)
    parts = _AMOUNT.search(text)
    if parts is None:
        return np.nan
    unit = _UNITS[parts["unit"]] if parts["unit"] else 1.0
    value = float(parts["num"]) * unit
    if parts["rest"] is not None:  # "3萬5" means 35,000: a bare trailing number counts in the next unit down
        value += float(parts["rest"]) * (_UNITS[parts["unit2"]] if parts["unit2"] else unit / 10)
    return -value if negative else value


def parse_number_scalar(value) -> float | None:
    """One amount or number, or None if it cannot be read (used for settings cells).

    >>> parse_number_scalar("2,500"), parse_number_scalar("3萬"), parse_number_scalar("abc")
    (2500.0, 30000.0, None)
    """
    parsed, bad = parse_amounts(pd.Series([value], dtype=object))
    return None if bad.iloc[0] or pd.isna(parsed.iloc[0]) else float(parsed.iloc[0])


def numbers_as_text(obj: pd.Series) -> pd.Series:
    """Number and yes/no cells as the text a rep sees: 1.0 → "1", True → "1", 3.5 stays 3.5."""
    _, is_num, is_bool = cell_types(obj)
    if not (is_num.any() or is_bool.any()):
        return obj
    out = obj.copy()
    num = pd.to_numeric(obj[is_num], errors="coerce")
    integral = num[num.notna() & (num == np.floor(num))]
    out[integral.index] = integral.astype("int64").astype(str)
    out[is_bool] = obj[is_bool].astype(int).astype(str)
    return out


_TRUE = {"是", "有", "y", "yes", "v", "✓", "✔", "o", "○", "1", "true", "t", "對", "对", "要", "會", "会", "已"}
_FALSE = {"否", "無", "无", "沒有", "没有", "n", "no", "x", "✗", "✘", "0", "false", "f", "不", "不是", "沒", "没", "未"}


def parse_bools(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Yes/no from 是/否/有/無/Y/N/V/1/0 (and True/False cells).

    >>> parse_bools(pd.Series(["是", "無", "V", "N", 1, None]))[0].tolist()
    [True, False, True, False, True, <NA>]
    """
    series = pd.Series(series)
    blank = is_blank(series)
    text = normalise_text(numbers_as_text(series.astype(object))).str.lower()
    out = pd.Series(pd.NA, index=series.index, dtype="boolean")
    out[text.isin(_TRUE).fillna(False)] = True
    out[text.isin(_FALSE).fillna(False)] = False
    bad = out.isna() & ~blank
    return out, bad


def parse_phones(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Taiwanese phone numbers, normalised: mobiles as 0912-345-678, land lines as (02)2345-6789.

    Accepts +886 / 886 prefixes, spaces, dashes, brackets and full-width digits; an extension
    after #, 分機 or ext is kept. Anything with too few or too many digits is bad.

    >>> parse_phones(pd.Series(["0912345678", "+886 912-345-678", "(02)2345-6789", "12345"]))[0].tolist()
    ['0912-345-678', '0912-345-678', '(02)2345-6789', <NA>]
    """
    series = pd.Series(series)
    blank = is_blank(series)
    obj = series.astype(object)
    text = normalise_text(numbers_as_text(obj))
    # a phone typed into a General cell lost its leading 0: 912345678 → 0912345678
    lost_zero = cell_types(obj)[1] & text.str.fullmatch(r"[1-9]\d{7,8}").fillna(False)
    text = text.where(~lost_zero, "0" + text)
    ext = text.str.extract(r"(?:#|分機|分机|ext\.?|轉|转)\s*(\d+)\s*$", flags=re.IGNORECASE)[0]
    main = text.str.replace(r"(?:#|分機|分机|ext\.?|轉|转)\s*\d+\s*$", "", regex=True, flags=re.IGNORECASE)
    digits = main.str.replace(r"[^\d+]", "", regex=True)
    digits = digits.str.replace(r"^\+?886", "0", regex=True).str.replace("+", "", regex=False)
    mobile = digits.str.fullmatch(r"09\d{8}").fillna(False)
    # toll-free 0800 / 0809 numbers are written like mobiles: 0800-000-123
    toll_free = digits.str.fullmatch(r"080[09]\d{6}").fillna(False)
    dashed = mobile | toll_free
    out = pd.Series(pd.NA, index=series.index, dtype="string")
    out[dashed] = digits[dashed].str[:4] + "-" + digits[dashed].str[4:7] + "-" + digits[dashed].str[7:]
    land = ~dashed & digits.str.fullmatch(r"0[2-8]\d{7,8}").fillna(False)
    # area codes of 2 digits (02, 03 …) except the 3-digit 037, 049, 082, 089 and 4-digit 0836
    area_len = pd.Series(2, index=series.index)
    area_len[digits.str.match(r"^(037|049|082|089)").fillna(False)] = 3
    area_len[digits.str.match(r"^0836").fillna(False)] = 4
    for n in (2, 3, 4):
        sel = land & (area_len == n)
        if sel.any():
            local = digits[sel].str[n:]
            out[sel] = "(" + digits[sel].str[:n] + ")" + local.str[:-4] + "-" + local.str[-4:]
    has_ext = ext.notna() & out.notna()
    out[has_ext] = out[has_ext] + "#" + ext[has_ext]
    bad = out.isna() & ~blank
    return out, bad


_ZODIAC_STARTS = [
    (1, 20, "水瓶座"),
    (2, 19, "雙魚座"),
    (3, 21, "牡羊座"),
    (4, 20, "金牛座"),
    (5, 21, "雙子座"),
    (6, 22, "巨蟹座"),
    (7, 23, "獅子座"),
    (8, 23, "處女座"),
    (9, 23, "天秤座"),
    (10, 24, "天蠍座"),
    (11, 23, "射手座"),
    (12, 22, "摩羯座"),
]


def zodiac_signs(birthdays: pd.Series) -> pd.Series:
    """星座 (western zodiac sign) of each birthday, by month and day (seed 000 資料表: 星座).

    >>> zodiac_signs(pd.Series(pd.to_datetime(["1996-03-12", "2000-12-25", None]))).tolist()
    ['雙魚座', '摩羯座', <NA>]
    """
    birthdays = pd.to_datetime(pd.Series(birthdays), errors="coerce")
    key = (birthdays.dt.month * 100 + birthdays.dt.day).to_numpy(dtype=float)
    starts = np.array([m * 100 + d for m, d, _ in _ZODIAC_STARTS])
    names = np.array(["摩羯座"] + [n for _, _, n in _ZODIAC_STARTS], dtype=object)
    idx = np.searchsorted(starts, np.nan_to_num(key, nan=0), side="right")
    out = pd.Series(names[idx], index=birthdays.index, dtype="string")
    out[birthdays.isna()] = pd.NA
    return out


_TENURE_TEXT = re.compile(r"^(?:(?P<y>\d+(?:\.\d+)?)\s*年)?\s*(?:(?P<m>\d+(?:\.\d+)?)\s*[個个]?月)?$")


def parse_tenure(series: pd.Series, as_of: pd.Timestamp) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Years of service from 到職日或年資 (seed 000 貸款懶人包 2(f)): a hire date (ROC or western,
    any spelling :func:`parse_dates` reads) or a length such as 3年2個月 / 3年2个月 / 18個月 / 3.5年;
    a bare number up to 60 is years (the column says 年資). Returns (years, bad, future): bad
    where a non-blank cell is neither, future where the hire date lies after ``as_of``.

    >>> cells = pd.Series(["3年6個月", "108/03/01", "18个月", "abc", "2030/1/1"])
    >>> years = parse_tenure(cells, pd.Timestamp("2024-03-01"))[0]
    >>> years.round(2).tolist()
    [3.5, 5.0, 1.5, nan, nan]
    """
    series = pd.Series(series, dtype=object)
    blank = is_blank(series)
    text = normalise_text(numbers_as_text(series))
    parts = text.str.extract(_TENURE_TEXT)
    typed = parts["y"].notna() | parts["m"].notna()
    typed = typed.fillna(False).astype(bool)
    as_text = (
        pd.to_numeric(parts["y"], errors="coerce").astype(float).fillna(0)
        + pd.to_numeric(parts["m"], errors="coerce").astype(float).fillna(0) / 12
    )
    bare = pd.to_numeric(text.where(text.str.fullmatch(r"\d+(?:\.\d+)?").fillna(False)), errors="coerce").astype(float)
    bare_years = bare.where(bare <= 60)
    # 61–9999 is neither a plausible length of service nor a date; 108年3月 is a month, not a length
    typed_years = as_text.where(typed & (as_text <= 60))
    dates, _ = parse_dates(series.where(~typed & ~(bare < 10000)))
    future = dates > as_of
    as_of_day = pd.Timestamp(as_of).normalize()
    from_date = (as_of_day - dates.where(~future)).dt.days / 365.25
    years = typed_years.fillna(bare_years).fillna(from_date)
    bad = years.isna() & ~blank & ~future
    return years.astype(float), bad, future
