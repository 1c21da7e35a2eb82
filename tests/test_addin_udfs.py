"""The cell formulas, called exactly as xlwings calls them: lists of rows in, lists of rows out."""

from __future__ import annotations

import datetime as dt
import importlib.util
import inspect

import pytest
from hypothesis import given, settings, strategies as st

from addin import udfs


def _available(module: str, name: str) -> bool:
    if importlib.util.find_spec(module) is None:
        return False
    return hasattr(importlib.import_module(module), name)


def test_roc_and_western_dates_in_a_column_come_back_as_dates_in_the_same_shape():
    out = udfs.PL_TWDATE([["85/03/12"], ["民國113年1月5日"], ["2024/3/5"], [45000], [None]])
    assert out == [[dt.datetime(1996, 3, 12)], [dt.datetime(2024, 1, 5)], [dt.datetime(2024, 3, 5)],
                   [dt.datetime(2023, 3, 15)], [""]]


def test_an_unreadable_date_gets_a_message_naming_the_value_and_the_fix_and_its_neighbours_still_parse():
    out = udfs.PL_TWDATE([["85/03/12", "明天", "85/13/40"]])
    assert out[0][0] == dt.datetime(1996, 3, 12)
    assert "明天" in out[0][1] and "85/03/12" in out[0][1]
    assert "85/13/40" in out[0][2]


def test_a_single_cell_or_a_flat_row_is_accepted_as_xlwings_passes_it():
    assert udfs.PL_AMOUNT("3萬") == [[30000.0]]
    assert udfs.PL_AMOUNT(["3萬", "1,200", 42]) == [[30000.0, 1200.0, 42.0]]


def test_amounts_as_reps_type_them_become_numbers_and_gibberish_becomes_a_message():
    out = udfs.PL_AMOUNT([["80萬"], ["3萬5千"], ["NT$1,200"], ["很多"]])
    assert [r[0] for r in out[:3]] == [800000.0, 35000.0, 1200.0]
    assert out[3][0].startswith("無法辨識金額「很多」")


def test_zodiac_of_a_roc_birthday_is_its_western_sign():
    assert udfs.PL_ZODIAC([["85/03/12"], ["2000/12/25"], [""]]) == [["雙魚座"], ["摩羯座"], [""]]


def test_id_check_tells_valid_from_bad_checksum_from_bad_format():
    assert udfs.PL_ID_CHECK([["A123456789", "A123456788", "12345", None]]) == [["有效", "檢查碼錯誤", "格式錯誤", ""]]


needs_propensity = pytest.mark.skipif(not _available("processor.propensity", "expected_profit"),
                                      reason="processor.propensity not merged into this branch yet")


def test_expected_profit_says_not_available_until_the_propensity_core_is_present():
    out = udfs.PL_EXPECTED_PROFIT([[0.5]])
    if _available("processor.propensity", "expected_profit"):
        assert out == [[700.0]]
    else:
        assert out == [[f"⚠ {udfs.NOT_AVAILABLE}: processor.propensity.expected_profit"]]


@needs_propensity
def test_expected_profit_uses_the_seed_economics_when_price_and_costs_are_left_blank():
    assert udfs.PL_EXPECTED_PROFIT([[0.5], [0.1], [0.0]]) == [[700.0], [0.0], [-175.0]]
    assert udfs.PL_EXPECTED_PROFIT([[0.5]], 3000, "1,000", 100) == [[900.0]]


@needs_propensity
def test_expected_profit_rejects_a_probability_outside_zero_to_one_cell_by_cell():
    out = udfs.PL_EXPECTED_PROFIT([[0.5], [1.5], ["abc"]])
    assert out[0] == [700.0]
    assert "1.5" in out[1][0] and "abc" in out[2][0]


@needs_propensity
def test_a_bad_price_is_one_readable_cell_not_a_crash():
    out = udfs.PL_EXPECTED_PROFIT([[0.5]], "貴")
    assert out == [["⚠ 「price」「貴」不是數字"]]


def test_a_block_where_one_column_is_expected_is_a_readable_message():
    out = udfs.PL_SILENCE([["a", "b"], ["c", "d"]], [["2024/1/1"], ["2024/2/1"]])
    if _available("processor.silence", "silence_table"):
        assert "請選一欄" in out[0][0]
    else:
        assert udfs.NOT_AVAILABLE in out[0][0]


