import pandas as pd
import pytest

from processor.analyse.contacts import MAN_ADVICE, man_type, needs_status, profile_completeness
from processor.analyse.followup import next_followup, schedule
from processor.analyse.loans import loan_review, tenure_years
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
    nxt = next_followup(
        last, pd.Series([intent], dtype="string"), pd.Series([9]), S, pd.Series([pd.Timestamp("2024-01-01")])
    )
    assert (nxt.iloc[0] - last.iloc[0]).days == days


def test_the_log_adds_touches_and_its_latest_intent_wins():
    contacts = pd.DataFrame(
        {
            "name": ["王小明", "陳美玲"],
            "customer_id": [pd.NA, pd.NA],
            "first_contact": pd.to_datetime(["2024-05-01", None]),
            "last_contact": pd.to_datetime(["2024-05-01", None]),
            "touches": [1, pd.NA],
            "intent": ["C", "B"],
        }
    )
    log = pd.DataFrame(
        {
            "name": ["王 小明", "王小明", "王小明", "王小明", "路人甲"],
            "date": pd.to_datetime(["2024-05-02", "2024-05-04", "2024-05-08", "2024-06-20", "2024-06-01"]),
            "channel": ["電話"] * 5,
            "result": ["ok"] * 5,
            "intent": [None, None, None, "A", None],
        }
    )
    plan = schedule(contacts, log, AS_OF, S).set_index("name")
    # 聯絡次數 is the larger of the list's count and the log's (the list may already count the log)
    assert plan.loc["王小明", "touches"] == 4 and plan.loc["王小明", "intent"] == "A"
    assert plan.loc["王小明", "next_followup"] == pd.Timestamp("2024-06-23") and plan.loc["王小明", "days_overdue"] == 5
    assert plan.loc["陳美玲", "status"] == "尚未接觸"
    assert plan.loc["路人甲", "from_list"] == False  # noqa: E712  in the log only, still scheduled


def test_the_log_s_latest_recorded_intent_wins_over_later_rows_without_one_and_none_keeps_the_list_s():
    contacts = pd.DataFrame({"name": ["王小明", "陳美玲"], "customer_id": [pd.NA] * 2, "intent": ["C", "B"]})
    log = pd.DataFrame(
        {
            "name": ["王小明", "王小明", "王小明", "陳美玲", "路人甲"],
            "date": pd.to_datetime(["2024-06-01", "2024-06-20", "2024-05-01", "2024-06-02", "2024-06-03"]),
            "channel": ["電話"] * 5,
            "result": ["ok"] * 5,
            "intent": pd.Series(["A", None, "H", None, None], dtype="string"),
        }
    )
    plan = schedule(contacts, log, AS_OF, S).set_index("name")
    assert plan.loc["王小明", "intent"] == "A" and plan.loc["陳美玲", "intent"] == "B"
    assert pd.isna(plan.loc["路人甲", "intent"])


def test_profile_completeness_counts_the_eight_formhtcd_letters():
    frame = pd.DataFrame(
        {
            "family": ["x"],
            "occupation": ["x"],
            "recreation": ["x"],
            "money": [None],
            "health": ["x"],
            "time": [None],
            "china": [None],
            "dream_early": [None],
            "dream_mid": [None],
            "dream_long": ["x"],
        }
    )
    assert profile_completeness(frame).iloc[0] == pytest.approx(5 / 8)


def test_needs_are_confirmed_only_when_how_much_when_and_what_they_give_are_known():
    frame = pd.DataFrame(
        {"need_what": ["3萬", "3萬", None], "need_when": ["一年", None, None], "need_give": ["週末", None, None]}
    )
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
    frame = pd.DataFrame(
        {
            "name": ["a", "b", "c"],
            "id_number": ["A123456789"] * 3,
            "birthday": pd.to_datetime(["1990-06-29", "1990-06-28", None]),
            "hire_date": [None] * 3,
            "annual_income": [600_000, 1_000_000, 500_000],
            "monthly_income": [50_000, 50_000, 50_000],
        }
    )
    review = loan_review(frame, AS_OF)
    assert review["income_check"].tolist()[:2] == ["一致", "年所得遠高於月收入×12，請確認獎金或兼差"]
    assert review["income_check"].iloc[2] == "年所得低於月收入×12，請確認"
    assert review["age"].tolist()[:2] == [33, 34]
    assert review["id_masked"].iloc[0] == "A12*****89"


@pytest.mark.parametrize(
    "born, as_of, age",
    [
        ("1990-06-28", "2024-06-28", 34),  # birthday today
        ("1990-06-27", "2024-06-28", 34),  # yesterday
        ("1990-06-29", "2024-06-28", 33),  # tomorrow
        ("2000-02-29", "2024-02-28", 23),
        ("2000-02-29", "2024-02-29", 24),  # leap day in a leap year
        ("2000-02-29", "2023-02-28", 22),
        ("2000-02-29", "2023-03-01", 23),  # … and in other years: 1 March
    ],
)
def test_age_counts_whole_years_by_month_and_day(born, as_of, age):
    from processor.analyse.loans import age_years

    assert age_years(pd.Series([pd.Timestamp(born)]), pd.Timestamp(as_of)).iloc[0] == age


