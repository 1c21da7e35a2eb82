"""今日聯絡 (issue 15): who is on today's call sheet, in which order, and why — checked against the
sheets the people come from, on a real workbook scored by the real CLI."""

from __future__ import annotations

import re

import numpy as np
import openpyxl
import pandas as pd
import pytest
from conftest import AS_OF, sheet_rows, write_rows

from processor.analyse.calls import CallList, today_calls
from processor.analyse.silence import LABELS as SILENCE

DUE = ("逾期", "今天", "尚未接觸")


def _list(sheet, keys, due=False):
    return CallList(
        sheet, pd.DataFrame({"key": keys, "reason": [f"{sheet}{i + 1}" for i in range(len(keys))]}), due=due
    )


def test_follow_ups_due_come_first_then_the_list_tops_in_turn_without_duplicates():
    due = _list("跟進排程", ["n:甲", "c:c1", "n:乙"], due=True)
    silence = _list("沉默排名", ["c:c1", "c:c2", "c:c3", "c:c4"])
    precision = _list("精準名單", ["c:u1", "c:c2", "c:u3"])
    people = today_calls([due, silence, precision], 7)
    # silence #1 (c1) is already a follow-up; precision #2 (c2) is silence #2: each person once
    assert people["key"].tolist() == ["n:甲", "c:c1", "n:乙", "c:u1", "c:c2", "c:c3", "c:u3"]
    assert people.set_index("key").loc["c:c1", "sources"] == "跟進排程、沉默排名"
    assert people.set_index("key").loc["c:c2", "sources"] == "沉默排名、精準名單"
    assert people.set_index("key").loc["c:c1", "reason"] == "跟進排程2"  # the first list's reason
    assert not people["key"].duplicated().any()


def test_many_follow_ups_leave_half_the_rows_to_the_other_lists():
    due = _list("跟進排程", [f"n:{i}" for i in range(10)], due=True)
    silence = _list("沉默排名", [f"c:s{i}" for i in range(10)])
    people = today_calls([due, silence], 6)
    assert people["key"].tolist() == ["n:0", "n:1", "n:2", "c:s0", "c:s1", "c:s2"]
    assert today_calls([due], 6)["key"].tolist() == [f"n:{i}" for i in range(6)]  # nothing else: all follow-ups
    assert len(today_calls([_list("跟進排程", ["n:0"], due=True), silence], 6)) == 6  # few follow-ups: lists fill up


# --------------------------------------------------------------------------- end to end


def _visits(cid, start, every, last, amount):
    days = pd.date_range(start, last, freq=f"{every}D")
    return [[cid, f"{d:%Y/%m/%d}", amount] for d in days]


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    from processor.demo import demo_campaign

    tmp = tmp_path_factory.mktemp("today")
    contacts = [
        ["姓名", "客戶編號", "手機", "負責業務", "意向等級", "階段", "最後聯絡日", "聯絡次數", "夥伴需求點/預計下一步"],
        ["甲", "C1", "0912-000-001", "阿明", "H", "目標客戶", "2024/06/20", 5, None],
        ["乙", "C2", "0912-000-002", "阿明", "A", "關鍵客戶", "2024/06/25", 5, "約喝咖啡"],
        ["丙", "C3", "0912-000-003", "小美", "B", None, "2024/06/25", 5, None],
        ["丁", None, "0912-000-004", "小美", "C", None, "2024/01/01", 5, None],
        ["戊", "C5", "0912-000-005", "阿明", "B", "已成交", "2024/05/01", 5, None],
        ["己", "C6", "0912-000-006", "小美", None, None, "2024/06/10", 5, None],
        ["庚", "C7", "0912-000-007", "小美", "C", None, "2024/06/20", 5, None],
        ["辛", "U00599", "0912-000-008", "阿明", "B", None, "2024/06/27", 5, None],
    ]
    transactions = [["客戶編號", "日期", "金額"]]
    transactions += _visits("C2", "2024-01-05", 5, "2024-06-01", 2000)
    transactions += _visits("C7", "2024-01-01", 10, "2024-05-20", 1000)
    transactions += _visits("C8", "2023-06-01", 30, "2024-05-01", 500)
    transactions += _visits("C9", "2024-06-10", 5, "2024-06-25", 100)
    transactions += [["C10", "2024/03/01", 300]]
    campaign = demo_campaign(np.random.default_rng(3), n=600, unlabelled=150)
    path = write_rows(
        tmp / "rep.xlsx",
        {
            "名單": contacts,
            "交易": transactions,
            "行銷名單": [list(campaign.columns)]
            + campaign.astype(object).where(campaign.notna(), None).values.tolist(),
        },
    )
    out = tmp / "rep.scored.xlsx"
    from processor.pipeline import score_file

    summary = score_file(path, out, as_of=AS_OF)
    return out, summary


