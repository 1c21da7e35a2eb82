"""The data check (資料檢查): problems as the sheet's table, and grouped by kind for a shell's summary.

Both show problems the way every shell shows them: errors first, ID numbers masked
(:func:`processor.privacy.mask_problem_ids`), a capped check counted as the rows it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from processor.errors import ERROR, Problem, capped_rest
from processor.privacy import mask_problem_ids
from processor.sheets.report import Block, ResultSheet

PROBLEM_COLUMNS = {
    "severity": "嚴重度",
    "sheet": "工作表",
    "row": "列",
    "column": "欄位",
    "value": "內容",
    "problem": "問題",
    "fix": "如何修正",
}


def problems_frame(problems: list[Problem]) -> pd.DataFrame:
    """Problems as the 資料檢查 table (zh-TW headers), errors first, then by sheet and row."""
    frame = pd.DataFrame([p.as_row() for p in problems], columns=list(PROBLEM_COLUMNS))
    if len(frame):
        frame["_order"] = (frame["severity"] != ERROR).astype(int)
        frame = frame.sort_values(["_order", "sheet", "row"], kind="stable", na_position="first")
        frame = frame.drop(columns="_order")
    frame["row"] = frame["row"].astype("Int64")
    return frame.rename(columns=PROBLEM_COLUMNS).reset_index(drop=True)


@dataclass(frozen=True)
class ProblemKind:
    """One kind of problem: the same text about the same column of the same sheet, and on how many rows."""

    severity: str
    sheet: str
    column: str | None
    problem: str
    count: int


def problem_kinds(problems: list[Problem]) -> list[ProblemKind]:
    """The problems grouped by kind, errors first, then the most frequent; IDs masked (as
    :func:`~processor.privacy.mask_problem_ids`). A check capped at
    :data:`~processor.errors.MAX_PROBLEMS_PER_CHECK` rows counts its
    summary line as the rows it stands for, so 1,000 bad rows count 1,000, not 201.

    >>> [(k.column, k.count) for k in problem_kinds([Problem("s", 2, "生日", "x", "日期無法辨識", "f")] * 2)]
    [('生日', 2)]
    """
    counts: dict[tuple, int] = {}
    for p in mask_problem_ids(problems):
        text, rest = capped_rest(p.problem)
        key = (p.severity, p.sheet, p.column, text)
        counts[key] = counts.get(key, 0) + (rest or 1)
    kinds = [ProblemKind(*key, count) for key, count in counts.items()]
    return sorted(kinds, key=lambda k: (k.severity != ERROR, -k.count))


def check_sheet(problems: list[Problem]) -> ResultSheet:
    """資料檢查: one row per problem (see :func:`problems_frame`), with how to read it."""
    return ResultSheet(
        "資料檢查",
        (Block(problems_frame(problems), widths={"問題": 30, "如何修正": 40}),),
        (
            "嚴重度「錯誤」的值在分析中當作空白；「提醒」是值得確認、但已照常分析的地方。",
            "無法辨識的值不會被猜測或刪除：該格在分析中視為空白；原始資料沒有被修改。",
        ),
        lead="資料檢查：每一列是一個問題，第一欄是嚴重度；照「如何修正」改好再送一次即可。",
    )
