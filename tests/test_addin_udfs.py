"""The cell formulas, called exactly as xlwings calls them: lists of rows in, lists of rows out.

Where a formula and ``precision-list score`` look at the same data they must agree, so a few
tests run the installed CLI on the same rows and compare.
"""

from __future__ import annotations

import datetime as dt
import inspect
import itertools

import pytest
from conftest import sheet_rows, write_rows
from hypothesis import given, settings
from hypothesis import strategies as st

from addin import udfs
from addin.messages import CLI_REFERENCE


def _notes(out: list[list]) -> list[str]:
    return [row[0] for row in out if isinstance(row[0], str) and row[0].startswith("⚠")]


def _customers(out: list[list]) -> dict[str, list]:
    return {row[0]: row[1:] for row in out[1:] if not str(row[0]).startswith("⚠")}


def test_roc_and_western_dates_in_a_column_come_back_as_dates_in_the_same_shape():
    out = udfs.PL_TWDATE([["85/03/12"], ["民國113年1月5日"], ["2024/3/5"], [45000], [None]])
    assert out == [
        [dt.datetime(1996, 3, 12)],
        [dt.datetime(2024, 1, 5)],
        [dt.datetime(2024, 3, 5)],
        [dt.datetime(2023, 3, 15)],
        [""],
    ]


def test_an_unreadable_date_gets_a_message_naming_the_value_and_the_fix_and_its_neighbours_still_parse():
    out = udfs.PL_TWDATE([["85/03/12", "明天", "85/13/40"]])
    assert out[0][0] == dt.datetime(1996, 3, 12)
    assert out[0][1].startswith("⚠ 無法辨識日期「明天」") and "85/03/12" in out[0][1]
    assert "85/13/40" in out[0][2]


def test_a_single_cell_or_a_flat_row_is_accepted_as_xlwings_passes_it():
    assert udfs.PL_AMOUNT("3萬") == [[30000.0]]
    assert udfs.PL_AMOUNT(["3萬", "1,200", 42]) == [[30000.0, 1200.0, 42.0]]


def test_amounts_as_reps_type_them_become_numbers_and_gibberish_becomes_a_message():
    out = udfs.PL_AMOUNT([["80萬"], ["3萬5千"], ["NT$1,200"], ["很多"], ["(500)"]])
    assert [r[0] for r in out[:3]] == [800000.0, 35000.0, 1200.0]
    assert out[3][0].startswith("⚠ 無法辨識金額「很多」")
    assert out[4] == [-500.0]


def test_zodiac_of_a_roc_birthday_is_its_western_sign():
    assert udfs.PL_ZODIAC([["85/03/12"], ["2000/12/25"], [""]]) == [["雙魚座"], ["摩羯座"], [""]]


def test_a_birthday_in_the_future_or_before_1900_gets_a_message_instead_of_a_sign():
    out = udfs.PL_ZODIAC([["2099/01/01"], ["1850/5/5"], ["x"]])
    assert out[0][0].startswith("⚠ 生日「2099/01/01」日期在基準日") and "之後" in out[0][0]
    assert out[1][0].startswith("⚠ 生日「1850/5/5」日期早於 1900 年")
    assert out[2][0].startswith("⚠ 生日「x」日期無法辨識")


def test_id_check_tells_valid_from_bad_checksum_from_bad_format():
    assert udfs.PL_ID_CHECK([["A123456789", "A123456788", "12345", None]]) == [["有效", "檢查碼錯誤", "格式錯誤", ""]]


def test_expected_profit_of_a_half_chance_is_seed_000s_margin_less_the_call():
    assert udfs.PL_EXPECTED_PROFIT([[0.5]]) == [[700.0]]


def test_expected_profit_uses_the_seed_economics_when_price_and_costs_are_left_blank():
    assert udfs.PL_EXPECTED_PROFIT([[0.5], [0.1], [0.0]]) == [[700.0], [0.0], [-175.0]]
    assert udfs.PL_EXPECTED_PROFIT([[0.5]], 3000, "1,000", 100) == [[900.0]]


def test_a_probability_typed_as_percent_text_is_read_like_the_number_it_means():
    # seed 000: 0.35 × (2500 − 750) − 175 = 437.5, however the 35% is written
    assert udfs.PL_EXPECTED_PROFIT([[0.35], ["35%"], ["３５％"], [" 35 %"], ["0.35"]]) == [[437.5]] * 5


