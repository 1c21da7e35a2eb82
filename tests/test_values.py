import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from processor.read.values import calendar_days, parse_amounts, parse_bools, parse_dates, parse_phones, zodiac_signs


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("85/03/12", "1996-03-12"),
        ("85/3/12", "1996-03-12"),
        ("085/03/12", "1996-03-12"),
        ("85.03.12", "1996-03-12"),
        ("85-3-12", "1996-03-12"),
        ("民國85年3月12日", "1996-03-12"),
        ("85年3月12日", "1996-03-12"),
        ("0850312", "1996-03-12"),
        ("民國113年1月5日", "2024-01-05"),
        ("113/01/05", "2024-01-05"),
        ("2024/3/5", "2024-03-05"),
        ("2024-03-05", "2024-03-05"),
        ("2024年3月5日", "2024-03-05"),
        ("20240305", "2024-03-05"),
        ("２０２４／３／５", "2024-03-05"),
        ("2024-03-05 14:30:00", "2024-03-05"),
        (45356, "2024-03-05"),
        (45356.75, "2024-03-05"),
        (dt.datetime(2024, 3, 5, 9, 0), "2024-03-05"),
        (dt.date(2024, 3, 5), "2024-03-05"),
    ],
)
def test_each_date_spelling_reps_type_is_understood(typed, expected):
    parsed, bad = parse_dates(pd.Series([typed], dtype=object))
    assert not bad.iloc[0]
    assert parsed.iloc[0] == pd.Timestamp(expected)


@pytest.mark.parametrize("typed", ["85/13/40", "113/02/30", "abc", "3月5日", "2024/3"])
def test_impossible_or_partial_dates_are_reported_not_guessed(typed):
    parsed, bad = parse_dates(pd.Series([typed], dtype=object))
    assert bad.iloc[0] and pd.isna(parsed.iloc[0])


@pytest.mark.parametrize(
    "typed",
    [
        "9999-12-31",  # "no end date" placeholders, as text and as date cells
        dt.datetime(9999, 12, 31),
        np.datetime64("9999-12-31"),
        "0001-01-01",  # four digits: a placeholder, not ROC year 1
        "00010101",
        dt.date(1, 1, 1),
        "6128-11-12",  # typos beyond pandas' nanosecond range (1677–2262)
        "2262-04-12",
        "1677-09-20",
        "٣2201",  # digits of other scripts are not folded by NFKC and are not dates
        "١٢٣٤٥",
    ],
)
def test_placeholder_far_off_and_other_script_dates_are_reported_not_a_crash(typed):
    parsed, bad = parse_dates(pd.Series([typed, "2024-03-05"], dtype=object))
    assert bad.tolist() == [True, False]
    assert pd.isna(parsed.iloc[0]) and parsed.iloc[1] == pd.Timestamp("2024-03-05")


def test_the_years_1800_to_2200_are_read_at_both_ends():
    parsed, bad = parse_dates(pd.Series(["1800-01-01", "2199-12-31", "2200-01-01", "1799-12-31", "001/01/01"]))
    assert bad.tolist() == [False, False, False, True, False]
    assert parsed.iloc[[0, 1, 2, 4]].dt.strftime("%Y-%m-%d").tolist() == [
        "1800-01-01",
        "2199-12-31",
        "2200-01-01",
        "1912-01-01",  # three digits: ROC year 1
    ]


def test_blank_dates_are_missing_but_not_errors():
    parsed, bad = parse_dates(pd.Series([None, "", "  "], dtype=object))
    assert parsed.isna().all() and not bad.any()


@given(st.dates(min_value=dt.date(1912, 1, 1), max_value=dt.date(2099, 12, 31)), st.sampled_from(range(5)))
def test_any_roc_spelling_round_trips_to_the_same_day(day, style):
    roc = day.year - 1911
    typed = [
        f"{roc}/{day.month:02d}/{day.day:02d}",
        f"民國{roc}年{day.month}月{day.day}日",
        f"{roc}.{day.month}.{day.day}",
        f"{roc:03d}{day.month:02d}{day.day:02d}",
        f"{day.year}/{day.month}/{day.day}",
    ][style]
    parsed, bad = parse_dates(pd.Series([typed], dtype=object))
    assert not bad.iloc[0] and parsed.iloc[0] == pd.Timestamp(day)


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("3萬", 30000),
        ("80萬", 800000),
        ("3.5萬", 35000),
        ("3萬5千", 35000),
        ("3萬5", 35000),
        ("1,200", 1200),
        ("NT$1,200", 1200),
        ("1200元", 1200),
        ("１２００", 1200),
        ("(500)", -500),
        ("-500", -500),
        ("2億", 2e8),
        ("5k", 5000),
        (42, 42),
        (3.5, 3.5),
        ("8萬5千", 85000),
    ],
)
def test_amounts_as_reps_type_them(typed, expected):
    parsed, bad = parse_amounts(pd.Series([typed], dtype=object))
    assert not bad.iloc[0] and parsed.iloc[0] == expected


