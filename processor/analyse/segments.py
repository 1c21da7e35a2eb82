"""客戶分群: RFM scores and seed 002's eight segments, ABC, value matrix, bee/dragonfly quadrant,
composite value score and k-means clusters (seeds 001, 002, 004; DESIGN §4 "Segments").

Every function is pure and vectorised; k-means has an explicit random state. The high/low rule
used by the RFM segments, the value matrix and the quadrant is one rule, stated in
:data:`RULE_NOTE`: a customer is 高 on a measure when above the population mean of it
(for R: fewer days since the last purchase than the mean).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from processor.analyse.history import visit_history
from processor.read.schema import TRANSACTIONS
from processor.settings import Settings

#: seed 002 「根據RFM模型對客戶分類」: (R high, F high, M high) → segment, what it is, what to do
RFM_SEGMENTS = {
    (True, True, True): ("重要價值客戶", "優質客戶", "著重提高客戶滿意度，以便增加留存"),
    (True, False, True): ("重要發展客戶", "消費高但頻率低", "挖掘客戶特徵，提高購買頻率"),
    (False, True, True): ("重要保持客戶", "最近未購買", "需要主動聯繫，以防止客戶流失"),
    (False, False, True): ("重要挽留客戶", "有潛在價值、將要流失", "需要重點挽留"),
    (True, True, False): ("一般價值客戶", "有潛力發展成優質客戶", "提高客單價，使購買升級"),
    (True, False, False): ("一般發展客戶", "有推廣價值的新客戶", "進行針對性推廣"),
    (False, True, False): ("一般保持客戶", "購買頻繁但金額低", "深挖特徵，進行品類交叉銷售"),
    (False, False, False): ("一般挽留客戶", "最近無交易、頻率與金額低，相當於流失", "低成本聯繫或放棄"),
}
SEGMENT_ORDER = tuple(v[0] for v in RFM_SEGMENTS.values())
RULE_NOTE = (
    "高/低的切點：高於全體平均為「高」。R 以幾天沒來計，天數少於平均為「高」（最近有買）；"
    "F 為購買天數、M 為淨消費金額（退貨已扣除），大於平均為「高」。"
)
#: (frequency high, average ticket high) → seed 002 value-matrix cell
VALUE_MATRIX = {(True, True): "優質型", (False, True): "消費型", (True, False): "經常型", (False, False): "不確定型"}
#: (contribution high, loyalty high) → seed 004 四步走 quadrant
QUADRANT = {(True, True): "蜜蜂", (True, False): "蜻蜓", (False, True): "蝴蝶", (False, False): "螳螂"}
TIERS = ((80, "VIP客戶"), (60, "重要客戶"), (40, "普通客戶"))  # seed 001 客戶價值發現方法 (3)
SMALL_TIER = "小客戶"
K_RANGE = range(2, 9)
CLUSTER_SAMPLE = 10_000  # customers used to choose k and fit centroids (see cluster_customers)
SILHOUETTE_SAMPLE = 2_000

#: label columns of the segment table and their categories, in the order the sheet lists them
CATEGORIES = {
    "rfm_segment": SEGMENT_ORDER,
    "abc_class": ("A", "B", "C"),
    "value_matrix": tuple(VALUE_MATRIX.values()),
    "quadrant": tuple(QUADRANT.values()),
    "value_tier": tuple(t[1] for t in TIERS) + (SMALL_TIER,),
}
SEGMENT_COLUMNS = (
    "customer_id",
    "recency",
    "frequency",
    "monetary",
    "average_ticket",
    "r_score",
    "f_score",
    "m_score",
    "rfm_score",
    "rfm_segment",
    "abc_class",
    "value_matrix",
    "quadrant",
    "value_score",
    "value_tier",
    "cluster",
)
LABELS = {
    "customer_id": TRANSACTIONS.field("customer_id").label,
    "recency": "R 幾天沒來",
    "frequency": "F 購買天數",
    "monetary": "M 消費金額",
    "average_ticket": "平均客單價",
    "r_score": "R分數",
    "f_score": "F分數",
    "m_score": "M分數",
    "rfm_score": "RFM分數",
    "rfm_segment": "RFM分群",
    "abc_class": "ABC分類",
    "value_matrix": "價值矩陣",
    "quadrant": "貢獻×忠誠",
    "value_score": "綜合價值分數",
    "value_tier": "價值等級",
    "cluster": "客群",
}


#: headers of the seed 002 strategy table and of the cluster profile table on 客戶分群
STRATEGY_LABELS = {
    "segment": LABELS["rfm_segment"],
    "rule": "規則",
    "meaning": "說明",
    "strategy": "建議策略",
    "customers": "人數",
    "revenue": "消費金額",
    "share": "占比",
}
PROFILE_LABELS = {
    "cluster": LABELS["cluster"],
    "customers": "人數",
    "share": "占比",
    "median_recency": "R 中位數(天)",
    "median_frequency": "F 中位數",
    "median_monetary": "M 中位數",
    "revenue": "消費金額",
    "mean_value_score": "平均價值分數",
    "main_segment": "最多的RFM分群",
}


def quintile_scores(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """1–5 scores by quintile of the percentile rank (ties share the average rank).

    >>> quintile_scores(pd.Series([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])).tolist()
    [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    """
    ranks = values.rank(method="average", pct=True, ascending=higher_is_better)
    return pd.Series(pct_scores(ranks), index=values.index, name=values.name)


def pct_scores(pct) -> pd.arrays.IntegerArray:
    """Percentile ranks (0–1] as 1–5 quintile scores (Int64; a missing rank stays <NA>).

    >>> pct_scores(np.array([0.1, 0.2, 0.5, 1.0, np.nan])).tolist()
    [1, 1, 3, 5, <NA>]
    """
    return pd.array(np.ceil(np.asarray(pct, dtype=float) * 5).clip(1, 5), dtype="Int64")


def rfm_table(transactions: pd.DataFrame, as_of, settings: Settings = Settings()) -> pd.DataFrame:
    """R, F, M, their 1–5 scores and seed 002's eight segments, one row per customer.

    R = days since the last purchase, F = distinct purchase days, M = net amount (returns
    deducted) up to ``as_of``; rows after ``as_of`` are ignored.

    >>> t = pd.DataFrame({"customer_id": ["A", "A", "B"], "amount": [500.0, 500.0, 50.0],
    ...                   "date": pd.to_datetime(["2025-03-01", "2025-03-05", "2024-12-01"])})
    >>> rfm_table(t, "2025-03-10")[["customer_id", "rfm_segment"]].values.tolist()
    [['A', '重要價值客戶'], ['B', '一般挽留客戶']]
    """
    history = visit_history(transactions, as_of)
    c = history.columns
    base = pd.DataFrame(
        {"customer_id": history.ids, "recency": c["recency"], "frequency": c["visits"], "monetary": c["revenue"]}
    )
    return rfm_scores(base)


def rfm_scores(base: pd.DataFrame, pct: np.ndarray | None = None) -> pd.DataFrame:
    """Add r/f/m scores, the three-digit RFM score and the seed 002 segment to (recency, frequency, monetary).
    ``pct`` is :func:`percentile_ranks` of ``base`` when the caller has it."""
    out = base.copy()
    pct = percentile_ranks(out) if pct is None else pct
    for j, key in enumerate(("r_score", "f_score", "m_score")):  # = quintile_scores, from the shared ranks
        out[key] = pct_scores(pct[:, j])
    out["rfm_score"] = (out["r_score"] * 100 + out["f_score"] * 10 + out["m_score"]).astype("Int64")
    r_high, f_high, m_high = high_low(out)
    codes = np.array([_code(*k) for k in RFM_SEGMENTS])
    order = np.empty(8, dtype=np.int8)
    order[codes] = np.arange(8)
    # a category code per customer, not a string: a million customers share eight labels
    out["rfm_segment"] = pd.Categorical.from_codes(order[_code(r_high, f_high, m_high)], SEGMENT_ORDER)
    return out


def _code(r, f, m):
    return np.asarray(r, dtype=np.int64) * 4 + np.asarray(f, dtype=np.int64) * 2 + np.asarray(m, dtype=np.int64)


def high_low(rfm: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The one high/low rule (see :data:`RULE_NOTE`): above the population mean; R inverted."""
    r, f, m = (rfm[k].to_numpy(dtype=float) for k in ("recency", "frequency", "monetary"))
    return r < r.mean(), f > f.mean(), m > m.mean()


def rank_max(values: np.ndarray) -> np.ndarray:
    """Ascending rank with ties taking the highest rank (pandas ``rank(method="max")``), by one sort.

    >>> rank_max(np.array([5.0, 1.0, 5.0])).tolist()
    [3, 1, 3]
    """
    order = np.argsort(values)  # ties get one rank whatever their order, so no stable sort needed
    ordered = values[order]
    new_value = np.r_[True, ordered[1:] != ordered[:-1]] if len(ordered) else np.empty(0, dtype=bool)
    ends = np.r_[np.flatnonzero(new_value)[1:], len(ordered)]  # one past each tie group's end
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = ends[np.cumsum(new_value) - 1]
    return ranks


def abc_classes(values: pd.Series, settings: Settings = Settings()) -> pd.Series:
    """A/B/C by rank of value: the top ``abc_a`` of customers A, the next ``abc_b`` B, rest C (seed 001 二).

    Ties share the better class; missing values stay missing. Class sizes are shares of the
    customer count rounded half up: A = top round(abc_a × n), A+B = top round((abc_a + abc_b) × n)
    (25 customers: A 3, B 5, C 17), A at least one customer.

    >>> abc_classes(pd.Series(range(10, 0, -1), dtype=float)).tolist()
    ['A', 'B', 'B', 'C', 'C', 'C', 'C', 'C', 'C', 'C']
    """
    values = pd.to_numeric(pd.Series(values), errors="coerce")
    codes = abc_codes(values.to_numpy(dtype=float), settings)
    return pd.Series(np.array(["A", "B", "C", None], dtype=object)[codes], index=values.index, dtype=object)


def abc_codes(values: np.ndarray, settings: Settings = Settings(), ranks: np.ndarray | None = None) -> np.ndarray:
    """:func:`abc_classes` as codes 0 = A, 1 = B, 2 = C, −1 = missing. ``ranks`` (from
    :func:`rank_max` over values without gaps) saves the sort when the caller has them."""
    missing = np.isnan(values)
    n = int((~missing).sum())
    if ranks is None:
        ranks = np.zeros(len(values), dtype=np.int64)
        ranks[~missing] = rank_max(values[~missing])
    greater = n - ranks  # how many values are strictly greater; rank from the top = greater + 1
    a_cut = max(1, _half_up(settings.abc_a * n)) if settings.abc_a > 0 else 0
    b_cut = max(a_cut, _half_up((settings.abc_a + settings.abc_b) * n))
    codes = np.select([greater < a_cut, greater < b_cut], [0, 1], 2).astype(np.int8)
    codes[missing] = -1
    return codes


def _half_up(x: float) -> int:
    """Customers in a class: a share of n rounded half up (10% of 25 = 2.5 → 3), the rule the sheet states."""
    return int(np.floor(x + 0.5 + 1e-9))


def value_matrix(frequency: pd.Series, average_ticket: pd.Series) -> pd.Series:
    """Seed 002 customer value matrix: purchase frequency × average ticket, each high/low vs the mean.

    優質型 (both high), 消費型 (ticket high, frequency low), 經常型 (frequency high), 不確定型.
    """
    return pd.Series(np.asarray(value_matrix_labels(frequency, average_ticket), dtype=object), index=frequency.index)


def value_matrix_labels(frequency: pd.Series, average_ticket: pd.Series) -> pd.Categorical:
    """:func:`value_matrix` as a categorical (categories in :data:`VALUE_MATRIX`'s order)."""
    f = frequency.to_numpy(dtype=float)
    t = average_ticket.to_numpy(dtype=float)
    f_high, t_high = f > f.mean(), t > np.nanmean(t)
    return _lookup(VALUE_MATRIX, f_high, t_high)


def _lookup(table: dict, first, second) -> pd.Categorical:
    """``table[(first, second)]`` for boolean arrays, vectorised: a categorical whose categories are the
    table's values in its order (cell ``first * 2 + second`` mapped to its category code)."""
    cells = list(table)
    position = np.array([cells.index((bool(i // 2), bool(i % 2))) for i in range(4)], dtype=np.int8)
    codes = position[np.asarray(first, dtype=np.int8) * 2 + np.asarray(second, dtype=np.int8)]
    return pd.Categorical.from_codes(codes, list(table.values()))


def loyalty_quadrant(high_contribution, high_loyalty) -> np.ndarray:
    """Seed 004 四步走 step 1: 蜜蜂 (貢獻高 忠誠高), 蜻蜓 (貢獻高 忠誠低), 蝴蝶 (貢獻低 忠誠高), 螳螂."""
    return np.asarray(_lookup(QUADRANT, high_contribution, high_loyalty), dtype=object)


def value_scores(rfm: pd.DataFrame, settings: Settings = Settings(), pct: np.ndarray | None = None) -> pd.Series:
    """0–100 composite value score (seed 002 綜合指數模型: indicators → standardise → weights → score).

    Indicators R (inverted), F, M; standardised as percentile ranks in (0, 1]; weighted by
    settings weight_r/f/m (normalised to sum 1); × 100.
    """
    w = np.array([settings.weight_r, settings.weight_f, settings.weight_m], dtype=float)
    w = w / w.sum() if w.sum() > 0 else np.full(3, 1 / 3)
    return pd.Series(100 * (percentile_ranks(rfm) if pct is None else pct) @ w, index=rfm.index)


def percentile_ranks(rfm: pd.DataFrame) -> np.ndarray:
    """(n, 3) percentile ranks in (0, 1] of R (fewer days = higher), F and M, ties averaged: the
    standardised indicators of the value score and the basis of the 1–5 scores."""
    return np.column_stack(
        [
            average_pct(rfm["recency"].to_numpy(dtype=float), ascending=False),
            average_pct(rfm["frequency"].to_numpy(dtype=float)),
            average_pct(rfm["monetary"].to_numpy(dtype=float)),
        ]
    )


def average_pct(values: np.ndarray, ascending: bool = True) -> np.ndarray:
    """pandas' ``rank(method="average", pct=True)`` of ``values``, bit for bit. Whole numbers of a range no wider
    than the values are many (R in days, F in visits) are counted instead of sorted: a value's average rank is
    the count below it plus (its count + 1) / 2, exact in floating point as pandas' sum of ranks over the ties
    divided by their count is (12.4M customers: 0.2 s where pandas' rank takes about 2 s). Anything else (NaN,
    fractions, a wide range): pandas' rank itself.

    >>> average_pct(np.array([3.0, 1.0, 3.0, 2.0])).tolist()
    [0.875, 0.25, 0.875, 0.5]
    >>> average_pct(np.array([3.0, 1.0]), ascending=False).tolist()
    [0.5, 1.0]
    """
    n = len(values)
    if n:
        low, high = float(values.min()), float(values.max())
        whole = np.isfinite(low) and np.isfinite(high) and high - low <= max(n, 1024)
        if whole and (values == np.floor(values)).all():
            codes = (values - low if ascending else high - values).astype(np.int64)
            counts = np.bincount(codes)
            below = np.cumsum(counts) - counts
            return ((below + (counts + 1) / 2) / n)[codes]  # per distinct value, then one gather
    return pd.Series(values).rank(method="average", pct=True, ascending=ascending).to_numpy(dtype=float)


def value_tiers(score: pd.Series) -> pd.Series:
    """Seed 001 tiers: VIP客戶 > 80, 重要客戶 > 60, 普通客戶 > 40, else 小客戶."""
    return pd.Series(np.asarray(value_tier_labels(score), dtype=object), index=score.index)


def value_tier_labels(score: pd.Series) -> pd.Categorical:
    """:func:`value_tiers` as a categorical (categories VIP客戶, 重要客戶, 普通客戶, 小客戶)."""
    s = score.to_numpy(dtype=float)
    codes = np.select([s > 80, s > 60, s > 40], [0, 1, 2], len(TIERS)).astype(np.int8)
    return pd.Categorical.from_codes(codes, CATEGORIES["value_tier"])


def cluster_customers(rfm: pd.DataFrame, random_state: int = 0) -> tuple[pd.Series, dict]:
    """k-means on standardised log(1+R), log(1+F), log(1+max(M,0)); k by silhouette over 2–8 (seed 002 聚類).

    Big inputs: k is chosen and the centroids fitted on a uniform sample of
    :data:`CLUSTER_SAMPLE` customers (silhouette scored on :data:`SILHOUETTE_SAMPLE` of them):
    silhouette is quadratic in the number of points, so it cannot run on a million customers,
    while centroids of three standardised features settle well within a 10k sample. Every
    customer is then assigned to its nearest centroid (linear). Sampling rather than
    mini-batches because the bottleneck is silhouette, which mini-batch k-means does not help.
    Clusters are numbered 1… by falling mean composite value. Returns (labels, info).
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # three features: OpenMP threads only contend (20x slower on a busy 2-core box)
        return _cluster(rfm, random_state, KMeans, silhouette_score)


def _cluster(rfm, random_state, KMeans, silhouette_score):

    x = np.column_stack(
        [
            np.log1p(rfm["recency"].to_numpy(dtype=float)),
            np.log1p(rfm["frequency"].to_numpy(dtype=float)),
            np.log1p(np.clip(rfm["monetary"].to_numpy(dtype=float), 0, None)),
        ]
    )
    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1)
    n = len(x)
    info = {"k": 1, "silhouette": {}, "sampled": n > CLUSTER_SAMPLE, "n": n}
    rng = np.random.default_rng(random_state)
    sample = x[rng.choice(n, CLUSTER_SAMPLE, replace=False)] if n > CLUSTER_SAMPLE else x
    distinct = len(np.unique(sample.round(9), axis=0))  # k must stay below the distinct points it is fitted on
    if distinct < 3:
        return pd.Series(np.ones(n, dtype=np.int64), index=rfm.index), info
    best = None
    for k in K_RANGE:  # seven small fits: the loop is over candidate k, not customers
        if k >= min(distinct, len(sample)):
            break
        model = KMeans(n_clusters=k, n_init=4, random_state=random_state).fit(sample)
        score = float(
            silhouette_score(
                sample, model.labels_, sample_size=min(SILHOUETTE_SAMPLE, len(sample)), random_state=random_state
            )
        )
        info["silhouette"][k] = round(score, 4)
        if best is None or score > best[0]:
            best = (score, k, model)
    if best is None:
        return pd.Series(np.ones(n, dtype=np.int64), index=rfm.index), info
    _, info["k"], model = best
    labels = model.predict(x)
    value = (
        rfm["value_score"] if "value_score" in rfm else value_scores(rfm)
    ).to_numpy()  # settings weights when given
    means = np.bincount(labels, weights=value, minlength=info["k"]) / np.maximum(
        np.bincount(labels, minlength=info["k"]), 1
    )
    renumber = np.empty(info["k"], dtype=np.int64)
    renumber[np.argsort(-means, kind="stable")] = np.arange(1, info["k"] + 1)
    return pd.Series(renumber[labels], index=rfm.index), info


def segment_table(silence: pd.DataFrame, settings: Settings = Settings()) -> tuple[pd.DataFrame, dict]:
    """The 客戶分群 table from a :func:`processor.analyse.silence.silence_table` (one row per customer).

    Contribution (quadrant) = ABC class A or B by net amount; loyalty = visit-rate class 忠誠 or
    常規 (seed 004). Returns (table, cluster info).
    """
    base = pd.DataFrame(
        {
            "customer_id": silence["customer_id"].array,  # as stored: millions of ids not converted
            "recency": silence["recency"].to_numpy(dtype=float),
            "frequency": silence["visits"].to_numpy(dtype=float),
            "monetary": silence["value"].to_numpy(dtype=float),
        }
    )
    if base.empty:
        return base.reindex(columns=SEGMENT_COLUMNS), {"k": 0, "silhouette": {}, "sampled": False, "n": 0}
    pct = percentile_ranks(base)  # ranked once for the 1–5 scores and the value score
    out = rfm_scores(base, pct)
    out["average_ticket"] = out["monetary"] / out["frequency"]
    # label columns as category codes throughout: a million customers share a handful of labels
    abc = abc_codes(out["monetary"].to_numpy(dtype=float), settings)
    out["abc_class"] = pd.Categorical.from_codes(abc, CATEGORIES["abc_class"])
    out["value_matrix"] = value_matrix_labels(out["frequency"], out["average_ticket"])
    loyal = silence["visit_rate_class"].isin(["忠誠", "常規"]).to_numpy()
    out["quadrant"] = _lookup(QUADRANT, (abc == 0) | (abc == 1), loyal)
    out["value_score"] = value_scores(out, settings, pct)
    out["value_tier"] = value_tier_labels(out["value_score"])
    out["cluster"], info = cluster_customers(out, settings.random_state)
    return out[list(SEGMENT_COLUMNS)].sort_values("value_score", ascending=False, kind="stable").reset_index(
        drop=True
    ), info


def cluster_profiles(segments: pd.DataFrame) -> pd.DataFrame:
    """One row per cluster: size, share, median R/F/M, mean value score, most common RFM segment."""
    g = segments.groupby("cluster", sort=True)
    profile = pd.DataFrame(
        {
            "customers": g.size(),
            "median_recency": g["recency"].median(),
            "median_frequency": g["frequency"].median(),
            "median_monetary": g["monetary"].median(),
            "revenue": g["monetary"].sum(),
            "mean_value_score": g["value_score"].mean(),
        }
    )
    profile["share"] = profile["customers"] / profile["customers"].sum()
    top = segments.groupby(["cluster", "rfm_segment"]).size().reset_index(name="n")
    top = top.sort_values(["cluster", "n"], ascending=[True, False]).drop_duplicates("cluster").set_index("cluster")
    profile["main_segment"] = top["rfm_segment"]
    return profile.reset_index()


def segment_strategies(segments: pd.DataFrame) -> pd.DataFrame:
    """Seed 002's segment table with the rule, what to do, and how many customers / how much revenue."""
    rows = [
        {
            "segment": name,
            "rule": "R{} F{} M{}".format(*("高" if h else "低" for h in key)),
            "meaning": meaning,
            "strategy": strategy,
        }
        for key, (name, meaning, strategy) in RFM_SEGMENTS.items()
    ]
    table = pd.DataFrame(rows)
    g = segments.groupby("rfm_segment")
    table["customers"] = table["segment"].map(g.size()).fillna(0).astype(np.int64)
    table["revenue"] = table["segment"].map(g["monetary"].sum()).fillna(0.0)
    total = max(table["customers"].sum(), 1)
    table["share"] = table["customers"] / total
    return table
