"""Detecting each sheet's kind by its headers, then parsing and validating its values.

Headers decide, sheet names are only hints (DESIGN §3). A header row may sit below merged title
rows and may span two rows (a merged parent such as 「D夢想」 over 初期/中期/長期). Every cell
that cannot be understood becomes a :class:`~processor.errors.Problem`; nothing is guessed.
"""

from __future__ import annotations

import difflib
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from processor.errors import ERROR, MAX_PROBLEMS_PER_CHECK, WARNING, Problem, step
from processor.errors import capped as _capped
from processor.privacy import BAD_CHECKSUM, BAD_FORMAT, MASKED, VALID, check_ids, mask_ids, mask_ids_in_text
from processor.read import schema
from processor.read.schema import KINDS, NON_DATA_SHEETS, PRIORITY, Field, SheetKind, normalise_header
from processor.read.values import (
    blank_codes,
    cell_types,
    is_blank,
    name_key,
    nonexistent_dates,
    normalise_ids,
    normalise_text,
    numbers_as_text,
    parse_amounts,
    parse_bools,
    parse_dates,
    parse_phones,
    parse_tenure,
    roc_spelled,
)
from processor.read.workbook import HEADER_SCAN_ROWS, RawSheet


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
    texts: dict[int, str] = field(default_factory=dict)  # grid column → header text as typed

    @property
    def score(self) -> tuple:
        return (len(set(self.columns.values())), -PRIORITY.index(self.kind.key))


def _cell_text(cell) -> str:
    return "" if cell is None or (isinstance(cell, float) and np.isnan(cell)) else str(cell).strip()


def _header_texts(grid: pd.DataFrame, row: int) -> list[tuple[int, str, str]]:
    """(column, header text, combined-with-parent text) for a candidate header row.

    A two-row header has a merged parent in the row above (「D夢想」 over 初期/中期/長期: the
    reader fills it into every cell of its range, so it shows as a run of equal cells). When
    this row has cells under such a parent, the headers that stand alone in the row above
    (姓名, 信任等級 … not merged down) belong to the header too and are taken from there.
    """
    width = grid.shape[1]
    cells = [_cell_text(grid.iat[row, col]) for col in range(width)]
    above = [_cell_text(grid.iat[row - 1, col]) for col in range(width)] if row > 0 else [""] * width
    in_run = [
        bool(above[c]) and ((c > 0 and above[c - 1] == above[c]) or (c + 1 < width and above[c + 1] == above[c]))
        for c in range(width)
    ]
    under_parent = any(in_run[c] and cells[c] for c in range(width))
    out = []
    for col in range(width):  # one header row: tens of columns
        text, parent = cells[col], above[col]
        if not text and under_parent and parent and not in_run[col] and isinstance(grid.iat[row - 1, col], str):
            out.append((col, parent, parent))
        elif text:
            out.append((col, text, f"{parent}{text}" if parent and parent != text else text))
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
            candidate = HeaderMatch(kind, row, columns, unknown, {col: text for col, text, _ in texts})
            if best is None or candidate.score > best.score:
                best = candidate
    return best


FORM_SCAN_ROWS = 200  # the seed's form has 45 lines; a label further down is not a form


def match_form(grid: pd.DataFrame) -> dict[str, tuple[int, int, int]] | None:
    """A loan form laid out like seed 000's 貸款懶人包: labels in one column, values to their right.

    Returns key → (row, label column, value column) when at least 6 loan fields are found among
    the first :data:`FORM_SCAN_ROWS` rows.
    """
    index = schema.ALIASES["loans"]
    found: dict[str, tuple[int, int, int]] = {}
    for col in range(min(4, grid.shape[1])):
        labels = grid.iloc[:FORM_SCAN_ROWS, col]
        labels = labels[labels.map(type).eq(str)]
        codes, uniques = pd.factorize(labels)
        keys = np.array([index.get(normalise_header(u)) for u in uniques], dtype=object)  # per distinct label
        for row, key in zip(labels.index, keys[codes] if len(uniques) else []):
            if key is not None and key not in found:
                found[key] = (int(row), col, col + 1)
    return found if len(found) >= 6 else None


