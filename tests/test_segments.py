"""Segments (seeds 001, 002, 004): RFM eight segments, ABC, value matrix, quadrant, value score, k-means."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from processor.analyse.segments import (
    RFM_SEGMENTS,
    abc_classes,
    cluster_customers,
    cluster_profiles,
    loyalty_quadrant,
    quintile_scores,
    rfm_scores,
    rfm_table,
    segment_strategies,
    segment_table,
    value_matrix,
    value_scores,
    value_tiers,
)
from processor.analyse.silence import silence_table
from processor.settings import Settings


def rfm(recency, frequency, monetary) -> pd.DataFrame:
    n = len(recency)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(n)],
            "recency": np.asarray(recency, float),
            "frequency": np.asarray(frequency, float),
            "monetary": np.asarray(monetary, float),
        }
    )


def test_each_of_the_eight_rfm_segments_follows_the_high_low_rule_of_seed_002():
    # means: R 55, F 5.5, M 550. R high = fewer days than the mean.
    combos = list(RFM_SEGMENTS)
    recency = [10 if r else 100 for r, _, _ in combos]
    frequency = [10 if f else 1 for _, f, _ in combos]
    monetary = [1000 if m else 100 for _, _, m in combos]
    table = rfm_scores(rfm(recency, frequency, monetary))
    assert table["rfm_segment"].tolist() == [RFM_SEGMENTS[c][0] for c in combos]
    assert table["rfm_segment"].tolist()[0] == "重要價值客戶" and table["rfm_segment"].tolist()[-1] == "一般挽留客戶"


def test_rfm_table_works_on_a_plain_transaction_frame():
    t = pd.DataFrame(
        {
            "customer_id": ["A", "A", "B", "B", "C"],
            "date": pd.to_datetime(["2025-03-01", "2025-03-05", "2024-06-01", "2026-01-01", "2025-01-01"]),
            "amount": [500.0, 500.0, 50.0, 9999.0, 80.0],
        }
    )
    table = rfm_table(t, "2025-03-10", Settings()).set_index("customer_id")
    assert table.loc["A", ["recency", "frequency", "monetary"]].tolist() == [5, 2, 1000]
    assert table.loc["B", "monetary"] == 50  # the 2026 purchase lies after as_of
    assert table.loc["A", "rfm_segment"] == "重要價值客戶"
    assert set(table["r_score"]) <= {1, 2, 3, 4, 5}


def test_quintile_scores_give_five_for_the_most_recent_and_the_biggest():
    assert quintile_scores(pd.Series([1, 100, 50, 20, 300]), higher_is_better=False).tolist() == [5, 2, 3, 4, 1]
    assert quintile_scores(pd.Series([1, 100, 50, 20, 300])).tolist() == [1, 4, 3, 2, 5]


def test_abc_is_ten_twenty_seventy_by_default():
    classes = abc_classes(pd.Series(np.arange(100, 0, -1), dtype=float))
    assert classes.value_counts().to_dict() == {"A": 10, "B": 20, "C": 70}
    assert classes.iloc[0] == "A" and classes.iloc[-1] == "C"


def test_abc_cuts_come_from_settings_and_missing_values_stay_missing():
    values = pd.Series([5.0, 4.0, 3.0, 2.0, np.nan])
    classes = abc_classes(values, Settings(abc_a=0.25, abc_b=0.25))
    assert classes.tolist()[:4] == ["A", "B", "C", "C"]
    assert classes.iloc[4] is None


def test_abc_gives_tied_values_the_same_better_class():
    classes = abc_classes(pd.Series([9.0] * 3 + [1.0] * 17))
    assert classes.tolist()[:3] == ["A", "A", "A"]


@hsettings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e4, 1e6, allow_nan=False), min_size=1, max_size=300))
def test_abc_classes_are_ordered_by_value(values):
    series = pd.Series(values)
    classes = abc_classes(series)
    order = classes.map({"A": 0, "B": 1, "C": 2})
    # a higher value never gets a worse class
    frame = pd.DataFrame({"v": series, "c": order}).sort_values("v", ascending=False, kind="stable")
    assert frame.groupby("v", sort=False)["c"].min().is_monotonic_increasing


def test_value_matrix_names_the_four_cells_of_frequency_by_average_ticket():
    kinds = value_matrix(pd.Series([10.0, 1.0, 10.0, 1.0]), pd.Series([900.0, 900.0, 50.0, 50.0]))
    assert kinds.tolist() == ["優質型", "消費型", "經常型", "不確定型"]


def test_quadrant_is_bee_dragonfly_butterfly_mantis():
    assert loyalty_quadrant([True, True, False, False], [True, False, True, False]).tolist() == [
        "蜜蜂",
        "蜻蜓",
        "蝴蝶",
        "螳螂",
    ]


def test_value_tiers_use_strict_thresholds_of_seed_001():
    assert value_tiers(pd.Series([80.1, 80.0, 60.0, 40.5, 40.0])).tolist() == [
        "VIP客戶",
        "重要客戶",
        "普通客戶",
        "普通客戶",
        "小客戶",
    ]


def test_value_score_follows_the_weights_in_settings():
    table = rfm([1, 100], [1, 10], [1000, 10])  # first: recent and rich; second: frequent
    money = value_scores(table, Settings(weight_r=0, weight_f=0, weight_m=1))
    freq = value_scores(table, Settings(weight_r=0, weight_f=1, weight_m=0))
    assert money[0] > money[1] and freq[1] > freq[0]


@hsettings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 999), st.integers(1, 50), st.floats(-100, 1e5, allow_nan=False)),
        min_size=1,
        max_size=200,
    )
)
def test_value_score_stays_between_0_and_100(rows):
    table = rfm(*zip(*rows))
    score = value_scores(table)
    assert ((score >= 0) & (score <= 100)).all()


def test_kmeans_finds_three_well_separated_groups_and_is_reproducible():
    rng = np.random.default_rng(0)
    parts = [
        rfm(rng.normal(mu_r, 1, 200).clip(1), rng.normal(mu_f, 0.2, 200).clip(1), rng.normal(mu_m, 5, 200).clip(1))
        for mu_r, mu_f, mu_m in ((3, 20, 5000), (300, 1, 50), (60, 4, 500))
    ]
    table = pd.concat(parts, ignore_index=True)
    labels, info = cluster_customers(table, random_state=0)
    again, _ = cluster_customers(table, random_state=0)
    assert info["k"] == 3
    assert (labels == again).all()
    # each generated group lands in one cluster
    assert all(labels.iloc[i * 200 : (i + 1) * 200].nunique() == 1 for i in range(3))
    assert set(info["silhouette"]) == set(range(2, 9))


def test_kmeans_on_a_large_population_uses_a_sample_and_labels_everyone():
    rng = np.random.default_rng(1)
    table = rfm(rng.integers(1, 900, 30_000), rng.integers(1, 30, 30_000), rng.lognormal(7, 1, 30_000))
    labels, info = cluster_customers(table, random_state=0)
    assert info["sampled"] and labels.notna().all() and len(labels) == 30_000
    assert 2 <= info["k"] <= 8


def test_too_few_distinct_customers_are_one_cluster():
    labels, info = cluster_customers(rfm([1, 1], [2, 2], [10, 10]))
    assert info["k"] == 1 and labels.tolist() == [1, 1]


@pytest.fixture(scope="module")
def segments():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "generate_transactions.py"
    spec = importlib.util.spec_from_file_location("generate_transactions", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    frame = module.generate(4000, seed=11).rename(columns={"客戶編號": "customer_id", "日期": "date", "金額": "amount"})
    silence = silence_table(frame, "2025-12-31")
    table, info = segment_table(silence, Settings())
    return silence, table, info


def test_segment_table_has_one_row_per_ranked_customer(segments):
    silence, table, _ = segments
    assert len(table) == len(silence) and table["customer_id"].is_unique
    assert set(table["rfm_segment"]) <= {v[0] for v in RFM_SEGMENTS.values()}
    assert set(table["value_tier"]) <= {"VIP客戶", "重要客戶", "普通客戶", "小客戶"}


def test_quadrant_agrees_with_abc_class_and_visit_rate(segments):
    silence, table, _ = segments
    merged = table.merge(silence[["customer_id", "visit_rate_class"]], on="customer_id")
    bees = merged[merged["quadrant"] == "蜜蜂"]
    assert bees["abc_class"].isin(["A", "B"]).all() and bees["visit_rate_class"].isin(["忠誠", "常規"]).all()


def test_cluster_profiles_and_strategy_table_account_for_every_customer(segments):
    _, table, info = segments
    profiles = cluster_profiles(table)
    assert profiles["customers"].sum() == len(table) and len(profiles) == info["k"]
    assert profiles["mean_value_score"].is_monotonic_decreasing  # cluster 1 is the most valuable
    strategies = segment_strategies(table)
    assert len(strategies) == 8 and strategies["customers"].sum() == len(table)
    assert strategies["revenue"].sum() == pytest.approx(table["monetary"].sum())
    assert strategies.set_index("segment").loc["重要挽留客戶", "strategy"] == "需要重點挽留"


@pytest.mark.parametrize("ascending", [True, False])
@pytest.mark.parametrize(
    "make",
    [
        lambda rng, n: rng.integers(0, 40, n).astype(float),  # visits: counted
        lambda rng, n: rng.integers(-500, 500, n).astype(float),  # negative whole numbers: counted
        lambda rng, n: np.round(rng.normal(0, 100, n), 1),  # amounts with ties and fractions: pandas
        lambda rng, n: np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 5, n)),  # missing: pandas
        lambda rng, n: rng.integers(0, 10**9, n).astype(float),  # whole but wider than the count: pandas
    ],
)
def test_average_pct_is_pandas_average_percentile_rank_bit_for_bit(make, ascending):
    """The RFM percentile ranks counted for whole numbers equal pandas' rank(method="average", pct=True)
    exactly — ties, negatives, one customer — and the other kinds go to pandas."""
    from processor.analyse.segments import average_pct

    rng = np.random.default_rng(7)
    for n in (1, 2, 17, 5000):
        values = make(rng, n)
        expected = pd.Series(values).rank(method="average", pct=True, ascending=ascending).to_numpy(dtype=float)
        np.testing.assert_array_equal(average_pct(values, ascending), expected)
