"""Purchase probability (DESIGN §4; seeds 000, 001): inference, training groups, bad input,
safe model files, and the real CLI end to end. Data are synthetic (no real people)."""

import dataclasses
import doctest
import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import test_propensity_bar as propensity_bar
from conftest import cli_in_process
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import processor.analyse.propensity as propensity
import processor.errors as propensity_errors
import processor.models as models
import processor.sheets.propensity as sheet_layout
from processor.analyse.propensity import (
    BOOLEAN,
    CATEGORY,
    DATE,
    NUMBER,
    break_even,
    design_matrix,
    expected_profit,
    infer_features,
    infer_kind,
    score_campaign,
)
from processor.models import ModelError, load_model, load_model_cached, predict_proba, save_trained, train_model
from processor.read.parse import detect_and_parse
from processor.read.workbook import read_input
from processor.settings import Settings

AS_OF = pd.Timestamp("2024-06-30")
ROOT = Path(__file__).resolve().parents[1]


def make_campaign(n: int = 600, seed: int = 1, labelled: float = 1.0) -> pd.DataFrame:
    """A synthetic campaign list whose buyers are older, 老闆/退休, members and recently contacted."""
    rng = np.random.default_rng(seed)
    age = rng.integers(20, 75, n)
    job = rng.choice(["藍領", "老闆", "學生", "退休", "服務業"], n, p=[0.35, 0.2, 0.15, 0.1, 0.2])
    member = rng.random(n) < 0.4
    days = rng.integers(1, 400, n)
    z = -2.2 + 0.04 * (age - 45) + np.where(np.isin(job, ["老闆", "退休"]), 1.2, 0) + 1.0 * member - 0.004 * days
    bought = rng.random(n) < 1 / (1 + np.exp(-z))
    frame = pd.DataFrame(
        {
            "會員編號": [f"M{i:05d}" for i in range(n)],
            "年齡": age.astype(str),
            "職業": job,
            "是否會員": np.where(member, "是", "否"),
            "上次聯絡": (AS_OF - pd.to_timedelta(days, unit="D")).strftime("%Y/%m/%d"),
            "地區": "台北",  # constant
            "買A商品": np.where(bought, "1", "0"),
        }
    )
    unlabelled = rng.random(n) >= labelled
    frame.loc[unlabelled, "買A商品"] = ""
    return frame


def parsed_from(frame: pd.DataFrame, tmp_path: Path, name: str = "list.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    sheets, problems = detect_and_parse(read_input(path), AS_OF)
    [campaign] = [s for s in sheets if s.kind.key == "campaign"]
    return campaign, path


def run(frame, tmp_path, **kw):
    parsed, _ = parsed_from(frame, tmp_path)
    return score_campaign(parsed.frame, parsed.sheet, Settings(), AS_OF, label_header=parsed.headers["label"], **kw)


def messages(result) -> str:
    return "\n".join(f"{p.column}: {p.problem}" for p in result.problems)


# --------------------------------------------------------------------------- inference


def test_column_kinds_are_inferred_from_what_reps_type():
    assert infer_kind(pd.Series(["是", "否", "", "是"])) == BOOLEAN
    assert infer_kind(pd.Series(["1", "0", "1"])) == BOOLEAN
    assert infer_kind(pd.Series(["45", "３８", "1,200", ""])) == NUMBER
    assert infer_kind(pd.Series(["113/01/05", "2024-03-01", "民國112年5月6日"])) == DATE
    assert infer_kind(pd.Series(["藍領", "老闆", "45"])) == CATEGORY
    assert infer_kind(pd.Series(["", None, " "])) is None


def test_constant_id_like_and_all_blank_columns_are_ignored_and_reported():
    n = 80
    frame = pd.DataFrame(
        {
            "年齡": [str(20 + i % 40) for i in range(n)],
            "電話": [f"09{i:08d}" for i in range(n)],
            "地區": ["台北"] * n,
            "備註": [""] * n,
            "序號": [str(i) for i in range(n)],
        }
    )
    features, ignored, problems = infer_features(frame, list(frame.columns), "名單", AS_OF)
    assert [f.column for f in features] == ["年齡"]
    assert set(ignored["欄位"]) == {"電話", "地區", "備註", "序號"}
    assert {p.column for p in problems} == {"電話", "地區", "備註", "序號"}
    assert all("未用於預測" in p.problem for p in problems)


def test_a_category_never_seen_in_training_is_counted_as_other_and_reported():
    frame = pd.DataFrame({"職業": ["藍領"] * 30 + ["老闆"] * 30})
    [feature], _, _ = infer_features(frame, ["職業"], "名單", AS_OF)
    X, unseen = design_matrix(pd.DataFrame({"職業": ["老闆", "太空人"]}), [feature], AS_OF)
    assert unseen == {"職業": 1}
    assert X.loc[1, f"職業={propensity.OTHER}"] == 1.0 and X.loc[0, "職業=老闆"] == 1.0


def test_rare_levels_seen_in_training_are_pooled_but_not_counted_as_new_and_a_real_其他_stays_its_own_level():
    frame = pd.DataFrame({"職業": ["藍領"] * 40 + ["老闆"] * 30 + ["其他"] * 25 + ["漁民"] * 3 + ["礦工"] * 2})
    [feature], _, _ = infer_features(frame, ["職業"], "名單", AS_OF)
    assert "其他" in feature.levels and feature.levels[-1] == propensity.OTHER != "其他"
    assert set(feature.pooled) == {"漁民", "礦工"} and feature.pooled_all
    new = pd.DataFrame({"職業": ["其他", "漁民", "礦工", "太空人", "太空人", ""]})
    X, unseen = design_matrix(new, [feature], AS_OF)
    assert unseen == {"職業": 2}  # only the two 太空人: 漁民 and 礦工 were seen, blank is not a value
    assert X.loc[0, "職業=其他"] == 1.0 and X.loc[0, f"職業={propensity.OTHER}"] == 0.0
    assert (X.loc[1:4, f"職業={propensity.OTHER}"] == 1.0).all()


def test_break_even_and_expected_profit_follow_seed_000_economics():
    assert break_even(Settings()) == pytest.approx(175 / 1750)
    assert expected_profit(np.array([0.1, 0.6]), Settings()).tolist() == pytest.approx([0.0, 875.0])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=10, max_size=300))
