"""沉默排名: who is going silent, how deeply, and whom to call first (seed 004).

Seed 004 「沉默用户激活方案」 §三: per customer the intervals Ti between distinct purchase days,
Tr = today − last purchase, TrF = rank of Tr in {T1 … Tn−1, Tr} ÷ n (ascending, ties take the
highest rank, so TrF = 1 exactly when Tr ≥ max Ti), S = Tr ÷ max Ti. §五.1 groups TrF into
a [0,0.4) b [0.4,0.6) c [0.6,0.8) d [0.8,0.95) e [0.95,1]. §四.1 leaves low-frequency customers
for later; here they are kept, flagged 低頻/新客 and scored against the population's intervals.
休眠客户的定义 gives the dormancy buckets (1/2/3/3+ months) and the five visit-rate classes;
§四.3/§五.2 put high-value customers near silence first; the playbooks give the actions.

The call priority (優先分數) is the chance the customer buys again within the 設定 horizon, weighted by
the expected spend if they do (:func:`processor.analyse.value.priority_scores`), from the customer-value
models (:mod:`processor.analyse.value`, issue 12): measured on CDNOW it ranks returners
better than plain recency, which the seed's own rule of thumb (value × TrF) did not. TrF, S, the
groups and the actions stay as the rep-facing explanation and playbook.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from processor.analyse.history import id_hashes, ordered_by, visit_history
from processor.analyse.segments import abc_codes, rank_max
from processor.read.schema import TRANSACTIONS
from processor.settings import Settings

GROUP_EDGES = (0.4, 0.6, 0.8, 0.95)  # seed 004 §五.1
GROUPS = ("a", "b", "c", "d", "e")
DORMANCY = ("未滿1個月", "1個月", "2個月", "3個月", "3個月以上")  # seed 004 休眠客户分类 A–D
VISIT_RATE = ("忠誠", "常規", "邊緣", "休眠", "流失")  # seed 004 五類
LOW_HISTORY = "低頻/新客"
DEEP_SILENCE = 2.0  # S above this: silent for more than one whole longest gap again

#: canonical key → zh-TW header of the 沉默排名 sheet
LABELS = {
    "priority_rank": "優先順序",
    "customer_id": TRANSACTIONS.field("customer_id").label,
    "priority": "優先分數",
    "first_purchase": "首次購買",
    "last_purchase": "最近購買",
    "visits": "購買天數",
    "mean_interval": "平均間隔(天)",
    "max_interval": "最長間隔(天)",
    "recency": "幾天沒來",  # seed 004 Tr
    "rank_ratio": "秩次比 TrF",
    "silence_score": "沉默得分 S",
    "silence_group": "沉默分組",
    "history": "資料量",
    "dormancy": "多久沒買",
    "visits_per_year": "一年買幾次",
    "visit_rate_class": "購買頻率分類",
    "value": "消費金額",
    "margin": "毛利",
    "value_class": "價值",
    "action": "建議行動",
}


def silence_table(
    transactions: pd.DataFrame, as_of, settings: Settings = Settings(), priority: np.ndarray | None = None
) -> pd.DataFrame:
    """One row per customer with a visit, sorted by call priority (seed 004 §三–§五).

    ``priority`` (0–100, one per customer in order of first appearance, as
    :func:`processor.analyse.value.customer_statistics` lists them) is computed by
    :func:`call_priority` when not given; the transactions analyser passes the one it computed for 客戶價值.

    ``transactions`` has columns customer_id, date, amount (optional margin/cost); rows after
    ``as_of`` are ignored (clean with :func:`processor.analyse.transactions.clean_transactions` first to
    have them reported and ids normalised). Columns: see :data:`LABELS`. The per-customer kernel
    :func:`customer_statistics` then the global step :func:`silence_from_statistics` — the Dask
    engine runs the same two on partitions shuffled by customer (:mod:`processor.engines`).

    >>> t = pd.DataFrame({"customer_id": ["A"] * 3, "amount": [100.0] * 3,
    ...                   "date": pd.to_datetime(["2025-01-01", "2025-01-11", "2025-01-31"])})
    >>> columns = ["recency", "rank_ratio", "silence_score", "silence_group"]
    >>> silence_table(t, "2025-03-10").loc[0, columns].astype(str).tolist()
    ['38.0', '1.0', '1.9', 'e']
    """
    statistics, pool = customer_statistics(transactions, as_of, settings)
    if priority is None:
        priority = call_priority(transactions, as_of, settings)
    return silence_from_statistics(statistics, pool, as_of, settings, priority)


#: the per-customer raw values of :func:`customer_statistics` (see :class:`processor.analyse.history.VisitHistory`)
STATISTICS = (
    "first_purchase",
    "last_purchase",
    "visits",
    "mean_interval",
    "max_interval",
    "recency",
    "intervals_le_recency",
    "visits_per_year",
    "revenue",
    "margin",
)


def customer_statistics(
    transactions: pd.DataFrame, as_of, settings: Settings = Settings()
) -> tuple[pd.DataFrame, np.ndarray]:
    """The per-customer kernel of 沉默排名: (one row per customer with a visit, pooled-interval histogram).

    Every row of a customer must be in ``transactions`` (a partition shuffled by customer id
    holds whole customers), so the columns :data:`STATISTICS` are final; nothing here depends on
    other customers. The histogram counts the intervals Ti (whole days) of customers with enough
    history (``settings.min_visits``, at least 2): the population pool of seed 004 §四.1, which
    partitions add up element-wise.

    >>> t = pd.DataFrame({"customer_id": ["A"] * 3, "amount": [1.0] * 3,
    ...                   "date": pd.to_datetime(["2025-01-01", "2025-01-11", "2025-01-31"])})
    >>> stats, pool = customer_statistics(t, "2025-03-10")
    >>> stats["visits"].tolist(), np.flatnonzero(pool).tolist()
    ([3.0], [10, 20])
    """
    return statistics_of_history(visit_history(transactions, as_of), settings)


def statistics_of_history(history, settings: Settings = Settings()) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`customer_statistics` from a :class:`processor.analyse.history.VisitHistory` (what the engines
    get from :func:`processor.analyse.history.history_of` on a partition's daily totals)."""
    c = history.columns
    regular = c["visits"] >= max(settings.min_visits, 2)  # one visit has no interval whatever the setting
    pooled = history.intervals[regular[history.interval_owner]].astype(np.int64)
    pool = np.bincount(pooled) if len(pooled) else np.zeros(0, dtype=np.int64)
    ids = history.ids
    # the tie-break key of silence_from_statistics, hashed here where the ids are plain objects (and in parallel),
    # unless the engine hashed them already to bucket the log
    id_hash = history.id_hash_values[history.id_codes] if history.id_hash_values is not None else id_hashes(ids)
    return pd.DataFrame({"customer_id": ids, **c, "id_hash": id_hash}, copy=False), pool