def test_the_call_sheet_is_the_first_tab_and_opens_first(scored):
    out, summary = scored
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[0] == "今日聯絡" and wb.active.title == "今日聯絡"
    assert summary["result_sheets"][0] == "今日聯絡" and summary["today"]["due_listed"] == 3


def _who(table: pd.DataFrame) -> pd.Series:
    return table["姓名"].where(table["姓名"].notna(), table["客戶編號"]) if "姓名" in table else table["客戶編號"]


def test_the_call_sheet_holds_exactly_the_due_follow_ups_then_the_list_tops_each_once(scored):
    out, summary = scored
    today = sheet_rows(out, "今日聯絡", "為什麼今天")
    plan = sheet_rows(out, "跟進排程", "狀態")
    due = plan[plan["狀態"].isin(DUE)]["姓名"].tolist()
    assert due == ["甲", "乙", "己"]  # 丙 is not due, 丁 is a long-dead C lead, 戊 has bought
    assert len(today) == 20 == summary["today"]["rows"]  # the default 今日聯絡列數
    assert today["姓名/客戶編號"].tolist()[:3] == due
    assert not today["姓名/客戶編號"].duplicated().any()
    # then the tops in turn — 沉默排名 (active customers left out) and 精準名單 (target group, 建議聯絡) —
    # skipping anyone already listed
    silence = sheet_rows(out, "沉默排名", "優先順序")
    from processor.analyse.silence import ACTIONS

    silence = _who(silence[~silence["建議行動"].isin(ACTIONS["活躍"])]).tolist()  # seed 004: 活躍 need no call
    ranked = sheet_rows(out, "精準名單", "排名")
    ranked = _who(ranked[ranked["建議聯絡"] == "是"]).tolist()  # 精準名單 lists the target group only
    turns = sorted(
        [(2 * i, w) for i, w in enumerate(silence[:20])] + [(2 * i + 1, w) for i, w in enumerate(ranked[:20])]
    )
    expected = list(dict.fromkeys(w for _, w in turns if w not in due))[:17]
    assert today["姓名/客戶編號"].tolist()[3:] == expected
    assert today["來源"].tolist()[3:] == ["沉默排名" if w in silence else "精準名單" for w in expected]


def test_each_reason_matches_the_data_of_the_sheet_it_comes_from(scored):
    out, _ = scored
    today = sheet_rows(out, "今日聯絡", "為什麼今天").set_index("姓名/客戶編號")
    plan = sheet_rows(out, "跟進排程", "狀態").set_index("姓名")
    for name in ("甲", "乙", "己"):
        reason, row = today.loc[name, "為什麼今天"], plan.loc[name]
        if row["狀態"] == "逾期":
            assert re.match(rf"逾期 {row['逾期天數']} 天未跟進", reason), reason
        else:
            assert reason.startswith("今天該跟進"), reason
    assert "（H 級每天）" in today.loc["甲", "為什麼今天"] and "（A 級每 3 天）" in today.loc["乙", "為什麼今天"]
    assert "（未分級每 14 天）" in today.loc["己", "為什麼今天"]
    assert today.loc["乙", "建議做法"] == "約喝咖啡"  # the rep's own next step wins over the seed's line
    assert today.loc["乙", "為什麼今天"].endswith("也在沉默排名")

    silence = sheet_rows(out, "沉默排名", "優先順序")
    silence["誰"] = silence["姓名"].where(silence["姓名"].notna(), silence["客戶編號"])
    silence = silence.set_index("誰")
    share = silence["消費金額"].rank(ascending=False, method="min") / len(silence)
    for who in today.index[today["來源"] == "沉默排名"]:
        reason = today.loc[who, "為什麼今天"]
        m = re.fullmatch(r"(?:平常每 (\d+) 天來一次|只來過 (\d+) 次)，已 (\d+) 天沒來，消費金額前 (\d+)%", reason)
        assert m, reason
        if m[1]:
            assert int(m[1]) == round(silence.loc[who, SILENCE["mean_interval"]])
        else:
            assert int(m[2]) == silence.loc[who, SILENCE["visits"]] == 1
        assert int(m[3]) == silence.loc[who, SILENCE["recency"]] and int(m[4]) == int(np.ceil(share[who] * 100))

    ranked = sheet_rows(out, "精準名單", "排名")
    ranked = ranked.set_index(_who(ranked))
    picked = today.index[today["來源"] == "精準名單"]
    assert len(picked)
    for who in picked:
        p = int(re.match(r"購買機率 (\d+)%", today.loc[who, "為什麼今天"])[1])
        assert p == round(ranked.loc[who, "購買機率"] * 100)  # 精準名單 holds no customer with a known result


