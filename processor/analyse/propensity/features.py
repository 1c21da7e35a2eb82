"""Features of a campaign list: each open column's kind, its typed values and the design matrix.

The open columns of a list are the features (DESIGN §4 "Purchase probability"): their kind
(number, category, yes/no, date) is inferred from the cells, useless ones (blank, constant,
id-like) are set aside with a reason, and a column that alone predicts the result is leakage
(recorded after the sale) and set aside too.

scikit-learn and statsmodels are imported inside the functions that fit or score, here and in
the other modules of this package: importing them costs seconds, and ``score`` on a workbook
without a campaign list never needs them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from processor.errors import WARNING, Problem
from processor.read.values import is_blank, normalise_text, parse_amounts, parse_bools, parse_dates

NUMBER, CATEGORY, BOOLEAN, DATE = "number", "category", "bool", "date"

KIND_LABELS = {NUMBER: "數字", CATEGORY: "類別", BOOLEAN: "是/否", DATE: "日期（距今天數）"}

#: the pool of rare and never-seen category levels; not "其他", so a real 其他 level stays itself
OTHER, BLANK = "（少見或新值）", "（空白）"

MAX_POOLED_KEPT = 2000  # rare training levels remembered, so a new list's truly new values can be counted

LEAK_AUC = 0.95  # one column alone ranking buyers this well is almost certainly recorded after the sale

#: at most this many columns enter the models; a wider list keeps the ones that alone rank the training
#: rows best (:func:`screen`). Fitting costs grow with the columns: 300 columns took 79 s and 2,000 over
#: 10 minutes before this cap. Ordinary lists (tens of columns) are below it and untouched.
MAX_FEATURES = 60


@dataclass(frozen=True)
class Feature:
    """One input column the model uses: its header, inferred kind and how it is encoded.

    ``levels`` (categories) are the kept levels, most frequent first (the first is the
    reference level of the odds ratios); rarer levels and new ones share :data:`OTHER`.
    ``pooled`` are the rare levels seen in training (up to :data:`MAX_POOLED_KEPT`; ``pooled_all``
    says whether that is all of them), so only values never seen count as new.
    ``fill`` replaces a missing number/date/yes-no (the training median / mode).
    """

    column: str
    kind: str
    levels: tuple[str, ...] = ()
    fill: float = 0.0
    has_missing: bool = False
    pooled: tuple[str, ...] = ()
    pooled_all: bool = True

    def design_columns(self) -> list[str]:
        if self.kind == CATEGORY:
            return [f"{self.column}={level}" for level in self.levels[1:]]
        return [self.column] + ([f"{self.column}（空白）"] if self.has_missing else [])


def feature_columns(frame: pd.DataFrame, exclude: tuple[str, ...]) -> list[str]:
    """The open columns of a campaign frame: everything but the id and the label."""
    return [c for c in frame.columns if c not in ("customer_id", "label", *exclude)]


def infer_features(
    frame: pd.DataFrame,
    columns: list[str],
    sheet: str,
    as_of: pd.Timestamp,
    rows: pd.Index | None = None,
    typed: dict | None = None,
) -> tuple[list[Feature], pd.DataFrame, list[Problem]]:
    """Features from the open columns of a campaign list: kinds inferred, useless ones set aside.

    Returns (features, ignored columns as a frame 欄位/原因, problems). A column is ignored
    when it is all blank, constant, or id-like (every value different); categories keep levels
    seen on ≥ 1% of rows (at least 10 rows, at most 30 levels). ``rows`` restricts the levels,
    medians and modes to the training rows (what the model may learn from). ``typed``, when given,
    receives each feature's typed values (:func:`typed_values`), so a caller need not parse them again.

    >>> f, ignored, _ = infer_features(pd.DataFrame({"年齡": ["30", "40"] * 30, "代號": [f"X{i}" for i in range(60)]}),
    ...                                ["年齡", "代號"], "名單", pd.Timestamp("2024-01-01"))
    >>> [(x.column, x.kind) for x in f], ignored["欄位"].tolist()
    ([('年齡', 'number')], ['代號'])
    """
    columns = list(columns)
    fit_pos = np.arange(len(frame)) if rows is None else frame.index.get_indexer(rows)
    parsed = _parse_columns([frame[c] for c in columns], as_of)
    verdicts: dict[int, tuple] = {}  # column position → (feature or None, ignore reason/fix, problems)
    plain = [j for j, p in enumerate(parsed) if p.kind not in (None, CATEGORY)]
    block = max(1, 5_000_000 // max(1, len(frame)))  # the typed values of a few million cells at a time
    for at in range(0, len(plain), block):
        verdicts.update(_plain_verdicts([parsed[j] for j in plain[at : at + block]], plain[at : at + block], fit_pos))
    for j, p in enumerate(parsed):
        if p.kind is None:
            verdicts[j] = (None, ("整欄都是空白", "若這欄有資料請填入；空欄可刪除"), _NO_ROWS)
        elif p.kind == CATEGORY:
            verdicts[j] = (*_category_verdict(p, fit_pos), _NO_ROWS)
    features, ignored, problems = [], [], []
    for j, column in enumerate(columns):  # each column's verdict, in list order
        feature, reason, bad_rows = verdicts[j]
        if feature is None:
            ignored.append({"欄位": column, "原因": reason[0]})
            problems.append(Problem(sheet, None, column, None, f"此欄未用於預測：{reason[0]}", reason[1], WARNING))
            continue
        feature = Feature(column, *feature)
        p = parsed[j]
        problems += [
            Problem(sheet, int(row), column, str(value), "不是數字，視為空白", "請只寫數字", WARNING)
            for row, value in zip(frame.index[bad_rows], p.uniques[p.codes[bad_rows]])
        ]
        features.append(feature)
        if typed is not None:
            typed[column] = pd.Series(p.parsed[p.codes], index=frame.index, dtype=p.parsed.dtype)
    return features, pd.DataFrame(ignored, columns=["欄位", "原因"]), problems


_NO_ROWS = np.empty(0, dtype=np.int64)
_CONSTANT = ("所有客戶的值都一樣（常數）", "常數欄位無法區分客戶，可刪除")
_ID_LIKE = ("每位客戶的值都不同（像編號）", "編號、姓名、電話等欄位不能用來預測，可保留但不影響結果")


@dataclass
class _Parsed:
    """One column read once: its kind, ``codes`` (cell → index into ``parsed``; the last entry stands
    for blank cells), the distinct raw values (``uniques``) and their typed values (``parsed``)."""

    kind: str | None
    codes: np.ndarray
    uniques: np.ndarray
    parsed: np.ndarray
    blank: np.ndarray  # per distinct value: blank (missing or white space)


def _parse_columns(series: list[pd.Series], as_of: pd.Timestamp) -> list[_Parsed]:
    """Each column's kind (:func:`infer_kind`'s rules) and typed values, every parser run once over the
    distinct values of all the columns together: a list of 2,000 columns costs a few calls, not
    thousands (per column, the fixed costs of the parsers were most of a minute)."""
    factors = [pd.factorize(s.to_numpy(dtype=object), use_na_sentinel=True) for s in series]
    sizes = np.array([len(u) for _, u in factors], dtype=np.int64)
    owner = np.repeat(np.arange(len(factors)), sizes)
    values = np.concatenate([np.asarray(u, dtype=object) for _, u in factors]) if len(factors) else np.empty(0, object)
    counts = np.concatenate([np.bincount(c[c >= 0], minlength=len(u)) for c, u in factors] + [np.empty(0)])
    blank = is_blank(pd.Series(values, dtype=object)).to_numpy(dtype=bool)
    weight = np.where(blank, 0.0, counts)
    filled = np.bincount(owner, weight, minlength=len(factors))
    numbers = np.full(len(values), np.nan)
    numbers[~blank] = _numbers(pd.Series(values[~blank], dtype=object)).to_numpy(dtype=float)
    number_share = np.bincount(owner, np.where(np.isnan(numbers), 0.0, weight), minlength=len(factors))
    # a number other than 0/1 is no yes/no: only the other columns' values are read as yes/no
    not_bool = np.bincount(owner, ~np.isnan(numbers) & ~np.isin(numbers, (0.0, 1.0)), minlength=len(factors)) > 0
    kinds: list[str | None] = [None if f == 0 else "" for f in filled]
    bools = _by_column(values, owner, ~blank, [j for j, k in enumerate(kinds) if k == "" and not not_bool[j]])
    if bools is not None:
        parsed_bools, bad = parse_bools(pd.Series(values[bools], dtype=object))
        failed = np.bincount(owner[bools], bad.to_numpy(dtype=bool), minlength=len(factors)) > 0
        for j in np.unique(owner[bools]):
            kinds[j] = BOOLEAN if not failed[j] else ""
    for j, kind in enumerate(kinds):
        if kind == "" and number_share[j] >= 0.95 * filled[j]:
            kinds[j] = NUMBER
    dated = _by_column(values, owner, ~blank, [j for j, k in enumerate(kinds) if k == ""])
    if dated is not None:
        bad = parse_dates(pd.Series(values[dated], dtype=object))[1].to_numpy(dtype=bool)
        good = np.bincount(owner[dated], np.where(bad, 0.0, weight[dated]), minlength=len(factors))
        for j in np.unique(owner[dated]):
            kinds[j] = DATE if good[j] >= 0.95 * filled[j] else CATEGORY
    ends = np.cumsum(sizes)
    out = []
    for j, (codes, _) in enumerate(factors):
        lo, hi = ends[j] - sizes[j], ends[j]
        out.append(_Parsed(kinds[j], np.where(codes < 0, sizes[j], codes), values[lo:hi], numbers[lo:hi], blank[lo:hi]))
    for kind in (BOOLEAN, DATE, CATEGORY):  # typed values: one call per kind over its columns' distinct values
        of_kind = [p for p in out if p.kind == kind]
        if not of_kind:
            continue
        cells = pd.Series(np.concatenate([np.append(p.uniques, None) for p in of_kind]), dtype=object)
        typed_all = _typed_values(cells, kind, as_of).to_numpy(dtype=object if kind == CATEGORY else float)
        at = 0
        for p in of_kind:
            p.parsed, at = typed_all[at : at + len(p.uniques) + 1], at + len(p.uniques) + 1
    for p in out:
        if p.kind == NUMBER:  # the numbers read above, blank cells NaN
            p.parsed = np.append(p.parsed, np.nan)
    return out


def _by_column(values: np.ndarray, owner: np.ndarray, keep: np.ndarray, columns: list[int]) -> np.ndarray | None:
    """Mask of the distinct values (``keep`` among them) that belong to ``columns``, or None if none."""
    if not columns:
        return None
    mask = np.isin(owner, columns) & keep
    return mask if mask.any() else None


def _plain_verdicts(parsed: list[_Parsed], positions: list[int], fit_pos: np.ndarray) -> dict[int, tuple]:
    """Numbers, dates and yes/no columns judged together on one float block: constant, id-like, or a
    feature (kind, fill, has_missing) with the rows whose cell is not a number."""
    values = np.column_stack([p.parsed[p.codes] for p in parsed]).astype(float)
    train = values[fit_pos]
    present = ~np.isnan(train)
    n_filled = present.sum(axis=0)
    ordered = np.sort(train, axis=0)  # NaN last
    distinct = ((np.diff(ordered, axis=0) != 0) & ~np.isnan(ordered[1:])).sum(axis=0) + (n_filled > 0)
    whole = np.where(present, train == np.floor(train), True).all(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column blank on every training row: no median
        medians = np.nanmedian(train, axis=0) if len(train) else np.full(len(parsed), np.nan)
    ones, zeros = (train == 1).sum(axis=0), (train == 0).sum(axis=0)
    missing = np.isnan(values).any(axis=0)
    out = {}
    for i, (p, j) in enumerate(zip(parsed, positions)):
        if distinct[i] <= 1:
            out[j] = (None, _CONSTANT, _NO_ROWS)
            continue
        if p.kind == NUMBER and n_filled[i] >= 20 and distinct[i] == n_filled[i] and whole[i]:
            out[j] = (None, _ID_LIKE, _NO_ROWS)
            continue
        bad_rows = _NO_ROWS
        if p.kind == NUMBER:
            bad = np.append(np.isnan(p.parsed[:-1]) & ~p.blank, False)
            bad_rows = np.flatnonzero(bad[p.codes])[:20]
        fill = float(medians[i]) if p.kind != BOOLEAN else (1.0 if ones[i] > zeros[i] else 0.0)
        out[j] = ((p.kind, (), fill, bool(missing[i])), None, bad_rows)
    return out


def _category_verdict(p: _Parsed, fit_pos: np.ndarray) -> tuple:
    """(feature fields or None, ignore reason) of a category column, from its training rows' levels."""
    train = pd.Series(p.parsed[p.codes[fit_pos]], dtype=object)
    filled = train[train != BLANK]
    distinct = filled.nunique()
    if distinct <= 1:
        return None, _CONSTANT
    if len(filled) >= 20 and distinct == len(filled):
        return None, _ID_LIKE
    counts = train.value_counts()
    keep = counts[(counts >= max(10, 0.01 * len(train)))].index[:30].tolist()
    if len(keep) == 0:
        return None, ("每個值都太少見", "類別太分散，請合併成較少的類別")
    rare = [str(v) for v in counts.index if v not in set(keep) and v != BLANK]
    # OTHER is always a level: rare values now and values never seen in training share it
    levels = tuple(str(v) for v in keep if v != OTHER) + (OTHER,)
    return (CATEGORY, levels, 0.0, False, tuple(rare[:MAX_POOLED_KEPT]), len(rare) <= MAX_POOLED_KEPT), None


