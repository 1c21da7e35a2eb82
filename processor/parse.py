"""Detecting each sheet's kind by its headers, then parsing and validating its values.

Headers decide, sheet names are only hints (DESIGN §3). A header row may sit below merged title
rows and may span two rows (a merged parent such as 「D夢想」 over 初期/中期/長期). Every cell
that cannot be understood becomes a :class:`~processor.errors.Problem`; nothing is guessed.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import schema
from .errors import ERROR, WARNING, Problem
from .idnumber import BAD_CHECKSUM, BAD_FORMAT, check_ids, mask_ids
from .schema import KINDS, PRIORITY, Field, SheetKind, normalise_header
from .values import is_blank, normalise_text, parse_amounts, parse_bools, parse_dates, parse_phones
from .workbook import HEADER_SCAN_ROWS, RawSheet


@dataclass
class ParsedSheet:
    """One input sheet understood as a kind: canonical keys as columns, index = Excel row number."""

    sheet: str
    kind: SheetKind
    frame: pd.DataFrame
    headers: dict[str, str]  # field key (or open column) → header text as typed
    header_row: int  # Excel row number of the (last) header row
    extra_columns: list[str] = field(default_factory=list)  # open kinds: feature columns in input order
    layout: str = "table"  # "table" or "form" (loan form: label column + value column)
    #: field key → (1-based row or None for the whole column below the header, 1-based column)
    locations: dict[str, tuple[int | None, int]] = field(default_factory=dict)


@dataclass
class HeaderMatch:
    kind: SheetKind
    row: int  # 0-based grid row of the (last) header row
    columns: dict[int, str]  # grid column → field key
    unknown: dict[int, str]  # grid column → header text, not a field of the kind

    @property
    def score(self) -> tuple:
        return (len(set(self.columns.values())), -PRIORITY.index(self.kind.key))


def _header_texts(grid: pd.DataFrame, row: int) -> list[tuple[int, str, str]]:
    """(column, header text, combined-with-parent text) for a candidate header row."""
    out = []
    for col in range(grid.shape[1]):
        cell = grid.iat[row, col]
        if cell is None or (isinstance(cell, float) and np.isnan(cell)) or str(cell).strip() == "":
            continue
        text = str(cell).strip()
        parent = grid.iat[row - 1, col] if row > 0 else None
        parent_text = "" if parent is None or (isinstance(parent, float) and np.isnan(parent)) else str(parent).strip()
        out.append((col, text, f"{parent_text}{text}" if parent_text and parent_text != text else text))
    return out


def match_headers(grid: pd.DataFrame) -> HeaderMatch | None:
    """The best (kind, header row) for a grid, or None if no kind's signature is present."""
    best: HeaderMatch | None = None
    for row in range(min(HEADER_SCAN_ROWS, len(grid))):
        texts = _header_texts(grid, row)
        if len(texts) < 1:
            continue
        for kind in KINDS.values():
            index = schema.ALIASES[kind.key]
            columns, unknown = {}, {}
            for col, text, combined in texts:
                key = index.get(normalise_header(combined)) or index.get(normalise_header(text))
                if key is not None and key not in columns.values():
                    columns[col] = key
                else:
                    unknown[col] = text
            present = set(columns.values())
            if not any(sig <= present for sig in kind.signature):
                continue
            candidate = HeaderMatch(kind, row, columns, unknown)
            if best is None or candidate.score > best.score:
                best = candidate
    return best


def match_form(grid: pd.DataFrame) -> dict[str, tuple[int, int, int]] | None:
    """A loan form laid out like seed 000's 貸款懶人包: labels in one column, values to their right.

    Returns key → (row, label column, value column) when at least 6 loan fields are found.
    """
    index = schema.ALIASES["loans"]
    found: dict[str, tuple[int, int, int]] = {}
    for col in range(min(4, grid.shape[1])):
        labels = grid.iloc[:, col]
        for row, cell in labels.items():
            if cell is None or isinstance(cell, (int, float)):
                continue
            key = index.get(normalise_header(str(cell)))
            if key is not None and key not in found:
                found[key] = (int(row), col, col + 1)
    return found if len(found) >= 6 else None


