"""Issue 13's job stripped to its bare parts, timed on this box: a plain baseline beside bench_scale.py.

Issue 13 asks for ≥ 1M rows/s end to end (Parquet in → per-customer tables out) at 50M rows on a 2-core box. This
script times the parts every implementation has to do, each with a plain fast tool and none of the product's
checks (no row rules, no problems listed, no text parsing, no id folding, no workbook, no silence statistics
beyond visits and first/last day): what is left when everything a rep is promised beyond the numbers is dropped.
It is not a proof of a lower bound (a cleverer kernel can beat any part), but it says how much of the
target the bare job alone uses:

1. **read and group**: the three used columns of each Parquet file read by pyarrow, ids dictionary-encoded in C,
   days as integers, (customer, day) pairs made distinct by one sort and per-customer visits, first and
   last day, and net amount by ``bincount``. It uses a property of the generated logs the product cannot assume:
   each file holds different customers (bench_scale.py prefixes ids per file), so no file's customers are ever
   merged with another's — a real log needs that merge on top.
2. **model fit**: the product's own Pareto/NBD and BG/NBD fits (``processor.analyse.btyd``, 38–245x faster than
   lifetimes, see bench_clv.py) on the distinct (x, t_x, T) triples, with standard errors, as 客戶價值 shows.
3. **per-customer model values**: P(alive) and expected purchases of every customer (the product's formulas), the
   least 客戶價值 and 優先分數 need.
4. **ranks**: one stable argsort per ordering the tables need: 沉默排名 by priority, 客戶價值 by CLV, 客戶分群 by
   value score, and the three RFM percentile ranks (recency, frequency, monetary).
5. **write**: three Parquet tables of every customer, each column gathered into its table's order, with the
   product's column counts (20, 16 and 14: the id as text, labels as dictionary-encoded categories as the product
   writes them, the rest 8-byte numbers), by pyarrow (Snappy; no dictionary tried on the numbers, as the product).

CPU seconds (this process, every thread) are printed beside wall time: on a 2-core box the best any
implementation can do is both cores busy all the time, so the bare job's rows/s on two cores is at best
rows ÷ (CPU s ÷ 2).

    python benchmarks/bare_scale.py --data ../bench-data --files 10      # 50M rows (10 files of 5M)
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]
for _key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_key, "1")

AS_OF = "2025-12-31"
#: (columns, of which labels) of 沉默排名, 客戶分群, 客戶價值: the id, numbers, and label columns the product writes as
#: dictionary-encoded categories (沉默排名: silence_group, history, dormancy, visit_rate_class, value_class, action)
TABLE_COLUMNS = ((20, 6), (16, 5), (14, 3))


class Clock:
    """Wall, user and system CPU seconds of each named part (system time here is mostly page faults: fresh
    memory is slow to fault in on this VM, so ``--reuse-memory`` shows what reusing freed memory saves)."""

    def __init__(self):
        self.parts: list[tuple[str, float, float, float]] = []

    def __call__(self, name):
        clock = self

        class _Part:
            def __enter__(self):
                self.t, self.r = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)

            def __exit__(self, *exc):
                r = resource.getrusage(resource.RUSAGE_SELF)
                user, system = r.ru_utime - self.r.ru_utime, r.ru_stime - self.r.ru_stime
                clock.parts.append((name, time.perf_counter() - self.t, user, system))
                print(
                    f"  {name:58s} {clock.parts[-1][1]:7.1f} s wall {user + system:7.1f} CPU-s "
                    f"({user:.1f} user + {system:.1f} system)",
                    flush=True,
                )

        return _Part()


def read_and_group(files: list[Path], as_of_day: int) -> dict:
    """Part 1: per-customer visits, first/last day, net amount; (x, t_x, T)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = {k: [] for k in ("visits", "first", "last", "amount", "ids")}
    rows = 0
    for path in files:
        table = pq.read_table(path, columns=["客戶編號", "日期", "金額"])
        rows += table.num_rows
        ids = table.column("客戶編號").combine_chunks().dictionary_encode()
        codes = ids.indices.to_numpy().astype(np.int64)
        day = table.column("日期").cast(pa.timestamp("s")).cast(pa.int64()).to_numpy() // 86_400
        origin = int(day.min())
        pairs = np.sort(codes * 1_000_000 + (day - origin))  # (customer, day) by both; then the distinct ones
        pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]]  # (np.unique: a hash table, 15x slower)
        customer, pair_day = pairs // 1_000_000, pairs % 1_000_000 + origin
        start = np.flatnonzero(np.r_[True, customer[1:] != customer[:-1]])
        visits = np.diff(np.r_[start, len(customer)])
        out["ids"].append(ids.dictionary)  # the customers' ids as Arrow text, in code order
        out["visits"].append(visits)
        out["first"].append(pair_day[start])
        out["last"].append(pair_day[start + visits - 1])
        out["amount"].append(np.bincount(codes, weights=table.column("金額").to_numpy(), minlength=len(ids.dictionary)))
    ids = pa.chunked_array(out.pop("ids")).combine_chunks()
    c = {k: np.concatenate(v) for k, v in out.items()}
    c["ids"] = ids
    c["x"], c["t_x"], c["T"] = c["visits"] - 1, c["last"] - c["first"], as_of_day - c["first"]
    c["rows"] = rows
    return c