def silence_from_statistics(
    statistics: pd.DataFrame,
    pool: np.ndarray,
    as_of,
    settings: Settings = Settings(),
    priority: np.ndarray | None = None,
    hash_order: np.ndarray | None = None,
) -> pd.DataFrame:
    """The global step of 沉默排名 on the one-row-per-customer table of :func:`customer_statistics`
    (partitions' tables concatenated in any order, their ``pool`` histograms added): value ranks
    and ABC, TrF/S of customers with too little history, priority, groups and actions.

    Rows come out by falling priority; equal priorities in a fixed order (a hash of the customer
    id), so every engine and every partitioning lists customers identically. ``priority`` (one per row of
    ``statistics``) defaults to :func:`processor.analyse.value.priority_from_statistics`: the count
    model's chance of buying again, fitted on these rows (the learned blend needs each customer's
    purchase days, which a partitioned engine does not bring back). ``hash_order``: the rows' stable argsort by
    ``id_hash``, when the caller has it (:func:`processor.engines.kernel.hash_order`).
    """
    as_of = pd.Timestamp(as_of).normalize()
    ids = statistics["customer_id"].array  # as stored (Arrow strings stay Arrow: no conversion of millions)
    c = {key: statistics[key].to_numpy() for key in STATISTICS}
    visits, recency, max_interval = c["visits"], c["recency"], c["max_interval"]
    low = visits < max(settings.min_visits, 2)

    rank_ratio = (c["intervals_le_recency"] + 1) / visits
    with np.errstate(invalid="ignore", divide="ignore"):
        silence_score = recency / max_interval
    if low.any():
        pool_trf, pool_s = _population_scores(recency, max_interval, ~low, pool, settings.typical_gap_days)
        rank_ratio = np.where(low, pool_trf, rank_ratio)
        silence_score = np.where(low, pool_s, silence_score)

    value = c["revenue"]
    value_rank = rank_max(value)
    abc = abc_codes(value, settings, value_rank)
    high_value = (abc == 0) | (abc == 1)
    group = np.searchsorted(GROUP_EDGES, rank_ratio, side="right")
    if priority is None:
        from processor.analyse.value import priority_from_statistics

        priority = priority_from_statistics(statistics, as_of, settings)
    priority = np.asarray(priority, dtype=float)
    if len(priority) != len(visits):
        raise ValueError(f"priority has {len(priority)} entries for {len(visits)} customers")
    action = _action_codes(group, silence_score, low, high_value)

    # by priority, ties by a hash of the id: independent of row order (a string sort of millions of ids is 10x slower)
    if hash_order is None:
        id_hash = statistics["id_hash"].to_numpy() if "id_hash" in statistics else id_hashes(ids)
        hash_order = np.argsort(id_hash, kind="stable")
    order = ordered_by(-priority, hash_order)
    columns = {
        "priority_rank": np.arange(1, len(order) + 1),
        "customer_id": ids.take(order),
        "priority": priority,
        "first_purchase": c["first_purchase"],
        "last_purchase": c["last_purchase"],
        "visits": visits.astype(np.int64),
        "mean_interval": c["mean_interval"],
        "max_interval": max_interval,
        "recency": recency,
        "rank_ratio": rank_ratio,
        "silence_score": silence_score,
        # label columns are categoricals: a million customers share a handful of strings
        "silence_group": (group, GROUPS),
        "history": (low.astype(np.int8), ["一般", LOW_HISTORY]),
        "dormancy": (_dormancy_codes(pd.Series(c["last_purchase"]), as_of), DORMANCY),
        "visits_per_year": c["visits_per_year"],
        "visit_rate_class": (_visit_rate_codes(c["visits_per_year"], high_value, settings), VISIT_RATE),
        "value": value,
        "margin": c["margin"],
        "value_class": (high_value.astype(np.int8), ["一般", "高"]),
        "action": (action, ACTION_TEXTS),
    }
    return pd.DataFrame(
        {
            key: pd.Categorical.from_codes(v[0][order], v[1])
            if isinstance(v, tuple)
            else (v if key in ("priority_rank", "customer_id") else v[order])
            for key, v in columns.items()
        },
        copy=False,
    )  # the arrays are fresh: no second copy into consolidated blocks


