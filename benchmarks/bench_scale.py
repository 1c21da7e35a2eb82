"""Transaction logs past one machine (issue 13): Parquet in → both per-customer tables out as Parquet.

(a) ours, Dask engine: ``score_log`` (what ``precision-list score LOG --out-dir DIR`` runs) on a local
    cluster of 2 single-threaded worker processes under a 6 GB total worker memory limit
(b) baseline, the pandas engine: the same kernels in one process with one bucket (every piece read and
    reduced to daily totals in turn, then every customer at once)
Both write 沉默排名, 客戶分群 and 客戶價值 as Parquet plus the result workbook.

Part 1, identity: on 1M rows, both engines' tables compared column by column, every customer,
floats to 1e-9. Part 2, a fresh process per run (5M, 20M, 50M rows for Dask; 5M, 20M for
pandas): wall and CPU seconds (all processes: the driver and every worker), rows/s end to end,
peak resident memory of every process (sampled every 0.2 s), growth from 5M to the largest size.
Threads are limited to one per process (OMP_NUM_THREADS=1 …); the box may be shared, so CPU
seconds are printed beside wall.

Logs are written once by generate_transactions.py in 5M-row Parquet files (customer ids kept
apart per file), under --data (default ../bench-data relative to the repo):

    python benchmarks/bench_scale.py --sizes 5000000 20000000 50000000 --pandas 5000000 20000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]
AS_OF = "2025-12-31"
CHUNK = 5_000_000
THREADS = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")}


def chunk_file(folder: Path, index: int, rows: int = CHUNK) -> Path:
    """One Parquet file of ``rows`` purchases; ids prefixed by the chunk so files hold different people."""
    path = folder / f"tx-{index:03d}.parquet"
    if not path.exists():
        from generate_transactions import generate

        frame = generate(rows, seed=index)
        frame["客戶編號"] = frame["客戶編號"].str.replace("C", f"C{index:03d}-", n=1, regex=False)
        frame.to_parquet(path.with_suffix(".tmp"), index=False, row_group_size=1_000_000)
        path.with_suffix(".tmp").rename(path)
    return path


def log_of(folder: Path, rows: int) -> str:
    """A folder holding the first rows // CHUNK chunk files (written if missing), or one smaller file."""
    if rows < CHUNK:
        (folder / "small").mkdir(exist_ok=True)
        return str(chunk_file(folder / "small", rows, rows))
    for i in range(rows // CHUNK):
        chunk_file(folder, i)
    return str(_linked(folder, rows // CHUNK))


def _linked(folder: Path, n: int) -> Path:
    """A folder of symlinks to the first n chunk files: the log as a user would point at it."""
    target = folder / f"first-{n}"
    target.mkdir(exist_ok=True)
    for i in range(n):
        link = target / f"tx-{i:03d}.parquet"
        if not link.exists():
            link.symlink_to(folder / f"tx-{i:03d}.parquet")
    return target


def run_once(log: str, engine: str, out: Path) -> dict:
    """``score_log`` in a fresh process; wall, CPU of every process, peak RSS per process."""
    import psutil

    code = (
        "import json, sys, time\n"
        "from threadpoolctl import threadpool_limits\n"
        "threadpool_limits(1)\n"
        "from processor.pipeline import score_log\n"
        "marks = []\n"
        "t0 = time.perf_counter()\n"
        f"s = score_log({log!r}, {str(out / 'r.xlsx')!r}, out_dir={str(out / 'full')!r}, as_of={AS_OF!r}, "
        f"engine={engine!r}, memory_limit='6GB', workers=2, "
        "progress=lambda m: marks.append((round(time.perf_counter() - t0, 2), m)))\n"
        "print(json.dumps({'rows': s['rows'], 'customers': s['transactions']['customers'], 'marks': marks}))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), **THREADS)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    peaks: dict[int, tuple[str, int]] = {}
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            family = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for p in family:
            try:
                rss = p.memory_info().rss
                name = "driver" if p.pid == proc.pid else _role(p)
                if rss > peaks.get(p.pid, ("", 0))[1]:
                    peaks[p.pid] = (name, rss)
            except psutil.Error:
                pass
        time.sleep(0.2)
    out_text, err_text = proc.communicate()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{engine} on {log} failed:\n{err_text[-3000:]}")
    result = json.loads(out_text.strip().splitlines()[-1])
    result.update(
        wall=wall,
        cpu=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        peaks=sorted(peaks.values(), key=lambda x: -x[1]),
    )
    return result


def _role(p) -> str:
    cmd = " ".join(p.cmdline())
    return "worker" if "spawn" in cmd or "multiprocessing" in cmd else p.name()


def identity(folder: Path) -> str:
    """Part 1: 1M rows, both engines in this process (Dask: LocalCluster, 2 workers)."""
    import numpy as np
    import pandas as pd

    from processor.engines import customer_tables
    from processor.read.logs import resolve_log

    path = folder / "identity"
    path.mkdir(parents=True, exist_ok=True)
    if not any(path.iterdir()):
        from generate_transactions import generate

        frame = generate(1_000_000, seed=99)
        for i, part in enumerate(np.array_split(np.arange(len(frame)), 4)):
            frame.iloc[part].to_parquet(path / f"tx-{i}.parquet", index=False)
    log = resolve_log(str(path))
    t0 = time.perf_counter()
    a = customer_tables(log, AS_OF, engine="pandas")
    t1 = time.perf_counter()
    b = customer_tables(log, AS_OF, engine="dask", workers=2, memory_limit="6GB")
    t2 = time.perf_counter()
    pd.testing.assert_frame_equal(a.silence, b.silence, check_exact=False, rtol=1e-9, atol=1e-9)
    pd.testing.assert_frame_equal(a.segments, b.segments, check_exact=False, rtol=1e-9, atol=1e-9)
    pd.testing.assert_frame_equal(a.value.table, b.value.table, check_exact=False, rtol=1e-9, atol=1e-9)
    return (
        f"identity on {a.rows:,} rows, {len(a.silence):,} customers: pandas and Dask (2 workers, "
        f"{b.details['pieces']} pieces, {b.details['partitions']} buckets) identical in all {a.silence.shape[1]} + "
        f"{a.segments.shape[1]} + {a.value.table.shape[1]} columns of 沉默排名, 客戶分群, 客戶價值 (floats to 1e-9; "
        f"count model {a.value.model.choice or a.value.model.fallback}); pandas {t1 - t0:.1f} s, "
        f"Dask {t2 - t1:.1f} s wall (incl. cluster start)"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5_000_000, 20_000_000, 50_000_000])
    parser.add_argument("--pandas", type=int, nargs="*", default=[5_000_000, 20_000_000])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "bench-data")
    parser.add_argument("--skip-identity", action="store_true")
    args = parser.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    if not args.skip_identity:
        print(identity(args.data), flush=True)
    runs = [("dask", n) for n in args.sizes] + [("pandas", n) for n in args.pandas]
    rows_out = []
    for engine, n in runs:
        log = log_of(args.data, n)
        load_before = os.getloadavg()[0]
        with tempfile.TemporaryDirectory(dir=args.data) as tmp:
            r = run_once(log, engine, Path(tmp))
        r["load"] = (load_before, os.getloadavg()[0])  # the box is shared: say how busy it was
        peaks = ", ".join(f"{name} {rss / 1e9:.2f}" for name, rss in r["peaks"][:6])
        rows_out.append((engine, n, r))
        print(
            f"{engine:6s} {r['rows']:>11,} rows {r['customers']:>10,} customers  wall {r['wall']:7.1f} s  "
            f"CPU {r['cpu']:7.1f} s  {r['rows'] / r['wall']:>10,.0f} rows/s  peak RSS GB: {peaks}  "
            f"load {r['load'][0]:.1f} → {r['load'][1]:.1f}",
            flush=True,
        )
        for at, message in r["marks"]:
            print(f"         {at:7.1f} s  {message}")
    print(
        "\nside by side (wall s, CPU s of every process, rows/s wall, rows per CPU s, largest process RSS GB, "
        "wall s per M rows, CPU s per M rows, 1-min load average before → after):"
    )
    for engine, n, r in rows_out:
        per_m = r["rows"] / 1e6
        print(
            f"  {engine:6s} {n / 1e6:5.0f}M  {r['wall']:7.1f}  {r['cpu']:7.1f}  {r['rows'] / r['wall']:>10,.0f}  "
            f"{r['rows'] / r['cpu']:>10,.0f}  {r['peaks'][0][1] / 1e9:5.2f}  {r['wall'] / per_m:6.2f}  "
            f"{r['cpu'] / per_m:6.2f}  {r['load'][0]:.1f} → {r['load'][1]:.1f}"
        )


if __name__ == "__main__":
    main()
