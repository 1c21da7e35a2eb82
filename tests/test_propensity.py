"""Purchase probability (DESIGN §4; seeds 000, 001): inference, training groups, bad input,
safe model files, and the real CLI end to end. Data are synthetic (no real people)."""

import doctest
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import processor.models as models
import processor.propensity as propensity
from processor.models import ModelError, load_model, load_model_cached, predict_proba, train_model
from processor.parse import detect_and_parse
from processor.propensity import (BOOLEAN, CATEGORY, DATE, NUMBER, break_even, design_matrix, expected_profit,
                                  infer_features, infer_kind, score_campaign)
from processor.settings import Settings
from processor.workbook import read_input

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
    frame = pd.DataFrame({
        "會員編號": [f"M{i:05d}" for i in range(n)],
        "年齡": age.astype(str),
        "職業": job,
        "是否會員": np.where(member, "是", "否"),
        "上次聯絡": (AS_OF - pd.to_timedelta(days, unit="D")).strftime("%Y/%m/%d"),
        "地區": "台北",  # constant
        "買A商品": np.where(bought, "1", "0"),
    })
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
    frame = pd.DataFrame({"年齡": [str(20 + i % 40) for i in range(n)], "電話": [f"09{i:08d}" for i in range(n)],
                          "地區": ["台北"] * n, "備註": [""] * n, "序號": [str(i) for i in range(n)]})
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
    assert X.loc[1, "職業=其他"] == 1.0 and X.loc[0, "職業=老闆"] == 1.0


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
    assert len(result.ranked) == len(frame) and result.ranked["p"].between(0, 1).all()
    assert result.evaluation["rows"] == len(frame) - n_target  # cross-validated on the training group
    assert result.evaluation["auc"] > 0.7
    ranked = result.ranked.set_index("id")
    bosses = frame.loc[frame["職業"].isin(["老闆", "退休"]), "會員編號"]
    others = frame.loc[~frame["職業"].isin(["老闆", "退休"]), "會員編號"]
    assert ranked.loc[bosses, "p"].mean() > ranked.loc[others, "p"].mean()
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
    assert result.ranked["p"].notna().all() and len(result.ranked) == 1000
    assert result.fitted.cv["選用"].tolist().count("是") == 1
    assert set(result.comparability.columns) >= {"訓練", "測試", "全部", "差異"}


def test_rules_read_as_if_then_with_confidence_and_support(tmp_path):
    result = run(make_campaign(1500), tmp_path)
    rules = result.rules
    assert rules["支持度(客戶占比)"].sum() == pytest.approx(1.0)
    assert rules["THEN（結論）"].isin(["建議聯絡", "不聯絡"]).all()
    assert ((rules["信心度(購買率)"] >= 0.1) == (rules["THEN（結論）"] == "建議聯絡")).all()
    odds = result.odds.set_index("變數")
    assert odds.loc["是否會員", "勝算比"] > 1 and odds.loc["是否會員", "說明"] == "是 vs 否"


# --------------------------------------------------------------------------- bad input


def test_label_values_other_than_yes_no_are_reported_per_cell_and_those_rows_are_scored_not_trained(tmp_path):
    frame = make_campaign(300)
    frame.loc[:19, "買A商品"] = "也許"
    parsed, path = parsed_from(frame, tmp_path)
    _, problems = detect_and_parse(read_input(path), AS_OF)
    bad = [p for p in problems if p.column == "是否購買" or p.value == "也許"]
    assert len(bad) == 20 and all(p.value == "也許" and "是/否" in p.fix for p in bad)
    result = score_campaign(parsed.frame, parsed.sheet, Settings(), AS_OF, label_header="買A商品")
    assert result.mode == "partial" and (result.groups == "目標").sum() == 20 and len(result.ranked) == 300


def test_a_target_column_with_more_than_two_classes_is_one_clear_problem():
    y, problems = propensity.parse_label(pd.Series(["1", "0", "2", "3", "2", ""]), "名單", "等級")
    assert y.tolist()[:2] == [1.0, 0.0] and y.isna().sum() == 4
    [problem] = problems
    assert "兩類" in problem.problem and "2（2 列）" in problem.value and problem.row == 2


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


def test_list_without_any_label_and_no_model_says_how_to_get_one(tmp_path):
    frame = make_campaign(100).drop(columns="買A商品")
    parsed, _ = parsed_from(frame, tmp_path)
    result = score_campaign(parsed.frame, parsed.sheet, Settings(), AS_OF)
    assert result.ranked is None and "--model" in "\n".join(p.fix for p in result.problems)


# --------------------------------------------------------------------------- saved models


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("models")
    parsed, _ = parsed_from(make_campaign(800), tmp)
    path, result = train_model(parsed, "買A商品", "A商品", settings=Settings(), as_of=AS_OF,
                               trained_at="2024-06-30T00:00:00+00:00", models_dir=tmp / "models")
    return path, result, parsed


