"""The precision list is the target group, and each listed customer's 主要原因 are the model's own
largest contributions (issue 15). Data are synthetic (no real people)."""

from __future__ import annotations

import dataclasses

import numpy as np
import openpyxl
import pandas as pd
import pytest
from conftest import sheet_rows
from test_propensity import AS_OF, make_campaign, parsed_from

from processor.analyse.propensity import infer_features, score_campaign
from processor.analyse.propensity.explain import NO_REASON, contributions, reasons, shown_values
from processor.analyse.propensity.fit import _logit
from processor.settings import Settings

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reasons")
    frame = make_campaign(900, labelled=0.7)
    parsed, _ = parsed_from(frame, tmp)
    result = score_campaign(parsed.frame, parsed.sheet, Settings(), AS_OF, label_header=parsed.headers["label"])
    return frame, parsed, result


def test_the_call_list_holds_only_customers_whose_result_is_not_known(scored):
    frame, parsed, result = scored
    unknown = set(frame.loc[frame["買A商品"] == "", "會員編號"])
    assert set(result.ranked["id"]) == unknown and len(result.ranked) == len(unknown)
    assert result.ranked["label"].isna().all()
    assert result.ranked["rank"].tolist() == list(range(1, len(unknown) + 1))
    calls = result.ranked["call"] == "是"
    assert (calls == (result.ranked["p"] >= 0.1)).all()
    assert len(result.probabilities) == len(frame), "known rows still have a probability, for the evaluation"


def test_the_scored_workbook_lists_no_recorded_result_and_says_where_they_went(run_cli, tmp_path):
    frame = make_campaign(700, labelled=0.8)
    src = tmp_path / "名單.csv"
    frame.to_csv(src, index=False)
    run_cli("score", src, "-o", tmp_path / "out.xlsx", "--as-of", "2024-06-30")
    listed = sheet_rows(tmp_path / "out.xlsx", "精準名單", "購買機率")
    known = frame.loc[frame["買A商品"] != "", "會員編號"]
    assert not set(listed["會員編號"]) & set(known), "a recorded 買/沒買 is not a prospect"
    assert len(listed) == int((frame["買A商品"] == "").sum())
    assert "已知結果" not in listed.columns and listed["主要原因"].str.len().gt(0).all()
    wb = openpyxl.load_workbook(tmp_path / "out.xlsx")
    assert "結果還不知道" in wb["精準名單"]["A1"].value
    # key figures on 摘要 are numbers with a number format, not text such as "90,520 元"
    figures = {r[0].value: r[1] for r in wb["摘要"].iter_rows(max_col=2) if isinstance(r[0].value, str)}
    money = figures["建議聯絡者的預期利潤合計"]
    assert isinstance(money.value, (int, float)) and "元" in money.number_format
    share = figures["建議聯絡的機率門檻"]
    assert share.value == pytest.approx(0.1) and share.number_format == "0.0%"


def test_a_list_whose_results_are_all_known_has_nobody_to_call_and_says_so(run_cli, tmp_path):
    frame = make_campaign(600)
    src = tmp_path / "全有結果.csv"
    frame.to_csv(src, index=False)
    run_cli("score", src, "-o", tmp_path / "out.xlsx", "--as-of", "2024-06-30")
    ws = openpyxl.load_workbook(tmp_path / "out.xlsx")["精準名單"]
    assert "沒有待打的客戶" in ws["A1"].value
    assert len(sheet_rows(tmp_path / "out.xlsx", "精準名單", "購買機率")) == 0


@pytest.mark.parametrize("model", ["logit", "tree", "boosting"])
def test_the_stated_reasons_are_the_two_largest_contributions_of_the_model_that_ranks_the_list(scored, model):
    frame, parsed, result = scored
    fitted = dataclasses.replace(result.fitted, chosen=model)
    rows = result.ranked["row"].head(60)
    X = result.design.loc[rows]
    contrib = contributions(fitted, X)
    stated = reasons(fitted, X, parsed.frame, AS_OF)
    shown = shown_values(parsed.frame.loc[rows], fitted.features, AS_OF)
    checked = 0
    for row in rows:  # a handful of customers checked one by one, against the numbers
        c = contrib.loc[row].sort_values(ascending=False, kind="stable")
        positive = c[c > 0].index[:2]
        expected = "、".join(shown.loc[row, positive]) if len(positive) else NO_REASON
        assert stated.loc[row] == expected, (row, c.round(3).to_dict())
        checked += len(positive)
    assert checked > 0
    # each contribution is the model's own: the chosen model's log-odds with that feature made typical
    f = fitted.features[0]
    typical = X.copy()
    for column in f.design_columns():
        typical[column] = f.fill if column == f.column and f.kind != "category" else 0.0
    assert np.allclose(contrib[f.column], _logit(fitted.predict(X)) - _logit(fitted.predict(typical)))


def test_for_the_logistic_model_a_contribution_is_its_term_beta_times_value_minus_typical(scored):
    frame, parsed, result = scored
    fitted = dataclasses.replace(result.fitted, chosen="logit")
    logit = fitted.estimators["logit"]
    slope = fitted.calibration["logit"][1]
    rows = result.ranked["row"].head(40)
    X = result.design.loc[rows]
    contrib = contributions(fitted, X)
    beta = dict(zip(logit.names, logit.params[1:]))
    for f in fitted.features:
        term = sum(
            beta.get(c, 0.0) * (X[c] - (f.fill if c == f.column and f.kind != "category" else 0.0))
            for c in f.design_columns()
        )
        assert np.allclose(contrib[f.column], slope * term, atol=1e-6), f.column


def test_a_boss_is_told_his_job_is_a_reason(scored):
    frame, parsed, result = scored
    top = result.ranked.head(40)
    jobs = parsed.frame.loc[top["row"], "職業"].to_numpy()
    bosses = top[np.isin(jobs, ["老闆", "退休"])]
    assert len(bosses) and bosses["reason"].str.contains("職業 老闆|職業 退休").mean() > 0.5


def test_61_wan_in_a_feature_column_is_a_number_not_a_dropped_category():
    frame = pd.DataFrame({"年收入": [f"{v}萬" for v in range(40, 100)] + ["1,200,000", "85萬5千"] * 5})
    features, ignored, problems = infer_features(frame, ["年收入"], "名單", AS_OF)
    assert [(f.column, f.kind) for f in features] == [("年收入", "number")] and ignored.empty
    assert not [p for p in problems if "合併" in p.fix]


def test_a_yes_no_column_of_0_and_1_with_blanks_is_shown_as_typed_not_as_floats():
    frame = pd.DataFrame({"會員": pd.Series([0, 1, None, 1, 0] * 4, dtype=object)})
    features, _, _ = infer_features(frame, ["會員"], "名單", AS_OF)
    shown = shown_values(frame, features, AS_OF)["會員"].tolist()
    assert shown[:5] == ["會員 0", "會員 1", "會員 （空白）", "會員 1", "會員 0"]
