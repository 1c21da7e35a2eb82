"""Header detection and parsing: aliases in 繁體/简体/English, noise, merged title rows, forms."""

import pandas as pd
import pytest

from processor.read.parse import detect_and_parse, match_headers
from processor.read.schema import KINDS, normalise_header
from processor.read.workbook import RawSheet

AS_OF = pd.Timestamp("2024-06-28")


def raw(rows, name="工作表1"):
    return RawSheet(name, pd.DataFrame(rows, dtype=object), "xlsx")


@pytest.mark.parametrize(
    "headers, kind",
    [
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
    ],
)
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
    rows = [
        ["2024 我的名單", "2024 我的名單", "2024 我的名單"],
        [None, None, None],
        ["姓名", "生日", "信任等級"],
        ["王小明", "85/03/12", "A"],
        ["陳小華", "85/13/40", "Z"],
    ]
    parsed, problems = detect_and_parse([raw(rows)], AS_OF)
    sheet = parsed[0]
    assert sheet.kind.key == "contacts" and sheet.header_row == 3
    assert list(sheet.frame.index) == [4, 5]
    assert sheet.frame.loc[4, "birthday"] == pd.Timestamp("1996-03-12")
    by_column = {(p.row, p.column): p for p in problems}
    assert by_column[(5, "生日")].value == "85/13/40" and "日期" in by_column[(5, "生日")].problem
    assert by_column[(5, "信任等級")].fix.startswith("請從下拉選單選")


def test_two_row_header_with_a_merged_parent_is_combined():
    rows = [
        ["姓名", "信任等級", "D夢想", "D夢想", "D夢想"],
        ["姓名", "信任等級", "初期", "中期", "長期"],
        ["王小明", "B", "換車", "買房", "退休旅行"],
    ]
    parsed, _ = detect_and_parse([raw(rows)], AS_OF)
    frame = parsed[0].frame
    assert frame.iloc[0]["dream_early"] == "換車" and frame.iloc[0]["dream_long"] == "退休旅行"


def test_unrecognised_sheet_is_reported_with_its_headers_and_closest_kind():
    rows = [["品名", "庫存", "倉位"], ["A", 1, "X"]]
    parsed, problems = detect_and_parse([raw(rows, "庫存表")], AS_OF)
    assert parsed == []
    assert problems[0].sheet == "庫存表" and "品名、庫存、倉位" == problems[0].value and "最接近" in problems[0].problem


def test_future_dates_missing_required_values_and_duplicates_are_reported():
    rows = [
        ["客戶編號", "日期", "金額"],
        ["A1", "2030/01/01", "3萬"],
        ["", "2024/01/01", "1,200"],
        ["A2", "2024/1/2", "abc"],
    ]
    parsed, problems = detect_and_parse([raw(rows)], AS_OF)
    found = {(p.row, p.column, p.problem.split("（")[0]) for p in problems}
    assert not any(
        "基準日" in p.problem for p in problems
    )  # a purchase after as-of: processor.analyse.transactions says so
    assert (3, "客戶編號", "必填欄位是空的") in found
    assert (4, "金額", "金額無法辨識") in found
    assert parsed[0].frame.loc[2, "amount"] == 30000 and parsed[0].frame.loc[2, "date"] == pd.Timestamp("2030-01-01")


def test_loan_form_laid_out_like_the_seed_is_read_as_one_applicant():
    rows = [
        ["貸款懶人包", None],
        ["1.個人資料", None],
        ["(a)姓名:", "陳雅婷"],
        ["(b)身分證字號:", "A123456789"],
        ["(c)出生年月日:", "民國79年5月20日"],
        ["(e)手機:", "0932123456"],
        ["3.個人收入", None],
        ["(a)年所得(包含所有收入.獎金):", "120萬"],
        ["(b)平均月收入:", "8萬5千"],
        ["(d)有無兼差:", "無"],
    ]
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


def _read(path, rows_by_sheet, merges=()):
    """A real .xlsx read back through processor.read.workbook (merged cells filled as the reader does)."""
    import openpyxl

    from processor.read.workbook import read_input

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "名單"
    for row in rows_by_sheet:
        ws.append(row)
    for ref in merges:
        ws.merge_cells(ref)
    wb.save(path)
    return read_input(path)