def _data_like(cells: list) -> bool:
    """True when a row holds values rather than column names: an ID or phone number, or mostly
    numbers and dates (such a row is not echoed into messages: it may be personal data)."""
    series = pd.Series(cells, dtype=object)
    is_date, is_number, _ = cell_types(series)
    if (is_date | is_number).sum() * 2 > len(series):
        return True
    text = series[~(is_date | is_number)].astype(str)
    status = check_ids(text)[1]
    phones_ok = ~parse_phones(text)[1] & ~is_blank(text) & text.str.fullmatch(r"[\d\s\-+()#]{8,}")
    return bool(status.isin([VALID, BAD_CHECKSUM]).any() or phones_ok.any())


HEADLINE_CELL_CHARS = 16  # a header cell quoted in a message is cut after this many characters


def sheet_headline(grid: pd.DataFrame) -> tuple[int, list[str], bool]:
    """(Excel row, header texts, looks like data) of an unrecognised sheet's first real row, for
    messages: header texts with ID numbers masked; a row that looks like data gives no texts."""
    first = next((r for r in range(min(HEADER_SCAN_ROWS, len(grid))) if (~is_blank(grid.iloc[r])).sum() >= 2), 0)
    cells = [v for v in (grid.iloc[first] if len(grid) else []) if v is not None and str(v).strip()]
    if _data_like(cells):
        return first + 1, [], True
    shown = mask_ids_in_text(pd.Series([str(v).strip() for v in cells], dtype=object)).astype(str)
    shown = shown.str.replace(r"\+?\d[\d\-() ]{6,}\d", "＊＊＊", regex=True)  # a phone number inside a header
    # one line, short cells: a message quotes headers, never a paragraph someone typed into row 1
    shown = shown.str.replace(r"\s+", " ", regex=True)
    shown = shown.where(shown.str.len() <= HEADLINE_CELL_CHARS, shown.str[:HEADLINE_CELL_CHARS] + "…")
    return first + 1, shown.tolist(), False


def describe_unrecognised(grid: pd.DataFrame, limit: int = 12) -> tuple[int, str, str]:
    """(Excel row, what its first row says, closest kind) for the report of an unrecognised sheet.

    >>> describe_unrecognised(pd.DataFrame([["品名", "庫存"], ["A", 1]], dtype=object))[:2]
    (1, '品名、庫存')
    """
    row, headers, data_like = sheet_headline(grid)
    if data_like:
        width = int((~is_blank(grid.iloc[row - 1])).sum()) if len(grid) else 0
        return row, f"第 {row} 列像是資料而不是欄名（{width} 欄，內容不列出）", ""
    guess, _ = closest_kind(headers) if headers else ("", 0.0)
    return row, "、".join(headers[:limit]) or "（空白）", guess


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


EARLIEST_DAY = pd.Timestamp("1900-01-01")  # a date before it is a typo (what a log's typed day is held to as well)
TOO_EARLY = ("日期早於 1900 年", "請確認年份")

_FIX = {
    schema.DATE: ("日期無法辨識", "請寫成 2024/03/05、民國113/3/5 或 113年3月5日"),
    schema.AMOUNT: ("金額無法辨識", "請只寫數字，可加 萬/千，例：3萬、1,200"),
    schema.INT: ("不是整數", "請只寫整數，例：3"),
    schema.BOOL: ("無法判斷是或否", "請填 是/否（也可用 Y/N、有/無、V）"),
    schema.PHONE: ("電話號碼格式不對", "手機 10 碼 09 開頭（0912-345-678）；市話加區碼（(02)2345-6789）"),
}


