"""Purchase probability: who on a campaign list is likely to buy, and whom calling pays for.

DESIGN §4 "Purchase probability", from seeds 000, 001 and 003:

* seed 001 §5.1: labelled customers are the *training group*, unlabelled ones the *target
  group*; the model learnt on the first scores the second. When every row is labelled (seed
  000's worked example) the list is split 80/20 (stratified, fixed seed), the 20% test set
  validates, and every customer still gets an out-of-fold probability.
* seed 001 §5.4: train / test / all must look alike (mean, standard deviation, mode).
* seed 001 §5.5: an interpretable Gini decision tree, pruned, read as IF … THEN rules with
  confidence; error weighting (出錯加權) instead of balanced resampling; beside it a logistic
  regression (odds ratios) and gradient boosting. The model used for the list is chosen by
  cross-validation on the training data only, and its probabilities are calibrated (Platt).
* seed 000: expected profit = p × (price − cost) − contact cost (2,500 / 750 / 175); call
  where it is positive; compare "call the list" with "call everyone".

Everything here is a pure function of DataFrames and :class:`~processor.settings.Settings`;
no clock, no I/O (persistence lives in :mod:`processor.models`).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from processor.errors import WARNING, Problem
from processor.sheets.report import Block, Chart, ResultSheet
from processor.settings import Settings
from processor.read.values import is_blank, normalise_text, parse_bools, parse_dates

if TYPE_CHECKING:
    from processor.pipeline import Context, Contribution

NUMBER, CATEGORY, BOOLEAN, DATE = "number", "category", "bool", "date"
KIND_LABELS = {NUMBER: "數字", CATEGORY: "類別", BOOLEAN: "是/否", DATE: "日期（距今天數）"}
#: the pool of rare and never-seen category levels; not "其他", so a real 其他 level stays itself
OTHER, BLANK = "（少見或新值）", "（空白）"
MAX_POOLED_KEPT = 2000  # rare training levels remembered, so a new list's truly new values can be counted
LEAK_AUC = 0.95  # one column alone ranking buyers this well is almost certainly recorded after the sale
#: OpenMP/BLAS threads for fitting and predicting: half the cores. Threads beyond the free cores
#: spin-wait (measured on a busy 2-core box: 1 thread 2–5× faster than 2 for Newton and boosting)
THREADS = max(1, (os.cpu_count() or 2) // 2)
MIN_LABELLED = 50
MIN_PER_CLASS = 5
MODELS = ("logit", "tree", "boosting")
MODEL_LABELS = {"logit": "邏輯迴歸", "tree": "決策樹（Gini，已修剪）", "boosting": "梯度提升"}
TRAIN, TEST, TARGET = "訓練", "測試", "目標"


# --------------------------------------------------------------------------- features


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


def _numbers(series: pd.Series) -> pd.Series:
    """Numbers from cells typed as numbers or as text ("1,200", full-width digits)."""
    obj = pd.Series(series).astype(object)
    text = normalise_text(obj.where(~obj.map(lambda v: isinstance(v, bool)), None)).str.replace(",", "", regex=False)
    return pd.to_numeric(text, errors="coerce").astype(float)


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
    text = normalise_text(pd.Series(series).astype(object).map(
        lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else v, na_action="ignore"))
    return text.where(~is_blank(series) & text.notna(), BLANK).astype(object)


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


def infer_features(frame: pd.DataFrame, columns: list[str], sheet: str, as_of: pd.Timestamp,
                   rows: pd.Index | None = None) -> tuple[list[Feature], pd.DataFrame, list[Problem]]:
    """Features from the open columns of a campaign list: kinds inferred, useless ones set aside.

    Returns (features, ignored columns as a frame 欄位/原因, problems). A column is ignored
    when it is all blank, constant, or id-like (every value different); categories keep levels
    seen on ≥ 1% of rows (at least 10 rows, at most 30 levels). ``rows`` restricts the levels,
    medians and modes to the training rows (what the model may learn from).

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
        if kind in (CATEGORY, NUMBER) and len(filled) >= 20 and distinct == len(filled) and (
                kind == CATEGORY or (filled == np.floor(filled)).all()):
            ignore(column, "每位客戶的值都不同（像編號）", "編號、姓名、電話等欄位不能用來預測，可保留但不影響結果")
            continue
        if kind == NUMBER:
            bad = values.isna() & ~is_blank(raw)
            problems += [Problem(sheet, int(row), column, str(raw[row]), "不是數字，視為空白",
                                 "請只寫數字", WARNING) for row in bad[bad].index[:20]]
        if kind == CATEGORY:
            counts = train.value_counts()
            keep = counts[(counts >= max(10, 0.01 * len(train)))].index[:30].tolist()
            if len(keep) == 0:
                ignore(column, "每個值都太少見", "類別太分散，請合併成較少的類別")
                continue
            rare = [str(v) for v in counts.index if v not in set(keep) and v != BLANK]
            # OTHER is always a level: rare values now and values never seen in training share it
            features.append(Feature(column, kind, tuple(str(v) for v in keep if v != OTHER) + (OTHER,),
                                    pooled=tuple(rare[:MAX_POOLED_KEPT]), pooled_all=len(rare) <= MAX_POOLED_KEPT))
        else:
            fill = float(filled.median()) if kind != BOOLEAN else float(filled.mode().iloc[0])
            features.append(Feature(column, kind, fill=fill, has_missing=bool(values.isna().any())))
    return features, pd.DataFrame(ignored, columns=["欄位", "原因"]), problems


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


# --------------------------------------------------------------------------- labels


def parse_label(series: pd.Series, sheet: str, column: str) -> tuple[pd.Series, list[Problem]]:
    """The 0/1 label: 1/0, 是/否, Y/N …; blank = not yet known (target group).

    Any other value (2, 也許 …) makes that row unlabelled (scored, not trained on) and is an
    error: one summary naming ``column`` (the input's own header) with every other value and its
    count, then one line per cell (capped like every per-cell check). Each distinct value is
    read once.

    >>> y, problems = parse_label(pd.Series(["1", "0", "是", None, "1.0", "2", "也許", "2"]), "名單", "買A商品")
    >>> y.tolist()[:5], problems[0].value, len(problems)
    ([1.0, 0.0, 1.0, nan, 1.0], '2（2 列）、也許（1 列）', 4)
    """
    from processor.read.parse import _capped

    series = pd.Series(series)
    codes, uniques = pd.factorize(series.astype(object), use_na_sentinel=True)
    distinct = pd.Series(uniques.to_numpy(dtype=object), dtype=object)
    numbers = _numbers(distinct)
    bools = parse_bools(distinct)[0]
    label = numbers.where(numbers.isin([0.0, 1.0]))
    label = label.where(label.notna(), bools.astype("Float64").astype(float))
    bad_distinct = (label.isna() & ~is_blank(distinct)).to_numpy()
    y = pd.Series(np.append(label.to_numpy(dtype=float), np.nan)[np.where(codes < 0, len(uniques), codes)],
                  index=series.index)
    problems: list[Problem] = []
    if bad_distinct.any():
        bad = np.isin(codes, np.flatnonzero(bad_distinct))
        shown = normalise_text(series[bad]).value_counts()
        others = "、".join(f"{v}（{n:,} 列）" for v, n in shown.head(12).items()) + ("…" if len(shown) > 12 else "")
        rows = series.index[bad]
        fix = "已購買寫 1 或 是、未購買寫 0 或 否，還不知道的留白"
        problems.append(Problem(sheet, int(rows[0]), column, others,
                                f"標籤欄「{column}」只能有兩類（1/0 或 是/否）；另有 {len(shown)} 種其他值共 "
                                f"{int(bad.sum()):,} 列，這些列當作未知結果（只評分、不拿來訓練）", fix))
        problems += _capped([Problem(sheet, int(row), column, str(series[row]), "不是 1/0 或 是/否，此列當作未知結果", fix)
                             for row in rows])
    return y, problems


