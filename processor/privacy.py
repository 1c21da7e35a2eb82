"""身分證字號 and resident certificate (居留證) numbers: checksum validation and masking.

National ID: a letter (place of first registration), 1 or 2 (sex), 7 digits, a check digit.
New-style resident certificate (from 2021): a letter, 8 or 9, 7 digits, a check digit.
Old-style resident certificate: two letters (the second A–D), 7 digits, a check digit.
Check: the first letter becomes two digits (A=10 … with I=34, O=35, W=32, X=30, Y=31, Z=33);
the 11 digits are weighted 1,9,8,7,6,5,4,3,2,1,1 and the sum must be divisible by 10.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pandas as pd

from processor.errors import ID_CANDIDATE, Problem
from processor.read.values import normalise_text

LETTER_CODES = dict(
    zip(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        [10, 11, 12, 13, 14, 15, 16, 17, 34, 18, 19, 20, 21, 22, 35, 23, 24, 25, 26, 27, 28, 29, 32, 30, 31, 33],
    )
)
_LETTER_LOOKUP = np.zeros(128, dtype=np.int64)
for _letter, _code in LETTER_CODES.items():
    _LETTER_LOOKUP[ord(_letter)] = _code
WEIGHTS = np.array([1, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1])

VALID, BAD_FORMAT, BAD_CHECKSUM, MASKED = "有效", "格式錯誤", "檢查碼錯誤", "已遮蔽"
_WIDE_CANDIDATE = r"[A-Za-zＡ-Ｚａ-ｚ][1289A-Da-d１２８９Ａ-Ｄａ-ｄ][0-9０-９]{8}"


def check_ids(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Normalised IDs (upper-case, NFKC) and a status per cell: 有效 / 格式錯誤 / 檢查碼錯誤, or
    已遮蔽 for a number this program masked before (a result workbook scored again); blank: <NA>.

    >>> check_ids(pd.Series(["A123456789", "a123456788", "A323456789", "A800000014", "123", "A12*****89"]))[1].tolist()
    ['有效', '檢查碼錯誤', '格式錯誤', '有效', '格式錯誤', '已遮蔽']
    """
    text = normalise_text(pd.Series(series)).str.upper().str.replace(r"[\s-]", "", regex=True)
    national = text.str.fullmatch(r"[A-Z][1289]\d{8}").fillna(False)
    old_arc = text.str.fullmatch(r"[A-Z][A-D]\d{8}").fillna(False)
    ok_format = national | old_arc
    status = pd.Series(pd.NA, index=text.index, dtype="string")
    status[text.notna() & (text != "")] = BAD_FORMAT
    status[text.str.fullmatch(r"[A-Z]{1,2}\d{0,2}\*+\d{0,2}").fillna(False)] = MASKED
    if ok_format.any():
        ids = text[ok_format].to_numpy(dtype=str)
        codes = np.frombuffer("".join(ids).encode("ascii"), dtype=np.uint8).reshape(len(ids), 10)
        first = _LETTER_LOOKUP[codes[:, 0]]
        # old-style certificates carry a letter in place of the sex digit: its code's last digit
        second = np.where(codes[:, 1] >= ord("A"), _LETTER_LOOKUP[codes[:, 1]] % 10, codes[:, 1] - ord("0"))
        digits = np.column_stack([first // 10, first % 10, second, codes[:, 2:] - ord("0")])
        ok = (digits @ WEIGHTS) % 10 == 0
        status[ok_format] = np.where(ok, VALID, BAD_CHECKSUM)
    return text, status


def mask_ids(series: pd.Series) -> pd.Series:
    """IDs with the middle hidden, for every output: A123456789 → A12*****89.

    >>> mask_ids(pd.Series(["A123456789", None])).tolist()
    ['A12*****89', <NA>]
    """
    text = normalise_text(pd.Series(series)).str.upper()
    long = text.str.len() >= 6
    masked = text.str[:3] + text.str[3:-2].str.replace(r".", "*", regex=True) + text.str[-2:]
    return masked.where(long, text.str.replace(r".", "*", regex=True))


def may_hold_id(text: str) -> bool:
    """Whether ``text`` holds something shaped like an ID number (a letter and nine digits, half- or
    full-width); False means no ID number is in it, checksum or not.

    >>> may_hold_id("王小明 0912-345-678"), may_hold_id("Ａ123456789")
    (False, True)
    """
    return re.search(_WIDE_CANDIDATE, text) is not None


def mask_ids_in_text(series: pd.Series) -> pd.Series:
    """Every valid 身分證字號 / 居留證號 inside each text masked, wherever it sits; other text as is.

    Only numbers that pass the checksum are touched, so product codes that merely look alike
    stay readable. A cell that holds one is returned NFKC-folded (full-width digits to ASCII).

    >>> mask_ids_in_text(pd.Series(["王小明 A123456789 0912", "A123456788", "F131104093", 42, None])).tolist()
    ['王小明 A12*****89 0912', 'A123456788', 'F13*****93', 42, None]
    """
    series = series if isinstance(series, pd.Series) else pd.Series(series)
    if pd.api.types.infer_dtype(series, skipna=True) not in ("string", "mixed", "mixed-integer"):
        return series  # numbers and dates only
    if pd.api.types.infer_dtype(series, skipna=True) == "string" and not may_hold_id("\n".join(series.dropna())):
        return series  # one regex over the column's text joined (a cell's match is a match in it): C speed
    # a cheap pass over every cell (half- or full-width letter + 9 digits); NFKC only where it may hit
    maybe = series.astype("string").str.contains(_WIDE_CANDIDATE, regex=True, na=False)
    if not maybe.any():
        return series
    maybe[maybe] = series[maybe].map(type).eq(str)  # text cells only: a number cell stays a number
    text = series[maybe].astype("string").str.normalize("NFKC")
    has = text.str.contains(ID_CANDIDATE, regex=True, na=False)
    if not has.any():
        return series
    found = text[has].str.extractall(f"({ID_CANDIDATE})")[0]
    upper = found.str.upper()
    valid = sorted(set(upper[check_ids(upper)[1] == VALID]))
    if not valid:
        return series
    # mask each distinct number once, not once per match (this runs over every cell of every sheet)
    masks = dict(zip(valid, mask_ids(pd.Series(valid))))
    masked = text[has].str.replace(ID_CANDIDATE, lambda m: masks.get(m.group(0).upper(), m.group(0)), regex=True)
    out = series.copy()
    changed = masked != text[has]
    out[changed[changed].index] = masked[changed].astype(object)
    return out


def mask_problem_ids(problems: list[Problem]) -> list[Problem]:
    """The problems with every valid ID number in their value and column text masked: a
    problem about any column may quote a cell that holds one (DESIGN §6: IDs masked in outputs).

    >>> mask_problem_ids([Problem("s", 2, "備註", "A123456789 王", "x", "y")])[0].value
    'A12*****89 王'
    """
    if not problems:
        return problems
    values = mask_ids_in_text(pd.Series([p.value for p in problems], dtype=object)).tolist()
    columns = mask_ids_in_text(pd.Series([p.column for p in problems], dtype=object)).tolist()
    return [
        p if (value is p.value and column is p.column) else replace(p, value=value, column=column)
        for p, value, column in zip(problems, values, columns)
    ]
