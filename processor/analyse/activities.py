"""Warm-up activities (暖線活動, seed 000 其他 一): the events and whether each debrief is written."""

from __future__ import annotations

import pandas as pd

DEBRIEF = ("went_well", "watch_out", "next_time")  # 做得很棒的點 / 要注意的點 / 下次可以怎麼做


def activity_review(events: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The events by date, with how many of the three debrief fields are written and whether the
    event has been held by ``as_of`` (``held``) or is still to come (``upcoming``; an event without
    a readable date is neither).

    >>> events = pd.DataFrame({"date": pd.to_datetime(["2024-05-01", "2024-03-01"]), "went_well": ["好", None],
    ...                        "watch_out": [None, None], "next_time": [None, None]})
    >>> activity_review(events, pd.Timestamp("2024-04-01"))[["debrief_written", "held", "upcoming"]].values.tolist()
    [[0, True, False], [1, False, True]]
    """
    events = events.sort_values("date", kind="stable")
    return events.assign(
        debrief_written=events[list(DEBRIEF)].notna().sum(axis=1),
        held=events["date"] <= as_of,
        upcoming=events["date"] > as_of,
    )
