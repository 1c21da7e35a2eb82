"""Follow-up cadence (跟進排程): who is due today, from the contact list and/or the follow-up log.

Seed 001 (the follow-up memory curve: call back within 24 hours, again on day 3 and day 7) and
seed 004 (then by intent level: H daily, A every 3 days, B weekly, C every 15–30 days), with the
day counts in :class:`~processor.settings.Settings`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from processor.read.values import name_key, normalise_ids
from processor.settings import Settings

STATUS_OVERDUE, STATUS_TODAY, STATUS_SOON, STATUS_LATER, STATUS_NEW = "逾期", "今天", "3天內", "未到", "尚未接觸"
STATUS_DEMOTE, STATUS_WON = "建議降級/停止接觸", "已成交"
#: the statuses that mean "contact today" (the 今日聯絡 sheet takes these people)
DUE_STATUSES = (STATUS_OVERDUE, STATUS_TODAY, STATUS_NEW)
#: the sheet's groups, in order: today's work, then what is coming, then the two groups set aside
STATUS_ORDER = (STATUS_OVERDUE, STATUS_TODAY, STATUS_NEW, STATUS_SOON, STATUS_LATER, STATUS_DEMOTE, STATUS_WON)
WON_STAGE = "已成交"
#: within today's work: intent first (seed 004: H daily is the hottest lead), then funnel stage
#: (seed 001 客戶漏斗: the nearer the deal, the sooner), unknown in the middle
INTENT_RANK = {"H": 0, "A": 1, "B": 2, "C": 4}
STAGE_RANK = {"關鍵客戶": 0, "目標客戶": 1, "潛在客戶": 2, "目標市場": 4}
UNKNOWN_RANK = 3
#: days overdue beyond this count the same: a lead 141 days late is not 20 times as urgent as one a week late
URGENCY_CAP_DAYS = 7
#: a C lead not contacted for this many of its cadence periods is set aside (建議降級/停止接觸)
DEAD_C_PERIODS = 3


#: whether the needs (要多少 / 多久內 / 願意付出什麼, seed 000) are confirmed: all three, some, none
NEEDS_CONFIRMED, NEEDS_PARTIAL, NEEDS_NONE = "已確認需求", "部分確認", "未確認"


def cadence_days(intent: pd.Series, settings: Settings) -> pd.Series:
    """Days between follow-ups for each intent level H/A/B/C (seed 004); unknown → the default."""
    table = {"H": settings.cadence_h, "A": settings.cadence_a, "B": settings.cadence_b, "C": settings.cadence_c}
    return pd.Series(intent, dtype="string").map(table).astype("Float64").fillna(settings.cadence_default).astype(int)


def next_followup(
    last_contact: pd.Series,
    intent: pd.Series,
    touches: pd.Series,
    settings: Settings,
    first_contact: pd.Series | None = None,
) -> pd.Series:
    """Next follow-up date per contact.

    While a contact has had fewer touches than ``settings.first_touch_days`` has entries, the
    next touch is first contact + 1, 3, 7 days (seed 001 memory curve; touch 1 is the first
    contact itself); after that, last contact + the intent level's cadence (seed 004).
    A contact with no date at all is due "today" (returned as NaT: the caller decides).

    >>> s = Settings()
    >>> next_followup(pd.Series(pd.to_datetime(["2024-03-01", "2024-03-01"])), pd.Series(["A", "C"]),
    ...               pd.Series([5, 1]), s).dt.strftime("%m-%d").tolist()
    ['03-04', '03-02']
    """
    return _next_followup(last_contact, intent, touches, settings, first_contact)[0]


def _next_followup(last_contact, intent, touches, settings: Settings, first_contact=None):
    """:func:`next_followup`; per contact, whether the memory curve (True) or the intent cadence
    (False) set the date; and the rule's day count (the curve's day, or the cadence)."""
    last = pd.to_datetime(pd.Series(last_contact), errors="coerce")
    first = last if first_contact is None else pd.to_datetime(pd.Series(first_contact), errors="coerce").fillna(last)
    n = pd.to_numeric(pd.Series(touches, index=last.index), errors="coerce").fillna(1).clip(lower=1).astype(int)
    early = np.array(settings.first_touch_days, dtype=int)
    in_early = n <= len(early)
    early_days = pd.Series(early[np.clip(n.to_numpy() - 1, 0, len(early) - 1)], index=last.index)
    by_curve = first + pd.to_timedelta(early_days, unit="D")
    cadence = cadence_days(pd.Series(intent, index=last.index), settings)
    by_cadence = last + pd.to_timedelta(cadence, unit="D")
    # the early curve never schedules a touch before the last one actually happened, nor later
    # than the intent's own cadence (an H lead is called daily from the start, seed 004)
    curve = in_early & (by_curve > last) & ~(by_cadence < by_curve)
    return by_curve.where(curve, by_cadence), curve, early_days.where(curve, cadence)


def due(
    last_contact: pd.Series,
    intent: pd.Series,
    touches: pd.Series,
    as_of: pd.Timestamp,
    settings: Settings,
    first_contact: pd.Series | None = None,
) -> tuple[pd.Series, pd.Series]:
    """(next follow-up date, days overdue) per contact: :func:`next_followup`, with a contact never
    reached due today (as_of); days overdue = as_of − next date (negative: days still to go).
    The 跟進排程 sheet and the PL_NEXT_FOLLOWUP formula both use it.

    >>> nxt, late = due(pd.Series(pd.to_datetime(["2024-03-01", None])), pd.Series(["A", "H"]), pd.Series([5, None]),
    ...                 pd.Timestamp("2024-03-10"), Settings())
    >>> nxt.dt.strftime("%m-%d").tolist(), late.tolist()
    (['03-04', '03-10'], [6, 0])
    """
    return _due(last_contact, intent, touches, as_of, settings, first_contact)[:2]


def _due(last_contact, intent, touches, as_of: pd.Timestamp, settings: Settings, first_contact=None):
    """:func:`due` and, per contact, whether the memory curve set the date (see :func:`_next_followup`)."""
    last = pd.to_datetime(pd.Series(last_contact), errors="coerce")
    nxt, curve, days = _next_followup(last, intent, touches, settings, first_contact)
    nxt = nxt.where(last.notna(), as_of)
    return nxt, (as_of - nxt).dt.days, curve, days


def _id_key(ids: pd.Series) -> pd.Series:
    """Customer ids as :func:`~processor.read.values.normalise_ids` compares them (the transactions'
    rule), lower-cased as keys have always been written; blank → <NA>, never matched."""
    return normalise_ids(ids).astype("string").str.lower()


def person_key(frame: pd.DataFrame) -> pd.Series:
    """The key that identifies a person: "c:" + customer id if typed (compared as in transactions:
    NFKC, no white space, case ignored), else "n:" + the name (NFKC,
    no spaces, lower case) and, where the frame has one, "|" + the phone, so two contacts who
    only share a name stay two people. <NA> where there is neither id nor name.

    >>> person_key(pd.DataFrame({"customer_id": ["C1", None, None], "name": ["王 小明", "王小明", None],
    ...                          "phone": [None, "0912-345-678", None]})).tolist()
    ['c:c1', 'n:王小明|0912-345-678', <NA>]
    """
    return _person_key(_ids(frame), _names(frame), frame.get("phone"))


def _ids(frame: pd.DataFrame) -> pd.Series:
    if "customer_id" in frame:
        return _id_key(frame["customer_id"])
    return pd.Series(pd.NA, index=frame.index, dtype="string")


def _names(frame: pd.DataFrame) -> pd.Series:
    return name_key(frame["name"]) if "name" in frame else pd.Series(pd.NA, index=frame.index, dtype="string")


def _person_key(ids: pd.Series, names: pd.Series, phone: pd.Series | None) -> pd.Series:
    """:func:`person_key` from keys already folded (a million-row log folds its names once, not per use)."""
    by_name = "n:" + names
    if phone is not None:
        phone = phone.astype("string")
        by_name = by_name.where(phone.isna(), by_name + "|" + phone)
    return ("c:" + ids).fillna(by_name).astype("string")


def link_followups(contacts: pd.DataFrame | None, followups: pd.DataFrame) -> pd.DataFrame:
    """Which contact each follow-up row belongs to: ``key`` (as :func:`person_key`) and
    ``same_name`` (how many contacts share its name when that made it ambiguous, else 0).

    By customer id when both sides have it; else by name when exactly one contact has that name
    (and the two ids do not disagree); a name that several contacts share is not guessed: the
    row stays its own person and ``same_name`` says how many it could have been.
    """
    f_id, f_name = _ids(followups), _names(followups)
    own = _person_key(f_id, f_name, None)  # a log row's own key leaves its phone out
    out = pd.DataFrame({"key": own, "same_name": 0}, index=followups.index)
    if contacts is None or not len(contacts):
        return out
    c_id, c_name = _ids(contacts), _names(contacts)
    c_key = _person_key(c_id, c_name, contacts.get("phone"))
    by_id = f_id.isin(set(c_id.dropna())).fillna(False)
    # people, not rows: a contact listed twice (same name and phone) is one person, never "two of that name"
    person = pd.DataFrame({"name": c_name, "key": c_key, "id": c_id}).dropna(subset=["key"]).drop_duplicates("key")
    counts = person["name"].value_counts()
    only = person[person["name"].map(counts).eq(1).fillna(False)]
    unique = pd.Series(only["key"].to_numpy(), index=only["name"].to_numpy())
    unique_id = pd.Series(only["id"].to_numpy(), index=only["name"].to_numpy())
    target = f_name.map(unique)
    ids_agree = f_id.isna() | f_name.map(unique_id).isna()
    by_name = ~by_id & target.notna() & ids_agree
    out.loc[by_name, "key"] = target[by_name]
    shared = f_name.map(counts).fillna(0).astype(int)
    out.loc[~by_id & ~by_name & (shared > 1), "same_name"] = shared[~by_id & ~by_name & (shared > 1)]
    return out


def schedule(
    contacts: pd.DataFrame | None,
    followups: pd.DataFrame | None,
    as_of: pd.Timestamp,
    settings: Settings,
    link: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per person: last contact, touches, intent, next follow-up date, days overdue, status.

    Contacts come from the contact list (its 首次接觸日, 最後聯絡日, 聯絡次數, 意向等級) and the
    follow-up log (its dates count as touches, its latest intent wins; rows joined to contacts by
    :func:`link_followups`, or by ``link`` when the caller has it already); either may be missing.
    A contact listed twice is one person (its dates and counts combined); rows with neither name
    nor customer id are left out (parse reports them). A contact whose only date is 首次接觸日 was
    last contacted then.
    """
    parts = []
    if contacts is not None and len(contacts):
        c = pd.DataFrame(
            {
                "key": person_key(contacts),
                "name": contacts["name"],
                "customer_id": contacts.get("customer_id"),
                "first_contact": pd.to_datetime(contacts.get("first_contact")),
                "last_contact": pd.to_datetime(contacts.get("last_contact")),
                "touches": pd.to_numeric(contacts.get("touches"), errors="coerce"),
                "intent": contacts.get("intent"),
                "stage": contacts.get("stage"),
                "from_list": True,
                "_row": contacts.index,
            }
        ).dropna(subset=["key"])
        c = (
            c.groupby("key", sort=False)
            .agg(
                name=("name", "first"),
                customer_id=("customer_id", "first"),
                first_contact=("first_contact", "min"),
                last_contact=("last_contact", "max"),
                touches=("touches", "max"),
                intent=("intent", "first"),
                stage=("stage", "first"),
                from_list=("from_list", "first"),
                _row=("_row", "first"),
            )
            .reset_index()
        )
        parts.append(c)
    log = None
    if followups is not None and len(followups):
        link = link_followups(contacts, followups) if link is None else link
        f = followups.assign(key=link["key"]).dropna(subset=["date", "key"])
        f = f.sort_values("date", kind="stable")
        log = f.groupby("key", sort=False).agg(
            name=("name", "last") if "name" in f else ("key", "last"),
            customer_id=("customer_id", "last") if "customer_id" in f else ("key", "last"),
            log_first=("date", "min"),
            log_last=("date", "max"),
            log_touches=("date", "size"),
            log_intent=("intent", "last"),  # the last intent recorded (groupby's last skips blanks)
            last_channel=("channel", "last"),
            last_result=("result", "last"),
        )
        if "customer_id" not in f:
            log["customer_id"] = pd.NA
    if not parts and log is None:
        return pd.DataFrame()
    if parts:
        people = pd.concat(parts, ignore_index=True)
        if log is not None:
            people = people.merge(
                log.drop(columns=["name", "customer_id"]), left_on="key", right_index=True, how="outer"
            )
            for col in ("name", "customer_id"):  # a log-only person, or a contact the log names more fully
                people[col] = people[col].astype(object).fillna(people["key"].map(log[col]).astype(object))
            people["from_list"] = people["from_list"].astype("boolean").fillna(False)
    else:
        people = log.reset_index().assign(
            first_contact=pd.NaT,
            last_contact=pd.NaT,
            touches=np.nan,
            intent=pd.NA,
            stage=pd.NA,
            from_list=False,
            _row=pd.NA,
        )
    for col in ("log_first", "log_last", "log_touches", "log_intent", "last_channel", "last_result"):
        if col not in people:
            people[col] = pd.NA
    first = pd.concat([pd.to_datetime(people["first_contact"]), pd.to_datetime(people["log_first"])], axis=1).min(
        axis=1
    )
    last = pd.concat([pd.to_datetime(people["last_contact"]), pd.to_datetime(people["log_last"])], axis=1).max(axis=1)
    last = last.fillna(first)  # met once (首次接觸日) and not since: that meeting is the last contact
    touches = pd.concat(
        [pd.to_numeric(people["touches"], errors="coerce"), pd.to_numeric(people["log_touches"], errors="coerce")],
        axis=1,
    ).max(axis=1)
    touches = touches.where(touches.notna(), last.notna().astype(int))
    intent = people["log_intent"].astype("string").fillna(people["intent"].astype("string"))
    nxt, overdue, by_curve, rule_days = _due(last, intent, touches, as_of, settings, first)
    never = last.isna()
    stage = people["stage"].astype("string")
    won = stage.eq(WON_STAGE).fillna(False).to_numpy()
    dead = (intent.eq("C").fillna(False) & ((as_of - last).dt.days > DEAD_C_PERIODS * settings.cadence_c)).to_numpy()
    status = np.select(
        [won, dead, never, overdue > 0, overdue == 0, overdue >= -3],
        [STATUS_WON, STATUS_DEMOTE, STATUS_NEW, STATUS_OVERDUE, STATUS_TODAY, STATUS_SOON],
        STATUS_LATER,
    )
    curve = "初次接觸曲線 " + "/".join(map(str, settings.first_touch_days)) + " 天"
    out = pd.DataFrame(
        {
            "key": people["key"],
            "name": people["name"],
            "customer_id": people["customer_id"],
            "intent": intent,
            "stage": stage,
            "first_contact": first,
            "last_contact": last,
            "touches": touches.astype("Int64"),
            "cadence": np.where(
                never,
                "尚未接觸",
                np.where(
                    by_curve,
                    curve,
                    "意向 " + intent.fillna("未分級") + " 每 " + cadence_days(intent, settings).astype(str) + " 天",
                ),
            ),
            "next_followup": nxt,
            "days_overdue": overdue.clip(lower=0).astype("Int64"),
            "status": status,
            "last_channel": people["last_channel"],
            "last_result": people["last_result"],
            "from_list": people["from_list"],
            "_row": people["_row"],
            "rule": np.where(never, "never", np.where(by_curve, "curve", "cadence")),
            "rule_days": rule_days.astype("Int64"),
        }
    )
    return out.iloc[schedule_order(out)].reset_index(drop=True)


