"""Purchase probability on seed 000's own data, side by side with the seed's list.

Prints, for exactly ``train_test_split(X, y, test_size=0.2, random_state=0)`` (the test labels
blanked before the model sees the file, cut-off from training data only): AUC, precision at the
cut-off, top-decile lift, and the list's profit vs calling everyone vs the seed's 342,825 vs a
perfect oracle; then the time to train on all 45,211 labelled rows and to score 1,000,000 rows.

    PYTHONPATH=. python benchmarks/bench_propensity.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from processor.models import load_model, predict_proba, train_model
from processor.parse import detect_and_parse
from processor.propensity import deciles, score_campaign
from processor.settings import Settings
from processor.workbook import read_input

DATA = Path("/work/shared/data/campaign_marketing2.csv")
AS_OF = pd.Timestamp("2024-01-01")
SEED = {"called": 391, "buyers": 235, "profit": 235 * 1750 - 391 * 175}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    data = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    X, y = data.drop(columns="買A商品"), data["買A商品"]
    _, X_test, _, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    blinded = data.copy()
    blinded.loc[X_test.index, "買A商品"] = ""
    blinded.to_csv(tmp / "blinded.csv", index=False)
    [parsed], _ = detect_and_parse(read_input(tmp / "blinded.csv"), AS_OF)
    t = time.perf_counter()
    result = score_campaign(parsed.frame, parsed.sheet, Settings(), AS_OF, label_header="買A商品")
    fit_seconds = time.perf_counter() - t
    ranked = result.ranked.set_index("id")
    p = ranked.loc[X_test["UID"], "p"].to_numpy()
    call = ranked.loc[X_test["UID"], "call"].to_numpy() == "是"
    bought = y_test.astype(int).to_numpy()
    margin, contact = 2500 - 750, 175
    top = deciles(pd.Series(p)).to_numpy() == 1
    figures = {
        "list": (int(call.sum()), int(bought[call].sum())),
        "everyone": (len(bought), int(bought.sum())),
        "seed 000 list": (SEED["called"], SEED["buyers"]),
        "perfect oracle": (int(bought.sum()), int(bought.sum())),
    }
    print(f"test 20%: {len(bought):,} customers, {bought.sum():,} buyers; model {result.fitted.chosen}, "
          f"cut-off p ≥ {result.fitted.cutoff:.3f} (break-even, from the economics)")
    print(f"AUC {roc_auc_score(bought, p):.4f}   precision at cut-off {bought[call].mean():.1%} "
          f"(seed 000: 60.1%)   top-decile lift {bought[top].mean() / bought.mean():.2f}")
    print(f"{'':16}{'called':>8}{'buyers':>8}{'precision':>11}{'profit':>12}{'vs seed':>9}")
    for name, (n, b) in figures.items():
        profit = b * margin - n * contact
        print(f"{name:16}{n:>8,}{b:>8,}{b / n:>11.1%}{profit:>12,}{profit / SEED['profit']:>8.2f}×")
    print("cross-validated model choice (training 80% only):")
    print(result.fitted.cv.to_string(index=False))
    print(f"fit on 36,168 training rows + score 45,211 (incl. feature inference): {fit_seconds:.1f} s")

    full = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    full.to_csv(tmp / "full.csv", index=False)
    [parsed_full], _ = detect_and_parse(read_input(tmp / "full.csv"), AS_OF)
    t = time.perf_counter()
    path, _ = train_model(parsed_full, "買A商品", "bench", settings=Settings(), as_of=AS_OF, trained_at="bench",
                          models_dir=tmp / "models")
    print(f"train command on the 45,211-row list (80/20 split, 3 models × 3-fold CV, save): "
          f"{time.perf_counter() - t:.1f} s; model file {path.stat().st_size / 1e6:.2f} MB")

    model = load_model(path)
    rng = np.random.default_rng(0)
    big = full.iloc[rng.integers(0, len(full), args.rows)].reset_index(drop=True)
    t = time.perf_counter()
    probs = predict_proba(model, big, as_of=AS_OF)
    seconds = time.perf_counter() - t
    print(f"score {args.rows:,} rows (predict_proba: encode + calibrated model): {seconds:.1f} s "
          f"({args.rows / seconds:,.0f} rows/s); mean p {probs.mean():.3f}")


if __name__ == "__main__":
    main()