def test_expected_profit_rejects_a_probability_outside_zero_to_one_cell_by_cell():
    out = udfs.PL_EXPECTED_PROFIT([[0.5], [1.5], ["abc"], ["150%"]])
    assert out[0] == [700.0]
    assert out[1][0].startswith("⚠ 機率「1.5」不在 0 到 1 之間")
    assert out[2][0].startswith("⚠ 無法辨識機率「abc」")
    assert out[3][0].startswith("⚠ 機率「150%」不在 0 到 1 之間")


def test_a_bad_price_is_one_readable_cell_not_a_crash():
    out = udfs.PL_EXPECTED_PROFIT([[0.5]], "貴")
    assert out == [["⚠ 「price」「貴」不是數字"]]


def test_a_block_where_one_column_is_expected_is_a_readable_message():
    out = udfs.PL_SILENCE([["a", "b"], ["c", "d"]], [["2024/1/1"], ["2024/2/1"]])
    assert "請選一欄" in out[0][0]


@pytest.mark.parametrize(
    "name, module, core, args",
    [
        (
            "PL_SILENCE",
            "processor.analyse.silence",
            "silence_table",
            (["a", "a", "b"], ["2024/1/1", "2024/2/1", "2024/1/5"], "2024/6/1"),
        ),
        (
            "PL_RFM",
            "processor.analyse.segments",
            "rfm_table",
            (["a", "a", "b"], ["2024/1/1", "2024/2/1", "2024/1/5"], [100, 200, 50], "2024/6/1"),
        ),
        ("PL_ABC", "processor.analyse.segments", "abc_classes", ([[100], [50], [1]],)),
        ("PL_NEXT_FOLLOWUP", "processor.analyse.followup", "due", ([["2024/1/1"]], [["H"]], [[1]], "2024/1/10")),
    ],
)
def test_formulas_over_analytics_give_a_table(name, module, core, args):
    out = getattr(udfs, name)(*args)
    assert not str(out[0][0]).startswith("⚠"), out
    assert len(out) >= 2 or name in ("PL_NEXT_FOLLOWUP",)


def test_probability_formula_names_the_missing_model_where_it_looked_and_the_excel_step(tmp_path, monkeypatch):
    monkeypatch.setenv("PRECISION_LIST_MODELS", str(tmp_path))
    out = udfs.PL_PROB([["客戶編號", "年齡"], ["c1", 30]], "沒有這個模型")
    assert out[0][0].startswith("⚠ 找不到模型「沒有這個模型」") and str(tmp_path) in out[0][0]
    assert "訓練模型" in out[0][0] and not CLI_REFERENCE.search(out[0][0])


# ---------------------------------------------------------------------------------------------
# PL_SILENCE / PL_RFM: the pipeline's cleaning, so a formula and the CLI agree

SEED_IDS = [["A001"], ["a001 "], ["Ａ００１"]]
SEED_DATES = [["2025/01/01"], ["2025/01/11"], ["2025/01/31"]]


def test_one_customer_typed_three_ways_is_one_customer_with_the_seed_004_scores():
    # seed 004 §三 by hand: visits 1, 11, 31 Jan → T = 10, 20; as of 10 Mar Tr = 38 ≥ max T, so
    # TrF = 3/3 = 1 and S = 38 / 20 = 1.9 (silent, group e)
    out = udfs.PL_SILENCE(SEED_IDS, SEED_DATES, "2025/03/10")
    assert out[0] == ["客戶編號", "幾天沒來", "秩次比 TrF", "沉默得分 S", "沉默分組"]
    assert _customers(out) == {"A001": [38.0, 1.0, 1.9, "e"]}
    assert any("不同寫法" in n and "A001" in n for n in _notes(out))