def closest_kind(headers: list[str]) -> tuple[str, float]:
    """The kind whose labels look most like these headers, and how alike (0–1), for the report."""
    wanted = [normalise_header(h) for h in headers if str(h).strip()]
    best, best_score = "", 0.0
    for kind in KINDS.values():
        labels = list(schema.ALIASES[kind.key])
        if not wanted:
            break
        score = float(np.mean([max(difflib.SequenceMatcher(None, w, a).ratio() for a in labels) for w in wanted]))
        if score > best_score:
            best, best_score = kind.label, score
    return best, best_score


_FIX = {
    schema.DATE: ("日期無法辨識", "請寫成 2024/03/05、民國113/3/5 或 113年3月5日"),
    schema.AMOUNT: ("金額無法辨識", "請只寫數字，可加 萬/千，例：3萬、1,200"),
    schema.INT: ("不是整數", "請只寫整數，例：3"),
    schema.BOOL: ("無法判斷是或否", "請填 是/否（也可用 Y/N、有/無、V）"),
    schema.PHONE: ("電話號碼格式不對", "手機 10 碼 09 開頭（0912-345-678）；市話加區碼（(02)2345-6789）"),
}


MAX_PROBLEMS_PER_CHECK = 200  # per sheet, column and kind of problem; the rest are counted in one line


def _parse_column(raw: pd.Series, f: Field, sheet: str, as_of: pd.Timestamp) -> tuple[pd.Series, list[Problem]]:
    """Parse one column; long text columns are parsed once per distinct value (exports repeat a lot)."""
    if len(raw) > 5000 and pd.api.types.infer_dtype(raw, skipna=True) in ("string", "empty"):
        codes, uniques = pd.factorize(raw)
        if len(uniques) < len(raw) // 2:
            parsed_u, problems_u = _parse_values(pd.Series(uniques, dtype=object), f, sheet, as_of, limit=None)
            parsed = pd.Series(parsed_u.reindex(codes).to_numpy(), index=raw.index, dtype=parsed_u.dtype)
            wanted = np.array(sorted({p.row for p in problems_u}), dtype=np.int64)
            hit = np.isin(codes, wanted)
            rows_by_code = pd.Series(raw.index[hit]).groupby(codes[hit]).agg(list)
            expanded: dict[tuple, list[Problem]] = {}
            for p in problems_u:  # bad distinct values, each spread back over the rows that hold it
                for row in rows_by_code.get(p.row, []):
                    expanded.setdefault((p.problem, p.fix), []).append(
                        Problem(sheet, int(row), p.column, p.value, p.problem, p.fix, p.severity))
            problems = []
            for found in expanded.values():
                found.sort(key=lambda p: p.row)
                problems += _capped(found)
            return parsed, problems
    return _parse_values(raw, f, sheet, as_of)


def _capped(found: list[Problem]) -> list[Problem]:
    if len(found) <= MAX_PROBLEMS_PER_CHECK:
        return found
    first = found[0]
    rest = len(found) - MAX_PROBLEMS_PER_CHECK
    return found[:MAX_PROBLEMS_PER_CHECK] + [Problem(first.sheet, None, first.column, f"另有 {rest} 列",
                                                     f"{first.problem}（同樣的問題還有 {rest} 列，未逐列列出）",
                                                     first.fix, first.severity)]


