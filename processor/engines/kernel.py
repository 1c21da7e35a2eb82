"""The per-customer work as the engines run it, in three steps (a MapReduce with a combiner):

1. :func:`piece_totals`, per piece of the log (a few Parquet row groups, or a CSV file): the row rules of
   :func:`processor.analyse.transactions.row_rules` (ids normalised, problems found), then the rows reduced to
   :class:`~processor.analyse.history.DailyTotals` — one row per (customer, day) — and split into buckets by a
   hash of the normalised id, so whatever is moved between processes is already small and integer-coded;
2. :func:`bucket_statistics`, per bucket (every piece's share of it: whole customers): the daily totals merged,
   then :func:`processor.analyse.history.history_of` → :func:`processor.analyse.silence.statistics_of_history`
   (沉默排名's per-customer values) and :func:`processor.analyse.value.statistics_of` (客戶價值's x, t_x, T,
   mean spend);
3. :func:`finish`, the global step on the one-row-per-customer table: the customer-value models
   (:func:`processor.analyse.value.fit_value_model`, :func:`~processor.analyse.value.value_table`),
   :func:`processor.analyse.silence.silence_from_statistics` and :func:`processor.analyse.segments.segment_table`
   (exact ranks, ABC, k-means on a sample), the id-variant and no-purchase checks of the whole log.

The formulas live in those functions only. The in-memory engine is these steps with one bucket, in one process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from processor.analyse.history import DailyTotals
from processor.errors import Problem
from processor.settings import Settings

#: why the log path's 優先分數 is the count model's chance alone (see processor.analyse.value.Priority)
SUMMARY_ONLY = "只有每位客戶的彙總"


@dataclass
class PieceTotals:
    """What step 1 returns for one piece: its daily totals by bucket and the small facts the driver reads."""

    buckets: list[DailyTotals]
    facts: PieceFacts

    def __sizeof__(self) -> int:  # for Dask's memory accounting (see DailyTotals.__sizeof__)
        return sum(b.__sizeof__() for b in self.buckets)


@dataclass
class PieceFacts:
    """A piece's rows, problems, ids typed other than normalised, and how many rows carry 毛利 / 成本."""

    rows: int
    problems: list[Problem]
    variants: pd.DataFrame  # customer_id, spelling: distinct non-normalised spellings of used rows
    margin_known: int = 0
    cost_known: int = 0


@dataclass
class Partial:
    """What step 2 returns for one bucket."""

    statistics: pd.DataFrame  # silence.STATISTICS + customer_id, id_hash, plain_rows (one row per customer)
    value: pd.DataFrame  # value.statistics_of's columns (no ids), aligned with ``statistics``
    pool: np.ndarray  # histogram of regular customers' intervals by whole days
    lost: pd.DataFrame  # customer_id, plain_rows of customers with rows but no purchase


@dataclass
class CustomerTables:
    """Both per-customer tables of a log (and 客戶價值), the k-means info, the problems and the row count read."""

    silence: pd.DataFrame
    segments: pd.DataFrame
    info: dict
    problems: list[Problem]
    rows: int
    engine: str = "pandas"
    details: dict = field(default_factory=dict)  # engine facts for the summary (partitions, workers)
    value: object = None  # processor.analyse.value.CustomerValue


def bucket_codes(customers: np.ndarray, buckets: int) -> np.ndarray:
    """The bucket of each normalised id: a hash modulo ``buckets`` (the same id lands in the same bucket
    from every piece).

    >>> codes = bucket_codes(np.array(["A001", "B7", "A001"], dtype=object), 4)
    >>> bool(codes[0] == codes[2]), bool(((codes >= 0) & (codes < 4)).all())
    (True, True)
    """
    from processor.analyse.history import id_hashes

    if buckets == 1 or not len(customers):
        return np.zeros(len(customers), dtype=np.int64)
    return _buckets_of_hashes(id_hashes(customers), buckets)


def _buckets_of_hashes(hashes: np.ndarray, buckets: int) -> np.ndarray:
    return (hashes % np.uint64(buckets)).astype(np.int64)


