"""The one error vocabulary for everything that reaches a person.

A :class:`Problem` is one finding about the input (sheet, row, column, value, what is wrong,
how to fix it); the 資料檢查 sheet is a list of them. :class:`UnusableInput` is raised when a
file cannot be used at all (not a workbook, encrypted, empty) and carries one readable line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import pandas as pd

#: severity labels as they appear in 資料檢查
ERROR = "錯誤"
WARNING = "提醒"


@dataclass(frozen=True)
class Problem:
    """One finding about the input, addressed the way a rep finds it in Excel.

    >>> Problem("名單", 12, "生日", "85/13/40", "日期無法辨識", "請寫成 85/03/12 或 1996-03-12").row
    12
    """

    sheet: str
    row: int | None
    column: str | None
    value: str | None
    problem: str
    fix: str
    severity: str = ERROR

    def as_row(self) -> dict:
        return asdict(self)


def mask_problem_ids(problems: list[Problem]) -> list[Problem]:
    """The problems with every valid ID number in their value and column text masked: a
    problem about any column may quote a cell that holds one (DESIGN §6: IDs masked in outputs).

    >>> mask_problem_ids([Problem("s", 2, "備註", "A123456789 王", "x", "y")])[0].value
    'A12*****89 王'
    """
    from processor.privacy import mask_ids_in_text

    if not problems:
        return problems
    values = mask_ids_in_text(pd.Series([p.value for p in problems], dtype=object)).tolist()
    columns = mask_ids_in_text(pd.Series([p.column for p in problems], dtype=object)).tolist()
    return [p if (value is p.value and column is p.column) else replace(p, value=value, column=column)
            for p, value, column in zip(problems, values, columns)]


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
    :func:`mask_problem_ids`). A check capped at ``parse.MAX_PROBLEMS_PER_CHECK`` rows counts its
    summary line as the rows it stands for, so 1,000 bad rows count 1,000, not 201.

    >>> [(k.column, k.count) for k in problem_kinds([Problem("s", 2, "生日", "x", "日期無法辨識", "f")] * 2)]
    [('生日', 2)]
    """
    from processor.read.parse import capped_rest

    counts: dict[tuple, int] = {}
    for p in mask_problem_ids(problems):
        text, rest = capped_rest(p.problem)
        key = (p.severity, p.sheet, p.column, text)
        counts[key] = counts.get(key, 0) + (rest or 1)
    kinds = [ProblemKind(*key, count) for key, count in counts.items()]
    return sorted(kinds, key=lambda k: (k.severity != ERROR, -k.count))


class UnusableInput(Exception):
    """The file as a whole cannot be used; the message is one line a rep can act on.

    The CLI exits 2 with it; the drop-folder service moves the file to failed/ with it. The
    message never carries cell contents that could be personal data (names, IDs, phones).
    """

    def __init__(self, what: str, fix: str = "", *, en: str = "", fix_en: str = "",
                 sheet: str | None = None, row: int | None = None, column: str | None = None):
        self.what = what
        self.fix = fix
        self.en = en  # what, in English
        self.fix_en = fix_en  # how to fix, in English
        self.sheet = sheet  # where, when the problem has a place
        self.row = row
        self.column = column
        super().__init__(f"{what}{'；' + fix if fix else ''}")

    def english(self) -> str:
        """One English line: what went wrong and how to fix it."""
        what = self.en or self.what
        return f"{what}; {self.fix_en}" if self.fix_en else what