def test_deciles_split_any_list_into_ten_near_equal_groups_ordered_by_probability(probs):
    p = pd.Series(probs)
    d = propensity.deciles(p)
    sizes = d.value_counts()
    assert set(d) == set(range(1, 11)) and sizes.max() - sizes.min() <= 1
    assert (p.groupby(d).min().shift(1).dropna() >= p.groupby(d).max().iloc[1:]).all()


@settings(max_examples=40, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1))
def test_expected_profit_rises_with_probability_and_is_positive_exactly_above_break_even(a, b):
    s = Settings()
    lo, hi = sorted((a, b))
    assume(abs(hi - break_even(s)) > 1e-9)  # exactly at break-even the sign is rounding noise
    assert expected_profit(np.array([lo]), s)[0] <= expected_profit(np.array([hi]), s)[0]
    assert (expected_profit(np.array([hi]), s)[0] > 0) == (hi > break_even(s))


def test_docstring_examples_hold():
    for module in (propensity, models):
        assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0


# --------------------------------------------------------------------------- training groups


def test_labelled_rows_train_and_unlabelled_rows_are_scored(tmp_path):
    frame = make_campaign(900, labelled=0.7)
    result = run(frame, tmp_path)
    assert result.mode == "partial"
    n_target = int((frame["買A商品"] == "").sum())
    assert (result.groups == "目標").sum() == n_target
    assert len(result.ranked) == n_target and result.ranked["p"].between(0, 1).all()  # the call list: the target group
    assert result.evaluation["rows"] == len(frame) - n_target  # cross-validated on the training group
    assert result.evaluation["auc"] > 0.7
    p = result.probabilities.set_axis(frame["會員編號"].to_numpy())
    bosses = frame.loc[frame["職業"].isin(["老闆", "退休"]), "會員編號"]
    others = frame.loc[~frame["職業"].isin(["老闆", "退休"]), "會員編號"]
    assert p.loc[bosses].mean() > p.loc[others].mean()
    assert (result.ranked["call"] == np.where(result.ranked["p"] >= 0.1, "是", "否")).all()
    assert "地區" in set(result.ignored["欄位"])


def test_fully_labelled_list_is_split_80_20_stratified_and_everyone_gets_a_probability(tmp_path):
    frame = make_campaign(1000)
    result = run(frame, tmp_path)
    assert result.mode == "split"
    assert (result.groups == "測試").sum() == 200
    test_rate = result.labels[result.groups == "測試"].mean()
    train_rate = result.labels[result.groups == "訓練"].mean()
    assert abs(test_rate - train_rate) < 0.01  # stratified
    assert result.probabilities.notna().all() and len(result.probabilities) == 1000
    assert result.ranked.empty, "every result is known: nobody is left to call"
    assert result.fitted.cv["選用"].tolist().count("是") == 1
    assert set(result.comparability.columns) >= {"訓練", "測試", "全部", "差異"}


def test_rules_read_as_if_then_with_confidence_and_support(tmp_path):
    frame = make_campaign(1500)
    frame["存款餘額"] = (frame.pop("年齡").astype(int) * 1000 + 500).astype(str)  # big numbers to split on
    result = run(frame, tmp_path)
    rules = result.rules
    assert rules["支持度(客戶占比)"].sum() == pytest.approx(1.0)
    assert rules["THEN（結論）"].isin(["建議聯絡", "不聯絡"]).all()
    assert ((rules["信心度(購買率)"] >= 0.1) == (rules["THEN（結論）"] == "建議聯絡")).all()
    # split points as a rep reads them: "存款餘額 > 55,000", never "5.5e+04"
    assert rules["IF（條件）"].str.contains(r"存款餘額 [>≤] \d{2},\d{3}").any(), rules["IF（條件）"].tolist()
    assert not rules["IF（條件）"].str.contains(r"\de[+-]?\d", regex=True).any(), rules["IF（條件）"].tolist()
    odds = result.odds.set_index("變數")
    assert odds.loc["是否會員", "勝算比"] > 1 and odds.loc["是否會員", "說明"] == "是 vs 否"


def test_the_pruned_tree_is_the_one_refitting_at_every_pruning_strength_would_choose(tmp_path):
    # fit_tree grows each tree once and prunes it per strength; this is the direct method it replaces
    from sklearn.model_selection import StratifiedKFold
    from sklearn.tree import DecisionTreeClassifier

    from processor.analyse.propensity.fit import fit_tree

    settings = Settings()
    frame = make_campaign(900)
    features, _, _ = infer_features(frame, ["年齡", "職業", "是否會員", "上次聯絡"], "名單", AS_OF)
    X, _ = design_matrix(frame, features, AS_OF)
    y = frame["買A商品"].astype(int).to_numpy()
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    tree = fit_tree(X, y, settings, folds)

    base = dict(criterion="gini", class_weight=propensity.class_weights(settings), max_depth=6, random_state=0)
    base["min_samples_leaf"] = 10
    path = DecisionTreeClassifier(**base).cost_complexity_pruning_path(X, y).ccp_alphas
    alphas = np.unique(np.quantile(path[:-1], [0.0, 0.5, 0.75, 0.9, 0.97]))
    margin, contact = settings.price - settings.cost, settings.contact_cost
    profits = []
    for alpha in alphas:
        total = 0.0
        for train, test in folds:
            refit = DecisionTreeClassifier(**base, ccp_alpha=alpha).fit(X.iloc[train], y[train])
            call = refit.predict(X.iloc[test]) == 1
            total += y[test][call].sum() * margin - call.sum() * contact
        profits.append(total)
    assert len(alphas) > 1 and len(set(profits)) > 1  # the choice is a real one
    alpha = alphas[np.flatnonzero(np.array(profits) == max(profits))[-1]]
    direct = DecisionTreeClassifier(**base, ccp_alpha=float(alpha)).fit(X, y)
    assert tree.get_params() == direct.get_params()
    for table in ("feature", "threshold", "children_left", "children_right", "value", "n_node_samples"):
        assert np.array_equal(getattr(tree.tree_, table), getattr(direct.tree_, table)), table


