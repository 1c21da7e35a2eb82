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
    id_hash_values: np.ndarray | None = None  # :func:`id_hashes` of ``id_values`` when already computed

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


@dataclass(frozen=True)
class DailyTotals:
    """A transaction log reduced to one row per (customer, day) with a used row, sorted by customer then day.

    Sums of sums are sums: totals of pieces of a log, stacked and reduced again by :func:`merge_daily`, are the
    totals of the whole log — what lets an engine reduce each piece before moving it (a combiner, as in
    MapReduce) and still compute every customer's history exactly. ``margin``/``cost_margin`` (NaN as 0) and
    their known-row counts are None when the log has no 毛利 / 成本 column; ``plain`` counts rows whose id
    was typed exactly as normalised (None where nobody asks: the variants check of a partitioned log).
    ``id_hash`` is :func:`id_hashes` of ``ids`` where an engine already hashed them (to cut a log into buckets):
    carried along so no id is hashed twice, and so :func:`merge_daily` matches ids by their hashes.
    """

    ids: np.ndarray  # distinct customer ids (object); ``customer`` indexes it
    customer: np.ndarray  # int32
    day: np.ndarray  # int32 days since 1970-01-01
    rows: np.ndarray  # int32 rows that day
    purchases: np.ndarray  # int32 rows with a positive amount
    amount: np.ndarray  # net amount (returns deducted)
    spend: np.ndarray  # positive amounts only (what a purchase day spent)
    margin: np.ndarray | None = None
    margin_known: np.ndarray | None = None
    cost_margin: np.ndarray | None = None
    cost_known: np.ndarray | None = None
    plain: np.ndarray | None = None
    id_hash: np.ndarray | None = None  # uint64 per id (not per row)

    SUMMED = ("rows", "purchases", "amount", "spend", "margin", "margin_known", "cost_margin", "cost_known", "plain")

    def __len__(self) -> int:
        return len(self.customer)

    def __sizeof__(self) -> int:
        """Bytes held (what Dask's memory accounting reads through ``sys.getsizeof``), ids at ~64 bytes each
        (a short Python string and its pointer): without it a worker counts its totals as empty and, near its
        limit, spills them to disk over and over without freeing anything."""
        arrays = [getattr(self, k) for k in ("customer", "day", "id_hash", *self.SUMMED)]
        return sum(a.nbytes for a in arrays if a is not None) + 64 * len(self.ids)


def daily_totals(
    customer: np.ndarray,
    ids: np.ndarray,
    day: np.ndarray,
    amount: np.ndarray,
    *,
    margin: np.ndarray | None = None,
    cost: np.ndarray | None = None,
    plain: np.ndarray | None = None,
) -> DailyTotals:
    """:class:`DailyTotals` of used rows (``customer`` codes into ``ids``, every row counted): one integer
    sort and ``reduceat``, no Python loop. ``margin`` / ``cost`` / ``plain`` are per-row values (NaN unknown)."""
    sums = {
        "rows": np.ones(len(customer), dtype=np.int32),
        "purchases": (amount > 0).astype(np.int32),
        "amount": amount,
        "spend": np.where(amount > 0, amount, 0.0),
    }
    if margin is not None:
        sums["margin"], sums["margin_known"] = np.nan_to_num(margin), (~np.isnan(margin)).astype(np.int32)
    if cost is not None:
        cost_margin = amount - cost
        sums["cost_margin"], sums["cost_known"] = np.nan_to_num(cost_margin), (~np.isnan(cost_margin)).astype(np.int32)
    if plain is not None:
        sums["plain"] = plain.astype(np.int32)
    return _reduced(np.asarray(ids, dtype=object), customer, day, sums)


def merge_daily(pieces: list[DailyTotals]) -> DailyTotals:
    """The totals of the pieces' rows together: ids matched by value, same (customer, day) rows summed.

    >>> a = daily_totals(np.array([0, 0]), np.array(["A"], dtype=object), np.array([5, 5]), np.array([1.0, 2.0]))
    >>> b = daily_totals(np.array([0]), np.array(["A"], dtype=object), np.array([5]), np.array([-1.0]))
    >>> m = merge_daily([a, b]); m.rows.tolist(), m.amount.tolist(), m.spend.tolist()
    ([3], [2.0], [3.0])
    """
    pieces = [p for p in pieces if p is not None]
    if len(pieces) == 1:
        return pieces[0]
    every_id = np.concatenate([p.ids for p in pieces]) if pieces else np.empty(0, dtype=object)
    hashed = bool(pieces) and all(p.id_hash is not None for p in pieces)
    codes, ids, id_hash = _matched(every_id, np.concatenate([p.id_hash for p in pieces]) if hashed else None)
    offsets = np.cumsum([0] + [len(p.ids) for p in pieces])
    customer = np.concatenate([codes[o : o + len(p.ids)][p.customer] for o, p in zip(offsets, pieces)])
    day = np.concatenate([p.day for p in pieces])
    sums = {}
    for key in DailyTotals.SUMMED:
        present = [getattr(p, key) for p in pieces if getattr(p, key) is not None]
        if present:  # a piece without the column adds zeros (its rows have no known margin)
            kind = np.float64 if key in ("amount", "spend", "margin", "cost_margin") else np.int32
            sums[key] = np.concatenate(
                [getattr(p, key) if getattr(p, key) is not None else np.zeros(len(p), dtype=kind) for p in pieces]
            )
    return _reduced(np.asarray(ids, dtype=object), customer, day, sums, id_hash)