def _population_scores(recency, max_interval, regular, pool, typical_gap):
    """TrF and S for customers with too little history, against the population (seed 004 §四.1).

    TrF is the seed's rank ratio with the pooled intervals of all regular customers in place of
    the customer's own: (#{pooled Ti ≤ Tr} + 1) ÷ (#pool + 1); ``pool`` is their histogram by
    whole days (:func:`customer_statistics`). S divides Tr by the typical
    longest gap, the median of regular customers' max Ti. Without any regular customer there is
    no interval to learn from: the pool is the one gap ``typical_gap`` (settings.typical_gap_days),
    so TrF is 1 exactly when S = Tr ÷ typical_gap reaches 1, else ½ — TrF and S tell one story.
    """
    if pool.sum() > 0:
        # intervals are whole days: a cumulative histogram answers #{pool ≤ Tr} without sorting
        at_most = np.cumsum(pool)
        within = at_most[np.clip(recency.astype(np.int64), 0, len(at_most) - 1)]
        trf = (within + 1) / (at_most[-1] + 1)
        reference = float(np.median(max_interval[regular]))
    else:
        reference = float(typical_gap)
        trf = ((recency >= reference) + 1) / 2
    return trf, recency / reference


def call_priority(transactions: pd.DataFrame, as_of, settings: Settings = Settings()) -> np.ndarray:
    """0–100 per customer (first-appearance order): the chance (%) of buying again within settings.horizon_days.

    The customer-value models fitted on this log (:func:`processor.analyse.value.fit_value_model`) and a
    logistic blend learned on the log's own past (:func:`processor.analyse.value.fit_priority`).
    """
    from processor.analyse.value import customer_value

    return customer_value(transactions, as_of, settings).scores