def schedule_order(plan: pd.DataFrame) -> np.ndarray:
    """Row positions of ``plan`` in the 跟進排程 order (issue 15): today's work first — overdue,
    due today and never contacted together — by intent H→A→B→未分級→C, then funnel stage
    關鍵客戶→目標客戶→潛在客戶→未填→目標市場, then days overdue capped at
    :data:`URGENCY_CAP_DAYS` (most first), then the most recently contacted; then due within
    3 days and later by date; then 建議降級/停止接觸, then 已成交.
    """
    group = pd.Series(plan["status"]).map({s: i for i, s in enumerate(STATUS_ORDER)})
    group = group.where(~plan["status"].isin(DUE_STATUSES), 0)
    today = group.eq(0)
    intent = plan["intent"].astype("string").map(INTENT_RANK).astype("Float64").fillna(UNKNOWN_RANK)
    stage = plan["stage"].astype("string").map(STAGE_RANK).astype("Float64").fillna(UNKNOWN_RANK)
    urgency = pd.to_numeric(plan["days_overdue"]).astype("Float64").fillna(0).clip(upper=URGENCY_CAP_DAYS)
    last = pd.to_datetime(plan["last_contact"])
    keys = pd.DataFrame(
        {
            "group": group.to_numpy(),
            "intent": intent.where(today, 0).to_numpy(),
            "stage": stage.where(today, 0).to_numpy(),
            "urgency": -urgency.where(today, 0).to_numpy(dtype=float),
            "recent": -(last - pd.Timestamp(0)).dt.days.where(today, 0).fillna(0).to_numpy(dtype=float),
            "next": pd.to_datetime(plan["next_followup"]).to_numpy(),
        }
    )
    return np.lexsort([keys[k].to_numpy() for k in ("next", "recent", "urgency", "stage", "intent", "group")])