def test_two_row_header_whose_single_columns_are_not_merged_down_takes_them_from_the_row_above(tmp_path):
    rows = [
        ["2024 名單"],
        [],
        ["姓名", "信任等級", "生日", "D夢想", None, None],
        [None, None, None, "初期", "中期", "長期"],
        ["王小明", "B", "85/03/12", "換車", "買房", "退休旅行"],
    ]
    raw = _read(tmp_path / "two.xlsx", rows, merges=("A1:F1", "D3:F3"))
    parsed, problems = detect_and_parse(raw, AS_OF)
    sheet = parsed[0]
    assert sheet.header_row == 4 and list(sheet.frame.index) == [5]
    row = sheet.frame.loc[5]
    assert (row["name"], row["trust"], row["dream_early"], row["dream_long"]) == ("王小明", "B", "換車", "退休旅行")
    assert row["birthday"] == pd.Timestamp("1996-03-12")
    assert sheet.headers["name"] == "姓名"
    assert not [p for p in problems if p.severity == "錯誤"]


SIMPLIFIED_HEADERS = [  # typed by hand as a mainland rep would, not produced by the converter under test
    ("contacts", "T时间", "time"),
    ("contacts", "A有决定权", "man_authority"),
    ("contacts", "备注", "notes"),
    ("contacts", "暖线活动跟进记录", "warm_log"),
    ("contacts", "联系方式", "phone"),
    ("followups", "联系方式", "channel"),
    ("activities", "时间", "time"),
    ("contacts", "最后联络日", "last_contact"),
    ("contacts", "C对内地的印象", "china"),
    ("loans", "有无兼差", "side_job"),
    ("loans", "有无报税", "files_tax"),
    ("loans", "有无使用信用卡", "uses_credit_card"),
    ("loans", "有无当过担保人", "guarantor"),
    ("loans", "有无年终.分红.绩效.季奖金", "has_bonus"),
    ("loans", "有无办过贷(哪几家?)", "prior_loans"),
    ("loans", "身份证字号", "id_number"),
    ("loans", "账户存款", "deposits"),
]


@pytest.mark.parametrize("kind, header, key", SIMPLIFIED_HEADERS)
def test_simplified_headers_reps_type_are_recognised(kind, header, key):
    from processor.read.schema import ALIASES

    assert ALIASES[kind].get(normalise_header(header)) == key


def test_every_schema_label_in_simplified_script_is_recognised_as_its_field():
    import opencc

    from processor.read.schema import ALIASES

    to_simplified = opencc.OpenCC("t2s")
    for kind in KINDS.values():
        for f in kind.fields:
            assert ALIASES[kind.key].get(normalise_header(to_simplified.convert(f.label))) == f.key, (kind.key, f.label)


