"""Realistic synthetic workbooks for a first try (``precision-list demo DIR``).

Everything here is generated: Taiwanese-looking names, ROC and western dates, phones in the
formats reps type, valid-checksum ID numbers — and a few deliberate mistakes (a 13th month, a
birthday in the future, a bad phone, a duplicate contact, a wrong ID check digit, an intent
level that does not exist) so 資料檢查 has something to show. No real person is in them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from processor.privacy import LETTER_CODES, WEIGHTS
from processor.read.schema import (
    ACTIVITIES,
    CAMPAIGN,
    CHANNELS,
    CONTACTS,
    FOLLOWUPS,
    FUNNEL_STAGES,
    LOANS,
    TRANSACTIONS,
)
from processor.settings import Settings
from processor.sheets.report import text_cell
from processor.sheets.templates import add_settings_sheet

SURNAMES = list("陳林黃張李王吳劉蔡楊許鄭謝郭洪曾邱廖賴徐周葉蘇莊呂江何蕭羅高")
GIVEN = list("志明俊傑家豪建宏淑芬美玲雅婷怡君宗翰冠宇承恩柏翰詩涵欣怡佳穎子晴宥廷品妤信宏文彥雅琪")
DEMO_AS_OF = pd.Timestamp("2024-06-28")


def _names(rng, n):
    return [rng.choice(SURNAMES) + "".join(rng.choice(GIVEN, size=2)) for _ in range(n)]  # n ≤ a few hundred


def _roc(dates: pd.Series, rng) -> list:
    """Dates spelled the ways reps type them: ROC slashes, 民國…年…月…日, western slashes, real dates."""
    styles = rng.integers(0, 4, size=len(dates))
    out = []
    for style, d in zip(styles, dates):  # a few hundred demo rows
        if pd.isna(d):
            out.append(None)
        elif style == 0:
            out.append(f"{d.year - 1911}/{d.month:02d}/{d.day:02d}")
        elif style == 1:
            out.append(f"民國{d.year - 1911}年{d.month}月{d.day}日")
        elif style == 2:
            out.append(f"{d.year}/{d.month}/{d.day}")
        else:
            out.append(d.to_pydatetime())
    return out


def _phones(rng, n):
    digits = rng.integers(0, 10, size=(n, 8))
    styles = rng.integers(0, 3, size=n)
    out = []
    for style, row in zip(styles, digits):
        s = "09" + "".join(map(str, row))
        out.append([s, f"{s[:4]}-{s[4:7]}-{s[7:]}", f"+886 {s[1:4]} {s[4:7]} {s[7:]}"][style])
    return out


def valid_id(rng) -> str:
    """A synthetic 身分證字號 with a correct check digit."""
    letter = rng.choice(list(LETTER_CODES))
    body = [int(rng.integers(1, 3))] + list(rng.integers(0, 10, size=7))
    code = LETTER_CODES[letter]
    partial = np.array([code // 10, code % 10, *body, 0])
    check = (10 - int(partial[:10] @ WEIGHTS[:10]) % 10) % 10
    return f"{letter}{''.join(map(str, body))}{check}"


def demo_contacts(rng, n=300, as_of=DEMO_AS_OF) -> tuple[pd.DataFrame, pd.DataFrame]:
    L = {f.key: f.label for f in CONTACTS.fields}
    names = _names(rng, n)
    birthdays = pd.Series(pd.to_datetime("1960-01-01") + pd.to_timedelta(rng.integers(0, 365 * 40, n), unit="D"))
    first = pd.Series(as_of - pd.to_timedelta(rng.integers(3, 150, n), unit="D"))
    touches = rng.integers(1, 9, n)
    last = pd.Series(as_of - pd.to_timedelta(rng.geometric(1 / 8, n) - 1, unit="D"))
    last = last.where(last >= first, first).where(touches > 1, first)

    def fill(options, p=0.6):
        return [rng.choice(options) if rng.random() < p else None for _ in range(n)]

    contacts = pd.DataFrame(
        {
            L["name"]: names,
            L["birthday"]: _roc(birthdays, rng),
            L["relation"]: fill(["同學", "前同事", "鄰居", "朋友介紹", "社團"], 0.9),
            L["phone"]: _phones(rng, n),
            L["trust"]: rng.choice(list("ABC"), n, p=[0.2, 0.4, 0.4]),
            L["intent"]: fill(list("HABC"), 0.85),
            L["stage"]: fill(list(FUNNEL_STAGES), 0.8),
            L["personality"]: fill(["外向", "謹慎", "熱心", "理性", "隨和"]),
            L["family"]: fill(["已婚有兩個小孩", "單身", "與父母同住", "新婚"]),
            L["occupation"]: fill(["工程師，想換工作", "業務，收入不穩", "老師", "自營咖啡店", "護理師，輪班很累"]),
            L["recreation"]: fill(["登山", "烘焙", "看電影", "羽球", "旅遊"]),
            L["money"]: fill(["有房貸", "小有存款", "收支平衡", "想多一份收入"], 0.5),
            L["health"]: fill(["良好", "腰痠", "常熬夜"], 0.4),
            L["time"]: fill(["平日晚上", "週末", "午休"], 0.6),
            L["china"]: fill(["去過上海出差", "沒去過", "印象普通"], 0.3),
            L["dream_early"]: fill(["還清卡債", "換新車"], 0.4),
            L["dream_mid"]: fill(["買房", "出國進修"], 0.3),
            L["dream_long"]: fill(["財務自由", "開自己的店"], 0.3),
            L["need_what"]: fill(["每月多 3萬", "頭期款 200萬"], 0.3),
            L["need_when"]: fill(["一年內", "三年內"], 0.3),
            L["need_give"]: fill(["每週兩個晚上", "週末時間"], 0.3),
            L["man_money"]: fill(["是", "否", "Y", "N"], 0.5),
            L["man_authority"]: fill(["是", "否", "V"], 0.5),
            L["man_need"]: fill(["是", "否", "有", "無"], 0.5),
            L["warm_log"]: fill(["5/3 烘焙課", "6/1 登山"], 0.3),
            L["next_step"]: fill(["約喝咖啡", "邀請暖線活動", "請推薦人協助"], 0.5),
            L["first_contact"]: _roc(first, rng),
            L["last_contact"]: _roc(last, rng),
            L["touches"]: touches.astype(object),
        }
    )
    # deliberate mistakes, each of a kind a rep really makes
    contacts.loc[3, L["birthday"]] = "85/13/40"
    contacts.loc[7, L["birthday"]] = f"{as_of.year + 2}/1/1"
    contacts.loc[11, L["phone"]] = "0912-345"
    contacts.loc[15, L["intent"]] = "D"
    contacts.loc[19, L["touches"]] = "三次"
    contacts.loc[n - 1] = contacts.loc[2]  # a duplicate contact
    contacts.loc[23, L["name"]] = '=HYPERLINK("http://example.invalid","點我")'  # must stay text
    F = {f.key: f.label for f in FOLLOWUPS.fields}
    m = int(n * 2.5)
    who = rng.integers(0, n, m)
    span = (last - first).dt.days.to_numpy()[who]
    dates = pd.Series(
        pd.to_datetime(first.to_numpy()[who]) + pd.to_timedelta((rng.random(m) * (span + 1)).astype(int), unit="D")
    )
    order = np.argsort(dates.to_numpy(), kind="stable")
    who, dates = who[order], dates.iloc[order].reset_index(drop=True)
    followups = pd.DataFrame(
        {
            F["name"]: [names[i] for i in who],
            F["date"]: _roc(dates, rng),
            F["channel"]: rng.choice(list(CHANNELS[:4]), m),
            F["result"]: rng.choice(["聊近況", "有興趣，想了解更多", "目前沒空", "約下週見面", "未接"], m),
            F["intent"]: [rng.choice(list("HABC")) if rng.random() < 0.4 else None for _ in range(m)],
        }
    )
    return contacts, followups


def demo_activities(rng, as_of=DEMO_AS_OF) -> pd.DataFrame:
    A = {f.key: f.label for f in ACTIVITIES.fields}
    dates = [as_of - pd.Timedelta(days=d) for d in (60, 45, 30, 14, 7)] + [as_of + pd.Timedelta(days=10)]
    return pd.DataFrame(
        {
            A["title"]: ["手作烘焙下午茶", "象山夜景健行", "理財讀書會", "咖啡拉花體驗", "桌遊之夜", "夏日野餐"],
            A["date"]: _roc(pd.Series(dates), rng),
            A["purpose"]: ["認識新朋友、觀察融入度"] * 6,
            A["venue"]: ["信義區教室", "象山步道口", "大安區咖啡館", "中山區咖啡館", "公館桌遊店", "大安森林公園"],
            A["address"]: [
                "台北市信義區松仁路 1 號",
                "台北市信義區",
                "台北市大安區",
                "台北市中山區",
                "台北市中正區",
                "台北市大安區",
            ],
            A["mrt"]: ["市政府站", "象山站", "忠孝復興站", "中山站", "公館站", "大安森林公園站"],
            A["time"]: ["14:00–17:00", "19:00–21:00", "19:30–21:30", "14:00–16:00", "19:00–22:00", "10:00–14:00"],
            A["price"]: ["500", "0", "200元", "350", "300", "免費"],
            A["signups"]: [8, 12, 6, 9, 10, None],
            A["went_well"]: ["氣氛熱絡", "大家很投入", None, "新朋友主動分享", None, None],
            A["watch_out"]: ["時間拖太長", None, None, "場地太吵", None, None],
            A["next_time"]: ["先準備破冰問題", None, None, "換安靜場地", None, None],
        }
    )


def demo_loans(rng) -> tuple[dict, pd.DataFrame]:
    """A filled 貸款懶人包 form (label → value) and a small applicants table (one wrong check digit)."""
    form = {
        "姓名": "陳雅婷",
        "身分證字號": valid_id(rng),
        "出生年月日": "民國79年5月20日",
        "學歷": "大學",
        "手機": "0932-123-456",
        "家用電話": "(02)2712-3456",
        "戶籍地居所": "台中市西屯區",
        "現居地": "台北市松山區",
        "公司地址": "台北市內湖區瑞光路",
        "公司全名": "範例科技股份有限公司",
        "公司職稱": "資深工程師",
        "到職日或年資": "108/03/01",
        "前份工作": "系統工程師",
        "勞保是否有掛在公司": "是",
        "公司薪轉銀行": "範例銀行",
        "公司每月幾號發薪水": 5,
        "幾號發底薪": 5,
        "幾號發獎金": 20,
        "年所得": "120萬",
        "平均月收入": "8萬5千",
        "有無年終.分紅.績效.季獎金": "有",
        "有無兼差": "無",
        "有無報稅": "有",
        "領現金?": "否",
        "有無使用信用卡": "有",
        "信用卡狀況是否每次繳清、額度": "每月繳清，額度 20萬",
        "名下不動產.動產負債額度.利率": "機車一台，無負債",
        "帳戶存款那家?金額": "範例銀行 30萬",
        "有無辦過貸(哪幾家?)": "無",
        "有無當過擔保人": "無",
        "保險": "壽險、醫療險",
        "基金": "定期定額 5千",
        "其他投資": None,
    }
    rows = []
    for _ in range(6):
        rows.append(
            {
                "姓名": _names(rng, 1)[0],
                "身分證字號": valid_id(rng),
                "出生年月日": f"{rng.integers(60, 90)}/{rng.integers(1, 13):02d}/{rng.integers(1, 29):02d}",
                "手機": _phones(rng, 1)[0],
                "公司全名": rng.choice(["範例物流", "範例餐飲", "範例電子"]),
                "到職日或年資": rng.choice(["3年", "1年6個月", "110/07/01", "8個月"]),
                "年所得": rng.choice(["60萬", "85萬", "1,200,000", "45萬"]),
                "平均月收入": rng.choice(["5萬", "7萬", "10萬", "3萬8千"]),
                "勞保是否有掛在公司": rng.choice(["是", "否"]),
                "有無報稅": rng.choice(["有", "無"]),
            }
        )
    table = pd.DataFrame(rows)
    bad = table.loc[2, "身分證字號"]
    table.loc[2, "身分證字號"] = bad[:-1] + str((int(bad[-1]) + 1) % 10)  # a typo in the check digit
    return form, table


def demo_transactions(rng, customers=400, as_of=DEMO_AS_OF) -> pd.DataFrame:
    T = {f.key: f.label for f in TRANSACTIONS.fields}
    ids = [f"C{i:04d}" for i in range(1, customers + 1)]
    rows = []
    start = as_of - pd.Timedelta(days=540)
    for cid in ids:  # a few hundred synthetic customers
        gap = rng.choice([12, 25, 45, 90])
        day = start + pd.Timedelta(days=int(rng.integers(0, 120)))
        churn_at = start + pd.Timedelta(days=int(rng.integers(90, 600)))
        while day <= min(as_of, churn_at):
            rows.append((cid, day, float(rng.gamma(2.0, 800)), rng.choice(["保養品", "健康食品", "課程", "保險"])))
            day += pd.Timedelta(days=int(rng.geometric(1 / gap)))
    frame = pd.DataFrame(rows, columns=[T["customer_id"], T["date"], T["amount"], T["product"]])
    frame[T["amount"]] = frame[T["amount"]].round(0)
    frame[T["date"]] = frame[T["date"]].dt.strftime("%Y-%m-%d")
    return frame


def demo_campaign(rng, n=2500, unlabelled=500) -> pd.DataFrame:
    age = rng.integers(20, 70, n)
    balance = rng.gamma(1.2, 30000, n).round(0)
    contacts = rng.poisson(2, n)
    prior = rng.choice(["成功", "失敗", "未聯絡"], n, p=[0.05, 0.15, 0.8])
    job = rng.choice(["上班族", "自營", "退休", "學生", "家管"], n)
    logit = -3 + 0.02 * (age - 40) + balance / 100000 + 2.2 * (prior == "成功") - 0.2 * contacts + 0.6 * (job == "退休")
    bought = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    label = np.where(np.arange(n) < n - unlabelled, np.where(bought == 1, "是", "否"), None)
    C = {f.key: f.label for f in CAMPAIGN.fields}
    return pd.DataFrame(
        {
            C["customer_id"]: [f"U{i:05d}" for i in range(n)],
            "年齡": age,
            "職業": job,
            "存款餘額": balance,
            "本次聯絡次數": contacts,
            "前次活動結果": prior,
            C["label"]: label,
        }
    )


def write_demo(directory: Path, seed: int = 0, as_of: pd.Timestamp = DEMO_AS_OF) -> list[Path]:
    """Write the demo files into ``directory``, dated up to ``as_of``; returns their paths."""
    import openpyxl
    from openpyxl.styles import Font

    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    contacts, followups = demo_contacts(rng, as_of=as_of)
    paths = []

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "我的名單"
    ws.append(["2024 年 名單資料表（業務：示範）"])  # a merged title row above the header
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=8)
    ws["A1"].font = Font(bold=True, size=14)
    _write_frame(ws, contacts)
    _write_frame(wb.create_sheet("跟進紀錄"), followups)
    _write_frame(wb.create_sheet("暖線活動"), demo_activities(rng, as_of))
    add_settings_sheet(wb, Settings(rep="示範"))
    paths.append(directory / "名單與跟進.xlsx")
    wb.save(paths[-1])

    form, table = demo_loans(rng)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "貸款懶人包"
    ws.append(["貸款懶人包"])
    section = None
    for f in LOANS.fields:
        if f.section != section:
            section = f.section
            ws.append([section])
        ws.append([f"{f.label}:", form.get(f.label)])
    _write_frame(wb.create_sheet("申請人"), table)
    paths.append(directory / "貸款懶人包.xlsx")
    wb.save(paths[-1])

    paths.append(directory / "交易紀錄.csv")
    demo_transactions(rng, as_of=as_of).to_csv(paths[-1], index=False, encoding="utf-8-sig")
    paths.append(directory / "行銷名單.csv")
    demo_campaign(rng).to_csv(paths[-1], index=False, encoding="utf-8-sig")
    return paths


def _write_frame(ws, frame: pd.DataFrame) -> None:
    """Rows as typed: strings stay text even when they start with = (like a pasted formula)."""
    ws.append(list(frame.columns))
    for row in frame.itertuples(index=False, name=None):
        ws.append([text_cell(ws, v) for v in row])