def test_silence_formula_and_the_cli_give_the_same_customers_and_scores(run_cli, tmp_path):
    rows = [
        ["客戶編號", "日期", "金額"],
        ["A001", "2025/01/01", 100],
        ["a001 ", "2025/01/11", 100],
        ["Ａ００１", "2025/01/31", 100],
        [1001, "2024/12/01", 50],
        [1001, "2025/02/20", 50],
        ["B7", "2025/02/01", 80],
    ]
    path = write_rows(tmp_path / "交易.xlsx", {"交易": rows})
    run_cli("score", path, "-o", tmp_path / "out.xlsx", "--as-of", "2025-03-10")
    cli = sheet_rows(tmp_path / "out.xlsx", "沉默排名", "秩次比 TrF").set_index("客戶編號")
    body = [[float(v) if isinstance(v, int) else v for v in r] for r in rows[1:]]  # Excel COM passes numbers as floats
    out = udfs.PL_SILENCE([[r[0]] for r in body], [[r[1]] for r in body], "2025/03/10")
    ours = _customers(out)
    assert sorted(ours) == sorted(map(str, cli.index))
    for customer, (tr, trf, s, group) in ours.items():
        row = cli.loc[customer]
        assert (tr, round(trf, 6), round(s, 6), group) == (
            row["幾天沒來"],
            round(row["秩次比 TrF"], 6),
            round(row["沉默得分 S"], 6),
            row["沉默分組"],
        ), customer


def test_numeric_customer_ids_from_excel_come_back_without_a_trailing_point_zero():
    ids = [[1001.0], [1001.0], [1002.0]]
    dates = [["2025/01/01"], ["2025/02/01"], ["2025/01/15"]]
    assert set(_customers(udfs.PL_SILENCE(ids, dates, "2025/03/10"))) == {"1001", "1002"}
    assert set(_customers(udfs.PL_RFM(ids, dates, [[100.0], [50.0], [80.0]], "2025/03/10"))) == {"1001", "1002"}
    assert not _notes(udfs.PL_SILENCE([[1001.0], ["1001"]], [["2025/01/01"], ["2025/02/01"]], "2025/03/10"))


def test_a_purchase_after_as_of_is_left_out_and_said_so_under_the_table_in_excel_terms():
    out = udfs.PL_SILENCE(["C1", "C1", "C2"], ["2024/1/1", "2025/3/1", "2024/2/1"], "2024/06/28")
    notes = _notes(out)
    assert _customers(out)["C1"][0] == 179.0  # the 2025 purchase did not count
    assert (
        len(notes) == 1 and "晚於基準日 2024/06/28" in notes[0] and "第 2 列" in notes[0] and "2025/03/01" in notes[0]
    )
    assert "as_of" in notes[0] and not CLI_REFERENCE.search(notes[0])
    assert all(len(row) == len(out[0]) for row in out)  # notes are as wide as the table


def test_a_customer_with_only_a_return_is_named_under_the_rfm_table_not_dropped_silently():
    out = udfs.PL_RFM(["C1", "C2"], ["2024/1/1", "2024/2/1"], ["-500", "100"], "2024/06/28")
    assert set(_customers(out)) == {"C2"}
    notes = _notes(out)
    assert any("退貨" in n and "第 1 列" in n for n in notes)
    assert any("只有退貨" in n and "C1" in n for n in notes)


def test_an_unreadable_date_in_transactions_is_a_note_naming_its_row_and_the_rest_is_still_computed():
    out = udfs.PL_SILENCE(["A", "B", "A"], ["2024/1/1", "昨天", "2024/3/1"], "2024/6/1")
    assert set(_customers(out)) == {"A"}
    assert any(n.startswith("⚠ 錯誤：第 2 列日期「昨天」無法辨識") for n in _notes(out))


def test_the_unused_end_of_a_selected_range_is_skipped_without_notes():
    ids = [["A"], ["A"]] + [[None]] * 50
    dates = [["2024/1/1"], ["2024/2/1"]] + [[None]] * 50
    out = udfs.PL_RFM(ids, dates, [[10], [20]] + [[None]] * 50, "2024/6/1")
    assert set(_customers(out)) == {"A"} and not _notes(out)


def test_many_problems_are_capped_with_a_count_of_the_rest():
    n = udfs.MAX_NOTES + 15
    out = udfs.PL_SILENCE([f"c{i}" for i in range(n)] + ["ok"], ["明天"] * n + ["2024/1/1"], "2024/6/1")
    notes = _notes(out)
    assert len(notes) == udfs.MAX_NOTES + 1 and notes[-1].startswith("⚠ 另有")


def test_misaligned_transaction_columns_are_reported_with_their_lengths():
    out = udfs.PL_SILENCE(["a", "b"], ["2024/1/1"])
    assert out == [["⚠ 客戶編號、日期的列數不同（2、1）：請選同樣多列"]]