def test_a_log_with_only_names_joins_a_contact_list_with_customer_ids():
    contacts = pd.DataFrame(
        {
            "name": ["王小明", "陳美玲", "陳美玲"],
            "customer_id": ["C1", "C2", "C3"],
            "last_contact": pd.to_datetime(["2024-05-01"] * 3),
            "touches": [5, 5, 5],
            "intent": ["B"] * 3,
        }
    )
    log = pd.DataFrame(
        {
            "name": ["王小明", "陳美玲", "林志明"],
            "customer_id": [pd.NA] * 3,
            "date": pd.to_datetime(["2024-06-20", "2024-06-21", "2024-06-22"]),
            "channel": ["電話"] * 3,
            "result": ["ok"] * 3,
            "intent": [None] * 3,
        }
    )
    plan = schedule(contacts, log, AS_OF, S)
    assert len(plan) == 5  # 王小明 joined by name; the two 陳美玲 are not guessed; 林志明 is only in the log
    wang = plan[plan["name"] == "王小明"].iloc[0]
    assert wang["customer_id"] == "C1" and wang["last_contact"] == pd.Timestamp("2024-06-20") and wang["from_list"]
    from processor.analyse.followup import link_followups

    assert link_followups(contacts, log)["same_name"].tolist() == [0, 2, 0]


def test_a_log_id_that_disagrees_with_the_only_contact_of_that_name_is_not_joined_by_name():
    contacts = pd.DataFrame({"name": ["王小明"], "customer_id": ["C1"]})
    log = pd.DataFrame({"name": ["王小明"], "customer_id": ["C9"]})
    from processor.analyse.followup import link_followups

    assert link_followups(contacts, log)["key"].tolist() == ["c:c9"]


def test_a_log_id_spelled_with_spaces_or_full_width_links_to_the_contact_as_in_transactions():
    from processor.analyse.followup import link_followups

    contacts = pd.DataFrame({"name": ["王小明", "陳美玲"], "customer_id": ["A001", "B002"]})
    log = pd.DataFrame({"name": [None, None, "陳美玲"], "customer_id": ["a 001", "Ａ００１", "  "]})
    link = link_followups(contacts, log)
    assert link["key"].tolist() == ["c:a001", "c:a001", "c:b002"]  # a blank id is no id: joined by name
    log = log.assign(
        date=pd.to_datetime(["2024-06-20", "2024-06-21", "2024-06-22"]), channel="電話", result="ok", intent=None
    )
    plan = schedule(contacts, log, AS_OF, S)
    assert len(plan) == 2


def test_a_first_contact_without_a_last_contact_is_the_last_contact():
    contacts = pd.DataFrame(
        {
            "name": ["王小明"],
            "first_contact": pd.to_datetime(["2024-06-27"]),
            "last_contact": [pd.NaT],
            "touches": [1],
            "intent": ["B"],
        }
    )
    plan = schedule(contacts, None, AS_OF, S).iloc[0]
    assert plan["status"] == "今天" and plan["next_followup"] == pd.Timestamp("2024-06-28")


def test_the_cadence_column_names_the_rule_that_set_the_date():
    contacts = pd.DataFrame(
        {
            "name": ["甲", "乙", "丙"],
            "first_contact": pd.to_datetime(["2024-06-20", "2024-01-01", None]),
            "last_contact": pd.to_datetime(["2024-06-20", "2024-06-20", None]),
            "touches": [1, 2, pd.NA],
            "intent": ["B", "A", "C"],
        }
    )
    plan = schedule(contacts, None, AS_OF, S).set_index("name")
    # 乙 has had 2 touches, but day 3 after a January first contact lies before the last touch: the cadence decides
    assert plan.loc["甲", "cadence"] == "初次接觸曲線 1/3/7 天" and plan.loc["乙", "cadence"] == "意向 A 每 3 天"
    assert plan.loc["乙", "next_followup"] == pd.Timestamp("2024-06-23") and plan.loc["丙", "cadence"] == "尚未接觸"


def test_a_contact_listed_twice_is_scheduled_once_with_its_latest_contact():
    contacts = pd.DataFrame(
        {
            "name": ["王小明", "王 小明"],
            "phone": ["0912-345-678", "0912-345-678"],
            "last_contact": pd.to_datetime(["2024-06-01", "2024-06-20"]),
            "touches": [5, 6],
            "intent": ["B", None],
        }
    )
    plan = schedule(contacts, None, AS_OF, S)
    assert len(plan) == 1 and plan.loc[0, "last_contact"] == pd.Timestamp("2024-06-20") and plan.loc[0, "touches"] == 6


