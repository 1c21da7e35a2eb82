"""Silence ranking (seed 004 §三–§五) and transaction cleaning: hand-worked cases, properties, end to end."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from processor.analyse import silence as silence_module
from processor.analyse.silence import dormancy_buckets, silence_table, visit_rate_classes
from processor.analyse.transactions import clean_transactions, normalise_ids
from processor.errors import ERROR, UnusableInput
from processor.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tx(*rows) -> pd.DataFrame:
    """(customer, 'YYYY-MM-DD', amount) rows as a canonical transactions frame."""
    frame = pd.DataFrame(rows, columns=["customer_id", "date", "amount"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["amount"] = frame["amount"].astype(float)
    return frame


def one(table: pd.DataFrame, customer: str) -> pd.Series:
    return table.set_index("customer_id").loc[customer]


# ---- hand-worked cases from seed 004 ---------------------------------------------------------


def test_seed_example_three_visits_then_38_days_of_silence_is_group_e_with_score_1_9():
    table = silence_table(
        tx(("A", "2025-01-01", 100), ("A", "2025-01-11", 100), ("A", "2025-01-31", 100)), "2025-03-10", Settings()
    )
    row = one(table, "A")
    assert (row.visits, row.mean_interval, row.max_interval) == (3, 15.0, 20.0)
    assert row.recency == 38
    assert row.rank_ratio == 1.0
    assert row.silence_score == pytest.approx(1.9)
    assert row.silence_group == "e"


def test_recency_tied_with_a_past_interval_takes_the_highest_rank():
    # intervals 10 and 20, Tr = 10: sorted {10, 10, 20}, Tr's rank is 2 (not 1) → TrF = 2/3
    row = one(
        silence_table(tx(("A", "2025-01-01", 1), ("A", "2025-01-11", 1), ("A", "2025-01-31", 1)), "2025-02-10"), "A"
    )
    assert row.rank_ratio == pytest.approx(2 / 3)
    assert row.silence_group == "c"
    assert row.silence_score == pytest.approx(0.5)


def test_customer_whose_absence_equals_the_longest_gap_is_exactly_entering_silence():
    row = one(
        silence_table(tx(("A", "2025-01-01", 1), ("A", "2025-01-11", 1), ("A", "2025-01-31", 1)), "2025-02-20"), "A"
    )
    assert (row.rank_ratio, row.silence_score, row.silence_group) == (1.0, 1.0, "e")


@pytest.mark.parametrize("recency, ratio, group", [(18, 0.95, "e"), (17, 0.90, "d"), (7, 0.40, "b"), (6, 0.35, "a")])
def test_group_edges_follow_seed_004_section_5(recency, ratio, group):
    # 20 visits with intervals 1, 2, …, 19 days: Tr = k puts k intervals at or below it → TrF = (k+1)/20
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.cumsum([0] + list(range(1, 20))), unit="D")
    frame = pd.DataFrame({"customer_id": "A", "date": days, "amount": 1.0})
    row = one(silence_table(frame, days[-1] + pd.Timedelta(days=recency)), "A")
    assert row.rank_ratio == pytest.approx(ratio)
    assert row.silence_group == group


def test_several_purchases_on_one_day_are_one_visit():
    row = one(
        silence_table(tx(("A", "2025-01-01", 1), ("A", "2025-01-01", 5), ("A", "2025-01-11", 1)), "2025-01-21"), "A"
    )
    assert row.visits == 2
    assert row.value == 7


def test_a_return_reduces_value_but_is_not_a_visit():
    row = one(
        silence_table(tx(("A", "2025-01-01", 100), ("A", "2025-01-11", 100), ("A", "2025-02-01", -40)), "2025-02-10"),
        "A",
    )
    assert row.visits == 2
    assert row.recency == 30  # from 11 Jan, not from the return on 1 Feb
    assert row.value == 160


def test_purchases_after_as_of_are_not_used_by_the_table():
    row = one(
        silence_table(tx(("A", "2025-01-01", 1), ("A", "2025-01-11", 1), ("A", "2025-05-01", 1)), "2025-01-21"), "A"
    )
    assert (row.visits, row.recency) == (2, 10)


def test_single_visit_customer_is_kept_flagged_and_scored_against_the_population():
    regular = tx(
        ("R1", "2025-01-01", 1),
        ("R1", "2025-01-11", 1),
        ("R1", "2025-01-31", 1),  # intervals 10, 20
        ("R2", "2025-01-01", 1),
        ("R2", "2025-01-31", 1),
    )  # interval 30
    new = tx(("N", "2025-02-15", 50))
    table = silence_table(pd.concat([regular, new]), "2025-03-10")
    row = one(table, "N")
    assert row.history == "低頻/新客"
    assert row.recency == 23
    # pooled intervals {10, 20, 30}: two are ≤ 23 → (2 + 1) / (3 + 1)
    assert row.rank_ratio == pytest.approx(0.75)
    # typical longest gap = median of max Ti {20, 30} = 25
    assert row.silence_score == pytest.approx(23 / 25)
    assert row.silence_group == "c"
    assert one(table, "R1").history == "一般"


def test_when_nobody_has_two_visits_the_typical_gap_from_settings_scores_everyone():
    # typical gap 90 days: Tr 9 → S 0.1, TrF ½; Tr 100 → S 1.11, TrF 1 (TrF = 1 exactly when S ≥ 1)
    table = silence_table(tx(("A", "2025-03-01", 1), ("B", "2024-11-30", 1)), "2025-03-10")
    a, b = one(table, "A"), one(table, "B")
    assert (a.rank_ratio, a.silence_score) == (0.5, pytest.approx(9 / 90))
    assert (b.rank_ratio, b.silence_score) == (1.0, pytest.approx(100 / 90))
    assert (table["history"] == "低頻/新客").all()
    assert (
        a.action in silence_module.ACTIONS["新客"] and b.action in silence_module.ACTIONS["剛沉默"]
    )  # B: past the gap
    wider = silence_table(tx(("B", "2024-11-30", 1)), "2025-03-10", Settings(typical_gap_days=120))
    assert one(wider, "B").rank_ratio == 0.5


def test_dormancy_counts_whole_calendar_months_since_the_last_visit():
    last = pd.Series(
        pd.to_datetime(["2025-03-10", "2025-02-11", "2025-02-10", "2024-12-10", "2024-11-11", "2024-11-10"])
    )
    assert dormancy_buckets(last, "2025-03-10").tolist() == [
        "未滿1個月",
        "未滿1個月",
        "1個月",
        "3個月",
        "3個月",
        "3個月以上",
    ]


@pytest.mark.parametrize(
    "last, as_of, bucket",
    [
        ("2025-01-31", "2025-02-28", "1個月"),  # 31 Jan + 1 month = 28 Feb: February has no 31st
        ("2025-01-31", "2025-02-27", "未滿1個月"),
        ("2024-01-31", "2024-02-29", "1個月"),  # leap year
        ("2025-05-31", "2025-09-30", "3個月以上"),  # four whole months: Jun, Jul, Aug, Sep (30 Sep is the month's end)
        ("2025-05-31", "2025-09-29", "3個月"),
        ("2025-03-31", "2025-04-30", "1個月"),
    ],
)
def test_dormancy_at_month_ends_counts_calendar_months(last, as_of, bucket):
    assert dormancy_buckets(pd.Series(pd.to_datetime([last])), as_of).tolist() == [bucket]


def test_visit_rate_classes_follow_seed_004_rates():
    # seed 004 二.2: 邊緣 under 2 a month; 休眠 about once a month, under 15 a year; 流失 3–5 a year or fewer
    per_year = pd.Series([24.0, 24.0, 23.9, 15.0, 14.0, 6.0, 5.0, 0.0])
    high = np.array([True, False, True, True, True, True, True, True])
    assert visit_rate_classes(per_year, high, Settings()).tolist() == [
        "忠誠",
        "常規",
        "邊緣",
        "邊緣",
        "休眠",
        "休眠",
        "流失",
        "流失",
    ]


def test_visit_rate_is_the_last_twelve_months_of_visits():
    as_of = pd.Timestamp("2025-12-31")
    weekly = as_of - pd.to_timedelta(np.arange(0, 728, 7), unit="D")  # two years weekly: 53 visit days in the last 365
    monthly_long_ago = pd.Timestamp("2023-01-05") + pd.to_timedelta(np.arange(0, 600, 30), unit="D")  # then gone
    recent_new = [as_of - pd.Timedelta(days=d) for d in (50, 20)]  # 2 visits in 51 days → 14.3 a year
    frame = pd.concat(
        [
            pd.DataFrame({"customer_id": "W", "date": weekly, "amount": 100.0}),
            pd.DataFrame({"customer_id": "L", "date": monthly_long_ago, "amount": 100.0}),
            pd.DataFrame({"customer_id": "N", "date": recent_new, "amount": 100.0}),
        ]
    )
    table = silence_table(frame, as_of).set_index("customer_id")
    assert table.loc["W", "visits_per_year"] == 53
    assert table.loc["L", "visits_per_year"] == 0 and table.loc["L", "visit_rate_class"] == "流失"
    assert table.loc["N", "visits_per_year"] == pytest.approx(2 * 365 / 51)
    assert table.loc["N", "visit_rate_class"] == "休眠"
    assert table.loc["W", "visit_rate_class"] in ("忠誠", "常規")


def test_visit_rate_thresholds_come_from_settings():
    classes = visit_rate_classes(pd.Series([12.0]), np.array([False]), Settings(regular_per_month=1))
    assert classes.tolist() == ["常規"]
    assert visit_rate_classes(pd.Series([12.0]), np.array([False]), Settings(lost_per_year=12)).tolist() == ["流失"]


def test_priority_is_the_chance_of_buying_again_and_puts_the_regular_still_coming_first():
    # B came every 10 days until 5 days ago; A came every 10 days but has been gone 200 days; both spend the
    # log's median amount per visit (the priority weighs expected spend too, so an ordinary ticket keeps this
    # about coming back)
    frame = (
        _load("generate_transactions")
        .generate(3000, seed=5)
        .rename(columns={"客戶編號": "customer_id", "日期": "date", "金額": "amount", "品項": "product"})
    )
    as_of = frame["date"].max()
    ticket = float(frame.loc[frame["amount"] > 0, "amount"].median())
    regular = pd.DataFrame(
        {"customer_id": "B", "amount": ticket, "date": as_of - pd.to_timedelta(range(5, 300, 10), unit="D")}
    )
    gone = pd.DataFrame(
        {"customer_id": "A", "amount": ticket, "date": as_of - pd.to_timedelta(range(200, 495, 10), unit="D")}
    )
    table = silence_table(pd.concat([frame, regular, gone], ignore_index=True), as_of).set_index("customer_id")
    assert table["priority"].between(0, 100).all()
    assert table.loc["B", "priority"] > table.loc["A", "priority"]
    assert table.loc["B", "priority_rank"] < 0.1 * len(table)


def test_priority_given_by_the_caller_orders_the_table():
    frame = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C"],
            "amount": 1.0,
            "date": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03"]),
        }
    )
    table = silence_table(frame, "2025-02-01", priority=np.array([5.0, 50.0, 20.0]))
    assert table["customer_id"].tolist() == ["B", "C", "A"]


def test_actions_follow_the_silence_score_not_only_the_group():
    # 21 visits one day apart then one gap of 30; Tr 29: TrF = 20/21 = 0.952 (group e) but S = 29/30 < 1
    days = pd.Timestamp("2025-01-01") + pd.to_timedelta(list(range(20)) + [49], unit="D")
    frame = pd.DataFrame({"customer_id": "A", "date": days, "amount": 100.0})
    row = one(silence_table(frame, days[-1] + pd.Timedelta(days=29)), "A")
    assert row.silence_group == "e" and row.silence_score < 1
    assert "剛沉默" not in row.action and row.action == silence_module.ACTIONS["接近沉默"][0]
    gone = one(silence_table(frame, days[-1] + pd.Timedelta(days=45)), "A")  # S = 1.5
    assert gone.action == silence_module.ACTIONS["剛沉默"][0]


def test_table_is_sorted_by_priority_and_every_row_has_an_action():
    frame = (
        _load("generate_transactions")
        .generate(2000, seed=3)
        .rename(columns={"客戶編號": "customer_id", "日期": "date", "金額": "amount", "品項": "product"})
    )
    table = silence_table(frame, "2025-12-31")
    assert table["priority"].is_monotonic_decreasing
    assert table["priority_rank"].tolist() == list(range(1, len(table) + 1))
    assert table["action"].notna().all() and (table["action"].str.len() > 5).all()
    assert set(table["silence_group"]) <= set("abcde")


def test_vectorised_table_matches_the_per_customer_loop():
    frame = (
        _load("generate_transactions")
        .generate(5000, seed=4)
        .rename(columns={"客戶編號": "customer_id", "日期": "date", "金額": "amount"})
    )
    loop = _load("reference_loop").silence_loop(frame, "2025-12-31").set_index("customer_id")
    fast = silence_table(frame, "2025-12-31").set_index("customer_id").loc[loop.index]
    for column in ("visits", "max_interval", "recency", "rank_ratio", "silence_score"):
        np.testing.assert_allclose(fast[column].to_numpy(dtype=float), loop[column].to_numpy(dtype=float))
    assert (fast["silence_group"] == loop["silence_group"]).all()


# ---- properties -----------------------------------------------------------------------------

histories = st.lists(
    st.tuples(st.sampled_from(["A", "B", "C", "D"]), st.integers(0, 400), st.integers(-50, 500)),
    min_size=1,
    max_size=60,
)


def _frame(rows) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "date": pd.Timestamp("2024-01-01") + pd.to_timedelta([r[1] for r in rows], unit="D"),
            "amount": [float(r[2]) for r in rows],
        }
    )


@hsettings(max_examples=60, deadline=None)
@given(histories, st.integers(0, 300))
def test_rank_ratio_lies_in_the_half_open_unit_interval(rows, extra):
    table = silence_table(_frame(rows), pd.Timestamp("2025-02-05") + pd.Timedelta(days=extra))
    assert ((table["rank_ratio"] > 0) & (table["rank_ratio"] <= 1)).all()


def _tables_without_priority(rows, as_of) -> pd.DataFrame:
    """:func:`silence_table` with priority 0 for everyone: TrF and S do not depend on the priority, whose
    model fit on each random history (up to 0.5 s) the first property above already exercises."""
    statistics, pool = silence_module.customer_statistics(_frame(rows), as_of)
    return silence_module.silence_from_statistics(statistics, pool, as_of, Settings(), np.zeros(len(statistics)))


@hsettings(max_examples=60, deadline=None)
@given(histories, st.integers(0, 300))
def test_rank_ratio_is_one_exactly_when_absence_reaches_the_longest_gap(rows, extra):
    table = _tables_without_priority(rows, pd.Timestamp("2025-02-05") + pd.Timedelta(days=extra))
    regular = table[table["visits"] >= 2]
    assert ((regular["rank_ratio"] == 1.0) == (regular["recency"] >= regular["max_interval"])).all()


@hsettings(max_examples=60, deadline=None)
@given(histories, st.integers(0, 200), st.integers(1, 200))
def test_silence_score_never_falls_as_the_as_of_date_moves_later(rows, extra, later):
    first = pd.Timestamp("2025-02-05") + pd.Timedelta(days=extra)
    before = _tables_without_priority(rows, first).set_index("customer_id")["silence_score"]
    after = _tables_without_priority(rows, first + pd.Timedelta(days=later)).set_index("customer_id")["silence_score"]
    assert (after.loc[before.index] >= before - 1e-12).all()


# ---- cleaning -------------------------------------------------------------------------------


def test_customer_ids_typed_two_ways_are_merged_and_reported():
    frame = tx(("A001", "2025-01-01", 1), ("a001 ", "2025-01-11", 1), ("Ａ００１", "2025-01-21", 1))
    frame.index = [2, 3, 4]
    clean, problems = clean_transactions(frame, "2025-03-10")
    assert clean["customer_id"].unique().tolist() == ["A001"]
    [variant] = [p for p in problems if "不同寫法" in p.problem]
    assert "A001" in variant.value and "a001 " in variant.value and variant.row == 2


def test_excel_number_ids_match_their_text_form():
    assert normalise_ids(pd.Series([1001.0, "1001", " 1001 "])).tolist() == ["1001", "1001", "1001"]


def test_purchases_after_as_of_are_reported_as_errors_with_their_row_and_not_used():
    frame = tx(("A", "2025-01-01", 1), ("A", "2025-06-01", 1))
    frame.index = [2, 3]
    clean, problems = clean_transactions(frame, "2025-03-10")
    assert len(clean) == 1
    [future] = [p for p in problems if "晚於基準日" in p.problem]
    assert (future.row, future.severity, future.column, future.value) == (3, ERROR, "日期", "2025/06/01")


def test_returns_and_zero_amounts_are_kept_and_the_rule_is_stated():
    frame = tx(("A", "2025-01-01", 100), ("A", "2025-01-05", -30), ("A", "2025-01-06", 0))
    clean, problems = clean_transactions(frame, "2025-03-10")
    assert len(clean) == 3
    texts = " ".join(p.problem + p.fix for p in problems)
    assert "退貨" in texts and "扣除" in texts and "金額為 0" in texts


def test_customer_with_only_returns_is_reported_and_left_out_of_the_ranking():
    frame = tx(("A", "2025-01-01", 100), ("B", "2025-01-05", -30))
    clean, problems = clean_transactions(frame, "2025-03-10")
    assert any("只有退貨" in p.problem and "B" in p.value for p in problems)
    assert silence_table(clean, "2025-03-10")["customer_id"].tolist() == ["A"]


def test_rows_missing_a_required_value_are_counted_not_silently_dropped():
    frame = tx(("A", "2025-01-01", 100), (None, "2025-01-05", 3))
    frame.loc[2] = ["A", pd.NaT, 5.0]
    clean, problems = clean_transactions(frame, "2025-03-10")
    assert len(clean) == 1
    assert any("共 2 列" in p.problem for p in problems)


def test_a_frame_without_an_amount_column_is_unusable_with_a_readable_message():
    with pytest.raises(UnusableInput, match="金額"):
        clean_transactions(pd.DataFrame({"customer_id": ["A"], "date": [pd.Timestamp("2025-01-01")]}), "2025-03-10")


def test_many_future_rows_are_capped_with_a_count_of_the_rest():
    frame = pd.DataFrame({"customer_id": "A", "date": pd.Timestamp("2026-01-01"), "amount": np.ones(250)})
    _, problems = clean_transactions(frame, "2025-03-10")
    future = [p for p in problems if "晚於基準日" in p.problem or "同樣問題" in p.problem]
    assert len(future) == 201 and "50" in future[-1].problem


# ---- end to end: CSV, .xlsx and the CLI give the same results ------------------------------


@pytest.fixture(scope="module")
def log_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tx")
    frame = _load("generate_transactions").generate(1500, seed=7)
    frame["日期"] = pd.Series(frame["日期"]).dt.strftime("%Y/%m/%d")
    frame.loc[3, "客戶編號"] = " " + frame.loc[3, "客戶編號"].lower()
    frame.loc[9, "日期"] = "2026/02/01"
    frame.to_csv(folder / "交易.csv", index=False, encoding="utf-8-sig")
    frame.to_excel(folder / "交易.xlsx", index=False, sheet_name="交易")
    return folder


def _sheet_frame(path: Path, name: str) -> pd.DataFrame:
    import openpyxl

    ws = openpyxl.load_workbook(path, read_only=True)[name]
    rows = list(ws.iter_rows(values_only=True))
    header = next(i for i, r in enumerate(rows) if r and r[0] == "優先順序" or r and r[0] == "客戶編號")
    body = []
    for r in rows[header + 1 :]:
        if r[0] is None:
            break
        body.append(r)
    return pd.DataFrame(body, columns=rows[header])


def test_csv_and_xlsx_inputs_give_the_same_silence_ranking(log_files, tmp_path):
    from processor.pipeline import score_file

    a = score_file(log_files / "交易.csv", tmp_path / "a.xlsx", as_of="2025-12-31")
    b = score_file(log_files / "交易.xlsx", tmp_path / "b.xlsx", as_of="2025-12-31")
    assert a["transactions"] == b["transactions"]
    assert a["transactions"]["customers"] > 100
    sa, sb = _sheet_frame(tmp_path / "a.xlsx", "沉默排名"), _sheet_frame(tmp_path / "b.xlsx", "沉默排名")
    for header in ("客戶編號", "幾天沒來", "秩次比 TrF", "沉默得分 S", "沉默分組"):
        assert header in sa.columns
    pd.testing.assert_frame_equal(sa, sb)
    ga, gb = _sheet_frame(tmp_path / "a.xlsx", "客戶分群"), _sheet_frame(tmp_path / "b.xlsx", "客戶分群")
    pd.testing.assert_frame_equal(ga, gb)
    assert {"RFM分群", "ABC分類", "價值矩陣", "貢獻×忠誠", "綜合價值分數", "價值等級", "客群"} <= set(ga.columns)


def test_result_workbook_reports_future_purchase_and_merged_id_in_data_check(log_files, tmp_path):
    from processor.pipeline import score_file

    score_file(log_files / "交易.xlsx", tmp_path / "b.xlsx", as_of="2025-12-31")
    import openpyxl

    wb = openpyxl.load_workbook(tmp_path / "b.xlsx", read_only=True)
    check = [r for r in wb["資料檢查"].iter_rows(values_only=True)]
    header = next(i for i, r in enumerate(check) if r and r[0] == "嚴重度")
    rows = [dict(zip(check[header], r)) for r in check[header + 1 :] if any(v is not None for v in r)]
    future = [r for r in rows if r["列"] == 11]  # frame row 9 dated 2026/02/01, Excel row 11
    assert len(future) == 1, future
    assert "晚於基準日 2025/12/31" in future[0]["問題"] and future[0]["嚴重度"] == ERROR
    assert not any("缺少客戶編號" in str(r["問題"]) for r in rows)  # not counted a second time as missing
    assert sum("不同寫法" in str(r["問題"]) for r in rows) == 1
    assert sum("負數金額視為退貨" in str(r["問題"]) for r in rows) == 1
    charts = openpyxl.load_workbook(tmp_path / "b.xlsx")["沉默排名"]._charts
    assert len(charts) >= 2


def test_cli_score_json_matches_the_library_call(log_files, tmp_path, run_cli):
    from processor.pipeline import score_file

    expected = score_file(log_files / "交易.csv", tmp_path / "lib.xlsx", as_of="2025-12-31")["transactions"]
    done = run_cli("score", log_files / "交易.csv", "-o", tmp_path / "cli.xlsx", "--as-of", "2025-12-31", "--json")
    assert json.loads(done.stdout)["transactions"] == expected


def test_cleaned_log_gives_the_same_table_as_the_raw_log_with_clean_ids():
    frame = (
        _load("generate_transactions")
        .generate(3000, seed=5)
        .rename(columns={"客戶編號": "customer_id", "日期": "date", "金額": "amount"})
    )
    clean, _ = clean_transactions(frame, "2025-12-31")
    a = silence_table(clean, "2025-12-31").set_index("customer_id").sort_index()
    b = silence_table(frame, "2025-12-31").set_index("customer_id").sort_index()
    a.index = a.index.astype(str)
    pd.testing.assert_frame_equal(
        a.drop(columns="priority_rank"), b.drop(columns="priority_rank"), check_index_type=False
    )


def test_silence_sheet_lists_the_first_50000_customers_and_says_so():
    from processor.analyse.transactions import MAX_LISTED
    from processor.sheets.transactions import silence_sheet

    n = MAX_LISTED + 10
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(n)],
            "amount": 1.0,
            "date": pd.Timestamp("2025-01-01") + pd.to_timedelta(np.arange(n) % 300, unit="D"),
        }
    )
    table = silence_table(frame, "2025-12-31")
    sheet = silence_sheet(table, "2025-12-31", Settings())
    assert len(sheet.blocks[0].frame) == MAX_LISTED
    assert sheet.blocks[1].frame["人數"].sum() == n  # the group counts still cover everyone
    assert any(f"{n:,}" in note for note in sheet.notes)


def test_margin_comes_from_the_margin_column_or_amount_minus_cost():
    with_margin = tx(("A", "2025-01-01", 100), ("A", "2025-01-11", 50)).assign(margin=[30.0, 10.0])
    with_cost = tx(("A", "2025-01-01", 100), ("A", "2025-01-11", 50)).assign(cost=[60.0, 45.0])
    assert one(silence_table(with_margin, "2025-02-01"), "A").margin == 40
    assert one(silence_table(with_cost, "2025-02-01"), "A").margin == 45
    assert np.isnan(one(silence_table(tx(("A", "2025-01-01", 100)), "2025-02-01"), "A").margin)


def test_two_transaction_sheets_are_one_log_and_problems_name_their_sheet(tmp_path):
    import openpyxl
    from conftest import write_rows

    from processor.pipeline import score_file

    path = write_rows(
        tmp_path / "two.xlsx",
        {
            "門市": [["客戶編號", "日期", "金額"], ["A001", "113/1/5", "3萬"], ["B002", "113/2/1", "1,200"]],
            "網路": [["會員編號", "交易日期", "消費金額"], ["a001 ", "113/3/5", "500"], ["B002", "114/1/1", "800"]],
        },
    )
    summary = score_file(path, tmp_path / "out.xlsx", as_of="2024-06-28")
    assert summary["transactions"]["customers"] == 2
    table = _sheet_frame(tmp_path / "out.xlsx", "沉默排名").set_index("客戶編號")
    assert table.loc["A001", "購買天數"] == 2 and table.loc["A001", "消費金額"] == 30500
    check = list(openpyxl.load_workbook(tmp_path / "out.xlsx", read_only=True)["資料檢查"].iter_rows(values_only=True))
    assert any(r[1] == "網路" and r[2] == 3 and r[3] == "日期" for r in check)  # the 2025 purchase, where it is
    assert any("不同寫法" in str(r[5]) and "a001" in str(r[4]) for r in check)


def test_generator_rounds_never_share_a_customer_id():
    generator = _load("generate_transactions")
    for rows in (3000, 20_000):
        rounds = generator.draw_rounds(rows, np.random.default_rng(0))
        assert len(rounds) >= 2  # the case that merged customers before
        ids = [set(r["customer"]) for r in rounds]
        assert sum(map(len, ids)) == len(set().union(*ids))
