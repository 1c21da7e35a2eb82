"""Purchase probability on seed 000's own data, side by side with the seed's list, and its speed.

1. The bar: exactly ``train_test_split(X, y, test_size=0.2, random_state=0)`` (the test labels
   blanked before the model sees the file, cut-off from training data only). Prints AUC,
   precision at the cut-off, top-decile lift, and the list's profit vs calling everyone vs the
   seed's reported 342,825 vs a perfect oracle.
2. ``train`` on all 45,211 labelled rows, through :func:`processor.pipeline.train_file` as the
   command runs it (read, 設定, parse, 80/20 split, three models × 3-fold CV, refit on all rows,
   save).
3. Scoring ``--rows`` rows (default 1,000,000; customers drawn from the file, ids renumbered):
   (a) core: ``predict_proba`` on a frame (encode + calibrated model), what the PL_PROB formula runs;
   (b) the real path in-process, phase by phase: read_input → detect/parse → 精準名單 analysis
       (load model, encode, predict, rank) → render;
   (c) end to end: the installed ``precision-list score BIG.csv --model`` in a fresh process,
       wall time and peak resident memory.

    PYTHONPATH=. python benchmarks/bench_propensity.py [--rows 1000000] [--skip-cli]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from processor.analyse.propensity import SEED_000_LIST, evaluate, score_campaign
from processor.models import load_model, predict_proba
from processor.pipeline import train_file
from processor.read.parse import detect_and_parse
from processor.read.workbook import read_input
from processor.settings import Settings

#: seed 000's data, beside the repository as every seed is: ``../shared/data/`` from the repo root
DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "campaign_marketing2.csv"
AS_OF = pd.Timestamp("2024-01-01")
SEED = {"called": SEED_000_LIST["called"], "buyers": SEED_000_LIST["buyers"]}
_ECONOMICS = Settings()  # the seed's: price 2,500, cost 750, contact 175
SEED["profit"] = (
    SEED["buyers"] * (_ECONOMICS.price - _ECONOMICS.cost) - SEED["called"] * _ECONOMICS.contact_cost
)  # 342,825


class Clock:
    """Wall and CPU seconds since start (CPU of this process and its children: on a shared, busy
    box wall time mostly measures the other jobs; CPU time measures this code)."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), self._cpu()

    @staticmethod
    def _cpu() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    def __str__(self) -> str:
        return f"{time.perf_counter() - self.wall:.1f} s (CPU {self._cpu() - self.cpu:.1f} s)"


def bar(tmp: Path) -> None:
    data = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    X, y = data.drop(columns="買A商品"), data["買A商品"]
    _, X_test, _, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    blinded = data.copy()
    blinded.loc[X_test.index, "買A商品"] = ""
    blinded.to_csv(tmp / "blinded.csv", index=False)
    [parsed], _ = detect_and_parse(read_input(tmp / "blinded.csv"), AS_OF)
    clock = Clock()
    settings = Settings()
    result = score_campaign(parsed.frame, parsed.sheet, settings, AS_OF, label_header="買A商品")
    fit_time = str(clock)
    ranked = result.ranked.set_index("id")
    p = pd.Series(ranked.loc[X_test["UID"], "p"].to_numpy())
    # the core's own evaluation (AUC, precision at the cut-off, lift, profit with Settings()' economics)
    e = evaluate(pd.Series(y_test.astype(int).to_numpy()), p, result.fitted.cutoff, settings)
    figures = {  # called, buyers, profit
        "this list": (e["called"], e["tp"], e["profit_list"]),
        "call everyone": (e["rows"], e["buyers"], e["profit_everyone"]),
        "seed 000 list*": (SEED["called"], SEED["buyers"], SEED["profit"]),
        "perfect oracle": (e["buyers"], e["buyers"], e["profit_oracle"]),
    }
    print(
        f"test 20%: {e['rows']:,} customers, {e['buyers']:,} buyers; model {result.fitted.chosen}, "
        f"cut-off p ≥ {result.fitted.cutoff:.3f} (break-even, from the economics)"
    )
    print(
        f"AUC {e['auc']:.4f}   precision at cut-off {e['precision']:.1%} "
        f"(seed 000: 60.1%)   top-decile lift {e['top_decile_lift']:.2f}"
    )
    print(f"{'':16}{'called':>8}{'buyers':>8}{'precision':>11}{'profit':>12}{'vs seed':>9}")
    for name, (n, b, profit) in figures.items():
        print(f"{name:16}{n:>8,}{b:>8,}{b / n:>11.1%}{round(profit):>12,}{profit / SEED['profit']:>8.2f}×")
    print("* the seed's own reported result on its own 20% test set (9,043 customers), not recomputed here")
    print("cross-validated model choice (training 80% only):")
    print(result.fitted.cv.to_string(index=False))
    print(f"fit on 36,168 training rows + score 45,211 (incl. feature inference): {fit_time}")