def test_call_lists_carry_name_phone_and_owner_from_the_contacts_where_ids_match(scored):
    out, _ = scored
    for sheet, header in (("沉默排名", "優先順序"), ("客戶分群", "客戶編號"), ("精準名單", "排名")):
        table = sheet_rows(out, sheet, header)
        assert {"姓名", "手機", "負責業務"} <= set(table.columns), sheet
        ids = list(table.columns)
        assert ids.index("姓名") == ids.index("客戶編號") + 1, sheet
    silence = sheet_rows(out, "沉默排名", "優先順序").set_index("客戶編號")
    assert silence.loc["C7", ["姓名", "手機", "負責業務"]].tolist() == ["庚", "0912-000-007", "小美"]
    assert pd.isna(silence.loc["C8", "姓名"])  # no contact with that id: left empty, not guessed
    ranked = sheet_rows(out, "精準名單", "排名").set_index("客戶編號")
    assert ranked.loc["U00599", "姓名"] == "辛"


def test_the_call_sheet_prints_a4_portrait_one_page_wide_with_links_to_the_lists(scored):
    out, _ = scored
    ws = openpyxl.load_workbook(out)["今日聯絡"]
    assert ws.page_setup.orientation == "portrait" and int(ws.page_setup.paperSize) == int(ws.PAPERSIZE_A4)
    assert ws.page_setup.fitToWidth == 1 and ws.sheet_properties.pageSetUpPr.fitToPage
    links = {c.value: c.hyperlink.location for row in ws.iter_rows() for c in row if c.hyperlink is not None}
    assert links["沉默排名"] == "'沉默排名'!A1" and links["精準名單"] == "'精準名單'!A1"
    assert all(loc.strip("'").split("'!")[0] in ws.parent.sheetnames for loc in links.values())
    header = next(r for r in ws.iter_rows(values_only=True) if "為什麼今天" in r)
    assert header[0] == "打勾" and {"結果", "下次日期", "上次聯絡", "建議做法"} <= set(header)


def test_the_row_count_is_a_setting(tmp_path, run_cli):
    rows = [["姓名", "最後聯絡日", "意向等級", "聯絡次數"]] + [[f"人{i}", "2024/06/01", "A", 6] for i in range(30)]
    path = write_rows(tmp_path / "s.xlsx", {"名單": rows, "設定": [["項目", "值"], ["今日聯絡列數", 12]]})
    run_cli("score", path, "--as-of", AS_OF)
    assert len(sheet_rows(tmp_path / "s.scored.xlsx", "今日聯絡", "為什麼今天")) == 12
    path = write_rows(tmp_path / "d.xlsx", {"名單": rows})
    run_cli("score", path, "--as-of", AS_OF)
    assert len(sheet_rows(tmp_path / "d.scored.xlsx", "今日聯絡", "為什麼今天")) == 20


def test_a_result_with_nobody_to_call_has_no_call_sheet(tmp_path, run_cli):
    rows = [["姓名", "最後聯絡日", "意向等級", "聯絡次數"], ["甲", "2024/06/27", "B", 6]]
    path = write_rows(tmp_path / "s.xlsx", {"名單": rows})
    run_cli("score", path, "--as-of", AS_OF)
    assert "今日聯絡" not in openpyxl.load_workbook(tmp_path / "s.scored.xlsx").sheetnames
