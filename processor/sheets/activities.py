"""The 暖線活動 block on 摘要 (seed 000 其他 一) and the pipeline analyser that makes it."""

from __future__ import annotations

import pandas as pd

from processor.analyse.activities import DEBRIEF, activity_review
from processor.read.schema import ACTIVITIES
from processor.sheets.contract import Context, Contribution
from processor.sheets.report import Block


def analyse_activities(ctx: Context) -> Contribution | None:
    """A 暖線活動 block for 摘要: each event with its sign-ups and whether the debrief is written."""
    sheets = ctx.sheets.get("activities", [])
    if not sheets:
        return None
    events = activity_review(pd.concat([s.frame for s in sheets]), ctx.as_of)
    label = {f.key: f.label for f in ACTIVITIES.fields}
    table = pd.DataFrame(
        {
            label["title"]: events["title"],
            label["date"]: events["date"],
            label["venue"]: events["venue"],
            label["signups"]: events["signups"],
            label["price"]: events["price"],
            "檢討已寫": events["debrief_written"].astype(str) + f"/{len(DEBRIEF)}",
            "狀態": events["upcoming"].map({True: "即將舉辦", False: "已舉辦"}),
        }
    )
    missing = int((events["held"] & (events["debrief_written"] < len(DEBRIEF))).sum())
    note = (
        f"暖線活動（已舉辦但檢討未寫完：{missing} 場；結束後請與推薦人討論 做得很棒的點 / 要注意的點 / 下次可以怎麼做）"
    )
    return Contribution(
        summary_blocks=[
            Block(table, title=note, formats={label["date"]: "yyyy/mm/dd", label["price"]: "#,##0"}, as_table=False)
        ],
        summary={"activities": {"events": int(len(events)), "debrief_missing": missing}},
    )
