"""Reading a 1,000,000-row × 10-column .xlsx: python-calamine (ours) beside openpyxl read-only.

The workbook is written as Excel writes one (shared strings, dates as serials with a date
style, numbers): customer number (unique), date, amount, product, channel, quantity, store,
rep, note, branch. Each reader runs in its own fresh process, so its peak memory (the kernel's
``ru_maxrss``, read with ``os.wait4``) is its own; wall and CPU seconds are both printed (the
machine may be shared). One BLAS/OpenMP thread.

Rows, one reader each:

* ``ours``: ``processor.read.workbook.read_input`` — the data-extent scan, calamine, and the
  grid (blank → None, whole numbers as int), i.e. everything ``score`` does before parsing;
* ``calamine``: ``CalamineWorkbook.from_path(...).get_sheet_by_index(0).to_python()`` alone;
* ``openpyxl read-only`` (baseline): ``load_workbook(read_only=True, data_only=True)`` and
  ``list(ws.iter_rows(values_only=True))`` into a DataFrame — what the reader did before for
  large files (small ones were loaded in full mode, slower still).

    PYTHONPATH=. python benchmarks/bench_read.py [--rows 1000000] [--keep PATH] [--only ours]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

READERS = {
    "ours (read_input: extent scan + calamine + grid)": (
        "from processor.read.workbook import read_input; g = read_input(PATH)[0].grid; n = g.shape"
    ),
    "calamine to_python": (
        "import python_calamine as pc; "
        "rows = pc.CalamineWorkbook.from_path(PATH).get_sheet_by_index(0).to_python();"
        " n = (len(rows), len(rows[0]))"
    ),
    "openpyxl read-only (baseline)": (
        "import openpyxl, pandas as pd; "
        "wb = openpyxl.load_workbook(PATH, read_only=True, data_only=True);"
        " g = pd.DataFrame(list(wb.worksheets[0].iter_rows(values_only=True)), dtype=object);"
        " wb.close(); n = g.shape"
    ),
}


def rows_xml(n: int, shared: dict):
    from tests.crafted import cell

    heads = ["客戶編號", "日期", "金額", "品項", "通路", "數量", "門市", "業務", "備註", "分店"]
    yield '<row r="1">' + "".join(cell(f"{c}1", h, shared=shared) for c, h in zip("ABCDEFGHIJ", heads)) + "</row>"
    channels = ["門市", "網路", "電話"]
    for i in range(n):
        r = i + 2
        yield (
            f'<row r="{r}">'
            + cell(f"A{r}", f"C{i:07d}", shared=shared)
            + f'<c r="B{r}" s="2"><v>{45000 + i % 700}</v></c><c r="C{r}"><v>{(i * 37) % 9000 + 100}</v></c>'
            + cell(f"D{r}", f"品項{i % 40}", shared=shared)
            + cell(f"E{r}", channels[i % 3], shared=shared)
            + f'<c r="F{r}"><v>{i % 5 + 1}</v></c>'
            + cell(f"G{r}", f"門市{i % 120}", shared=shared)
            + cell(f"H{r}", f"業務{i % 300}", shared=shared)
            + cell(f"I{r}", "VIP" if i % 4 == 0 else "一般", shared=shared)
            + f'<c r="J{r}"><v>{i % 60}</v></c></row>'
        )


def write_workbook(path: Path, n: int) -> Path:
    from tests.crafted import write_xlsx

    shared: dict = {}
    return write_xlsx(path, rows_xml(n, shared), shared=shared, dimension=f"A1:J{n + 1}")


def measure(code: str, path: Path) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak MB, shape) of ``code`` run in a fresh interpreter."""
    script = f"PATH = {str(path)!r}\n{code}\nprint(n)"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(REPO))
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
    out = proc.stdout.read().decode().strip()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"reader failed: {code}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", help="write (or reuse) the workbook at this path instead of a temp folder")
    parser.add_argument("--only", help="run only the readers whose name contains this text")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "read-bench.xlsx"
        if not path.exists():
            started = time.monotonic()
            write_workbook(path, args.rows)
            print(
                f"wrote {path.name}: {args.rows:,} rows × 10 columns, {path.stat().st_size / 1e6:.1f} MB "
                f"({time.monotonic() - started:.0f} s)"
            )
        print(f"{'reader':<52}{'wall s':>9}{'CPU s':>9}{'peak MB':>10}  shape")
        for name, code in READERS.items():
            if args.only and args.only not in name:
                continue
            wall, cpu, peak, shape = measure(code, path)
            print(f"{name:<52}{wall:>9.1f}{cpu:>9.1f}{peak:>10.0f}  {shape}")
        print(f"load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