def leakage(X_typed: pd.DataFrame, y: pd.Series, features: list[Feature], random_state: int = 0) -> pd.DataFrame:
    """Features that alone (almost) perfectly predict the label — usually recorded after the sale.

    Univariate AUC of each feature on the labelled rows: numbers, dates and yes/no by their value;
    categories by their levels as the model sees them (rare ones pooled) and each row's level buy
    rate learnt on the *other* folds (5-fold), so a column of unique notes cannot look perfect by
    memorising itself. AUC ≥ :data:`LEAK_AUC` flags leakage. Returns 欄位 / 單獨預測 AUC.
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    y_arr = y.to_numpy(dtype=int)
    folds = list(StratifiedKFold(int(min(5, np.bincount(y_arr).min())), shuffle=True,
                                 random_state=random_state).split(np.zeros(len(y_arr)), y_arr))
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
        auc = max(auc, 1 - auc)
        if auc >= LEAK_AUC:
            rows.append({"欄位": f.column, "單獨預測 AUC": round(float(auc), 4)})
    return pd.DataFrame(rows, columns=["欄位", "單獨預測 AUC"])


# --------------------------------------------------------------------------- models


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))


def class_weights(settings: Settings) -> dict[int, float]:
    """Error weights (seed 001 §5.5.2 出錯加權) from the economics: missing a buyer costs the
    margin less the call, calling a non-buyer costs the call. With these weights a tree leaf
    says "call" exactly when its buy rate beats the break-even p = contact / (price − cost).

    >>> class_weights(Settings())
    {0: 175.0, 1: 1575.0}
    """
    margin = settings.price - settings.cost
    if margin <= settings.contact_cost:
        return {0: 1.0, 1: 1.0}
    return {0: float(settings.contact_cost), 1: float(margin - settings.contact_cost)}


def break_even(settings: Settings) -> float:
    """The probability above which calling pays: contact cost / (price − cost) (seed 000: 175/1750 = 10%).

    >>> break_even(Settings())
    0.1
    """
    margin = settings.price - settings.cost
    return 1.0 if margin <= 0 else min(1.0, settings.contact_cost / margin)


@dataclass
class LogitFit:
    """statsmodels logistic regression, kept as arrays so it saves without pickle."""

    names: list[str]
    params: np.ndarray  # intercept first
    bse: np.ndarray
    pvalues: np.ndarray
    regularised: bool = False
    converged: bool = True

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return _sigmoid(self.params[0] + X[self.names].to_numpy(dtype=float) @ self.params[1:])


def fit_logit(X: pd.DataFrame, y: np.ndarray) -> LogitFit:
    """Logistic regression by statsmodels (maximum likelihood, Newton); on (quasi-)separation or a
    singular design it falls back to a lightly L2-regularised fit without p-values."""
    import statsmodels.api as sm

    keep = [c for c in X.columns if X[c].std() > 0]
    design = sm.add_constant(X[keep].to_numpy(dtype=float), has_constant="add")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = sm.Logit(y, design).fit(disp=0, maxiter=100, method="newton")
        params, bse, pvalues = np.asarray(result.params), np.asarray(result.bse), np.asarray(result.pvalues)
        if not np.all(np.isfinite(bse)) or np.abs(params).max() > 30:
            raise np.linalg.LinAlgError("separation")
        return LogitFit(keep, params, bse, pvalues)
    except Exception:  # statsmodels raises several types (PerfectSeparation, LinAlgError, warnings)
        from statsmodels.tools.sm_exceptions import ConvergenceWarning

        with warnings.catch_warnings(record=True) as caught:  # said in the odds table's title, not on stderr
            warnings.simplefilter("always")
            result = sm.Logit(y, design).fit_regularized(disp=0, alpha=1.0, L1_wt=0.0, maxiter=200)
        params = np.asarray(result.params)
        nan = np.full_like(params, np.nan)
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught) and bool(
            result.mle_retvals.get("converged", True))
        return LogitFit(keep, params, nan, nan, regularised=True, converged=converged)


def fit_tree(X: pd.DataFrame, y: np.ndarray, settings: Settings, folds: list) -> object:
    """A Gini decision tree with error weights, cost-complexity pruned: the pruning strength is
    the one whose cross-validated profit (calling the leaves that say "call") is highest."""
    from sklearn.tree import DecisionTreeClassifier

    weights = class_weights(settings)
    base = dict(criterion="gini", class_weight=weights, max_depth=6, random_state=settings.random_state,
                min_samples_leaf=max(10, len(y) // 200))
    path = DecisionTreeClassifier(**base).cost_complexity_pruning_path(X, y)
    alphas = np.unique(np.quantile(path.ccp_alphas[:-1] if len(path.ccp_alphas) > 1 else [0.0],
                                   [0.0, 0.5, 0.75, 0.9, 0.97]))
    margin, contact = settings.price - settings.cost, settings.contact_cost

    def cv_profit(alpha: float) -> float:
        total = 0.0
        for train, test in folds:
            call = DecisionTreeClassifier(**base, ccp_alpha=alpha).fit(X.iloc[train], y[train]).predict(X.iloc[test]) == 1
            total += y[test][call].sum() * margin - call.sum() * contact
        return total

    # prefer the simpler tree on ties: alphas ascend, so take the last maximum
    profits = np.array([cv_profit(a) for a in alphas])
    alpha = alphas[np.flatnonzero(profits == profits.max())[-1]]
    return DecisionTreeClassifier(**base, ccp_alpha=float(alpha)).fit(X, y)


def fit_boosting(X: pd.DataFrame, y: np.ndarray, settings: Settings) -> object:
    """Gradient boosting (histogram trees), a fixed modest configuration; unweighted so that its
    scores stay close to probabilities (error weighting is applied at the cut-off)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.08, max_leaf_nodes=15, min_samples_leaf=40,
                                          l2_regularization=1.0, early_stopping=False,
                                          random_state=settings.random_state).fit(X, y)


def raw_scores(kind: str, estimator, X: pd.DataFrame) -> np.ndarray:
    if kind == "logit":
        return estimator.predict(X)
    names = list(estimator.feature_names_in_)
    return estimator.predict_proba(X if list(X.columns) == names else X[names])[:, 1]  # no copy when in order


def fit_one(kind: str, X: pd.DataFrame, y: np.ndarray, settings: Settings, folds: list):
    if kind == "logit":
        return fit_logit(X, y)
    if kind == "tree":
        return fit_tree(X, y, settings, folds)
    return fit_boosting(X, y, settings)