def parse_column(
    raw: pd.Series, f: Field, sheet: str, as_of: pd.Timestamp, factor: tuple | None = None
) -> tuple[pd.Series, list[Problem]]:
    """Parse one column (``raw``'s index: the rows its problems name); long text columns are parsed once per
    distinct value (exports repeat a lot). ``factor`` is ``pd.factorize(raw)`` when the caller has it already;
    ``as_of`` is read only for a field that must lie in the past."""
    if len(raw) > 5000 and pd.api.types.infer_dtype(raw, skipna=True) in ("string", "empty"):
        codes, uniques = factor if factor is not None else pd.factorize(raw)
        if len(uniques) < len(raw) // 2:
            parsed_u, problems_u = _parse_values(pd.Series(uniques, dtype=object), f, sheet, as_of, limit=None)
            # positional take (−1 → missing): reindex would look every code up in an index
            parsed = pd.Series(parsed_u.reset_index(drop=True).array.take(codes, allow_fill=True), index=raw.index)
            wanted = np.array(sorted({p.row for p in problems_u}), dtype=np.int64)
            hit = np.isin(codes, wanted)
            rows_by_code = pd.Series(raw.index[hit]).groupby(codes[hit]).agg(list)
            expanded: dict[tuple, list[Problem]] = {}
            for p in problems_u:  # bad distinct values, each spread back over the rows that hold it
                for row in rows_by_code.get(p.row, []):
                    expanded.setdefault((p.problem, p.fix), []).append(
                        Problem(sheet, int(row), p.column, p.value, p.problem, p.fix, p.severity)
                    )
            problems = []
            for found in expanded.values():
                found.sort(key=lambda p: p.row)
                problems += _capped(found)
            return parsed, problems
    return _parse_values(raw, f, sheet, as_of)