# ---------------------------------------------------------------------------------------------
# PL_NEXT_FOLLOWUP: the 跟進排程 schedule; bad cells say why


def test_next_followup_follows_the_first_touch_curve_then_the_intent_cadence_and_counts_days_overdue():
    out = udfs.PL_NEXT_FOLLOWUP(
        [["2024/3/1"], ["2024/3/1"], ["昨天"]], [["A"], ["C"], ["H"]], [[5], [1], [1]], "2024/3/10"
    )
    assert out[0] == [dt.datetime(2024, 3, 4), 6]  # A: every 3 days after the early curve
    assert out[1] == [dt.datetime(2024, 3, 2), 8]  # first contact + 1 day
    assert out[2][0].startswith("⚠ 最後聯絡日「昨天」日期無法辨識") and out[2][1] == ""


def test_an_unknown_intent_a_non_number_or_negative_touch_count_gets_a_message_not_a_default():
    out = udfs.PL_NEXT_FOLLOWUP(
        [["2024/6/1"]] * 5, [["Z"], ["h"], [None], ["A"], ["A"]], [[5], [-2], ["abc"], [3.5], [5]], "2024/06/28"
    )
    assert out[0][0].startswith("⚠ 意向等級「Z」不是可選的值") and "H / A / B / C" in out[0][0]
    assert out[1][0].startswith("⚠ 聯絡次數「-2」不能是負數")
    assert out[2][0].startswith("⚠ 聯絡次數「abc」不是整數")
    assert out[3][0].startswith("⚠ 聯絡次數「3.5」不是整數")
    assert out[4] == [dt.datetime(2024, 6, 4), 24]


def test_a_blank_intent_is_the_documented_unrated_cadence_and_blank_rows_stay_blank():
    out = udfs.PL_NEXT_FOLLOWUP([["2024/6/1"], [None]], [[None], [None]], [[5], [None]], "2024/06/28")
    assert out == [[dt.datetime(2024, 6, 15), 13], ["", ""]]  # 未分級: every 14 days


def test_a_last_contact_after_as_of_is_flagged():
    out = udfs.PL_NEXT_FOLLOWUP([["2024/7/1"]], [["A"]], [[3]], "2024/06/28")
    assert out[0][0].startswith("⚠ 最後聯絡日「2024/7/1」日期在基準日（2024/06/28）之後")


def test_next_followup_formula_and_the_cli_schedule_agree(run_cli, tmp_path):
    rows = [
        ["姓名", "最後聯絡日", "意向等級", "聯絡次數"],
        ["甲", "2024/06/20", "B", 6],
        ["乙", "2024/06/01", "H", 9],
        ["丙", "2024/06/27", "C", 1],
        ["丁", "2024/05/01", None, 4],
        ["戊", "2024/06/26", "A", 2],
    ]
    path = write_rows(tmp_path / "名單.xlsx", {"名單": rows})
    run_cli("score", path, "-o", tmp_path / "out.xlsx", "--as-of", "2024-06-28")
    plan = sheet_rows(tmp_path / "out.xlsx", "跟進排程", "狀態").set_index("姓名")
    out = udfs.PL_NEXT_FOLLOWUP(
        [[r[1]] for r in rows[1:]], [[r[2]] for r in rows[1:]], [[float(r[3])] for r in rows[1:]], "2024/06/28"
    )
    for row, (due, overdue) in zip(rows[1:], out):
        assert (due, overdue) == (plan.loc[row[0], "下次跟進日"].to_pydatetime(), plan.loc[row[0], "逾期天數"]), row


# ---------------------------------------------------------------------------------------------
# PL_ABC


def test_abc_of_ten_customers_is_one_a_two_b_seven_c():
    # seed 001 二: top 10% A, next 20% B, the rest C
    out = udfs.PL_ABC([[v] for v in range(100, 0, -10)])
    assert [r[0] for r in out] == ["A", "B", "B"] + ["C"] * 7


def test_zero_and_negative_amounts_are_not_classed_and_do_not_count_towards_the_cut_offs():
    out = udfs.PL_ABC([[v] for v in range(100, 0, -10)] + [[0], [-500], ["x"], [None]])
    assert [r[0] for r in out[:10]] == ["A", "B", "B"] + ["C"] * 7
    assert out[10][0].startswith("⚠ 金額 0 不是正數") and out[11][0].startswith("⚠ 金額 -500 不是正數")
    assert out[12][0].startswith("⚠ 無法辨識金額「x」") and out[13] == [""]