@pytest.mark.parametrize("name, module, core, args", [
    ("PL_SILENCE", "processor.silence", "silence_table", (["a", "a", "b"], ["2024/1/1", "2024/2/1", "2024/1/5"], "2024/6/1")),
    ("PL_RFM", "processor.segments", "rfm_table", (["a", "a", "b"], ["2024/1/1", "2024/2/1", "2024/1/5"], [100, 200, 50], "2024/6/1")),
    ("PL_ABC", "processor.segments", "abc_classes", ([[100], [50], [1]],)),
    ("PL_NEXT_FOLLOWUP", "processor.followup", "next_followup", ([["2024/1/1"]], [["H"]], [[1]], "2024/1/10")),
])
def test_formulas_over_analytics_give_a_table_or_say_plainly_that_the_analysis_is_not_available_yet(name, module, core, args):
    out = getattr(udfs, name)(*args)
    if _available(module, core):
        assert not str(out[0][0]).startswith("⚠"), out
        assert len(out) >= 2 or name in ("PL_NEXT_FOLLOWUP",)
    else:
        assert out == [[f"⚠ {udfs.NOT_AVAILABLE}: {module}.{core}"]]


def test_probability_formula_names_the_missing_model_and_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("PRECISION_LIST_MODELS", str(tmp_path))
    out = udfs.PL_PROB([["客戶編號", "年齡"], ["c1", 30]], "沒有這個模型")
    if _available("processor.models", "load_model_cached"):
        assert out[0][0].startswith("⚠ 找不到模型「沒有這個模型」") and str(tmp_path) in out[0][0]
    else:
        assert out == [[f"⚠ {udfs.NOT_AVAILABLE}: processor.models.load_model_cached"]]


def test_misaligned_transaction_columns_are_reported_with_their_lengths():
    frame_or_problem = None
    try:
        udfs._transactions(["a", "b"], ["2024/1/1"], None)
    except udfs.FormulaProblem as problem:
        frame_or_problem = str(problem)
    assert frame_or_problem is not None and "2、1" in frame_or_problem


def test_transactions_are_read_with_parsed_dates_and_amounts_and_blank_ids_dropped():
    frame = udfs._transactions([["a"], ["a"], [None]], [["113/1/5"], [45000], ["2024/1/1"]], [["3萬"], [100], [5]])
    assert frame["customer_id"].tolist() == ["a", "a"]
    assert frame["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-05", "2023-03-15"]
    assert frame["amount"].tolist() == [30000.0, 100.0]
    assert udfs._transactions(["a"], ["2024/1/1"])["amount"].tolist() == [1.0]  # dates only: each is a purchase


def test_a_bad_date_in_transactions_names_its_row_and_value():
    with pytest.raises(udfs.FormulaProblem, match="第 2 列日期「昨天」"):
        udfs._transactions(["a", "b"], ["2024/1/1", "昨天"])


def test_every_formula_is_exported_with_a_docstring_for_the_function_wizard():
    for name in udfs.UDF_NAMES:
        func = getattr(udfs, name)
        assert func.__doc__ and len(func.__doc__) <= 255, name
        assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
                   for p in inspect.signature(func).parameters.values()), name


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.one_of(st.none(), st.text(max_size=8), st.integers(-10**6, 10**6),
                                   st.floats(allow_nan=False, allow_infinity=False)),
                         min_size=3, max_size=3), min_size=1, max_size=6))
def test_cell_formulas_never_raise_and_always_return_the_shape_they_were_given(rows):
    funcs = [udfs.PL_TWDATE, udfs.PL_AMOUNT, udfs.PL_ZODIAC, udfs.PL_ID_CHECK]
    if _available("processor.propensity", "expected_profit"):
        funcs.append(udfs.PL_EXPECTED_PROFIT)
    for func in funcs:
        out = func(rows)
        assert len(out) == len(rows) and all(len(r) == 3 for r in out), func.__name__


@pytest.mark.skipif(not _available("processor.followup", "next_followup"), reason="processor.followup not on this branch")
def test_next_followup_follows_the_first_touch_curve_then_the_intent_cadence_and_counts_days_overdue():
    out = udfs.PL_NEXT_FOLLOWUP([["2024/3/1"], ["2024/3/1"], ["昨天"]], [["A"], ["C"], ["H"]], [[5], [1], [1]], "2024/3/10")
    assert out[0] == [dt.datetime(2024, 3, 4), 6]  # A: every 3 days after the early curve
    assert out[1] == [dt.datetime(2024, 3, 2), 8]  # first contact + 1 day
    assert out[2][0].startswith("無法辨識日期「昨天」")