def _parse_values(
    raw: pd.Series, f: Field, sheet: str, as_of: pd.Timestamp, limit: int | None = MAX_PROBLEMS_PER_CHECK
) -> tuple[pd.Series, list[Problem]]:
    problems: list[Problem] = []
    if f.deferred:
        return raw.astype(object), problems

    def report(mask: pd.Series, problem: str, fix: str, severity: str = ERROR, shown: pd.Series | None = None):
        shown = raw if shown is None else shown
        rows = mask[mask].index
        found = [
            Problem(
                sheet,
                int(row),
                f.label,
                None if shown.get(row) is None else str(shown.get(row)),
                problem,
                fix,
                severity,
            )
            for row in (rows if limit is None else rows[:MAX_PROBLEMS_PER_CHECK])
        ]  # one Problem per bad cell … (built only for the cells listed: a check may flag a million)
        problems.extend(found if limit is None else _capped(found, total=len(rows)))  # … up to a readable number

    if f.type == schema.DATE:
        parsed, bad = parse_dates(raw)
        missing_day = bad & nonexistent_dates(raw) if bad.any() else bad
        report(
            missing_day,
            "這一天不存在（那個月沒有這一天，或那年不是閏年沒有 2/29）",
            "請對照月曆改正：4、6、9、11 月只有 30 天，2 月平年 28 天、閏年 29 天",
        )
        report(bad & ~missing_day, *_FIX[f.type])
        if f.past:
            future = parsed > as_of
            report(
                future,
                f"日期在基準日（{as_of:%Y/%m/%d}）之後",
                "請確認年份（民國年如 113/3/5，西元年如 2024/3/5）",
                ERROR,
            )
            parsed = parsed.where(~future)
        old = parsed < EARLIEST_DAY
        report(old, *TOO_EARLY)
        parsed = parsed.where(~old)
    elif f.type == schema.AMOUNT:
        parsed, bad = parse_amounts(raw)
        report(bad, *_FIX[f.type])
    elif f.type == schema.INT:
        parsed, bad = parse_amounts(raw)
        fractional = parsed.notna() & (parsed != np.floor(parsed.fillna(0)))
        report(bad | fractional, *_FIX[f.type])
        parsed = parsed.where(~fractional).round().astype("Int64")
        if f.minimum is not None:
            below = (parsed < f.minimum).fillna(False)
            report(below, "不能是負數" if f.minimum == 0 else f"不能小於 {f.minimum}", f"請填 {f.minimum} 以上的整數")
            parsed = parsed.where(~below)
    elif f.type == schema.BOOL:
        parsed, bad = parse_bools(raw)
        report(bad, *_FIX[f.type])
    elif f.type == schema.PHONE:
        parsed, bad = parse_phones(raw)
        report(bad, *_FIX[f.type])
    elif f.type == schema.ID:
        parsed, status = check_ids(raw)
        masked = mask_ids(raw)
        report(
            status == BAD_FORMAT,
            "身分證/居留證號格式錯誤",
            "格式為 1 個英文字母 + 9 碼數字（舊式居留證為 2 個英文字母 + 8 碼數字）",
            shown=masked,
        )
        report(status == BAD_CHECKSUM, "身分證/居留證號檢查碼錯誤", "請核對證件上的號碼，可能有一碼打錯", shown=masked)
        report(
            status == MASKED,
            "身分證/居留證號已遮蔽，無法檢查（這是之前的結果檔嗎？）",
            "要檢查證號請送原始檔；只看其他結果可忽略這個提醒",
            WARNING,
            shown=masked,
        )
        parsed = parsed.where(status.notna())  # kept even when wrong: reported above, masked in every output
    elif f.type == schema.CHOICE:
        text = normalise_text(raw)
        lookup = {normalise_header(c): c for c in f.choices}
        codes, uniques = pd.factorize(text)
        chosen = np.array([lookup.get(normalise_header(u), pd.NA) for u in uniques] + [pd.NA], dtype=object)
        parsed = pd.Series(chosen[codes], index=raw.index, dtype="string")  # looked up once per distinct value
        bad = parsed.isna() & ~is_blank(raw)
        report(bad, "不是可選的值", f"請從下拉選單選：{' / '.join(f.choices)}")
    elif f.type == schema.TENURE:
        _, bad, future = parse_tenure(raw, as_of)
        report(bad, "到職日或年資無法辨識", "請寫到職日（例：108/03/01）或年資（例：3年2個月、18個月）")
        report(future, f"到職日在基準日（{as_of:%Y/%m/%d}）之後", "請確認年份（民國年如 108/3/1，西元年如 2019/3/1）")
        parsed = _as_text(raw)  # kept as typed; processor.analyse.loans reads the years from it
    else:
        parsed = _as_text(raw)
    return parsed, problems


def _as_text(raw: pd.Series) -> pd.Series:
    """Cells as stripped text (numbers as Excel shows them: 3, not 3.0); blank → <NA>."""
    if pd.api.types.infer_dtype(raw, skipna=True) == "string":  # all text (CSV, distinct values): one pass
        parsed = raw.astype("string").str.strip()
    else:
        parsed = numbers_as_text(raw.astype(object)).astype("string").str.strip()
    return parsed.mask(parsed.str.len() == 0)


def _examples(uniques) -> np.ndarray:
    """Per distinct value of the first column: is it the template's example row (範例：…, after NFKC and strip)?
    ASCII text never is (NFKC keeps ASCII ASCII and 範例 is not), so a column of ASCII ids (a 5M-row export's
    million customers) is one pass in C instead of a million normalisations.

    >>> _examples(np.array(["A001", " 範例：王小明", "ｘ", 3], dtype=object)).tolist()
    [False, True, False, False]
    """
    values = np.asarray(uniques, dtype=object)
    if pd.api.types.infer_dtype(values, skipna=True) == "string" and "".join(values[pd.notna(values)]).isascii():
        return np.zeros(len(values), dtype=bool)
    mark = schema.EXAMPLE_MARK
    return np.array(
        [isinstance(u, str) and unicodedata.normalize("NFKC", u).strip().startswith(mark) for u in values], dtype=bool
    )