@pytest.mark.parametrize("typed", ["三萬", "abc", "3萬萬", "1.2.3"])
def test_unreadable_amounts_are_reported(typed):
    parsed, bad = parse_amounts(pd.Series([typed], dtype=object))
    assert bad.iloc[0] and pd.isna(parsed.iloc[0])


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("是", True),
        ("否", False),
        ("有", True),
        ("無", False),
        ("Y", True),
        ("n", False),
        ("V", True),
        ("Ｙ", True),
        (1, True),
        (0, False),
        (True, True),
        ("沒有", False),
    ],
)
def test_yes_no_spellings(typed, expected):
    parsed, bad = parse_bools(pd.Series([typed], dtype=object))
    assert not bad.iloc[0] and parsed.iloc[0] is expected or parsed.iloc[0] == expected


def test_yes_no_nonsense_is_reported():
    assert parse_bools(pd.Series(["也許"], dtype=object))[1].iloc[0]


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("0912345678", "0912-345-678"),
        ("0912-345-678", "0912-345-678"),
        ("+886 912 345 678", "0912-345-678"),
        ("886912345678", "0912-345-678"),
        ("(02)2345-6789", "(02)2345-6789"),
        ("02-2345-6789", "(02)2345-6789"),
        ("04-2345-678", "(04)234-5678"),
        ("037-123456", "(037)12-3456"),
        ("(02)2345-6789#123", "(02)2345-6789#123"),
        ("０９１２３４５６７８", "0912-345-678"),
        (912345678, "0912-345-678"),
    ],
)
def test_phone_formats_are_normalised(typed, expected):
    parsed, bad = parse_phones(pd.Series([typed], dtype=object))
    assert not bad.iloc[0] and parsed.iloc[0] == expected


@pytest.mark.parametrize("typed", ["0912-345", "12345", "0912-345-6789-1", "abc"])
def test_bad_phones_are_reported(typed):
    assert parse_phones(pd.Series([typed], dtype=object))[1].iloc[0]


@pytest.mark.parametrize(
    "day, sign",
    [
        ("2000-01-19", "摩羯座"),
        ("2000-01-20", "水瓶座"),
        ("1996-03-12", "雙魚座"),
        ("1990-03-21", "牡羊座"),
        ("1990-08-23", "處女座"),
        ("1990-12-22", "摩羯座"),
        ("1990-12-21", "射手座"),
        ("1990-07-23", "獅子座"),
    ],
)
def test_zodiac_sign_boundaries(day, sign):
    assert zodiac_signs(pd.Series([pd.Timestamp(day)])).iloc[0] == sign


@pytest.mark.parametrize(
    "typed, expected",
    [("0800-000-123", "0800-000-123"), ("0800000123", "0800-000-123"), ("0809-123-456", "0809-123-456")],
)
def test_toll_free_numbers_are_written_like_mobiles_not_as_a_land_line(typed, expected):
    parsed, bad = parse_phones(pd.Series([typed], dtype=object))
    assert not bad.iloc[0] and parsed.iloc[0] == expected


@pytest.mark.parametrize(
    "typed, expected", [("45000", "2023-03-15"), ("45356.75", "2024-03-05"), ("１２３４５", "1933-10-18")]
)
def test_five_digit_text_in_a_date_column_is_an_excel_serial_day(typed, expected):
    parsed, bad = parse_dates(pd.Series([typed], dtype=object))
    assert not bad.iloc[0] and parsed.iloc[0] == pd.Timestamp(expected)


@pytest.mark.parametrize("typed", ["4500", "450000", "1234"])
def test_other_bare_numbers_as_text_are_not_guessed_to_be_dates(typed):
    assert parse_dates(pd.Series([typed], dtype=object))[1].iloc[0]


@pytest.mark.parametrize(
    "typed, years",
    [
        ("3年2個月", 3 + 2 / 12),
        ("3年2个月", 3 + 2 / 12),
        ("18個月", 1.5),
        ("3.5年", 3.5),
        ("2年", 2.0),
        ("5", 5.0),
        ("108/06/28", 1827 / 365.25),
        ("2019-06-28", 1827 / 365.25),
    ],
)
def test_tenure_from_a_hire_date_or_a_length_of_service(typed, years):
    from processor.read.values import parse_tenure

    parsed, bad, future = parse_tenure(pd.Series([typed], dtype=object), pd.Timestamp("2024-06-28"))
    assert parsed.iloc[0] == pytest.approx(years) and not bad.iloc[0] and not future.iloc[0]


@pytest.mark.parametrize(
    "typed, is_bad, is_future",
    [
        ("abc", True, False),
        ("2030/01/01", False, True),
        ("108年3月", True, False),
        ("200", True, False),
        ("", False, False),
    ],
)
def test_tenure_that_is_neither_a_date_nor_a_length_is_flagged(typed, is_bad, is_future):
    from processor.read.values import parse_tenure

    parsed, bad, future = parse_tenure(pd.Series([typed], dtype=object), pd.Timestamp("2024-06-28"))
    assert pd.isna(parsed.iloc[0]) and bool(bad.iloc[0]) == is_bad and bool(future.iloc[0]) == is_future


