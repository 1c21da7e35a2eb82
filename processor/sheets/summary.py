"""The 摘要 sheet: what was found in the input, the analysers' headline blocks, and notes on the run."""

from __future__ import annotations

import pandas as pd

from processor.errors import WARNING, Problem
from processor.settings import Settings
from processor.sheets.report import MAX_COPIED_CSV_ROWS, Block, ResultSheet


def overview_sheet(
    raw_sheets: list,
    parsed: list,
    problems: list[Problem],
    blocks: list[Block],
    as_of: pd.Timestamp,
    source_name: str,
    previous: list[str],
    settings: Settings,
) -> ResultSheet:
    """摘要: the sheets recognised (name, kind, rows, header row), then ``blocks`` (each analyser's
    headline); its lead line says the basis date, the problem counts, sheets too long to copy,
    blank loan forms and result sheets of an earlier run (``previous``) that were replaced."""
    n_errors = sum(p.severity != WARNING for p in problems)
    found_table = pd.DataFrame(
        {
            "工作表": [s.sheet for s in parsed],
            "類型": [s.kind.label for s in parsed],
            "資料列數": [len(s.frame) for s in parsed],
            "標題列": [s.header_row for s in parsed],
        }
    )
    head = Block(found_table, title="辨識到的工作表", as_table=False)
    big = [r for r in raw_sheets if not r.formatted_copy and not r.result and len(r.grid) > MAX_COPIED_CSV_ROWS]
    blank_forms = [s.sheet for s in parsed if s.layout == "form" and not len(s.frame)]
    facts = (
        [
            f"{r.name}.csv 有 {len(r.grid):,} 列，"
            f"超過 {MAX_COPIED_CSV_ROWS:,} 列，未複製進本活頁簿（原始 CSV 保持不變）。"
            if r.source == "csv"
            else f"工作表「{r.name}」有 {len(r.grid):,} 列，"
            f"超過 {MAX_COPIED_CSV_ROWS:,} 列，未複製進本活頁簿（原始檔保持不變）。"
            for r in big
        ]
        + [f"「{name}」是空白的貸款懶人包表單，未計入申請人。" for name in blank_forms]
        + (
            [f"這是之前的結果檔：上次的結果工作表（{'、'.join(previous)}）未當成資料，已換成本次的結果。"]
            if previous
            else []
        )
    )
    return ResultSheet(
        "摘要",
        (head, *blocks),
        ("摘要是每項分析的重點數字與圖；第一欄是項目或分類，右邊是它的數值。各表的算法見 說明 的各段。",),
        lead=" ".join(
            [
                f"結果摘要　{source_name}　基準日 {settings.date_text(as_of)}；資料問題 {n_errors} 個錯誤、"
                f"{len(problems) - n_errors} 個提醒（見 資料檢查）。",
                *facts,
            ]
        ),
    )