def test_two_contacts_who_only_share_a_name_stay_two_people():
    contacts = pd.DataFrame(
        {
            "name": ["王小明", "王小明"],
            "phone": ["0912-345-678", "0922-000-111"],
            "last_contact": pd.to_datetime(["2024-06-01", "2024-06-20"]),
            "touches": [5, 6],
        }
    )
    assert len(schedule(contacts, None, AS_OF, S)) == 2


def test_a_typed_zodiac_that_disagrees_with_the_birthday_is_a_reminder_and_the_derived_one_is_used():
    from processor.analyse.contacts import zodiac_mismatches

    contacts = pd.DataFrame(
        {
            "_sheet": ["名單"] * 4,
            "birthday": pd.to_datetime(["1996-03-12"] * 3 + [None]),
            "zodiac": ["雙魚座", "双鱼", "天蠍座", "天蠍座"],
        },
        index=[2, 3, 4, 5],
    )
    problems = zodiac_mismatches(contacts)
    assert [(p.row, p.value, p.severity) for p in problems] == [(4, "天蠍座", "提醒")] and "雙魚座" in problems[
        0
    ].problem


# issue 15: the order a rep works the schedule in, and the people set aside


def test_an_h_lead_in_its_first_touches_is_called_daily_not_on_day_seven_of_the_curve():
    first = pd.Series([pd.Timestamp("2024-06-20")])
    last = pd.Series([pd.Timestamp("2024-06-24")])
    nxt = next_followup(last, pd.Series(["H"]), pd.Series([3]), S, first)
    assert nxt.iloc[0] == pd.Timestamp("2024-06-25")  # the curve says 06-27; H says every day


def test_todays_work_is_ranked_by_intent_and_stage_with_days_overdue_capped():
    contacts = pd.DataFrame(
        {
            "name": ["老C", "H貸款", "今天B", "逾期A目標", "逾期A關鍵"],
            "last_contact": pd.to_datetime(["2024-06-01", "2024-06-26", "2024-06-21", "2024-05-01", "2024-06-20"]),
            "touches": [5, 5, 5, 5, 5],
            "intent": ["C", "H", "B", "A", "A"],
            "stage": ["關鍵客戶", "目標市場", "關鍵客戶", "目標客戶", "關鍵客戶"],
        }
    )
    plan = schedule(contacts, None, AS_OF, S)
    # H first whatever its stage; the two A leads by stage (58 days late counts like 7); C last
    assert plan["name"].tolist() == ["H貸款", "逾期A關鍵", "逾期A目標", "今天B", "老C"]
    assert plan.set_index("name").loc["今天B", "status"] == "今天"


def test_urgency_still_orders_leads_of_the_same_intent_and_stage_up_to_the_cap():
    contacts = pd.DataFrame(
        {
            "name": ["晚1天", "晚5天", "晚30天", "晚60天"],
            "last_contact": pd.to_datetime(["2024-06-24", "2024-06-20", "2024-05-26", "2024-04-26"]),
            "touches": [5] * 4,
            "intent": ["A"] * 4,
            "stage": ["目標客戶"] * 4,
        }
    )
    plan = schedule(contacts, None, AS_OF, S)
    # beyond the 7-day cap the more recently contacted (warmer) lead comes first
    assert plan["name"].tolist() == ["晚30天", "晚60天", "晚5天", "晚1天"]


def test_long_dead_c_leads_and_won_customers_go_to_their_own_groups_at_the_end():
    contacts = pd.DataFrame(
        {
            "name": ["死C", "活C", "成交", "B"],
            "last_contact": pd.to_datetime(["2024-02-07", "2024-06-01", "2024-06-01", "2024-06-10"]),
            "touches": [5] * 4,
            "intent": ["C", "C", "H", "B"],
            "stage": [None, None, "已成交", None],
        }
    )
    plan = schedule(contacts, None, AS_OF, S).set_index("name")
    assert plan.loc["死C", "status"] == "建議降級/停止接觸" and plan.loc["成交", "status"] == "已成交"
    assert plan.loc["活C", "status"] == "逾期"
    assert plan.index.tolist() == ["B", "活C", "死C", "成交"]


def test_a_contact_listed_twice_and_named_in_the_log_is_one_person_not_an_ambiguous_name():
    from processor.analyse.followup import link_followups

    contacts = pd.DataFrame(
        {
            "name": ["黃志宏", "黃志宏"],
            "phone": ["0971-077-251", "0971-077-251"],
            "last_contact": pd.to_datetime(["2024-06-01", "2024-06-01"]),
            "touches": [5, 5],
            "intent": ["B", "B"],
        }
    )
    log = pd.DataFrame(
        {
            "name": ["黃志宏"],
            "date": pd.to_datetime(["2024-06-24"]),
            "channel": ["電話"],
            "result": ["ok"],
            "intent": ["A"],
        }
    )
    assert link_followups(contacts, log)["same_name"].tolist() == [0]
    plan = schedule(contacts, log, AS_OF, S)
    assert len(plan) == 1 and plan.loc[0, "last_contact"] == pd.Timestamp("2024-06-24") and plan.loc[0, "intent"] == "A"
