"""The economics of calling a customer: expected profit of one contact (seed 000 worked example).

One definition, used by the 精準名單 scoring and by the ``PL_EXPECTED_PROFIT`` cell formula.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def expected_profit(p: pd.Series, price: float, cost: float, contact_cost: float) -> pd.Series:
    """Expected profit of contacting each customer: p × (price − cost) − contact cost (seed 000, DESIGN §4).

    With the seed's numbers (售價 2,500, 成本 750, 聯絡成本 175) a customer is worth calling
    when p > 175 / 1,750 = 10%.

    >>> expected_profit(pd.Series([0.5, 0.1, 0.0]), 2500, 750, 175).tolist()
    [700.0, 0.0, -175.0]
    """
    p = pd.to_numeric(pd.Series(p), errors="coerce").astype(float)
    return p * (float(price) - float(cost)) - float(contact_cost)


def break_even_probability(price: float, cost: float, contact_cost: float) -> float:
    """The probability above which a contact pays for itself: contact cost ÷ (price − cost).

    >>> break_even_probability(2500, 750, 175)
    0.1
    """
    margin = float(price) - float(cost)
    return float(np.inf) if margin <= 0 else float(contact_cost) / margin