def id_hashes(ids: np.ndarray) -> np.ndarray:
    """The uint64 hash of each id (pandas' ``hash_array`` of the ids as objects): what buckets a partitioned log
    and breaks ties in every engine's order (:func:`processor.analyse.silence.silence_from_statistics`). The ids
    are distinct where this is called, so they are hashed as they are (``categorize=False``: the same hashes,
    without factorizing the strings first — 10x faster on a million ids).

    >>> h = id_hashes(np.array(["A001", "B7", "A001"], dtype=object)); h.dtype.name, bool(h[0] == h[2])
    ('uint64', True)
    """
    if not len(ids):
        return np.empty(0, dtype=np.uint64)
    return pd.util.hash_array(np.asarray(ids, dtype=object), categorize=False)


def _matched(every_id: np.ndarray, every_hash: np.ndarray | None):
    """``pd.factorize(every_id, sort=False)``'s codes and uniques, plus the uniques' hashes when ``every_hash``
    (one per id) is given: then the integer hashes are factorized instead of the strings, and every id is
    checked against the first id of its hash — only if two different ids share a hash are the strings used."""
    if every_hash is not None and len(every_hash):
        codes, hashes = pd.factorize(every_hash, sort=False)
        top = np.maximum.accumulate(codes)
        first = np.flatnonzero(np.r_[True, top[1:] > top[:-1]])  # first appearances, in code order
        ids = every_id[first]
        seen = np.ones(len(codes), dtype=bool)
        seen[first] = False
        if (ids[codes[seen]] == every_id[seen]).all():
            return codes, ids, hashes
    codes, ids = pd.factorize(every_id, sort=False)
    return codes, ids, id_hashes(ids) if every_hash is not None else None


def stable_order(key: np.ndarray) -> np.ndarray:
    """``np.argsort(key, kind="stable")`` of non-negative integers, by one ``np.sort`` of ``key << b | position``
    when that fits in 63 bits (b the positions' bits): equal keys stay in position order, so it is the stable
    order exactly, and numpy's sort of plain integers (vectorised) is about twice as fast as its stable argsort
    (16M keys: 1.1–1.7 against 2.4–2.9 s). Else the stable argsort itself.

    >>> stable_order(np.array([3, 1, 3, 0, 1])).tolist()
    [3, 1, 4, 0, 2]
    """
    return _sorted_in_place(np.array(key, dtype=np.int64))[1]