def dormancy_buckets(last_purchase: pd.Series, as_of) -> pd.Series:
    """Whole calendar months since the last visit → 未滿1個月/1個月/2個月/3個月/3個月以上 (seed 004 二.1).

    >>> dormancy_buckets(pd.Series(pd.to_datetime(["2025-03-01", "2025-01-10", "2024-11-09"])), "2025-03-10").tolist()
    ['未滿1個月', '2個月', '3個月以上']
    """
    return pd.Series(np.asarray(DORMANCY)[_dormancy_codes(last_purchase, as_of)], index=last_purchase.index)


def _dormancy_codes(last_purchase: pd.Series, as_of) -> np.ndarray:
    as_of = pd.Timestamp(as_of).normalize()
    last = last_purchase.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    if not len(last):
        return np.empty(0, dtype=np.int8)
    # calendar arithmetic once per distinct day (a few thousand), then a lookup per customer.
    # k whole months have passed when as-of ≥ the last visit + k months, the day clamped to the
    # month's end (31 Jan + 1 month = 28 Feb): short months do not add a month of grace
    first_day = last.min()
    span = np.arange(first_day, last.max() + np.timedelta64(1, "D"))
    span_month = span.astype("datetime64[M]")
    months = (np.datetime64(as_of.date(), "M") - span_month).astype(np.int64)
    day_of_month = (span - span_month.astype("datetime64[D]")).astype(np.int64) + 1
    as_of_month_days = as_of.days_in_month
    table = np.clip(months - (as_of.day < np.minimum(day_of_month, as_of_month_days)), 0, 4).astype(np.int8)
    return table[(last - first_day).astype(np.int64)]


def visit_rate_classes(visits_per_year: pd.Series, high_value, settings: Settings) -> pd.Series:
    """忠誠/常規/邊緣/休眠/流失 from the visit rate (seed 004 二.2, thresholds in settings).

    Seed 004 classes customers by 到店率 and spending potential: 邊緣 come fewer than 2 times a
    month, 休眠 about once a month and under 15 times a year, 流失 under once a month, 3–5 times
    a year or fewer. So: at least ``regular_per_month`` × 12 visits a year → 忠誠 when high value
    (ABC A/B), else 常規 (the seed's 常規 still have room: unmet needs, a low ticket); at least
    ``marginal_per_year`` → 邊緣; more than ``lost_per_year`` → 休眠; else 流失. The rate is
    visits in the last 12 months per year of that window (see :mod:`processor.analyse.history`).

    >>> visit_rate_classes(pd.Series([30.0, 30.0, 20.0, 10.0, 5.0]), np.array([True, False, True, True, True]),
    ...                    Settings()).tolist()
    ['忠誠', '常規', '邊緣', '休眠', '流失']
    """
    codes = _visit_rate_codes(visits_per_year.to_numpy(dtype=float), np.asarray(high_value, dtype=bool), settings)
    return pd.Series(np.asarray(VISIT_RATE)[codes], index=visits_per_year.index)


def _visit_rate_codes(per_year: np.ndarray, high_value: np.ndarray, s: Settings) -> np.ndarray:
    regular = per_year >= s.regular_per_month * 12
    return np.select(
        [regular & high_value, regular, per_year >= s.marginal_per_year, per_year > s.lost_per_year], [0, 1, 2, 3], 4
    ).astype(np.int8)


