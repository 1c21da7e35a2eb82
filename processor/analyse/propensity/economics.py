"""The money of a call list (seed 000): break-even probability, expected and realised profit,
error weights, and the ranked list with its cut-off.

seed 000: expected profit = p × (price − cost) − contact cost (2,500 / 750 / 175); call where it
is positive, i.e. where p ≥ contact cost / (price − cost).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from processor.settings import Settings


def break_even(settings: Settings) -> float:
    """The probability above which calling pays: contact cost / (price − cost) (seed 000: 175/1750 = 10%).

    >>> break_even(Settings())
    0.1
    """
    margin = settings.price - settings.cost
    return 1.0 if margin <= 0 else min(1.0, settings.contact_cost / margin)


def expected_profit(p: np.ndarray | pd.Series, settings: Settings):
    """Seed 000: expected profit of calling one customer = p × (price − cost) − contact cost.

    >>> float(expected_profit(np.array([0.5]), Settings())[0])
    700.0
    """
    return p * (settings.price - settings.cost) - settings.contact_cost


def realised_profit(y: np.ndarray, call: np.ndarray, settings: Settings) -> float:
    """Seed 000: buyers called × (price − cost) − called × contact cost.

    >>> realised_profit(np.array([1, 0, 1]), np.array([True, True, False]), Settings())
    1400.0
    """
    return float(y[call].sum() * (settings.price - settings.cost) - call.sum() * settings.contact_cost)


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


def deciles(p: pd.Series) -> pd.Series:
    """Decile 1 (highest probabilities) … 10 by rank; ties broken by list order.

    >>> deciles(pd.Series([0.9, 0.1, 0.5, 0.7, 0.3, 0.2, 0.8, 0.6, 0.4, 0.05])).tolist()
    [1, 9, 5, 3, 7, 8, 2, 4, 6, 10]
    """
    rank = p.rank(ascending=False, method="first")
    return np.ceil(rank * 10 / len(p)).astype(int).clip(1, 10)
