"""沉默排名: who is going silent, how deeply, and whom to call first (seed 004).

Seed 004 「沉默用户激活方案」 §三: per customer the intervals Ti between distinct purchase days,
Tr = today − last purchase, TrF = rank of Tr in {T1 … Tn−1, Tr} ÷ n (ascending, ties take the
highest rank, so TrF = 1 exactly when Tr ≥ max Ti), S = Tr ÷ max Ti. §五.1 groups TrF into
a [0,0.4) b [0.4,0.6) c [0.6,0.8) d [0.8,0.95) e [0.95,1]. §四.1 leaves low-frequency customers
for later; here they are kept, flagged 低頻/新客 and scored against the population's intervals.
休眠客户的定义 gives the dormancy buckets (1/2/3/3+ months) and the five visit-rate classes;
§四.3/§五.2 put high-value customers near silence first; the playbooks give the actions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .history import visit_history
from .segments import abc_codes, rank_max
from .settings import Settings

GROUP_EDGES = (0.4, 0.6, 0.8, 0.95)  # seed 004 §五.1
GROUPS = ("a", "b", "c", "d", "e")
DORMANCY = ("未滿1個月", "1個月", "2個月", "3個月", "3個月以上")  # seed 004 休眠客户分类 A–D
VISIT_RATE = ("忠誠", "常規", "邊緣", "休眠", "流失")  # seed 004 五類
LOW_HISTORY = "低頻/新客"
DEEP_SILENCE = 2.0  # S above this: silent for more than one whole longest gap again

#: canonical key → zh-TW header of the 沉默排名 sheet
LABELS = {
    "priority_rank": "優先順序",
    "customer_id": "客戶編號",
    "priority": "優先分數",
    "first_purchase": "首次購買",
    "last_purchase": "最近購買",
    "visits": "來店天數",
    "mean_interval": "平均間隔(天)",
    "max_interval": "最長間隔(天)",
    "recency": "距今天數 Tr",
    "rank_ratio": "秩次比 TrF",
    "silence_score": "沉默得分 S",
    "silence_group": "沉默分組",
    "history": "資料量",
    "dormancy": "未到店期間",
    "visit_rate_class": "到店率分類",
    "value": "消費金額",
    "margin": "毛利",
    "value_class": "價值",
    "action": "建議行動",
}


def silence_table(transactions: pd.DataFrame, as_of, settings: Settings = Settings()) -> pd.DataFrame:
    """One row per customer with a visit, sorted by call priority (seed 004 §三–§五).

    ``transactions`` has columns customer_id, date, amount (optional margin/cost); rows after
    ``as_of`` are ignored (clean with :func:`processor.transactions.clean_transactions` first to
    have them reported and ids normalised). Columns: see :data:`LABELS`.

    >>> t = pd.DataFrame({"customer_id": ["A"] * 3, "amount": [100.0] * 3,
    ...                   "date": pd.to_datetime(["2025-01-01", "2025-01-11", "2025-01-31"])})
    >>> silence_table(t, "2025-03-10").loc[0, ["recency", "rank_ratio", "silence_score", "silence_group"]].astype(str).tolist()
    ['38.0', '1.0', '1.9', 'e']
    """
    history = visit_history(transactions, as_of)
    c = history.columns
    visits, recency, max_interval = c["visits"], c["recency"], c["max_interval"]
    low = visits < max(settings.min_visits, 2)  # one visit has no interval whatever the setting

    rank_ratio = (c["intervals_le_recency"] + 1) / visits
    with np.errstate(invalid="ignore", divide="ignore"):
        silence_score = recency / max_interval
    if low.any():
        pool_trf, pool_s = _population_scores(recency, max_interval, ~low, history.intervals,
                                              history.interval_owner, settings.marginal_days)
        rank_ratio = np.where(low, pool_trf, rank_ratio)
        silence_score = np.where(low, pool_s, silence_score)

    value = c["revenue"]
    value_rank = rank_max(value)
    abc = abc_codes(value, settings, value_rank)
    high_value = (abc == 0) | (abc == 1)
    group = np.searchsorted(GROUP_EDGES, rank_ratio, side="right")
    priority = _priority(value_rank / max(len(value), 1), rank_ratio, silence_score)
    action = _action_codes(group, silence_score, low, high_value)

    order = np.argsort(-priority, kind="stable")  # ties keep first-appearance order (lexsort is 4x slower)
    columns = {
        "priority_rank": np.arange(1, len(order) + 1),
        "customer_id": history.ids,
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
        "dormancy": (_dormancy_codes(pd.Series(c["last_purchase"]), history.as_of), DORMANCY),
        "visit_rate_class": (_visit_rate_codes(c["mean_interval"], recency, low, settings), VISIT_RATE),
        "value": value,
        "margin": c["margin"],
        "value_class": (high_value.astype(np.int8), ["一般", "高"]),
        "action": (action, ACTION_TEXTS),
    }
    return pd.DataFrame({
        key: pd.Categorical.from_codes(v[0][order], v[1]) if isinstance(v, tuple) else
        (v if key == "priority_rank" else v[order])
        for key, v in columns.items()
    })


def _population_scores(recency, max_interval, regular, intervals, owner, fallback_gap):
    """TrF and S for customers with too little history, against the population (seed 004 §四.1).

    TrF is the seed's rank ratio with the pooled intervals of all regular customers in place of
    the customer's own: (#{pooled Ti ≤ Tr} + 1) ÷ (#pool + 1). S divides Tr by the typical
    longest gap, the median of regular customers' max Ti. Without any regular customer there is
    no interval to learn from: TrF ranks the customers' Tr among each other and S divides by
    ``fallback_gap`` (settings.marginal_days), so S still only grows as as_of moves on.
    """
    pool = intervals[regular[owner]].astype(np.int64) if len(intervals) else np.empty(0, dtype=np.int64)
    if len(pool):
        # intervals are whole days: a cumulative histogram answers #{pool ≤ Tr} without sorting
        at_most = np.cumsum(np.bincount(pool))
        within = at_most[np.clip(recency.astype(np.int64), 0, len(at_most) - 1)]
        trf = (within + 1) / (len(pool) + 1)
        reference = float(np.median(max_interval[regular]))
    else:
        pool = np.sort(recency)
        trf = np.searchsorted(pool, recency, side="right") / len(pool)
        reference = float(fallback_gap)
    return trf, recency / reference


def call_priority(value: pd.Series, rank_ratio: pd.Series, silence_score: pd.Series) -> pd.Series:
    """0–100: high-value customers close to silence first (seed 004 §四.3, §五.2, §五.4).

    priority = 100 × value percentile × urgency, urgency = TrF while S ≤ 1 (rising towards
    silence) and TrF ÷ S once silent (the deeper the silence, the harder the win-back). The peak
    is a valuable customer whose absence just reached their longest gap (S = 1, TrF = 1).

    >>> call_priority(pd.Series([10.0, 10.0]), pd.Series([1.0, 1.0]), pd.Series([1.0, 4.0])).tolist()
    [100.0, 25.0]
    """
    v = value.to_numpy(dtype=float)
    value_pct = rank_max(v) / max(len(v), 1)
    return pd.Series(_priority(value_pct, rank_ratio.to_numpy(dtype=float), silence_score.to_numpy(dtype=float)),
                     index=value.index)


def _priority(value_pct: np.ndarray, rank_ratio: np.ndarray, silence_score: np.ndarray) -> np.ndarray:
    return 100 * value_pct * rank_ratio / np.maximum(silence_score, 1.0)


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
    # calendar arithmetic once per distinct day (a few thousand), then a lookup per customer
    first_day = last.min()
    span = np.arange(first_day, last.max() + np.timedelta64(1, "D"))
    span_month = span.astype("datetime64[M]")
    months = (np.datetime64(as_of.date(), "M") - span_month).astype(np.int64)
    day_of_month = (span - span_month.astype("datetime64[D]")).astype(np.int64) + 1
    table = np.clip(months - (as_of.day < day_of_month), 0, 4).astype(np.int8)
    return table[(last - first_day).astype(np.int64)]


def visit_rate_classes(mean_interval: pd.Series, recency: pd.Series, low_history, settings: Settings) -> pd.Series:
    """忠誠/常規/邊緣/休眠/流失 from the customer's current pace (seed 004 二.2, thresholds in settings).

    Pace = the longer of the mean interval and the current absence Tr, so a once-loyal customer
    who stopped coming drops class. ≤ loyal_days 忠誠, ≤ regular_days 常規, ≤ marginal_days 邊緣,
    absence ≤ dormant_days 休眠, else 流失. One visit is no evidence of a pace: such customers are
    at best 邊緣.

    >>> visit_rate_classes(pd.Series([20.0, 20.0]), pd.Series([5.0, 200.0]), np.array([False, False]), Settings()).tolist()
    ['忠誠', '流失']
    """
    codes = _visit_rate_codes(mean_interval.to_numpy(dtype=float), recency.to_numpy(dtype=float),
                              np.asarray(low_history), settings)
    return pd.Series(np.asarray(VISIT_RATE)[codes], index=mean_interval.index)


def _visit_rate_codes(mean_interval: np.ndarray, recency: np.ndarray, low: np.ndarray, s: Settings) -> np.ndarray:
    pace = np.fmax(mean_interval, recency)
    pace = np.where(low, np.maximum(pace, s.regular_days + 0.5), pace)
    return np.select([pace <= s.loyal_days, pace <= s.regular_days, pace <= s.marginal_days, recency <= s.dormant_days],
                     [0, 1, 2, 3], 4).astype(np.int8)


#: seed 004 playbooks by state × value (高 = ABC class A/B); rows: state, columns: 高, 一般
ACTIONS = {
    "新客": ("新客：依 1/3/7 天節奏跟進，介紹適合品項，邀請第二次消費",
             "新客：針對性推廣（新客優惠、入會積分），邀請第二次消費"),
    "活躍": ("維持關係：告知新品與會員專屬權益，不必推銷",
             "定期推送活動資訊與積分優惠，保持互動"),
    "接近沉默": ("優先致電關懷：提醒未用完的產品/項目，邀請優先體驗本季主打",
                 "個性化推薦＋限時優惠券，喚起再次購買"),
    "剛沉默": ("立即由專屬客戶經理致電：了解未到店原因，企業原因要積極彌補，贈送體驗或歉意禮",
               "發送關懷訊息與限時優惠，詢問未回購原因"),
    "深度沉默": ("寄「致休眠客戶的一封信」與關懷禮，邀請回店體驗；若搬家或不便，提供到府服務或交通補貼",
                 "低成本觸達（簡訊/Email 優惠券）；若是客戶自身原因可考慮放棄"),
}


ACTION_TEXTS = tuple(text for pair in ACTIONS.values() for text in pair)  # state-major: (高, 一般) per state


def suggested_actions(table: pd.DataFrame, settings: Settings = Settings()) -> pd.Series:
    """The seed 004 playbook line for each customer's state and value (columns of :func:`silence_table`).

    States: 新客 (低頻/新客 not yet past the typical gap), 活躍 (groups a–b), 接近沉默 (c–d),
    剛沉默 (e, S ≤ 2), 深度沉默 (S > 2).
    """
    group = np.searchsorted(GROUPS, table["silence_group"].astype(str).to_numpy())
    codes = _action_codes(group, table["silence_score"].to_numpy(dtype=float),
                          (table["history"] == LOW_HISTORY).to_numpy(), (table["value_class"] == "高").to_numpy())
    return pd.Series(np.asarray(ACTION_TEXTS, dtype=object)[codes], index=table.index)


def _action_codes(group: np.ndarray, s: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    state = np.select([low & (s <= 1), s > DEEP_SILENCE, group == 4, (group == 2) | (group == 3)], [0, 4, 3, 2], 1)
    return (state * 2 + np.where(high, 0, 1)).astype(np.int16)


def to_display(table: pd.DataFrame) -> pd.DataFrame:
    """The table with zh-TW headers, as on the 沉默排名 sheet (margin dropped when unknown)."""
    if "margin" in table.columns and table["margin"].isna().all():
        table = table.drop(columns="margin")
    categorical = [c for c in table.columns if isinstance(table[c].dtype, pd.CategoricalDtype)]
    table = table.astype({c: object for c in categorical})
    return table.rename(columns=LABELS)
