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
#: rows best (:func:`screen`). Fitting costs grow with the columns (the regularised logistic fit roughly
#: with their cube): 300 columns took 79 s and 2,000 over 10 minutes before this cap. Ordinary lists
#: (tens of columns) are below it and untouched.
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
    features, ignored, problems = [], [], []
    fit_rows = frame.index if rows is None else rows

    def ignore(column: str, reason: str, fix: str):
        ignored.append({"欄位": column, "原因": reason})
        problems.append(Problem(sheet, None, column, None, f"此欄未用於預測：{reason}", fix, WARNING))

    for column in columns:  # one pass per column, each vectorised over rows
        raw = frame[column]
        kind = infer_kind(raw)
        if kind is None:
            ignore(column, "整欄都是空白", "若這欄有資料請填入；空欄可刪除")
            continue
        values = typed_values(raw, kind, as_of)
        train = values.loc[fit_rows]
        filled = train[train != BLANK] if kind == CATEGORY else train.dropna()
        distinct = filled.nunique()
        if distinct <= 1:
            ignore(column, "所有客戶的值都一樣（常數）", "常數欄位無法區分客戶，可刪除")
            continue
        if (
            kind in (CATEGORY, NUMBER)
            and len(filled) >= 20
            and distinct == len(filled)
            and (kind == CATEGORY or (filled == np.floor(filled)).all())
        ):
            ignore(column, "每位客戶的值都不同（像編號）", "編號、姓名、電話等欄位不能用來預測，可保留但不影響結果")
            continue
        if kind == NUMBER:
            bad = values.isna() & ~is_blank(raw)
            problems += [
                Problem(sheet, int(row), column, str(raw[row]), "不是數字，視為空白", "請只寫數字", WARNING)
                for row in bad[bad].index[:20]
            ]
        if kind == CATEGORY:
            counts = train.value_counts()
            keep = counts[(counts >= max(10, 0.01 * len(train)))].index[:30].tolist()
            if len(keep) == 0:
                ignore(column, "每個值都太少見", "類別太分散，請合併成較少的類別")
                continue
            rare = [str(v) for v in counts.index if v not in set(keep) and v != BLANK]
            # OTHER is always a level: rare values now and values never seen in training share it
            features.append(
                Feature(
                    column,
                    kind,
                    tuple(str(v) for v in keep if v != OTHER) + (OTHER,),
                    pooled=tuple(rare[:MAX_POOLED_KEPT]),
                    pooled_all=len(rare) <= MAX_POOLED_KEPT,
                )
            )
        else:
            fill = float(filled.median()) if kind != BOOLEAN else float(filled.mode().iloc[0])
            features.append(Feature(column, kind, fill=fill, has_missing=bool(values.isna().any())))
        if typed is not None:
            typed[column] = values
    return features, pd.DataFrame(ignored, columns=["欄位", "原因"]), problems


def infer_kind(series: pd.Series) -> str | None:
    """The kind of a feature column from its non-blank cells, or None if all are blank.

    yes/no when every cell reads as 是/否 (incl. 1/0); number when ≥ 95% are numbers; date when
    ≥ 95% read as dates (and they are not plain numbers); otherwise a category.

    >>> [infer_kind(pd.Series(v)) for v in (["是", "否"], ["3", "4.5"], ["113/01/05", "2024-3-1"], ["藍領", "老闆"])]
    ['bool', 'number', 'date', 'category']
    """
    codes, uniques = pd.factorize(pd.Series(series).astype(object), use_na_sentinel=True)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques)).astype(float)
    values = pd.Series(uniques.to_numpy(dtype=object), dtype=object)
    filled = ~is_blank(values).to_numpy()
    values, counts = values[filled].reset_index(drop=True), counts[filled]
    if not len(values):
        return None
    # each distinct value is parsed once; shares are weighted by how many cells hold it
    bools, bad = parse_bools(values)
    if not bad.any() and bools.nunique() <= 2:
        return BOOLEAN
    if counts[_numbers(values).notna().to_numpy()].sum() >= 0.95 * counts.sum():
        return NUMBER
    dates, bad = parse_dates(values)
    if counts[~bad.to_numpy()].sum() >= 0.95 * counts.sum():
        return DATE
    return CATEGORY


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
    return parse_amounts(obj.where(~obj.map(lambda v: isinstance(v, bool)), None))[0].astype(float)


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
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    y_arr = y.to_numpy(dtype=int)
    folds = list(
        StratifiedKFold(int(min(5, np.bincount(y_arr).min())), shuffle=True, random_state=random_state).split(
            np.zeros(len(y_arr)), y_arr
        )
    )
    prior = y_arr.mean()
    rows = []
    for f in features:  # one AUC per column
        values = X_typed[f.column]
        if f.kind == CATEGORY:
            codes = pd.Categorical(values.where(values.isin(f.levels), OTHER), categories=list(f.levels)).codes
            score = np.empty(len(y_arr))
            for fit, held in folds:  # out-of-fold level rates, shrunk toward the overall rate
                n = np.bincount(codes[fit], minlength=len(f.levels))
                buyers = np.bincount(codes[fit], weights=y_arr[fit], minlength=len(f.levels))
                score[held] = ((buyers + 10 * prior) / (n + 10))[codes[held]]
        else:
            score = values.fillna(f.fill).to_numpy(dtype=float)
        if np.unique(score).size < 2:
            continue
        auc = roc_auc_score(y_arr, score)
        rows.append({"欄位": f.column, "單獨預測 AUC": float(max(auc, 1 - auc))})
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
