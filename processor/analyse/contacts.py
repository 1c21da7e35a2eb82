"""Contact-list analytics: 星座, FORMHTCD profile completeness, needs confirmed, MAN type.

Seed 000 一、3 (資料表 and its FORMHTCD fields; aim to have collected 60–70% after the first
meeting), 三 (確認需求: how much / by when / what they will give — a real need, not envy) and
seed 001 (MAN: Money, Authority, Need; capitals = has it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from processor.analyse.calls import CallList, followup_actions, followup_reasons
from processor.analyse.followup import (  # noqa: F401  re-exported
    DEAD_C_PERIODS,
    DUE_STATUSES,
    NEEDS_CONFIRMED,
    NEEDS_NONE,
    NEEDS_PARTIAL,
    URGENCY_CAP_DAYS,
    link_followups,
    person_key,
    schedule,
)
from processor.errors import WARNING, Problem
from processor.errors import capped as _capped
from processor.read.schema import (
    CONTACTS,
    FOLLOWUPS,
    FUNNEL_STAGES,
    INTENT_LEVELS,
    SCHEDULE_COLUMNS,
    TRUST_LEVELS,
    normalise_header,
)
from processor.read.values import zodiac_signs
from processor.sheets.contract import Contribution
from processor.sheets.report import Block, Chart, ResultSheet

#: FORMHTCD: the profile letters of seed 000's 資料表; D counts when any of 初期/中期/長期 is filled
FORMHTCD = {
    "F": ("family",),
    "O": ("occupation",),
    "R": ("recreation",),
    "M": ("money",),
    "H": ("health",),
    "T": ("time",),
    "C": ("china",),
    "D": ("dream_early", "dream_mid", "dream_long"),
}

#: seed 001 潛在客戶 MAN 法則: what to do with each combination
MAN_ADVICE = {
    "M+A+N": "理想的銷售對象，優先接觸",
    "M+A+n": "可以接觸，配合熟練的銷售技巧，有成功的希望",
    "M+a+N": "可以接觸，並設法找到有決定權的人",
    "m+A+N": "可以接觸，需了解其財務狀況、可否分期",
    "m+a+N": "可以接觸，長期觀察、培養",
    "m+A+n": "可以接觸，長期觀察、培養，使之具備另一條件",
    "M+a+n": "不必優先接觸，保持關係即可",
    "m+a+n": "停止接觸，把時間留給更好的名單",
}


def _filled(frame: pd.DataFrame, key: str) -> pd.Series:
    if key not in frame:
        return pd.Series(False, index=frame.index)
    col = frame[key]
    return col.notna() & (col.astype("string").str.strip() != "")


def profile_completeness(contacts: pd.DataFrame) -> pd.Series:
    """Share (0–1) of the eight FORMHTCD letters filled per contact (seed 000: aim for 0.6–0.7).

    >>> profile_completeness(pd.DataFrame({"family": ["已婚", None], "dream_mid": [None, "買房"]})).tolist()
    [0.125, 0.125]
    """
    filled = pd.concat(
        {
            letter: pd.concat([_filled(contacts, k) for k in keys], axis=1).any(axis=1)
            for letter, keys in FORMHTCD.items()
        },
        axis=1,
    )
    return filled.mean(axis=1)


def missing_profile_letters(contacts: pd.DataFrame) -> pd.Series:
    """The FORMHTCD letters still empty, e.g. "O R H" — what to ask at the next meeting."""
    filled = pd.concat(
        {
            letter: pd.concat([_filled(contacts, k) for k in keys], axis=1).any(axis=1)
            for letter, keys in FORMHTCD.items()
        },
        axis=1,
    )
    missing = pd.Series("", index=contacts.index, dtype="string")
    for letter, done in filled.astype(bool).items():  # eight letters, vectorised over contacts
        missing = missing + np.where(done, "", letter + " ")
    return missing.str.strip()


def needs_status(contacts: pd.DataFrame) -> pd.Series:
    """已確認需求 when how much, by when and what they will give are all known (seed 000 三)."""
    known = sum(_filled(contacts, k).astype(int) for k in ("need_what", "need_when", "need_give"))
    return pd.Series(
        np.select([known == 3, known > 0], [NEEDS_CONFIRMED, NEEDS_PARTIAL], NEEDS_NONE),
        index=contacts.index,
        dtype="string",
    )


def man_type(contacts: pd.DataFrame) -> pd.Series:
    """MAN type such as "M+a+N" (capital = yes), <NA> where any of the three is unknown (seed 001).

    >>> answers = {"man_money": [True, None], "man_authority": [False, True], "man_need": [True, True]}
    >>> man_type(pd.DataFrame(answers)).tolist()
    ['M+a+N', <NA>]
    """
    parts = []
    for key, letter in (("man_money", "M"), ("man_authority", "A"), ("man_need", "N")):
        col = (
            contacts[key].astype("boolean")
            if key in contacts
            else pd.Series(pd.NA, index=contacts.index, dtype="boolean")
        )
        parts.append(col.map({True: letter, False: letter.lower()}, na_action="ignore").astype("string"))
    return (parts[0] + "+" + parts[1] + "+" + parts[2]).astype("string")


def contact_profile(contacts: pd.DataFrame) -> pd.DataFrame:
    """Per contact: 星座, completeness, what is missing, needs status, MAN type and its advice."""
    kind = man_type(contacts)
    return pd.DataFrame(
        {
            "zodiac": zodiac_signs(contacts["birthday"]) if "birthday" in contacts else pd.NA,
            "completeness": profile_completeness(contacts),
            "missing": missing_profile_letters(contacts),
            "needs": needs_status(contacts),
            "man": kind,
            "man_advice": kind.map(MAN_ADVICE, na_action="ignore").astype("string"),
        },
        index=contacts.index,
    )


# ---------------------------------------------------------------------------------------------
# The analyser: 跟進排程 and the contact blocks of 摘要.


DERIVED = [f.key for f in CONTACTS.fields if f.derived]
COMPLETENESS_BINS = ([-0.01, 0.3, 0.6, 0.7, 1.0], ["0–30%", "31–60%", "61–70%", "71–100%"])


def _stack(sheets) -> pd.DataFrame | None:
    frames = [s.frame.assign(_sheet=s.sheet) for s in sheets]
    return pd.concat(frames) if frames else None


def _counts(series: pd.Series, order: tuple[str, ...], label: str) -> pd.DataFrame:
    counts = series.astype("string").fillna("未填").value_counts()
    index = list(order) + ["未填"]
    return pd.DataFrame({label: index, "人數": [int(counts.get(k, 0)) for k in index]})


def zodiac_mismatches(contacts: pd.DataFrame) -> list[Problem]:
    """A 提醒 where a typed 星座 disagrees with the one 生日 gives (the derived one is used).

    星座 is derived (seed 000 資料表); a typed one is compared in any script, 座 optional.
    """
    if "zodiac" not in contacts or "birthday" not in contacts:
        return []
    typed = contacts["zodiac"].astype("string")
    derived = zodiac_signs(contacts["birthday"])
    fold = lambda s: s.map(normalise_header, na_action="ignore").str.removesuffix("座")  # noqa: E731  few hundred
    differ = typed.notna() & derived.notna() & (fold(typed) != fold(derived)).fillna(True)
    label = CONTACTS.field("zodiac").label
    return [
        Problem(
            sheet,
            int(row),
            label,
            value,
            f"與生日推算的星座（{sign}）不同，結果採用依生日推算的",
            "星座由生日自動推算，可以留白；若星座對，請檢查生日",
            WARNING,
        )
        for sheet, row, value, sign in zip(
            contacts["_sheet"][differ], contacts.index[differ], typed[differ], derived[differ]
        )
    ]


def ambiguous_followups(contacts: pd.DataFrame | None, followups: pd.DataFrame) -> list[Problem]:
    """A 提醒 for each follow-up row whose 姓名 several contacts share (it is not guessed)."""
    link = link_followups(contacts, followups)
    hit = link["same_name"] > 0
    label = FOLLOWUPS.field("name").label
    return [
        Problem(
            sheet,
            int(row),
            label,
            name,
            f"名單中有 {n} 位同名，對應不到是哪一位，這一列另列一人",
            "請在跟進紀錄加上「客戶編號」欄（名單也要有），就能對應",
            WARNING,
        )
        for sheet, row, name, n in zip(
            followups["_sheet"][hit], followups.index[hit], followups["name"][hit], link["same_name"][hit]
        )
    ]


def analyse_contacts(ctx) -> Contribution | None:
    """跟進排程 from the contact list and/or the follow-up log, and the contact summary blocks."""

    contacts = _stack(ctx.sheets.get("contacts", []))
    followups = _stack(ctx.sheets.get("followups", []))
    if contacts is None and followups is None:
        return None
    problems: list[Problem] = []
    if contacts is not None:
        problems += _capped(zodiac_mismatches(contacts))
        contacts = contacts.drop(columns=DERIVED, errors="ignore")  # derived fields are recomputed, never doubled
    if followups is not None:
        problems += _capped(ambiguous_followups(contacts, followups))
    plan = schedule(contacts, followups, ctx.as_of, ctx.settings)
    unplaced = 0
    if contacts is not None:
        # one profile per person (first row wins for duplicates, which parse already reported)
        flat = contacts.reset_index(drop=True)
        flat = pd.concat([flat, contact_profile(flat)], axis=1).assign(_k=person_key(flat))
        unplaced = int(flat["_k"].isna().sum())
        by_person = flat.dropna(subset=["_k"]).drop_duplicates("_k").set_index("_k").reindex(plan["key"].to_numpy())
        for key in (
            "trust",
            "stage",
            "phone",
            "owner",
            "next_step",
            "zodiac",
            "completeness",
            "missing",
            "needs",
            "man",
            "man_advice",
        ):
            plan[key] = by_person[key].to_numpy()
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


def due_calls(plan: pd.DataFrame, sheet: str):
    """The people 跟進排程 has due today (overdue, due today, never contacted), in its order, with
    the reason and next step in rep words: the first rows of 今日聯絡."""
    due = plan[plan["status"].isin(DUE_STATUSES)]
    frame = pd.DataFrame(
        {
            "key": due["key"],
            "customer_id": due["customer_id"],
            "name": due["name"],
            "phone": due.get("phone"),
            "owner": due.get("owner"),
            "reason": followup_reasons(due),
            "action": followup_actions(due),
            "last_contact": due["last_contact"],
        }
    )
    return CallList(sheet, frame, due=True)