def parse_table(raw: RawSheet, match: HeaderMatch, as_of: pd.Timestamp) -> tuple[ParsedSheet, list[Problem]]:
    """Parse the rows below a matched header row into a canonical frame, with every problem found."""
    kind, grid = match.kind, raw.grid
    body = grid.iloc[match.row + 1 :]
    # each column hashed once (a 5M-row export costs a second per pass): blank cells and parsing share it
    factors = [pd.factorize(body.iloc[:, col], use_na_sentinel=True) for col in range(body.shape[1])]
    blank = np.column_stack([blank_codes(*fc) for fc in factors]) if len(body) else np.zeros((0, body.shape[1]), bool)
    kept = ~blank.all(axis=1)
    if len(body) and match.columns:  # the template's example row (範例：王小明 …) is not data
        codes, uniques = factors[min(match.columns)]
        kept &= ~np.r_[_examples(uniques), False][codes]  # code −1 (blank) takes the trailing False
    if not kept.all():
        body, blank = body.loc[kept], blank[kept]
        factors = [(codes[kept], uniques) for codes, uniques in factors]
    body.index = body.index + 1  # Excel row numbers
    headers = {key: match.texts.get(col) or _cell_text(grid.iat[match.row, col]) for col, key in match.columns.items()}
    problems: list[Problem] = []
    columns: dict[str, pd.Series] = {}
    for col, key in match.columns.items():
        f = kind.field(key)
        parsed, found = parse_column(body.iloc[:, col], f, raw.name, as_of, factors[col])
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
            problems.append(
                Problem(
                    raw.name,
                    match.row + 1,
                    text,
                    None,
                    f"不認得的欄位，未使用（這是「{kind.label}」工作表）",
                    "若是錯字請改成範本上的欄名；多餘欄位可保留",
                    WARNING,
                )
            )
    frame = pd.DataFrame(columns, index=body.index)
    for f in kind.fields:
        if f.key not in frame and not f.derived:
            frame[f.key] = pd.Series(pd.NA, index=frame.index, dtype="object")
    present = set(match.columns.values())
    for f in (f for f in kind.fields if f.required):
        cols = [c for c, k in match.columns.items() if k == f.key]
        if cols:
            missing = blank[:, cols[0]]
            problems += _capped(
                [
                    Problem(raw.name, int(row), f.label, None, "必填欄位是空的", f"請填入{f.label}")
                    for row in body.index[missing]
                ]
            )
        else:
            problems.append(
                Problem(
                    raw.name,
                    match.row + 1,
                    f.label,
                    None,
                    f"缺少必填欄位「{f.label}」",
                    f"請在標題列加上「{f.label}」欄",
                )
            )
    for group in kind.required_any:  # e.g. 姓名 or 客戶編號: without either a row belongs to nobody
        labels = [kind.field(k).label for k in group]
        either = "或".join(f"「{label}」" for label in labels)
        if not present & set(group):
            problems.append(
                Problem(
                    raw.name,
                    match.row + 1,
                    "/".join(labels),
                    None,
                    f"缺少{either}欄",
                    f"請加上{either}欄，才能對應到名單",
                )
            )
            continue
        nobody = pd.concat([frame[k].isna() for k in group], axis=1).all(axis=1)
        problems += _capped(
            [
                Problem(
                    raw.name,
                    int(row),
                    "/".join(labels),
                    None,
                    f"{'和'.join(labels)}都是空的：這一列對應不到人，未納入分析",
                    f"請填入{either}",
                )
                for row in nobody[nobody].index
            ]
        )
    problems += _duplicates(raw.name, kind, frame)
    locations = {key: (None, col + 1) for col, key in match.columns.items()}
    return ParsedSheet(raw.name, kind, frame, headers, match.row + 1, extra, "table", locations), problems


def _shown(kind: SheetKind, frame: pd.DataFrame, key: str, rows) -> list[str]:
    values = frame.loc[rows, key]
    return (mask_ids(values) if kind.field(key).type == schema.ID else values.astype("string")).tolist()


