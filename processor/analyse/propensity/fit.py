"""Fitting the three models and reading them (seed 001 §5.5).

Logistic regression (odds ratios), a pruned Gini decision tree with error weights (IF … THEN
rules) and gradient boosting; the one used for the list is chosen by cross-validated profit on
the training rows only, and its probabilities are Platt-calibrated on out-of-fold scores.
"""

from __future__ import annotations

import copy
import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from processor.settings import Settings

from .economics import break_even, class_weights, realised_profit
from .features import BOOLEAN, CATEGORY, Feature

#: OpenMP/BLAS threads for fitting and predicting: half the cores. Threads beyond the free cores
#: spin-wait (measured on a busy 2-core box: 1 thread 2–5× faster than 2 for Newton and boosting)
THREADS = max(1, (os.cpu_count() or 2) // 2)

MODELS = ("logit", "tree", "boosting")

MODEL_LABELS = {"logit": "邏輯迴歸", "tree": "決策樹（Gini，已修剪）", "boosting": "梯度提升"}


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


def fit_models(
    X: pd.DataFrame, y: pd.Series, features: list[Feature], settings: Settings, progress=lambda message: None
) -> Fitted:
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
                inner = (
                    list(
                        StratifiedKFold(n_folds, shuffle=True, random_state=settings.random_state).split(
                            X.iloc[train], y_arr[train]
                        )
                    )
                    if kind == "tree"
                    else []
                )
                est = fit_one(kind, X.iloc[train], y_arr[train], settings, inner)
                raw[test] = raw_scores(kind, est, X.iloc[test])
            calibration[kind] = platt(raw, y_arr)
            p = calibrated(raw, calibration[kind])
            oofs[kind] = p
            call = p >= cutoff
            rows.append(
                {
                    "模型": MODEL_LABELS[kind],
                    "key": kind,
                    "交叉驗證 AUC": roc_auc_score(y_arr, p),
                    "交叉驗證 Log loss": log_loss(y_arr, p, labels=[0, 1]),
                    "交叉驗證建議聯絡": int(call.sum()),
                    "交叉驗證利潤": realised_profit(y_arr, call, settings),
                }
            )
            estimators[kind] = fit_one(kind, X, y_arr, settings, folds)
    cv = pd.DataFrame(rows)
    best = cv.sort_values(["交叉驗證利潤", "交叉驗證 AUC"], ascending=False).iloc[0]["key"]
    cv["選用"] = np.where(cv["key"] == best, "是", "否")
    return Fitted(
        features,
        list(X.columns),
        estimators,
        calibration,
        best,
        cv.drop(columns="key"),
        pd.Series(oofs[best], index=X.index),
        cutoff,
        {"price": settings.price, "cost": settings.cost, "contact_cost": settings.contact_cost},
    )


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
    return Fitted(
        fitted.features,
        fitted.design,
        estimators,
        fitted.calibration,
        fitted.chosen,
        fitted.cv,
        pd.Series(dtype=float),
        fitted.cutoff,
        fitted.economics,
    )


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


def fit_one(kind: str, X: pd.DataFrame, y: np.ndarray, settings: Settings, folds: list):
    if kind == "logit":
        return fit_logit(X, y)
    if kind == "tree":
        return fit_tree(X, y, settings, folds)
    return fit_boosting(X, y, settings)


def fit_logit(X: pd.DataFrame, y: np.ndarray) -> LogitFit:
    """Logistic regression by statsmodels (maximum likelihood, Newton), with standard errors and
    p-values. On (quasi-)separation or a singular design the maximum-likelihood estimate does not
    exist; it then falls back to the L1-penalised estimate without p-values (:func:`l1_logit`,
    α = 1: the objective of statsmodels' ``Logit.fit_regularized(alpha=1.0)``)."""
    # the one model, not statsmodels.api (every model statsmodels has: twice the import time)
    from statsmodels.discrete.discrete_model import Logit
    from statsmodels.tools.tools import add_constant

    keep = [c for c in X.columns if X[c].std() > 0]
    design = add_constant(X[keep].to_numpy(dtype=float), has_constant="add")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = Logit(y, design).fit(disp=0, maxiter=100, method="newton")
        params, bse, pvalues = np.asarray(result.params), np.asarray(result.bse), np.asarray(result.pvalues)
        if not np.all(np.isfinite(bse)) or np.abs(params).max() > 30:
            raise np.linalg.LinAlgError("separation")
        return LogitFit(keep, params, bse, pvalues)
    except Exception:  # statsmodels raises several types (PerfectSeparation, LinAlgError, warnings)
        params, converged = l1_logit(design, y)
        nan = np.full_like(params, np.nan)
        return LogitFit(keep, params, nan, nan, regularised=True, converged=converged)


def l1_logit(design: np.ndarray, y: np.ndarray, alpha: float = 1.0) -> tuple[np.ndarray, bool]:
    """The L1-penalised logistic regression (the lasso, Tibshirani 1996): argmin over β of
    −log L(β) + α·Σ|β_k|, every coefficient penalised, the intercept too — the objective of
    statsmodels' ``Logit.fit_regularized(method="l1", alpha=α)``. Returns (β, whether the optimum's
    conditions hold to 1e-6: ∂_k log L = α·sign β_k where β_k ≠ 0, |∂_k log L| ≤ α where β_k = 0).

    statsmodels solves it with SLSQP over 2k variables and 2k constraints: a second per fit at 150
    columns, and its optimum only to about 1e-3 in those conditions (or 200 iterations short of it).
    Here: L-BFGS-B on the smooth split β = p − q, p, q ≥ 0, columns scaled to at most 1, then Newton
    steps on the non-zero coefficients with their signs held (a zero one joins when its condition
    fails) until the conditions hold to rounding — the same optimum, exactly.

    >>> beta, converged = l1_logit(np.column_stack([np.ones(6), np.arange(6)]), np.array([0, 0, 0, 1, 1, 1]))
    >>> beta.round(4).tolist(), converged
    ([0.0, 0.2835], True)
    """
    from scipy.optimize import Bounds, minimize

    size = np.abs(design).max(axis=0)
    size = np.where(size > 0, size, 1.0)
    Z, weight = design / size, alpha / size  # b = β·size: the same penalty α·|β| is weight·|b|
    k = Z.shape[1]

    def objective(b: np.ndarray) -> float:
        z = Z @ b
        return float(np.sum(np.logaddexp(0.0, z) - y * z) + weight @ np.abs(b))

    def split(w: np.ndarray) -> tuple[float, np.ndarray]:  # the objective over (p, q), smooth, with its gradient
        z = Z @ (w[:k] - w[k:])
        g = Z.T @ (_sigmoid(z) - y)
        return float(np.sum(np.logaddexp(0.0, z) - y * z) + weight @ (w[:k] + w[k:])), np.r_[g + weight, weight - g]

    def conditions(b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(probabilities, gradient, how far each coefficient's condition is off, in units of α)."""
        mu = _sigmoid(Z @ b)
        g = Z.T @ (mu - y)
        off = np.where(b != 0, np.abs(g + weight * np.sign(b)), np.maximum(np.abs(g) - weight, 0.0))
        return mu, g, off * size

    options = {"maxiter": 10_000, "ftol": 0.0, "gtol": 1e-10}
    w = minimize(split, np.zeros(2 * k), jac=True, method="L-BFGS-B", bounds=Bounds(0.0, np.inf), options=options).x
    b = w[:k] - w[k:]
    for _ in range(50):  # Newton on the support: a step or two from L-BFGS-B's answer
        mu, g, off = conditions(b)
        if off.max() <= 1e-9 * alpha:
            break
        on, sign = b != 0, np.sign(b)
        if off[on].max(initial=0.0) <= 1e-9 * alpha:  # optimal on its support: the worst zero joins it
            j = int(np.argmax(off))
            on[j], sign[j] = True, -np.sign(g[j])
        H = Z[:, on].T @ (Z[:, on] * (mu * (1 - mu))[:, None])
        step = np.linalg.lstsq(H, g[on] + weight[on] * sign[on], rcond=None)[0]
        now = b[on]
        # a coefficient reaching zero leaves the support there; the objective must not rise
        reach = np.where(step * now > 0, now / np.where(step != 0, step, 1.0), np.inf)
        t, first = min(1.0, reach.min()), int(np.argmin(reach))
        before = objective(b)
        for _ in range(30):
            trial = b.copy()
            trial[on] = now - t * step
            if t == reach[first]:
                trial[np.flatnonzero(on)[first]] = 0.0
            if objective(trial) <= before:
                break
            t /= 2
        b = trial
    return b / size, bool(conditions(b)[2].max() <= 1e-6 * alpha)


def fit_tree(X: pd.DataFrame, y: np.ndarray, settings: Settings, folds: list) -> object:
    """A Gini decision tree with error weights, cost-complexity pruned: the pruning strength is
    the one whose cross-validated profit (calling the leaves that say "call") is highest.

    Pruning is done after a tree is grown and never changes how it grows, so each tree is grown
    once (on all rows, on each fold) and pruned at every candidate strength (:func:`_pruned`):
    the same trees as fitting ``DecisionTreeClassifier(ccp_alpha=alpha)`` for each alpha anew.
    """
    from sklearn.tree import DecisionTreeClassifier
    from sklearn.tree._tree import ccp_pruning_path

    weights = class_weights(settings)
    base = dict(
        criterion="gini",
        class_weight=weights,
        max_depth=6,
        random_state=settings.random_state,
        min_samples_leaf=max(10, len(y) // 200),
    )
    grown = DecisionTreeClassifier(**base).fit(X, y)
    path = ccp_pruning_path(grown.tree_)  # what cost_complexity_pruning_path(X, y) grows this same tree for
    alphas = np.unique(
        np.quantile(path["ccp_alphas"][:-1] if len(path["ccp_alphas"]) > 1 else [0.0], [0.0, 0.5, 0.75, 0.9, 0.97])
    )
    margin, contact = settings.price - settings.cost, settings.contact_cost
    values = X.to_numpy(dtype=np.float32)  # the trees' own dtype: converted once, not per fold and alpha
    profits = np.zeros(len(alphas))
    for train, test in folds:
        fold_tree = DecisionTreeClassifier(**base).fit(values[train], y[train])
        for i, alpha in enumerate(alphas):  # a handful of strengths
            call = _pruned(fold_tree, alpha).predict(values[test]) == 1
            profits[i] += y[test][call].sum() * margin - call.sum() * contact

    # prefer the simpler tree on ties: alphas ascend, so take the last maximum
    alpha = alphas[np.flatnonzero(profits == profits.max())[-1]]
    return _pruned(grown, float(alpha))


def _pruned(tree, alpha: float):
    """``tree`` pruned at cost-complexity ``alpha``: scikit-learn's own step after growing a tree
    with ``ccp_alpha`` (``_prune_tree``, a private method: ``tests/test_propensity.py`` checks the
    result equals refitting), on a copy, so the grown tree stays as it is."""
    out = copy.copy(tree)
    out.ccp_alpha = alpha
    out._prune_tree()  # builds a new node table; the grown tree's is left untouched
    return out


def fit_boosting(X: pd.DataFrame, y: np.ndarray, settings: Settings) -> object:
    """Gradient boosting (histogram trees), a fixed modest configuration; unweighted so that its
    scores stay close to probabilities (error weighting is applied at the cut-off)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=200,
        learning_rate=0.08,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=settings.random_state,
    ).fit(X, y)


def raw_scores(kind: str, estimator, X: pd.DataFrame) -> np.ndarray:
    if kind == "logit":
        return estimator.predict(X)
    names = list(estimator.feature_names_in_)
    return estimator.predict_proba(X if list(X.columns) == names else X[names])[:, 1]  # no copy when in order


def platt(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt calibration on out-of-fold scores: p = σ(a + b·logit(raw)); returns (a, b)."""
    from sklearn.linear_model import LogisticRegression

    z = _logit(raw).reshape(-1, 1)
    lr = LogisticRegression(C=1e4).fit(z, y)
    return float(lr.intercept_[0]), float(lr.coef_[0, 0])


def calibrated(raw: np.ndarray, calibration: tuple[float, float]) -> np.ndarray:
    a, b = calibration
    return _sigmoid(a + b * _logit(raw))


def _folds(X: pd.DataFrame, y: np.ndarray, settings: Settings) -> tuple[int, list]:
    from sklearn.model_selection import StratifiedKFold

    n_folds = int(min(3, np.bincount(y).min()))
    return n_folds, list(StratifiedKFold(n_folds, shuffle=True, random_state=settings.random_state).split(X, y))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))


def odds_ratios(fit: LogitFit, features: list[Feature]) -> pd.DataFrame:
    """Odds ratios with 95% confidence interval and p-value per design column (seed 001 §5.5
    interpretable model). A category level reads "相對於 <reference level>"."""
    reference = {f"{f.column}={lvl}": f.levels[0] for f in features if f.kind == CATEGORY for lvl in f.levels[1:]}
    booleans = {f.column for f in features if f.kind == BOOLEAN}
    coef, se = fit.params[1:], fit.bse[1:]
    frame = pd.DataFrame(
        {
            "變數": fit.names,
            "說明": [
                f"相對於「{reference[n]}」"
                if n in reference
                else "是 vs 否"
                if n in booleans
                else ("每增加 1" if "（空白）" not in n else "空白 vs 有填")
                for n in fit.names
            ],
            "係數": coef,
            "勝算比": np.exp(coef),
            "95%信賴區間下限": np.exp(coef - 1.96 * se),
            "95%信賴區間上限": np.exp(coef + 1.96 * se),
            "p值": fit.pvalues[1:],
        }
    )
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
    frame = pd.DataFrame(
        {
            "leaf": stats.index,
            "IF（條件）": [" 且 ".join(conditions[int(i)]) or "（全部客戶）" for i in stats.index],
            "客戶數": stats["size"].to_numpy(),
            "購買數": stats["sum"].to_numpy().astype(int),
        }
    )
    frame["信心度(購買率)"] = frame["購買數"] / frame["客戶數"]
    frame["支持度(客戶占比)"] = frame["客戶數"] / len(X)
    frame["THEN（結論）"] = np.where(frame["信心度(購買率)"] >= cutoff, "建議聯絡", "不聯絡")
    return (
        frame.sort_values("信心度(購買率)", ascending=False)
        .drop(columns="leaf")
        .reset_index(drop=True)[
            ["IF（條件）", "THEN（結論）", "信心度(購買率)", "支持度(客戶占比)", "客戶數", "購買數"]
        ]
    )


def _threshold_text(value: float) -> str:
    """A split point as a rep reads it: thousands separators, never scientific notation.

    >>> [_threshold_text(v) for v in (18110.5, 135412.75, 60.5, 3.0, 0.35, 0.000123)]
    ['18,110.5', '135,412.75', '60.5', '3', '0.35', '0.000123']
    """
    if abs(value) >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.4g}" if abs(value) >= 1e-4 else f"{value:.6f}".rstrip("0").rstrip(".") or "0"
