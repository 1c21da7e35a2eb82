"""客戶價值 (processor.analyse.value, processor.sheets.value): the per-customer value table, bad input that
falls back and says so, the call priority, and the same numbers from CSV, .xlsx, the drop folder and PL_CLV."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import sheet_rows, write_rows
from scipy import special

from addin import udfs
from processor.analyse import btyd, value
from processor.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _generate(rows: int, seed: int) -> pd.DataFrame:
    spec = importlib.util.spec_from_file_location(
        "generate_transactions", ROOT / "benchmarks" / "generate_transactions.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate(rows, seed=seed)


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns={"客戶編號": "customer_id", "日期": "date", "金額": "amount", "品項": "product"})


def _tx(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "date", "amount"]).assign(
        date=lambda f: pd.to_datetime(f["date"])
    )


def test_statistics_merge_one_days_purchases_and_ignore_returns_and_zeros():
    t = _tx(
        [
            ("A", "2025-01-01", 10.0),
            ("A", "2025-01-01", 5.0),
            ("A", "2025-01-31", 30.0),
            ("A", "2025-02-10", -8.0),
            ("A", "2025-02-11", 0.0),
            ("B", "2025-02-20", 8.0),
        ]
    )
    stats = value.customer_statistics(t, "2025-03-02").set_index("customer_id")
    assert stats.loc["A", ["x", "t_x", "T", "recency"]].tolist() == [1, 30, 60, 30]
    assert stats.loc["A", "mean_spend"] == pytest.approx(22.5) and stats.loc["A", "repeat_spend"] == 30.0
    assert stats.loc["A", "revenue"] == pytest.approx(37.0)  # the return nets off the money, not the visits
    assert stats.loc["B", ["x", "t_x", "T"]].tolist() == [0, 0, 10]


def test_clv_without_discount_or_marketing_cost_is_the_expected_margin_and_discounting_lowers_it():
    fit = btyd.BGNBDFit.from_params(0.5, 30.0, 0.8, 2.5)
    spend = btyd.GammaGammaFit.from_params(6.0, 3.7, 15.0)
    model = value.ValueModel(fit, spend, (fit,), customers=2, repeaters=1)
    stats = value.customer_statistics(
        _tx([("A", "2025-01-01", 40.0), ("A", "2025-02-01", 60.0), ("B", "2025-02-15", 30.0)]), "2025-03-01"
    )
    plain = value.value_table(stats, model, 365, Settings(discount_rate=0.0, margin_rate=0.5)).set_index("customer_id")
    a = plain.loc["A"]
    assert a["expected_purchases"] == pytest.approx(float(fit.expected_purchases(365, 1, 31, 59)))
    assert a["expected_ticket"] == pytest.approx(
        (15.0 * 6 + 6 * 1 * 60.0) / (6 * 1 + 3.7 - 1)
    )  # shrunk toward γp/(q−1)
    assert plain.loc["B", "expected_ticket"] == pytest.approx(15.0 * 6 / 2.7)  # first-time buyer: population mean
    assert a["clv"] == pytest.approx(a["expected_purchases"] * a["expected_ticket"] * 0.5)
    assert a["expected_margin"] == pytest.approx(a["clv"])
    costly = value.value_table(stats, model, 365, Settings(discount_rate=0.2, margin_rate=0.5, marketing_cost=100.0))
    costly = costly.set_index("customer_id")
    assert costly.loc["A", "clv"] < a["clv"] - 100 * 0.8 * costly.loc["A", "p_alive"]


def test_an_unranked_value_table_is_the_ranked_one_in_the_rows_order_without_rank_and_tier():
    fit = btyd.BGNBDFit.from_params(0.5, 30.0, 0.8, 2.5)
    model = value.ValueModel(fit, btyd.GammaGammaFit.from_params(6.0, 3.7, 15.0), (fit,), customers=3, repeaters=2)
    stats = value.customer_statistics(
        _tx(
            [("A", "2025-01-01", 40.0), ("A", "2025-02-01", 60.0), ("B", "2025-02-15", 30.0), ("C", "2025-01-09", 9.0)]
            + [("C", "2025-02-20", 90.0)]
        ),
        "2025-03-01",
    )
    ranked = value.value_table(stats, model, 365, Settings())
    unranked = value.value_table(stats, model, 365, Settings(), ranked=False)
    assert unranked["customer_id"].tolist() == stats["customer_id"].tolist()
    assert ranked["customer_id"].tolist() != unranked["customer_id"].tolist()  # the CLV order differs from the rows'
    expected = ranked.drop(columns=["value_rank", "value_tier"]).set_index("customer_id").loc[stats["customer_id"]]
    pd.testing.assert_frame_equal(unranked.set_index("customer_id"), expected)


@pytest.mark.parametrize(
    "rows, said",
    [
        ([("A", "2025-01-01", 1.0), ("B", "2025-01-05", 1.0), ("C", "2025-01-09", 1.0)], "回購"),  # nobody repeats
        ([("A", "2025-01-01", 1.0), ("A", "2025-01-01", 2.0), ("B", "2025-01-01", 1.0)], "回購"),  # all on one day
        ([("A", "2025-01-01", 1.0), ("A", "2025-01-20", 1.0), ("A", "2025-02-03", 1.0)], "1 位客戶"),  # one customer
    ],
)
def test_logs_no_model_can_be_fitted_on_fall_back_to_the_empirical_rule_and_say_so(rows, said):
    result = value.customer_value(_tx(rows), "2025-03-01")
    assert result.model.count is None and said in result.model.fallback and "經驗規則" in result.model.fallback
    table = result.table
    assert table["p_alive"].between(0, 1).all() and (table["expected_purchases"] >= 0).all()
    assert np.isfinite(table["clv"]).all() and len(table) == len({r[0] for r in rows})
    assert result.priority.coefficients is None and result.priority.fallback


def test_a_fit_that_does_not_converge_is_said_on_the_sheet_and_the_empirical_rule_is_used(tmp_path, run_cli):
    # 40 customers who each buy exactly every 10 days and never leave: the models' rates run off to a limit
    days = pd.Timestamp("2025-01-01") + pd.to_timedelta(np.arange(0, 300, 10), unit="D")
    rows = [["客戶編號", "日期", "金額"]] + [
        [f"C{i:02d}", d.strftime("%Y/%m/%d"), 100] for i in range(40) for d in days
    ]
    path = write_rows(tmp_path / "交易.xlsx", {"交易": rows})
    out = run_cli("score", path, "-o", tmp_path / "out.xlsx", "--as-of", "2025-10-28", "--json")
    block = json.loads(out.stdout)["customer_value"]
    assert block["model"] == "empirical" and "沒有收斂" in block["fallback"]
    import openpyxl

    texts = [
        c
        for row in openpyxl.load_workbook(tmp_path / "out.xlsx")["客戶價值"].iter_rows(values_only=True)
        for c in row
        if isinstance(c, str)
    ]
    assert any("沒有收斂" in t and "經驗規則" in t for t in texts)


def test_priority_learned_on_the_past_beats_plain_recency_on_a_synthetic_holdout():
    from sklearn.metrics import roc_auc_score

    frame = _canonical(_generate(60_000, seed=21))
    cut = pd.Timestamp("2025-06-30")
    result = value.customer_value(frame[frame["date"] <= cut], cut, Settings(horizon_days=184))
    later = set(frame.loc[(frame["date"] > cut) & (frame["amount"] > 0), "customer_id"])
    bought = result.stats["customer_id"].isin(later)
    ours = roc_auc_score(bought, result.scores)
    recency = roc_auc_score(bought, -result.stats["recency"])
    assert result.priority.coefficients is not None
    assert ours >= recency - 0.01, (ours, recency)


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """One log scored from CSV, from .xlsx and through the drop folder, by the command (in this process:
    the command as a real process is tested in test_cli_score; the drop folder's worker is one all the same)."""
    from conftest import cli_in_process

    folder = tmp_path_factory.mktemp("value")
    frame = _generate(1500, seed=8)[["客戶編號", "日期", "金額"]]
    frame["日期"] = pd.to_datetime(frame["日期"]).dt.strftime("%Y/%m/%d")
    csv = folder / "tx.csv"
    frame.to_csv(csv, index=False)
    xlsx = write_rows(folder / "tx.xlsx", {"交易": [list(frame.columns)] + frame.values.tolist()})

    def cli(*args):
        done = cli_in_process(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    summaries = {
        kind: json.loads(
            cli(
                "score",
                path,
                "-o",
                folder / f"{kind}.scored.xlsx",
                "--as-of",
                "2025-12-31",
                "--horizon",
                "180",
                "--json",
            )
        )
        for kind, path in (("csv", csv), ("xlsx", xlsx))
    }
    root = folder / "drop"
    (root / "inbox").mkdir(parents=True)
    (root / "inbox" / "tx.csv").write_bytes(csv.read_bytes())
    (root / "config.toml").write_text("[settings]\nhorizon_days = 180\n", encoding="utf-8")
    cli("watch", root, "--once", "--settle", "0", "--as-of", "2025-12-31", "--config", root / "config.toml")
    outputs = {
        "csv": folder / "csv.scored.xlsx",
        "xlsx": folder / "xlsx.scored.xlsx",
        "drop": next((root / "outbox").glob("*.xlsx")),
    }
    return frame, summaries, outputs


def test_csv_xlsx_and_drop_folder_give_the_same_customer_value_sheet(scored):
    _, summaries, outputs = scored
    sheets = {
        kind: sheet_rows(path, "客戶價值", "仍是客戶機率").set_index("客戶編號") for kind, path in outputs.items()
    }
    assert "未來180天預期購買次數" in sheets["csv"].columns
    for kind in ("xlsx", "drop"):
        pd.testing.assert_frame_equal(sheets[kind], sheets["csv"], check_dtype=False)
    assert (
        summaries["csv"]["customer_value"]["count"]["params"] == summaries["xlsx"]["customer_value"]["count"]["params"]
    )
    block = summaries["csv"]["customer_value"]
    assert block["model"] in ("BG/NBD", "Pareto/NBD") and block["horizon_days"] == 180
    assert block["count"]["log_likelihood"] < 0 and block["choice"]
    assert "客戶價值" in summaries["csv"]["result_sheets"]


def test_the_clv_formula_matches_the_sheet(scored):
    frame, _, outputs = scored
    sheet = sheet_rows(outputs["csv"], "客戶價值", "仍是客戶機率").set_index("客戶編號")
    out = udfs.PL_CLV(
        [[v] for v in frame["客戶編號"]],
        [[v] for v in frame["日期"]],
        [[float(v)] for v in frame["金額"]],
        "2025/12/31",
        180,
    )
    assert out[0][:3] == ["客戶編號", "仍是客戶機率", "未來180天預期購買次數"]
    ours = pd.DataFrame([r for r in out[1:] if not str(r[0]).startswith("⚠")], columns=out[0]).set_index("客戶編號")
    shown = ours.loc[sheet.index]
    for column in ("仍是客戶機率", "未來180天預期購買次數", "預期客單價", "顧客終身價值"):
        np.testing.assert_allclose(shown[column].astype(float), sheet[column].astype(float), rtol=1e-9)
    assert (shown["價值分級"] == sheet["價值分級"]).all()
    alive = udfs.PL_PALIVE([[v] for v in frame["客戶編號"]], [[v] for v in frame["日期"]], "2025/12/31", 180)
    assert alive[0][:2] == ["客戶編號", "仍是客戶機率"]


def test_silence_priority_is_the_models_chance_of_buying_again(scored):
    _, _, outputs = scored
    silence = sheet_rows(outputs["csv"], "沉默排名", "優先分數")
    assert silence["優先分數"].between(0, 100).all() and silence["優先分數"].is_monotonic_decreasing


def test_horizon_outside_one_to_3650_days_is_a_clear_error(run_cli, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("客戶編號,日期,金額\nA,2025/01/01,10\n", encoding="utf-8")
    done = run_cli("score", path, "--horizon", "0", check_exit=2)
    assert "--horizon" in done.stderr and "Traceback" not in done.stderr
    assert "⚠" in udfs.PL_CLV([["A"]], [["2025/01/01"]], [[10]], "2025/03/01", 0)[0][0]


def _splits_with_future_spend(spend_of_ticket, seed=3):
    """Three in-sample splits: features (two model columns, log ticket, four history columns) and later spend."""
    rng = np.random.default_rng(seed)
    features, spends = [], []
    for _ in range(3):
        n = 4000
        chance = rng.uniform(-3, 1, n)
        log_ticket = rng.normal(4, 1, n)
        X = np.c_[chance, chance, log_ticket, rng.normal(size=(n, 4))]
        bought = rng.uniform(size=n) < special.expit(chance)
        features.append(X)
        spends.append(np.where(bought, spend_of_ticket(np.exp(log_ticket)), 0.0))
    return features, spends


def test_spend_weight_is_chosen_when_later_spend_follows_the_ticket():
    gamma, table = value.choose_spend_exponent(*_splits_with_future_spend(lambda ticket: ticket), (0, 2))
    assert gamma > 0 and len(table) == len(value.SPEND_EXPONENTS)


def test_spend_weight_stays_zero_when_later_spend_does_not_follow_the_ticket():
    flat = _splits_with_future_spend(lambda ticket: np.full_like(ticket, 50.0))
    assert value.choose_spend_exponent(*flat, (0, 2))[0] == 0


def test_the_learned_priority_multiplies_the_chance_by_the_chosen_spend_weight():
    frame = _canonical(_generate(20_000, seed=5))
    cut = pd.Timestamp("2025-06-30")
    result = value.customer_value(frame[frame["date"] <= cut], cut, Settings(horizon_days=184))
    priority = result.priority
    features = value.priority_features(result.stats, result.model, 184)
    chance = special.expit(features @ priority.coefficients + priority.intercept)
    fit = result.model.count
    x, t_x, T = (result.stats[k].to_numpy(dtype=float) for k in ("x", "t_x", "T"))
    expected = fit.expected_purchases(184, x, t_x, T)
    spend = expected / -np.expm1(-expected) * value.expected_ticket(result.model, result.stats)
    weight = (spend / spend.max()) ** priority.spend_exponent
    np.testing.assert_allclose(result.scores, 100 * chance * weight, rtol=1e-6)
    assert [g for g, _, _ in priority.selection] == list(value.SPEND_EXPONENTS)


def test_spend_weight_is_not_allowed_to_rank_returners_below_plain_recency_in_sample():
    # who buys again is decided by recency alone; later spend is the ticket, which weighting would chase
    rng = np.random.default_rng(9)
    features, spends = [], []
    for _ in range(3):
        n = 4000
        log_recency = rng.uniform(0, 6, n)
        log_ticket = rng.normal(4, 1.5, n)
        X = np.c_[rng.normal(size=(n, 2)), log_ticket, rng.normal(size=(n, 2)), log_recency, rng.normal(size=n)]
        bought = rng.uniform(size=n) < special.expit(4 - 1.5 * log_recency)
        features.append(X)
        spends.append(np.where(bought, np.exp(log_ticket), 0.0))
    gamma, table = value.choose_spend_exponent(features, spends, (0, 2))
    assert table[-1][2] > table[0][2]  # weighting by spend would have held more of the later spend …
    assert gamma == 0  # … but every γ > 0 ranks returners below recency on the held splits


def test_the_models_and_table_made_side_by_side_on_two_threads_are_the_ones_made_one_after_the_other(monkeypatch):
    log = _canonical(_generate(20_000, seed=5))
    monkeypatch.setattr(value, "PARALLEL_FIT", 10**12)
    one_by_one = value.customer_value(log, "2025-12-31")
    monkeypatch.setattr(value, "PARALLEL_FIT", 0)
    side_by_side = value.customer_value(log, "2025-12-31")
    assert side_by_side.model.summary() == one_by_one.model.summary() and one_by_one.model.summary()["count"]["params"]
    pd.testing.assert_frame_equal(side_by_side.table, one_by_one.table)
    assert np.array_equal(side_by_side.scores, one_by_one.scores) and one_by_one.priority.coefficients is not None


def test_the_priority_learns_from_rows_whose_features_end_at_their_cut_and_whose_labels_come_after_it():
    frame = _canonical(_generate(20_000, seed=5))
    as_of = pd.Timestamp("2025-06-30")
    frame = frame[frame["date"] <= as_of]
    days = value.purchase_days(frame, as_of)
    model = value.fit_value_model(value.statistics_of(days), standard_errors=False)
    features, labels, spends, lengths = value.priority_training(days, model, Settings(horizon_days=184))
    assert len(features) == len(labels) == len(spends) == len(lengths) >= 2
    priority = value.fit_priority(days, model, Settings(horizon_days=184))
    assert priority.trained_on == sum(len(y) for y in labels) and priority.splits == tuple(lengths)
    # purchases after the shortest split's cut are dropped: that split's features stay, its labels change
    h = min(lengths)
    cut = pd.Timestamp(as_of) - pd.Timedelta(days=h)
    before = set(frame.loc[(frame["date"] <= cut) & (frame["amount"] > 0), "customer_id"])
    later = frame.loc[(frame["date"] > cut) & (frame["amount"] > 0), "customer_id"]
    someone = later[later.isin(before)].iloc[0]  # known at the cut, bought after it
    fewer = frame[~((frame["customer_id"] == someone) & (frame["date"] > cut))]
    again = value.priority_training(value.purchase_days(fewer, as_of), model, Settings(horizon_days=184))
    k = lengths.index(h)
    assert again[3][k] == h
    np.testing.assert_allclose(again[0][k], features[k])
    assert again[1][k].sum() == labels[k].sum() - 1
    for x, y, spend in zip(features, labels, spends):
        assert x.shape[0] == len(y) == len(spend) and (y == (spend > 0)).all() and np.isfinite(x).all()