def train(tmp: Path) -> Path:
    clock = Clock()
    done = train_file(DATA, None, "bench", as_of=AS_OF, trained_at="bench", models_dir=tmp / "models")
    print(
        f"train on the 45,211-row file (read, parse, 80/20 split, 3 models × 3-fold CV, refit on all "
        f"45,211, save): {clock}; model file {done.path.stat().st_size / 1e6:.2f} MB"
    )
    return done.path


def big_list(rows: int, tmp: Path) -> tuple[pd.DataFrame, Path]:
    full = pd.read_csv(DATA, dtype=str, keep_default_na=False).drop(columns="買A商品")
    big = full.iloc[np.random.default_rng(0).integers(0, len(full), rows)].reset_index(drop=True)
    big["UID"] = [f"N{i}" for i in range(rows)]
    path = tmp / f"list_{rows}.csv"
    big.to_csv(path, index=False)
    return big, path


def score(rows: int, model_path: Path, tmp: Path, skip_cli: bool) -> None:
    from processor import pipeline
    from processor.sheets.report import render

    big, path = big_list(rows, tmp)
    model = load_model(model_path)
    clock = Clock()
    probs = predict_proba(model, big, as_of=AS_OF)
    print(f"(a) core, {rows:,} rows (predict_proba: encode + calibrated model): {clock}; mean p {probs.mean():.3f}")
    del big

    spent: dict[str, str] = {}

    def timed(analyser):  # the pipeline's own analysers, each timed (parse = analyse minus them)
        def run(ctx):
            clock = Clock()
            try:
                return analyser(ctx)
            finally:
                spent[analyser.__name__] = str(clock)

        return run

    pipeline.ANALYSERS[:] = [timed(a) for a in pipeline.ANALYSERS]
    total, clock = Clock(), Clock()
    raw = read_input(path)
    phases = {"read_input": str(clock)}
    clock = Clock()
    analysis = pipeline.analyse(raw, AS_OF, model=str(model_path), source_name=path.name)
    phases["detect/parse + analysers"] = str(clock)
    phases["of which 精準名單 (load model, encode, predict, rank, sheets)"] = spent["analyse_campaign"]
    clock = Clock()
    render(analysis, path, tmp / "out.xlsx")
    phases[f"render (精準名單 lists the top {min(rows, 50_000):,})"] = str(clock)
    print(f"(b) the score path in-process, {rows:,} rows: {total}")
    for name, took in phases.items():
        print(f"      {name}: {took}")
    del raw, analysis

    if skip_cli:
        return
    script = shutil.which("precision-list", path=str(Path(sys.executable).parent)) or "precision-list"
    clock = Clock()
    done = subprocess.run(
        [
            script,
            "score",
            str(path),
            "-o",
            str(tmp / "cli.xlsx"),
            "--model",
            str(model_path),
            "--as-of",
            f"{AS_OF:%Y-%m-%d}",
        ],
        capture_output=True,
        text=True,
    )
    took = str(clock)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"(c) end to end, `precision-list score` on {rows:,} rows in a fresh process: {took}, "
        f"peak memory {peak:,.0f} MB, exit {done.returncode}"
        + (f": {done.stderr.strip()[-300:]}" if done.returncode else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-cli", action="store_true", help="leave out (c), the fresh-process CLI run")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-propensity-"))
    try:
        bar(tmp)
        model_path = train(tmp)
        score(args.rows, model_path, tmp, args.skip_cli)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
