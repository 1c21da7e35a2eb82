"""Judging a fitted model on rows it did not learn from: AUC, confusion matrix and money at the
cut-off, decile lift and cumulative gains, the profit curve, and seed 001 §5.4's check that the
training, test and target groups look alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from processor.errors import WARNING, Problem
from processor.settings import Settings

from .economics import deciles, realised_profit
from .features import BOOLEAN, CATEGORY, Feature

TRAIN, TEST, TARGET = "訓練", "測試", "目標"


def evaluate(y: pd.Series, p: pd.Series, cutoff: float, settings: Settings) -> dict:
    """AUC, confusion matrix, precision/recall and the money comparison at a cut-off, on labelled rows."""
    from sklearn.metrics import roc_auc_score

    y_arr = y.to_numpy(dtype=int)
    call = p.to_numpy() >= cutoff
    tp, fp = int((call & (y_arr == 1)).sum()), int((call & (y_arr == 0)).sum())
    fn, tn = int((~call & (y_arr == 1)).sum()), int((~call & (y_arr == 0)).sum())
    everyone = np.ones(len(y_arr), bool)
    top = deciles(p) == 1
    auc = float(roc_auc_score(y_arr, p)) if 0 < y_arr.sum() < len(y_arr) else float("nan")
    return {
        "rows": len(y_arr),
        "buyers": int(y_arr.sum()),
        "auc": auc,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "called": tp + fp,
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "top_decile_lift": float(y_arr[top.to_numpy()].mean() / y_arr.mean()) if y_arr.mean() else float("nan"),
        "profit_list": realised_profit(y_arr, call, settings),
        "profit_everyone": realised_profit(y_arr, everyone, settings),
        "profit_oracle": realised_profit(y_arr, y_arr == 1, settings),
    }


def lift_table(y: pd.Series, p: pd.Series) -> pd.DataFrame:
    """Decile lift and cumulative gains (seed 001 figure 5-8 quantile chart, seed 003 lift chart)."""
    d = deciles(p)
    g = y.groupby(d).agg(["size", "sum"]).reindex(range(1, 11), fill_value=0)
    rate = y.mean()
    frame = pd.DataFrame(
        {
            "十分位": [f"第{i}組" for i in g.index],
            "客戶數": g["size"].to_numpy(),
            "實際購買數": g["sum"].to_numpy().astype(int),
            "平均預測機率": p.groupby(d).mean().reindex(range(1, 11)).to_numpy(),
        }
    )
    frame["購買率"] = frame["實際購買數"] / frame["客戶數"].where(frame["客戶數"] > 0)
    frame["提升度(Lift)"] = frame["購買率"] / rate
    frame["累計客戶占比"] = frame["客戶數"].cumsum() / len(y)
    frame["累計購買占比(Gains)"] = frame["實際購買數"].cumsum() / max(1, y.sum())
    frame["隨機名單"] = frame["累計客戶占比"]
    frame["累計提升度"] = frame["累計購買占比(Gains)"] / frame["累計客戶占比"]
    return frame


def profit_curve(y: pd.Series, p: pd.Series, settings: Settings, steps: int = 20) -> pd.DataFrame:
    """Realised profit when calling the top k% of the ranked list, k = 5%, 10%, … 100% (seed 000)."""
    order = np.argsort(-p.to_numpy(), kind="stable")
    buyers = np.cumsum(y.to_numpy()[order])
    n = len(y)
    called = np.ceil(np.arange(1, steps + 1) / steps * n).astype(int)
    margin, contact = settings.price - settings.cost, settings.contact_cost
    return pd.DataFrame(
        {
            "聯絡前": [f"{100 * k // steps}%" for k in range(1, steps + 1)],
            "聯絡人數": called,
            "其中購買": buyers[called - 1].astype(int),
            "利潤": buyers[called - 1] * margin - called * contact,
            "最低機率": p.to_numpy()[order][called - 1],
        }
    )


def comparability(typed: pd.DataFrame, groups: pd.Series, features: list[Feature]) -> pd.DataFrame:
    """Seed 001 §5.4: mean, standard deviation and mode of every feature in each group and in all.

    A group is flagged (差異 ⚠) when its mean is > 0.1 standard deviations off the whole list, or
    when its mode differs and the whole list's mode is more than 10 points rarer or commoner in it
    (so two near-equal levels trading places is not a shift) — for categories, yes/no columns and
    numbers with at most 20 distinct values (a rating 1–5); the mode of a continuous number
    (age 31 vs 32) is noise, not a shift.
    """
    names = [g for g in (TRAIN, TEST, TARGET) if (groups == g).any()]
    masks = {g: (groups == g).to_numpy() for g in names}

    def mode_shift(values: pd.Series, modes: dict, whole) -> bool:
        share = (values == whole).mean()
        return any(m != whole and abs((values[masks[g]] == whole).mean() - share) > 0.1 for g, m in modes.items())

    rows = []
    for f in features:  # one small summary per column
        values = typed[f.column]
        if f.kind == CATEGORY:
            modes = {g: values[masks[g]].mode().iloc[0] for g in names}
            whole = values.mode().iloc[0]
            flag = mode_shift(values, modes, whole)
            rows.append(
                {
                    "欄位": f.column,
                    "統計": "眾數",
                    **{g: str(modes[g]) for g in names},
                    "全部": str(whole),
                    "差異": "⚠ 眾數不同" if flag else "",
                }
            )
            continue
        sd = values.std()
        stats = {g: values[masks[g]] for g in names}
        mean_flag = any(sd > 0 and abs(s.mean() - values.mean()) / sd > 0.1 for s in stats.values())
        rows.append(
            {
                "欄位": f.column,
                "統計": "平均",
                **{g: round(float(s.mean()), 4) for g, s in stats.items()},
                "全部": round(float(values.mean()), 4),
                "差異": "⚠ 差異大" if mean_flag else "",
            }
        )
        rows.append(
            {
                "欄位": f.column,
                "統計": "標準差",
                **{g: round(float(s.std()), 4) for g, s in stats.items()},
                "全部": round(float(sd), 4),
                "差異": "",
            }
        )
        modes = {g: s.mode() for g, s in stats.items()}
        whole = values.mode()
        few_values = f.kind == BOOLEAN or values.nunique() <= 20
        mode_flag = (
            few_values
            and len(whole)
            and mode_shift(values, {g: m.iloc[0] for g, m in modes.items() if len(m)}, whole.iloc[0])
        )
        rows.append(
            {
                "欄位": f.column,
                "統計": "眾數",
                **{g: (float(m.iloc[0]) if len(m) else None) for g, m in modes.items()},
                "全部": float(whole.iloc[0]) if len(whole) else None,
                "差異": "⚠ 眾數不同" if mode_flag else "",
            }
        )
    return pd.DataFrame(rows, columns=["欄位", "統計", *names, "全部", "差異"])


def shift_problems(table: pd.DataFrame, sheet: str) -> list[Problem]:
    """One 提醒 per feature the comparability table flags: the model learnt on a group that looks
    different from the one it judges or scores (seed 001 §5.4), so its numbers may not carry over."""
    flagged = table[table["差異"] != ""]
    if flagged.empty:
        return []
    groups = [g for g in (TRAIN, TEST, TARGET) if g in table]
    problems = []
    for column, rows in flagged.groupby("欄位", sort=False):
        shown = "；".join(f"{r['統計']} " + " / ".join(f"{g} {r[g]}" for g in groups) for _, r in rows.iterrows())
        problems.append(
            Problem(
                sheet,
                None,
                str(column),
                shown[:200],
                "訓練組與"
                + "、".join(g + "組" for g in groups if g != TRAIN)
                + f"在這一欄差異大（{rows['差異'].iloc[0].lstrip('⚠ ')}）："
                "模型從不太一樣的客戶學來，機率可能偏高或偏低",
                "確認兩組客戶來自同一類名單；差異是真的就留意這欄的影響（模型評估「資料是否一致」表）",
                WARNING,
            )
        )
    return problems