def piece_totals(piece, as_of, name: str, buckets: int) -> PieceTotals:
    """Step 1 on one :class:`~processor.read.logs.LogPiece`: read, the row rules, daily totals by bucket."""
    from processor.analyse.history import daily_totals
    from processor.analyse.transactions import _Same, row_rules
    from processor.read.logs import read_piece

    columns = read_piece(piece)
    codes = columns.ids
    customer = codes.row_customer
    used, dated, money = row_rules(
        customer, columns.day, columns.amount, as_of, _Same(name, len(columns)), _Same(None, len(columns))
    )
    # a spelling is "plain" when typed exactly as its normalised id; the others are listed for the variants check
    spelling_plain = np.zeros(len(codes.spellings), dtype=bool)
    known = codes.spelling_customer >= 0
    spelling_plain[known] = codes.spellings[known] == codes.customers[codes.spelling_customer[known]]
    row_spelling = codes.row_spelling[used]
    in_use = np.zeros(len(codes.spellings), dtype=bool)
    in_use[row_spelling] = True
    odd = np.flatnonzero(in_use & ~spelling_plain & known)
    variants = pd.DataFrame(
        {
            "customer_id": codes.customers[codes.spelling_customer[odd]],
            "spelling": np.asarray([str(v) for v in codes.spellings[odd]], dtype=object),
        }
    )
    optional = {
        key: values[used] for key, values in (("margin", columns.margin), ("cost", columns.cost)) if values is not None
    }
    daily = daily_totals(
        customer[used],
        codes.customers,
        columns.day[used],
        columns.amount[used],
        plain=spelling_plain[row_spelling],
        **optional,
    )
    facts = PieceFacts(
        len(columns),
        columns.problems + dated + money,
        variants,
        int(daily.margin_known.sum()) if daily.margin_known is not None else 0,
        int(daily.cost_known.sum()) if daily.cost_known is not None else 0,
    )
    return PieceTotals(split_buckets(daily, buckets), facts)


def split_buckets(daily: DailyTotals, buckets: int) -> list[DailyTotals]:
    """``daily`` cut by :func:`bucket_codes` of its customers; each part keeps only its own ids (and their hashes,
    so step 2 hashes none again), codes renumbered (still sorted by customer then day)."""
    from processor.analyse.history import id_hashes

    if buckets == 1:
        return [daily]
    hashes = daily.id_hash if daily.id_hash is not None else id_hashes(daily.ids)  # hashed once, kept for step 2
    of_customer = _buckets_of_hashes(hashes, buckets)
    if buckets < 2**15:  # numpy's stable sort of 16-bit integers is a radix sort
        of_customer = of_customer.astype(np.int16)
    # one stable sort of the customers and one of the rows by bucket; each bucket is then a slice of both
    customer_order = np.argsort(of_customer, kind="stable")
    customer_edges = np.searchsorted(of_customer[customer_order], np.arange(buckets + 1))
    new_code = np.empty(len(daily.ids), dtype=np.int32)  # a customer's position among its bucket's, in code order
    new_code[customer_order] = np.arange(len(daily.ids)) - np.repeat(customer_edges[:-1], np.diff(customer_edges))
    row_bucket = of_customer[daily.customer]
    order = np.argsort(row_bucket, kind="stable")
    edges = np.searchsorted(row_bucket[order], np.arange(buckets + 1))
    columns = {k: getattr(daily, k) for k in DailyTotals.SUMMED if getattr(daily, k) is not None}
    parts = []
    for b in range(buckets):  # a handful of buckets; each its own arrays (no views: a share is freed when used)
        mine, rows = customer_order[customer_edges[b] : customer_edges[b + 1]], order[edges[b] : edges[b + 1]]
        parts.append(
            DailyTotals(
                daily.ids[mine],
                new_code[daily.customer[rows]],
                daily.day[rows],
                **{k: v[rows] for k, v in columns.items()},
                id_hash=hashes[mine],
            )
        )
    return parts


def bucket_of(totals: PieceTotals, b: int) -> DailyTotals:
    return totals.buckets[b]


def facts_of(totals: PieceTotals) -> PieceFacts:
    return totals.facts


def margin_choice(facts: list[PieceFacts]) -> str | None:
    """The whole log's margin: "margin" if any 毛利 is known, else "cost" if any 成本 is known, else None
    (:func:`processor.analyse.history.margin_source`, decided on the pieces' counts)."""
    if any(f.margin_known for f in facts):
        return "margin"
    return "cost" if any(f.cost_known for f in facts) else None


