"""今日聯絡 (today's call sheet): one row per person to contact today, merged from the lists.

Seed 000 (a rep's daily rhythm: warm leads, the next step with each person), seed 004 (follow-up
cadence by intent; acting on the silence list) and seed 000/001 (calling down the precision
list). Each analyser hands over its people as a :class:`CallList` — follow-ups due today, or the
top of a ranked list — with a reason in rep words and the seed's playbook line already computed
from its own data; :func:`today_calls` merges them. The order (documented on the sheet):

1. everyone the follow-up schedule has due today (overdue, due today, never contacted), in
   跟進排程's order — promises already made come first;
2. then the tops of the other lists taken in turn (沉默排名 #1, 精準名單 #1, 沉默排名 #2, …);

a person on several lists is one row (the first reason; every list named in 來源). The sheet
holds ``rows`` people (設定 今日聯絡列數): the follow-ups fill it but leave half of it to the
other lists when they have people (``due = min(n_due, rows − min(n_other, rows // 2))``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: the columns every :class:`CallList` frame carries
CALL_FIELDS = ("key", "customer_id", "name", "phone", "owner", "reason", "action", "last_contact")


@dataclass(frozen=True)
class CallList:
    """People one analyser proposes for today, in its own order (best first).

    ``frame`` has :data:`CALL_FIELDS`; ``key`` identifies a person across lists ("c:" + customer
    id as :func:`~processor.analyse.followup.person_key` writes it, else the name key). ``due``
    marks the follow-ups due today (all of them are taken first); other lists are tops.
    """

    sheet: str  # the result sheet that has the whole list (linked from 來源)
    frame: pd.DataFrame
    due: bool = False
    total: int = 0  # people on the whole list (0: the frame is the whole list)


def id_key(ids: pd.Series) -> pd.Series:
    """The person key of a customer id, as :func:`processor.analyse.followup.person_key` makes it."""
    from processor.analyse.followup import _id_key

    return ("c:" + _id_key(pd.Series(ids))).astype("string")


def contact_directory(contacts: pd.DataFrame | None) -> pd.DataFrame:
    """姓名, 手機, 負責業務 and the last contact date by customer id key (:func:`id_key`), from the
    contact list: what a call list needs beside an id. The first row of an id wins (duplicates are
    reported by parse). Empty when there is no contact list or no contact has a customer id.

    >>> contact_directory(pd.DataFrame({"customer_id": ["c1", None], "name": ["王小明", "陳美玲"],
    ...                                 "phone": ["0912-345-678", None]})).loc["c:c1", "name"]
    '王小明'
    """
    columns = ["name", "phone", "owner", "last_contact"]
    if contacts is None or not len(contacts) or "customer_id" not in contacts:
        return pd.DataFrame(columns=columns, index=pd.Index([], dtype="string"))
    key = id_key(contacts["customer_id"])
    last = pd.concat(
        [
            pd.to_datetime(contacts.get("last_contact", pd.Series(pd.NaT, index=contacts.index))),
            pd.to_datetime(contacts.get("first_contact", pd.Series(pd.NaT, index=contacts.index))),
        ],
        axis=1,
    ).max(axis=1)
    frame = pd.DataFrame({c: contacts[c] if c in contacts else pd.NA for c in columns[:3]}, index=contacts.index)
    frame["last_contact"] = last
    frame.index = key.to_numpy()
    return frame[key.notna().to_numpy()].loc[lambda f: ~f.index.duplicated()]


def with_contacts(frame: pd.DataFrame, id_column: str, directory: pd.DataFrame, labels: dict[str, str]) -> pd.DataFrame:
    """``frame`` with 姓名, 手機, 負責業務 (``labels`` names them) joined from ``directory`` where the
    ids match, placed right after ``id_column``; columns no matched contact fills are left out, so a
    list without a contact list keeps its shape. Used by 沉默排名, 客戶分群 and 精準名單."""
    if directory is None or not len(directory) or not len(frame):
        return frame
    found = directory.reindex(id_key(frame[id_column]).to_numpy())
    added = {labels[c]: found[c].to_numpy() for c in ("name", "phone", "owner") if found[c].notna().any()}
    if not added:
        return frame
    at = list(frame.columns).index(id_column) + 1
    out = frame.copy()
    for offset, (label, values) in enumerate(added.items()):
        out.insert(at + offset, label, values)
    return out


def people_from_ids(ids: pd.Series, directory: pd.DataFrame) -> pd.DataFrame:
    """key, customer_id, name, phone, owner, last_contact for customers known by id (lists built
    from transactions or a campaign list), their name and phone from the contact list."""
    key = id_key(ids)
    found = (
        directory.reindex(key.to_numpy())
        if directory is not None and len(directory)
        else pd.DataFrame(index=key.to_numpy(), columns=["name", "phone", "owner", "last_contact"])
    )
    return pd.DataFrame(
        {
            "key": key.to_numpy(),
            "customer_id": pd.Series(ids).astype("string").to_numpy(),
            "name": found["name"].to_numpy(),
            "phone": found["phone"].to_numpy(),
            "owner": found["owner"].to_numpy(),
            "last_contact": pd.to_datetime(found["last_contact"]).to_numpy(),
        }
    )


def today_calls(lists: list[CallList], rows: int) -> pd.DataFrame:
    """The people for 今日聯絡, in the order of the module docstring: :data:`CALL_FIELDS` plus
    ``sources`` (every list's sheet that has the person, first first) and ``sheet`` (the first).

    >>> due = CallList("跟進排程", pd.DataFrame({"key": ["n:甲", "c:c1"], "reason": ["逾期", "今天"]}), due=True)
    >>> top = CallList("沉默排名", pd.DataFrame({"key": ["c:c1", "c:c2", "c:c3"], "reason": ["S", "S", "S"]}))
    >>> today_calls([due, top], 3)[["key", "sources"]].values.tolist()
    [['n:甲', '跟進排程'], ['c:c1', '跟進排程、沉默排名'], ['c:c2', '沉默排名']]
    """
    parts = []
    tops = [c for c in lists if not c.due and len(c.frame)]
    for c in lists:
        if not len(c.frame):
            continue
        f = c.frame.reindex(columns=list(CALL_FIELDS)).assign(sheet=c.sheet)
        # follow-ups in their own order first; the tops interleaved by rank (list order breaks ties)
        place = next((i for i, t in enumerate(tops) if t is c), 0)
        turn = np.arange(len(f)) if c.due else np.arange(len(f)) * max(len(tops), 1) + place
        parts.append(f.assign(_due=c.due, _turn=turn))
    if not parts:
        return pd.DataFrame(columns=[*CALL_FIELDS, "sources", "sheet"])
    every = pd.concat(parts, ignore_index=True).dropna(subset=["key"])
    every = every.sort_values(["_due", "_turn"], ascending=[False, True], kind="stable")
    sources = every.groupby("key", sort=False)["sheet"].agg(lambda s: "、".join(dict.fromkeys(s)))  # per person
    people = every.drop_duplicates("key").copy()
    for column in ("name", "phone", "owner", "customer_id", "last_contact"):  # what one list lacks, another may know
        known = every.dropna(subset=[column]).drop_duplicates("key").set_index("key")[column]
        if len(known):
            people[column] = people[column].where(people[column].notna(), people["key"].map(known))
    people["sources"] = people["key"].map(sources).to_numpy()
    due, other = people[people["_due"]], people[~people["_due"]]
    n_due = min(len(due), rows - min(len(other), rows // 2))
    chosen = pd.concat([due.head(n_due), other.head(rows - n_due)])
    return chosen.drop(columns=["_due", "_turn"]).reset_index(drop=True)


# --------------------------------------------------------------------------- reasons in rep words


def followup_reasons(plan: pd.DataFrame) -> pd.Series:
    """為什麼今天 for people due on the follow-up schedule (columns of
    :func:`processor.analyse.followup.schedule`), e.g. 「逾期 3 天未跟進（A 級每 3 天）」.

    >>> plan = pd.DataFrame({"status": ["逾期", "今天", "尚未接觸"], "days_overdue": [3, 0, 0],
    ...                      "rule": ["cadence", "curve", "never"], "rule_days": [3, 3, 0],
    ...                      "intent": ["A", None, None]})
    >>> followup_reasons(plan).tolist()
    ['逾期 3 天未跟進（A 級每 3 天）', '今天該跟進（初次接觸後第 3 天）', '名單上還沒聯絡過']
    """
    days = pd.to_numeric(plan["rule_days"]).astype("Int64").astype("string")
    grade = plan["intent"].astype("string").fillna("未分級").where(lambda s: s == "未分級", lambda s: s + " 級")
    every = pd.Series(np.where(days.eq("1"), "每天", "每 " + days + " 天"), index=plan.index)
    rule = pd.Series(
        np.where(plan["rule"].eq("curve"), "初次接觸後第 " + days + " 天", grade + every), index=plan.index
    )
    late = pd.to_numeric(plan["days_overdue"]).astype("Int64").astype("string")
    text = np.select(
        [plan["rule"].eq("never"), plan["status"].eq("逾期")],
        ["名單上還沒聯絡過", "逾期 " + late + " 天未跟進（" + rule + "）"],
        "今天該跟進（" + rule + "）",
    )
    return pd.Series(text, index=plan.index, dtype="string")


#: seed 000 二–四: the next step with a warm lead, by how far the rep has got with them
NEXT_STEP = {
    "collect": "見面聊近況，資料收集到 6–7 成",  # 二.3
    "needs": "確認需求：要多少、多久內、願意付出什麼",  # 三
    "invite": "需求已確認：邀約（自己踢或請夥伴）",  # 四
}
COLLECT_BELOW = 0.6  # seed 000: aim for 60–70% of the profile after the first meeting


def followup_actions(plan: pd.DataFrame) -> pd.Series:
    """建議做法 for follow-ups: the rep's own 夥伴需求點/預計下一步 when typed, else seed 000's next
    step for where the lead is (profile under 60% → collect; needs not confirmed → confirm; else invite)."""
    from processor.analyse.followup import NEEDS_CONFIRMED

    completeness = pd.to_numeric(plan.get("completeness", pd.Series(np.nan, index=plan.index))).fillna(0)
    needs = plan.get("needs", pd.Series(pd.NA, index=plan.index)).astype("string")
    missing = plan.get("missing", pd.Series(pd.NA, index=plan.index)).astype("string").fillna("")
    step = np.select(
        [completeness < COLLECT_BELOW, needs.ne(NEEDS_CONFIRMED).fillna(True)],
        [NEXT_STEP["collect"], NEXT_STEP["needs"]],
        NEXT_STEP["invite"],
    )
    step = pd.Series(step, index=plan.index, dtype="string")
    step = step.where(~((completeness < COLLECT_BELOW) & missing.ne("")), step + "（還缺 " + missing + "）")
    typed = plan.get("next_step", pd.Series(pd.NA, index=plan.index)).astype("string").str.strip()
    return typed.where(typed.notna() & typed.ne(""), step)


def silence_reasons(silence: pd.DataFrame, at: np.ndarray | None = None) -> pd.Series:
    """為什麼今天 for the top of 沉默排名 (columns of :func:`processor.analyse.silence.silence_table`):
    the usual gap, the days since the last visit and the customer's place by amount, e.g.
    「平常每 12 天來一次，已 40 天沒來，消費金額前 10%」. ``silence`` must be the whole table (the
    place is among all customers); ``at`` (row positions) limits the text to those rows.

    >>> t = pd.DataFrame({"visits": [5, 1], "mean_interval": [12.4, np.nan], "recency": [40, 9],
    ...                   "value": [900.0, 100.0]})
    >>> silence_reasons(t).tolist()
    ['平常每 12 天來一次，已 40 天沒來，消費金額前 50%', '只來過 1 次，已 9 天沒來，消費金額前 100%']
    """
    place = silence["value"].rank(ascending=False, method="min") / max(len(silence), 1)
    if at is not None:  # the text of these rows only (positions); the place is still among everyone
        silence, place = silence.iloc[at], place.iloc[at]
    top = np.ceil(place.to_numpy(dtype=float) * 100).astype(int).astype(str)
    gap = silence["mean_interval"].round(0).astype("Int64").astype("string")
    recency = pd.to_numeric(silence["recency"]).round(0).astype("Int64").astype("string")
    usual = pd.Series(
        np.where(
            silence["visits"].to_numpy() >= 2,
            "平常每 " + gap + " 天來一次",
            "只來過 " + silence["visits"].astype(str) + " 次",
        ),
        index=silence.index,
    )
    return (usual + "，已 " + recency + " 天沒來，消費金額前 " + top + "%").astype("string")


PRECISION_ACTION = "電話聯絡：先確認需求，再介紹商品"  # seed 000 三、四


def precision_reasons(p: pd.Series, why: pd.Series | None = None) -> pd.Series:
    """為什麼今天 for the top of 精準名單: the purchase probability, and the model's main reasons
    when the list has them (「購買機率 42%：上次活動成功、近期有回應」).

    >>> precision_reasons(pd.Series([0.4237, 0.2]), pd.Series(["上次活動成功", None])).tolist()
    ['購買機率 42%：上次活動成功', '購買機率 20%']
    """
    text = "購買機率 " + (pd.Series(p, dtype=float) * 100).round(0).astype(int).astype(str) + "%"
    if why is None:
        return text.astype("string")
    why = pd.Series(why, index=text.index).astype("string").str.strip()
    return text.where(why.isna() | why.eq(""), text + "：" + why).astype("string")


def precision_calls(ranked: pd.DataFrame, rows: int, directory: pd.DataFrame | None, sheet: str) -> CallList:
    """The top ``rows`` of a precision list (:func:`processor.analyse.propensity.ranked_list` with
    its ``group``) for 今日聯絡: the target group only — a customer who already bought or said no is
    evaluation, not someone to call — where 建議聯絡 = 是, by probability; the reason is the
    probability, with the model's main reasons (主要原因, the ranked list's ``reason`` column)."""
    # the ranked list holds the target group only (propensity.campaign._call_list): nobody with a known result
    todo = ranked[ranked["call"] == "是"]
    top = todo.head(rows)
    why = top["reason"] if "reason" in top else None
    frame = people_from_ids(top["id"].astype("string"), directory).assign(
        reason=precision_reasons(top["p"], why).to_numpy(), action=PRECISION_ACTION
    )
    return CallList(sheet, frame, total=len(todo))
