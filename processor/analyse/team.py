"""The manager's roll-up (團隊總覽): one row per rep from the newest result of each, plus the team.

Each result carries its own figures (:func:`team_facts`, the same numbers as its ``--json``
summary): people due today and overdue (seed 004 cadence), the funnel by stage (seed 001 客戶漏斗),
profile completeness bands (seed 000 FORMHTCD, 60–70% after the first meeting), the intent mix
(H/A/B/C), silent high-value customers (seed 004 優先聯絡) and the precision list's size and
expected profit (seed 000). :func:`roll_up` lays them side by side and adds the team total; a
rep whose newest file failed is a row that says so, never zeros. Counts only: no personal data.
"""

from __future__ import annotations

import pandas as pd

from processor.read.schema import FUNNEL_STAGES, INTENT_LEVELS

COMPLETENESS_BANDS = ("0–30%", "31–60%", "61–70%", "71–100%")
STATUS_DONE, STATUS_FAILED, STATUS_UNKNOWN = "完成", "失敗", "無摘要資料"
TOTAL = "團隊合計"


def team_facts(summary: dict, rep: str = "") -> dict:
    """The figures of one result the roll-up adds up, from its ``--json`` summary.

    >>> team_facts({"as_of": "2024-06-28", "contacts": {"by_status": {"逾期": 3, "今天": 1, "尚未接觸": 2}},
    ...             "precision_list": [{"recommended": 40, "expected_profit_recommended": 9000.0}]},
    ...            "阿明")["due_today"]
    3
    """
    contacts = summary.get("contacts", {})
    status = contacts.get("by_status", {})
    lists = summary.get("precision_list", [])
    return {
        "rep": rep,
        "as_of": summary.get("as_of"),
        "file": summary.get("file"),
        "due_today": int(status.get("今天", 0)) + int(status.get("尚未接觸", 0)),
        "overdue": int(status.get("逾期", 0)),
        "stage": {k: int(v) for k, v in contacts.get("by_stage", {}).items()},
        "completeness": {k: int(v) for k, v in contacts.get("completeness", {}).items()},
        "intent": {k: int(v) for k, v in contacts.get("by_intent", {}).items()},
        "silent_high_value": int(summary.get("transactions", {}).get("call_first", 0)),
        "list_size": int(sum(x.get("recommended", 0) for x in lists)),
        "expected_profit": float(sum(x.get("expected_profit_recommended", 0.0) for x in lists)),
    }


#: the roll-up's number columns, in order: (label, how to read it from team facts)
def _columns() -> list[tuple[str, callable]]:
    cols = [("今天到期", lambda f: f["due_today"]), ("逾期", lambda f: f["overdue"])]
    cols += [(f"階段:{s}", lambda f, s=s: f["stage"].get(s, 0)) for s in FUNNEL_STAGES]
    cols += [(f"完整度 {b}", lambda f, b=b: f["completeness"].get(b, 0)) for b in COMPLETENESS_BANDS]
    cols += [(f"意向 {i}", lambda f, i=i: f["intent"].get(i, 0)) for i in INTENT_LEVELS]
    cols += [
        ("沉默高價值", lambda f: f["silent_high_value"]),
        ("名單人數", lambda f: f["list_size"]),
        ("預期利潤", lambda f: f["expected_profit"]),
    ]
    return cols


NUMBER_COLUMNS = tuple(label for label, _ in _columns())


def roll_up(entries: list[dict]) -> pd.DataFrame:
    """One row per rep (業務, 檔案, 狀態, 基準日, then :data:`NUMBER_COLUMNS`) and the 團隊合計 row.

    ``entries``: dicts with ``rep``, ``file``, ``status`` (:data:`STATUS_DONE` …), ``note`` and, for a
    finished result, ``facts`` (:func:`team_facts`). A failed rep's numbers stay empty (not 0) and
    the total says how many reps it covers.
    """
    cols = _columns()
    rows = []
    for e in entries:  # one per rep: a handful
        facts = e.get("facts")
        numbers = (
            {label: get(facts) for label, get in cols} if facts is not None else {label: None for label, _ in cols}
        )
        status = e["status"] + (f"：{e['note']}" if e.get("note") else "")
        rows.append(
            {
                "業務": e["rep"],
                "檔案": e["file"],
                "狀態": status,
                "基準日": facts.get("as_of") if facts else None,
                **numbers,
            }
        )
    table = pd.DataFrame(rows, columns=["業務", "檔案", "狀態", "基準日", *NUMBER_COLUMNS])
    done = table[[e["status"] == STATUS_DONE for e in entries]] if entries else table
    total = {
        "業務": TOTAL,
        "檔案": f"{len(done)} / {len(table)} 位業務有結果",
        "狀態": "",
        "基準日": None,
        **{c: (done[c].astype(float).sum() if c == "預期利潤" else int(done[c].sum())) for c in NUMBER_COLUMNS},
    }
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)