def bucket_statistics(parts: list[DailyTotals], as_of, settings: Settings, margin: str | None) -> Partial:
    """Step 2 on one bucket (every piece's share): merged daily totals → both per-customer tables' values."""
    from processor.analyse.history import history_of, margin_of, merge_daily
    from processor.analyse.silence import statistics_of_history
    from processor.analyse.value import PurchaseDays, statistics_of

    daily = merge_daily(parts)
    history = history_of(daily, as_of, margin)
    statistics, pool = statistics_of_history(history, settings)
    n = len(daily.ids)
    plain = np.bincount(daily.customer, weights=daily.plain, minlength=n) if daily.plain is not None else np.zeros(n)
    statistics["plain_rows"] = plain[history.id_codes]
    buy = daily.purchases > 0
    days = PurchaseDays(
        daily.ids,
        daily.customer[buy],
        daily.day[buy],
        daily.spend[buy],
        np.bincount(daily.customer, weights=daily.amount, minlength=n),
        margin_of(daily, n, margin),
        int(np.datetime64(pd.Timestamp(as_of).normalize().date(), "D").astype(np.int64)),
    )
    value = statistics_of(days, ids=False)  # the same customers in the same order as ``history``
    purchases = np.bincount(daily.customer, weights=daily.purchases, minlength=n)
    rows = np.bincount(daily.customer, weights=daily.rows, minlength=n)
    lost = np.flatnonzero((rows > 0) & (purchases == 0))
    return Partial(statistics, value, pool, pd.DataFrame({"customer_id": daily.ids[lost], "plain_rows": plain[lost]}))


#: the columns of value.statistics_of the count and spend models are fitted on (numbers only: cheap to gather)
FIT_COLUMNS = ("x", "t_x", "T", "mean_spend", "repeat_spend", "revenue")


def fit_inputs(partial: Partial) -> pd.DataFrame:
    """What the global model fit needs from a bucket: its customers' numbers and the id hash that orders them."""
    out = partial.value[list(FIT_COLUMNS)].copy()
    out["id_hash"] = partial.statistics["id_hash"].to_numpy()
    return out


def without_value(partial: Partial) -> Partial:
    """The partial without its 客戶價值 statistics (gathered as :func:`fit_inputs` and used by :func:`value_part`)."""
    return Partial(partial.statistics, None, partial.pool, partial.lost)


def value_only(partial: Partial) -> Partial:
    """The partial with only what :func:`value_part` reads (客戶價值's numbers, the ids' hashes)."""
    return Partial(partial.statistics[["id_hash"]], partial.value, partial.pool[:0], partial.lost.iloc[:0])


def hash_order(frames: list[pd.DataFrame]) -> np.ndarray:
    """The stable argsort by ``id_hash`` of the buckets' customers stacked (``frames``: each bucket's statistics or
    :func:`fit_inputs`, in bucket order: the same rows): the fixed order the global step fits the models in and
    lists equal priorities and CLVs in, whatever the partitioning. Made once; the fit and :func:`finish` share it."""
    hashes = [f["id_hash"].to_numpy() for f in frames]
    return np.argsort(np.concatenate(hashes) if len(hashes) > 1 else hashes[0], kind="stable")


def fit_model(inputs: list[pd.DataFrame], settings: Settings, order: np.ndarray | None = None):
    """The customer-value models (:func:`processor.analyse.value.fit_value_model`) on every customer, in id-hash
    order (so every partitioning fits on the same rows in the same order; ``order``: :func:`hash_order` of
    ``inputs`` when the caller has it)."""
    from processor.analyse import value as val

    stats = pd.concat(inputs, ignore_index=True) if len(inputs) > 1 else inputs[0]
    stats = stats.take(hash_order([stats]) if order is None else order).reset_index(drop=True)
    return val.fit_value_model(stats, settings), stats


def value_part(partial: Partial, model, settings: Settings) -> tuple[pd.DataFrame, np.ndarray]:
    """A bucket's 客戶價值 rows (:func:`processor.analyse.value.value_table`, per customer given the global model)
    and 優先分數 (:func:`~processor.analyse.value.priority_scores`), aligned with ``partial.statistics``. The
    table comes back unranked (``value_table(ranked=False)`` keeps the rows' order: row i is the statistics' row
    i), with row numbers for ids; :func:`finish` puts the ids back, orders every customer and gives
    ``value_tier`` over all of them."""
    from processor.analyse import value as val

    horizon = int(settings.horizon_days)
    stats = partial.value.assign(customer_id=np.arange(len(partial.value)))  # row numbers: map the sort back
    scores = val.priority_scores(val.Priority(None, fallback=SUMMARY_ONLY), stats, model, horizon)
    # customer_id: row numbers in partial.statistics (ids need not travel twice)
    return val.value_table(stats, model, horizon, settings, ranked=False), scores


