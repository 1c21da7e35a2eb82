"""The per-customer work as the engines run it: (1) a key to shuffle by, (2) the kernel on a
partition holding whole customers, (3) the global step on the one-row-per-customer table.

(2) calls the product's own functions — :func:`processor.analyse.transactions.clean_transactions`
(ids normalised, problems found) and :func:`processor.analyse.silence.customer_statistics` — and
(3) :func:`processor.analyse.silence.silence_from_statistics` and
:func:`processor.analyse.segments.segment_table` (exact ranks, ABC, k-means on a sample): the
formulas live there only. The in-memory engine is these steps on one partition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from processor.errors import Problem
from processor.settings import Settings


@dataclass
class Partial:
    """What the kernel returns for one partition."""

    statistics: pd.DataFrame  # one row per customer with a visit (silence.STATISTICS + customer_id)
    pool: np.ndarray  # histogram of regular customers' intervals by whole days
    problems: list[Problem]
    rows: int


@dataclass
class CustomerTables:
    """Both per-customer tables of a log, the k-means info, the problems and the row count read."""

    silence: pd.DataFrame
    segments: pd.DataFrame
    info: dict
    problems: list[Problem]
    rows: int
    engine: str = "pandas"
    details: dict = field(default_factory=dict)  # engine facts for the summary (partitions, workers)


def customer_key(ids: pd.Series) -> np.ndarray:
    """An int64 per row that is equal exactly when the normalised ids are (``A001`` = ``a001 ``),
    0 for a blank id: what the Dask engine shuffles by, so a customer's rows meet in one partition
    however they were typed. Hashes each distinct id once."""
    from processor.read.values import IdCodes

    codes = IdCodes.of(ids)
    hashed = pd.util.hash_array(np.asarray(codes.customers, dtype=object)).view(np.int64)
    customer = codes.row_customer
    return np.where(customer >= 0, hashed[np.maximum(customer, 0)] if len(hashed) else 0, 0)


def partition_tables(frame: pd.DataFrame, as_of, settings: Settings, name: str) -> Partial:
    """The kernel: clean the rows of whole customers and reduce them to one row per customer."""
    from processor.analyse.silence import STATISTICS, customer_statistics
    from processor.analyse.transactions import clean_transactions

    frame = frame.drop(columns=[c for c in ("_key",) if c in frame.columns])
    # a partition's index is no Excel row number: a float index makes the problems carry none
    frame = frame.set_axis(pd.Index(np.zeros(len(frame)), dtype=float))
    clean, problems = clean_transactions(frame, as_of, sheet=name)
    if clean.empty:
        empty = pd.DataFrame(
            {
                "customer_id": pd.Series([], dtype=object),
                **{k: pd.Series([], dtype="datetime64[ns]" if k.endswith("purchase") else float) for k in STATISTICS},
                "id_hash": pd.Series([], dtype=np.uint64),
            }
        )
        return Partial(empty, np.zeros(0, dtype=np.int64), problems, len(frame))
    statistics, pool = customer_statistics(clean, as_of, settings)
    return Partial(statistics, pool, problems, len(frame))


def finish(partials: list[Partial], as_of, settings: Settings, engine: str) -> CustomerTables:
    """The global step: partitions' tables concatenated, histograms added, then the ranks,
    quintiles, ABC and k-means of the whole population (the same answer as in memory)."""
    from processor.analyse.segments import segment_table
    from processor.analyse.silence import silence_from_statistics

    statistics = (
        pd.concat([p.statistics for p in partials], ignore_index=True) if len(partials) > 1 else partials[0].statistics
    )
    length = max((len(p.pool) for p in partials), default=0)
    pool = np.zeros(length, dtype=np.int64)
    for p in partials:
        pool[: len(p.pool)] += p.pool
    problems = merge_problems([p.problems for p in partials])
    rows = sum(p.rows for p in partials)
    silence = silence_from_statistics(statistics, pool, as_of, settings)
    segments, info = segment_table(silence, settings)
    return CustomerTables(silence, segments, info, problems, rows, engine)


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
        return lists[0]
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