# ---------------------------------------------------------------------------------------------
# Every formula


def test_every_formula_is_exported_with_a_docstring_for_the_function_wizard():
    for name in udfs.UDF_NAMES:
        func = getattr(udfs, name)
        assert func.__doc__ and len(func.__doc__) <= 255, name
        assert all(
            p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in inspect.signature(func).parameters.values()
        ), name


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            st.one_of(
                st.none(),
                st.text(max_size=8),
                st.integers(-(10**6), 10**6),
                st.floats(allow_nan=False, allow_infinity=False),
            ),
            min_size=3,
            max_size=3,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_cell_formulas_never_raise_and_always_return_the_shape_they_were_given(rows):
    funcs = [udfs.PL_TWDATE, udfs.PL_AMOUNT, udfs.PL_ZODIAC, udfs.PL_ID_CHECK, udfs.PL_ABC, udfs.PL_EXPECTED_PROFIT]
    for func in funcs:
        out = func(rows)
        assert len(out) == len(rows) and all(len(r) == 3 for r in out), func.__name__
        assert not any(str(v).startswith(f"⚠ {func.__name__} 無法計算") for r in out for v in r), out


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A1", "a1 ", "Ａ1", 7.0, "B2", None, ""]),
            st.one_of(
                st.dates(dt.date(2023, 1, 1), dt.date(2024, 12, 31)).map(lambda d: d.strftime("%Y/%m/%d")),
                st.sampled_from(["明天", None, 45000]),
            ),
            st.one_of(st.integers(-500, 5000), st.sampled_from(["3萬", "abc", None])),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_transaction_formulas_never_crash_and_every_row_is_a_customer_or_a_note(rows):
    ids, dates, amounts = ([[r[i]] for r in rows] for i in range(3))
    for out in (udfs.PL_SILENCE(ids, dates, "2024/06/28"), udfs.PL_RFM(ids, dates, amounts, "2024/06/28")):
        assert not any("無法計算" in str(v) for r in out for v in r), out
        assert len({len(r) for r in out}) == 1
        assert all(not CLI_REFERENCE.search(n) for n in _notes(out))


def test_no_formula_message_points_at_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PRECISION_LIST_MODELS", str(tmp_path))
    outputs = [
        udfs.PL_SILENCE(["a", "b"], ["2030/1/1", "x"], "2024/1/1"),
        udfs.PL_RFM(["a"], ["2024/1/1"], ["-5"], "2024/6/1"),
        udfs.PL_PROB([["客戶編號"], ["c"]], "nope"),
        udfs.PL_PROB([["客戶編號"], ["c"]], "no/such/file.skops"),
        udfs.PL_NEXT_FOLLOWUP([["2030/1/1"]], [["Q"]], [["x"]], "2024/1/1"),
    ]
    for cell in itertools.chain.from_iterable(itertools.chain.from_iterable(outputs)):
        assert not CLI_REFERENCE.search(str(cell)), cell


_cell = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=False),
    st.integers(-(10**9), 10**9),
    st.booleans(),
    st.datetimes(dt.datetime(1890, 1, 1), dt.datetime(2100, 1, 1)),
    st.sampled_from(["3萬", "1,200", "(500)", "85/03/12", "2024-03-05", "45000", " ", "", "abc", "0850312"]),
    st.text(max_size=6),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_cell, max_size=30))
def test_the_typed_fast_paths_give_exactly_what_the_pipelines_parsers_give(cells):
    """Numbers and date cells skip the parsers' text paths (and the blank check's); the results
    must not change."""
    import pandas as pd

    from processor.read import values

    series = pd.Series(cells, dtype=object)
    for fast, parser in ((udfs._amounts, values.parse_amounts), (udfs._dates, values.parse_dates)):
        (got, got_bad), (want, want_bad) = fast(series), parser(series)
        pd.testing.assert_series_equal(got, want, check_dtype=False, check_names=False)
        assert got_bad.tolist() == want_bad.tolist()
    assert udfs._blank(series).tolist() == values.is_blank(series).tolist()
