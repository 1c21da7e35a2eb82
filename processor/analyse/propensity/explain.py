"""Why a customer scores high: each feature's contribution to the shipped model's score, and the
two largest as 主要原因 in the rep's words (issue 15; seed 004: act on the list, knowing why).

The contribution of feature *f* for a customer is how much the chosen model's calibrated
log-odds fall when *f* alone is set to the typical customer's value — the training median for
numbers, dates and yes/no, the most frequent level for categories (the odds ratios' reference),
"not blank" for the blank indicator — all other features kept as they are. It is computed with
the model that ranks the list (logistic regression, the pruned tree or gradient boosting, see
:attr:`~processor.analyse.propensity.fit.Fitted.chosen`) by predicting once per feature, so it
is the model's own answer, whichever model that is. For the logistic regression it is exactly
its term b·β·(x − typical) (b the Platt slope); for the trees it is the change along the
customer's own path(s) when that one value moves (an occlusion contribution, not Shapley values:
interactions are not shared out).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .features import BLANK, CATEGORY, DATE, NUMBER, Feature, typed_values
from .fit import Fitted, _logit

REASONS = 2  # reasons shown per customer
NO_REASON = "沒有特別高於一般客戶的條件"


def contributions(fitted: Fitted, X: pd.DataFrame) -> pd.DataFrame:
    """rows × feature columns: the fall in the chosen model's log-odds when that feature alone is
    set to the typical customer's value (> 0: this customer's value raises the score).

    The rows are copied once per feature, that feature set to its typical value in its copy, and
    the copies predicted together, a few million cells at a time (one prediction call per block,
    not per feature: a call costs the boosting's 200 trees' fixed overhead however few rows it has).
    """
    base = _logit(fitted.predict(X))
    values = X.to_numpy(dtype=float)
    position = {column: i for i, column in enumerate(X.columns)}
    n, out = len(X), {}
    per_block = max(1, 4_000_000 // max(1, values.size))
    for at in range(0, len(fitted.features), per_block):  # blocks of features, never of customers
        block = fitted.features[at : at + per_block]
        copies = np.tile(values.T, len(block)).T  # column-major, as the frame below keeps it: no transposing copy
        unchanged = np.ones((len(block), n), dtype=bool)
        for i, f in enumerate(block):
            for column in f.design_columns():
                if column in position:
                    # one-hot levels and blank indicators off (the reference level, a filled value); values at the fill
                    typical = f.fill if f.kind != CATEGORY and column == f.column else 0.0
                    unchanged[i] &= values[:, position[column]] == typical
                    copies[i * n : (i + 1) * n, position[column]] = typical
        moved = _logit(fitted.predict(pd.DataFrame(copies, columns=X.columns))).reshape(len(block), n)
        # a customer already at the typical value gets exactly 0, not the rounding of a second prediction
        for i, f in enumerate(block):
            out[f.column] = np.where(unchanged[i], 0.0, base - moved[i])
    return pd.DataFrame(out, index=X.index)


def shown_values(frame: pd.DataFrame, features: list[Feature], as_of: pd.Timestamp) -> pd.DataFrame:
    """rows × feature columns: 「header value」 as a rep reads it — the cell as typed (61萬 stays
    61萬), a date with how many days ago, a blank cell as （空白）."""
    from processor.read.values import normalise_text, parse_dates

    out = {}
    for f in features:
        raw = frame[f.column] if f.column in frame else pd.Series(None, index=frame.index, dtype=object)
        text = normalise_text(
            raw.astype(object).map(
                lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else v, na_action="ignore"
            )
        )
        text = text.mask(text.isna() | (text == ""), BLANK)
        if f.kind == DATE:
            days = (as_of - parse_dates(raw)[0]).dt.days
            text = text.where(days.isna(), text + "（" + days.astype("Int64").astype("string") + " 天前）")
        elif f.kind == NUMBER:  # 61萬, 218171.0 and 1,200 all read as the number they are
            number = typed_values(raw, NUMBER, as_of)
            text = text.where(number.isna(), number.map(_number_text, na_action="ignore"))
        out[f.column] = (f.column + " " + text).astype(object)
    return pd.DataFrame(out, index=frame.index)


def _number_text(value: float) -> str:
    """218171.0 → 218,171; 2.5 → 2.5."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0").rstrip(".")


def top_reasons(contrib: pd.DataFrame, shown: pd.DataFrame, n: int = REASONS) -> pd.Series:
    """The ``n`` features that raise each customer's score most (positive contributions only),
    largest first, joined with 「、」; :data:`NO_REASON` when none raises it.

    >>> c = pd.DataFrame({"年齡": [0.5, -0.2], "職業": [0.9, -0.1], "會員": [0.1, -0.3]})
    >>> s = pd.DataFrame({"年齡": ["年齡 62", "年齡 30"], "職業": ["職業 老闆", "職業 學生"],
    ...                   "會員": ["會員 是", "會員 否"]})
    >>> top_reasons(c, s).tolist()
    ['職業 老闆、年齡 62', '沒有特別高於一般客戶的條件']
    """
    values = contrib.to_numpy(dtype=float)
    order = np.argsort(-values, axis=1, kind="stable")[:, :n]
    picked = np.take_along_axis(values, order, axis=1) > 0
    texts = np.take_along_axis(shown[contrib.columns].to_numpy(dtype=object), order, axis=1)
    texts = np.where(picked, texts, "")
    joined = pd.Series(["、".join(t for t in row if t) for row in texts.tolist()], index=contrib.index, dtype=object)
    return joined.mask(joined == "", NO_REASON)


def reasons(fitted: Fitted, X: pd.DataFrame, frame: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """主要原因 of each row of ``X`` (rows of ``frame``): :func:`top_reasons` of :func:`contributions`."""
    if not len(X):
        return pd.Series(dtype=object)
    return top_reasons(contributions(fitted, X), shown_values(frame.loc[X.index], fitted.features, as_of))
