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

    Only the customers whose value is not already the typical one are predicted again (the others
    get exactly 0): their rows are copied, that feature set to its typical value in each copy, and
    the copies of many features predicted together, a few million cells at a time — one prediction
    call per block, not per feature: a call costs the boosting's 200 trees' overhead however few
    rows it has.
    """
    base = _logit(fitted.predict(X))
    values = X.to_numpy(dtype=float)
    position = {column: i for i, column in enumerate(X.columns)}
    out = np.zeros((len(X), len(fitted.features)))
    moves = []  # per feature: its design columns, their typical values, the rows not already there
    for f in fitted.features:  # tens of features, never customers
        columns = [position[c] for c in f.design_columns() if c in position]
        # one-hot levels and blank indicators off (the reference level, a filled value); values at the fill
        typical = [f.fill if f.kind != CATEGORY and X.columns[c] == f.column else 0.0 for c in columns]
        moves.append((columns, typical, np.flatnonzero((values[:, columns] != typical).any(axis=1))))
    rows_per_block = max(1, 4_000_000 // max(1, values.shape[1]))
    j = 0
    while j < len(moves):  # a block: features whose copies together stay within the budget (at least one)
        end, size = j + 1, len(moves[j][2])
        while end < len(moves) and size + len(moves[end][2]) <= rows_per_block:
            size, end = size + len(moves[end][2]), end + 1
        copies = np.empty((size, values.shape[1]), order="F")  # column-major, as the frame below keeps it
        at = 0
        for columns, typical, rows in moves[j:end]:
            copies[at : at + len(rows)] = np.take(values, rows, axis=0)  # take, not values[rows]: ~10× faster here
            copies[at : at + len(rows), columns] = typical
            at += len(rows)
        moved = _logit(fitted.predict(pd.DataFrame(copies, columns=X.columns))) if size else np.empty(0)
        at = 0
        for i in range(j, end):
            rows = moves[i][2]
            out[rows, i] = base[rows] - moved[at : at + len(rows)]
            at += len(rows)
        j = end
    return pd.DataFrame(out, index=X.index, columns=[f.column for f in fitted.features])


def shown_values(frame: pd.DataFrame, features: list[Feature], as_of: pd.Timestamp) -> pd.DataFrame:
    """rows × feature columns: 「header value」 as a rep reads it — the cell as typed (61萬 stays
    61萬), a date with how many days ago, a blank cell as （空白）. Each distinct cell value is
    written once (:func:`processor.read.values.once_per_distinct`) and the text taken back to its rows."""
    from processor.read.values import once_per_distinct

    out = {}
    for f in features:  # tens of features; the rows are handled by one take each
        raw = frame[f.column] if f.column in frame else pd.Series(None, index=frame.index, dtype=object)
        texts = once_per_distinct(raw.astype(object), lambda cells, f=f: f.column + " " + _shown(cells, f, as_of))
        blank = f"{f.column} {BLANK}"
        out[f.column] = pd.Series(texts, index=frame.index, dtype=object).fillna(blank)
    return pd.DataFrame(out, index=frame.index)


def _shown(cells: pd.Series, f: Feature, as_of: pd.Timestamp) -> pd.Series:
    """The text of each cell of one feature column (see :func:`shown_values`)."""
    from processor.read.values import normalise_text, parse_dates

    text = normalise_text(
        cells.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else v, na_action="ignore")
    )
    text = text.mask(text.isna() | (text == ""), BLANK)
    if f.kind == DATE:
        days = (as_of - parse_dates(cells)[0]).dt.days
        text = text.where(days.isna(), text + "（" + days.astype("Int64").astype("string") + " 天前）")
    elif f.kind == NUMBER:  # 61萬, 218171.0 and 1,200 all read as the number they are
        number = typed_values(cells, NUMBER, as_of)
        text = text.where(number.isna(), number.map(_number_text, na_action="ignore"))
    return text


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