@pytest.mark.parametrize("design", ["separated", "ordinary", "amounts and ages", "wide, more columns than buyers"])
def test_the_l1_logistic_fit_reaches_the_optimum_statsmodels_fit_regularized_approaches(design):
    import warnings

    import statsmodels.api as sm

    from processor.analyse.propensity.fit import l1_logit

    rng = np.random.default_rng(3)
    n, x = 400, rng.normal(size=(400, 5))
    y = (rng.random(n) < 1 / (1 + np.exp(-0.5 * x[:, 0] + x[:, 1]))).astype(int)
    if design == "separated":
        y = (x[:, 0] > 0).astype(int)
    elif design == "amounts and ages":
        x = np.column_stack([x, rng.integers(20, 80, n), rng.integers(0, 100_000, n)])
    elif design == "wide, more columns than buyers":  # as many as the models take (MAX_FEATURES)
        x = rng.normal(size=(300, 60))
        n = 300
        y = (rng.random(n) < 1 / (1 + np.exp(1.5 - x[:, :20].sum(axis=1) * 0.3))).astype(int)
    D = sm.add_constant(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels warns of the separation it is asked to handle
        theirs = np.asarray(sm.Logit(y, D).fit_regularized(disp=0, alpha=1.0, maxiter=1000).params)
    ours, converged = l1_logit(D, y)

    def penalised(b):
        return np.sum(np.logaddexp(0, D @ b) - y * (D @ b)) + np.abs(b).sum()

    assert converged
    # the optimum's conditions, to rounding: ∂ log L = sign(β) where β ≠ 0, |∂ log L| ≤ 1 where β = 0
    gradient = D.T @ (y - 1 / (1 + np.exp(-D @ ours)))
    assert np.abs(gradient[ours != 0] - np.sign(ours[ours != 0])).max() < 1e-8
    assert np.abs(gradient[ours == 0]).max(initial=0) <= 1 + 1e-8
    # statsmodels' SLSQP stops near it (about 1e-3 in those conditions): never lower, coefficients alike
    assert penalised(ours) <= penalised(theirs) + 1e-9
    assert penalised(ours) == pytest.approx(penalised(theirs), rel=1e-7)
    assert np.abs(ours - theirs).max() < 2e-3 * max(1.0, np.abs(theirs).max())
    # the same coefficients are zero (statsmodels leaves some at rounding size instead: compare the terms β·x)
    size = np.abs(D).max(axis=0)
    assert np.array_equal(ours == 0, np.abs(theirs) * size < 1e-6), (ours, theirs)


def test_two_identical_columns_share_one_l1_coefficient_instead_of_failing():
    # no maximum-likelihood estimate (singular design); statsmodels' L1 fit then failed inverting it too (a traceback)
    from processor.analyse.propensity.fit import fit_logit

    frame = make_campaign(600)
    frame["年齡（複製）"] = frame["年齡"]
    features, _, _ = infer_features(frame, ["年齡", "職業", "是否會員", "上次聯絡", "年齡（複製）"], "名單", AS_OF)
    X, _ = design_matrix(frame, features, AS_OF)
    logit = fit_logit(X, frame["買A商品"].astype(int).to_numpy())
    assert logit.regularised and logit.converged
    coefficient = dict(zip(logit.names, logit.params[1:]))
    assert coefficient["年齡"] == pytest.approx(coefficient["年齡（複製）"]) and coefficient["年齡"] > 0


# --------------------------------------------------------------------------- bad input


def test_label_values_other_than_yes_no_get_one_summary_and_a_line_per_cell_under_the_inputs_header(tmp_path):
    frame = make_campaign(300)
    frame.loc[:9, "買A商品"] = "也許"
    frame.loc[10:19, "買A商品"] = "2"
    parsed, path = parsed_from(frame, tmp_path)
    _, parse_problems = detect_and_parse(read_input(path), AS_OF)
    assert not [p for p in parse_problems if p.column in ("是否購買", "買A商品")]  # read once, by the analyser
    result = propensity.score_sheet(parsed, Settings(), AS_OF)
    label = [p for p in result.problems if p.column == "買A商品" and p.severity == "錯誤"]
    summary, cells = label[0], label[1:]
    assert "只能有兩類" in summary.problem and summary.value in (
        "也許（10 列）、2（10 列）",
        "2（10 列）、也許（10 列）",
    )
    assert len(cells) == 20 and {p.value for p in cells} == {"也許", "2"} and all("是" in p.fix for p in cells)
    assert result.mode == "partial" and (result.groups == "目標").sum() == 20 and len(result.ranked) == 20


def test_a_target_column_with_more_than_two_classes_is_one_clear_problem_then_one_line_per_cell():
    y, problems = propensity.parse_label(pd.Series(["1", "0", "2", "3", "2", ""]), "名單", "等級")
    assert y.tolist()[:2] == [1.0, 0.0] and y.isna().sum() == 4
    summary, *cells = problems
    assert "兩類" in summary.problem and "「等級」" in summary.problem and summary.row == 2
    assert summary.value == "2（2 列）、3（1 列）" and [p.row for p in cells] == [2, 3, 4]


def test_a_list_with_only_one_class_gets_a_problem_and_no_list(tmp_path):
    frame = make_campaign(300)
    frame["買A商品"] = "0"
    result = run(frame, tmp_path)
    assert result.ranked is None and "只有一類" in messages(result)


def test_fewer_than_fifty_labelled_rows_cannot_train(tmp_path):
    frame = make_campaign(200)
    frame.loc[40:, "買A商品"] = ""
    result = run(frame, tmp_path)
    assert result.ranked is None and "至少要 50 位" in messages(result)


def test_a_feature_that_perfectly_predicts_the_label_is_flagged_as_leakage_and_left_out(tmp_path):
    frame = make_campaign(600)
    frame["成交金額"] = np.where(frame["買A商品"] == "1", "2500", "0")
    result = run(frame, tmp_path)
    leak = [p for p in result.problems if p.column == "成交金額"]
    assert leak and "資料洩漏" in leak[0].problem
    assert "成交金額" not in {f.column for f in result.fitted.features}
    assert result.ranked is not None


def test_a_yes_no_column_agreeing_with_the_label_98_percent_of_the_time_is_leakage(tmp_path):
    frame = make_campaign(3000, seed=4)
    flip = np.random.default_rng(5).random(len(frame)) < 0.02
    frame["已回電"] = np.where((frame["買A商品"] == "1") ^ flip, "是", "否")
    result = run(frame, tmp_path)
    assert "已回電" in set(result.ignored["欄位"]) and "已回電" not in {f.column for f in result.fitted.features}
    assert any(p.column == "已回電" and "資料洩漏" in p.problem for p in result.problems)


def test_a_free_text_notes_column_is_not_mistaken_for_leakage_because_its_values_are_unique(tmp_path):
    frame = make_campaign(3000, seed=6)
    rng = np.random.default_rng(7)
    frame["備註"] = [f"第{i}次來電，{rng.integers(1000, 9999)}" for i in range(len(frame))]
    frame.loc[rng.random(len(frame)) < 0.05, "備註"] = "無"
    result = run(frame, tmp_path)
    assert not [p for p in result.problems if "資料洩漏" in p.problem]
    typed = pd.DataFrame({"備註": propensity.typed_values(frame["備註"], CATEGORY, AS_OF)})
    [notes] = [f for f in infer_features(frame, ["備註"], "名單", AS_OF)[0]]
    y = pd.Series(frame["買A商品"].astype(int).to_numpy())
    assert propensity.leakage(typed, y, [notes]).empty


def test_list_without_any_label_and_no_model_says_how_to_get_one(tmp_path):
    frame = make_campaign(100).drop(columns="買A商品")
    parsed, _ = parsed_from(frame, tmp_path)
    result = score_campaign(parsed.frame, parsed.sheet, Settings(), AS_OF)
    fixes = "\n".join(p.fix for p in result.problems)
    assert result.ranked is None and "--model" in fixes and "--target" in fixes


# --------------------------------------------------------------------------- which column is the label


@pytest.mark.parametrize("header", ["買B商品", "是否接受", "有無購買", "purchased", "成交"])
def test_a_label_under_another_purchase_header_is_recognised_and_said_to_the_user(tmp_path, header):
    frame = make_campaign(400).rename(columns={"買A商品": header})
    frame["是否以信用支付"] = np.where(np.arange(len(frame)) % 3 == 0, "是", "否")  # a yes/no feature, not the label
    parsed, _ = parsed_from(frame, tmp_path)
    choice = propensity.choose_label(parsed)
    assert choice.header == header
    result = propensity.score_sheet(parsed, Settings(), AS_OF)
    assert result.ranked is not None and result.label_column == header
    assert "是否以信用支付" in {f.column for f in result.fitted.features}
    told = [p for p in result.problems if p.column == header and "當作已知結果" in p.problem]
    if parsed.headers.get("label") != header:  # recognised by a pattern, not a known header: a 提醒 says so
        assert told and "--target" in told[0].fix
    key = sheet_layout.key_figures(result, Settings()).set_index("項目")["數值"]
    assert key["已知結果（標籤）欄"] == header


def test_the_only_partly_filled_yes_no_column_is_taken_as_the_label_when_no_header_says_so(tmp_path):
    frame = make_campaign(600, labelled=0.7).rename(columns={"買A商品": "結果X"})
    parsed, _ = parsed_from(frame, tmp_path)
    choice = propensity.choose_label(parsed)
    assert choice.header == "結果X" and "只填了一部分" in choice.reason and choice.problems("名單")
    frame["另一個"] = frame["結果X"].sample(frac=1, random_state=1).to_numpy()  # two candidates: ambiguous
    parsed, _ = parsed_from(frame, tmp_path)
    choice = propensity.choose_label(parsed)
    assert choice.column is None and "--target" in choice.reason
    # a known result header that is still blank wins: a partly filled yes/no feature is not taken for it
    frame = frame.drop(columns="另一個").rename(columns={"結果X": "是否會員X"}).assign(是否購買="")
    parsed, _ = parsed_from(frame, tmp_path)
    result = propensity.score_sheet(parsed, Settings(), AS_OF)
    assert result.ranked is None and any("「是否購買」欄都是空白" in p.problem for p in result.problems)


def test_target_picks_the_label_explicitly_and_an_unknown_target_says_which_columns_exist(tmp_path):
    frame = make_campaign(400)
    frame["買B商品"] = frame["買A商品"].sample(frac=1, random_state=2).to_numpy()
    parsed, _ = parsed_from(frame, tmp_path)
    assert propensity.choose_label(parsed).header == "買A商品"  # the known header wins over a pattern
    choice = propensity.choose_label(parsed, "買B商品")
    assert choice.column == "買B商品" and choice.explicit and choice.others == ("買A商品",)
    result = propensity.score_sheet(parsed, Settings(), AS_OF, target="買B商品")
    assert "買A商品" in set(result.ignored["欄位"]) and result.label_column == "買B商品"
    with pytest.raises(propensity_errors.UnusableInput, match="年齡"):
        propensity.choose_label(parsed, "買C商品")


# --------------------------------------------------------------------------- comparability


def test_comparability_flags_a_shifted_mode_of_a_yes_no_column_and_says_so_in_the_data_check():
    groups = pd.Series(["訓練"] * 100 + ["目標"] * 100)
    typed = pd.DataFrame(
        {
            "是否會員": [1.0] * 30 + [0.0] * 70 + [1.0] * 80 + [0.0] * 20,
            "年齡": np.tile(np.arange(20, 70), 4).astype(float),
        }
    )
    features = [propensity.Feature("是否會員", BOOLEAN), propensity.Feature("年齡", NUMBER)]
    table = propensity.comparability(typed, groups, features)
    member = table[(table["欄位"] == "是否會員") & (table["統計"] == "眾數")].iloc[0]
    assert member["訓練"] == 0.0 and member["目標"] == 1.0 and member["差異"].startswith("⚠")
    age_mode = table[(table["欄位"] == "年齡") & (table["統計"] == "眾數")].iloc[0]
    assert age_mode["差異"] == ""  # 50 distinct ages: a mode of a continuous number is noise
    [problem] = [p for p in propensity.shift_problems(table, "名單") if p.column == "是否會員"]
    assert problem.severity == "提醒" and "差異大" in problem.problem


# --------------------------------------------------------------------------- saved models


@pytest.fixture(scope="module", autouse=True)
def no_signing_key_unless_a_test_sets_one(tmp_path_factory):
    """Tests do not pick up a key from the developer's own settings folder; subprocesses inherit this."""
    with pytest.MonkeyPatch.context() as env:
        env.delenv(models.KEY_ENV, raising=False)
        env.setenv(models.KEY_FILE_ENV, str(tmp_path_factory.mktemp("nokey") / "model.key"))
        yield


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("models")
    parsed, _ = parsed_from(make_campaign(800), tmp)
    path, result = train_model(
        parsed,
        "買A商品",
        "A商品",
        settings=Settings(),
        as_of=AS_OF,
        trained_at="2024-06-30T00:00:00+00:00",
        models_dir=tmp / "models",
    )
    return path, result, parsed


def test_a_saved_model_reloads_with_its_metadata_and_is_the_evaluated_kind_refitted_on_every_row(saved):
    path, result, parsed = saved
    model = load_model(path)
    meta = model["meta"]
    assert meta["target"] == "買A商品" and meta["trained_at"].startswith("2024-06-30")
    assert {f["column"]: f["kind"] for f in meta["features"]} == {
        "年齡": NUMBER,
        "職業": CATEGORY,
        "是否會員": BOOLEAN,
        "上次聯絡": DATE,
    }
    assert len(meta["fingerprint"]) == 16 and meta["evaluation"]["auc"] > 0.6
    assert result.mode == "split" and meta["refitted_on_all_labelled"]
    assert meta["rows_trained"] == 800 and meta["evaluation"]["model_rows"] == 640  # judged: the 80% model
    assert model["fitted"].chosen == result.fitted.chosen == meta["chosen"]
    assert model["fitted"].calibration == result.fitted.calibration  # kept from the evaluated fit
    p = predict_proba(model, parsed.frame, as_of=AS_OF)
    p80 = result.fitted.predict(design_matrix(parsed.frame, result.fitted.features, AS_OF)[0])
    assert np.array_equal(p, predict_proba(load_model(path), parsed.frame, as_of=AS_OF))  # reproducible
    assert np.corrcoef(p, p80)[0, 1] > 0.9 and not np.allclose(p, p80)
    assert path.stat().st_mode & 0o044 == 0o044  # others on the share can read it


def test_predict_proba_names_missing_columns_and_needs_today_for_date_features(saved):
    path, _, parsed = saved
    model = load_model(path)
    with pytest.raises(ModelError, match="職業"):
        predict_proba(model, parsed.frame.drop(columns="職業"), as_of=AS_OF)
    with pytest.raises(ModelError, match="日期"):
        predict_proba(model, parsed.frame)


def test_cached_model_is_reused_until_the_file_changes(saved):
    path, _, _ = saved
    first = load_model_cached(path)
    assert load_model_cached(path) is first
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10_000_000))
    assert load_model_cached(path) is not first


