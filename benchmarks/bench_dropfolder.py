"""Drop-folder service speed, side by side with calling the scorer directly (the lower bound).

    PYTHONPATH=. python benchmarks/bench_dropfolder.py [--files 500] [--latency-runs 20]

* latency: one 1,000-row .xlsx dropped into a running service (1 worker), time from the rename
  into inbox/ to the result appearing in outbox/, minus the settle time; median of N drops.
  Baseline: ``score_file`` on the same workbook in-process.
* throughput: N small workbooks (90 % CSV, 10 % .xlsx, 12 rows) dropped at once, time until all
  are archived, with 1 and 2 workers. Baseline: ``score_file`` in a loop, one process.
* memory: resident set of the service (main + workers, from /proc) after each run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from dropfolder_kit import ServiceProcess, child_pids, csv_bytes, drop, files, write_config, xlsx_bytes  # noqa: E402

SETTLE = 0.3


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its children (Linux /proc), MiB."""
    pids = [pid, *child_pids(pid)]
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def wait_for(predicate, timeout: float, interval: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(interval)


def bench_latency(work: Path, runs: int) -> tuple[float, float, float]:
    from processor.pipeline import score_file

    root = work / "latency"
    config = write_config(work / "latency.toml", scan_interval=5.0)
    inputs = [xlsx_bytes(1000, 500 + i) for i in range(runs)]
    warm = work / "warm.xlsx"
    warm.write_bytes(xlsx_bytes(1000, 499))
    score_file(warm, work / "warm.scored.xlsx")  # imports, like the service's warm-up drop below
    direct = []
    for i, data in enumerate(inputs):
        path = work / f"direct{i}.xlsx"
        path.write_bytes(data)
        t0 = time.perf_counter()
        score_file(path, work / f"direct{i}.scored.xlsx")
        direct.append(time.perf_counter() - t0)
    with ServiceProcess(root, "--settle", str(SETTLE), config=config) as service:
        wait_for(lambda: service.events("watch_armed"), 60)
        drop(root, "warmup.xlsx", xlsx_bytes(1000, 499))  # the worker imports pandas & co. on its first file
        wait_for(lambda: "warmup.xlsx" in files(root / "archive"), 60)
        latencies = []
        for i, data in enumerate(inputs):
            name = f"l{i:02d}.xlsx"
            t0 = time.perf_counter()
            drop(root, name, data)
            wait_for(lambda: (root / "outbox" / f"l{i:02d}.scored.xlsx").exists(), 60)
            latencies.append(time.perf_counter() - t0 - SETTLE)
            wait_for(lambda: name in files(root / "archive"), 60)
        rss = rss_mib(service.pid)
        service.stop()
    return statistics.median(latencies), statistics.median(direct), rss


def bench_throughput(work: Path, count: int, workers: int) -> tuple[float, float]:
    root = work / f"throughput{workers}"
    config = write_config(work / f"t{workers}.toml", scan_interval=5.0)
    payload = {
        f"b{i:03d}.{'xlsx' if i % 10 == 0 else 'csv'}": (xlsx_bytes(12, i) if i % 10 == 0 else csv_bytes(12, i))
        for i in range(count)
    }
    with ServiceProcess(root, "--workers", str(workers), "--settle", str(SETTLE), config=config) as service:
        wait_for(lambda: service.events("watch_armed"), 60)
        for w in range(workers):  # each worker imports the scorer's libraries on its first file
            drop(root, f"warmup{w}.csv", csv_bytes(12, 99990 + w))
        wait_for(lambda: len(files(root / "archive")) == workers, 120)
        time.sleep(1.0)
        t0 = time.perf_counter()
        for name, data in payload.items():
            drop(root, name, data)
        wait_for(lambda: len(files(root / "archive")) == count + workers, 3600, 0.05)
        elapsed = time.perf_counter() - t0
        rss = rss_mib(service.pid)
        service.stop()
    return elapsed, rss


def bench_direct_loop(work: Path, count: int) -> float:
    from processor.pipeline import score_file

    folder = work / "direct"
    folder.mkdir()
    paths = []
    for i in range(count):
        path = folder / f"b{i:03d}.{'xlsx' if i % 10 == 0 else 'csv'}"
        path.write_bytes(xlsx_bytes(12, i) if i % 10 == 0 else csv_bytes(12, i))
        paths.append(path)
    score_file(paths[1], folder / "warm.scored.xlsx")
    t0 = time.perf_counter()
    for path in paths:
        score_file(path, folder / f"{path.stem}.scored.xlsx")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--latency-runs", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-dropfolder-"))
    try:
        latency, direct_one, rss_latency = bench_latency(work, args.latency_runs)
        direct_loop = bench_direct_loop(work, args.files)
        one, rss_one = bench_throughput(work, args.files, 1)
        two, rss_two = bench_throughput(work, args.files, 2)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = args.files
    print(
        f"drop-folder benchmark on {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end "
        f"(settle {SETTLE}s subtracted from latencies)"
    )
    print(f"{'measure':<46}{'service':>12}{'baseline':>12}  baseline = score_file() in-process")
    label = f"latency, 1,000-row .xlsx (median of {args.latency_runs}) s"
    print(f"{label:<46}{latency:>12.3f}{direct_one:>12.3f}")
    print(f"{f'throughput, {n} small files, 1 worker, files/s':<46}{n / one:>12.1f}{n / direct_loop:>12.1f}")
    print(f"{f'throughput, {n} small files, 2 workers, files/s':<46}{n / two:>12.1f}{n / direct_loop:>12.1f}")
    print(f"{f'wall time, {n} files: 1 worker / 2 workers / loop, s':<46}{one:>7.1f} / {two:.1f} / {direct_loop:.1f}")
    print(f"{'service RSS after latency run (main+1 worker), MiB':<46}{rss_latency:>12.0f}")
    print(f"{f'service RSS after {n} files, 1 worker, MiB':<46}{rss_one:>12.0f}")
    print(f"{f'service RSS after {n} files, 2 workers, MiB':<46}{rss_two:>12.0f}")


if __name__ == "__main__":
    main()