def test_number_cells_read_as_text_drop_a_spurious_decimal():
    from processor.read.values import numbers_as_text

    assert numbers_as_text(pd.Series([3.0, 3.5, True, "x", None], dtype=object)).tolist() == ["3", 3.5, "1", "x", None]


@pytest.mark.parametrize("typed", ["115/11/31", "76/2/29", "民國113年4月31日", "2023/02/29", "1150931"])
def test_a_day_that_does_not_exist_is_told_as_such(typed):
    from processor.read.values import nonexistent_dates

    assert parse_dates(pd.Series([typed], dtype=object))[1].iloc[0]
    assert nonexistent_dates(pd.Series([typed], dtype=object)).iloc[0]


@pytest.mark.parametrize("typed", ["77/2/29", "113/13/1", "113/0/5", "abc", "113/11/32", "2024/02/29"])
def test_a_date_that_is_real_or_not_a_date_at_all_is_not_called_a_missing_day(typed):
    from processor.read.values import nonexistent_dates

    assert not nonexistent_dates(pd.Series([typed], dtype=object)).iloc[0]


def test_the_data_check_says_the_day_does_not_exist_for_115_11_31_and_76_2_29(run_cli, tmp_path):
    from tests.conftest import sheet_rows, write_rows

    rows = [
        ["姓名", "生日", "最後聯絡日", "意向等級"],
        ["甲", "76/2/29", "113/5/1", "B"],
        ["乙", "85/03/12", "115/11/31", "A"],
        ["丙", "85/13/12", "113/5/1", "C"],
    ]
    path = write_rows(tmp_path / "c.xlsx", {"名單": rows})
    run_cli("score", path, "--as-of", "2027-01-01")
    check = sheet_rows(tmp_path / "c.scored.xlsx", "資料檢查", "問題").set_index("內容")
    assert "不存在" in check.loc["76/2/29", "問題"] and "不存在" in check.loc["115/11/31", "問題"]
    assert "2 月平年 28 天" in check.loc["76/2/29", "如何修正"]
    assert "不存在" not in check.loc["85/13/12", "問題"], "month 13 is a typo of another kind"


_ID_CELLS = st.sampled_from(["A001", "a001 ", "Ａ００１", "B7", "", "  ", "x\ny"])


@given(st.lists(st.one_of(st.none(), _ID_CELLS), max_size=40))
def test_arrow_text_ids_get_the_same_codes_as_python_strings(cells):
    from processor.read.values import IdCodes

    arrow = IdCodes.of(pd.Series(cells, dtype="string[pyarrow]"))
    python = IdCodes.of(pd.Series(cells, dtype=object))
    assert arrow.row_spelling.tolist() == python.row_spelling.tolist()
    assert arrow.spellings.tolist() == python.spellings.tolist()
    assert arrow.row_customer.tolist() == python.row_customer.tolist()
    assert arrow.customers.tolist() == python.customers.tolist()


def test_long_columns_fold_each_distinct_name_and_date_once_with_the_same_result_as_cell_by_cell():
    """name_key and parse_dates convert each distinct value of a column over 10,000 cells once: the
    result equals the cell-by-cell formulas (the ones a short column still takes)."""
    import datetime as dt

    import numpy as np

    from processor.read.values import name_key, normalise_text

    rng = np.random.default_rng(7)
    names = pd.Series(rng.choice(["王 小明", "王小明", "Ａmy", " ", None, "陳　大文", "lee\tX"], 12_000), dtype=object)
    slow = normalise_text(names).str.replace(r"\s+", "", regex=True).str.lower().replace("", pd.NA)
    pd.testing.assert_series_equal(name_key(names), slow)

    cells = [
        dt.datetime(2024, 3, 5, 14, 30),
        dt.date(2024, 3, 5),
        pd.Timestamp("1997-09-30"),
        np.datetime64("2001-01-02"),
    ]
    dates = pd.Series([cells[i] for i in rng.integers(0, len(cells), 12_000)], dtype=object)
    slow_dates = pd.to_datetime(dates.map(pd.Timestamp), errors="coerce").dt.normalize().astype("datetime64[ns]")
    parsed, bad = parse_dates(dates)
    pd.testing.assert_series_equal(parsed, slow_dates, check_names=False)
    assert not bad.any()


_PART = st.one_of(st.none(), st.integers(-2, 35))


@given(st.lists(st.tuples(st.none() | st.integers(1790, 2210), _PART, _PART), min_size=1, max_size=30))
def test_calendar_days_are_the_days_pandas_assembles_from_year_month_and_day(rows):
    """The date path's numpy calendar (:func:`calendar_days`) gives exactly what ``pd.to_datetime`` of a
    year/month/day frame gives: NaT for a missing part, month 13, the 31st of April or 29 February 2023."""
    year, month, day = (np.array([np.nan if v is None else v for v in part], dtype=float) for part in zip(*rows))
    expected = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": day}), errors="coerce")
    ours = pd.Series(calendar_days(year, month, day))
    assert ours.dtype == "datetime64[ns]" and ours.tolist() == expected.astype("datetime64[ns]").tolist()