class Payload:
    """Unpickling this runs code: it writes a marker file (a stand-in for anything worse)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "pwned"))


def test_a_pickle_planted_as_a_model_is_refused_without_running_it(saved, tmp_path):
    marker = tmp_path / "ran.txt"
    planted = tmp_path / "models" / "A商品.skops"
    planted.parent.mkdir()
    planted.write_bytes(pickle.dumps(Payload(str(marker))))
    pickle.loads(planted.read_bytes())  # the payload is real: plain pickle runs it
    assert marker.read_text() == "pwned"
    marker.unlink()
    with pytest.raises(ModelError, match="竄改"):
        load_model(planted)
    with pytest.raises(ModelError):
        load_model_cached("A商品", tmp_path / "models")
    assert not marker.exists()


def test_a_skops_file_edited_to_call_a_function_is_refused_before_building_anything(saved, tmp_path):
    path, _, _ = saved
    tampered = tmp_path / "tampered.skops"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "schema.json":
                text = data.decode()
                # swap the tree's predictor type for os.system: what an attacker would try
                text = text.replace('"__class__": "Tree"', '"__class__": "system"', 1).replace(
                    '"__module__": "sklearn.tree._tree"', '"__module__": "os"', 1
                )
                assert "system" in text
                data = text.encode()
            dst.writestr(item, data)
    with pytest.raises(ModelError, match="不允許的內容（os.system）"):
        load_model(tampered)


def rewrite_model(
    src: Path, dst: Path, *, tree_kind: str | None = None, nodes=None, fitted=None, schema_text=None
) -> Path:
    """A copy of a model file as an attacker with write access to the share would make it: one
    node table edited (``nodes`` gets the numpy record array of the first ``tree_kind`` table),
    the JSON half edited (``fitted`` gets the dict), or the manifest text rewritten."""
    with zipfile.ZipFile(src) as archive:
        members = {item.filename: archive.read(item.filename) for item in archive.infolist()}
    schema = json.loads(members["schema.json"])
    if fitted is not None:
        data = json.loads(json.loads(schema["content"]["fitted"]["content"]))
        fitted(data)
        schema["content"]["fitted"]["content"] = json.dumps(json.dumps(data, ensure_ascii=False))
    members["schema.json"] = json.dumps(schema).encode()
    if schema_text is not None:
        members["schema.json"] = schema_text(members["schema.json"].decode()).encode()
    if nodes is not None:
        field = {"boosting": "is_leaf", "tree": "left_child"}[tree_kind]
        for name, data in members.items():
            if name.endswith(".npy"):
                array = np.load(io.BytesIO(data), allow_pickle=False)
                if array.dtype.names and field in array.dtype.names:
                    array = array.copy()
                    nodes(array)
                    buffer = io.BytesIO()
                    np.save(buffer, array, allow_pickle=False)
                    members[name] = buffer.getvalue()
                    break
        else:
            raise AssertionError(f"no {tree_kind} node table in {src}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dst, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return dst


def _internal(array, kind):
    return array["is_leaf"] == 0 if kind == "boosting" else array["left_child"] != -1


def _set(field, value, kind):
    def edit(array):
        array[field][np.flatnonzero(_internal(array, kind))[0] if value == "cycle" else _internal(array, kind)] = (
            0 if value == "cycle" else value
        )

    return edit


TAMPERED_TABLES = {
    "boosting child index 2e9": ("boosting", _set("left", 2_000_000_000, "boosting")),
    "boosting feature index 2e9": ("boosting", _set("feature_idx", 2_000_000_000, "boosting")),
    "boosting child pointing back to the root": ("boosting", _set("right", "cycle", "boosting")),
    "boosting categorical split": ("boosting", lambda a: a["is_categorical"].__setitem__(_internal(a, "boosting"), 1)),
    "tree child index 2e9": ("tree", _set("left_child", 2_000_000_000, "tree")),
    "tree feature index past the columns": ("tree", _set("feature", 10_000, "tree")),
    "tree child pointing back to the root": ("tree", _set("right_child", "cycle", "tree")),
}


@pytest.mark.parametrize("edit", list(TAMPERED_TABLES))
def test_a_node_table_edited_out_of_range_is_refused_before_anything_predicts(saved, tmp_path, edit):
    path, _, _ = saved
    kind, nodes = TAMPERED_TABLES[edit]
    bad = rewrite_model(
        path, tmp_path / "bad.skops", tree_kind=kind, nodes=nodes, fitted=lambda d: d.update(chosen=kind)
    )
    with pytest.raises(ModelError, match="可能被竄改，已拒絕載入"):
        load_model(bad)


@pytest.mark.parametrize("kind", ["boosting", "tree"])
def test_the_cli_refuses_a_model_whose_child_indices_point_outside_the_tree_instead_of_crashing(
    saved, tmp_path, kind, forked_cli
):
    """Run in a process of its own (conftest ``forked_cli``): if a check were missing, sklearn's
    unchecked loop would segfault the CLI (exit -11) — this test would fail, pytest would not die."""
    path, _, parsed = saved
    field = {"boosting": "left", "tree": "left_child"}[kind]
    rewrite_model(
        path,
        tmp_path / "share" / "OOB.skops",
        tree_kind=kind,
        nodes=_set(field, 2_000_000_000, kind),
        fitted=lambda d: d.update(chosen=kind),
    )
    src = tmp_path / "new.csv"
    make_campaign(200, seed=9).drop(columns="買A商品").to_csv(src, index=False)
    done = forked_cli(
        "score",
        str(src),
        "-o",
        str(tmp_path / "out.xlsx"),
        "--model",
        "OOB",
        "--models",
        str(tmp_path / "share"),
        "--as-of",
        "2024-06-30",
    )
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "可能被竄改，已拒絕載入" in done.stderr and not (tmp_path / "out.xlsx").exists()


TAMPERED_JSON = {
    "chosen names no model": lambda d: d.update(chosen="evil"),
    "a calibration pair is missing": lambda d: d["calibration"].pop("tree"),
    "a calibration pair is not two numbers": lambda d: d["calibration"].update(logit=[1.0]),
    "design columns reordered": lambda d: d["design"].reverse(),
    "a feature of an unknown kind": lambda d: d["features"][0].update(kind="weird"),
    "logit coefficients of the wrong length": lambda d: d["logit"]["params"].pop(),
    "cut-off outside 0–1": lambda d: d.update(cutoff=7),
}


@pytest.mark.parametrize("edit", list(TAMPERED_JSON))
def test_a_tampered_json_half_is_refused_as_tampered_not_an_internal_error(saved, tmp_path, edit):
    path, _, _ = saved
    bad = rewrite_model(path, tmp_path / "bad.skops", fitted=TAMPERED_JSON[edit])
    with pytest.raises(ModelError, match="可能被竄改，已拒絕載入"):
        load_model(bad)


def test_a_model_whose_estimators_are_swapped_for_other_trusted_ones_is_refused(saved, tmp_path):
    import skops.io as sio
    from sklearn.tree import DecisionTreeRegressor

    path, result, _ = saved
    X = result.design.loc[result.train_frame.index]
    regressor = DecisionTreeRegressor(max_depth=2).fit(X, result.labels.loc[X.index])
    with zipfile.ZipFile(path) as archive:
        fitted = json.loads(json.loads(json.loads(archive.read("schema.json"))["content"]["fitted"]["content"]))
    bundle = {
        "format": models.FORMAT,
        "meta": "{}",
        "fitted": json.dumps(fitted, ensure_ascii=False),
        "tree": regressor,
        "boosting": result.fitted.estimators["boosting"],
    }
    sio.dump(bundle, tmp_path / "swapped.skops")
    with pytest.raises(ModelError, match="決策樹的型態不對.*可能被竄改"):
        load_model(tmp_path / "swapped.skops")


def test_a_model_file_of_the_old_format_is_refused_with_retrain_advice(saved, tmp_path):
    path, _, _ = saved
    old = rewrite_model(
        path,
        tmp_path / "old.skops",
        schema_text=lambda t: t.replace(
            json.dumps(json.dumps(models.FORMAT))[1:-1], json.dumps(json.dumps("precision-list-model/1"))[1:-1]
        ),
    )
    with pytest.raises(ModelError, match="舊版") as refused:
        load_model(old)
    assert "重新訓練" in refused.value.fix


def test_with_a_signing_key_models_are_signed_and_an_unsigned_or_edited_one_is_refused(saved, tmp_path, monkeypatch):
    path, result, parsed = saved
    monkeypatch.setenv(models.KEY_ENV, "team-secret-0123456789abcdef")
    with pytest.raises(ModelError, match="沒有簽章"):
        load_model(path)  # the fixture's model was saved without a key
    signed = save_trained(
        parsed,
        result,
        "signed",
        settings=Settings(),
        as_of=AS_OF,  # the fixture's fit, saved
        trained_at="2024-06-30T00:00:00+00:00",
        models_dir=tmp_path,
    )  # again under the key
    assert models.SIGNATURE in zipfile.ZipFile(signed).namelist()
    assert load_model(signed)["signature"] == "verified"
    # an edit the structural checks alone would accept (the name in the metadata) breaks the signature
    renamed = rewrite_model(signed, tmp_path / "renamed.skops", schema_text=lambda t: t.replace("signed", "hacked"))
    with pytest.raises(ModelError, match="簽章不符"):
        load_model(renamed)
    monkeypatch.setenv(models.KEY_ENV, "another-key-0123456789abcdef")
    with pytest.raises(ModelError, match="簽章不符"):
        load_model(signed)
    monkeypatch.setenv(models.KEY_ENV, "short")
    with pytest.raises(ModelError, match="金鑰太短"):
        load_model(signed)
    monkeypatch.delenv(models.KEY_ENV)
    assert load_model(signed)["signature"] == "unsigned"  # no key here: structure checked, signature not


def test_the_signing_key_can_live_in_a_file_named_by_the_environment(tmp_path, monkeypatch):
    key = tmp_path / "model.key"
    key.write_text("0123456789abcdef0123456789abcdef\n")
    monkeypatch.setenv(models.KEY_FILE_ENV, str(key))
    assert models.signing_key() == b"0123456789abcdef0123456789abcdef"
    monkeypatch.setenv(models.KEY_FILE_ENV, str(tmp_path / "absent.key"))
    assert models.signing_key() is None


# --------------------------------------------------------------------------- the real CLI


def cli(*args, env_models: Path | None = None):
    """The CLI in-process (:func:`conftest.cli_in_process`): argv in; exit code, stdout, stderr out."""
    return cli_in_process(*args, env={"PRECISION_LIST_MODELS": env_models} if env_models else None)


def sheet_rows(path: Path, name: str) -> list[tuple]:
    wb = openpyxl.load_workbook(path, read_only=True)
    return [tuple(r) for r in wb[name].iter_rows(values_only=True)]


def header_row(rows: list[tuple], first: str) -> tuple:
    return next(r for r in rows if r and r[0] == first)


def test_score_writes_precision_list_and_model_evaluation_sheets(tmp_path):
    frame = make_campaign(700, labelled=0.8)
    # a small group that all bought: the logistic regression meets (quasi-)separation and falls back
    frame["VIP"] = np.where((frame["買A商品"] == "1") & (np.arange(len(frame)) % 4 == 0), "是", "否")
    src = tmp_path / "名單.csv"
    frame.to_csv(src, index=False)
    out = tmp_path / "out.xlsx"
    done = cli("score", str(src), "-o", str(out), "--as-of", "2024-06-30")
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr  # statsmodels' warnings are handled, not dumped on the rep
    wb = openpyxl.load_workbook(out)
    assert {"精準名單", "模型評估", "摘要", "資料檢查"} <= set(wb.sheetnames)
    rows = sheet_rows(out, "精準名單")
    head = header_row(rows, "排名")
    assert {"會員編號", "購買機率", "建議聯絡", "十分位", "預期利潤", "累計預期利潤"} <= set(head)
    body = [dict(zip(head, r)) for r in rows[rows.index(head) + 1 :]]
    assert len(body) == int((frame["買A商品"] == "").sum()) and {r["建議聯絡"] for r in body} <= {"是", "否"}
    probs = [r["購買機率"] for r in body]
    assert probs == sorted(probs, reverse=True)
    evaluation = [c for r in sheet_rows(out, "模型評估") for c in r if isinstance(c, str)]
    for title in ("AUC", "混淆矩陣", "十分位提升度", "利潤曲線", "決策樹規則", "勝算比", "訓練／測試／全部"):
        assert any(title in c for c in evaluation), title
    assert len(wb["模型評估"]._charts) >= 4
    assert wb["模型評估"].column_dimensions["B"].width <= 40  # the key figures do not stretch every table
    key = dict(r[:2] for r in sheet_rows(out, "模型評估") if r and r[0] in ("已知結果（標籤）欄", "使用模型"))
    assert key["已知結果（標籤）欄"] == "買A商品"
    with zipfile.ZipFile(out) as archive:
        charts = [archive.read(n).decode() for n in archive.namelist() if n.startswith("xl/charts/chart")]
    lines = [c for c in charts if "<lineChart>" in c]
    assert lines and all(
        '<smooth val="1"' not in c and '<smooth val="0"' in c for c in lines
    )  # gains and profit curves drawn straight
    checks = [c for r in sheet_rows(out, "資料檢查") for c in r if isinstance(c, str)]
    assert any("常數" in c for c in checks)  # 地區


def test_train_then_score_with_the_saved_model_and_a_missing_column(tmp_path):
    train_src = tmp_path / "past.csv"
    make_campaign(800, seed=2).to_csv(train_src, index=False)
    done = cli(
        "train",
        str(train_src),
        "--target",
        "買A商品",
        "--name",
        "A商品",
        "--as-of",
        "2024-06-30",
        env_models=tmp_path / "share",
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "share" / "A商品.skops").exists()

    new = make_campaign(300, seed=3).drop(columns=["買A商品", "是否會員", "上次聯絡"])
    new_src = tmp_path / "new.csv"
    new.to_csv(new_src, index=False)
    out = tmp_path / "new.out.xlsx"
    done = cli(
        "score",
        str(new_src),
        "-o",
        str(out),
        "--model",
        "A商品",
        "--models",
        str(tmp_path / "share"),
        "--as-of",
        "2024-06-30",
    )
    assert done.returncode == 0, done.stderr
    head = header_row(sheet_rows(out, "精準名單"), "排名")
    assert "會員編號" in head
    checks = [
        r for r in sheet_rows(out, "資料檢查") if any(isinstance(c, str) and "缺少模型需要的欄位" in c for c in r)
    ]
    assert {c for r in checks for c in r} >= {"是否會員", "上次聯絡"}
    evaluation = [c for r in sheet_rows(out, "模型評估") for c in r if isinstance(c, str)]
    assert any("勝算比" in c for c in evaluation) and any("已存模型 A商品" in c for c in evaluation)

    missing = cli(
        "score",
        str(new_src),
        "-o",
        str(tmp_path / "x.xlsx"),
        "--model",
        "沒有這個",
        "--models",
        str(tmp_path / "share"),
    )
    assert missing.returncode == 2 and "找不到模型" in missing.stderr


def test_train_with_an_unknown_target_column_exits_2_with_the_fix(tmp_path):
    src = tmp_path / "past.csv"
    make_campaign(100).to_csv(src, index=False)
    done = cli("train", str(src), "--target", "買B商品", "--name", "B", "--models", str(tmp_path))
    assert done.returncode == 2 and "買B商品" in done.stderr and "年齡" in done.stderr


def test_train_reads_the_settings_sheet_and_reports_every_data_check_problem(tmp_path):
    frame = make_campaign(500, seed=11)
    frame.loc[:29, "買A商品"] = "2"
    frame.loc[30:39, "買A商品"] = "也許"
    frame["成交金額"] = np.where(frame["買A商品"] == "1", "2500", "0")
    src = tmp_path / "past.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "名單"
    ws.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        ws.append(list(row))
    settings = wb.create_sheet("設定")
    for row in (["項目", "值"], ["售價", 5000], ["成本", 1000], ["聯絡成本", 400]):
        settings.append(row)
    wb.save(src)
    done = cli("train", str(src), "--name", "A商品", "--models", str(tmp_path / "share"), "--as-of", "2024-06-30")
    assert done.returncode == 0, done.stderr
    meta = load_model(tmp_path / "share" / "A商品.skops")["meta"]
    assert meta["economics"] == {"price": 5000.0, "cost": 1000.0, "contact_cost": 400.0}  # the 設定 sheet, as score
    assert meta["target"] == "買A商品" and meta["rows_trained"] == 460  # 40 rows with other values not trained on
    assert "資料檢查：41 個錯誤" in done.stderr
    assert "標籤欄「買A商品」只能有兩類" in done.stderr and "資料洩漏" in done.stderr and "成交金額" in done.stderr
    report = pd.read_csv(tmp_path / "share" / "A商品.資料檢查.csv", dtype=str)
    summary = report[report["問題"].str.contains("只能有兩類")].iloc[0]
    assert summary["欄位"] == "買A商品" and summary["內容"] == "2（30 列）、也許（10 列）"
    assert (report["欄位"] == "買A商品").sum() == 41


def test_score_target_chooses_the_label_column_explicitly(tmp_path):
    frame = make_campaign(400, seed=12)
    frame["買B商品"] = frame["買A商品"].sample(frac=1, random_state=3).to_numpy()
    src = tmp_path / "名單.csv"
    frame.to_csv(src, index=False)
    done = cli(
        "score", str(src), "-o", str(tmp_path / "out.xlsx"), "--target", "買B商品", "--as-of", "2024-06-30", "--json"
    )
    assert done.returncode == 0, done.stderr
    [summary] = json.loads(done.stdout)["precision_list"]
    assert summary["label_column"] == "買B商品" and summary["label_reason"] == "由 --target 指定"
    wrong = cli("score", str(src), "-o", str(tmp_path / "x.xlsx"), "--target", "沒有這欄", "--as-of", "2024-06-30")
    assert wrong.returncode == 2 and "找不到目標欄「沒有這欄」" in wrong.stderr


def test_a_long_list_shows_its_top_customers_and_says_how_many_are_not_listed(tmp_path, monkeypatch):
    import processor.analyse.transactions as transactions

    frame = make_campaign(800, labelled=0.5)
    result = run(frame, tmp_path)
    n_target = int((frame["買A商品"] == "").sum())
    monkeypatch.setattr(transactions, "MAX_LISTED", 100)
    listed, evaluation = sheet_layout.campaign_sheets(result, "會員編號", Settings())
    assert len(listed.blocks[0].frame) == 100 and listed.blocks[0].frame["排名"].tolist() == list(range(1, 101))
    assert any(f"共 {n_target:,} 位客戶" in n and "前 100 位" in n for n in listed.notes)
    lift = next(b for b in evaluation.blocks if b.title and b.title.startswith("十分位"))
    assert lift.frame["客戶數"].sum() == result.evaluation["rows"]  # the evaluation covers everyone


def test_seed_000s_own_list_is_shown_only_on_its_data_and_on_a_test_set_of_its_size(saved):
    header = pd.read_csv(propensity_bar.DATA, nrows=0).columns
    assert propensity.is_seed_000_data(header) and not propensity.is_seed_000_data(make_campaign(10).columns)
    result = dataclasses.replace(saved[1], seed_data=True)  # a copy: the module's fit stays as it was
    assert result.evaluation["rows"] == 160  # the 20% held out of 800
    assert propensity.seed_000_row(result, Settings()) is None  # 160 test customers: not the seed's 9,043
    result.evaluation = {**result.evaluation, "rows": 9043}
    assert propensity.seed_000_row(result, Settings())["profit"] == 342_825
    assert propensity.seed_000_row(result, Settings(price=3000))["profit"] == 235 * 2250 - 391 * 175
    _, evaluation = sheet_layout.campaign_sheets(result, "會員編號", Settings())
    compare = evaluation.blocks[1].frame.set_index("做法")
    assert compare.loc["種子 000 報告的名單", "利潤"] == 342_825
    assert any("不是本程式重算" in n for n in evaluation.notes)


def make_wide_campaign(rows: int, columns: int, seed: int = 7, labelled: float = 0.6) -> pd.DataFrame:
    """A synthetic campaign list with many feature columns (numbers and 甲乙丙丁 categories); only the
    first 40 carry signal, the rest are noise — what an export of "every field we have" looks like."""
    rng = np.random.default_rng(seed)
    frame = {"客戶編號": [f"C{i:06d}" for i in range(rows)]}
    signal = np.zeros(rows)
    for j in range(columns):
        values = rng.choice(["甲", "乙", "丙", "丁"], rows) if j % 5 == 4 else rng.normal(size=rows).round(2)
        frame[f"特徵{j:04d}"] = values
        if j < 40:
            signal += 0.5 * (values == "甲") if j % 5 == 4 else 0.3 * values
    bought = rng.random(rows) < 1 / (1 + np.exp(1.5 - signal))
    label = np.where(bought, "1", "0").astype(object)
    label[rng.random(rows) >= labelled] = ""
    return pd.DataFrame({**frame, "是否購買": label})


def test_a_list_with_2000_feature_columns_is_scored_on_its_strongest_columns_and_says_which_were_set_aside(tmp_path):
    # before the screen this list ran > 10 minutes (3.5 GB); measured after: see docs/precision-list.md
    path = tmp_path / "wide.csv"
    make_wide_campaign(600, 2000).to_csv(path, index=False)
    ran = cli_in_process("score", path, "-o", tmp_path / "wide.xlsx")
    assert ran.returncode == 0, ran.stderr
    book = openpyxl.load_workbook(tmp_path / "wide.xlsx", read_only=True)
    assert {"精準名單", "模型評估", "資料檢查"} <= set(book.sheetnames)
    check = "\n".join(
        " ".join(str(v) for v in row if v is not None) for row in book["資料檢查"].iter_rows(values_only=True)
    )
    limit = propensity.MAX_FEATURES
    assert f"模型只用訓練組上單獨預測力（AUC）最強的 {limit} 欄，其餘 {2000 - limit:,} 欄未使用" in check
    assert "未用於預測的欄位" in check and f"在 {limit} 欄以內" in check


def test_the_screen_keeps_the_columns_that_carry_signal_and_leaves_an_ordinary_list_untouched(tmp_path):
    wide = run(make_wide_campaign(1500, 200, labelled=1.0).rename(columns={"是否購買": "買A商品"}), tmp_path)
    used = {f.column for f in wide.fitted.features}
    assert len(used) == propensity.MAX_FEATURES
    assert len(used & {f"特徵{j:04d}" for j in range(40)}) >= 30  # most of the 40 real signals survive
    screened = wide.ignored[wide.ignored["原因"].str.startswith("欄位太多")]
    assert len(screened) == 200 - propensity.MAX_FEATURES and not set(screened["欄位"]) & used
    ordinary = run(make_campaign(600), tmp_path)
    assert not ordinary.ignored["原因"].str.startswith("欄位太多").any()
    assert "欄位太多" not in messages(ordinary)