#: seed 000's own labels, exactly as the seed prints them
SEED_LABELS = {
    "contacts": [
        ("■ 姓名:", "name"),
        ("■ 生日:", "birthday"),
        ("■ 星座:", "zodiac"),
        ("■ 關係:", "relation"),
        ("■ 個性:", "personality"),
        ("■ F 家庭:", "family"),
        ("■ O 工作現況:", "occupation"),
        ("■ R 興趣:", "recreation"),
        ("■ M 經濟狀況:", "money"),
        ("■ H 健康狀況:", "health"),
        ("■ T 時間:", "time"),
        ("■ C 對內地的印象/有沒有去過:", "china"),
        ("■ D 夢想:", "dream_early"),
        ("初期/", "dream_early"),
        ("中期/", "dream_mid"),
        ("長期/", "dream_long"),
        ("■ 暖線活動跟進紀錄:", "warm_log"),
        ("■ 夥伴需求點/預計下一步:", "next_step"),
        ("a.他要多少,要什麼?", "need_what"),
        ("b.時間,多久內達成?", "need_when"),
        ("c.願意付出什麼?", "need_give"),
    ],
    "activities": [
        ("活動名稱:", "title"),
        ("日期:", "date"),
        ("目的:", "purpose"),
        ("地點:", "venue"),
        ("地址:", "address"),
        ("捷運:", "mrt"),
        ("時間:", "time"),
        ("價格:", "price"),
        ("流水報名:", "signups"),
        ("a.做得很棒的點:", "went_well"),
        ("b.要注意的點:", "watch_out"),
        ("c.下次可以怎麼做:", "next_time"),
    ],
    "loans": [
        ("(a)姓名:", "name"),
        ("(b)身分證字號:", "id_number"),
        ("(c)出生年月日:", "birthday"),
        ("(d)學歷:", "education"),
        ("(e)手機:", "mobile"),
        ("(f)家用電話:", "home_phone"),
        ("(a)戶籍地居所:", "registered_address"),
        ("(b)現居地:", "current_address"),
        ("(c)公司地址:", "company_address"),
        ("(d)公司全名:", "company_name"),
        ("(e)公司職稱:", "job_title"),
        ("(f)到職日或年資:", "hire_date"),
        ("(g)前份工作:", "previous_job"),
        ("(h)勞保是否有掛在公司:", "labor_insurance"),
        ("(I)公司薪轉銀行:", "payroll_bank"),
        ("(j)公司每月幾號發薪水:", "payday"),
        ("(k)幾號發底薪:", "base_payday"),
        ("(l)幾號發獎金:", "bonus_payday"),
        ("(a)年所得(包含所有收入.獎金):", "annual_income"),
        ("(b)平均月收入:", "monthly_income"),
        ("(c)有無年終.分紅.績效.季獎金:", "has_bonus"),
        ("(d)有無兼差:", "side_job"),
        ("(e)有無報稅:", "files_tax"),
        ("(f)領現金?:", "paid_cash"),
        ("(a)有無使用信用卡:", "uses_credit_card"),
        ("(b)信用卡狀況是否每次繳清、額度:", "card_status"),
        ("(c)名下不動產.動產負債額度.利率:", "property_debt"),
        ("(d)帳戶存款那家?金額:", "deposits"),
        ("(e)有無辦過貸(哪幾家?):", "prior_loans"),
        ("(f)有無當過擔保人:", "guarantor"),
        ("(a)保險:", "insurance"),
        ("(b)基金:", "funds"),
        ("(c)其他投資:", "other_investments"),
    ],
}


@pytest.mark.parametrize(
    "kind, label, key", [(k, label, key) for k, pairs in SEED_LABELS.items() for label, key in pairs]
)
def test_every_seed_000_label_as_printed_is_recognised(kind, label, key):
    from processor.read.schema import ALIASES

    assert ALIASES[kind].get(normalise_header(label)) == key


def test_simplified_choice_values_are_the_same_choice():
    rows = [["姓名", "階段", "信任等级"], ["甲", "潜在客户", "a"], ["乙", "关键客户", "Ｂ"]]
    parsed, problems = detect_and_parse([raw(rows)], AS_OF)
    assert parsed[0].frame["stage"].tolist() == ["潛在客戶", "關鍵客戶"] and parsed[0].frame["trust"].tolist() == [
        "A",
        "B",
    ]
    assert problems == []


def test_followup_rows_without_name_or_customer_id_are_reported_not_dropped():
    rows = [
        ["姓名", "日期", "方式", "結果"],
        ["王小明", "113/06/01", "電話", "ok"],
        [None, "113/06/02", "Line", "回覆了"],
    ]
    _, problems = detect_and_parse([raw(rows)], AS_OF)
    found = [p for p in problems if p.row == 3]
    assert len(found) == 1 and found[0].severity == "錯誤" and "對應不到人" in found[0].problem


def test_a_contact_without_a_name_is_reported():
    rows = [["姓名", "信任等級", "最後聯絡日"], [None, "A", "113/06/01"]]
    _, problems = detect_and_parse([raw(rows)], AS_OF)
    assert [(p.row, p.column, p.problem) for p in problems] == [(2, "姓名", "必填欄位是空的")]


def test_missing_required_values_are_capped_like_every_per_cell_report():
    from processor.errors import MAX_PROBLEMS_PER_CHECK

    rows = [["客戶編號", "日期", "金額"]] + [[None, "2024/1/1", 1]] * (MAX_PROBLEMS_PER_CHECK + 50)
    _, problems = detect_and_parse([raw(rows)], AS_OF)
    required = [p for p in problems if p.column == "客戶編號"]
    assert len(required) == MAX_PROBLEMS_PER_CHECK + 1 and "另有 50 列" == required[-1].value


