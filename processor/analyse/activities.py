"""Warm-up activities (暖線活動, seed 000 其他 一): the events and their debriefs, for 摘要."""

from __future__ import annotations

import pandas as pd

from processor.sheets.report import Block
from processor.read.schema import ACTIVITIES


def analyse_activities(ctx):
    """A 暖線活動 block for 摘要: each event with its sign-ups and whether the debrief is written."""
    from processor.sheets.contract import Contribution

    sheets = ctx.sheets.get("activities", [])
    if not sheets:
        return None
    events = pd.concat([s.frame for s in sheets]).sort_values("date", kind="stable")
    label = {f.key: f.label for f in ACTIVITIES.fields}
    debrief = events[["went_well", "watch_out", "next_time"]].notna().sum(axis=1)
    table = pd.DataFrame({
        label["title"]: events["title"], label["date"]: events["date"], label["venue"]: events["venue"],
        label["signups"]: events["signups"], label["price"]: events["price"],
        "檢討已寫": debrief.astype(str) + "/3",
        "狀態": (events["date"] > ctx.as_of).map({True: "即將舉辦", False: "已舉辦"}),
    })
    missing = int(((events["date"] <= ctx.as_of) & (debrief < 3)).sum())
    note = f"暖線活動（已舉辦但檢討未寫完：{missing} 場；結束後請與推薦人討論 做得很棒的點 / 要注意的點 / 下次可以怎麼做）"
    return Contribution(summary_blocks=[Block(table, title=note, formats={label["date"]: "yyyy/mm/dd",
                                                                          label["price"]: "#,##0"}, as_table=False)],
                        summary={"activities": {"events": int(len(events)), "debrief_missing": missing}})