def infer_kind(series: pd.Series) -> str | None:
    """The kind of a feature column from its non-blank cells, or None if all are blank.

    yes/no when every cell reads as 是/否 (incl. 1/0); number when ≥ 95% are numbers; date when
    ≥ 95% read as dates (and they are not plain numbers); otherwise a category. Each distinct value
    is parsed once; shares are weighted by how many cells hold it.

    >>> [infer_kind(pd.Series(v)) for v in (["是", "否"], ["3", "4.5"], ["113/01/05", "2024-3-1"], ["藍領", "老闆"])]
    ['bool', 'number', 'date', 'category']
    """
    return _parse_columns([pd.Series(series)], pd.Timestamp("2000-01-01"))[0].kind


def design_matrix(frame: pd.DataFrame, features: list[Feature], as_of: pd.Timestamp) -> tuple[pd.DataFrame, dict]:
    """The numeric matrix every model reads: numbers/dates/yes-no (missing → fill + indicator),
    categories one-hot against their most frequent level; unseen levels count as :data:`OTHER`.

    Returns (matrix, {column: count of values never seen in training}) — the counts let a shell
    say "3 customers had a 行業別 the model never saw" (rare levels seen in training are pooled
    but not new; a feature whose rare levels were too many to remember is not counted).

    >>> X, unseen = design_matrix(pd.DataFrame({"行業": ["藍領", "老闆", "學生", "漁民"]}),
    ...                           [Feature("行業", CATEGORY, ("藍領", "老闆", OTHER), pooled=("漁民",))],
    ...                           pd.Timestamp("2024-01-01"))
    >>> X.columns.tolist(), X.iloc[2].tolist(), unseen
    (['行業=老闆', '行業=（少見或新值）'], [0.0, 1.0], {'行業': 1})
    """
    design = [c for f in features for c in f.design_columns()]
    X = np.zeros((len(frame), len(design)))  # one block: no per-column frames to consolidate
    unseen, at = {}, 0
    for f in features:  # one pass per column; rows are handled by numpy takes on distinct values
        codes, parsed = typed_distinct(frame[f.column], f.kind, as_of)
        if f.kind == CATEGORY:
            level = pd.Index(f.levels).get_indexer(parsed)  # -1: not a kept level → the pool
            new = (level < 0) & ~parsed.isin(f.pooled).to_numpy() & (parsed != BLANK).to_numpy()
            if f.pooled_all and new.any():
                unseen[f.column] = int(np.bincount(codes, minlength=len(parsed))[new].sum())
            level = np.where(level < 0, len(f.levels) - 1, level)[codes]  # OTHER is the last level
            rows = np.flatnonzero(level > 0)  # level 0 is the reference: all zeros
            X[rows, at + level[rows] - 1] = 1.0
            at += len(f.levels) - 1
        else:
            values = parsed.to_numpy(dtype=float)[codes]
            missing = np.isnan(values)
            X[:, at] = np.where(missing, f.fill, values)
            if f.has_missing:
                X[:, at + 1] = missing
            at += 1 + f.has_missing
    return pd.DataFrame(X, index=frame.index, columns=design), unseen


