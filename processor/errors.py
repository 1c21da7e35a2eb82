"""The one error vocabulary for everything that reaches a person.

A :class:`Problem` is one finding about the input (sheet, row, column, value, what is wrong,
how to fix it); the 資料檢查 sheet is a list of them. :class:`UnusableInput` is raised when a
file cannot be used at all (not a workbook, encrypted, empty) and carries one readable line.
A check that finds many bad rows lists the first :data:`MAX_PROBLEMS_PER_CHECK` and counts the
rest in one line (:func:`capped`, read back by :func:`capped_rest`).

Standard library only: every layer imports this module, the drop-folder service included,
which must start without pandas. The 資料檢查 table is :mod:`processor.sheets.check`; masking
ID numbers in problems is :func:`processor.privacy.mask_problem_ids`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

#: severity labels as they appear in 資料檢查
ERROR = "錯誤"
WARNING = "提醒"

MAX_PROBLEMS_PER_CHECK = 200  # per sheet, column and kind of problem; the rest are counted in one line
#: appended to the problem of the one line that counts the rest (:func:`capped`; read back by :func:`capped_rest`)
CAPPED_SUFFIX = "（同樣的問題還有 {rest} 列，未逐列列出）"
_CAPPED = re.compile(re.escape(CAPPED_SUFFIX.split("{rest}")[0]) + r"(\d+)" + re.escape(CAPPED_SUFFIX.split("{rest}")[1])
                     + "$")
#: where an ID number (身分證字號 / 居留證號) may sit inside longer text, after NFKC: processor.privacy
#: masks what passes the checksum, and the drop-folder service redacts every match from what it logs
ID_CANDIDATE = r"(?<![A-Za-z0-9])[A-Za-z][1289A-Da-d]\d{8}(?!\d)"


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


def capped(found: list[Problem]) -> list[Problem]:
    """The first :data:`MAX_PROBLEMS_PER_CHECK` problems of one check, and one line counting the rest.

    >>> rows = capped([Problem("s", r, "日期", "x", "日期無法辨識", "f") for r in range(1, 206)])
    >>> len(rows), rows[-1].value, capped_rest(rows[-1].problem)
    (201, '另有 5 列', ('日期無法辨識', 5))
    """
    if len(found) <= MAX_PROBLEMS_PER_CHECK:
        return found
    first = found[0]
    rest = len(found) - MAX_PROBLEMS_PER_CHECK
    return found[:MAX_PROBLEMS_PER_CHECK] + [Problem(first.sheet, None, first.column, f"另有 {rest} 列",
                                                     first.problem + CAPPED_SUFFIX.format(rest=rest),
                                                     first.fix, first.severity)]


def capped_rest(problem: str) -> tuple[str, int]:
    """A problem text without the :data:`CAPPED_SUFFIX`, and how many rows that suffix counts (0 if none).

    >>> capped_rest("日期無法辨識" + CAPPED_SUFFIX.format(rest=800))
    ('日期無法辨識', 800)
    """
    found = _CAPPED.search(problem)
    return (problem[:found.start()], int(found.group(1))) if found else (problem, 0)
