"""Realistic synthetic transaction logs for the silence/segment benchmarks (no real people).

Each customer joins on a random day of a three-year window, buys with geometric gaps around a
personal mean gap (gamma-distributed across customers: a few weekly regulars, many occasional
buyers), drops out after a geometric number of purchases (some never come back after the first),
and spends lognormal amounts around a personal average. Purchases are thinned by a seasonal
weight (Lunar New Year and December peaks, a summer dip) and by weekday. About 2% of rows are
returns (negative) and 0.3% zero amounts. Output: CSV with the zh-TW template headers
客戶編號, 日期, 金額, 品項.

    python benchmarks/generate_transactions.py --rows 1000000 -o /tmp/tx_1m.csv
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

END = pd.Timestamp("2025-12-31")
YEARS = 3
PRODUCTS = np.array(["保養品", "護膚療程", "頭療", "家居用品", "禮盒", "會員卡儲值", "體驗課程", "精油"])
SEASON = np.array([1.0, 1.0, 0.8, 0.75, 0.8, 0.75, 0.6, 0.65, 0.75, 0.8, 0.85, 1.0])  # Jan … Dec
WEEKDAY = np.array([0.8, 0.8, 0.85, 0.85, 0.95, 1.0, 0.95])  # Mon … Sun


def generate(rows: int, seed: int = 0) -> pd.DataFrame:
    """A frame of about ``rows`` purchases (exactly ``rows`` unless the draw falls short)."""
    rng = np.random.default_rng(seed)
    out = pd.concat(draw_rounds(rows, rng), ignore_index=True)
    out = out.iloc[np.sort(rng.choice(len(out), rows, replace=False))] if len(out) > rows else out
    return _finish(out, rng)


def draw_rounds(rows: int, rng) -> list[pd.DataFrame]:
    """Rounds of (customer, day) draws until there are ``rows``; each round's customers are new people."""
    customers = max(10, rows // 7)
    frames, have, start_id = [], 0, 0
    while have < rows:  # one or two rounds: the thinning ratio is only known after drawing
        frames.append(_draw(rng, customers, start_id))
        start_id += customers  # every id drawn, kept or not: a later round never reuses one
        have += len(frames[-1])
    return frames


def _draw(rng, customers: int, start_id: int) -> pd.DataFrame:
    end_day = int(np.datetime64(END.date(), "D").astype(np.int64))
    span = 365 * YEARS
    join = end_day - rng.integers(0, span, customers)
    mean_gap = 4 + rng.gamma(shape=1.3, scale=35.0, size=customers)
    lifetime = rng.geometric(p=rng.beta(2.0, 10.0, customers))  # purchases before dropping out
    n = np.minimum(lifetime, np.ceil(span / mean_gap * 1.5).astype(np.int64) + 1)
    owner = np.repeat(np.arange(customers), n)
    gaps = rng.geometric(1.0 / np.repeat(mean_gap, n))
    first = np.r_[0, np.cumsum(n)[:-1]]
    gaps[first] = 0
    csum = np.cumsum(gaps)
    day = np.repeat(join, n) + csum - np.repeat(csum[first], n)
    keep = day <= end_day
    owner, day = owner[keep], day[keep]
    dates = day.astype("datetime64[D]")
    month = dates.astype("datetime64[M]").astype(np.int64) % 12
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday
    accept = rng.random(len(day)) < SEASON[month] * WEEKDAY[weekday]
    return pd.DataFrame({"customer": owner[accept] + start_id, "day": day[accept]})


def _finish(out: pd.DataFrame, rng) -> pd.DataFrame:
    customers = int(out["customer"].max()) + 1
    average = rng.lognormal(mean=7.2, sigma=0.8, size=customers)  # about NT$1,300 typical ticket
    amount = np.round(average[out["customer"].to_numpy()] * rng.lognormal(0, 0.45, len(out)), 0)
    u = rng.random(len(out))
    amount = np.where(u < 0.02, -np.round(amount * rng.uniform(0.2, 1.0, len(out))), amount)
    amount = np.where((u >= 0.02) & (u < 0.023), 0.0, amount)
    return pd.DataFrame(
        {
            "客戶編號": np.char.add("C", np.char.zfill(out["customer"].to_numpy().astype(str), 7)),
            "日期": out["day"].to_numpy().astype("datetime64[D]"),
            "金額": amount,
            "品項": PRODUCTS[rng.integers(0, len(PRODUCTS), len(out))],
        }
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    frame = generate(args.rows, args.seed)
    frame.to_csv(args.output, index=False, date_format="%Y-%m-%d")
    print(
        f"{len(frame):,} rows, {frame['客戶編號'].nunique():,} customers → {args.output} "
        f"({args.output.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s; as-of {END:%Y-%m-%d}"
    )


if __name__ == "__main__":
    main()