def typed_values(series: pd.Series, kind: str, as_of: pd.Timestamp) -> pd.Series:
    """A raw column as the kind says: float for numbers/dates (days before ``as_of``)/yes-no, text
    for categories (blank → :data:`BLANK`).

    Each distinct cell value is parsed once and the result spread back (a million-row list has a
    few hundred distinct values per column; parsing them one by one is what costs).

    >>> typed_values(pd.Series(["是", "否", None]), BOOLEAN, pd.Timestamp("2024-01-01")).tolist()
    [1.0, 0.0, nan]
    """
    series = pd.Series(series)
    codes, parsed = typed_distinct(series, kind, as_of)
    return pd.Series(parsed.to_numpy()[codes], index=series.index, dtype=parsed.dtype)


def typed_distinct(series: pd.Series, kind: str, as_of: pd.Timestamp) -> tuple[np.ndarray, pd.Series]:
    """(codes, parsed distinct values): cell i is ``parsed[codes[i]]`` (the last one stands for blank
    cells), so a caller can work on the few distinct values and spread the result with one take."""
    codes, uniques = pd.factorize(pd.Series(series).astype(object), use_na_sentinel=True)
    parsed = _typed_values(pd.Series(np.append(uniques.to_numpy(dtype=object), None), dtype=object), kind, as_of)
    return np.where(codes < 0, len(uniques), codes), parsed.reset_index(drop=True)


