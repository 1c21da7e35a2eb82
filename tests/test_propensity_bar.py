"""The issue's bar on seed 000's own data: the list must earn at least twice the seed's list.

Seed 000: XGBoost, 80/20 split, precision 60% (235/391), profit 235 × 1,750 − 391 × 175 =
342,825 on the test set. Here: exactly ``train_test_split(X, y, test_size=0.2, random_state=0)``;
the test rows' labels are blanked in the file before it is read, so the model and its cut-off
see the training 80% only (seed 001 §5.1 training/target groups); the test labels are used
afterwards, only to count the money.
"""

from pathlib import Path

import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from processor.analyse.propensity import score_sheet
from processor.read.parse import detect_and_parse
from processor.read.workbook import read_input
from processor.settings import Settings
from processor.sheets.propensity import campaign_sheets

#: seed 000's data, beside the repository as every seed is: ``../shared/data/`` from the repo root
DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "campaign_marketing2.csv"
SEED_PROFIT = 235 * (2500 - 750) - 391 * 175  # 342,825


def list_profit_on_test(tmp_path):
    data = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    X, y = data.drop(columns="買A商品"), data["買A商品"]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    blinded = data.copy()
    blinded.loc[X_test.index, "買A商品"] = ""
    path = tmp_path / "campaign_blinded.csv"
    blinded.to_csv(path, index=False)

    as_of = pd.Timestamp("2024-01-01")
    [parsed], _ = detect_and_parse(read_input(path), as_of)
    result = score_sheet(parsed, Settings(), as_of)  # as score and train read a list
    ranked = result.ranked.set_index("id")
    test = pd.DataFrame({"uid": X_test["UID"].to_numpy(), "bought": y_test.astype(int).to_numpy()})
    test["call"] = ranked.loc[test["uid"], "call"].to_numpy() == "是"
    called, buyers = int(test["call"].sum()), int(test.loc[test["call"], "bought"].sum())
    return result, called, buyers, buyers * (2500 - 750) - called * 175


@pytest.mark.slow
def test_list_on_the_seeds_test_split_earns_at_least_twice_the_seeds_list(tmp_path):
    result, called, buyers, profit = list_profit_on_test(tmp_path)
    assert result.mode == "partial"  # trained on the 80% only; the 20% were unlabelled when scored
    assert (result.groups == "目標").sum() == 9043
    assert SEED_PROFIT == 342_825
    assert profit >= 2 * SEED_PROFIT, f"list profit {profit:,} (called {called}, buyers {buyers})"
    # the sheet knows it is the seed's data, and says why the seed's 9,043-customer figure is not
    # set beside a cross-validation on 36,168 training rows
    assert result.seed_data and result.label_column == "買A商品"
    _, evaluation = campaign_sheets(result, "UID", Settings())
    assert any("種子 000 的範例資料" in note and "36,168" in note for note in evaluation.notes)