def main(argv=None) -> None:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from threadpoolctl import threadpool_limits

    from processor.allocator import reuse_freed_memory
    from processor.analyse import btyd

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "bench-data")
    parser.add_argument("--files", type=int, default=10, help="how many 5M-row tx-NNN.parquet files (10: 50M rows)")
    parser.add_argument(
        "--reuse-memory",
        action="store_true",
        help="run inside processor.allocator.reuse_freed_memory (freed arrays reused, not faulted in again)",
    )
    args = parser.parse_args(argv)
    files = sorted(args.data.glob("tx-*.parquet"))[: args.files]
    if len(files) < args.files:
        raise SystemExit(f"{args.data} holds {len(files)} tx-*.parquet files; run bench_scale.py first to write them")
    threadpool_limits(1)
    clock = Clock()
    load = os.getloadavg()[0]
    as_of_day = int(pd.Timestamp(AS_OF).value // 86_400_000_000_000)
    with reuse_freed_memory() if args.reuse_memory else nullcontext():
        t0, c0 = time.perf_counter(), time.process_time()
        print(
            f"issue 13's bare job on {len(files)} files (load {load:.1f}; reuse memory {args.reuse_memory}):",
            flush=True,
        )
        with clock("1. read 3 columns, group by (customer, day), per customer"):
            c = read_and_group(files, as_of_day)
        n = len(c["x"])
        with clock("2. Pareto/NBD and BG/NBD fits on distinct triples (product's)"):
            x, t_x, T, count, inverse = btyd.compress(c["x"], c["t_x"], c["T"])
            pareto = btyd.fit_pareto_nbd(x, t_x, T, count)
            bgnbd = btyd.fit_bgnbd(x, t_x, T, count)
        with clock("3. P(alive), expected purchases per customer (per triple)"):
            alive = pareto.p_alive(x, t_x, T)[inverse]
            expected = pareto.expected_purchases(365.0, x, t_x, T)[inverse]
        with clock("4. six stable argsorts of every customer"):
            rfm = [c["T"] - c["t_x"], c["visits"], c["amount"]]
            orders = [np.argsort(-alive, kind="stable"), np.argsort(-expected * c["amount"], kind="stable")]
            orders += [np.argsort(-(c["amount"] + c["visits"]), kind="stable")] + [
                np.argsort(v, kind="stable") for v in rfm
            ]
        with clock("5. three tables put in order and written (20, 16, 14 cols)"), tempfile.TemporaryDirectory() as tmp:
            numbers = [alive, expected, c["amount"], c["x"], c["t_x"], c["T"], c["first"], c["last"]]
            labels = pa.array(["甲", "乙", "丙", "丁", "戊"])
            for k, (width, label_columns) in enumerate(TABLE_COLUMNS):
                order = orders[k]
                columns = {"id": c["ids"].take(pa.array(order))}
                for j in range(width - 1 - label_columns):
                    columns[f"c{j}"] = numbers[j % len(numbers)][order]
                for j in range(label_columns):  # a label per customer from a handful: int8 codes into 5 texts
                    codes = (numbers[j % len(numbers)][order] * 7).astype(np.int64) % 5
                    columns[f"l{j}"] = pa.DictionaryArray.from_arrays(codes.astype(np.int8), labels)
                pq.write_table(pa.table(columns), Path(tmp) / f"t{k}.parquet", use_dictionary=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    rows = c["rows"]
    print(
        f"\n{rows:,} rows, {n:,} customers ({pareto.name} ll {pareto.log_likelihood:.6g}, "
        f"{bgnbd.name} ll {bgnbd.log_likelihood:.6g}; {len(x):,} distinct triples)\n"
        f"bare job total: {wall:.1f} s wall, {cpu:.1f} CPU-s in one process; peak RSS "
        f"{peak:.2f} GB; load {load:.1f} → {os.getloadavg()[0]:.1f}\n"
        f"rows/s: {rows / wall:,.0f} in one process; {rows / (cpu / 2):,.0f} at best on two cores (CPU-s ÷ 2); "
        f"1M rows/s needs ≤ {2 * rows / 1e6:.0f} CPU-s on two cores"
    )


if __name__ == "__main__":
    main()
