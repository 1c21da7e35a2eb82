"""The 今日聯絡 sheet: today's call sheet, first in every result that has people to call.

Layout only: who is on it and in which order is :func:`processor.analyse.calls.today_calls`.
Printed on A4 portrait, one page wide, with a box to tick and empty 結果 / 下次日期 columns the
rep fills in by hand; 來源 links to the sheet with the whole list.
"""

from __future__ import annotations

import pandas as pd

from processor.settings import Settings
from processor.sheets.report import Block, ResultSheet

TODAY_SHEET = "今日聯絡"
#: one line for the 說明 sheet (and this sheet's first line): what it is, how to read its first column
TODAY_DESCRIPTION = "今日聯絡：今天要打的人，一列一位，由上往下打；打完在第一欄「☐」打勾，結果與下次日期手寫或直接填。"
#: the method note for the 說明 sheet's section on 今日聯絡
TODAY_METHOD = (
    "名單來源與順序：① 跟進排程 今天到期的人（逾期、今天、尚未接觸），依跟進排程的順序（意向 H→A→B→未分級→C、"
    "再依階段）；"
    "② 其餘名單的前幾名輪流排入（沉默排名第 1、精準名單第 1、沉默排名第 2…）。同一人只列一次：「來源」"
    "是第一個名單（點一下跳過去），他也在的其他名單寫在「為什麼今天」最後（也在…）。"
    "列數由 設定 的「今日聯絡列數」決定（預設 20）：跟進到期的人先排，但其他名單有人時至少留一半給它們。"
    "為什麼今天：跟進＝逾期幾天、用的是哪個節奏（種子 001 初次接觸 1/3/7 天、種子 004 意向 H/A/B/C）；"
    "沉默排名只取不是「活躍」的客戶（種子 004：活躍客戶維持關係即可）；沉默＝平常多久來一次、已多久沒來、"
    "消費金額排在前幾 %（種子 004）；精準名單＝購買機率（只列沒有已知結果的目標組，種子 000/001）。"
    "建議做法：業務自己寫的「夥伴需求點/預計下一步」，沒寫時依種子 000（二.3 資料未滿 6 成先聊近況收集資料、三 "
    "需求未確認先確認需求、"
    "四 已確認就邀約；括號內是 FORMHTCD 還缺的項目）；沉默客戶用種子 004 的喚回做法；"
    "精準名單的人先確認需求再介紹商品（種子 000 三、四）。"
)
CHECK = "☐"
#: column widths (characters): about 125 in all, so the printed page stays readable at one page wide
WIDTHS = {
    "check": 5,
    "who": 10,
    "phone": 13,
    "owner": 8,
    "reason": 24,
    "action": 22,
    "last_contact": 11,
    "result": 14,
    "next_date": 10,
    "sources": 10,
}
COLUMNS = {
    "check": "打勾",
    "who": "姓名/客戶編號",
    "phone": "電話",
    "owner": "負責業務",
    "reason": "為什麼今天",
    "action": "建議做法",
    "last_contact": "上次聯絡",
    "result": "結果",
    "next_date": "下次日期",
    "sources": "來源",
}


def today_sheet(calls: list, settings: Settings, as_of) -> tuple[ResultSheet, dict] | None:
    """(the 今日聯絡 sheet, its --json summary) from the analysers' call lists; None when no list
    has anyone to call today."""
    from processor.analyse.calls import today_calls

    people = today_calls(calls, settings.call_sheet_rows)
    if not len(people):
        return None
    c = COLUMNS
    who = people["name"].astype("string").where(people["name"].notna(), people["customer_id"].astype("string"))
    also = people["sources"].str.partition("、")[2]  # the lists after the first, named in the reason
    reason = people["reason"].astype("string")
    reason = reason.where(also.eq(""), reason + "；也在" + also)
    frame = pd.DataFrame(
        {
            c["check"]: CHECK,
            c["who"]: who.to_numpy(),
            c["phone"]: people["phone"].astype("string").to_numpy(),
            c["owner"]: people["owner"].astype("string").to_numpy(),
            c["reason"]: reason.to_numpy(),
            c["action"]: people["action"].astype("string").to_numpy(),
            c["last_contact"]: pd.to_datetime(people["last_contact"]).to_numpy(),
            c["result"]: None,
            c["next_date"]: None,
            c["sources"]: people["sheet"].to_numpy(),
        }
    )
    if people["owner"].dropna().nunique() < 2:  # one rep's own file: the column would only repeat their name
        frame = frame.drop(columns=c["owner"])
    if frame[c["phone"]].isna().all():
        frame = frame.drop(columns=c["phone"])
    main = Block(
        frame,
        formats={c["last_contact"]: "yyyy/mm/dd", c["next_date"]: "yyyy/mm/dd"},
        widths={name: WIDTHS[key] for key, name in c.items() if name in frame.columns},
        sheet_links=(c["sources"],),
    )
    totals = {cl.sheet: cl.total or len(cl.frame) for cl in calls}
    taken = {sheet: int(people["sources"].str.split("、").map(lambda s, x=sheet: x in s).sum()) for sheet in totals}
    rest = pd.DataFrame(
        {"名單": list(totals), "今天列入": [taken[s] for s in totals], "名單上的人": list(totals.values())}
    )
    links = Block(rest, title="其餘的人在各自的工作表（點名單名稱過去）", as_table=False, sheet_links=("名單",))
    lead = f"{TODAY_DESCRIPTION}　共 {len(people)} 位，基準日 {settings.date_text(pd.Timestamp(as_of))}"
    notes = (TODAY_METHOD, f"這次列出 {len(people)} 位（設定「今日聯絡列數」{settings.call_sheet_rows}）。")
    due_sheets = {cl.sheet for cl in calls if cl.due}
    summary = {
        "rows": int(len(people)),
        "due_listed": int(people["sheet"].isin(due_sheets).sum()),
        "by_source": {s: taken[s] for s in totals},
    }
    return ResultSheet(TODAY_SHEET, (main, links), notes, lead=lead, portrait=True, front=True), summary