def finish(
    facts: list[PieceFacts],
    partials: list[Partial],
    values: list[tuple[pd.DataFrame, np.ndarray]],
    model,
    fitted: pd.DataFrame,
    as_of,
    settings: Settings,
    engine: str,
    name: str,
    order: np.ndarray | None = None,
) -> CustomerTables:
    """Step 3, the global step: the partitions' tables stacked in a fixed order (by a hash of the id, so every
    partitioning gives the same answer), histograms added; 客戶價值's rows in CLV order with tiers over every
    customer, 沉默排名's ranks and priority, 客戶分群 — the same answer as in memory — and the whole log's
    problems. ``values`` are :func:`value_part` of each partial, ``model``/``fitted`` :func:`fit_model`'s,
    ``order`` :func:`hash_order` of the partials (made here when not given)."""
    from processor.analyse import value as val
    from processor.analyse.history import ordered_by
    from processor.analyse.segments import segment_table
    from processor.analyse.silence import silence_from_statistics
    from processor.analyse.transactions import no_purchase_problem

    for p, (table, _) in zip(partials, values):  # ids stay Arrow strings: taken, never turned into Python objects
        table["customer_id"] = p.statistics["customer_id"].array.take(table["customer_id"].to_numpy())
    statistics = (
        pd.concat([p.statistics for p in partials], ignore_index=True) if len(partials) > 1 else partials[0].statistics
    )
    scores = np.concatenate([v[1] for v in values]) if values else np.empty(0)  # aligned with ``statistics``
    # 沉默排名 does not depend on the rows' order (it sorts by priority, ties by id hash); only 客戶價值's
    # statistics come in id-hash order (fit_model's), so only the ids and scores are put in that order
    order = hash_order([p.statistics for p in partials]) if order is None else order
    table = pd.concat([v[0] for v in values], ignore_index=True) if len(values) > 1 else values[0][0]
    # value_table's order (by CLV, ties in id-hash order) over every customer, and its tiers (ranks of CLV); the
    # tables' rows are the statistics' rows, so ``order`` breaks the ties
    table = table.take(ordered_by(-table["clv"].to_numpy(), order)).reset_index(drop=True)
    table.insert(table.columns.get_loc("clv") + 1, "value_tier", val.value_tiers(table["clv"].to_numpy()))
    table.insert(0, "value_rank", np.arange(1, len(table) + 1))
    horizon = int(settings.horizon_days)
    fitted.insert(0, "customer_id", statistics["customer_id"].array.take(order))
    priority = val.Priority(None, fallback=SUMMARY_ONLY)  # the learned blend needs every purchase day in one place
    value = val.CustomerValue(fitted.drop(columns="id_hash"), model, priority, scores[order], table, horizon)

    length = max((len(p.pool) for p in partials), default=0)
    pool = np.zeros(length, dtype=np.int64)
    for p in partials:
        pool[: len(p.pool)] += p.pool
    lost = pd.concat([p.lost for p in partials], ignore_index=True)
    problems = merge_problems([f.problems for f in facts])
    problems += id_variant_problems(facts, statistics, lost, name)
    problems += no_purchase_problem(np.sort(lost["customer_id"].to_numpy().astype(str)), name)
    rows = sum(f.rows for f in facts)
    silence = silence_from_statistics(
        statistics.drop(columns="plain_rows"), pool, as_of, settings, priority=scores, hash_order=order
    )
    segments, info = segment_table(silence, settings)
    return CustomerTables(silence, segments, info, problems, rows, engine, value=value)


def global_step(
    facts, partials, as_of, settings: Settings, engine: str, name: str, progress=lambda message: None
) -> CustomerTables:
    """Step 3 on partials held in this process (the in-memory engine): fit, 客戶價值 rows, then :func:`finish`."""
    progress("估計客戶價值模型（全體客戶）")
    inputs = [fit_inputs(p) for p in partials]
    order = hash_order(inputs)
    model, fitted = fit_model(inputs, settings, order)
    del inputs
    progress("計算每位客戶的客戶價值與優先分數")
    values = [value_part(p, model, settings) for p in partials]
    progress("計算排名、客戶價值與分群（全體客戶）")
    return finish(facts, partials, values, model, fitted, as_of, settings, engine, name, order)


