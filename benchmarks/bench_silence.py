"""Silence table speed, side by side on the same rows: the product path and the in-memory core.

(a) ours: the product path ``precision-list score`` takes — :func:`processor.read.workbook.read_input`
    → :func:`processor.pipeline.analyse` (header detection, parsing, cleaning, silence table,
    segment table, the result sheets as data) → :func:`processor.sheets.report.render` (the result
    workbook on disk); and the core alone, :func:`processor.analyse.silence.silence_table` on rows in memory
(b) baseline: the same seed 004 formulas as a per-customer Python loop (reference_loop.py)
(c) peer baseline: ``lifetimes.utils.summary_data_from_transaction_data`` (frequency, recency,
    T, monetary per customer — less than the silence table computes)

Part 1, a fresh process per size: CSV → both tables and CSV → result workbook, with peak resident
memory (VmHWM), beside (b) and (c) run from the same CSV (pandas.read_csv → their table).
Part 2, in memory: (a) and (c) alternate on the same rows (best of 5, 3 at 5M), (b) once.

    python benchmarks/bench_silence.py --rows 100000 1000000 5000000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]
AS_OF = "2025-12-31"
COLUMNS = {"客戶編號": "customer_id", "日期": "date", "金額": "amount", "品項": "product"}


def csv_for(rows: int, folder: Path) -> Path:
    path = folder / f"transactions_{rows}.csv"
    if not path.exists():
        subprocess.run(
            [sys.executable, str(HERE / "generate_transactions.py"), "--rows", str(rows), "-o", str(path)], check=True
        )
    return path


def read_log(path: Path) -> pd.DataFrame:
    """The CSV as a canonical frame, read the plain pandas way (what the baselines start from)."""
    frame = pd.read_csv(path, dtype={"客戶編號": str, "金額": float, "品項": str}).rename(columns=COLUMNS)
    frame["date"] = pd.to_datetime(frame["date"], format="%Y-%m-%d")
    return frame


def timed(fn, *args, repeat: int = 1, **kw):
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn(*args, **kw)
        best = min(best, time.perf_counter() - t0)
    return best, result


def lifetimes_summary(frame: pd.DataFrame) -> pd.DataFrame:
    from lifetimes.utils import summary_data_from_transaction_data

    return summary_data_from_transaction_data(
        frame, "customer_id", "date", monetary_value_col="amount", observation_period_end=AS_OF, freq="D"
    )


def product_path(path: Path) -> dict:
    """What ``precision-list score`` does, step by step, in this (fresh) process (pipeline.score_file's steps,
    inside the allocator setting it scores a workbook in)."""
    from processor.allocator import reuse_freed_memory

    with reuse_freed_memory():
        return _product_steps(path)


def _product_steps(path: Path) -> dict:
    from processor.pipeline import analyse
    from processor.read.workbook import read_input
    from processor.sheets.report import render

    marks: dict[str, float] = {}
    t0, thread0 = time.perf_counter(), time.thread_time()
    raw = read_input(path)
    marks["read"] = time.perf_counter()

    def progress(message: str) -> None:  # the analysers' own progress messages mark the steps
        if message.startswith("整理"):
            marks["parsed"] = time.perf_counter()

    analysis = analyse(raw, AS_OF, progress=progress)
    marks["tables"] = time.perf_counter()
    tables_mb = peak_rss_mb()
    out = path.with_suffix(".scored.xlsx")
    render(analysis, path, out)
    marks["written"] = time.perf_counter()
    return {
        "rows": int(analysis.summary["sheets"][0]["rows"]),
        "customers": analysis.summary["transactions"]["customers"],
        "read_s": marks["read"] - t0,
        "parse_s": marks["parsed"] - marks["read"],
        "analyse_s": marks["tables"] - marks["parsed"],
        "render_s": marks["written"] - marks["tables"],
        # this (main) thread's CPU: about the wall time on an idle machine with a core free for the helper threads
        # (plus any wait for one of their tasks; theirs are the shorter ones: see value.beside, customer_results)
        "main_thread_cpu_s": time.thread_time() - thread0,
        "tables_s": marks["tables"] - t0,
        "workbook_s": marks["written"] - t0,
        "tables_mb": tables_mb,
        "workbook_mb": peak_rss_mb(),
        "output_mb": out.stat().st_size / 1e6,
    }


def peer_from_csv(path: Path, loop: bool) -> dict:
    """(c) and, if asked, (b) from the same CSV: pandas.read_csv, then their table."""
    from reference_loop import silence_loop

    t0 = time.perf_counter()
    frame = read_log(path)
    read = time.perf_counter() - t0
    c = timed(lifetimes_summary, frame)[0]
    b = timed(silence_loop, frame, AS_OF)[0] if loop else None
    return {
        "read_s": read,
        "lifetimes_s": read + c,
        "loop_s": read + b if b is not None else None,
        "peak_mb": peak_rss_mb(),
    }


def core(path: Path, loop_max_rows: int) -> dict:
    from reference_loop import silence_loop

    from processor.analyse.segments import segment_table
    from processor.analyse.silence import silence_table
    from processor.settings import Settings

    frame = read_log(path)
    rows, customers = len(frame), frame["customer_id"].nunique()
    # (a) and (c) alternate, best of each: on a shared machine both see the same background load
    a = c = float("inf")
    for _ in range(5 if rows <= 1_000_000 else 3):
        a = min(a, timed(silence_table, frame, AS_OF, Settings())[0])
        c = min(c, timed(lifetimes_summary, frame)[0])
    table = silence_table(frame, AS_OF, Settings())
    seg, _ = timed(segment_table, table, Settings())
    b = timed(silence_loop, frame, AS_OF)[0] if rows <= loop_max_rows else None
    return {
        "rows": rows,
        "customers": customers,
        "ours_silence_s": a,
        "ours_segments_s": seg,
        "loop_s": b,
        "lifetimes_s": c,
    }


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; unlike ru_maxrss it is not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fresh(*args) -> dict:
    out = subprocess.run([sys.executable, __file__, *map(str, args)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _ratio(num, den) -> str:
    return f"{num / den:6.1f}" if num is not None and den else f"{'–':>6}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    parser.add_argument("--data", type=Path, default=Path("/tmp/precision-list-bench"))
    parser.add_argument(
        "--loop-max-rows",
        type=int,
        default=1_000_000,
        help="skip the Python loop above this many rows (it grows to minutes)",
    )
    parser.add_argument("--only", choices=["product", "peer", "peer-loop"], help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.only:
        result = (
            product_path(args.path) if args.only == "product" else peer_from_csv(args.path, args.only == "peer-loop")
        )
        print(json.dumps(result))
        return
    args.data.mkdir(parents=True, exist_ok=True)
    paths = {rows: csv_for(rows, args.data) for rows in args.rows}
    print("Product path, a fresh process per size: CSV → both tables (read_input → analyse) and CSV → result workbook")
    print(
        "(+ render); beside it (b) and (c) from the same CSV (pandas.read_csv → their table). "
        "Targets at 5M: < 30 s, < 4 GB."
    )
    print(
        f"{'rows':>10} {'customers':>10} | {'read':>5} {'parse':>5} {'tables':>6} {'write':>5} | {'→tables':>7} "
        f"{'MB':>5} | {'→xlsx':>6} {'MB':>5} | {'(b) s':>6} {'(c) s':>6} {'MB':>5} | {'b/a':>5} {'c/a':>5}"
    )
    for rows in args.rows:
        p = _fresh("--only", "product", "--path", paths[rows])
        q = _fresh("--only", "peer-loop" if rows <= args.loop_max_rows else "peer", "--path", paths[rows])
        loop = f"{q['loop_s']:6.1f}" if q["loop_s"] is not None else f"{'–':>6}"
        print(
            f"{p['rows']:>10,} {p['customers']:>10,} | {p['read_s']:5.1f} {p['parse_s']:5.1f} {p['analyse_s']:6.1f} "
            f"{p['render_s']:5.1f} | {p['tables_s']:7.1f} {p['tables_mb']:5.0f} | {p['workbook_s']:6.1f} "
            f"{p['workbook_mb']:5.0f} | {loop} {q['lifetimes_s']:6.1f} {q['peak_mb']:5.0f} | "
            f"{_ratio(q['loop_s'], p['tables_s'])[1:]} {_ratio(q['lifetimes_s'], p['tables_s'])[1:]}",
            flush=True,
        )
    print("  (a) = CSV → both tables; (b), (c) = CSV → their table (less than ours: no segments, no sheets)")
    print(
        f"\nCore in memory: silence table side by side, as-of {AS_OF}; (a) and (c) alternated, best of 5 (3 at 5M), s"
    )
    print(
        f"{'rows':>10} {'customers':>10} | {'(a) ours':>9} {'(b) loop':>9} {'(c) lifetimes':>13} | "
        f"{'b/a':>6} {'c/a':>6} | {'segments':>8}"
    )
    for rows in args.rows:
        r = core(paths[rows], args.loop_max_rows)
        loop = f"{r['loop_s']:9.2f}" if r["loop_s"] is not None else f"{'skipped':>9}"
        print(
            f"{r['rows']:>10,} {r['customers']:>10,} | {r['ours_silence_s']:9.3f} {loop} {r['lifetimes_s']:13.3f} | "
            f"{_ratio(r['loop_s'], r['ours_silence_s'])} {_ratio(r['lifetimes_s'], r['ours_silence_s'])} | "
            f"{r['ours_segments_s']:8.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
