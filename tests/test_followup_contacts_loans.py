import pandas as pd
import pytest

from processor.contacts import MAN_ADVICE, man_type, needs_status, profile_completeness
from processor.followup import next_followup, schedule
from processor.loans import loan_review, tenure_years
from processor.settings import Settings

S = Settings()
AS_OF = pd.Timestamp("2024-06-28")


@pytest.mark.parametrize("touches, expected", [(1, "2024-06-02"), (2, "2024-06-04"), (3, "2024-06-08")])
def test_first_touches_follow_the_memory_curve_one_three_seven_days(touches, expected):
    first = pd.Series([pd.Timestamp("2024-06-01")])
    nxt = next_followup(first, pd.Series(["C"]), pd.Series([touches]), S, first)
    assert nxt.iloc[0] == pd.Timestamp(expected)


@pytest.mark.parametrize("intent, days", [("H", 1), ("A", 3), ("B", 7), ("C", 15), (None, 14)])
def test_after_the_curve_the_cadence_follows_the_intent_level(intent, days):
    last = pd.Series([pd.Timestamp("2024-06-10")])
    nxt = next_followup(last, pd.Series([intent], dtype="string"), pd.Series([9]), S, pd.Series([pd.Timestamp("2024-01-01")]))
    assert (nxt.iloc[0] - last.iloc[0]).days == days


def test_the_log_adds_touches_and_its_latest_intent_wins():
    contacts = pd.DataFrame({"name": ["王小明", "陳美玲"], "customer_id": [pd.NA, pd.NA],
                             "first_contact": pd.to_datetime(["2024-05-01", None]),
                             "last_contact": pd.to_datetime(["2024-05-01", None]), "touches": [1, pd.NA],
                             "intent": ["C", "B"]})
    log = pd.DataFrame({"name": ["王 小明", "王小明", "王小明", "王小明", "路人甲"],
                        "date": pd.to_datetime(["2024-05-02", "2024-05-04", "2024-05-08", "2024-06-20", "2024-06-01"]),
                        "channel": ["電話"] * 5, "result": ["ok"] * 5, "intent": [None, None, None, "A", None]})
    plan = schedule(contacts, log, AS_OF, S).set_index("name")
    # 聯絡次數 is the larger of the list's count and the log's (the list may already count the log)
    assert plan.loc["王小明", "touches"] == 4 and plan.loc["王小明", "intent"] == "A"
    assert plan.loc["王小明", "next_followup"] == pd.Timestamp("2024-06-23") and plan.loc["王小明", "days_overdue"] == 5
    assert plan.loc["陳美玲", "status"] == "尚未接觸"
    assert plan.loc["路人甲", "from_list"] == False  # noqa: E712  in the log only, still scheduled


def test_profile_completeness_counts_the_eight_formhtcd_letters():
    frame = pd.DataFrame({"family": ["x"], "occupation": ["x"], "recreation": ["x"], "money": [None], "health": ["x"],
                          "time": [None], "china": [None], "dream_early": [None], "dream_mid": [None], "dream_long": ["x"]})
    assert profile_completeness(frame).iloc[0] == pytest.approx(5 / 8)


def test_needs_are_confirmed_only_when_how_much_when_and_what_they_give_are_known():
    frame = pd.DataFrame({"need_what": ["3萬", "3萬", None], "need_when": ["一年", None, None], "need_give": ["週末", None, None]})
    assert needs_status(frame).tolist() == ["已確認需求", "部分確認", "未確認"]


def test_every_man_combination_has_advice():
    import itertools

    rows = list(itertools.product([True, False], repeat=3))
    frame = pd.DataFrame(rows, columns=["man_money", "man_authority", "man_need"])
    kinds = man_type(frame)
    assert set(kinds) == set(MAN_ADVICE)


def test_tenure_from_a_roc_hire_date_or_from_text():
    years, bad = tenure_years(pd.Series(["108/06/28", "2年6個月", "8個月", "很久"]), AS_OF)
    assert years.round(2).tolist()[:3] == [5.0, 2.5, 0.67] and bad.tolist() == [False, False, False, True]


def test_income_consistency_allows_twelve_to_sixteen_point_eight_months():
    frame = pd.DataFrame({"name": ["a", "b", "c"], "id_number": ["A123456789"] * 3,
                          "birthday": pd.to_datetime(["1990-06-29", "1990-06-28", None]), "hire_date": [None] * 3,
                          "annual_income": [600_000, 1_000_000, 500_000], "monthly_income": [50_000, 50_000, 50_000]})
    review = loan_review(frame, AS_OF)
    assert review["income_check"].tolist()[:2] == ["一致", "年所得遠高於月收入×12，請確認獎金或兼差"]
    assert review["income_check"].iloc[2] == "年所得低於月收入×12，請確認"
    assert review["age"].tolist()[:2] == [33, 34]
    assert review["id_masked"].iloc[0] == "A12*****89"