#: seed 004 playbooks by state × value (高 = ABC class A/B); rows: state, columns: 高, 一般.
#: Short enough for one line of the call list; :data:`PLAYBOOKS` has what each one means in full.
ACTIONS = {
    "新客": ("新客：1/3/7 天跟進，邀第二次消費", "新客：新客優惠，邀第二次消費"),
    "活躍": ("維持關係：告知新品與會員權益", "定期推送活動與積分優惠"),
    "接近沉默": ("優先致電關懷，邀體驗本季主打", "個性化推薦＋限時優惠券"),
    "剛沉默": ("專屬經理立即致電，了解原因", "關懷訊息＋限時優惠，問原因"),
    "深度沉默": ("寄關懷信與禮物，邀回店或到府", "簡訊/Email 低成本聯繫"),
}
PLAYBOOKS = {
    "新客": ("依 1/3/7 天節奏跟進，介紹適合品項，邀請第二次消費", "針對性推廣（新客優惠、入會積分），邀請第二次消費"),
    "活躍": ("告知新品與會員專屬權益，不必推銷", "定期推送活動資訊與積分優惠，保持互動"),
    "接近沉默": ("優先致電關懷：提醒未用完的產品/項目，邀請優先體驗本季主打", "個性化推薦＋限時優惠券，喚起再次購買"),
    "剛沉默": (
        "立即由專屬客戶經理致電：了解沒再來買的原因，企業原因要積極彌補，贈送體驗或歉意禮",
        "發送關懷訊息與限時優惠，詢問未回購原因",
    ),
    "深度沉默": (
        "寄「致休眠客戶的一封信」與關懷禮，邀請回店體驗；若搬家或不便，提供到府服務或交通補貼",
        "低成本聯繫（簡訊/Email 優惠券）；若是客戶自身原因可考慮放棄",
    ),
}
#: when each state applies (the rule of :func:`_action_codes`)
STATE_RULES = {
    "新客": "低頻/新客，S < 1",
    "活躍": "a–b 組，S < 1",
    "接近沉默": "c–e 組，S < 1",
    "剛沉默": "1 ≤ S ≤ 2",
    "深度沉默": "S > 2",
}


ACTION_TEXTS = tuple(text for pair in ACTIONS.values() for text in pair)  # state-major: (高, 一般) per state


def playbook_table() -> pd.DataFrame:
    """state, rule, value, action (as listed), playbook (seed 004 in full): the legend of 建議行動."""
    return pd.DataFrame(
        [
            {
                "state": state,
                "rule": STATE_RULES[state],
                "value": value,
                "action": ACTIONS[state][i],
                "playbook": PLAYBOOKS[state][i],
            }
            for state in ACTIONS
            for i, value in enumerate(("高", "一般"))
        ]
    )


def suggested_actions(table: pd.DataFrame, settings: Settings = Settings()) -> pd.Series:
    """The seed 004 playbook line for each customer's state and value (columns of :func:`silence_table`).

    States follow S first, the seed's own silence line: 深度沉默 (S > 2), 剛沉默 (1 ≤ S ≤ 2);
    not yet silent (S < 1): 新客 (低頻/新客), 接近沉默 (groups c–e), 活躍 (a–b).
    """
    group = np.searchsorted(GROUPS, table["silence_group"].astype(str).to_numpy())
    codes = _action_codes(
        group,
        table["silence_score"].to_numpy(dtype=float),
        (table["history"] == LOW_HISTORY).to_numpy(),
        (table["value_class"] == "高").to_numpy(),
    )
    return pd.Series(np.asarray(ACTION_TEXTS, dtype=object)[codes], index=table.index)


def _action_codes(group: np.ndarray, s: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    state = np.select([s > DEEP_SILENCE, s >= 1, low, group >= 2], [4, 3, 0, 2], 1)
    return (state * 2 + np.where(high, 0, 1)).astype(np.int16)


def to_display(table: pd.DataFrame) -> pd.DataFrame:
    """The table with zh-TW headers, as on the 沉默排名 sheet (margin dropped when unknown)."""
    if "margin" in table.columns and table["margin"].isna().all():
        table = table.drop(columns="margin")
    categorical = [c for c in table.columns if isinstance(table[c].dtype, pd.CategoricalDtype)]
    table = table.astype({c: object for c in categorical})
    return table.rename(columns=LABELS)