def _compared(key: str, values: pd.Series) -> pd.Series:
    """A column's cells as duplicates are compared: customer ids as transactions compare them
    (:func:`~processor.read.values.normalise_ids`), names as follow-ups match them
    (:func:`~processor.read.values.name_key`),
    other cells (phones already normalised by the phone parser) stripped and lower-cased; blank → <NA>."""
    if key == "customer_id":
        return normalise_ids(values).astype("string")
    if key == "name":
        return name_key(values)
    return values.astype("string").str.strip().str.lower()


def _duplicates(sheet: str, kind: SheetKind, frame: pd.DataFrame) -> list[Problem]:
    """Repeats of each of the kind's unique key sets (first row kept, later rows reported), and
    the kind's conflicts: one 手機 under two different 姓名 is a 提醒 (a typo, or one person twice)."""
    problems: list[Problem] = []
    reported: set[int] = set()
    for wanted in kind.unique:
        keys = [k for k in wanted if k in frame and frame[k].notna().any()]
        if not keys:
            continue
        subset = pd.DataFrame({k: _compared(k, frame[k]) for k in keys}, index=frame.index)
        complete = subset.notna().all(axis=1)
        dup = subset.duplicated(keep="first") & complete & ~subset.index.isin(list(reported))
        if not dup.any():
            continue
        first = subset[complete].assign(_row=subset.index[complete]).groupby(keys)["_row"].transform("first")
        rows = dup[dup].index
        shown = "、".join(kind.field(k).label for k in keys)
        problems += _capped(
            [
                Problem(
                    sheet,
                    int(row),
                    shown,
                    value,
                    f"重複：與第 {int(first.loc[row])} 列相同",
                    "請確認是否同一人；若是請合併成一列",
                    WARNING,
                )
                for row, value in zip(rows, _shown(kind, frame, keys[0], rows))
            ]
        )
        reported.update(int(r) for r in rows)
    for shared, differing in kind.conflicts:
        if shared not in frame or differing not in frame:
            continue
        pair = pd.DataFrame(
            {"s": _compared(shared, frame[shared]), "d": _compared(differing, frame[differing])}
        ).dropna()
        if pair.empty:
            continue
        pair["_row"] = pair.index
        by_shared = pair.groupby("s")
        clash = (by_shared["d"].transform("nunique") > 1) & (pair["d"] != by_shared["d"].transform("first"))
        first = by_shared["_row"].transform("first")
        rows = clash[clash].index
        if len(rows):
            label_s, label_d = kind.field(shared).label, kind.field(differing).label
            problems += _capped(
                [
                    Problem(
                        sheet,
                        int(row),
                        label_s,
                        value,
                        f"與第 {int(first.loc[row])} 列{label_s}相同，但{label_d}不同",
                        f"請確認是否打錯{label_s}，或同一人寫了兩個{label_d}",
                        WARNING,
                    )
                    for row, value in zip(rows, _shown(kind, frame, shared, rows))
                ]
            )
    return problems


