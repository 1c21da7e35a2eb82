"""Python-side cost of the cell formulas on a 100,000-row range, beside a per-cell baseline.

Baseline ("per-cell"): the same parser called once per cell, which is what a non-vectorised
UDF filled down 100,000 rows costs (=PL_TWDATE(A2) … =PL_TWDATE(A100001)). It is timed on a
2,000-cell sample and scaled to 100,000 rows (running it in full takes minutes).
Two inputs: "realistic" columns (a few thousand distinct dates/amounts, as in a rep's sheet)
and "all distinct" (every cell different: the worst case for the distinct-value cache).
Not measured: xlwings' COM marshalling of the range in and the array out on Windows.

    PYTHONPATH=. python benchmarks/bench_udfs.py
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from addin import udfs
from processor import idnumber, values

ROWS, SAMPLE = 100_000, 2_000


def _columns(rng: np.random.Generator, distinct: bool) -> dict[str, list[list]]:
    n = ROWS
    days = rng.integers(0, 40_000 if distinct else 1_500, n)
    base = pd.Timestamp("1950-01-01") if distinct else pd.Timestamp("2021-01-01")
    dates = base + pd.to_timedelta(days, unit="D")
    roc = [f"{d.year - 1911}/{d.month:02d}/{d.day:02d}" for d in dates]
    amounts = rng.integers(1, 10**7 if distinct else 300, n)
    amount_text = [f"{a / 10:g}萬" if i % 2 else f"{a * 100:,}" for i, a in enumerate(amounts)]
    letters = np.array(list("ABCDEFGHJKLMNPQRSTUVXYWZIO"))
    ids = [f"{letters[i % 26]}{1 + i % 2}{n_:08d}" for i, n_ in enumerate(rng.integers(0, 10**8 if distinct else 3_000, n))]
    probs = rng.random(n)
    return {"dates": [[d] for d in roc], "amounts": [[a] for a in amount_text], "ids": [[i] for i in ids],
            "probs": [[float(p)] for p in probs]}


def _time(func, *args, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func(*args)
        best = min(best, time.perf_counter() - start)
    return best


def _per_cell(parser, column: list[list]) -> float:
    """Seconds per 100,000 rows when the parser is called once per cell (on a sample)."""
    sample = column[:SAMPLE]
    start = time.perf_counter()
    for (cell,) in sample:
        parser(pd.Series([cell], dtype=object))
    return (time.perf_counter() - start) * ROWS / SAMPLE


def main() -> None:
    rng = np.random.default_rng(0)
    cases = [
        ("PL_TWDATE", udfs.PL_TWDATE, "dates", values.parse_dates),
        ("PL_AMOUNT", udfs.PL_AMOUNT, "amounts", values.parse_amounts),
        ("PL_ZODIAC", udfs.PL_ZODIAC, "dates", lambda s: values.zodiac_signs(values.parse_dates(s)[0])),
        ("PL_ID_CHECK", udfs.PL_ID_CHECK, "ids", idnumber.check_ids),
    ]
    try:
        from processor.propensity import expected_profit
        from processor.settings import Settings

        cases.append(("PL_EXPECTED_PROFIT", udfs.PL_EXPECTED_PROFIT, "probs",
                      lambda s: expected_profit(s.astype(float), Settings())))
    except ImportError:
        print("PL_EXPECTED_PROFIT: processor.propensity not on this branch yet, not measured")
    print(f"{ROWS:,} rows, Python side only (best of 3); per-cell baseline scaled from {SAMPLE:,} cells")
    print(f"{'formula':<20}{'realistic s':>13}{'all distinct s':>16}{'per-cell baseline s':>22}{'speed-up':>10}")
    data = {kind: _columns(rng, kind == "distinct") for kind in ("realistic", "distinct")}
    for name, func, column, parser in cases:
        realistic = _time(func, data["realistic"][column])
        distinct = _time(func, data["distinct"][column])
        baseline = _per_cell(parser, data["realistic"][column])
        print(f"{name:<20}{realistic:>13.3f}{distinct:>16.3f}{baseline:>22.1f}{baseline / realistic:>9.0f}x")


if __name__ == "__main__":
    main()
