"""跟進排程 and the contact blocks of 摘要 (seed 000 一、3 and 三, seed 001 MAN, seed 004 cadence), and the
pipeline analyser that makes them.

The computation is :mod:`processor.analyse.contacts` (profiles, MAN, the plan's rows) and
:mod:`processor.analyse.followup` (the cadence and its order); this module only lays it out.
"""

from __future__ import annotations

import pandas as pd

from processor.analyse.contacts import (
    DERIVED,
    MAN_ADVICE,
    ambiguous_followups,
    contact_profile,
    due_calls,
    followup_plan,
    zodiac_mismatches,
)
from processor.analyse.followup import (
    DEAD_C_PERIODS,
    DUE_STATUSES,
    NEEDS_CONFIRMED,
    URGENCY_CAP_DAYS,
    link_followups,
)
from processor.errors import Problem, capped
from processor.read.schema import FUNNEL_STAGES, INTENT_LEVELS, SCHEDULE_COLUMNS, TRUST_LEVELS
from processor.sheets.contract import Context, Contribution
from processor.sheets.report import Block, Chart, ResultSheet

COMPLETENESS_BINS = ([-0.01, 0.3, 0.6, 0.7, 1.0], ["0–30%", "31–60%", "61–70%", "71–100%"])


def analyse_contacts(ctx: Context) -> Contribution | None:
    """跟進排程 from the contact list and/or the follow-up log, and the contact summary blocks."""

    contacts = _stack(ctx.sheets.get("contacts", []))
    followups = _stack(ctx.sheets.get("followups", []))
    if contacts is None and followups is None:
        return None
    problems: list[Problem] = []
    if contacts is not None:
        problems += capped(zodiac_mismatches(contacts))
        contacts = contacts.drop(columns=DERIVED, errors="ignore")  # derived fields are recomputed, never doubled
    link = None
    if followups is not None:
        link = link_followups(contacts, followups)  # once: a long log's names are folded once
        problems += capped(ambiguous_followups(contacts, followups, link))
    plan, unplaced = followup_plan(contacts, followups, ctx.as_of, ctx.settings, link)
    always = {"status", "name", "next_followup", "days_overdue"}
    table = pd.DataFrame({c.label: plan[c.key] for c in SCHEDULE_COLUMNS if c.key in plan}, index=plan.index)
    table = table.loc[
        :, table.notna().any() | table.columns.isin([c.label for c in SCHEDULE_COLUMNS if c.key in always])
    ]
    days = ctx.settings.first_touch_days
    notes = (
        f"跟進排程　基準日 {ctx.settings.date_text(ctx.as_of)}",
        f"節奏：第一次接觸後第 {'、'.join(map(str, days))} 天跟進（種子 001 記憶曲線），之後依意向等級 H 每 "
        f"{ctx.settings.cadence_h} 天、A 每 {ctx.settings.cadence_a} 天、B 每 {ctx.settings.cadence_b} 天、C 每 "
        f"{ctx.settings.cadence_c} 天（種子 004；天數可在 設定 工作表調整）；「跟進節奏」欄寫出每人用的是哪一種。",
        "排序：今天要做的（逾期、今天、尚未接觸）在最前，依意向 H→A→B→未分級→C、再依階段 "
        "關鍵客戶→目標客戶→潛在客戶→未填→目標市場，"
        f"再依逾期天數（超過 {URGENCY_CAP_DAYS} 天以 {URGENCY_CAP_DAYS} 天計）；接著 3天內、未到；"
        f"C 級超過 {DEAD_C_PERIODS} 個週期（{DEAD_C_PERIODS * ctx.settings.cadence_c} 天）沒聯絡的另列「"
        f"建議降級/停止接觸」，"
        "階段 已成交 的另列「已成交」，都在最後。",
        "資料完整度＝FORMHTCD 八項已填比例（種子 000 建議第一次見面後達 60–70%）。",
        *([f"有 {unplaced} 列沒有姓名也沒有客戶編號，未排入（見 資料檢查）。"] if unplaced else []),
    )
    formats = {c.label: c.format for c in SCHEDULE_COLUMNS if c.format}
    label = {c.key: c.label for c in SCHEDULE_COLUMNS}
    sheet = ResultSheet(
        "跟進排程",
        (Block(table, formats=formats, color_scale=(label["days_overdue"],), data_bars=(label["completeness"],)),),
        notes,
    )
    status_counts = plan["status"].value_counts()
    blocks = [
        Block(
            pd.DataFrame({"跟進狀態": status_counts.index, "人數": status_counts.to_numpy()}),
            title="今天要跟進",
            as_table=False,
        )
    ]
    summary = {
        "people": int(len(plan)),
        "due_today_or_overdue": int(plan["status"].isin(DUE_STATUSES).sum()),
        "by_status": {str(k): int(v) for k, v in status_counts.items()},
    }
    if contacts is not None:
        trust = _counts(contacts["trust"], TRUST_LEVELS, label["trust"])
        intent = _counts(contacts["intent"], INTENT_LEVELS, label["intent"])
        stage = _counts(contacts["stage"], FUNNEL_STAGES, label["stage"])
        profile_all = contact_profile(contacts)
        bins = pd.cut(profile_all["completeness"], COMPLETENESS_BINS[0], labels=COMPLETENESS_BINS[1])
        completeness = bins.value_counts().reindex(bins.cat.categories, fill_value=0)
        needs = profile_all["needs"].value_counts()
        man = profile_all["man"].fillna("未填").value_counts()
        blocks += [
            Block(
                trust,
                title=label["trust"],
                as_table=False,
                charts=(Chart("col", f"{label['trust']}人數", label["trust"], ("人數",)),),
            ),
            Block(
                intent,
                title=label["intent"],
                as_table=False,
                charts=(Chart("col", f"{label['intent']}人數", label["intent"], ("人數",)),),
            ),
            Block(
                stage, title="漏斗階段", as_table=False, charts=(Chart("bar", "各階段人數", label["stage"], ("人數",)),)
            ),
            Block(
                pd.DataFrame({label["completeness"]: completeness.index.astype(str), "人數": completeness.to_numpy()}),
                title="FORMHTCD 資料完整度分布",
                as_table=False,
            ),
            Block(
                pd.DataFrame({label["needs"]: needs.index, "人數": needs.to_numpy()}),
                title="需求確認（是真的需要還是羨慕）",
                as_table=False,
            ),
            Block(
                pd.DataFrame(
                    {
                        label["man"]: man.index,
                        "人數": man.to_numpy(),
                        "建議": [MAN_ADVICE.get(k, "請填 M有購買力 / A有決定權 / N有需求") for k in man.index],
                    }
                ),
                title="MAN 類型",
                as_table=False,
            ),
        ]
        summary.update(
            {
                "contacts": int(len(contacts)),
                "needs_confirmed": int((profile_all["needs"] == NEEDS_CONFIRMED).sum()),
                "by_trust": dict(zip(trust[label["trust"]], trust["人數"].astype(int).tolist())),
                "by_intent": dict(zip(intent[label["intent"]], intent["人數"].astype(int).tolist())),
                "by_stage": dict(zip(stage[label["stage"]], stage["人數"].astype(int).tolist())),
                "by_man": {str(k): int(v) for k, v in man.items()},
                "by_needs": {str(k): int(v) for k, v in needs.items()},
                "completeness": {str(k): int(v) for k, v in completeness.items()},
                "mean_completeness": round(float(profile_all["completeness"].mean()), 3) if len(contacts) else None,
            }
        )
    if followups is not None:
        summary["followups"] = int(len(followups))
    return Contribution(
        sheets=[sheet],
        summary_blocks=blocks,
        problems=problems,
        summary={"contacts": summary},
        calls=[due_calls(plan, sheet.name)],
    )


def _stack(sheets) -> pd.DataFrame | None:
    frames = [s.frame.assign(_sheet=s.sheet) for s in sheets]
    return pd.concat(frames) if frames else None


def _counts(series: pd.Series, order: tuple[str, ...], label: str) -> pd.DataFrame:
    counts = series.astype("string").fillna("未填").value_counts()
    index = list(order) + ["未填"]
    return pd.DataFrame({label: index, "人數": [int(counts.get(k, 0)) for k in index]})
