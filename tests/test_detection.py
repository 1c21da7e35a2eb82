"""Header detection and parsing: aliases in 繁體/简体/English, noise, merged title rows, forms."""

import pandas as pd
import pytest

from processor.parse import detect_and_parse, match_headers
from processor.schema import KINDS, normalise_header
from processor.workbook import RawSheet

AS_OF = pd.Timestamp("2024-06-28")


def raw(rows, name="工作表1"):
    return RawSheet(name, pd.DataFrame(rows, dtype=object), "xlsx")


@pytest.mark.parametrize("headers, kind", [
    (["姓名", "生日", "信任等級", "意向等級", "手機"], "contacts"),
    (["姓名", "生日", "信任等级", "意向等级", "手机"], "contacts"),  # 简体
    (["Name", "Birthday", "Trust level", "Intent", "Mobile"], "contacts"),  # English
    (["姓　名", "生 日", "信任等級：", "意向等級(H/A/B/C)", "手機"], "contacts"),  # full-width space, punctuation
    (["客戶編號", "交易日期", "金額", "品項"], "transactions"),
    (["客户编号", "日期", "消费金额"], "transactions"),
    (["customer id", "order date", "amount"], "transactions"),
    (["姓名", "日期", "方式", "結果"], "followups"),
    (["活動名稱", "日期", "目的", "地點"], "activities"),
    (["UID", "年齡", "職業", "買A商品"], "campaign"),
    (["姓名", "身分證字號", "年所得", "平均月收入"], "loans"),
    (["姓名", "身份证字号", "年所得", "平均月收入"], "loans"),
])
def test_sheet_kind_is_decided_by_headers_in_any_script(headers, kind):
    match = match_headers(pd.DataFrame([headers, [None] * len(headers)], dtype=object))
    assert match is not None and match.kind.key == kind


def test_every_alias_of_every_kind_points_to_one_field():
    for kind in KINDS.values():
        seen = {}
        for f in kind.fields:
            for alias in (f.label, f.key, *f.aliases):
                key = normalise_header(alias)
                assert seen.setdefault(key, f.key) == f.key, (kind.key, alias)


def test_header_below_merged_title_rows_is_found_and_rows_keep_excel_numbers():
    rows = [["2024 我的名單", "2024 我的名單", "2024 我的名單"], [None, None, None],
            ["姓名", "生日", "信任等級"], ["王小明", "85/03/12", "A"], ["陳小華", "85/13/40", "Z"]]
    parsed, problems = detect_and_parse([raw(rows)], AS_OF)
    sheet = parsed[0]
    assert sheet.kind.key == "contacts" and sheet.header_row == 3
    assert list(sheet.frame.index) == [4, 5]
    assert sheet.frame.loc[4, "birthday"] == pd.Timestamp("1996-03-12")
    by_column = {(p.row, p.column): p for p in problems}
    assert by_column[(5, "生日")].value == "85/13/40" and "日期" in by_column[(5, "生日")].problem
    assert by_column[(5, "信任等級")].fix.startswith("請從下拉選單選")


def test_two_row_header_with_a_merged_parent_is_combined():
    rows = [["姓名", "信任等級", "D夢想", "D夢想", "D夢想"], ["姓名", "信任等級", "初期", "中期", "長期"],
            ["王小明", "B", "換車", "買房", "退休旅行"]]
    parsed, _ = detect_and_parse([raw(rows)], AS_OF)
    frame = parsed[0].frame
    assert frame.iloc[0]["dream_early"] == "換車" and frame.iloc[0]["dream_long"] == "退休旅行"


def test_unrecognised_sheet_is_reported_with_its_headers_and_closest_kind():
    rows = [["品名", "庫存", "倉位"], ["A", 1, "X"]]
    parsed, problems = detect_and_parse([raw(rows, "庫存表")], AS_OF)
    assert parsed == []
    assert problems[0].sheet == "庫存表" and "品名、庫存、倉位" == problems[0].value and "最接近" in problems[0].problem


def test_future_dates_missing_required_values_and_duplicates_are_reported():
    rows = [["客戶編號", "日期", "金額"], ["A1", "2030/01/01", "3萬"], ["", "2024/01/01", "1,200"], ["A2", "2024/1/2", "abc"]]
    parsed, problems = detect_and_parse([raw(rows)], AS_OF)
    found = {(p.row, p.column, p.problem.split("（")[0]) for p in problems}
    assert not any("基準日" in p.problem for p in problems)  # a purchase after as-of: processor.transactions says so
    assert (3, "客戶編號", "必填欄位是空的") in found
    assert (4, "金額", "金額無法辨識") in found
    assert parsed[0].frame.loc[2, "amount"] == 30000 and parsed[0].frame.loc[2, "date"] == pd.Timestamp("2030-01-01")


def test_loan_form_laid_out_like_the_seed_is_read_as_one_applicant():
    rows = [["貸款懶人包", None], ["1.個人資料", None], ["(a)姓名:", "陳雅婷"], ["(b)身分證字號:", "A123456789"],
            ["(c)出生年月日:", "民國79年5月20日"], ["(e)手機:", "0932123456"], ["3.個人收入", None],
            ["(a)年所得(包含所有收入.獎金):", "120萬"], ["(b)平均月收入:", "8萬5千"], ["(d)有無兼差:", "無"]]
    parsed, problems = detect_and_parse([raw(rows, "貸款")], AS_OF)
    sheet = parsed[0]
    assert sheet.layout == "form" and len(sheet.frame) == 1
    row = sheet.frame.iloc[0]
    assert row["annual_income"] == 1_200_000 and row["monthly_income"] == 85_000 and row["side_job"] == False  # noqa: E712
    assert row["birthday"] == pd.Timestamp("1990-05-20") and problems == []


def test_bad_id_numbers_are_reported_masked():
    rows = [["姓名", "身分證字號", "年所得"], ["甲", "A123456788", "50萬"]]
    _, problems = detect_and_parse([raw(rows)], AS_OF)
    problem = next(p for p in problems if p.column == "身分證字號")
    assert "檢查碼" in problem.problem and problem.value == "A12*****88"