def test_a_saved_model_reloads_with_its_metadata_and_predicts_the_same(saved):
    path, result, parsed = saved
    model = load_model(path)
    meta = model["meta"]
    assert meta["target"] == "買A商品" and meta["trained_at"].startswith("2024-06-30")
    assert {f["column"]: f["kind"] for f in meta["features"]} == {
        "年齡": NUMBER, "職業": CATEGORY, "是否會員": BOOLEAN, "上次聯絡": DATE}
    assert len(meta["fingerprint"]) == 16 and meta["evaluation"]["auc"] > 0.6
    p = predict_proba(model, parsed.frame, as_of=AS_OF)
    assert np.allclose(p, result.fitted.predict(design_matrix(parsed.frame, result.fitted.features, AS_OF)[0]))


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
                text = text.replace('"__class__": "Tree"', '"__class__": "system"', 1) \
                           .replace('"__module__": "sklearn.tree._tree"', '"__module__": "os"', 1)
                assert "system" in text
                data = text.encode()
            dst.writestr(item, data)
    with pytest.raises(ModelError, match="不允許的內容（os.system）"):
        load_model(tampered)


# --------------------------------------------------------------------------- the real CLI


def cli(*args, env_models: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if env_models:
        env["PRECISION_LIST_MODELS"] = str(env_models)
    return subprocess.run([sys.executable, "-m", "processor.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def sheet_rows(path: Path, name: str) -> list[tuple]:
    wb = openpyxl.load_workbook(path, read_only=True)
    return [tuple(r) for r in wb[name].iter_rows(values_only=True)]


def header_row(rows: list[tuple], first: str) -> tuple:
    return next(r for r in rows if r and r[0] == first)


def test_score_writes_precision_list_and_model_evaluation_sheets(tmp_path):
    frame = make_campaign(700, labelled=0.8)
    src = tmp_path / "名單.csv"
    frame.to_csv(src, index=False)
    out = tmp_path / "out.xlsx"
    done = cli("score", str(src), "-o", str(out), "--as-of", "2024-06-30")
    assert done.returncode == 0, done.stderr
    wb = openpyxl.load_workbook(out)
    assert {"精準名單", "模型評估", "摘要", "資料檢查"} <= set(wb.sheetnames)
    rows = sheet_rows(out, "精準名單")
    head = header_row(rows, "排名")
    assert {"會員編號", "購買機率", "建議聯絡", "十分位", "預期利潤", "累計預期利潤"} <= set(head)
    body = [dict(zip(head, r)) for r in rows[rows.index(head) + 1:]]
    assert len(body) == 700 and {r["建議聯絡"] for r in body} <= {"是", "否"}
    probs = [r["購買機率"] for r in body]
    assert probs == sorted(probs, reverse=True)
    evaluation = [c for r in sheet_rows(out, "模型評估") for c in r if isinstance(c, str)]
    for title in ("AUC", "混淆矩陣", "十分位提升度", "利潤曲線", "決策樹規則", "勝算比", "訓練／測試／全部"):
        assert any(title in c for c in evaluation), title
    assert len(wb["模型評估"]._charts) >= 4
    checks = [c for r in sheet_rows(out, "資料檢查") for c in r if isinstance(c, str)]
    assert any("常數" in c for c in checks)  # 地區


def test_train_then_score_with_the_saved_model_and_a_missing_column(tmp_path):
    train_src = tmp_path / "past.csv"
    make_campaign(800, seed=2).to_csv(train_src, index=False)
    done = cli("train", str(train_src), "--target", "買A商品", "--name", "A商品", "--as-of", "2024-06-30",
               env_models=tmp_path / "share")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "share" / "A商品.skops").exists()

    new = make_campaign(300, seed=3).drop(columns=["買A商品", "是否會員", "上次聯絡"])
    new_src = tmp_path / "new.csv"
    new.to_csv(new_src, index=False)
    out = tmp_path / "new.out.xlsx"
    done = cli("score", str(new_src), "-o", str(out), "--model", "A商品", "--models", str(tmp_path / "share"),
               "--as-of", "2024-06-30")
    assert done.returncode == 0, done.stderr
    head = header_row(sheet_rows(out, "精準名單"), "排名")
    assert "會員編號" in head
    checks = [r for r in sheet_rows(out, "資料檢查") if any(isinstance(c, str) and "缺少模型需要的欄位" in c for c in r)]
    assert {c for r in checks for c in r} >= {"是否會員", "上次聯絡"}
    evaluation = [c for r in sheet_rows(out, "模型評估") for c in r if isinstance(c, str)]
    assert any("勝算比" in c for c in evaluation) and any("已存模型 A商品" in c for c in evaluation)

    missing = cli("score", str(new_src), "-o", str(tmp_path / "x.xlsx"), "--model", "沒有這個",
                  "--models", str(tmp_path / "share"))
    assert missing.returncode == 2 and "找不到模型" in missing.stderr


def test_train_with_an_unknown_target_column_exits_2_with_the_fix(tmp_path):
    src = tmp_path / "past.csv"
    make_campaign(100).to_csv(src, index=False)
    done = cli("train", str(src), "--target", "買B商品", "--name", "B", "--models", str(tmp_path))
    assert done.returncode == 2 and "買B商品" in done.stderr
