"""Baseline (b): the seed 004 formulas written the straightforward way, one customer at a time.

This is what a careful analyst would write first; it is the oracle the tests compare the
vectorised :func:`processor.analyse.silence.silence_table` against, and the baseline it is timed
against in ``bench_silence.py``. Only customers with at least ``min_visits`` visits are
scored here (the population reference for the others is a vectorised extra).
"""

from __future__ import annotations

import pandas as pd


def silence_loop(transactions: pd.DataFrame, as_of, min_visits: int = 2) -> pd.DataFrame:
    """customer_id, visits, max_interval, recency, rank_ratio, silence_score, silence_group per customer."""
    as_of = pd.Timestamp(as_of).normalize()
    rows = []
    purchases = transactions[(transactions["amount"] > 0) & (transactions["date"] <= as_of)]
    for customer, part in purchases.groupby("customer_id", sort=True):  # the loop being measured
        days = sorted(set(d.normalize() for d in part["date"]))
        n = len(days)
        if n < min_visits:
            continue
        intervals = [(b - a).days for a, b in zip(days, days[1:])]
        tr = (as_of - days[-1]).days
        values = sorted(intervals + [tr])
        rank = max(i + 1 for i, v in enumerate(values) if v == tr)  # ties take the highest rank
        trf = rank / n
        group = "a" if trf < 0.4 else "b" if trf < 0.6 else "c" if trf < 0.8 else "d" if trf < 0.95 else "e"
        rows.append(
            {
                "customer_id": customer,
                "visits": n,
                "max_interval": float(max(intervals)),
                "recency": float(tr),
                "rank_ratio": trf,
                "silence_score": tr / max(intervals),
                "silence_group": group,
            }
        )
    return pd.DataFrame(
        rows,
        columns=["customer_id", "visits", "max_interval", "recency", "rank_ratio", "silence_score", "silence_group"],
    )