def _parse_values(raw: pd.Series, f: Field, sheet: str, as_of: pd.Timestamp,
                  limit: int | None = MAX_PROBLEMS_PER_CHECK) -> tuple[pd.Series, list[Problem]]:
    problems: list[Problem] = []
    if f.deferred:
        return raw.astype(object), problems

    def report(mask: pd.Series, problem: str, fix: str, severity: str = ERROR, shown: pd.Series | None = None):
        shown = raw if shown is None else shown
        found = [Problem(sheet, int(row), f.label, None if shown.get(row) is None else str(shown.get(row)), problem, fix,
                         severity) for row in mask[mask].index]  # one Problem per bad cell …
        problems.extend(found if limit is None else _capped(found))  # … up to a readable number

    if f.type == schema.DATE:
        parsed, bad = parse_dates(raw)
        report(bad, *_FIX[f.type])
        if f.past:
            future = parsed > as_of
            report(future, f"日期在今天（{as_of:%Y/%m/%d}）之後", "請確認年份（民國年如 113/3/5，西元年如 2024/3/5）", ERROR)
            parsed = parsed.where(~future)
        old = parsed < pd.Timestamp("1900-01-01")
        report(old, "日期早於 1900 年", "請確認年份")
        parsed = parsed.where(~old)
    elif f.type == schema.AMOUNT:
        parsed, bad = parse_amounts(raw)
        report(bad, *_FIX[f.type])
    elif f.type == schema.INT:
        parsed, bad = parse_amounts(raw)
        fractional = parsed.notna() & (parsed != np.floor(parsed.fillna(0)))
        report(bad | fractional, *_FIX[f.type])
        parsed = parsed.where(~fractional).round().astype("Int64")
    elif f.type == schema.BOOL:
        parsed, bad = parse_bools(raw)
        report(bad, *_FIX[f.type])
    elif f.type == schema.PHONE:
        parsed, bad = parse_phones(raw)
        report(bad, *_FIX[f.type])
    elif f.type == schema.ID:
        parsed, status = check_ids(raw)
        masked = mask_ids(raw)
        report(status == BAD_FORMAT, "身分證/居留證號格式錯誤",
               "格式為 1 個英文字母 + 9 碼數字（舊式居留證為 2 個英文字母 + 8 碼數字）", shown=masked)
        report(status == BAD_CHECKSUM, "身分證/居留證號檢查碼錯誤", "請核對證件上的號碼，可能有一碼打錯", shown=masked)
        parsed = parsed.where(status.notna())  # kept even when wrong: reported above, masked in every output
    elif f.type == schema.CHOICE:
        text = normalise_text(raw)
        lookup = {normalise_header(c): c for c in f.choices}
        parsed = text.map(lambda s: lookup.get(normalise_header(s), pd.NA), na_action="ignore").astype("string")
        parsed[text.str.len() == 0] = pd.NA
        bad = parsed.isna() & ~is_blank(raw)
        report(bad, "不是可選的值", f"請從下拉選單選：{' / '.join(f.choices)}")
    else:
        parsed = raw.map(lambda v: v.strip() if isinstance(v, str) else v, na_action="ignore")
        parsed = parsed.map(lambda v: v if isinstance(v, str) else str(v), na_action="ignore").astype("string")
        parsed[parsed.str.len() == 0] = pd.NA
    return parsed, problems


def parse_table(raw: RawSheet, match: HeaderMatch, as_of: pd.Timestamp) -> tuple[ParsedSheet, list[Problem]]:
    """Parse the rows below a matched header row into a canonical frame, with every problem found."""
    kind, grid = match.kind, raw.grid
    body = grid.iloc[match.row + 1:]
    body = body.loc[~body.apply(lambda col: is_blank(col)).all(axis=1)] if len(body) else body
    body.index = body.index + 1  # Excel row numbers
    headers = {key: str(grid.iat[match.row, col]).strip() for col, key in match.columns.items()}
    problems: list[Problem] = []
    columns: dict[str, pd.Series] = {}
    for col, key in match.columns.items():
        f = kind.field(key)
        parsed, found = _parse_column(body.iloc[:, col], f, raw.name, as_of)
        columns[key] = parsed
        problems += found
    extra = []
    for col, text in match.unknown.items():
        if kind.open_columns:
            name = text if text not in columns else f"{text} ({col + 1})"
            columns[name] = body.iloc[:, col]
            headers[name] = text
            extra.append(name)
        elif not text.startswith("Unnamed"):
            problems.append(Problem(raw.name, match.row + 1, text, None, f"不認得的欄位，未使用（這是「{kind.label}」工作表）",
                                    "若是錯字請改成範本上的欄名；多餘欄位可保留", WARNING))
    frame = pd.DataFrame(columns, index=body.index)
    for f in kind.fields:
        if f.key not in frame and not f.derived:
            frame[f.key] = pd.Series(pd.NA, index=frame.index, dtype="object")
    if kind.key in ("followups",) and "name" not in match.columns.values() and "customer_id" not in match.columns.values():
        problems.append(Problem(raw.name, match.row + 1, "姓名/客戶編號", None, "跟進紀錄沒有姓名或客戶編號欄",
                                "請加上「姓名」或「客戶編號」欄，才能對應到名單"))
    for f in (f for f in kind.fields if f.required):
        cols = [c for c, k in match.columns.items() if k == f.key]
        if cols:
            missing = is_blank(body.iloc[:, cols[0]])
            problems += [Problem(raw.name, int(row), f.label, None, "必填欄位是空的", f"請填入{f.label}")
                         for row in missing[missing].index]
        else:
            problems.append(Problem(raw.name, match.row + 1, f.label, None, f"缺少必填欄位「{f.label}」",
                                    f"請在標題列加上「{f.label}」欄"))
    problems += _duplicates(raw.name, kind, frame)
    locations = {key: (None, col + 1) for col, key in match.columns.items()}
    return ParsedSheet(raw.name, kind, frame, headers, match.row + 1, extra, "table", locations), problems


