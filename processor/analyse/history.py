"""Per-customer visit history from a transaction log: the raw material of seed 004 §三.

A *visit* is a distinct purchase day (a day with at least one row of positive amount). From the
sorted visit days d1 < … < dn of each customer come the intervals Ti = d(i+1) − di, the recency
Tr = as_of − dn, and the count of intervals not longer than Tr (which gives the rank of Tr in
{T1 … Tn−1, Tr} with ties taking the highest rank). Money is summed over every row up to as_of:
returns (negative amounts) reduce it, zero rows change nothing.

Everything is computed on integer day numbers with one sort and ``reduceat`` over customer
blocks — no Python loop over customers (STYLE.md "Pure functions over DataFrames").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

REQUIRED = ("customer_id", "date", "amount")
YEAR_DAYS = 365
MIN_RATE_WINDOW_DAYS = 30  # a first visit last week is not a rate of 50 a year


@dataclass(frozen=True)
class VisitHistory:
    """Per-customer arrays (one entry per customer with at least one visit) plus the pooled intervals.

    ``ids`` (``id_values[id_codes]``) are the customer ids; ``columns`` maps first_purchase,
    last_purchase (datetime64[ns]),
    visits, mean_interval, max_interval, recency, intervals_le_recency, visits_per_year (visits in
    the last 365 days per year of that window the customer was known, the window at least 30 days
    from the first visit), revenue (net of returns) and margin (NaN without margin/cost columns)
    to arrays aligned with ``ids``.
    ``intervals``/``interval_owner`` hold every interval Ti and the position of the customer it
    belongs to, for population-level references. Plain arrays: a million customers are not
    copied into a frame only to be taken apart again.
    """

    id_values: np.ndarray  # distinct ids as given (object)
    id_codes: np.ndarray  # per customer, its position in id_values
    columns: dict
    intervals: np.ndarray
    interval_owner: np.ndarray
    as_of: pd.Timestamp

    @property
    def ids(self) -> np.ndarray:
        """The customer ids aligned with ``columns`` (one gather; callers that reorder compose codes instead)."""
        return self.id_values[self.id_codes]

    @property
    def customers(self) -> pd.DataFrame:
        """The per-customer columns as a frame indexed by customer_id."""
        return pd.DataFrame(self.columns, index=pd.Index(self.ids, name="customer_id"))


def day_numbers(dates: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 as int64 (NaT → int64 min); works for any datetime64 unit."""
    values = np.asarray(dates.to_numpy())
    if values.dtype.kind != "M":
        values = values.astype("datetime64[ns]")
    unit, count = np.datetime_data(values.dtype)
    per_day = {
        "D": 1,
        "h": 24,
        "m": 1440,
        "s": 86_400,
        "ms": 86_400_000,
        "us": 86_400_000_000,
        "ns": 86_400_000_000_000,
    }.get(unit)
    if per_day is None:  # weeks, months…: let numpy convert
        return np.asarray(values.astype("datetime64[D]").view(np.int64))
    raw = values.view(np.int64)  # the unit as stored (pandas 3 often keeps seconds or µs): no conversion pass
    return np.where(raw == np.iinfo(np.int64).min, raw, raw * count // per_day)


def visit_history(transactions: pd.DataFrame, as_of) -> VisitHistory:
    """Visits, intervals, recency and money per customer, seed 004 §三 steps 1–3.

    Rows dated after ``as_of`` or missing an id, a date or an amount are ignored here (the
    cleaning step reports them). Customer ids are used exactly as given.

    >>> t = pd.DataFrame({"customer_id": ["A"] * 3, "amount": [1.0, 1.0, 1.0],
    ...                   "date": pd.to_datetime(["2025-01-01", "2025-01-11", "2025-01-31"])})
    >>> visit_history(t, "2025-03-10").customers[["visits", "max_interval", "recency"]].values.tolist()
    [[3.0, 20.0, 38.0]]
    """
    missing = [c for c in REQUIRED if c not in transactions.columns]
    if missing:
        raise KeyError(f"transactions need columns {list(REQUIRED)}; missing {missing}")
    as_of = pd.Timestamp(as_of).normalize()
    as_of_day = int(np.datetime64(as_of.date(), "D").astype(np.int64))

    ids = transactions["customer_id"]
    if pd.api.types.is_string_dtype(ids.dtype) and not isinstance(ids.dtype, pd.CategoricalDtype):
        ids = ids.to_numpy(dtype=object)  # hashing the plain object array is 2x faster than via StringDtype
    codes, uniques = pd.factorize(ids, sort=False)  # missing id → -1
    day = day_numbers(pd.to_datetime(transactions["date"]))
    amount = pd.to_numeric(transactions["amount"], errors="coerce").to_numpy(dtype=float)
    nat = np.iinfo(np.int64).min
    used = (day != nat) & (day <= as_of_day) & ~np.isnan(amount) & (codes >= 0)
    if not used.all():  # a cleaned log uses every row: no copies then
        codes, day, amount = codes[used], day[used], amount[used]
    n_ids = len(uniques)

    # money over every used row (returns net off; zero rows add nothing)
    revenue = np.bincount(codes, weights=amount, minlength=n_ids)
    margin = _margin(transactions, used, amount, codes, n_ids)

    # visits: distinct (customer, day) among purchase rows, sorted by customer then day
    purchase = amount > 0
    if purchase.any():
        dmin = int(day[purchase].min())
        span = int(day[purchase].max()) - dmin + 1
        keys = codes[purchase].astype(np.int64) * span + (day[purchase] - dmin)
        if len(keys) and not (keys[1:] >= keys[:-1]).all():  # exports grouped by customer are sorted already
            keys.sort()
        keys = keys[np.r_[True, keys[1:] != keys[:-1]]]  # sort + mask: np.unique's hashing is 10x slower here
        cust, vday = np.divmod(keys, span)
        vday += dmin
    else:
        cust = vday = np.empty(0, dtype=np.int64)
    start = np.flatnonzero(np.r_[True, cust[1:] != cust[:-1]]) if len(cust) else np.empty(0, dtype=np.int64)
    visits = np.diff(np.r_[start, len(cust)])
    owner_code = cust[start]
    first, last = vday[start], vday[start + visits - 1]

    gaps = np.r_[0, np.diff(vday)] if len(vday) else np.empty(0, dtype=np.int64)
    is_first = np.zeros(len(vday), dtype=bool)
    is_first[start] = True
    gaps[is_first] = 0  # a first visit has no interval before it
    recency = as_of_day - last
    if len(start):
        max_interval = np.maximum.reduceat(gaps, start).astype(float)
        # first visits carry gap 0 ≤ Tr, so count every visit and take the first one back off
        within = np.add.reduceat(gaps <= np.repeat(recency, visits), start, dtype=np.int64) - 1
    else:
        max_interval, within = np.empty(0), np.empty(0, dtype=np.int64)
    # seed 004's visit rates are visits a month / a year: count the last 12 months' visits, per year
    # of the time the customer could have come in that window (from the first visit, at least a month)
    recent = (
        np.add.reduceat(vday > as_of_day - YEAR_DAYS, start, dtype=np.int64) if len(start) else np.empty(0, np.int64)
    )
    window = np.clip(as_of_day - first + 1, MIN_RATE_WINDOW_DAYS, YEAR_DAYS)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_interval = np.where(visits > 1, (last - first) / np.maximum(visits - 1, 1), np.nan)
    max_interval[visits < 2] = np.nan

    columns = {
        "first_purchase": first.astype("datetime64[D]").astype("datetime64[ns]"),
        "last_purchase": last.astype("datetime64[D]").astype("datetime64[ns]"),
        "visits": visits.astype(float),
        "mean_interval": mean_interval,
        "max_interval": max_interval,
        "recency": recency.astype(float),
        "intervals_le_recency": within.astype(float),
        "visits_per_year": recent * YEAR_DAYS / window,
        "revenue": revenue[owner_code],
        "margin": margin[owner_code],
    }
    return VisitHistory(
        np.asarray(uniques, dtype=object),
        owner_code,
        columns,
        gaps[~is_first],
        np.repeat(np.arange(len(start)), visits - 1),
        as_of,
    )


def _margin(transactions: pd.DataFrame, used: np.ndarray, amount: np.ndarray, codes: np.ndarray, n: int) -> np.ndarray:
    """Gross margin per customer: the margin column if given, else amount − cost, else NaN."""
    if "margin" in transactions.columns:
        values = pd.to_numeric(transactions["margin"], errors="coerce").to_numpy(dtype=float)[used]
    elif "cost" in transactions.columns:
        values = amount - pd.to_numeric(transactions["cost"], errors="coerce").to_numpy(dtype=float)[used]
    else:
        return np.full(n, np.nan)
    if np.isnan(values).all():
        return np.full(n, np.nan)
    return np.bincount(codes, weights=np.nan_to_num(values), minlength=n)
