"""The 客戶價值 result sheet: one row per customer, the model-fit block and plain-language checks.

Layout only: every number comes from :mod:`processor.analyse.value` (and :mod:`processor.analyse.btyd`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from processor.analyse import value as val
from processor.settings import Settings
from processor.sheets.report import Block, Chart, ResultSheet

SHEET = "客戶價值"
PARAM_LABELS = {"r": "r", "alpha": "α", "a": "a", "b": "b", "s": "s", "beta": "β", "p": "p", "q": "q", "gamma": "γ"}
MODEL_WORDS = {
    "BG/NBD": "BG/NBD（每次購買後以機率 p 流失；購買率 λ ~ Gamma(r, α)，p ~ Beta(a, b)）",
    "Pareto/NBD": "Pareto/NBD（存活期間 ~ 指數(μ)；購買率 λ ~ Gamma(r, α)，μ ~ Gamma(s, β)）",
    "Gamma-Gamma": "Gamma-Gamma（每次金額 ~ Gamma(p, ν)，ν ~ Gamma(q, γ)）",
}
#: measured by benchmarks/bench_clv.py (CDNOW, calibration to 1997-09-30, holdout to 1998-06-30)
HELD_OUT = (
    "在公開的 CDNOW 資料上（以 1997/9/30 前的紀錄預測 1998/6/30 前誰會再買），優先分數的 AUC 0.770，"
    "高於只看距今天數的 0.759；名單前 20% 涵蓋下期消費的 68.6%（距今天數 64.4%）。"
)


def value_sheet(
    table: pd.DataFrame,
    model: val.ValueModel,
    priority: val.Priority,
    horizon_days: int,
    as_of,
    settings: Settings,
    listed: int,
) -> ResultSheet:
    """客戶價值: the per-customer table (top ``listed`` by CLV), the model-fit block, the tiers."""
    labels = {k: v.format(h=horizon_days) for k, v in val.LABELS.items()}
    display = table.head(listed).astype({"value_tier": object}).rename(columns=labels)
    formats = {
        labels[k]: f
        for k, f in {
            "p_alive": "0.0%",
            "expected_purchases": "0.00",
            "expected_ticket": "#,##0",
            "expected_revenue": "#,##0",
            "expected_margin": "#,##0",
            "clv": "#,##0",
            "recency": "0",
            "age": "0",
            "mean_spend": "#,##0",
            "revenue": "#,##0",
        }.items()
    }
    main = Block(
        display, formats=formats, color_scale=(labels["p_alive"],), color_scale_reverse=True, data_bars=(labels["clv"],)
    )
    fit = Block(
        model_frame(model),
        title="模型估計（最大概似法，以 (x, t_x, T) 充分統計量計算；時間單位：天）",
        as_table=False,
        widths={"說明": 60},
    )
    checks = Block(
        pd.DataFrame({"檢查": list(check_lines(model, priority))}),
        title="模型檢查（白話）",
        as_table=False,
        widths={"檢查": 100},
    )
    tiers = table["value_tier"].value_counts().reindex(val.TIERS, fill_value=0)
    money = table.groupby("value_tier", observed=False)["clv"].sum().reindex(val.TIERS, fill_value=0.0)
    tier_frame = pd.DataFrame(
        {
            labels["value_tier"]: list(val.TIERS),
            "人數": tiers.to_numpy(dtype=np.int64),
            "顧客終身價值合計": money.to_numpy(dtype=float),
        }
    )
    tier_block = Block(
        tier_frame,
        title="價值分級",
        formats={"顧客終身價值合計": "#,##0"},
        as_table=False,
        charts=(Chart("col", "各價值分級人數", labels["value_tier"], ("人數",)),),
    )
    notes = (
        f"客戶價值　基準日 {settings.date_text(pd.Timestamp(as_of))}，預測未來 {horizon_days} 天（種子 004 "
        f"客戶價值分析）",
        "仍是客戶機率＝依購買次數、最近一次與第一次購買的時間，模型估計此客戶尚未流失的機率；"
        f"未來{horizon_days}天預期購買次數＝模型估計的購買天數（同一天多筆算一次）。",
        "預期客單價＝Gamma-Gamma 模型把本人回購平均金額向全體平均收斂（買越少次收斂越多；只買過一次者用全體平均）。",
        f"預期營收＝預期購買次數 × 預期客單價；預期毛利＝預期營收 × 毛利率（有 毛利/成本 欄時用本人的毛利率，"
        f"否則用設定 "
        f"{settings.margin_rate:.0%}）。",
        f"顧客終身價值＝逐月折現（年折現率 {settings.discount_rate:.0%}）的預期毛利，減去每年行銷費用 "
        f"{settings.marketing_cost:,.0f} 元 × 仍是客戶機率（種子 004：客戶價值＝購買金額−產品成本−關係營銷費用）。",
        "價值分級：顧客終身價值為正者中前 20% 高價值、其次 30% 中價值、其餘低價值；≤ 0 為負價值（種子 004："
        "找出臨近虧本或負價值的客戶）。",
        *(
            (
                f"⚠ {model.fallback}。經驗規則：仍是客戶機率依本人購買次數與距今天數估計（典型間隔 "
                f"{model.typical_gap:,.0f} 天），預期購買次數＝機率 ×（x+1）÷（T+典型間隔）× 天數。",
            )
            if model.fallback
            else ()
        ),
        "模型與檢查見下方兩個表；「精準名單」的 沉默排名 優先分數 也由這些模型而來。",
    ) + (
        (f"共 {len(table):,} 位客戶；本表只列出顧客終身價值前 {listed:,} 位，價值分級表涵蓋全部客戶。",)
        if len(table) > listed
        else ()
    )
    return ResultSheet(SHEET, (main, fit, checks, tier_block), notes)


def model_frame(model: val.ValueModel) -> pd.DataFrame:
    """One row per fitted model: name, used or not, parameters (± s.e.), log-likelihood, customers."""
    rows = []
    fits = list(model.candidates) + ([model.spend] if model.spend is not None else [])
    for fit in fits:
        used = fit is model.count or fit is model.spend
        params = "、".join(
            f"{PARAM_LABELS.get(k, k)} {v:.4g}"
            + (f" (±{fit.standard_errors[k]:.2g})" if k in fit.standard_errors else "")
            for k, v in fit.params.items()
        )
        rows.append(
            {
                "模型": fit.name,
                "使用": "是" if used else "否",
                "參數": params,
                "對數概似": round(fit.log_likelihood, 1) if np.isfinite(fit.log_likelihood) else None,
                "客戶數": fit.customers,
                "收斂": "是" if fit.converged else f"否：{fit.message}",
                "說明": MODEL_WORDS.get(fit.name, ""),
            }
        )
    if not rows:
        rows.append(
            {
                "模型": "經驗規則",
                "使用": "是",
                "參數": f"典型間隔 {model.typical_gap:,.0f} 天",
                "對數概似": None,
                "客戶數": model.customers,
                "收斂": "—",
                "說明": model.fallback,
            }
        )
    return pd.DataFrame(rows)


def check_lines(model: val.ValueModel, priority: val.Priority):
    """Plain-language lines: the choice, the checks, how the priority was made and how it did."""
    yield (
        f"客戶 {model.customers:,} 位，其中 {model.repeaters:,} 位有回購（x ≥ 1）。"
        + (model.choice + "。" if model.choice else "")
    )
    if model.fallback:
        yield "⚠ " + model.fallback
    yield from model.checks
    if priority.coefficients is not None:
        yield (
            f"優先分數＝未來 N 天再購買的機率（%）：以本資料自己的過去學得（在基準日前切 {len(priority.splits)} "
            f"個時間點，"
            f"看之後 {'、'.join(map(str, priority.splits))} 天內是否再買，共 {priority.trained_on:,} 筆），"
            "特徵為兩個模型的預期購買次數與仍是客戶機率、預期客單價、回購次數、距今天數、首購至今天數；"
            f"再乘上（若再買的預期消費 ÷ 最高者）^{priority.spend_exponent:g}"
            "（預期消費＝至少買一次時的預期購買次數 × 預期客單價），讓會花較多的人往前排"
            "（次方在同樣的切點上挑「再購 AUC＋前 20% 消費占比」最高者，不看要預測的期間）。"
        )
    else:
        yield f"優先分數＝1 − e^(−預期購買次數)（以模型估計的再購機率；未另行學習：{priority.fallback}）。"
    yield HELD_OUT


def summary(table: pd.DataFrame, model: val.ValueModel, priority: val.Priority, horizon_days: int) -> dict:
    """The --json ``customer_value`` block."""
    return {
        **model.summary(),
        "horizon_days": int(horizon_days),
        "expected_purchases": round(float(table["expected_purchases"].sum()), 3),
        "expected_revenue": round(float(table["expected_revenue"].sum()), 2),
        "clv": round(float(table["clv"].sum()), 2),
        "tiers": {t: int(n) for t, n in table["value_tier"].value_counts().reindex(val.TIERS, fill_value=0).items()},
        "priority": {
            "rule": "learned" if priority.coefficients is not None else "model",
            "features": list(priority.names),
            "trained_on": priority.trained_on,
            "splits_days": list(priority.splits),
            "spend_exponent": priority.spend_exponent,
            "fallback": priority.fallback or None,
        },
    }