def id_variant_problems(facts: list[PieceFacts], statistics: pd.DataFrame, lost: pd.DataFrame, name: str):
    """客戶編號有不同寫法 for the whole log: a customer's spellings are the non-normalised ones the pieces
    saw plus the normalised one if any row was typed so (``plain_rows``); two or more is a warning."""
    from processor.analyse.transactions import variant_problems

    odd = pd.concat([f.variants for f in facts], ignore_index=True).drop_duplicates()
    if odd.empty:
        return []
    plain = pd.concat([statistics[["customer_id", "plain_rows"]], lost], ignore_index=True)
    plain = plain[plain["customer_id"].isin(odd["customer_id"].unique())]
    typed_plain = plain.loc[plain["plain_rows"] > 0, "customer_id"]
    forms = pd.concat([odd, pd.DataFrame({"customer_id": typed_plain, "spelling": typed_plain})], ignore_index=True)
    forms = forms.drop_duplicates().sort_values(["customer_id", "spelling"])
    listed = forms.groupby("customer_id", sort=True)["spelling"].agg(list)
    listed = listed[listed.map(len) > 1]
    joined = ["、".join(f"「{v}」" for v in spellings) for spellings in listed]
    return variant_problems(listed.index, joined, [name] * len(listed), [None] * len(listed))


MAX_LISTED_PROBLEMS = 200  # as processor.analyse.transactions.MAX_ROW_PROBLEMS, for the whole log
#: the count of a counted problem: "…：共 N 列", "另有 N …", "N 位客戶…"
_COUNT = re.compile(r"(?<=共 )\d[\d,]*(?= 列)|(?<=^另有 )\d[\d,]*|^\d[\d,]*(?= 位客戶)")
_ROW_LIST = re.compile(r"（第 [^）]*列）")


def merge_problems(lists: list[list[Problem]]) -> list[Problem]:
    """One list of problems from the partitions' lists, as if the log had been cleaned whole.

    A counted problem (``…：共 1,234 列``, ``另有 56 列…``, ``7 位客戶…``) appears once per
    partition: lines alike but for their numbers are merged, the first number summed. A listed
    problem (one row or one customer each) is kept up to :data:`MAX_LISTED_PROBLEMS` of a kind;
    the rest become one counting line.

    >>> p = Problem("log", None, "金額", None, "金額為 0：共 3 列", "f", "warning")
    >>> [m.problem for m in merge_problems([[p], [p]])]
    ['金額為 0：共 6 列']
    """
    if len(lists) == 1:
        return list(lists[0])
    counted: dict[tuple, list] = {}
    listed: dict[tuple, list[Problem]] = {}
    for problems in lists:
        for p in problems:
            if _COUNT.search(p.problem) and (p.value is None or "位客戶" in p.problem):
                text = _ROW_LIST.sub("", p.problem)
                key = (p.severity, p.sheet, p.column, _COUNT.sub("#", text), p.fix)
                found = _COUNT.search(text)
                n = int(found.group().replace(",", "")) if found else 0
                if key in counted:
                    counted[key][1] += n
                else:
                    counted[key] = [p, n, text]
            else:
                listed.setdefault((p.severity, p.sheet, p.column, p.fix), []).append(p)
    out: list[Problem] = []
    for kept in listed.values():
        out += kept[:MAX_LISTED_PROBLEMS]
        if len(kept) > MAX_LISTED_PROBLEMS:
            first = kept[0]
            extra = Problem(
                first.sheet,
                None,
                first.column,
                None,
                f"另有 {len(kept) - MAX_LISTED_PROBLEMS:,} 列同樣問題（{first.problem}）",
                first.fix,
                first.severity,
            )
            text = extra.problem
            ckey = (extra.severity, extra.sheet, extra.column, _COUNT.sub("#", text), extra.fix)
            if ckey in counted:
                counted[ckey][1] += len(kept) - MAX_LISTED_PROBLEMS
            else:
                counted[ckey] = [extra, len(kept) - MAX_LISTED_PROBLEMS, text]
    for p, n, text in counted.values():
        found = _COUNT.search(text)
        merged = text[: found.start()] + f"{n:,}" + text[found.end() :] if found else text
        out.append(Problem(p.sheet, p.row, p.column, p.value, merged, p.fix, p.severity))
    return out