def test_a_loan_hire_date_or_tenure_that_cannot_be_read_is_reported():
    rows = [
        ["姓名", "身分證字號", "到職日或年資"],
        ["甲", "A123456789", "abc"],
        ["乙", "F131104093", "2030/01/01"],
        ["丙", "A800000014", "3年2个月"],
        ["丁", "AC01234567", "108/03/01"],
    ]
    parsed, problems = detect_and_parse([raw(rows)], AS_OF)
    found = {(p.row, p.problem.split("（")[0]) for p in problems if p.column == "到職日或年資"}
    assert found == {(2, "到職日或年資無法辨識"), (3, "到職日在基準日")}


def test_duplicates_by_customer_id_and_one_phone_under_two_names_are_flagged():
    rows = [
        ["姓名", "客戶編號", "手機", "信任等級"],
        ["王小明", "C1", "0912-345-678", "A"],
        ["王曉明", "C1", "0922-000-111", "A"],
        ["陳美玲", "C2", "0912345678", "B"],
        ["林志明", "C3", None, "C"],
        ["林志明", "C4", None, "C"],
    ]
    _, problems = detect_and_parse([raw(rows)], AS_OF)
    found = {(p.row, p.problem) for p in problems}
    assert (3, "重複：與第 2 列相同") in found
    assert (4, "與第 2 列手機相同，但姓名不同") in found
    assert all(p.severity == "提醒" for p in problems) and len(problems) == 2


def test_customer_ids_that_transactions_treat_as_one_are_reported_as_duplicates():
    rows = [
        ["姓名", "客戶編號", "信任等級"],
        ["王小明", "A001", "A"],
        ["王曉明", "ａ００１ ", "A"],
        ["陳美玲", "A 002", "B"],
        ["林志明", "a002", "C"],
    ]
    _, problems = detect_and_parse([raw(rows)], AS_OF)
    found = {(p.row, p.problem) for p in problems}
    assert found == {(3, "重複：與第 2 列相同"), (5, "重複：與第 4 列相同")}


def test_one_name_spelled_with_a_space_and_the_same_phone_is_a_duplicate_not_two_names():
    rows = [
        ["姓名", "手機", "信任等級"],
        ["王小明", "0912345678", "A"],
        ["王 小明", "0912-345-678", "A"],
        ["Amy", "0922000111", "B"],
        ["ａｍｙ", "0922-000-111", "B"],
    ]
    _, problems = detect_and_parse([raw(rows)], AS_OF)
    assert {(p.row, p.problem) for p in problems} == {(3, "重複：與第 2 列相同"), (5, "重複：與第 4 列相同")}


def test_a_five_digit_serial_day_in_a_csv_date_column_is_a_date():
    rows = [["客戶編號", "日期", "金額"], ["A1", "45000", "100"]]
    parsed, problems = detect_and_parse([RawSheet("交易", pd.DataFrame(rows, dtype=object), "csv")], AS_OF)
    assert parsed[0].frame.loc[2, "date"] == pd.Timestamp("2023-03-15") and problems == []


def test_a_blank_loan_form_has_no_applicant_and_no_problems():
    rows = [
        ["貸款懶人包", None],
        ["1.個人資料", None],
        ["(a)姓名:", None],
        ["(b)身分證字號:", None],
        ["(c)出生年月日:", None],
        ["(e)手機:", None],
        ["3.個人收入", None],
        ["(a)年所得(包含所有收入.獎金):", None],
        ["(b)平均月收入:", None],
        ["(d)有無兼差:", None],
    ]
    parsed, problems = detect_and_parse([raw(rows, "貸款")], AS_OF)
    assert parsed[0].layout == "form" and len(parsed[0].frame) == 0 and problems == []


def test_an_unrecognised_sheet_starting_with_data_is_reported_without_its_values():
    rows = [["王小明", "A123456789", "0912345678"], ["陳美玲", "F131104093", "0922333444"]]
    _, problems = detect_and_parse([raw(rows, "data")], AS_OF)
    assert "王小明" not in problems[0].value and "像是資料" in problems[0].value