def _typed_values(series: pd.Series, kind: str, as_of: pd.Timestamp) -> pd.Series:
    if kind == NUMBER:
        return _numbers(series)
    if kind == BOOLEAN:
        return parse_bools(series)[0].astype("Float64").astype(float)
    if kind == DATE:
        dates = parse_dates(series)[0]
        return ((as_of - dates).dt.days).astype(float)
    text = normalise_text(
        pd.Series(series)
        .astype(object)
        .map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else v, na_action="ignore")
    )
    return text.where(~is_blank(series) & text.notna(), BLANK).astype(object)


def _numbers(series: pd.Series) -> pd.Series:
    """Numbers from cells typed as numbers or as text, the way reps type amounts ("1,200", "61萬",
    "3萬5千", full-width digits): :func:`~processor.read.values.parse_amounts`, one reading for every
    sheet kind. Yes/no cells are not numbers here.

    >>> _numbers(pd.Series(["61萬", "1,200", "３", "abc", True], dtype=object)).tolist()
    [610000.0, 1200.0, 3.0, nan, nan]
    """
    obj = pd.Series(series).astype(object)
    if pd.api.types.infer_dtype(obj, skipna=True) not in ("string", "empty", "floating", "integer"):
        obj = obj.where(~obj.map(lambda v: isinstance(v, bool)), None)  # (text and numbers hold no bool)
    return parse_amounts(obj)[0].astype(float)