def _sorted_in_place(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(``key`` sorted, its stable order) for a fresh int64 array of non-negative integers, which becomes the
    sorted keys (see :func:`stable_order`; no other n-long array is made than the order: fresh memory is slow to
    fault in on a busy box, 5 ms a megabyte on the build machine)."""
    n = len(key)
    bits = max(int(n - 1).bit_length(), 1)
    if n < 2 or int(key.min()) < 0 or int(key.max()).bit_length() + bits > 63:
        order = np.argsort(key, kind="stable")
        return key[order], order
    key <<= bits
    position = np.arange(min(n, _CHUNK), dtype=np.int64)
    for start in range(0, n, _CHUNK):  # positions added a million at a time, not as a second n-long array
        part = key[start : start + _CHUNK]
        part |= position[: len(part)]
        position += _CHUNK
    key.sort()
    order = key & ((1 << bits) - 1)
    key >>= bits
    return key, order


_CHUNK = 1 << 20


def ordered_by(values: np.ndarray, tie_order: np.ndarray) -> np.ndarray:
    """The rows by ascending ``values``, equal values in ``tie_order`` (a permutation of the rows): the same as
    ``np.lexsort((rank in tie_order, values))``, by one stable argsort of the values laid out in ``tie_order``
    (12.4M customers: 2.3 s where ``np.lexsort((id_hash, values))`` takes 5.7 s). NaN last, as both sorts put it.

    >>> ordered_by(np.array([2.0, 1.0, 2.0, 1.0]), np.array([2, 3, 0, 1])).tolist()
    [3, 1, 2, 0]
    """
    return tie_order[np.argsort(values[tie_order], kind="stable")]


def _reduced(ids: np.ndarray, customer: np.ndarray, day: np.ndarray, sums: dict, id_hash=None) -> DailyTotals:
    """Rows of equal (customer, day) summed, sorted; codes, days and counts kept as int32 (what a partitioned
    engine holds between its steps: 36 bytes a row instead of 56)."""
    customer, day, sums = summed_by_day(customer, day, sums)
    return DailyTotals(ids, customer.astype(np.int32), day.astype(np.int32), **sums, id_hash=id_hash)


def summed_by_day(customer: np.ndarray, day: np.ndarray, sums: dict) -> tuple[np.ndarray, np.ndarray, dict]:
    """The distinct (customer, day) pairs, sorted by customer then day (int64), and each of ``sums``' columns
    summed over a pair's rows in row order: how rows become days, for every engine's daily totals and for
    客戶價值's purchase days (:func:`processor.analyse.value.purchase_days`).

    >>> c, d, s = summed_by_day(np.array([1, 0, 1]), np.array([5, 9, 5]), {"amount": np.array([1.0, 2.0, 3.0])})
    >>> c.tolist(), d.tolist(), s["amount"].tolist()
    ([0, 1], [9, 5], [2.0, 4.0])
    """
    if not len(customer):
        return customer.astype(np.int64), day.astype(np.int64), {k: v[:0] for k, v in sums.items()}
    dmin = int(day.min())
    span = int(day.max()) - dmin + 1
    key = np.multiply(customer, span, dtype=np.int64)  # (customer, day) as one integer, in one new array
    key += day
    key -= dmin
    if not (key[1:] >= key[:-1]).all():  # exports grouped by customer and date are sorted already
        key, order = _sorted_in_place(key)
        sums = {k: v[order] for k, v in sums.items()}
        del order
    start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    if len(start) < len(key):
        sums = {k: np.add.reduceat(v, start) for k, v in sums.items()}
        key = key[start]
    pair_day = np.remainder(key, span)
    key //= span  # the key becomes the customer code
    pair_day += dmin
    return key, pair_day, sums


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
    optional = {
        key: pd.to_numeric(transactions[key], errors="coerce").to_numpy(dtype=float)
        for key in ("margin", "cost")
        if key in transactions.columns
    }
    if not used.all():  # a cleaned log uses every row: no copies then
        codes, day, amount = codes[used], day[used], amount[used]
        optional = {k: v[used] for k, v in optional.items()}
    if "margin" in optional:  # the margin column wins over amount − cost when both are given
        optional.pop("cost", None)
    return history_of(daily_totals(codes, np.asarray(uniques, dtype=object), day, amount, **optional), as_of)


def history_of(daily: DailyTotals, as_of, margin: str | None = "auto") -> VisitHistory:
    """:func:`visit_history` from :class:`DailyTotals` holding every row of its customers (the kernel both
    engines run: the whole log in memory, or one partition of whole customers on Dask).

    A *visit* is a day with a purchase (a positive amount); money is the net amount of every day; the
    margin is the 毛利 column's sum if any 毛利 is known, else amount − 成本 if any 成本 is known, else NaN
    (``margin``: "auto" decides on these rows; a partitioned engine passes :func:`margin_source` of the whole log).
    """
    as_of = pd.Timestamp(as_of).normalize()
    as_of_day = int(np.datetime64(as_of.date(), "D").astype(np.int64))
    n_ids = len(daily.ids)
    revenue = np.bincount(daily.customer, weights=daily.amount, minlength=n_ids)
    margin = margin_of(daily, n_ids, margin)

    buy = daily.purchases > 0
    cust, vday = daily.customer[buy], daily.day[buy]  # distinct (customer, day), sorted: DailyTotals' order
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
        daily.ids,
        owner_code,
        columns,
        gaps[~is_first],
        np.repeat(np.arange(len(start)), visits - 1),
        as_of,
        daily.id_hash,
    )


def margin_of(daily: DailyTotals, n: int, source: str | None = "auto") -> np.ndarray:
    """Gross margin per customer code: the 毛利 sums if any 毛利 is known, else amount − 成本, else NaN.
    ``source`` ("margin", "cost" or None) overrides the choice: a partitioned log decides it for the whole log."""
    if source == "auto":
        source = margin_source([daily])
    if source is None:
        return np.full(n, np.nan)
    weights = daily.margin if source == "margin" else daily.cost_margin
    return np.bincount(daily.customer, weights=weights, minlength=n)


def margin_source(pieces) -> str | None:
    """Which margin a log has: "margin" (毛利 known somewhere), "cost" (成本 known somewhere) or None."""
    if any(p.margin_known is not None and p.margin_known.sum() > 0 for p in pieces):
        return "margin"
    if any(p.cost_known is not None and p.cost_known.sum() > 0 for p in pieces):
        return "cost"
    return None
