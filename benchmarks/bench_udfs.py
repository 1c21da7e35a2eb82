"""Python-side cost of all ten cell formulas on a 100,000-row range, beside a named baseline.

Inputs as Excel's COM layer hands them to Python: numbers as floats, date cells as datetimes,
text as str. Two inputs per formula:

* "realistic": a rep's sheet — date cells with a few thousand distinct days (or ROC text
  dates), amounts as numbers with one cell in ten typed as text (``3萬``, ``1,200``), 20,000
  customers, intent levels H/A/B/C;
* "worst": every cell different and typed as text (``12.3萬``, ``1,234,500``, ROC text
  dates), which defeats the parse-each-distinct-value-once cache.

Baselines (named per row):

* "per cell": the same formula filled down, one cell per call (=PL_TWDATE(A2) …
  =PL_TWDATE(A100001)), which is what a non-vectorised UDF costs; timed on a 2,000-cell
  sample and scaled to 100,000 (running it in full takes minutes);
* "loop per customer": PL_SILENCE against ``benchmarks/reference_loop.py`` (the seed 004
  formulas one customer at a time), PL_RFM against the same kind of loop for R/F/M — both on
  columns already parsed to dates and numbers, with no cleaning, no notes and no output block,
  so they time only the arithmetic the formula's core replaces;
* "python sort": PL_ABC against a plain-Python sort and running count of the same cut-offs,
  on numbers only (again no parsing and no messages).

Not measured: xlwings' COM marshalling of the range in and the array out on Windows (it is
per cell and lands on top of every figure here), and Excel's own recalculation.

    PYTHONPATH=. python benchmarks/bench_udfs.py [--rows 100000] [--only PL_ABC,PL_RFM] [--no-baselines]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from addin import udfs

SAMPLE = 2_000  # cells in the per-cell baseline sample
AS_OF = "2024/06/28"


def _best(func, *args, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func(*args)
        best = min(best, time.perf_counter() - start)
    return best


def _per_cell(func, rows: int, *columns) -> float:
    """Seconds for ``rows`` one-cell calls of ``func``, from a SAMPLE-cell sample."""
    sample = min(SAMPLE, len(columns[0]))
    start = time.perf_counter()
    for i in range(sample):
        func(*(column[i] for column in columns))
    return (time.perf_counter() - start) * rows / sample


def _inputs(rows: int, rng: np.random.Generator) -> dict[str, dict]:
    """Columns (lists of one-cell rows, as xlwings passes a column) for both inputs."""
    base = dt.datetime(2021, 1, 1)
    day_cells = [base + dt.timedelta(days=int(d)) for d in rng.integers(0, 1_200, rows)]
    amounts = rng.integers(100, 100_000, rows).astype(float).tolist()  # Python floats, as COM gives them
    amount_cells = [
        f"{a / 1e4:g}萬" if i % 20 == 0 else f"{a:,.0f}" if i % 20 == 1 else a for i, a in enumerate(amounts)
    ]
    letters = "ABCDEFGHJKLMNPQRSTUVXYWZIO"
    realistic = {
        "dates": [[f"{d.year - 1911}/{d.month:02d}/{d.day:02d}"] for d in day_cells],
        "day_cells": [[d] for d in day_cells],
        "amounts": [[a] for a in amount_cells],
        "amount_numbers": [[a] for a in amounts],
        "ids": [[f"{letters[i % 26]}{1 + i % 2}{n:08d}"] for i, n in enumerate(rng.integers(0, 3_000, rows))],
        "customers": [[f"C{int(c):05d}"] for c in rng.integers(0, 20_000, rows)],
        "intent": [["HABC"[i % 4] if i % 10 else None] for i in range(rows)],
        "touches": [[float(t)] for t in rng.integers(0, 12, rows)],
        "probs": [[float(p)] for p in rng.random(rows)],
    }
    far = pd.Timestamp("1950-01-01") + pd.to_timedelta(rng.permutation(rows) % 40_000, unit="D")
    distinct = rng.permutation(np.arange(1, rows + 1) * 7 + 100).astype(float)
    worst = {
        **realistic,
        "dates": [[f"{d.year - 1911}/{d.month:02d}/{d.day:02d}"] for d in far],
        "day_cells": [[f"{d.year - 1911}/{d.month:02d}/{d.day:02d}"] for d in far],
        "amounts": [[f"{a / 1e4:g}萬" if i % 2 else f"{a * 10:,.0f}"] for i, a in enumerate(distinct)],
        "ids": [[f"{letters[i % 26]}{1 + i % 2}{n:08d}"] for i, n in enumerate(rng.permutation(rows) * 97 + 10**7)],
        "customers": [[f"C{i:06d}"] for i in rng.integers(0, rows // 2, rows)],
        "probs": [[f"{p:.1%}"] for p in rng.random(rows)],
    }
    return {"realistic": realistic, "worst": worst}


def _silence_loop(ids, dates, as_of):
    sys.path.insert(0, str(Path(__file__).parent))
    from reference_loop import silence_loop

    frame = pd.DataFrame(
        {"customer_id": [r[0] for r in ids], "date": pd.to_datetime([r[0] for r in dates]), "amount": 1.0}
    )
    return silence_loop(frame, pd.Timestamp(as_of))


def _rfm_loop(ids, dates, amounts, as_of):
    """R, F, M one customer at a time, then quintile scores (the straightforward way)."""
    as_of = pd.Timestamp(as_of)
    by_customer: dict[str, list] = {}
    for (cid,), (day,), (amount,) in zip(ids, dates, amounts):
        by_customer.setdefault(cid, []).append((day, float(amount)))
    rows = []
    for cid, purchases in by_customer.items():  # the loop being measured
        days = {d for d, a in purchases if a > 0}
        rows.append((cid, (as_of - max(days)).days, len(days), sum(a for _, a in purchases)))
    frame = pd.DataFrame(rows, columns=["customer_id", "recency", "frequency", "monetary"])
    for col, up in (("recency", False), ("frequency", True), ("monetary", True)):
        frame[col + "_score"] = np.ceil(frame[col].rank(pct=True, ascending=up) * 5).clip(1, 5)
    return frame


def _abc_sort(values, a_share: float = 0.10, b_share: float = 0.20):
    """ABC by a Python sort and a running count (ties share the better class)."""
    numbers = sorted((v[0] for v in values if isinstance(v[0], float) and v[0] > 0), reverse=True)
    n = len(numbers)
    a_cut, b_cut = max(1, round(a_share * n)), max(1, round(a_share * n)) + round(b_share * n)
    first_rank: dict[float, int] = {}
    for rank, v in enumerate(numbers):
        first_rank.setdefault(v, rank)
    return [
        ["A" if first_rank[v[0]] < a_cut else "B" if first_rank[v[0]] < b_cut else "C"]
        if isinstance(v[0], float) and v[0] > 0
        else [""]
        for v in values
    ]


def _model(folder: Path) -> Path | None:
    """A purchase model trained on the demo campaign list (the 訓練模型 button's own code)."""
    try:
        from addin import ribbon
        from addin.adapter import FileWorkbook
        from processor.demo import write_demo
        from processor.read.workbook import read_input
    except ImportError:
        return None
    import openpyxl

    write_demo(folder)
    grid = read_input(folder / "行銷名單.csv")[0].grid
    wb = openpyxl.Workbook()
    wb.active.title = "行銷名單"
    for row in grid.itertuples(index=False):
        wb.active.append(list(row))
    wb.save(folder / "行銷.xlsx")
    book = FileWorkbook(folder / "行銷.xlsx")
    book.set_config("MODELS_DIR", str(folder / "models"))
    ribbon.dispatch("train", book)
    found = sorted((folder / "models").glob("*.skops"))
    return found[0] if found else None


def _campaign_table(folder: Path, rows: int) -> list[list]:
    from processor.read.workbook import read_input

    grid = read_input(folder / "行銷名單.csv")[0].grid
    header = list(grid.iloc[0])
    body = grid.iloc[1:].to_numpy(dtype=object)
    keep = [i for i, h in enumerate(header) if h != "是否購買"]
    picked = body[np.arange(rows) % len(body)][:, keep]
    return [[header[i] for i in keep]] + picked.tolist()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--only", default="", help="comma-separated formula names")
    parser.add_argument("--no-baselines", action="store_true", help="time the formulas only (baselines take minutes)")
    args = parser.parse_args(argv)
    rows = args.rows
    data = _inputs(rows, np.random.default_rng(0))
    r, w = data["realistic"], data["worst"]
    cases = [  # name, call(columns) → result, per-cell function or (baseline name, baseline call)
        (
            "PL_TWDATE",
            lambda d: udfs.PL_TWDATE(d["dates"]),
            ("per cell", lambda d: _per_cell(udfs.PL_TWDATE, rows, d["dates"])),
        ),
        (
            "PL_AMOUNT",
            lambda d: udfs.PL_AMOUNT(d["amounts"]),
            ("per cell", lambda d: _per_cell(udfs.PL_AMOUNT, rows, d["amounts"])),
        ),
        (
            "PL_ZODIAC",
            lambda d: udfs.PL_ZODIAC(d["day_cells"]),
            ("per cell", lambda d: _per_cell(udfs.PL_ZODIAC, rows, d["day_cells"])),
        ),
        (
            "PL_ID_CHECK",
            lambda d: udfs.PL_ID_CHECK(d["ids"]),
            ("per cell", lambda d: _per_cell(udfs.PL_ID_CHECK, rows, d["ids"])),
        ),
        (
            "PL_NEXT_FOLLOWUP",
            lambda d: udfs.PL_NEXT_FOLLOWUP(d["day_cells"], d["intent"], d["touches"], AS_OF),
            (
                "per cell",
                lambda d: _per_cell(
                    lambda a, b, c: udfs.PL_NEXT_FOLLOWUP(a, b, c, AS_OF),
                    rows,
                    d["day_cells"],
                    d["intent"],
                    d["touches"],
                ),
            ),
        ),
        (
            "PL_SILENCE",
            lambda d: udfs.PL_SILENCE(d["customers"], d["day_cells"], AS_OF),
            ("loop/customer*", lambda d: _best(_silence_loop, d["customers"], r["day_cells"], AS_OF, repeat=1)),
        ),
        (
            "PL_RFM",
            lambda d: udfs.PL_RFM(d["customers"], d["day_cells"], d["amounts"], AS_OF),
            (
                "loop/customer*",
                lambda d: _best(_rfm_loop, d["customers"], r["day_cells"], r["amount_numbers"], AS_OF, repeat=1),
            ),
        ),
        (
            "PL_ABC",
            lambda d: udfs.PL_ABC(d["amounts"]),
            ("python sort*", lambda d: _best(_abc_sort, r["amount_numbers"], repeat=1)),
        ),
        (
            "PL_EXPECTED_PROFIT",
            lambda d: udfs.PL_EXPECTED_PROFIT(d["probs"]),
            ("per cell", lambda d: _per_cell(udfs.PL_EXPECTED_PROFIT, rows, d["probs"])),
        ),
    ]
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    tmp = tempfile.TemporaryDirectory(prefix="bench-udfs-")
    if not only or "PL_PROB" in only:
        model = _model(Path(tmp.name))
        if model is None:
            print("PL_PROB: processor.models not on this branch, not measured")
        else:
            table = _campaign_table(Path(tmp.name), rows)
            udfs.PL_PROB(table[:3], str(model))  # load the model once: the formula caches it
            cases.append(
                (
                    "PL_PROB",
                    lambda d: udfs.PL_PROB(table, str(model)),
                    (
                        "per cell",
                        lambda d: _per_cell(
                            lambda row: udfs.PL_PROB([table[0], row], str(model)), rows, table[1 : SAMPLE // 10 + 1]
                        ),
                    ),
                )
            )
    print(f"{rows:,} rows, Python side only (best of 3); per-cell baselines scaled from a {SAMPLE:,}-cell sample;")
    print("* baseline on pre-parsed numbers and dates, arithmetic only (see the docstring)")
    print(
        f"{'formula':<20}{'realistic s':>12}{'worst s':>10}"
        + ("" if args.no_baselines else f"   {'baseline':<18}{'baseline s':>11}{'speed-up':>10}")
    )
    for name, call, (baseline_name, baseline) in cases:
        if only and name not in only:
            continue
        out = call(r)
        problem = next((v for row in out[:3] for v in row if isinstance(v, str) and "無法計算" in v), None)
        if problem:
            print(f"{name:<20}{problem}")
            continue
        realistic, worst = _best(call, r), _best(call, w)
        if args.no_baselines:
            print(f"{name:<20}{realistic:>12.3f}{worst:>10.3f}", flush=True)
            continue
        base = baseline(r)
        print(
            f"{name:<20}{realistic:>12.3f}{worst:>10.3f}   {baseline_name:<18}{base:>11.2f}{base / realistic:>9.0f}x",
            flush=True,
        )
    tmp.cleanup()


if __name__ == "__main__":
    main()
