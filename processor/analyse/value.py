"""客戶價值: per-customer P(alive), expected purchases, expected ticket and discounted CLV (seed 004).

Seed 004 「關於客戶價值分析」: purchase counts Poisson per customer with gamma-distributed rates
(假設三、四), spend per purchase gamma with gamma-distributed scales (假設五、六), value = 購買金額 −
產品成本 − 關係營銷費用 (延伸展望 3). Here that is done with the standard forms of those assumptions
(:mod:`processor.analyse.btyd`): BG/NBD or Pareto/NBD for the purchase count with dropout, Gamma-Gamma
for the spend, fitted on the customers' sufficient statistics.

The steps, each a function a partitioned engine can call:

1. :func:`customer_statistics` — per customer, from a transaction log: x (repeat purchase days),
   t_x and T (days), the mean spend of the repeat purchase days, net revenue and margin. Vectorised
   over (customer, day); a partition holding whole customers can run it alone.
2. :func:`fit_value_model` — a global step on the distinct (x, t_x, T) triples: both count models
   are fitted and the one with the higher maximised log-likelihood is used (:func:`choose_model`),
   then Gamma-Gamma on the repeaters.
3. :func:`value_table` — per customer: P(alive), expected purchases over the horizon, expected
   ticket, revenue, margin, discounted CLV and the value tier; and :func:`call_priority`, the
   ranking 沉默排名 uses.

When no model can be identified (nobody bought twice, all purchases on one day, one customer, or a
fit that does not converge), the table falls back to the empirical rule of :func:`empirical_p_alive`
and says so in ``ValueModel.fallback`` — the sheet prints it; nothing is silent.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from processor.analyse import btyd
from processor.analyse.history import day_numbers, summed_by_day
from processor.settings import Settings

YEAR_DAYS = 365.25
STEP_DAYS = YEAR_DAYS / 12  # CLV is discounted month by month
STAYS = 0.9  # the empirical rule's prior that a customer has not left for good (see empirical_p_alive)
TIERS = ("高價值", "中價值", "低價值", "負價值")
TOP_SHARE, MIDDLE_SHARE = 0.2, 0.3  # 高價值 = top 20% of positive CLV, 中價值 the next 30%
CORRELATION_LIMIT = 0.3  # |corr(frequency, mean spend)| above this: Gamma-Gamma's independence is doubtful

#: canonical key → zh-TW header of the 客戶價值 sheet ({h}: the horizon in days)
LABELS = {
    "value_rank": "價值排名",
    "customer_id": "客戶編號",
    "p_alive": "仍是客戶機率",
    "expected_purchases": "未來{h}天預期購買次數",
    "expected_ticket": "預期客單價",
    "expected_revenue": "預期營收",
    "expected_margin": "預期毛利",
    "clv": "顧客終身價值",
    "value_tier": "價值分級",
    "repeat_purchases": "回購次數 x",
    "recency": "距今天數",
    "age": "首購至今天數 T",
    "mean_spend": "平均客單價",
    "revenue": "消費金額",
}


# ---------------------------------------------------------------------------------------------
# 1. Sufficient statistics per customer


@dataclass(frozen=True)
class PurchaseDays:
    """Distinct (customer, day) purchases with the day's summed amount, sorted by customer then day.

    ``ids[customer]`` is the customer id; ``revenue``/``margin`` are per customer code (net of returns;
    NaN margin without 毛利/成本). Cutting at an earlier day is a mask, so the in-sample time
    splits of :func:`fit_priority` need no second pass over the transactions.
    """

    ids: np.ndarray
    customer: np.ndarray
    day: np.ndarray
    spend: np.ndarray
    revenue: np.ndarray
    margin: np.ndarray
    as_of_day: int


def purchase_days(transactions: pd.DataFrame, as_of) -> PurchaseDays:
    """The purchase days of a transaction log up to ``as_of`` (one vectorised pass, no loop over customers).

    A purchase is a row with a positive amount; purchases on one day are one purchase (their amounts
    summed), as in Fader-Hardie's CDNOW analyses and seed 004's 來店. Rows after ``as_of`` and rows
    missing an id, date or amount are ignored (the cleaner reports them). Codes follow first appearance,
    as in :func:`processor.analyse.history.visit_history`.
    """
    as_of_day = int(np.datetime64(pd.Timestamp(as_of).normalize().date(), "D").astype(np.int64))
    ids = transactions["customer_id"]
    if pd.api.types.is_string_dtype(ids.dtype) and not isinstance(ids.dtype, pd.CategoricalDtype):
        ids = ids.to_numpy(dtype=object)
    codes, uniques = pd.factorize(ids, sort=False)
    day = day_numbers(pd.to_datetime(transactions["date"]))
    amount = pd.to_numeric(transactions["amount"], errors="coerce").to_numpy(dtype=float)
    nat = np.iinfo(np.int64).min
    used = (day != nat) & (day <= as_of_day) & ~np.isnan(amount) & (codes >= 0)
    revenue = np.bincount(codes[used], weights=amount[used], minlength=len(uniques))
    margin = _margin(transactions, used, amount, codes, len(uniques))
    buy = used & (amount > 0)
    customer, pair_day, spend = summed_by_day(codes[buy], day[buy], {"spend": amount[buy]})
    return PurchaseDays(
        np.asarray(uniques, dtype=object), customer, pair_day, spend["spend"], revenue, margin, as_of_day
    )


def customer_statistics(transactions: pd.DataFrame, as_of) -> pd.DataFrame:
    """One row per customer with a purchase: customer_id, customer (its code), x, t_x, T, recency (days), visits,
    mean_spend (per purchase day), repeat_spend (mean over the x repeat days, NaN when x = 0), revenue (net of
    returns) and margin (NaN without 毛利/成本). See :func:`purchase_days` for what counts.

    >>> t = pd.DataFrame({"customer_id": ["A", "A", "A", "B"], "amount": [10.0, 5.0, 30.0, 8.0],
    ...                   "date": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-01-31", "2025-02-20"])})
    >>> customer_statistics(t, "2025-03-02")[["customer_id", "x", "t_x", "T", "repeat_spend"]].values.tolist()
    [['A', 1, 30, 60, 30.0], ['B', 0, 0, 10, nan]]
    """
    return statistics_of(purchase_days(transactions, as_of))


def statistics_of(days: PurchaseDays, as_of_day: int | None = None, ids: bool = True) -> pd.DataFrame:
    """:func:`customer_statistics` from purchase days, as of ``as_of_day`` (default: the days' own as-of);
    ``ids`` False leaves out customer_id (the ``customer`` code, always there, is enough for the in-sample splits
    and saves building a column of a million strings)."""
    as_of_day = days.as_of_day if as_of_day is None else as_of_day
    keep = days.day <= as_of_day
    customer, day, spend = (
        (days.customer, days.day, days.spend) if keep.all() else (days.customer[keep], days.day[keep], days.spend[keep])
    )
    stats = btyd.sufficient_statistics(customer, day, as_of_day)
    start = np.flatnonzero(np.r_[True, customer[1:] != customer[:-1]]) if len(customer) else np.empty(0, dtype=np.int64)
    total = np.add.reduceat(spend, start) if len(start) else np.empty(0)
    first_spend = spend[start] if len(start) else np.empty(0)
    x = stats["x"]
    with np.errstate(invalid="ignore", divide="ignore"):
        repeat_spend = np.where(x > 0, (total - first_spend) / np.maximum(x, 1), np.nan)
    owner = stats["customer"]
    return pd.DataFrame(
        {
            **({"customer_id": days.ids[owner]} if ids else {}),
            "customer": owner,
            "x": x,
            "t_x": stats["t_x"],
            "T": stats["T"],
            "recency": stats["T"] - stats["t_x"],
            "visits": x + 1,
            "mean_spend": total / (x + 1),
            "repeat_spend": repeat_spend,
            "revenue": days.revenue[owner],
            "margin": days.margin[owner],
        }
    )


def _margin(transactions, used, amount, codes, n) -> np.ndarray:
    if "margin" in transactions.columns:
        values = pd.to_numeric(transactions["margin"], errors="coerce").to_numpy(dtype=float)
    elif "cost" in transactions.columns:
        values = amount - pd.to_numeric(transactions["cost"], errors="coerce").to_numpy(dtype=float)
    else:
        return np.full(n, np.nan)
    values = values[used]
    if np.isnan(values).all():
        return np.full(n, np.nan)
    return np.bincount(codes[used], weights=np.nan_to_num(values), minlength=n)


# ---------------------------------------------------------------------------------------------
# Everything at once: what the sheet, 沉默排名 and the UDFs share


@dataclass(frozen=True)
class CustomerValue:
    """Statistics, the fitted models, the learned priority and the value table of one log."""

    stats: pd.DataFrame
    model: ValueModel
    priority: Priority
    scores: np.ndarray  # 0–100 per row of ``stats`` (first-appearance order)
    table: pd.DataFrame  # :func:`value_table`, sorted by CLV
    horizon_days: int


def customer_value(
    transactions: pd.DataFrame, as_of, settings: Settings = Settings(), horizon_days: int | None = None
) -> CustomerValue:
    """The whole 客戶價值 computation on clean transactions: statistics → models → priority → table.

    ``horizon_days`` defaults to settings.horizon_days. The one path for the sheet, 沉默排名's priority
    and the UDFs PL_CLV / PL_PALIVE.
    """
    horizon = int(horizon_days if horizon_days is not None else settings.horizon_days)
    settings = settings.with_values({"horizon_days": horizon})
    days = purchase_days(transactions, as_of)
    stats = statistics_of(days)
    model = fit_value_model(stats, settings)
    with beside(len(stats) >= PARALLEL_FIT) as run:  # the table and the priority each need only the model
        table = run(value_table, stats, model, horizon, settings)
        priority = fit_priority(days, model, settings)
        scores = priority_scores(priority, stats, model, horizon)
    return CustomerValue(stats, model, priority, scores, table.result(), horizon)


# ---------------------------------------------------------------------------------------------
# 2. The global fit


@dataclass(frozen=True)
class ValueModel:
    """The fitted count and spend models, how the count model was chosen, and plain-language checks.

    ``count`` is None when :attr:`fallback` says why no model could be used; ``candidates`` holds
    both count fits (converged or not) for the model-fit block.
    """

    count: btyd.Fit | None
    spend: btyd.GammaGammaFit | None
    candidates: tuple[btyd.Fit, ...] = ()
    choice: str = ""
    checks: tuple[str, ...] = ()
    fallback: str = ""
    customers: int = 0
    repeaters: int = 0
    population_ticket: float = float("nan")
    typical_gap: float = float("nan")
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """The --json model block."""

        def block(fit):
            return (
                None
                if fit is None
                else {
                    "model": fit.name,
                    "params": {k: round(v, 6) for k, v in fit.params.items()},
                    "standard_errors": {k: round(v, 6) for k, v in fit.standard_errors.items()},
                    "log_likelihood": round(fit.log_likelihood, 3) if np.isfinite(fit.log_likelihood) else None,
                    "customers": fit.customers,
                    "converged": fit.converged,
                    **({"message": fit.message} if fit.message else {}),
                }
            )

        return {
            "model": self.count.name if self.count is not None else "empirical",
            "time_unit": "day",
            "count": block(self.count),
            "spend": block(self.spend),
            "candidates": [block(f) for f in self.candidates],
            "choice": self.choice,
            "checks": list(self.checks),
            "fallback": self.fallback or None,
            "customers": self.customers,
            "repeaters": self.repeaters,
        }


def fit_value_model(stats: pd.DataFrame, settings: Settings = Settings(), standard_errors: bool = True) -> ValueModel:
    """Both count models on the distinct (x, t_x, T) triples (days), the better kept; Gamma-Gamma on repeaters.

    >>> t = pd.DataFrame({"customer_id": list("AAB"), "amount": [1.0] * 3,
    ...                   "date": pd.to_datetime(["2025-01-01", "2025-01-05", "2025-01-02"])})
    >>> fit_value_model(customer_statistics(t, "2025-02-01")).fallback[:11]
    '只有 1 位客戶有回購'
    """
    n = len(stats)
    repeaters = int((stats["x"] > 0).sum())
    gaps = (stats["t_x"] / stats["x"]).where(stats["x"] > 0)
    typical_gap = float(gaps.median()) if repeaters else float(settings.typical_gap_days)
    population_ticket = float(stats["mean_spend"].mean()) if n else float("nan")
    base = dict(customers=n, repeaters=repeaters, population_ticket=population_ticket, typical_gap=typical_gap)
    if n < 2 or repeaters < btyd.MIN_REPEATERS or (stats["t_x"] > 0).sum() < btyd.MIN_REPEATERS:
        why = (
            f"只有 {n} 位客戶"
            if n < 2
            else f"只有 {repeaters} 位客戶有回購"
            if repeaters < btyd.MIN_REPEATERS
            else "所有購買都在同一天"
        )
        return ValueModel(None, None, fallback=f"{why}，無法估計購買模型：改用經驗規則（見說明）", **base)
    x, t_x, T, count, _ = btyd.compress(stats["x"], stats["t_x"], stats["T"])
    with beside(len(x) >= PARALLEL_FIT) as run:  # the three fits are independent: two cores when it pays
        bgnbd = run(btyd.fit_bgnbd, x, t_x, T, count, standard_errors)
        gamma_gamma = run(btyd.fit_gamma_gamma, stats["x"], stats["repeat_spend"], standard_errors=standard_errors)
        pareto = btyd.fit_pareto_nbd(x, t_x, T, count, standard_errors)  # the longest, here meanwhile
    candidates = (bgnbd.result(), pareto)
    chosen, choice = choose_model(candidates)
    spend = gamma_gamma.result()
    checks = list(_checks(stats, spend))
    if chosen is None:
        reasons = "；".join(f"{f.name}: {f.message}" for f in candidates)
        return ValueModel(
            None,
            spend if spend.converged else None,
            candidates,
            choice,
            tuple(checks),
            f"購買模型沒有收斂（{reasons}）：改用經驗規則（見說明）",
            **base,
        )
    return ValueModel(
        chosen, spend if spend.converged and spend.params["q"] > 1 else None, candidates, choice, tuple(checks), **base
    )


PARALLEL_FIT = 100_000  # distinct triples (customers) from which the models are fitted (the table made) on two threads


@contextmanager
def beside(parallel: bool):
    """``run(fn, *args)`` → a future of ``fn(*args)``: with ``parallel`` on one second thread, in the order given, while
    this thread does the longest part itself (the fits and the value table are numpy/scipy ufuncs over arrays, which
    release the GIL: BG/NBD then Gamma-Gamma there while Pareto/NBD is fitted here), else right away. The results are
    the same either way: each call is deterministic and shares nothing it writes. The one way the analysers use a
    second core (also :func:`processor.analyse.transactions.customer_results`)."""
    if not parallel:
        yield lambda fn, *args, **kw: _Done(fn(*args, **kw))
        return
    from threadpoolctl import threadpool_limits

    # one BLAS thread per thread, set and restored here around both: btyd._lbfgs's own limit, entered and left by the
    # two threads in any order, then restores 1, never a stale value, and the process's setting comes back at the end
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(1, thread_name_prefix="value-beside") as pool:
        yield lambda fn, *args, **kw: pool.submit(fn, *args, **kw)


@dataclass(frozen=True)
class _Done:
    value: object

    def result(self):
        return self.value


def choose_model(candidates) -> tuple[btyd.Fit | None, str]:
    """The converged count model with the higher maximised log-likelihood; ties go to BG/NBD.

    Both models have four parameters and are likelihoods of the same (x, t_x, T) data, so this is
    also the AIC (and BIC) choice; it uses the calibration data only, never the period being predicted.
    """
    ok = [f for f in candidates if f.converged]
    if not ok:
        return None, "兩個模型都沒有收斂"
    best = max(ok, key=lambda f: (f.log_likelihood, f.name == "BG/NBD"))
    others = "、".join(f"{f.name} {f.log_likelihood:,.1f}" for f in candidates if f is not best and f.converged)
    return best, (
        f"選用 {best.name}：對數概似 {best.log_likelihood:,.1f}"
        + (f" 高於 {others}" if others else "")
        + "（兩模型參數個數相同，等同 AIC 比較；只用基準日前的資料）"
    )


def _checks(stats: pd.DataFrame, spend: btyd.GammaGammaFit) -> list[str]:
    repeat = stats[stats["x"] > 0]
    if len(repeat) >= 3 and repeat["repeat_spend"].std() > 0 and repeat["x"].std() > 0:
        corr = float(np.corrcoef(repeat["x"], repeat["repeat_spend"])[0, 1])
        if abs(corr) <= CORRELATION_LIMIT:
            yield (
                f"回購次數與平均客單價的相關係數 {corr:.2f}（|r| ≤ {CORRELATION_LIMIT}）："
                "Gamma-Gamma「買多少次與每次花多少無關」的假設成立"
            )
        else:
            yield (
                f"注意：回購次數與平均客單價的相關係數 {corr:.2f}（|r| > {CORRELATION_LIMIT}）："
                "Gamma-Gamma 假設兩者無關，預期客單價可能偏差，請把它當參考"
            )
    if not spend.converged:
        yield f"客單價模型（Gamma-Gamma）無法估計（{spend.message}）：預期客單價用本人平均客單價"
    elif spend.params["q"] <= 1:
        yield "客單價模型的 q ≤ 1（平均客單價沒有有限的母體平均）：預期客單價用本人平均客單價"


# ---------------------------------------------------------------------------------------------
# 3. Per-customer value


def value_table(
    stats: pd.DataFrame, model: ValueModel, horizon_days: float, settings: Settings = Settings(), ranked: bool = True
) -> pd.DataFrame:
    """Per customer (rows of ``stats``): p_alive, expected_purchases (in the next ``horizon_days``),
    expected_ticket, expected_revenue, expected_margin, clv, value_tier, priority; sorted by clv.
    ``ranked`` False: without value_rank and value_tier, in the rows' order — a part of a partitioned log,
    ranked with the others afterwards (:func:`processor.engines.kernel.finish`).

    CLV = Σ over the months of the horizon of (expected purchases that month × expected ticket ×
    margin rate) ÷ (1 + annual discount rate)^(months/12), minus the yearly marketing cost × P(alive)
    discounted the same way (seed 004 延伸展望 3: 客戶價值 = 購買金額 − 產品成本 − 關係營銷費用).
    The margin rate is the customer's own 毛利 ÷ 消費金額 when the log has 毛利 or 成本, else
    settings.margin_rate.
    """
    x, t_x, T, inverse = triples(stats)
    p_alive = _p_alive(model, x, t_x, T)
    ticket = expected_ticket(model, stats)
    steps = np.minimum(np.arange(1, int(np.ceil(horizon_days / STEP_DAYS)) + 1) * STEP_DAYS, horizon_days)
    discount = (1 + settings.discount_rate) ** (-steps / YEAR_DAYS)
    previous = np.zeros(len(x))
    discounted_purchases = np.zeros(len(x))
    for t, factor in zip(steps, discount):  # one pass per month of the horizon (≤ 120), all triples at once
        cumulative = expected_purchases(model, t, x, t_x, T, p_alive)
        discounted_purchases += (cumulative - previous) * factor
        previous = cumulative
    # back from the distinct (x, t_x, T) triples to the customers
    p_alive, purchases, discounted_purchases = p_alive[inverse], previous[inverse], discounted_purchases[inverse]
    x, t_x, T = x[inverse], t_x[inverse], T[inverse]
    revenue = stats["revenue"].to_numpy(dtype=float)
    own_margin = stats["margin"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(np.isfinite(own_margin) & (revenue > 0), own_margin / revenue, settings.margin_rate)
    years = np.diff(np.r_[0.0, steps]) / YEAR_DAYS
    marketing = settings.marketing_cost * p_alive * float(years @ discount)
    clv = discounted_purchases * ticket * rate - marketing
    table = pd.DataFrame(
        {
            "customer_id": stats["customer_id"].to_numpy(),
            "p_alive": p_alive,
            "expected_purchases": purchases,
            "expected_ticket": ticket,
            "expected_revenue": purchases * ticket,
            "expected_margin": purchases * ticket * rate,
            "clv": clv,
            **({"value_tier": value_tiers(clv)} if ranked else {}),
            "repeat_purchases": x.astype(np.int64),
            "recency": T - t_x,
            "age": T,
            "mean_spend": stats["mean_spend"].to_numpy(dtype=float),
            "revenue": revenue,
        }
    )
    if not ranked:
        return table
    order = np.argsort(-clv, kind="stable")
    table = table.iloc[order].reset_index(drop=True)
    table.insert(0, "value_rank", np.arange(1, len(table) + 1))
    return table


def triples(stats: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (x, t_x, T) of ``stats`` as floats and, per customer, the index of theirs: every
    per-customer model output depends on the triple alone, so it is computed once per triple."""
    x, t_x, T, _, inverse = btyd.compress(stats["x"], stats["t_x"], stats["T"])
    return x.astype(float), t_x.astype(float), T.astype(float), inverse


def _p_alive(model: ValueModel, x, t_x, T) -> np.ndarray:
    if model.count is None:
        return empirical_p_alive(x, t_x, T, model.typical_gap)
    return model.count.p_alive(x, t_x, T)


def expected_purchases(model: ValueModel, t: float, x, t_x, T, p_alive=None) -> np.ndarray:
    """Expected purchases in the next ``t`` days: the model's, else the empirical rule's
    P(alive) × (x + 1) ÷ (T + typical gap) × t — the customer's own rate shrunk by one typical gap.
    ``p_alive`` (:func:`_p_alive` of the same customers) saves computing it once per horizon."""
    if p_alive is None:
        p_alive = _p_alive(model, x, t_x, T)
    if model.count is None:
        rate = (np.asarray(x) + 1) / (np.asarray(T) + model.typical_gap)
        return p_alive * rate * t
    return model.count.expected_purchases(t, x, t_x, T, p_alive)


def expected_ticket(model: ValueModel, stats: pd.DataFrame) -> np.ndarray:
    """Gamma-Gamma's shrunk mean spend (x ≥ 1 uses the repeat days' mean; first-time buyers get the
    population mean γp/(q−1)); without a usable spend model, the customer's own mean spend per day."""
    if model.spend is None:
        return stats["mean_spend"].to_numpy(dtype=float)
    x = stats["x"].to_numpy(dtype=float)
    return model.spend.expected_spend(x, stats["repeat_spend"].fillna(0.0).to_numpy(dtype=float))


def empirical_p_alive(x, t_x, T, typical_gap: float) -> np.ndarray:
    """The fallback when no model fits: the chance of still being a customer from the customer's own history.

    A customer still buying at their own rate (gamma across customers, scale = the typical gap
    between purchases) goes Tr = T − t_x days without buying with likelihood
    L = ((g + t_x) ÷ (g + t_x + Tr))^(x+2), g the typical gap; with the prior :data:`STAYS` = 0.9,
    P = 0.9·L ÷ (0.9·L + 0.1). The more often someone came, the faster a long absence counts.

    >>> np.round(empirical_p_alive(np.array([0, 5]), np.array([0, 50]), np.array([30, 80]), 10.0), 3).tolist()
    [0.36, 0.345]
    """
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    g = max(float(typical_gap), 1.0)
    log_l = (x + 2) * (np.log(g + t_x) - np.log(g + T))
    return np.exp(-np.logaddexp(0, np.log((1 - STAYS) / STAYS) - log_l))


def value_tiers(clv: np.ndarray) -> pd.Categorical:
    """高價值 = top 20% of the customers with positive CLV, 中價值 the next 30%, 低價值 the rest, 負價值 CLV ≤ 0
    (seed 004 五: 臨近虧本或負價值的客戶 are to be looked at, not called first).

    >>> value_tiers(np.array([10.0, 5.0, 1.0, 0.5, 0.2, -1.0])).tolist()
    ['高價值', '中價值', '低價值', '低價值', '低價值', '負價值']
    """
    clv = np.asarray(clv, dtype=float)
    positive = clv > 0
    rank = np.zeros(len(clv))
    if positive.any():
        order = np.argsort(-clv[positive], kind="stable")
        share = np.empty(positive.sum())
        share[order] = (np.arange(1, positive.sum() + 1)) / positive.sum()
        rank[positive] = share
    codes = np.where(
        ~positive, 3, np.where(rank <= TOP_SHARE + 1e-12, 0, np.where(rank <= TOP_SHARE + MIDDLE_SHARE + 1e-12, 1, 2))
    )
    return pd.Categorical.from_codes(codes.astype(np.int8), TIERS)


# ---------------------------------------------------------------------------------------------
# The call priority: P(buys again within the horizon), learned on the log's own past


PRIORITY_SAMPLE = 20_000  # customers per in-sample split used to learn the priority (seeded sample beyond)
MIN_LABELS = 20  # returners and non-returners each needed across the splits to learn anything
SPLIT_FRACTIONS = (1 / 4, 1 / 3, 1 / 2)  # in-sample holdouts: these fractions of the log's span, ending at as-of


@dataclass(frozen=True)
class Priority:
    """How 優先分數 is computed for this log: a logistic model on model outputs and purchase history,
    or (``coefficients`` None) the count model's P(at least one purchase) with the reason in ``fallback``."""

    coefficients: np.ndarray | None
    intercept: float = 0.0
    names: tuple[str, ...] = ()
    trained_on: int = 0
    splits: tuple[int, ...] = ()  # in-sample holdout lengths (days)
    fallback: str = ""
    spend_exponent: float = 0.0  # γ of P(buys again) × (spend if they buy)^γ, chosen by :func:`choose_spend_exponent`
    selection: tuple[tuple[float, float, float], ...] = ()  # (γ, mean in-sample AUC, mean top-20% share) per γ
    spend_columns: tuple[int, int] = (0, 0)  # where priority_features puts log E[purchases] (chosen model), log ticket


def fit_priority(days: PurchaseDays, model: ValueModel, settings: Settings = Settings()) -> Priority:
    """Learn P(buys again within h days) from the log's own past: no look at anything after as-of.

    For each cut c = as-of − h_k, h_k = ¼, ⅓, ½ of the log's span (capped at the horizon), the
    models are refitted on the purchases up to c, every customer known at c gets the features of
    :func:`priority_features` as of c (expected purchases over h_k), and the label "bought in
    (c, as-of]". A logistic regression (scikit-learn, L2, C = 1) on the stacked splits is the
    priority model; applied as of the real as-of with the real horizon it ranks customers by their
    chance to buy again. Why learned, not only the BTYD model: on CDNOW the models' expected purchases
    rank returners a little worse than this blend (benchmarks/bench_clv.py) because recency,
    frequency and spend carry information the stationary model smooths away (e.g. the first weeks
    after a customer's first purchase). Up to :data:`PRIORITY_SAMPLE` customers per split, seeded;
    features standardised on the training rows.

    The rep's list must also put the customers who will *spend* most near the top, so the score is
    P(buys again) × (expected spend if they buy)^γ (:func:`log_spend_if_bought`: the count model's expected
    purchases given at least one × the Gamma-Gamma ticket) — at γ = 1 an expected value; γ ∈ {0, 0.1, …, 1} is
    chosen on the same in-sample splits (:func:`choose_spend_exponent`), never on the period predicted.
    Falls back (reason in ``fallback``) when there is no model, or too few returners or non-returners.
    """
    if model.count is None:
        return Priority(None, fallback="沒有購買模型")
    names = tuple(f.name for f in model.candidates if f.converged)
    features, labels, spends, lengths = priority_training(days, model, settings)
    y = np.concatenate(labels) if labels else np.empty(0, dtype=bool)
    if y.sum() < MIN_LABELS or (~y).sum() < MIN_LABELS:
        return Priority(
            None, fallback=f"可學習的再購紀錄不足（再購 {int(y.sum())}、未再購 {int((~y).sum())}，各需 {MIN_LABELS}）"
        )
    coefficients, intercept = _logistic(np.vstack(features), y)
    columns = (2 * names.index(model.count.name), 2 * len(names))
    gamma, selection = choose_spend_exponent(features, spends, columns)
    return Priority(
        coefficients, intercept, _feature_names(names), len(y), tuple(lengths), "", gamma, selection, columns
    )


def priority_training(days: PurchaseDays, model: ValueModel, settings: Settings = Settings()):
    """The in-sample time splits :func:`fit_priority` learns from: per split, (features as of the cut, "bought in
    (cut, as-of]", spend in (cut, as-of], the split's length in days) — four lists, one entry per usable split
    (a split whose refit does not converge to the same models as ``model`` is left out)."""
    names = tuple(f.name for f in model.candidates if f.converged)
    first_day = int(days.day.min())
    span = days.as_of_day - first_day
    rng = np.random.default_rng(settings.random_state)
    start = np.flatnonzero(np.r_[True, days.customer[1:] != days.customer[:-1]]) if len(days.day) else []
    customers, first_days = days.customer[start], days.day[start]  # ascending codes (days are sorted)
    features, labels, spends, lengths = [], [], [], []
    for fraction in SPLIT_FRACTIONS:  # three splits, each vectorised over customers
        h = int(min(round(span * fraction), settings.horizon_days))
        cut = days.as_of_day - h
        if h < 1 or cut <= first_day:
            continue
        known = customers[first_days <= cut]  # the rows statistics_of(days, cut) would give, in its order
        if len(known) > PRIORITY_SAMPLE:  # sample the customers first: their statistics only
            picked = np.zeros(len(days.ids), dtype=bool)
            picked[known[np.sort(rng.choice(len(known), PRIORITY_SAMPLE, replace=False))]] = True
            keep = picked[days.customer]
            stats = statistics_of(
                replace(days, customer=days.customer[keep], day=days.day[keep], spend=days.spend[keep]), cut, ids=False
            )
        else:
            stats = statistics_of(days, cut, ids=False)
        inner = fit_value_model(stats, settings, standard_errors=False)
        if inner.count is None or tuple(f.name for f in inner.candidates if f.converged) != names:
            continue
        later = days.day > cut
        spent = np.bincount(days.customer[later], weights=days.spend[later], minlength=len(days.ids))
        codes = stats["customer"].to_numpy()
        features.append(priority_features(stats, inner, h))
        spends.append(spent[codes])
        labels.append(spent[codes] > 0)
        lengths.append(h)
    return features, labels, spends, lengths


def _logistic(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """L2 logistic regression (C = 1) on standardised features, folded back: score = X·coef + intercept."""
    from sklearn.linear_model import LogisticRegression

    centre, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1.0
    fit = LogisticRegression(C=1.0, max_iter=2000).fit((X - centre) / scale, y)
    coefficients = fit.coef_[0] / scale
    return coefficients, float(fit.intercept_[0] - centre @ coefficients)


SPEND_EXPONENTS = tuple(np.round(np.arange(0, 1.01, 0.1), 1))  # the γ grid of choose_spend_exponent


def choose_spend_exponent(features: list[np.ndarray], spends: list[np.ndarray], columns: tuple[int, int]):
    """γ for P(buys again) × (spend if they buy)^γ, and per γ the mean (AUC, top-20% share) it had in-sample.

    Leave one split out: the logistic model is trained on the other splits and scores the held one;
    every γ is scored by "buys again" AUC + the share of that split's later spend held by its top 20%
    (the two jobs of the call list, equally weighted), averaged over the held splits; the best γ wins, ties
    to the smaller, among the γ whose mean AUC is not below plain recency's (−Tr) on the same held splits —
    the list's promise never to rank returners worse than recency, checked where the log allows looking.
    With fewer than two usable splits γ = 0 (the plain chance of buying again).
    ``columns``: see :func:`log_spend_if_bought`.
    """
    from sklearn.metrics import roc_auc_score

    usable = [i for i, s in enumerate(spends) if 0 < (s > 0).sum() < len(s)]
    if len(usable) < 2:
        return 0.0, ()
    totals = np.zeros((len(SPEND_EXPONENTS), 2))
    recency = 0.0
    for held in usable:  # two or three splits, each vectorised over customers
        train = [i for i in usable if i != held]
        y = np.concatenate([spends[i] for i in train]) > 0
        if y.all() or not y.any():
            return 0.0, ()
        coefficients, intercept = _logistic(np.vstack([features[i] for i in train]), y)
        log_p = -np.logaddexp(0, -(features[held] @ coefficients + intercept))
        log_spend = log_spend_if_bought(features[held], columns)
        recency += roc_auc_score(spends[held] > 0, -features[held][:, -2])  # −log(1 + Tr): see priority_features
        for k, gamma in enumerate(SPEND_EXPONENTS):  # eleven values of γ
            score = log_p + gamma * log_spend
            totals[k] += roc_auc_score(spends[held] > 0, score), top_share(score, spends[held])
    means = totals / len(usable)
    allowed = means[:, 0] >= recency / len(usable)
    allowed[0] = True  # γ = 0, the plain chance, is the fallback
    best = int(np.argmax(np.where(allowed, means.sum(axis=1).round(12), -np.inf)))
    return float(SPEND_EXPONENTS[best]), tuple((float(g), *map(float, m)) for g, m in zip(SPEND_EXPONENTS, means))


def log_spend_if_bought(features: np.ndarray, columns: tuple[int, int]) -> np.ndarray:
    """log(E[purchases | at least one] × expected ticket) per row of :func:`priority_features`, from its columns
    ``columns`` = (log E[purchases] of the chosen count model, log expected ticket); E[· | ≥ 1] = E ÷ (1 − e^−E),
    the Poisson reading of the expected count. A regular who will surely come back many times spends more than
    an occasional buyer with a bigger ticket: frequency counts as much as ticket.

    >>> np.round(log_spend_if_bought(np.array([[np.log(1e-9), 0.0], [np.log(3.0), np.log(10.0)]]), (0, 1)), 3)
    array([0.   , 3.452])
    """
    log_e = features[:, columns[0]]
    return log_e - np.log(-np.expm1(-np.exp(log_e))) + features[:, columns[1]]


def top_share(score: np.ndarray, spend: np.ndarray, share: float = 0.2) -> float:
    """The share of ``spend`` held by the top ``share`` of customers by ``score`` (ties: first listed first).

    >>> top_share(np.array([3.0, 1.0, 2.0, 0.0, 0.5]), np.array([10.0, 0.0, 5.0, 85.0, 0.0]))
    0.1
    """
    spend = np.asarray(spend, dtype=float)
    total = spend.sum()
    if total <= 0:
        return 0.0
    top = np.argsort(-np.asarray(score, dtype=float), kind="stable")[: int(share * len(spend))]
    return float(spend[top].sum() / total)


def priority_features(stats: pd.DataFrame, model: ValueModel, horizon_days: float) -> np.ndarray:
    """Per customer: log expected purchases and log P(alive) under each converged count model, log expected
    ticket, log mean spend, log(1 + x), log(1 + recency), log(1 + T)."""
    x, t_x, T, inverse = triples(stats)
    columns = []
    for fit in model.candidates:
        if fit.converged:  # on the distinct triples, then gathered to the customers
            alive = fit.p_alive(x, t_x, T)
            columns.append(np.log(np.maximum(fit.expected_purchases(horizon_days, x, t_x, T, alive), 1e-12))[inverse])
            columns.append(np.log(np.maximum(alive, 1e-12))[inverse])
    x, t_x, T = x[inverse], t_x[inverse], T[inverse]
    columns += [
        np.log(np.maximum(expected_ticket(model, stats), 1e-9)),
        np.log(np.maximum(stats["mean_spend"].to_numpy(dtype=float), 1e-9)),
        np.log1p(x),
        np.log1p(T - t_x),
        np.log1p(T),
    ]
    # a degenerate refit (tiny splits) can give NaN for a few customers: read it as "no purchases expected"
    return np.nan_to_num(np.column_stack(columns), nan=np.log(1e-12), posinf=50.0, neginf=np.log(1e-12))


def _feature_names(models) -> tuple[str, ...]:
    return tuple(f"{kind}({m})" for m in models for kind in ("log E[購買次數]", "log P(alive)")) + (
        "log 預期客單價",
        "log 平均客單價",
        "log(1+x)",
        "log(1+距今天數)",
        "log(1+T)",
    )


def priority_scores(priority: Priority, stats: pd.DataFrame, model: ValueModel, horizon_days: float) -> np.ndarray:
    """0–100: the chance (%) the customer buys again within ``horizon_days`` (the learned model's) times
    (expected spend if they buy ÷ the log's highest)^γ — γ = 0 leaves the plain chance; without a learned
    model, 1 − e^(−E[purchases]) from the count model (a Poisson reading of the expected count)."""
    if priority.coefficients is not None:
        features = priority_features(stats, model, horizon_days)
        z = features @ priority.coefficients + priority.intercept
        log_spend = log_spend_if_bought(features, priority.spend_columns)
        weight = np.exp(priority.spend_exponent * (log_spend - log_spend.max())) if len(z) else 1.0
        return 100 * special_expit(z) * weight
    x, t_x, T, inverse = triples(stats)
    return 100 * -np.expm1(-expected_purchases(model, horizon_days, x, t_x, T))[inverse]


def special_expit(z):
    from scipy.special import expit

    return expit(z)


def priority_from_statistics(statistics: pd.DataFrame, as_of, settings: Settings = Settings()) -> np.ndarray:
    """0–100 per row of 沉默排名's per-customer statistics (visits, first/last purchase, revenue): the count
    model's 1 − e^(−E[purchases within the horizon]), for engines that only bring back those rows."""
    as_of_day = np.datetime64(pd.Timestamp(as_of).normalize().date(), "D")
    first = statistics["first_purchase"].to_numpy(dtype="datetime64[D]")
    last = statistics["last_purchase"].to_numpy(dtype="datetime64[D]")
    visits = statistics["visits"].to_numpy(dtype=float)
    stats = pd.DataFrame(
        {
            "x": (visits - 1).astype(np.int64),
            "t_x": (last - first).astype(np.int64),
            "T": (as_of_day - first).astype(np.int64),
            "mean_spend": statistics["revenue"].to_numpy(dtype=float) / np.maximum(visits, 1),
            "repeat_spend": np.nan,
        }
    )
    model = fit_value_model(stats, settings, standard_errors=False)
    return priority_scores(Priority(None, fallback="只有每位客戶的彙總"), stats, model, settings.horizon_days)
