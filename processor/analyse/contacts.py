"""Contact-list analytics: 星座, FORMHTCD profile completeness, needs confirmed, MAN type.

Seed 000 一、3 (資料表 and its FORMHTCD fields; aim to have collected 60–70% after the first
meeting), 三 (確認需求: how much / by when / what they will give — a real need, not envy) and
seed 001 (MAN: Money, Authority, Need; capitals = has it). 跟進排程's rows come from
:func:`followup_plan`; the sheet is laid out by :mod:`processor.sheets.contacts`.
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
from processor.read.schema import (
    CONTACTS,
    FOLLOWUPS,
    normalise_header,
)
from processor.read.values import zodiac_signs
from processor.settings import Settings

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


def ambiguous_followups(
    contacts: pd.DataFrame | None, followups: pd.DataFrame, link: pd.DataFrame | None = None
) -> list[Problem]:
    """A 提醒 for each follow-up row whose 姓名 several contacts share (it is not guessed); ``link``:
    :func:`~processor.analyse.followup.link_followups` of the two, when the caller has it already."""
    link = link_followups(contacts, followups) if link is None else link
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


# ---------------------------------------------------------------------------------------------
# 跟進排程's rows (laid out by processor.sheets.contacts)


#: fields typed on the contact list that are derived here instead (星座 from 生日): recomputed, never doubled
DERIVED = [f.key for f in CONTACTS.fields if f.derived]
#: what each person of 跟進排程 carries from their contact row besides the schedule itself
PROFILE_KEYS = (
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
)


def followup_plan(
    contacts: pd.DataFrame | None,
    followups: pd.DataFrame | None,
    as_of,
    settings: Settings,
    link: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, int]:
    """(跟進排程's rows, contact rows not placed): :func:`~processor.analyse.followup.schedule` of everyone,
    each person with :func:`contact_profile` and :data:`PROFILE_KEYS` of their first contact row (duplicates
    were reported by parse); rows with neither name nor customer id cannot be placed and are counted.
    ``contacts`` without the :data:`DERIVED` columns; ``link`` as for :func:`ambiguous_followups`."""
    plan = schedule(contacts, followups, as_of, settings, link)
    if contacts is None:
        return plan, 0
    flat = contacts.reset_index(drop=True)
    flat = pd.concat([flat, contact_profile(flat)], axis=1).assign(_k=person_key(flat))
    by_person = flat.dropna(subset=["_k"]).drop_duplicates("_k").set_index("_k").reindex(plan["key"].to_numpy())
    for key in PROFILE_KEYS:
        plan[key] = by_person[key].to_numpy()
    return plan, int(flat["_k"].isna().sum())


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
