"""Loan intake (貸款懶人包, seed 000 其他 二): completeness, age, job tenure, income consistency.

The ID number is masked in every output (DESIGN §6).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from processor.privacy import check_ids, mask_ids
from processor.read.schema import LOANS
from processor.read.values import parse_tenure

#: annual income ÷ (monthly × 12): 12 months plus up to ~4 months of bonus is plausible
INCOME_RATIO_LOW, INCOME_RATIO_HIGH = 0.9, 1.4


def tenure_years(hire: pd.Series, as_of: pd.Timestamp) -> tuple[pd.Series, pd.Series]:
    """Job tenure in years from 到職日或年資 (see :func:`processor.read.values.parse_tenure`) and a mask
    of cells that give none (unreadable, or a hire date after ``as_of``; parse reports both).

    >>> years, _ = tenure_years(pd.Series(["3年6個月", "108/03/01", "18个月", "abc"]), pd.Timestamp("2024-03-01"))
    >>> years.round(2).tolist()
    [3.5, 5.0, 1.5, nan]
    """
    years, bad, future = parse_tenure(hire, as_of)
    return years, bad | future


def age_years(birthday: pd.Series, as_of: pd.Timestamp) -> pd.Series:
    """Completed years of age on ``as_of``: one more only once the birthday's month and day are
    reached (a 29 Feb birthday is reached on 1 Mar in other years, as the Civil Code §121 counts).

    >>> births = pd.Series(pd.to_datetime(["1990-06-28", "1990-06-29", "2000-02-29"]))
    >>> age_years(births, pd.Timestamp("2024-06-28")).tolist()
    [34, 33, 24]
    """
    born = pd.to_datetime(pd.Series(birthday), errors="coerce")
    before_birthday = (born.dt.month > as_of.month) | ((born.dt.month == as_of.month) & (born.dt.day > as_of.day))
    age = as_of.year - born.dt.year - before_birthday.astype(int)
    return age.where(born.notna()).astype("Int64")


def loan_review(loans: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """One row per applicant: masked ID, completeness %, age, tenure, income check and what is missing."""
    fields = [f for f in LOANS.fields]
    filled = pd.concat(
        {
            f.key: loans[f.key].notna() & (loans[f.key].astype("string").str.strip() != "")
            if f.key in loans
            else pd.Series(False, index=loans.index)
            for f in fields
        },
        axis=1,
    )

    def listed(row) -> str:  # per applicant over 33 fields: what to ask for next, shortest first
        labels = [f.label for f in fields if not row[f.key]]
        shown = "、".join(labels[:5]) + ("…" if len(labels) > 5 else "")
        return f"{len(labels)} 項：{shown}" if labels else "齊全"

    missing = filled.apply(listed, axis=1) if len(loans) else pd.Series(dtype="string")
    age = age_years(loans["birthday"], as_of)
    years, _ = tenure_years(loans["hire_date"], as_of)
    annual = pd.to_numeric(loans["annual_income"], errors="coerce")
    monthly = pd.to_numeric(loans["monthly_income"], errors="coerce")
    ratio = annual / (monthly * 12)
    check = np.select(
        [ratio.isna(), ratio < INCOME_RATIO_LOW, ratio > INCOME_RATIO_HIGH],
        ["無法比對（缺年所得或月收入）", "年所得低於月收入×12，請確認", "年所得遠高於月收入×12，請確認獎金或兼差"],
        "一致",
    )
    return pd.DataFrame(
        {
            "name": loans["name"],
            "id_masked": mask_ids(loans["id_number"]),
            "id_status": check_ids(loans["id_number"])[1],
            "completeness": filled.mean(axis=1),
            "age": age,
            "tenure_years": years.round(1),
            "annual_income": annual,
            "monthly_income": monthly,
            "income_ratio": ratio.round(2),
            "income_check": check,
            "missing": missing,
        },
        index=loans.index,
    )
