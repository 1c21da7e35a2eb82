"""The 摘要 sheet: what was found in the input, the analysers' headline blocks, and notes on the run."""

from __future__ import annotations

import pandas as pd

from processor.errors import WARNING, Problem
from processor.sheets.report import MAX_COPIED_CSV_ROWS, Block, ResultSheet


def overview_sheet(raw_sheets: list, parsed: list, problems: list[Problem], blocks: list[Block], as_of: pd.Timestamp,
                   source_name: str, previous: list[str]) -> ResultSheet:
    """摘要: the sheets recognised (name, kind, rows, header row), then ``blocks`` (each analyser's
    headline), with notes on the basis date, the problem counts, CSVs too long to copy, blank loan
    forms and result sheets of an earlier run (``previous``) that were replaced."""
    n_errors = sum(p.severity != WARNING for p in problems)
    found_table = pd.DataFrame({
        "工作表": [s.sheet for s in parsed], "類型": [s.kind.label for s in parsed],
        "資料列數": [len(s.frame) for s in parsed], "標題列": [s.header_row for s in parsed],
    })
    head = Block(found_table, title="辨識到的工作表", as_table=False)
    big = [r for r in raw_sheets if r.source == "csv" and len(r.grid) > MAX_COPIED_CSV_ROWS]
    blank_forms = [s.sheet for s in parsed if s.layout == "form" and not len(s.frame)]
    return ResultSheet("摘要", (head, *blocks), (
        f"精準名單 結果摘要　{source_name}",
        f"基準日 {as_of:%Y/%m/%d}；資料問題 {n_errors} 個錯誤、{len(problems) - n_errors} 個提醒（見 資料檢查）。",
        *[f"{r.name}.csv 有 {len(r.grid):,} 列，超過 {MAX_COPIED_CSV_ROWS:,} 列，未複製進本活頁簿（原始 CSV 保持不變）。"
          for r in big],
        *[f"「{name}」是空白的貸款懶人包表單，未計入申請人。" for name in blank_forms],
        *([f"這是之前的結果檔：上次的結果工作表（{'、'.join(previous)}）未當成資料，已換成本次的結果。"] if previous else []),
    ))
