"""problem_kinds: the data check grouped by kind, with true row counts and IDs masked."""

from __future__ import annotations

from processor.errors import ERROR, MAX_PROBLEMS_PER_CHECK, WARNING, Problem
from processor.errors import capped as _capped
from processor.sheets.check import problem_kinds


def test_a_capped_check_counts_every_bad_row_not_only_the_listed_ones():
    found = [Problem("名單", row, "生日", "85/13/40", "日期無法辨識", "請寫成 1996-03-12") for row in range(2, 1002)]
    capped = _capped(found)
    assert len(capped) == MAX_PROBLEMS_PER_CHECK + 1  # 200 rows listed and one line for the other 800
    other = [Problem("名單", 3, "電話", "x", "電話格式不對", "f", WARNING)] * 3
    kinds = problem_kinds(other + capped)
    assert [(k.severity, k.column, k.problem, k.count) for k in kinds] == [
        (ERROR, "生日", "日期無法辨識", 1000),
        (WARNING, "電話", "電話格式不對", 3),
    ]


def test_a_column_that_holds_an_id_number_is_masked():
    kinds = problem_kinds([Problem("名單", 2, "A123456789", None, "欄名不認得", "f", WARNING)])
    assert kinds[0].column == "A12*****89"