def platt(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt calibration on out-of-fold scores: p = σ(a + b·logit(raw)); returns (a, b)."""
    from sklearn.linear_model import LogisticRegression

    z = _logit(raw).reshape(-1, 1)
    lr = LogisticRegression(C=1e4).fit(z, y)
    return float(lr.intercept_[0]), float(lr.coef_[0, 0])


def calibrated(raw: np.ndarray, calibration: tuple[float, float]) -> np.ndarray:
    a, b = calibration
    return _sigmoid(a + b * _logit(raw))


def realised_profit(y: np.ndarray, call: np.ndarray, settings: Settings) -> float:
    """Seed 000: buyers called × (price − cost) − called × contact cost.

    >>> realised_profit(np.array([1, 0, 1]), np.array([True, True, False]), Settings())
    1400.0
    """
    return float(y[call].sum() * (settings.price - settings.cost) - call.sum() * settings.contact_cost)


@dataclass
class Fitted:
    """A trained propensity model: features, the three fitted models, the chosen one and its calibration."""

    features: list[Feature]
    design: list[str]
    estimators: dict
    calibration: dict
    chosen: str
    cv: pd.DataFrame  # one row per model: CV AUC, log loss, profit
    oof: pd.Series  # calibrated out-of-fold probability of the chosen model per training row
    cutoff: float
    economics: dict = field(default_factory=dict)

    def predict(self, X: pd.DataFrame, model: str | None = None) -> np.ndarray:
        kind = model or self.chosen
        with threadpool_limits(limits=THREADS):
            return calibrated(raw_scores(kind, self.estimators[kind], X), self.calibration[kind])


def _folds(X: pd.DataFrame, y: np.ndarray, settings: Settings) -> tuple[int, list]:
    from sklearn.model_selection import StratifiedKFold

    n_folds = int(min(3, np.bincount(y).min()))
    return n_folds, list(StratifiedKFold(n_folds, shuffle=True, random_state=settings.random_state).split(X, y))


def fit_models(X: pd.DataFrame, y: pd.Series, features: list[Feature], settings: Settings,
               progress=lambda message: None) -> Fitted:
    """Fit logistic regression, tree and boosting; choose by cross-validated profit at the
    break-even cut-off on the training rows only (seed 001 §5.5.1: several techniques, compared).

    Each model's out-of-fold scores (stratified 3-fold) calibrate it (Platt) and rank it; the
    final models are refitted on all training rows.
    """
    from sklearn.metrics import log_loss, roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    y_arr = y.to_numpy(dtype=int)
    n_folds, folds = _folds(X, y_arr, settings)
    cutoff = break_even(settings)
    rows, estimators, calibration, oofs = [], {}, {}, {}
    with threadpool_limits(limits=THREADS):
        for kind in MODELS:
            progress(f"模型：{MODEL_LABELS[kind]}")
            raw = np.zeros(len(y_arr))
            for train, test in folds:
                inner = list(StratifiedKFold(n_folds, shuffle=True, random_state=settings.random_state)
                             .split(X.iloc[train], y_arr[train])) if kind == "tree" else []
                est = fit_one(kind, X.iloc[train], y_arr[train], settings, inner)
                raw[test] = raw_scores(kind, est, X.iloc[test])
            calibration[kind] = platt(raw, y_arr)
            p = calibrated(raw, calibration[kind])
            oofs[kind] = p
            call = p >= cutoff
            rows.append({"模型": MODEL_LABELS[kind], "key": kind,
                         "交叉驗證 AUC": roc_auc_score(y_arr, p), "交叉驗證 Log loss": log_loss(y_arr, p, labels=[0, 1]),
                         "交叉驗證建議聯絡": int(call.sum()), "交叉驗證利潤": realised_profit(y_arr, call, settings)})
            estimators[kind] = fit_one(kind, X, y_arr, settings, folds)
    cv = pd.DataFrame(rows)
    best = cv.sort_values(["交叉驗證利潤", "交叉驗證 AUC"], ascending=False).iloc[0]["key"]
    cv["選用"] = np.where(cv["key"] == best, "是", "否")
    return Fitted(features, list(X.columns), estimators, calibration, best, cv.drop(columns="key"),
                  pd.Series(oofs[best], index=X.index), cutoff,
                  {"price": settings.price, "cost": settings.cost, "contact_cost": settings.contact_cost})


def refit(fitted: Fitted, X: pd.DataFrame, y: pd.Series, settings: Settings, progress=lambda message: None) -> Fitted:
    """The same three models fitted again on more rows (``train`` on a fully labelled list: on every
    labelled row once the 80% model has been judged on the 20%). Features, choice, calibration and
    the cross-validation table stay those of the evaluated fit — the calibration was learnt on
    fold models that had seen fewer rows still, so it carries over as well as it did before."""
    y_arr = y.to_numpy(dtype=int)
    _, folds = _folds(X, y_arr, settings)
    estimators = {}
    with threadpool_limits(limits=THREADS):
        for kind in MODELS:
            progress(f"重新訓練：{MODEL_LABELS[kind]}")
            estimators[kind] = fit_one(kind, X[fitted.design], y_arr, settings, folds)
    return Fitted(fitted.features, fitted.design, estimators, fitted.calibration, fitted.chosen, fitted.cv,
                  pd.Series(dtype=float), fitted.cutoff, fitted.economics)


# --------------------------------------------------------------------------- interpretation


def odds_ratios(fit: LogitFit, features: list[Feature]) -> pd.DataFrame:
    """Odds ratios with 95% confidence interval and p-value per design column (seed 001 §5.5
    interpretable model). A category level reads "相對於 <reference level>"."""
    reference = {f"{f.column}={lvl}": f.levels[0] for f in features if f.kind == CATEGORY for lvl in f.levels[1:]}
    booleans = {f.column for f in features if f.kind == BOOLEAN}
    coef, se = fit.params[1:], fit.bse[1:]
    frame = pd.DataFrame({
        "變數": fit.names,
        "說明": [f"相對於「{reference[n]}」" if n in reference else "是 vs 否" if n in booleans else
               ("每增加 1" if "（空白）" not in n else "空白 vs 有填") for n in fit.names],
        "係數": coef,
        "勝算比": np.exp(coef),
        "95%信賴區間下限": np.exp(coef - 1.96 * se),
        "95%信賴區間上限": np.exp(coef + 1.96 * se),
        "p值": fit.pvalues[1:],
    })
    frame["顯著(p<0.05)"] = np.where(frame["p值"] < 0.05, "是", "否")
    return frame.sort_values("p值", kind="stable").reset_index(drop=True)


def tree_rules(tree, X: pd.DataFrame, y: pd.Series, settings: Settings, features: list[Feature] = ()) -> pd.DataFrame:
    """The pruned tree as IF … THEN rules (seed 001 §5.5.2), one per leaf, with the leaf's buy
    rate on the training rows as confidence and its share of customers as support.

    Example row: IF 前一次行銷活動的銷售結果=成功 AND 年齡 > 60.5 THEN 建議聯絡（購買機率 64%）.
    """
    t = tree.tree_
    names = list(tree.feature_names_in_)
    booleans = {f.column for f in features if f.kind == BOOLEAN}
    conditions: dict[int, list[str]] = {0: []}
    # walking the node table (a few dozen nodes), not customers
    for node in range(t.node_count):
        left, right = t.children_left[node], t.children_right[node]
        if left == right:
            continue
        name, threshold = names[t.feature[node]], t.threshold[node]
        if "=" in name and threshold == 0.5:
            column, level = name.split("=", 1)
            no, yes = f"{column} ≠ {level}", f"{column} = {level}"
        elif name in booleans:
            no, yes = f"{name} = 否", f"{name} = 是"
        elif name.endswith("（空白）"):
            no, yes = f"{name[:-4]} 有填", f"{name[:-4]} 空白"
        else:
            no, yes = f"{name} ≤ {_threshold_text(threshold)}", f"{name} > {_threshold_text(threshold)}"
        conditions[left] = conditions[node] + [no]
        conditions[right] = conditions[node] + [yes]
    leaf = pd.Series(tree.apply(X[names]), index=X.index)
    stats = y.groupby(leaf).agg(["size", "sum"])
    cutoff = break_even(settings)
    frame = pd.DataFrame({
        "leaf": stats.index,
        "IF（條件）": [" 且 ".join(conditions[int(i)]) or "（全部客戶）" for i in stats.index],
        "客戶數": stats["size"].to_numpy(),
        "購買數": stats["sum"].to_numpy().astype(int),
    })
    frame["信心度(購買率)"] = frame["購買數"] / frame["客戶數"]
    frame["支持度(客戶占比)"] = frame["客戶數"] / len(X)
    frame["THEN（結論）"] = np.where(frame["信心度(購買率)"] >= cutoff, "建議聯絡", "不聯絡")
    return (frame.sort_values("信心度(購買率)", ascending=False).drop(columns="leaf").reset_index(drop=True)
            [["IF（條件）", "THEN（結論）", "信心度(購買率)", "支持度(客戶占比)", "客戶數", "購買數"]])


def _threshold_text(value: float) -> str:
    """A split point as a rep reads it: thousands separators, never scientific notation.

    >>> [_threshold_text(v) for v in (18110.5, 135412.75, 60.5, 3.0, 0.35, 0.000123)]
    ['18,110.5', '135,412.75', '60.5', '3', '0.35', '0.000123']
    """
    if abs(value) >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.4g}" if abs(value) >= 1e-4 else f"{value:.6f}".rstrip("0").rstrip(".") or "0"


# --------------------------------------------------------------------------- evaluation


def deciles(p: pd.Series) -> pd.Series:
    """Decile 1 (highest probabilities) … 10 by rank; ties broken by list order.

    >>> deciles(pd.Series([0.9, 0.1, 0.5, 0.7, 0.3, 0.2, 0.8, 0.6, 0.4, 0.05])).tolist()
    [1, 9, 5, 3, 7, 8, 2, 4, 6, 10]
    """
    rank = p.rank(ascending=False, method="first")
    return np.ceil(rank * 10 / len(p)).astype(int).clip(1, 10)


def lift_table(y: pd.Series, p: pd.Series) -> pd.DataFrame:
    """Decile lift and cumulative gains (seed 001 figure 5-8 quantile chart, seed 003 lift chart)."""
    d = deciles(p)
    g = y.groupby(d).agg(["size", "sum"]).reindex(range(1, 11), fill_value=0)
    rate = y.mean()
    frame = pd.DataFrame({"十分位": [f"第{i}組" for i in g.index], "客戶數": g["size"].to_numpy(),
                          "實際購買數": g["sum"].to_numpy().astype(int),
                          "平均預測機率": p.groupby(d).mean().reindex(range(1, 11)).to_numpy()})
    frame["購買率"] = frame["實際購買數"] / frame["客戶數"].where(frame["客戶數"] > 0)
    frame["提升度(Lift)"] = frame["購買率"] / rate
    frame["累計客戶占比"] = frame["客戶數"].cumsum() / len(y)
    frame["累計購買占比(Gains)"] = frame["實際購買數"].cumsum() / max(1, y.sum())
    frame["隨機名單"] = frame["累計客戶占比"]
    frame["累計提升度"] = frame["累計購買占比(Gains)"] / frame["累計客戶占比"]
    return frame


def profit_curve(y: pd.Series, p: pd.Series, settings: Settings, steps: int = 20) -> pd.DataFrame:
    """Realised profit when calling the top k% of the ranked list, k = 5%, 10%, … 100% (seed 000)."""
    order = np.argsort(-p.to_numpy(), kind="stable")
    buyers = np.cumsum(y.to_numpy()[order])
    n = len(y)
    called = np.ceil(np.arange(1, steps + 1) / steps * n).astype(int)
    margin, contact = settings.price - settings.cost, settings.contact_cost
    return pd.DataFrame({"聯絡前": [f"{100 * k // steps}%" for k in range(1, steps + 1)], "聯絡人數": called,
                         "其中購買": buyers[called - 1].astype(int),
                         "利潤": buyers[called - 1] * margin - called * contact,
                         "最低機率": p.to_numpy()[order][called - 1]})


def evaluate(y: pd.Series, p: pd.Series, cutoff: float, settings: Settings) -> dict:
    """AUC, confusion matrix, precision/recall and the money comparison at a cut-off, on labelled rows."""
    from sklearn.metrics import roc_auc_score

    y_arr = y.to_numpy(dtype=int)
    call = p.to_numpy() >= cutoff
    tp, fp = int((call & (y_arr == 1)).sum()), int((call & (y_arr == 0)).sum())
    fn, tn = int((~call & (y_arr == 1)).sum()), int((~call & (y_arr == 0)).sum())
    everyone = np.ones(len(y_arr), bool)
    top = deciles(p) == 1
    auc = float(roc_auc_score(y_arr, p)) if 0 < y_arr.sum() < len(y_arr) else float("nan")
    return {
        "rows": len(y_arr), "buyers": int(y_arr.sum()), "auc": auc,
        "tp": tp, "fp": fp, "fn": fn, "tn": tn, "called": tp + fp,
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "top_decile_lift": float(y_arr[top.to_numpy()].mean() / y_arr.mean()) if y_arr.mean() else float("nan"),
        "profit_list": realised_profit(y_arr, call, settings),
        "profit_everyone": realised_profit(y_arr, everyone, settings),
        "profit_oracle": realised_profit(y_arr, y_arr == 1, settings),
    }


def comparability(typed: pd.DataFrame, groups: pd.Series, features: list[Feature]) -> pd.DataFrame:
    """Seed 001 §5.4: mean, standard deviation and mode of every feature in each group and in all.

    A group is flagged (差異 ⚠) when its mean is > 0.1 standard deviations off the whole list, or
    when its mode differs and the whole list's mode is more than 10 points rarer or commoner in it
    (so two near-equal levels trading places is not a shift) — for categories, yes/no columns and
    numbers with at most 20 distinct values (a rating 1–5); the mode of a continuous number
    (age 31 vs 32) is noise, not a shift.
    """
    names = [g for g in (TRAIN, TEST, TARGET) if (groups == g).any()]
    masks = {g: (groups == g).to_numpy() for g in names}

    def mode_shift(values: pd.Series, modes: dict, whole) -> bool:
        share = (values == whole).mean()
        return any(m != whole and abs((values[masks[g]] == whole).mean() - share) > 0.1 for g, m in modes.items())

    rows = []
    for f in features:  # one small summary per column
        values = typed[f.column]
        if f.kind == CATEGORY:
            modes = {g: values[masks[g]].mode().iloc[0] for g in names}
            whole = values.mode().iloc[0]
            flag = mode_shift(values, modes, whole)
            rows.append({"欄位": f.column, "統計": "眾數", **{g: str(modes[g]) for g in names}, "全部": str(whole),
                         "差異": "⚠ 眾數不同" if flag else ""})
            continue
        sd = values.std()
        stats = {g: values[masks[g]] for g in names}
        mean_flag = any(sd > 0 and abs(s.mean() - values.mean()) / sd > 0.1 for s in stats.values())
        rows.append({"欄位": f.column, "統計": "平均", **{g: round(float(s.mean()), 4) for g, s in stats.items()},
                     "全部": round(float(values.mean()), 4), "差異": "⚠ 差異大" if mean_flag else ""})
        rows.append({"欄位": f.column, "統計": "標準差", **{g: round(float(s.std()), 4) for g, s in stats.items()},
                     "全部": round(float(sd), 4), "差異": ""})
        modes = {g: s.mode() for g, s in stats.items()}
        whole = values.mode()
        few_values = f.kind == BOOLEAN or values.nunique() <= 20
        mode_flag = few_values and len(whole) and mode_shift(
            values, {g: m.iloc[0] for g, m in modes.items() if len(m)}, whole.iloc[0])
        rows.append({"欄位": f.column, "統計": "眾數",
                     **{g: (float(m.iloc[0]) if len(m) else None) for g, m in modes.items()},
                     "全部": float(whole.iloc[0]) if len(whole) else None, "差異": "⚠ 眾數不同" if mode_flag else ""})
    return pd.DataFrame(rows, columns=["欄位", "統計", *names, "全部", "差異"])


def shift_problems(table: pd.DataFrame, sheet: str) -> list[Problem]:
    """One 提醒 per feature the comparability table flags: the model learnt on a group that looks
    different from the one it judges or scores (seed 001 §5.4), so its numbers may not carry over."""
    flagged = table[table["差異"] != ""]
    if flagged.empty:
        return []
    groups = [g for g in (TRAIN, TEST, TARGET) if g in table]
    problems = []
    for column, rows in flagged.groupby("欄位", sort=False):
        shown = "；".join(f"{r['統計']} " + " / ".join(f"{g} {r[g]}" for g in groups) for _, r in rows.iterrows())
        problems.append(Problem(sheet, None, str(column), shown[:200],
                                "訓練組與" + "、".join(g + "組" for g in groups if g != TRAIN) +
                                f"在這一欄差異大（{rows['差異'].iloc[0].lstrip('⚠ ')}）：模型從不太一樣的客戶學來，機率可能偏高或偏低",
                                "確認兩組客戶來自同一類名單；差異是真的就留意這欄的影響（模型評估「資料是否一致」表）",
                                WARNING))
    return problems


def data_fingerprint(frame: pd.DataFrame) -> str:
    """A stable hash of the training data (values and column names), to tell which list a model saw."""
    h = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def expected_profit(p: np.ndarray | pd.Series, settings: Settings):
    """Seed 000: expected profit of calling one customer = p × (price − cost) − contact cost.

    >>> float(expected_profit(np.array([0.5]), Settings())[0])
    700.0
    """
    return p * (settings.price - settings.cost) - settings.contact_cost


def ranked_list(ids: pd.Series, p: pd.Series, settings: Settings, cutoff: float) -> pd.DataFrame:
    """The precision list: customers by probability, with rank, decile, expected profit and cumulative
    expected profit; 建議聯絡 = 是 where p ≥ cut-off."""
    order = p.sort_values(ascending=False, kind="stable").index
    frame = pd.DataFrame({"id": ids.loc[order], "row": order, "p": p.loc[order]})
    frame["rank"] = np.arange(1, len(frame) + 1)
    frame["decile"] = deciles(frame["p"]).to_numpy()
    frame["call"] = np.where(frame["p"] >= cutoff, "是", "否")
    frame["profit"] = expected_profit(frame["p"], settings)
    frame["cumulative"] = frame["profit"].cumsum()
    return frame.reset_index(drop=True)


def nan_to_none(value):
    return None if isinstance(value, float) and math.isnan(value) else value


# --------------------------------------------------------------------------- which column is the label


@dataclass(frozen=True)
class LabelChoice:
    """The column of a campaign frame that holds the known result (label), and why it was taken.

    ``column`` is a column of the parsed frame ("label" for the schema's own field) or None when
    the list has no label; ``header`` is the input's own header; ``reason`` is said on 模型評估
    and 摘要 (and, when the column was recognised by a pattern rather than a known header, as a
    提醒 in 資料檢查); ``others`` are further columns that also looked like a label.
    """

    column: str | None
    header: str
    reason: str
    explicit: bool = False
    others: tuple[str, ...] = ()
    guessed: bool = False

    def problems(self, sheet: str) -> list[Problem]:
        """A 提醒 when the label was recognised by a pattern, or when --target set another result aside."""
        if self.column is None or not (self.guessed or self.explicit):
            return []
        if self.explicit:
            return [Problem(sheet, None, other, None, f"「{other}」也是結果欄；這次預測「{self.header}」（--target），它未用於預測",
                            "若它是打電話前就知道的資料，請改欄名再送", WARNING) for other in self.others]
        also = f"；另外「{'」「'.join(self.others)}」也像結果欄，未當標籤（仍當一般欄位）" if self.others else ""
        return [Problem(sheet, None, self.header, None, f"以「{self.header}」欄當作已知結果（標籤）：{self.reason}{also}",
                        "若不是這一欄，請用 --target 欄名 指定（score 與 train 都可以）", WARNING)]


def choose_label(parsed, target: str | None = None, never: tuple[str, ...] = ()) -> LabelChoice:
    """Which column of a parsed campaign sheet is the known result (seed 001 §5.1's 0/1 label).

    In this order: ``target`` as its header reads (``--target``); else a header the schema knows
    (是否購買, 買A商品, 成交, label …); else a header matching :data:`schema.LABEL_HEADER_PATTERNS`
    (買B商品, 是否接受, bought …) whose filled cells are ≥ 90% 1/0 or 是/否 — a purchase pattern
    before a yes/no-question pattern, then the rightmost; else the only yes/no column with blanks
    (5–95% of rows, at least 50 filled: results known for part of the list). A known header wins
    even when it is blank (nothing else is guessed then). ``never`` columns (a saved model's
    features) are not taken automatically. Raises UnusableInput when ``target`` names no column.

    >>> import types
    >>> sheet = types.SimpleNamespace(sheet="名單", frame=pd.DataFrame({"customer_id": ["A", "B"], "label": [None] * 2,
    ...     "是否以信用支付": ["是", "否"], "買B商品": ["1", "0"]}), headers={"customer_id": "UID"}, extra_columns=[])
    >>> choose_label(sheet).header
    '買B商品'
    """
    from processor.errors import UnusableInput
    from processor.read.schema import CAMPAIGN, LABEL_HEADER_PATTERNS, normalise_header

    frame, headers = parsed.frame, parsed.headers
    open_columns = [c for c in frame.columns if c not in ("customer_id", "label")]
    header_of = {c: str(headers.get(c, c)) for c in open_columns}
    has_schema_label = "label" in headers and "label" in frame and not is_blank(frame["label"]).all()
    if target is not None:
        wanted = normalise_header(target)
        if "label" in headers and wanted in (normalise_header(headers["label"]), normalise_header("label"),
                                             normalise_header(CAMPAIGN.field("label").label)):
            return LabelChoice("label", headers["label"], "由 --target 指定", explicit=True)
        for column in open_columns:
            if normalise_header(header_of[column]) == wanted or normalise_header(column) == wanted:
                # the schema's own result column is then another outcome: never a feature (see feature_columns)
                return LabelChoice(column, header_of[column], "由 --target 指定", explicit=True,
                                   others=(headers["label"],) if has_schema_label else ())
        shown = "、".join(([headers["label"]] if "label" in headers else []) + list(header_of.values())[:15])
        raise UnusableInput(f"在工作表「{parsed.sheet}」找不到目標欄「{target}」",
                            f"--target 要寫標題列上的欄名；這張表有：{shown}",
                            en=f"target column {target!r} not found in sheet {parsed.sheet!r}",
                            fix_en="--target takes a header exactly as it reads in the sheet", sheet=parsed.sheet,
                            column=str(target))
    if "label" in headers:  # even when blank: the list says where results go, so nothing else is guessed
        return LabelChoice("label", headers["label"], f"標題「{headers['label']}」是已知的結果欄名")

    def reads_as_label(column: str) -> bool:
        cells = frame[column]
        filled = int((~is_blank(cells)).sum())
        if filled < 2:
            return False
        y, _ = parse_label(cells, parsed.sheet, header_of[column])
        return y.notna().sum() >= 0.9 * filled and y.nunique() == 2

    candidates = [c for c in open_columns if c not in never]
    for tier, pattern in enumerate(LABEL_HEADER_PATTERNS):
        matched = [c for c in candidates if re.match(pattern, normalise_header(header_of[c])) and reads_as_label(c)]
        if matched:
            kind = "像購買結果" if tier == 0 else "像「是否…」的結果"
            return LabelChoice(matched[-1], header_of[matched[-1]], f"標題{kind}，且內容是 1/0 或 是/否",
                               others=tuple(header_of[c] for c in matched[:-1]), guessed=True)
    partial = []
    for column in candidates:
        blank = is_blank(frame[column])
        if 0.05 <= blank.mean() <= 0.95 and (~blank).sum() >= MIN_LABELLED and infer_kind(frame[column]) == BOOLEAN:
            y, _ = parse_label(frame[column], parsed.sheet, header_of[column])
            if y.notna().all() or min(int((y == 1).sum()), int((y == 0).sum())) < MIN_PER_CLASS:
                continue
            partial.append(column)
    if len(partial) == 1:
        return LabelChoice(partial[0], header_of[partial[0]],
                           "唯一一個只填了一部分的 是/否 欄（已填的當已知結果，空白的當要預測的客戶）", guessed=True)
    return LabelChoice(None, headers.get("label", CAMPAIGN.field("label").label),
                       "找不到結果欄" + (f"（「{'」「'.join(header_of[c] for c in partial)}」都可能是，請用 --target 指定）"
                                   if partial else ""))


# --------------------------------------------------------------------------- one campaign list


@dataclass
class CampaignResult:
    """Everything the 精準名單 and 模型評估 sheets show for one campaign list."""

    mode: str  # "split" (all labelled), "partial" (training + target group), "model" (saved model)
    ranked: pd.DataFrame | None = None
    fitted: Fitted | None = None
    evaluation: dict | None = None
    eval_source: str = ""
    lift: pd.DataFrame | None = None
    curve: pd.DataFrame | None = None
    comparability: pd.DataFrame | None = None
    rules: pd.DataFrame | None = None
    odds: pd.DataFrame | None = None
    ignored: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["欄位", "原因"]))
    problems: list[Problem] = field(default_factory=list)
    labels: pd.Series | None = None
    groups: pd.Series | None = None
    train_frame: pd.DataFrame | None = None  # the rows the model learnt from (for the fingerprint)
    design: pd.DataFrame | None = None  # every row encoded (train refits the saved model on all labelled rows)
    label_column: str = ""
    label_reason: str = ""
    seed_data: bool = False  # the list is seed 000's own example data set
    model_name: str | None = None
    model_meta: dict | None = None


def feature_columns(frame: pd.DataFrame, exclude: tuple[str, ...]) -> list[str]:
    """The open columns of a campaign frame: everything but the id and the label."""
    return [c for c in frame.columns if c not in ("customer_id", "label", *exclude)]


#: seed 000's worked example (campaign_marketing2, 45,211 customers): its headers, and the list it
#: reports on its own 20% test set (XGBoost: precision 60% = 235 / 391)
SEED_000_HEADERS = frozenset({"UID", "年齡", "行業別", "教育程度", "是否以信用支付", "有無逛過我們的網頁", "聯絡有回應",
                              "與顧客聯絡方式", "日", "月份", "全部活動跟該客戶連絡次數", "距離上次有多久時日沒被聯絡",
                              "前一次行銷活動的銷售結果", "買A商品", "過往滿意程度"})
SEED_000_LIST = {"called": 391, "buyers": 235, "test_rows": 9043}


def is_seed_000_data(headers) -> bool:
    """Whether a list carries exactly the columns of seed 000's example (then its reported list is shown beside ours).

    >>> is_seed_000_data(SEED_000_HEADERS), is_seed_000_data({"UID", "年齡"})
    (True, False)
    """
    from processor.read.schema import normalise_header

    return {normalise_header(h) for h in headers} == {normalise_header(h) for h in SEED_000_HEADERS}


def score_campaign(frame: pd.DataFrame, sheet: str, settings: Settings, as_of: pd.Timestamp, *,
                   label: str | None = "label", label_header: str = "是否購買", choice: LabelChoice | None = None,
                   model: dict | None = None, progress=lambda message: None) -> CampaignResult:
    """Score one campaign list (a parsed campaign frame: customer_id, label, open feature columns).

    ``label`` is the frame column with the known result, None for none; ``choice`` (see
    :func:`choose_label`) gives column, header and the reason to show in one.
    Without ``model``: labelled rows train (seed 001 §5.1) — all labelled → stratified 80/20
    split with ``settings.random_state``; some labelled → the unlabelled are the target group.
    With ``model`` (see :func:`processor.models.load_model`) the saved model scores every row and
    any labels present evaluate it. Problems explain what was set aside and why.
    """
    from sklearn.model_selection import train_test_split

    if choice is not None:
        label, label_header = choice.column, choice.header
    label_reason = choice.reason if choice is not None else "標題是已知的結果欄名"
    has_label = label is not None and label in frame and not is_blank(frame[label]).all()
    y, problems = (parse_label(frame[label], sheet, label_header) if has_label
                   else (pd.Series(np.nan, index=frame.index), []))
    result = CampaignResult("model" if model else "split", problems=problems, labels=y, label_column=label_header,
                            label_reason=label_reason if has_label else "")
    cutoff = break_even(settings)
    if settings.price - settings.cost <= settings.contact_cost:
        problems.append(Problem("設定", None, "售價/成本/聯絡成本", None,
                                "售價減成本不超過聯絡成本：打給任何人都不划算，名單上不會有建議聯絡的人",
                                "請確認 設定 工作表的售價、成本與聯絡成本", WARNING))
    exclude = (label,) if label not in (None, "label") else ()
    if model is not None:
        return _score_with_model(frame, sheet, settings, as_of, model, y, result, exclude)

    labelled = y.notna()
    n_labelled, n_buyers = int(labelled.sum()), int(y[labelled].sum())
    if not has_label:
        blank = choice is not None and choice.column is not None
        problems.append(Problem(sheet, None, label_header, None,
                                f"「{label_header}」欄都是空白：沒有已知結果，無法訓練購買機率模型" if blank else
                                "沒有已知結果（標籤）欄，無法訓練購買機率模型",
                                "加上「是否購買」欄（1/0 或 是/否；要預測的留白）、用 --target 指定哪一欄是已知結果，"
                                "或用 --model 指定已訓練的模型"))
        return result
    if n_labelled < MIN_LABELLED:
        problems.append(Problem(sheet, None, label_header, str(n_labelled),
                                f"只有 {n_labelled} 位客戶有已知結果，至少要 {MIN_LABELLED} 位才能訓練",
                                "請補上更多過去名單的結果，或用 --model 指定已訓練的模型"))
        return result
    if min(n_buyers, n_labelled - n_buyers) < MIN_PER_CLASS:
        only = "都買了" if n_buyers > n_labelled / 2 else "都沒買"
        problems.append(Problem(sheet, None, label_header, f"買 {n_buyers} / 沒買 {n_labelled - n_buyers}",
                                f"已知結果幾乎只有一類（{only}），無法學出誰會買",
                                f"兩類各至少要 {MIN_PER_CLASS} 位；請加入有買和沒買的客戶"))
        return result

    if labelled.all():
        train_idx, test_idx = train_test_split(frame.index, test_size=0.2, stratify=y,
                                               random_state=settings.random_state)
        groups = pd.Series(TRAIN, index=frame.index).where(frame.index.isin(train_idx), TEST)
        result.mode, result.eval_source = "split", "測試組（隨機保留 20%，未參與訓練）"
    else:
        train_idx = frame.index[labelled]
        groups = pd.Series(TRAIN, index=frame.index).where(labelled, TARGET)
        result.mode, result.eval_source = "partial", "訓練組的交叉驗證（每位客戶由沒看過他的模型預測）"
    result.groups = groups
    train_idx = pd.Index(train_idx)

    progress("判斷欄位型態")
    features, ignored, found = infer_features(frame, feature_columns(frame, exclude), sheet, as_of, rows=train_idx)
    problems += found
    if label != "label" and "label" in frame and not is_blank(frame["label"]).all():
        other = choice.others[0] if choice is not None and choice.others else "是否購買"
        ignored = pd.concat([ignored, pd.DataFrame({"欄位": [other], "原因": ["另一個結果欄（這次預測的是別欄）"]})],
                            ignore_index=True)
    typed = pd.DataFrame({f.column: typed_values(frame[f.column], f.kind, as_of) for f in features}, index=frame.index)
    leaks = (leakage(typed.loc[train_idx], y.loc[train_idx], features, settings.random_state) if features
             else pd.DataFrame(columns=["欄位", "單獨預測 AUC"]))
    for _, leak in leaks.iterrows():
        problems.append(Problem(sheet, None, leak["欄位"], f"AUC {leak['單獨預測 AUC']}",
                                f"資料洩漏：這欄單獨就幾乎完全預測結果（AUC ≥ {LEAK_AUC}，多半是成交後才有的資料），已排除",
                                "打電話前就知道的資料才能用來預測；若確定是事前資料，請檢查是否抄錯", WARNING))
    ignored = pd.concat([ignored, pd.DataFrame({"欄位": leaks["欄位"],
                                                "原因": [f"資料洩漏：單獨預測 AUC {a}" for a in leaks["單獨預測 AUC"]]})],
                        ignore_index=True)
    features = [f for f in features if f.column not in set(leaks["欄位"])]
    result.ignored = ignored
    if not features:
        problems.append(Problem(sheet, None, None, None, "沒有可用來預測的欄位",
                                "請加上年齡、行業、過去互動等客戶資料欄"))
        return result

    X, _ = design_matrix(frame, features, as_of)
    y_train = y.loc[train_idx].astype(int)
    fitted = fit_models(X.loc[train_idx], y_train, features, settings, progress)
    rest = frame.index.difference(train_idx)
    p = pd.concat([fitted.oof, pd.Series(fitted.predict(X.loc[rest]), index=rest)]).loc[frame.index]
    result.fitted, result.design = fitted, X
    result.train_frame = frame.loc[train_idx]
    eval_rows = pd.Index(test_idx) if result.mode == "split" else train_idx
    _explain(result, X.loc[train_idx], y_train, fitted, settings)
    _evaluate(result, y.loc[eval_rows].astype(int), p.loc[eval_rows], cutoff, settings)
    result.comparability = comparability(typed[[f.column for f in features]], groups, features)
    problems += shift_problems(result.comparability, sheet)
    result.ranked = ranked_list(frame["customer_id"], p, settings, cutoff).assign(
        group=lambda d: groups.loc[d["row"]].to_numpy(), label=lambda d: y.loc[d["row"]].to_numpy())
    return result


def _explain(result: CampaignResult, X: pd.DataFrame, y: pd.Series, fitted: Fitted, settings: Settings):
    result.rules = tree_rules(fitted.estimators["tree"], X, y, settings, fitted.features)
    result.odds = odds_ratios(fitted.estimators["logit"], fitted.features)


def _evaluate(result: CampaignResult, y: pd.Series, p: pd.Series, cutoff: float, settings: Settings):
    if y.nunique() < 2:
        return
    result.evaluation = evaluate(y, p, cutoff, settings)
    result.lift = lift_table(y, p)
    result.curve = profit_curve(y, p, settings)


def _score_with_model(frame, sheet, settings, as_of, model, y, result, exclude) -> CampaignResult:
    """Score with a saved model. Missing feature columns fall back to the training fill (median /
    most frequent level) with a warning; more than half missing is an error (no list)."""
    fitted: Fitted = model["fitted"]
    result.fitted, result.model_name, result.model_meta = fitted, model.get("name"), model.get("meta")
    missing = [f.column for f in fitted.features if f.column not in frame]
    if len(missing) > len(fitted.features) / 2:
        result.problems.append(Problem(sheet, None, "、".join(missing), None,
                                       f"名單缺少模型需要的 {len(missing)} 個欄位（共 {len(fitted.features)} 個），無法用此模型評分",
                                       "請用與訓練時相同欄名的名單，或重新訓練模型"))
        return result
    for column in missing:
        result.problems.append(Problem(sheet, None, column, None, "名單缺少模型需要的欄位，以訓練資料的典型值代替",
                                       f"請加上「{column}」欄以得到更準的機率", WARNING))
    filled = frame.assign(**{f.column: f.levels[0] if f.kind == CATEGORY else
                             (f.fill if f.kind != DATE else as_of - pd.Timedelta(days=f.fill))
                             for f in fitted.features if f.column in missing}) if missing else frame
    X, unseen = design_matrix(filled, fitted.features, as_of)
    for column, count in unseen.items():
        result.problems.append(Problem(sheet, None, column, f"{count:,} 列",
                                       f"有模型訓練時沒看過的類別值，當作「{OTHER}」計算",
                                       "若是錯字請修正；新類別多時建議重新訓練", WARNING))
    p = pd.Series(fitted.predict(X), index=frame.index)
    result.odds = odds_ratios(fitted.estimators["logit"], fitted.features)
    cutoff = break_even(settings)
    labelled = y.notna()
    result.groups = pd.Series(TARGET, index=frame.index)
    result.eval_source = "此名單上已知結果的客戶（模型未看過）"
    if labelled.sum() >= 2:
        _evaluate(result, y[labelled].astype(int), p[labelled], cutoff, settings)
    result.ranked = ranked_list(frame["customer_id"], p, settings, cutoff).assign(
        group=TARGET, label=lambda d: y.loc[d["row"]].to_numpy())
    return result


# --------------------------------------------------------------------------- result sheets

LIST_SHEET, EVAL_SHEET = "精準名單", "模型評估"
MONEY, PCT, PROB = "#,##0", "0.0%", "0.0%"


def list_block(result: CampaignResult, id_header: str, directory: pd.DataFrame | None = None) -> Block:
    """The ranked list as a table: the top :data:`~processor.analyse.transactions.MAX_LISTED` customers
    (a call list, not an export; counts and charts on 模型評估 cover everyone)."""
    from processor.analyse.transactions import MAX_LISTED

    r = result.ranked.head(MAX_LISTED)
    frame = pd.DataFrame({
        "排名": r["rank"].to_numpy(),
        id_header: r["id"].astype("string").to_numpy(),
        "購買機率": r["p"].to_numpy(),
        "建議聯絡": r["call"].to_numpy(),
        "十分位": r["decile"].to_numpy(),
        "預期利潤": r["profit"].round(0).to_numpy(),
        "累計預期利潤": r["cumulative"].round(0).to_numpy(),
        "資料組": r["group"].to_numpy(),
        "已知結果": pd.Series(r["label"].to_numpy()).map({1.0: "買", 0.0: "沒買"}).fillna("").to_numpy(),
        "原始列": r["row"].to_numpy(),
    })
    from processor.analyse.calls import with_contacts
    from processor.analyse.transactions import CONTACT_LABELS

    frame = with_contacts(frame, id_header, directory, CONTACT_LABELS)
    return Block(frame, None, formats={"購買機率": PROB, "預期利潤": MONEY, "累計預期利潤": MONEY},
                 color_scale=("購買機率",), color_scale_reverse=True, data_bars=("預期利潤",),
                 widths={id_header: 14, "購買機率": 10, "累計預期利潤": 14})


def seed_000_row(result: CampaignResult, settings: Settings) -> dict | None:
    """Seed 000's reported list (235 buyers of 391 called on its own 9,043-customer test set),
    valued at these economics — only on seed 000's own data and when the evaluation rows are a
    test set of that size, so the money is on the same scale. None otherwise."""
    e = result.evaluation
    if not (result.seed_data and e) or abs(e["rows"] - SEED_000_LIST["test_rows"]) > 0.01 * SEED_000_LIST["test_rows"]:
        return None
    called, buyers = SEED_000_LIST["called"], SEED_000_LIST["buyers"]
    return {"called": called, "buyers": buyers,
            "profit": buyers * (settings.price - settings.cost) - called * settings.contact_cost}


def _key_figures(result: CampaignResult, settings: Settings) -> pd.DataFrame:
    """Short figures (項目 / 數值); what they mean is in the sheet notes, so column B stays narrow."""
    e, f, r = result.evaluation or {}, result.fitted, result.ranked
    calls = r["call"] == "是"
    rows = [("使用模型", MODEL_LABELS[f.chosen] + (f"（已存模型 {result.model_name}）" if result.model_name else ""))]
    if result.label_reason:
        rows.append(("已知結果（標籤）欄", result.label_column))
    rows += [
        ("建議聯絡的機率門檻", f"{break_even(settings):.1%}"),
        ("名單人數", f"{len(r):,}"),
        ("建議聯絡人數", f"{int(calls.sum()):,}"),
        ("建議聯絡者的預期利潤合計", f"{r.loc[calls, 'profit'].sum():,.0f} 元"),
        ("全部都打的預期利潤合計", f"{r['profit'].sum():,.0f} 元"),
    ]
    if e:
        rows += [
            ("評估資料", f"{e['rows']:,} 位（{e['buyers']:,} 位購買）"),
            ("AUC", f"{e['auc']:.3f}"),
            ("門檻下的精確率（打了有買的比例）", f"{e['precision']:.1%}"),
            ("門檻下的召回率（買的人有被打到的比例）", f"{e['recall']:.1%}"),
            ("前 10% 提升度（Lift）", f"{e['top_decile_lift']:.2f} 倍"),
            ("照名單打的實際利潤", f"{e['profit_list']:,.0f} 元"),
            ("全部都打的實際利潤", f"{e['profit_everyone']:,.0f} 元"),
            ("完美名單（只打會買的人）", f"{e['profit_oracle']:,.0f} 元"),
        ]
        seed = seed_000_row(result, settings)
        if seed:
            rows.append(("種子 000 報告的名單", f"{seed['profit']:,.0f} 元"))
    return pd.DataFrame(rows, columns=["項目", "數值"])


def _evaluation_notes(result: CampaignResult, settings: Settings) -> tuple[str, ...]:
    e = result.evaluation
    notes = [f"評估資料：{result.eval_source}。門檻在看測試結果之前就由經濟條件決定："
             f"{break_even(settings):.1%} = 聯絡成本 {settings.contact_cost:,.0f} ÷ (售價 {settings.price:,.0f} − 成本 {settings.cost:,.0f})。"]
    if result.label_reason:
        notes.append(f"已知結果（標籤）欄：「{result.label_column}」，{result.label_reason}。")
    if result.seed_data and e:
        seed = seed_000_row(result, settings)
        if seed:
            notes.append(f"「種子 000 報告的名單」是種子文件自己的結果（XGBoost，在它自己隨機保留的 "
                         f"{SEED_000_LIST['test_rows']:,} 位測試客戶上打 {seed['called']} 位、{seed['buyers']} 位購買，精確率 "
                         f"{seed['buyers'] / seed['called']:.0%}），照本表的經濟條件計算利潤；不是本程式重算，"
                         "測試客戶也不是同一批，只能大致對照。")
        else:
            notes.append(f"這是種子 000 的範例資料；種子報告的名單（{SEED_000_LIST['test_rows']:,} 位測試客戶中打 "
                         f"{SEED_000_LIST['called']} 位、{SEED_000_LIST['buyers']} 位購買）未列入比較表，因為這裡的評估資料有 "
                         f"{e['rows']:,} 位，金額規模不同。")
    return tuple(notes)


def precision_calls(result: CampaignResult, rows: int, directory: pd.DataFrame | None, sheet: str):
    """The top ``rows`` of the precision list for 今日聯絡: the target group only (no known result —
    a customer who already bought or said no is evaluation, not someone to call), 建議聯絡 = 是,
    by probability; the reason is the probability (and the model's main reasons when the list has them)."""
    from processor.analyse.calls import PRECISION_ACTION, CallList, people_from_ids, precision_reasons

    r = result.ranked
    todo = r[(r["group"] == TARGET) & (r["call"] == "是")]
    top = todo.head(rows)
    why = top["reasons"] if "reasons" in top else None
    frame = people_from_ids(top["id"].astype("string"), directory).assign(
        reason=precision_reasons(top["p"], why).to_numpy(), action=PRECISION_ACTION)
    return CallList(sheet, frame, total=len(todo))


def campaign_sheets(result: CampaignResult, id_header: str, settings: Settings, suffix: str = "",
                    directory: pd.DataFrame | None = None) -> list:
    """The 精準名單 and 模型評估 result sheets for one scored list (DESIGN §4, seed 000/001/003)."""
    from processor.analyse.transactions import MAX_LISTED

    f, e = result.fitted, result.evaluation
    money = (f"售價 {settings.price:,.0f}、成本 {settings.cost:,.0f}、每位聯絡成本 {settings.contact_cost:,.0f}"
             "（設定 工作表可改）")
    n, calls = len(result.ranked), int((result.ranked["call"] == "是").sum())
    list_notes = (
        "依購買機率由高到低排列；建議聯絡＝是 表示 預期利潤＝購買機率×(售價−成本)−聯絡成本 大於 0（種子 000）。",
        f"經濟條件：{money}；機率門檻 {break_even(settings):.1%}。",
        {"split": "所有客戶都有已知結果：隨機保留 20% 當測試組；每位客戶的機率都來自沒看過他的模型。",
         "partial": "有已知結果的客戶是訓練組，留白的是目標組（種子 001 §5.1）；訓練組的機率來自交叉驗證。",
         "model": f"用已存模型「{result.model_name}」評分，模型未重新訓練。"}[result.mode],
    ) + ((f"共 {n:,} 位客戶（建議聯絡 {calls:,} 位）；本表只列出機率最高的前 {MAX_LISTED:,} 位"
          + ("，其後建議聯絡的客戶未列出" if calls > MAX_LISTED else "") + "；模型評估 的各表涵蓋全部客戶。",)
         if n > MAX_LISTED else ())
    sheets = [ResultSheet(LIST_SHEET + suffix, (list_block(result, id_header, directory),), list_notes)]

    blocks = [Block(_key_figures(result, settings), "重點指標", as_table=False, widths={"項目": 30})]
    if e:
        seed = seed_000_row(result, settings)
        compare = pd.DataFrame({
            "做法": ["照精準名單打", "全部都打", "完美名單（只打會買的人）"] + (["種子 000 報告的名單"] if seed else []),
            "聯絡人數": [e["called"], e["rows"], e["buyers"]] + ([seed["called"]] if seed else []),
            "其中購買": [e["tp"], e["buyers"], e["buyers"]] + ([seed["buyers"]] if seed else []),
            "利潤": [e["profit_list"], e["profit_everyone"], e["profit_oracle"]] + ([seed["profit"]] if seed else []),
        })
        compare["命中率"] = compare["其中購買"] / compare["聯絡人數"].where(compare["聯絡人數"] > 0)
        blocks.append(Block(compare, "照名單打 vs 全部都打（種子 000，評估資料上的實際結果）",
                            formats={"利潤": MONEY, "命中率": PCT, "聯絡人數": MONEY, "其中購買": MONEY},
                            charts=(Chart("col", "利潤比較", "做法", ("利潤",), y_title="元"),)))
        confusion = pd.DataFrame({"": ["實際購買", "實際沒買"], "建議聯絡": [e["tp"], e["fp"]], "不聯絡": [e["fn"], e["tn"]]})
        blocks.append(Block(confusion, f"混淆矩陣（門檻 {break_even(settings):.1%}）", formats={"建議聯絡": MONEY, "不聯絡": MONEY}))
        blocks.append(Block(result.lift, "十分位提升度與累計增益（種子 001 圖5-8、種子 003 提升圖）",
                            formats={"平均預測機率": PCT, "購買率": PCT, "提升度(Lift)": "0.00", "累計客戶占比": PCT,
                                     "累計購買占比(Gains)": PCT, "隨機名單": PCT, "累計提升度": "0.00"},
                            data_bars=("提升度(Lift)",),
                            charts=(Chart("col", "各十分位提升度", "十分位", ("提升度(Lift)",), y_title="倍"),
                                    Chart("line", "累計增益", "十分位", ("累計購買占比(Gains)", "隨機名單"),
                                          y_title="買家占比"))))
        peak = int(result.curve["利潤"].to_numpy().argmax())
        blocks.append(Block(result.curve, f"利潤曲線（打前幾 % 的人；高峰在 {result.curve['聯絡前'].iloc[peak]}）",
                            formats={"利潤": MONEY, "聯絡人數": MONEY, "最低機率": PCT},
                            charts=(Chart("line", "利潤曲線", "聯絡前", ("利潤",), y_title="元", mark_row=peak),)))
    blocks.append(Block(f.cv, "模型比較（只用訓練組交叉驗證挑選）" + ("，訓練時的結果" if result.mode == "model" else ""),
                        formats={"交叉驗證 AUC": "0.000", "交叉驗證 Log loss": "0.0000", "交叉驗證利潤": MONEY}))
    if result.mode != "model":
        if result.comparability is not None:
            blocks.append(Block(result.comparability, "訓練／測試／全部 資料是否一致（種子 001 §5.4：平均、標準差、眾數）"))
        blocks.append(Block(result.rules, "決策樹規則 IF … THEN（種子 001 §5.5.2，Gini 樹、已修剪、出錯加權）",
                            formats={"信心度(購買率)": PCT, "支持度(客戶占比)": PCT}, widths={"IF（條件）": 40}))
    if result.odds is not None:
        odds = result.odds
        logit = f.estimators["logit"]
        title = "邏輯迴歸勝算比（>1 提高購買機率）" + ("；資料可完全分開，改用正則化估計，無 p 值" if logit.regularised else "") + (
            "；估計未完全收斂，係數僅供參考" if not logit.converged else "")
        blocks.append(Block(odds, title, formats={"係數": "0.000", "勝算比": "0.000", "95%信賴區間下限": "0.000",
                                                 "95%信賴區間上限": "0.000", "p值": "0.0000"}, widths={"變數": 28}))
    if len(result.ignored):
        blocks.append(Block(result.ignored, "未用於預測的欄位"))
    sheets.append(ResultSheet(EVAL_SHEET + suffix, tuple(blocks), _evaluation_notes(result, settings)))
    return sheets


def summary_of(result: CampaignResult, settings: Settings) -> dict:
    r, e = result.ranked, result.evaluation or {}
    calls = r["call"] == "是"
    seed = seed_000_row(result, settings)
    return {"mode": result.mode, "model": result.fitted.chosen, "saved_model": result.model_name,
            "label_column": result.label_column if result.label_reason else None, "label_reason": result.label_reason or None,
            "customers": int(len(r)), "recommended": int(calls.sum()),
            "expected_profit_recommended": round(float(r.loc[calls, "profit"].sum()), 0),
            "cutoff": break_even(settings),
            **{k: nan_to_none(v) for k, v in e.items() if k in ("rows", "auc", "precision", "recall", "top_decile_lift",
                                                                   "profit_list", "profit_everyone", "profit_oracle")},
            **({"profit_seed_000_list": seed["profit"]} if seed else {})}


def score_sheet(parsed, settings: Settings, as_of: pd.Timestamp, *, target: str | None = None,
                model: dict | None = None, progress=lambda message: None) -> CampaignResult:
    """One parsed campaign sheet scored: its label chosen (:func:`choose_label`; a saved model's
    features are never taken for it), then :func:`score_campaign`. What ``score`` and ``train``
    both run, so a list is read the same way by each."""
    never = tuple(f.column for f in model["fitted"].features) if model else ()
    choice = choose_label(parsed, target, never=never)
    result = score_campaign(parsed.frame, parsed.sheet, settings, as_of, choice=choice, model=model, progress=progress)
    result.problems[:0] = choice.problems(parsed.sheet)
    result.seed_data = is_seed_000_data(parsed.headers.values())
    return result


def analyse_campaign(ctx: "Context") -> "Contribution | None":
    """The pipeline analyser: 精準名單 + 模型評估 for each campaign sheet, summary for 摘要.

    ``ctx.model`` (score --model NAME) scores with a saved model from ``ctx.models_dir``;
    ``ctx.target`` (score --target COLUMN) names the known-result column.
    """
    from processor.pipeline import Contribution

    sheets = ctx.sheets.get("campaign", [])
    if not sheets:
        return None
    out = Contribution()
    from processor.analyse.calls import contact_directory

    contacts = ctx.sheets.get("contacts", [])
    directory = contact_directory(pd.concat([c.frame for c in contacts]) if contacts else None)
    model = None
    if ctx.model:
        from processor.models import load_model_cached

        # the user asked for this model: without it there is nothing sensible to score with, and a
        # ModelError is an UnusableInput, so it ends the run with its own message and fix
        model = load_model_cached(ctx.model, ctx.models_dir)
    summaries = []
    for i, parsed in enumerate(sheets):
        suffix = "" if i == 0 else f"{i + 1}"
        ctx.progress(f"精準名單：{parsed.sheet}")
        result = score_sheet(parsed, ctx.settings, ctx.as_of, target=ctx.target, model=model,
                             progress=ctx.progress)
        out.problems += result.problems
        if result.ranked is None:
            continue
        id_header = parsed.headers.get("customer_id", "客戶編號")
        sheets = campaign_sheets(result, id_header, ctx.settings, suffix, directory)
        out.sheets += sheets
        out.calls.append(precision_calls(result, ctx.settings.call_sheet_rows, directory, sheets[0].name))
        out.summary_blocks.append(Block(_key_figures(result, ctx.settings), f"精準名單（{parsed.sheet}）",
                                        as_table=False, widths={"項目": 30}))
        summaries.append({"sheet": parsed.sheet, **summary_of(result, ctx.settings)})
    if summaries:
        out.summary["precision_list"] = summaries
    return out


__all__ = ["Feature", "Fitted", "infer_features", "design_matrix", "parse_label", "fit_models", "evaluate",
           "lift_table", "profit_curve", "comparability", "tree_rules", "odds_ratios", "ranked_list",
           "expected_profit", "break_even", "class_weights", "deciles", "score_campaign", "score_sheet", "refit",
           "campaign_sheets", "analyse_campaign", "choose_label", "LabelChoice", "leakage", "shift_problems"]