def _duplicates(sheet: str, kind: SheetKind, frame: pd.DataFrame) -> list[Problem]:
    keys = [k for k in kind.unique if k in frame and frame[k].notna().any()]
    if not keys:
        return []
    subset = frame[keys].astype("string").apply(lambda s: s.str.lower())
    complete = subset.notna().all(axis=1)
    dup = subset.duplicated(keep="first") & complete
    first_rows = subset[complete].reset_index().groupby(keys, dropna=True)[subset.index.name or "index"].first() \
        if dup.any() else None
    problems = []
    for row in dup[dup].index:
        key = tuple(subset.loc[row, k] for k in keys)
        first = first_rows.loc[key if len(keys) > 1 else key[0]] if first_rows is not None else None
        shown = "、".join(kind.field(k).label for k in keys)
        value = mask_ids(pd.Series([frame.at[row, keys[0]]])).iloc[0] if kind.field(keys[0]).type == schema.ID \
            else str(frame.at[row, keys[0]])
        problems.append(Problem(sheet, int(row), shown, value, f"重複：與第 {first} 列相同",
                                "請確認是否同一人；若是請合併成一列", WARNING))
    return problems


def parse_form(raw: RawSheet, found: dict[str, tuple[int, int, int]], as_of: pd.Timestamp) -> tuple[ParsedSheet, list[Problem]]:
    """A one-applicant loan form (label column + value column) as a one-row canonical frame."""
    kind = KINDS["loans"]
    grid = raw.grid
    first_row = min(r for r, _, _ in found.values()) + 1
    problems: list[Problem] = []
    values: dict[str, pd.Series] = {}
    for key, (row, _, value_col) in found.items():
        value = grid.iat[row, value_col] if value_col < grid.shape[1] else None
        cell = pd.Series([value], index=[row + 1], dtype=object)
        parsed, found_problems = _parse_column(cell, kind.field(key), raw.name, as_of)
        values[key] = parsed.set_axis([first_row])
        problems += found_problems
    frame = pd.DataFrame(values, index=[first_row])
    for f in kind.fields:
        if f.key not in frame:
            frame[f.key] = pd.Series([pd.NA], index=frame.index, dtype="object")
        if f.required and pd.isna(frame.at[first_row, f.key]) and f.key in found:
            if not any(p.column == f.label for p in problems):
                problems.append(Problem(raw.name, found[f.key][0] + 1, f.label, None, "必填欄位是空的", f"請填入{f.label}"))
    headers = {key: str(grid.iat[row, col]).strip() for key, (row, col, _) in found.items()}
    locations = {key: (row + 1, value_col + 1) for key, (row, _, value_col) in found.items()}
    return ParsedSheet(raw.name, kind, frame, headers, first_row, [], "form", locations), problems


def detect_and_parse(raw_sheets: list[RawSheet], as_of: pd.Timestamp) -> tuple[list[ParsedSheet], list[Problem]]:
    """Every sheet whose headers match a kind, parsed; unmatched non-empty sheets are reported
    with the headers they had and the closest known kind."""
    parsed, problems = [], []
    for raw in raw_sheets:
        grid = raw.grid
        if grid.empty or grid.apply(lambda col: is_blank(col)).all().all():
            continue
        form = match_form(grid)
        match = match_headers(grid)
        if form is not None and (match is None or match.kind.key != "loans" or len(form) > len(match.columns)):
            sheet, found = parse_form(raw, form, as_of)
        elif match is not None:
            sheet, found = parse_table(raw, match, as_of)
        else:
            first = next((r for r in range(min(HEADER_SCAN_ROWS, len(grid))) if (~is_blank(grid.iloc[r])).sum() >= 2), 0)
            headers = [str(v).strip() for v in grid.iloc[first] if v is not None and str(v).strip()]
            guess, _ = closest_kind(headers)
            problems.append(Problem(raw.name, first + 1, None, "、".join(headers[:12]),
                                    f"看不出是哪一種工作表（最接近：{guess}），未分析",
                                    f"請把標題列改成範本「{guess}」的欄名，或從 precision-list templates 複製標題列", WARNING))
            continue
        parsed.append(sheet)
        problems += found
    return parsed, problems
