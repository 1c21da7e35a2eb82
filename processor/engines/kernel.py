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


#: the columns of value.statistics_of the models are fitted on and 客戶價值's rows are made of (numbers only: cheap
#: to gather)
FIT_COLUMNS = ("x", "t_x", "T", "mean_spend", "repeat_spend", "revenue", "margin")


def fit_inputs(partial: Partial) -> pd.DataFrame:
    """What the global step needs of a bucket's 客戶價值 statistics: its customers' numbers and the id hash that
    orders them (the rows are the bucket's statistics' rows)."""
    out = partial.value[list(FIT_COLUMNS)].copy()
    out["id_hash"] = partial.statistics["id_hash"].to_numpy()
    return out


def without_value(partial: Partial) -> Partial:
    """The partial without its 客戶價值 statistics (gathered as :func:`fit_inputs`)."""
    return Partial(partial.statistics, None, partial.pool, partial.lost)


def hash_order(frames: list[pd.DataFrame]) -> np.ndarray:
    """The stable argsort by ``id_hash`` of every customer, the buckets' rows (``frames``: each bucket's statistics
    or :func:`fit_inputs`, in bucket order) stacked: the fixed order the global step lists equal keys in and fits
    the models in, whatever the partitioning — made once, it serves every table's sort
    (:func:`processor.analyse.segments.by_key`)."""
    hashes = [f["id_hash"].to_numpy() for f in frames]
    return np.argsort(np.concatenate(hashes) if len(hashes) > 1 else hashes[0], kind="stable")


def fit_model(inputs: list[pd.DataFrame], settings: Settings, order: np.ndarray | None = None):
    """The customer-value models (:func:`processor.analyse.value.fit_value_model`) on every customer, in id-hash
    order (so every partitioning fits on the same rows in the same order; ``order``: :func:`hash_order` of
    ``inputs``, when the caller has it)."""
    from processor.analyse import value as val

    stats = pd.concat(inputs, ignore_index=True) if len(inputs) > 1 else inputs[0]
    stats = stats.take(hash_order([stats]) if order is None else order).reset_index(drop=True)
    return val.fit_value_model(stats, settings), stats


def value_part(stats: pd.DataFrame, model, settings: Settings) -> tuple[pd.DataFrame, np.ndarray]:
    """客戶價值 rows (:func:`processor.analyse.value.value_table`, per customer given the global model) and 優先分數
    (:func:`~processor.analyse.value.priority_scores`) of some customers' :func:`fit_inputs` rows, in their order.
    The table comes back unranked, with row numbers for ids; :func:`finish` puts the ids back, orders every
    customer (by CLV, ties by :func:`hash_order`) and gives ``value_tier`` over all. Every number is the
    customer's own (per distinct (x, t_x, T), given the model): any cut of the customers gives the same rows."""
    from processor.analyse import value as val

    horizon = int(settings.horizon_days)
    stats = stats.assign(customer_id=np.arange(len(stats)))  # row numbers (ids need not travel twice)
    scores = val.priority_scores(val.Priority(None, fallback=SUMMARY_ONLY), stats, model, horizon)
    return val.value_table(stats, model, horizon, settings, ranked=False), scores


VALUE_PIECE = 500_000  # customers per value_part call of value_rows (two threads share the pieces)


def value_rows(inputs: list[pd.DataFrame], model, settings: Settings) -> list[tuple[pd.DataFrame, np.ndarray]]:
    """:func:`value_part` of every customer (``inputs``: :func:`fit_inputs` per bucket), in pieces of
    :data:`VALUE_PIECE` customers on two threads (its ufuncs release the GIL), in the buckets' row order."""
    from concurrent.futures import ThreadPoolExecutor

    from processor.analyse.value import PARALLEL_FIT

    pieces = [frame.iloc[a : a + VALUE_PIECE] for frame in inputs for a in range(0, len(frame), VALUE_PIECE)]
    threads = 2 if sum(len(f) for f in inputs) >= PARALLEL_FIT else 1
    with ThreadPoolExecutor(threads, thread_name_prefix="value-rows") as pool:
        return list(pool.map(lambda piece: value_part(piece, model, settings), pieces or inputs[:1]))


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
    problems. ``values`` are :func:`value_rows` of the partials, ``model``/``fitted`` :func:`fit_model`'s,
    ``order`` :func:`hash_order` of the partials (when the caller has it)."""
    from processor.analyse import value as val
    from processor.analyse.segments import by_key, segment_table
    from processor.analyse.silence import silence_from_statistics
    from processor.analyse.transactions import no_purchase_problem

    statistics = (
        pd.concat([p.statistics for p in partials], ignore_index=True) if len(partials) > 1 else partials[0].statistics
    )
    scores = np.concatenate([v[1] for v in values]) if values else np.empty(0)  # aligned with ``statistics``
    order = hash_order([p.statistics for p in partials]) if order is None else order
    # value_table's order (by CLV, ties in id-hash order) over every customer, and its tiers (ranks of CLV); the
    # pieces' rows are the statistics' rows, so ``order`` serves them too
    by_value = by_key(-np.concatenate([v[0]["clv"].to_numpy() for v in values]), order)
    table = _stacked([v[0] for v in values], by_value, statistics["customer_id"].array)
    table.insert(table.columns.get_loc("clv") + 1, "value_tier", val.value_tiers(table["clv"].to_numpy(), True))
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


def _stacked(tables: list[pd.DataFrame], rows: np.ndarray, ids) -> pd.DataFrame:
    """``tables`` stacked, then taken at ``rows``, by one write per cell (no stacked copy); their ``customer_id``
    (row numbers) become ``ids`` (Arrow strings: taken, never turned into Python objects)."""
    where = np.empty(len(rows), dtype=np.int64)
    where[rows] = np.arange(len(rows))
    starts = np.cumsum([0] + [len(t) for t in tables])
    columns = {}
    for key in tables[0].columns:
        if key == "customer_id":
            columns[key] = ids.take(rows)
            continue
        out = np.empty(len(rows), dtype=tables[0][key].dtype)
        for t, a, b in zip(tables, starts[:-1], starts[1:]):
            out[where[a:b]] = t[key].to_numpy()
        columns[key] = out
    return pd.DataFrame(columns, copy=False)


def global_step(
    facts, partials, as_of, settings: Settings, engine: str, name: str, progress=lambda message: None
) -> CustomerTables:
    """Step 3 on partials held in this process (the in-memory engine): fit, 客戶價值 rows, then :func:`finish`."""
    from processor.analyse.transactions import _import_sklearn
    from processor.analyse.value import beside

    progress("估計客戶價值模型（全體客戶）")
    inputs = [fit_inputs(p) for p in partials]
    order = hash_order(inputs)
    with beside(True) as run:  # scikit-learn (the segments' k-means) loads meanwhile
        run(_import_sklearn)
        model, fitted = fit_model(inputs, settings, order)
    progress("計算每位客戶的客戶價值與優先分數")
    values = value_rows(inputs, model, settings)
    del inputs
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