def leakage(X_typed: pd.DataFrame, y: pd.Series, features: list[Feature], random_state: int = 0) -> pd.DataFrame:
    """Features that alone (almost) perfectly predict the label — usually recorded after the sale.

    :func:`univariate_auc` ≥ :data:`LEAK_AUC` flags leakage. Returns 欄位 / 單獨預測 AUC.
    """
    aucs = univariate_auc(X_typed, y, features, random_state)
    return aucs[aucs["單獨預測 AUC"] >= LEAK_AUC].round(4).reset_index(drop=True)


def univariate_auc(X_typed: pd.DataFrame, y: pd.Series, features: list[Feature], random_state: int = 0) -> pd.DataFrame:
    """How well each feature alone ranks buyers on the labelled rows: AUC folded to ≥ 0.5.

    Numbers, dates and yes/no by their value; categories by their levels as the model sees them
    (rare ones pooled) and each row's level buy rate learnt on the *other* folds (5-fold), so a
    column of unique notes cannot look perfect by memorising itself. A feature with one value on
    these rows has no AUC and is left out. Returns 欄位 / 單獨預測 AUC in feature order.
    """
    from scipy.stats import rankdata
    from sklearn.model_selection import StratifiedKFold

    y_arr = y.to_numpy(dtype=int)
    folds = list(
        StratifiedKFold(int(min(5, np.bincount(y_arr).min())), shuffle=True, random_state=random_state).split(
            np.zeros(len(y_arr)), y_arr
        )
    )
    prior = y_arr.mean()
    buyers, others = int(y_arr.sum()), int(len(y_arr) - y_arr.sum())
    rows = []
    block = max(1, 5_000_000 // max(1, len(y_arr)))  # a few million scores ranked at a time
    for at in range(0, len(features), block):
        chunk = features[at : at + block]
        scores = np.empty((len(y_arr), len(chunk)))
        for i, f in enumerate(chunk):  # each column's score; the AUCs below are one rank pass for the block
            values = X_typed[f.column]
            if f.kind == CATEGORY:
                codes = pd.Categorical(values.where(values.isin(f.levels), OTHER), categories=list(f.levels)).codes
                for fit, held in folds:  # out-of-fold level rates, shrunk toward the overall rate
                    n = np.bincount(codes[fit], minlength=len(f.levels))
                    bought = np.bincount(codes[fit], weights=y_arr[fit], minlength=len(f.levels))
                    scores[held, i] = ((bought + 10 * prior) / (n + 10))[codes[held]]
            else:
                scores[:, i] = values.fillna(f.fill).to_numpy(dtype=float)
        # AUC as the Mann–Whitney statistic: the buyers' mean rank (ties averaged, i.e. counted half)
        ranks = rankdata(scores, axis=0)
        auc = (ranks[y_arr == 1].sum(axis=0) - buyers * (buyers + 1) / 2) / (buyers * others)
        usable = (scores.min(axis=0) < scores.max(axis=0)) if len(scores) else np.zeros(len(chunk), dtype=bool)
        rows += [{"欄位": f.column, "單獨預測 AUC": float(max(a, 1 - a))} for f, a, ok in zip(chunk, auc, usable) if ok]
    return pd.DataFrame(rows, columns=["欄位", "單獨預測 AUC"])


def screen(
    aucs: pd.DataFrame, features: list[Feature], limit: int = MAX_FEATURES
) -> tuple[list[Feature], pd.DataFrame]:
    """At most ``limit`` features for the models: those whose :func:`univariate_auc` (computed on the
    training rows only) is highest, ties by column order; kept features stay in list order.
    A cheap univariate screen (Guyon & Elisseeff 2003, "An Introduction to Variable and Feature
    Selection", JMLR 3 §2: variable ranking), run only on lists wider than the limit, so an
    ordinary list is fitted exactly as before.

    Returns (kept features, the set-aside ones as 欄位 / 單獨預測 AUC, strongest first).

    >>> fs = [Feature(c, NUMBER) for c in "abc"]
    >>> kept, dropped = screen(pd.DataFrame({"欄位": list("abc"), "單獨預測 AUC": [0.55, 0.7, 0.6]}), fs, 2)
    >>> [f.column for f in kept], dropped["欄位"].tolist()
    (['b', 'c'], ['a'])
    """
    if len(features) <= limit:
        return features, pd.DataFrame(columns=["欄位", "單獨預測 AUC"])
    auc = aucs.set_index("欄位")["單獨預測 AUC"].reindex([f.column for f in features]).fillna(0.5)
    order = np.argsort(-auc.to_numpy(), kind="stable")
    keep = set(auc.index[order[:limit]])
    dropped = pd.DataFrame({"欄位": auc.index[order[limit:]], "單獨預測 AUC": auc.to_numpy()[order[limit:]].round(4)})
    return [f for f in features if f.column in keep], dropped.reset_index(drop=True)
