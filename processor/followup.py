"""Follow-up cadence (跟進排程): who is due today, from the contact list and/or the follow-up log.

Seed 001 (the follow-up memory curve: call back within 24 hours, again on day 3 and day 7) and
seed 004 (then by intent level: H daily, A every 3 days, B weekly, C every 15–30 days), with the
day counts in :class:`~processor.settings.Settings`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .settings import Settings
from .values import normalise_text

STATUS_OVERDUE, STATUS_TODAY, STATUS_SOON, STATUS_LATER, STATUS_NEW = "逾期", "今天", "3天內", "未到", "尚未接觸"


def cadence_days(intent: pd.Series, settings: Settings) -> pd.Series:
    """Days between follow-ups for each intent level H/A/B/C (seed 004); unknown → the default."""
    table = {"H": settings.cadence_h, "A": settings.cadence_a, "B": settings.cadence_b, "C": settings.cadence_c}
    return pd.Series(intent, dtype="string").map(table).astype("Float64").fillna(settings.cadence_default).astype(int)


def next_followup(last_contact: pd.Series, intent: pd.Series, touches: pd.Series, settings: Settings,
                  first_contact: pd.Series | None = None) -> pd.Series:
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
    last = pd.to_datetime(pd.Series(last_contact), errors="coerce")
    first = last if first_contact is None else pd.to_datetime(pd.Series(first_contact), errors="coerce").fillna(last)
    n = pd.to_numeric(pd.Series(touches, index=last.index), errors="coerce").fillna(1).clip(lower=1).astype(int)
    early = np.array(settings.first_touch_days, dtype=int)
    in_early = n <= len(early)
    early_days = pd.Series(early[np.clip(n.to_numpy() - 1, 0, len(early) - 1)], index=last.index)
    by_curve = first + pd.to_timedelta(early_days, unit="D")
    by_cadence = last + pd.to_timedelta(cadence_days(pd.Series(intent, index=last.index), settings), unit="D")
    # the early curve never schedules a touch before the last one actually happened
    by_curve = by_curve.where(by_curve > last, by_cadence)
    return by_curve.where(in_early, by_cadence)


def due(last_contact: pd.Series, intent: pd.Series, touches: pd.Series, as_of: pd.Timestamp, settings: Settings,
        first_contact: pd.Series | None = None) -> tuple[pd.Series, pd.Series]:
    """(next follow-up date, days overdue) per contact: :func:`next_followup`, with a contact never
    reached due today (as_of); days overdue = as_of − next date (negative: days still to go).
    The 跟進排程 sheet and the PL_NEXT_FOLLOWUP formula both use it.

    >>> nxt, late = due(pd.Series(pd.to_datetime(["2024-03-01", None])), pd.Series(["A", "H"]), pd.Series([5, None]),
    ...                 pd.Timestamp("2024-03-10"), Settings())
    >>> nxt.dt.strftime("%m-%d").tolist(), late.tolist()
    (['03-04', '03-10'], [6, 0])
    """
    last = pd.to_datetime(pd.Series(last_contact), errors="coerce")
    nxt = next_followup(last, intent, touches, settings, first_contact).where(last.notna(), as_of)
    return nxt, (as_of - nxt).dt.days


def person_key(frame: pd.DataFrame) -> pd.Series:
    """The key that ties log rows to contacts: customer id if typed, else the name (NFKC, no spaces, lower)."""
    cid = normalise_text(frame["customer_id"]).str.lower() if "customer_id" in frame else None
    name = normalise_text(frame["name"]).str.replace(r"\s+", "", regex=True).str.lower() if "name" in frame else None
    if cid is None:
        return "n:" + name
    key = "c:" + cid
    return key.where(cid.notna() & (cid != ""), "n:" + name) if name is not None else key


def schedule(contacts: pd.DataFrame | None, followups: pd.DataFrame | None, as_of: pd.Timestamp,
             settings: Settings) -> pd.DataFrame:
    """One row per person: last contact, touches, intent, next follow-up date, days overdue, status.

    Contacts come from the contact list (its 最後聯絡日, 聯絡次數, 意向等級) and the follow-up log
    (its dates count as touches, its latest intent wins); either may be missing.
    """
    parts = []
    if contacts is not None and len(contacts):
        c = pd.DataFrame({
            "key": person_key(contacts), "name": contacts["name"], "customer_id": contacts.get("customer_id"),
            "first_contact": contacts.get("first_contact"), "last_contact": contacts.get("last_contact"),
            "touches": pd.to_numeric(contacts.get("touches"), errors="coerce"), "intent": contacts.get("intent"),
            "from_list": True, "_row": contacts.index})
        parts.append(c)
    log = None
    if followups is not None and len(followups):
        f = followups.assign(key=person_key(followups)).dropna(subset=["date"])
        f = f[f["key"].notna()]
        f = f.sort_values("date", kind="stable")
        log = f.groupby("key", sort=False).agg(
            name=("name", "last") if "name" in f else ("key", "last"),
            customer_id=("customer_id", "last") if "customer_id" in f else ("key", "last"),
            log_first=("date", "min"), log_last=("date", "max"), log_touches=("date", "size"),
            log_intent=("intent", lambda s: s.dropna().iloc[-1] if s.notna().any() else pd.NA),
            last_channel=("channel", "last"), last_result=("result", "last"))
    if not parts and log is None:
        return pd.DataFrame()
    if parts:
        people = pd.concat(parts, ignore_index=True)
        if log is not None:
            people = people.merge(log.drop(columns=["name", "customer_id"]), left_on="key", right_index=True, how="outer")
            missing_name = people["name"].isna()
            people.loc[missing_name, "name"] = people.loc[missing_name, "key"].map(log["name"])
            people.loc[missing_name, "customer_id"] = people.loc[missing_name, "key"].map(log["customer_id"])
            people["from_list"] = people["from_list"].astype("boolean").fillna(False)
    else:
        people = log.reset_index().assign(first_contact=pd.NaT, last_contact=pd.NaT, touches=np.nan, intent=pd.NA,
                                          from_list=False, _row=pd.NA)
    for col in ("log_first", "log_last", "log_touches", "log_intent", "last_channel", "last_result"):
        if col not in people:
            people[col] = pd.NA
    first = pd.concat([pd.to_datetime(people["first_contact"]), pd.to_datetime(people["log_first"])], axis=1).min(axis=1)
    last = pd.concat([pd.to_datetime(people["last_contact"]), pd.to_datetime(people["log_last"])], axis=1).max(axis=1)
    touches = pd.concat([pd.to_numeric(people["touches"], errors="coerce"),
                         pd.to_numeric(people["log_touches"], errors="coerce")], axis=1).max(axis=1)
    touches = touches.where(touches.notna(), last.notna().astype(int))
    intent = people["log_intent"].astype("string").fillna(people["intent"].astype("string"))
    nxt, overdue = due(last, intent, touches, as_of, settings, first)
    never = last.isna()
    status = np.select([never, overdue > 0, overdue == 0, overdue >= -3],
                       [STATUS_NEW, STATUS_OVERDUE, STATUS_TODAY, STATUS_SOON], STATUS_LATER)
    out = pd.DataFrame({
        "name": people["name"], "customer_id": people["customer_id"], "intent": intent,
        "first_contact": first, "last_contact": last, "touches": touches.astype("Int64"),
        "cadence": np.where(touches <= len(settings.first_touch_days), "初次接觸曲線 1/3/7 天",
                            cadence_days(intent, settings).astype(str) + " 天"),
        "next_followup": nxt, "days_overdue": overdue.clip(lower=0).astype("Int64"), "status": status,
        "last_channel": people["last_channel"], "last_result": people["last_result"],
        "from_list": people["from_list"], "_row": people["_row"],
    })
    order = pd.Categorical(out["status"], [STATUS_OVERDUE, STATUS_TODAY, STATUS_NEW, STATUS_SOON, STATUS_LATER], ordered=True)
    return out.assign(_o=order).sort_values(["_o", "days_overdue", "next_followup"], ascending=[True, False, True],
                                            kind="stable").drop(columns="_o").reset_index(drop=True)
