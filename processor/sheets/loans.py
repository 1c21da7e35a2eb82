"""The 貸款檢核 result sheet (seed 000 其他 二, 貸款懶人包 1–5) and the pipeline analyser that makes it.

The review itself is :func:`processor.analyse.loans.loan_review`; this module lays it out
under the schema's column labels. The ID number is masked in every output (DESIGN §6).
"""

from __future__ import annotations

import pandas as pd

from processor.analyse.loans import loan_review
from processor.read.schema import LOAN_REVIEW_COLUMNS
from processor.sheets.contract import Context, Contribution
from processor.sheets.report import Block, ResultSheet


def analyse_loans(ctx: Context) -> Contribution | None:
    """貸款檢核: one row per applicant (forms and tables alike), ID masked."""
    sheets = ctx.sheets.get("loans", [])
    if not sheets:
        return None
    frames = [s.frame.assign(_sheet=s.sheet, _row=s.frame.index) for s in sheets if len(s.frame)]
    if not frames:
        return None
    loans = pd.concat(frames, ignore_index=True)
    review = loan_review(loans, ctx.as_of).assign(sheet=loans["_sheet"], row=loans["_row"])
    table = pd.DataFrame({c.label: review[c.key] for c in LOAN_REVIEW_COLUMNS})
    notes = (
        "種子 000 貸款懶人包 1–5 項；資料完整度＝已填項目的比例，「尚缺項目」列出還沒填的。",
        f"年齡與年資以基準日 {ctx.settings.date_text(ctx.as_of)} 計算；年所得應約為月收入×12 至×16.8（含年終、獎金），"
        "超出範圍請與申請人確認。",
        "身分證字號在所有輸出中都已遮蔽。",
    )
    lead = (
        "貸款檢核：每位申請人一列，第一欄是他所在的工作表；看「證號檢查」「收入一致性」「尚缺項目」決定下一步要補什麼。"
    )
    formats = {c.label: c.format for c in LOAN_REVIEW_COLUMNS if c.format}
    sheet = ResultSheet("貸款檢核", (Block(table, formats=formats, data_bars=("資料完整度",)),), notes, lead=lead)
    consistent = int((review["income_check"] == "一致").sum())
    return Contribution(
        sheets=[sheet],
        summary={
            "loans": {
                "applicants": int(len(review)),
                "income_consistent": consistent,
                "mean_completeness": round(float(review["completeness"].mean()), 3),
            }
        },
    )