def parse_form(
    raw: RawSheet, found: dict[str, tuple[int, int, int]], as_of: pd.Timestamp
) -> tuple[ParsedSheet, list[Problem]]:
    """A one-applicant loan form (label column + value column) as a one-row canonical frame; a
    blank form (no value filled in, like the template) as a frame without rows: not an applicant."""
    kind = KINDS["loans"]
    grid = raw.grid
    first_row = min(r for r, _, _ in found.values()) + 1
    headers = {key: str(grid.iat[row, col]).strip() for key, (row, col, _) in found.items()}
    locations = {key: (row + 1, value_col + 1) for key, (row, _, value_col) in found.items()}
    cells = pd.Series(
        [grid.iat[row, col] if col < grid.shape[1] else None for row, _, col in found.values()], dtype=object
    )
    if is_blank(cells).all():
        frame = pd.DataFrame({f.key: pd.Series(dtype="object") for f in kind.fields})
        return ParsedSheet(raw.name, kind, frame, headers, first_row, [], "form", locations), []
    problems: list[Problem] = []
    values: dict[str, pd.Series] = {}
    for key, (row, _, value_col) in found.items():
        value = grid.iat[row, value_col] if value_col < grid.shape[1] else None
        cell = pd.Series([value], index=[row + 1], dtype=object)
        parsed, found_problems = parse_column(cell, kind.field(key), raw.name, as_of)
        values[key] = parsed.set_axis([first_row])
        problems += found_problems
    frame = pd.DataFrame(values, index=[first_row])
    for f in kind.fields:
        if f.key not in frame:
            frame[f.key] = pd.Series([pd.NA], index=frame.index, dtype="object")
        if f.required and pd.isna(frame.at[first_row, f.key]) and f.key in found:
            if not any(p.column == f.label for p in problems):
                problems.append(
                    Problem(raw.name, found[f.key][0] + 1, f.label, None, "必填欄位是空的", f"請填入{f.label}")
                )
    return ParsedSheet(raw.name, kind, frame, headers, first_row, [], "form", locations), problems


def detect_and_parse(raw_sheets: list[RawSheet], as_of: pd.Timestamp) -> tuple[list[ParsedSheet], list[Problem]]:
    """Every sheet whose headers match a kind, parsed; unmatched non-empty sheets are reported
    with the headers they had and the closest known kind (known non-data sheets such as 說明 and
    xlwings.conf are skipped quietly)."""
    parsed, problems = [], []
    quiet = {normalise_header(n) for n in NON_DATA_SHEETS}
    for raw in raw_sheets:
        grid = raw.grid
        if grid.empty or (is_blank(grid.iloc[:HEADER_SCAN_ROWS].stack()).all() and grid.apply(is_blank).all().all()):
            continue
        form = match_form(grid)
        match = match_headers(grid)
        if form is not None and (match is None or match.kind.key != "loans" or len(form) > len(match.columns)):
            sheet, found = parse_form(raw, form, as_of)
        elif match is not None:
            sheet, found = parse_table(raw, match, as_of)
        elif normalise_header(raw.name) in quiet:
            continue
        else:
            row, shown, guess = describe_unrecognised(grid)
            template = f"範本「{guess}」" if guess else "範本"
            problems.append(
                Problem(
                    raw.name,
                    row,
                    None,
                    shown,
                    f"看不出是哪一種工作表（最接近：{guess}），未分析"
                    if guess
                    else "看不出是哪一種工作表：找不到標題列，未分析",
                    f"請把標題列改成{template}的欄名，{step('copy_template_headers')}",
                    WARNING,
                )
            )
            continue
        parsed.append(sheet)
        problems += found
    return parsed, problems


DATE_SAMPLE = 10_000  # cells per date column looked at to tell how dates were typed


def date_spellings(raw_sheets: list[RawSheet], parsed: list[ParsedSheet]) -> tuple[int, int]:
    """(typed in 民國 years, typed otherwise) among the filled date cells of the parsed sheets (the
    first :data:`DATE_SAMPLE` of each column): how this rep writes dates, for 設定 日期顯示 = 自動."""
    grids = {raw.name: raw.grid for raw in raw_sheets}
    roc = other = 0
    for sheet in parsed:
        grid = grids.get(sheet.sheet)
        for key, (row, col) in sheet.locations.items():
            if grid is None or sheet.kind.field(key).type != schema.DATE or col > grid.shape[1]:
                continue
            cells = (
                grid.iloc[sheet.header_row : sheet.header_row + DATE_SAMPLE, col - 1]
                if row is None
                else grid.iloc[[row - 1], col - 1]
            )
            filled = ~is_blank(cells)
            typed_roc = roc_spelled(cells) & filled
            roc += int(typed_roc.sum())
            other += int((filled & ~typed_roc).sum())
    return roc, other
