"""The one schema: every sheet kind declared once — field key, zh-TW label, aliases, type, hint.

Templates, header detection, parsing/validation and output headers all read this module; there
is no second list of column names anywhere (STYLE.md "One schema, many uses"). The fields
mirror the seeds' forms: seed 000's 資料表 (contacts, FORMHTCD), 暖線活動格式 (activities) and
貸款懶人包 (loan intake, sections 1–5 with their lettered items); seed 004's follow-up cadence;
seed 000/001's campaign list with a 0/1 label.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from functools import lru_cache

# Field types understood by processor.read.parse
TEXT, DATE, AMOUNT, INT, BOOL, PHONE, ID, CHOICE = "text", "date", "amount", "int", "bool", "phone", "id", "choice"
TENURE = "tenure"  # 到職日或年資: a hire date or a length of service such as 3年2個月

TRUST_LEVELS = ("A", "B", "C")  # seed 000 一、2: A 家人/麻吉, B 一般朋友, C 很久沒見
INTENT_LEVELS = ("H", "A", "B", "C")  # seed 004: H daily, A 3 days, B weekly, C 15–30 days
FUNNEL_STAGES = ("目標市場", "潛在客戶", "目標客戶", "關鍵客戶", "已成交")  # seed 001 客戶漏斗 + won
CHANNELS = ("電話", "Line", "見面", "Email", "簡訊", "其他")
#: dropdown suggestions of free-text fields: a rep may pick one or type another (seed 000 資料表 關係; 貸款懶人包 學歷)
RELATIONS = ("家人", "親戚", "同學", "朋友", "同事", "前同事", "鄰居", "客戶介紹", "社團", "網路認識", "其他")
EDUCATION = ("國中以下", "高中職", "專科", "大學", "碩士", "博士")


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    type: str = TEXT
    aliases: tuple[str, ...] = ()
    required: bool = False
    hint: str = ""
    choices: tuple[str, ...] = ()
    width: int = 14
    past: bool = False  # a date that cannot lie after "today"
    derived: bool = False  # computed by score, not typed by reps
    section: str = ""  # loan form section title
    deferred: bool = False  # kept as typed; the analyser that owns it parses and reports it
    minimum: int | None = None  # a whole number below it is reported and not used
    suggestions: tuple[str, ...] = ()  # a template dropdown that also accepts other text (TEXT fields)

    @property
    def number_format(self) -> str:
        """The template cell format. Dates are text ("@") on purpose: Excel turns a typed ROC date
        such as 85/03/12 into 1985-03-12 in any date or General cell, silently 11 years off;
        as text it reaches score as typed, and score reads every spelling (DESIGN §3)."""
        return {AMOUNT: "#,##0", INT: "0"}.get(self.type, "@")


@dataclass(frozen=True)
class SheetKind:
    key: str
    label: str  # template sheet name and how reps call it
    one_row_is: str
    fields: tuple[Field, ...]
    signature: tuple[frozenset[str], ...]  # the kind is a candidate if any one of these key sets is present
    unique: tuple[tuple[str, ...], ...] = ()  # key sets whose repeats are reported as duplicates
    #: (shared, differing): the same value of ``shared`` under different ``differing`` values is a 提醒
    conflicts: tuple[tuple[str, str], ...] = ()
    #: groups of which each row needs at least one filled (e.g. 姓名 or 客戶編號)
    required_any: tuple[tuple[str, ...], ...] = ()
    open_columns: bool = False  # unknown columns are features (campaign lists), not noise

    def field(self, key: str) -> Field:
        return next(f for f in self.fields if f.key == key)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.fields)


def F(key, label, type=TEXT, *aliases, **kw) -> Field:
    return Field(key, label, type, tuple(aliases), **kw)


_name = F(
    "name",
    "姓名",
    TEXT,
    "名字",
    "客戶姓名",
    "客戶名稱",
    "name",
    "customer name",
    "full name",
    hint="客戶姓名（必填）",
    width=10,
)
_DATE_HINT = "民國 85/03/12、民國85年3月12日 或 1996/3/12 都可以（本欄是文字格式，民國年不會被 Excel 改掉）"
_customer_id = F(
    "customer_id",
    "客戶編號",
    TEXT,
    "客戶代號",
    "客戶ID",
    "會員編號",
    "會員ID",
    "顧客編號",
    "UID",
    "customer id",
    "customer",
    "cust id",
    "member id",
    "id",
    hint="每位客戶唯一的編號",
    width=12,
)

CONTACTS = SheetKind(
    "contacts",
    "名單",
    "一位聯絡人",
    (
        replace(_name, required=True),
        _customer_id,
        F(
            "owner",
            "負責業務",
            TEXT,
            "業務",
            "業務員",
            "負責人",
            "經辦業務",
            "owner",
            "sales rep",
            "rep",
            hint="這位聯絡人由哪位業務負責（團隊總覽依此分人）",
            width=10,
        ),
        F(
            "birthday",
            "生日",
            DATE,
            "出生日期",
            "出生年月日",
            "birthday",
            "date of birth",
            "dob",
            past=True,
            hint="生日：" + _DATE_HINT,
            width=12,
        ),
        F(
            "zodiac",
            "星座",
            TEXT,
            "zodiac",
            "zodiac sign",
            derived=True,
            hint="由生日自動推算，不必填；填了而與生日不符會提醒",
            width=8,
        ),
        F(
            "relation",
            "關係",
            TEXT,
            "relationship",
            "relation",
            hint="例：同學、前同事、鄰居（可從清單選，也可自己寫）",
            width=10,
            suggestions=RELATIONS,
        ),
        F(
            "phone",
            "手機",
            PHONE,
            "電話",
            "行動電話",
            "聯絡電話",
            "聯繫電話",
            "聯繫方式",
            "聯絡方式",
            "mobile",
            "phone",
            "cell",
            hint="例：0912-345-678 或 (02)2345-6789",
            width=14,
        ),
        F(
            "trust",
            "信任等級",
            CHOICE,
            "信任度",
            "熟悉度",
            "信任熟悉度",
            "trust",
            "trust level",
            choices=TRUST_LEVELS,
            hint="A 家人/麻吉；B 一般朋友、每月會碰面；C 半年以上沒見",
            width=9,
        ),
        F(
            "intent",
            "意向等級",
            CHOICE,
            "意向",
            "意願",
            "intent",
            "intent level",
            choices=INTENT_LEVELS,
            hint="H 每天跟進；A 每3天；B 每週；C 每15–30天",
            width=9,
        ),
        F(
            "stage",
            "階段",
            CHOICE,
            "銷售階段",
            "漏斗階段",
            "stage",
            "funnel stage",
            choices=FUNNEL_STAGES,
            hint="客戶漏斗：目標市場→潛在客戶→目標客戶→關鍵客戶→已成交",
            width=10,
        ),
        F("personality", "個性", TEXT, "性格", "personality", hint="例：外向、謹慎、理性（約見時怎麼聊）", width=12),
        F("family", "F家庭", TEXT, "家庭", "family", hint="FORMHTCD 的 F：家庭狀況", width=14),
        F(
            "occupation",
            "O工作現況",
            TEXT,
            "工作現況",
            "工作",
            "職業",
            "occupation",
            "work",
            hint="FORMHTCD 的 O：工作現況、有無不滿",
            width=14,
        ),
        F(
            "recreation",
            "R興趣",
            TEXT,
            "興趣",
            "嗜好",
            "hobby",
            "recreation",
            hint="FORMHTCD 的 R：興趣（約活動用）",
            width=12,
        ),
        F("money", "M經濟狀況", TEXT, "經濟狀況", "money", "finance", hint="FORMHTCD 的 M：經濟狀況", width=12),
        F("health", "H健康狀況", TEXT, "健康狀況", "健康", "health", hint="FORMHTCD 的 H：健康狀況", width=12),
        F("time", "T時間", TEXT, "時間", "空閒時間", "time", hint="FORMHTCD 的 T：方便的時間", width=12),
        # the seed's 「C對內地的印象」 (a mainland term) stays an alias, so files made before still read
        F(
            "china",
            "C對中國大陸的印象",
            TEXT,
            "C對中國大陸的印象/有沒有去過",
            "對中國大陸的印象",
            "C對內地的印象",
            "C對內地的印象/有沒有去過",
            "對內地的印象",
            "對內地的印象有沒有去過",
            "有沒有去過",
            "china",
            hint="FORMHTCD 的 C：對中國大陸的印象、有沒有去過",
            width=14,
        ),
        # a lone 「D夢想」 column (no 初期/中期/長期 under it) is read as the first: the D letter counts either way
        F(
            "dream_early",
            "D夢想-初期",
            TEXT,
            "夢想初期",
            "初期",
            "D夢想",
            "夢想",
            "dream",
            "dream short term",
            hint="FORMHTCD 的 D：初期夢想",
            width=14,
        ),
        F(
            "dream_mid",
            "D夢想-中期",
            TEXT,
            "夢想中期",
            "中期",
            "dream mid term",
            hint="FORMHTCD 的 D：中期夢想",
            width=14,
        ),
        F(
            "dream_long",
            "D夢想-長期",
            TEXT,
            "夢想長期",
            "長期",
            "dream long term",
            hint="FORMHTCD 的 D：長期夢想",
            width=14,
        ),
        F(
            "need_what",
            "他要多少",
            TEXT,
            "他要多少要什麼",
            "要多少",
            "需求",
            "how much",
            hint="確認需求 a：他要多少、要什麼",
            width=14,
        ),
        F(
            "need_when",
            "多久內達成",
            TEXT,
            "時間多久內達成",
            "多久達成",
            "by when",
            hint="確認需求 b：多久內達成",
            width=12,
        ),
        F(
            "need_give",
            "願意付出什麼",
            TEXT,
            "願意付出",
            "what will they give",
            hint="確認需求 c：願意付出什麼",
            width=14,
        ),
        F("man_money", "M有購買力", BOOL, "有購買力", "購買力", hint="MAN 法則 M：是/否", width=9),
        F("man_authority", "A有決定權", BOOL, "有決定權", "決定權", "authority", hint="MAN 法則 A：是/否", width=9),
        F("man_need", "N有需求", BOOL, "有需求", "need", hint="MAN 法則 N：是/否", width=9),
        F(
            "warm_log",
            "暖線活動跟進紀錄",
            TEXT,
            "暖線紀錄",
            "暖線跟進紀錄",
            "warm up log",
            hint="帶來哪場暖線活動、對方的反應（種子 000 資料表）",
            width=20,
        ),
        F(
            "next_step",
            "夥伴需求點/預計下一步",
            TEXT,
            "夥伴需求點",
            "預計下一步",
            "下一步",
            "next step",
            hint="夥伴看到的需求點，以及下一步要做什麼",
            width=20,
        ),
        F(
            "first_contact",
            "首次接觸日",
            DATE,
            "第一次接觸",
            "首次聯絡日",
            "first contact",
            past=True,
            hint="第一次面對面或通話的日期；" + _DATE_HINT,
            width=12,
        ),
        F(
            "last_contact",
            "最後聯絡日",
            DATE,
            "上次聯絡日",
            "最近聯絡日",
            "最後聯絡",
            "last contact",
            past=True,
            hint="最近一次聯絡的日期（空白時以首次接觸日計）；" + _DATE_HINT,
            width=12,
        ),
        F(
            "touches",
            "聯絡次數",
            INT,
            "接觸次數",
            "跟進次數",
            "touches",
            hint="到目前為止聯絡過幾次（整數）",
            width=8,
            minimum=0,
        ),
        F("notes", "備註", TEXT, "說明", "notes", "remark", "remarks", hint="其他想記下的事", width=20),
    ),
    signature=(
        frozenset({"name", "trust"}),
        frozenset({"name", "intent"}),
        frozenset({"name", "birthday"}),
        frozenset({"name", "family"}),
        frozenset({"name", "stage"}),
        frozenset({"name", "last_contact"}),
    ),
    unique=(("customer_id",), ("name", "phone")),
    conflicts=(("phone", "name"),),
)

FOLLOWUPS = SheetKind(
    "followups",
    "跟進紀錄",
    "一次跟進",
    (
        _name,
        _customer_id,
        F(
            "date",
            "日期",
            DATE,
            "跟進日期",
            "聯絡日期",
            "日期時間",
            "date",
            "contact date",
            required=True,
            past=True,
            hint="這次跟進的日期（必填）；" + _DATE_HINT,
            width=12,
        ),
        F(
            "channel",
            "方式",
            CHOICE,
            "聯絡方式",
            "聯繫方式",
            "跟進方式",
            "channel",
            "method",
            choices=CHANNELS,
            hint="電話 / Line / 見面 / Email / 簡訊 / 其他",
            width=8,
        ),
        F("result", "結果", TEXT, "跟進結果", "result", "outcome", hint="這次談到什麼、對方反應", width=24),
        F(
            "intent",
            "意向等級",
            CHOICE,
            "意向",
            "intent",
            choices=INTENT_LEVELS,
            hint="這次跟進後的意向 H/A/B/C",
            width=9,
        ),
        F("notes", "備註", TEXT, "說明", "notes", "remark", "remarks", hint="其他想記下的事", width=20),
    ),
    signature=(frozenset({"date", "channel"}), frozenset({"date", "result"})),
    required_any=(("name", "customer_id"),),
)

ACTIVITIES = SheetKind(
    "activities",
    "暖線活動",
    "一場暖線活動",
    (
        F(
            "title",
            "活動名稱",
            TEXT,
            "活動",
            "名稱",
            "event",
            "title",
            required=True,
            hint="活動名稱（必填）",
            width=16,
        ),
        F("date", "日期", DATE, "活動日期", "date", required=True, hint="活動日期（必填）；" + _DATE_HINT, width=12),
        F("purpose", "目的", TEXT, "活動目的", "purpose", hint="這場暖線活動想達成什麼", width=16),
        F("venue", "地點", TEXT, "venue", "place", hint="例：○○咖啡", width=12),
        F("address", "地址", TEXT, "address", hint="活動地址", width=20),
        F("mrt", "捷運", TEXT, "捷運站", "mrt", "metro", hint="最近的捷運站", width=10),
        F("time", "時間", TEXT, "活動時間", "time", hint="例：19:00–21:00", width=12),
        F("price", "價格", AMOUNT, "費用", "price", "fee", hint="每人費用，可寫 500 或 1,200", width=9),
        F("signups", "報名人數", INT, "流水報名", "報名", "signups", hint="報名人數（整數）", width=8),
        F(
            "went_well",
            "做得很棒的點",
            TEXT,
            "很棒的點",
            "做得好的地方",
            "went well",
            hint="暖線結束後與推薦人討論 a",
            width=20,
        ),
        F("watch_out", "要注意的點", TEXT, "注意的點", "watch out", hint="暖線結束後與推薦人討論 b", width=20),
        F("next_time", "下次可以怎麼做", TEXT, "下次怎麼做", "next time", hint="暖線結束後與推薦人討論 c", width=20),
    ),
    signature=(frozenset({"title", "purpose"}), frozenset({"title", "venue"}), frozenset({"title", "went_well"})),
)

TRANSACTIONS = SheetKind(
    "transactions",
    "交易",
    "一筆購買",
    (
        F(
            "customer_id",
            "客戶編號",
            TEXT,
            *_customer_id.aliases,
            required=True,
            hint="每位客戶唯一的編號（必填）",
            width=12,
        ),
        F(
            "date",
            "日期",
            DATE,
            "交易日期",
            "購買日期",
            "消費日期",
            "訂單日期",
            "date",
            "order date",
            "purchase date",
            required=True,
            hint="購買日期（必填）；" + _DATE_HINT,
            width=12,
        ),  # not past: processor.analyse.transactions reports a purchase after as-of, once
        F(
            "amount",
            "金額",
            AMOUNT,
            "消費金額",
            "交易金額",
            "銷售額",
            "訂單金額",
            "amount",
            "sales",
            "revenue",
            "value",
            required=True,
            hint="金額（必填），可寫 1,200 或 3萬；退貨請寫負數",
            width=10,
        ),
        F("margin", "毛利", AMOUNT, "利潤", "margin", "profit", hint="選填：這筆的毛利", width=10),
        F("cost", "成本", AMOUNT, "cost", hint="選填：這筆的成本", width=10),
        F("product", "品項", TEXT, "商品", "產品", "品名", "product", "item", hint="選填：買了什麼", width=14),
    ),
    signature=(frozenset({"customer_id", "date", "amount"}),),
)

CAMPAIGN = SheetKind(
    "campaign",
    "行銷名單",
    "一位客戶",
    (
        F(
            "customer_id",
            "客戶編號",
            TEXT,
            *_customer_id.aliases,
            required=True,
            hint="每位客戶唯一的編號（必填）；其餘欄位（年齡、職業…）照原樣加在右邊",
            width=12,
        ),
        F(
            "label",
            "是否購買",
            BOOL,
            "買A商品",
            "購買",
            "是否成交",
            "成交",
            "回應",
            "label",
            "target",
            "y",
            "purchased",
            "bought",
            hint="已知結果填 是/否 或 1/0；要預測的客戶留白",
            width=10,
            deferred=True,
        ),  # processor.analyse.propensity.parse_label reads it, naming the input's own header
    ),
    signature=(frozenset({"customer_id"}),),
    unique=(("customer_id",),),
    open_columns=True,
)
#: headers (normalised, see :func:`normalise_header`) that read as a campaign's known result when
#: no alias above matched: strong ones name a purchase (買B商品, 成交, bought), weak ones ask whether
#: the customer did something (是否接受, 有無回購). processor.analyse.propensity.choose_label applies them
#: (as :data:`LABEL_HEADER_PATTERNS`, folded to the script :func:`normalise_header` produces).
_LABEL_HEADER_PATTERNS = (
    r"^(買.{1,12}|(是否|有無|有沒有|已)?(購買|買|成交|下單|訂購|購入).{0,12}|bought.*|purchased?.*|buy.*|"
    r"converted|conversion|responded|response|outcome|target|label|y)$",
    r"^(是否|有無|有沒有)(接受|回購|續約|加入|報名|參加|訂閱|申辦|投保|轉換|回應|同意|簽約|購|買).{0,12}$"
    r"|^(accepted|subscribed|renewed|signed.*|churn(ed)?)$",
)

_S1, _S2, _S3, _S4, _S5 = "1.個人資料", "2.公司.戶籍", "3.個人收入", "4.信用狀況", "5.有無其它財力?哪家?"
LOANS = SheetKind(
    "loans",
    "貸款",
    "一位申請人",
    (
        F("name", "姓名", TEXT, *_name.aliases, required=True, section=_S1, hint="申請人姓名（必填）", width=10),
        F(
            "id_number",
            "身分證字號",
            ID,
            "身分證",
            "身分證號",
            "統一證號",
            "居留證號",
            "id number",
            "national id",
            required=True,
            section=_S1,
            hint="例：A123456789；輸出時會遮蔽",
            width=12,
        ),
        F(
            "birthday",
            "出生年月日",
            DATE,
            "生日",
            "出生日期",
            "birthday",
            past=True,
            section=_S1,
            hint="出生年月日；" + _DATE_HINT,
            width=12,
        ),
        F(
            "education",
            "學歷",
            TEXT,
            "education",
            section=_S1,
            hint="例：大學、高中職（可從清單選，也可自己寫）",
            width=8,
            suggestions=EDUCATION,
        ),
        F("mobile", "手機", PHONE, "行動電話", "mobile", section=_S1, hint="例：0912-345-678", width=13),
        F(
            "home_phone",
            "家用電話",
            PHONE,
            "住家電話",
            "市話",
            "home phone",
            section=_S1,
            hint="例：(02)2345-6789",
            width=13,
        ),
        F(
            "registered_address",
            "戶籍地居所",
            TEXT,
            "戶籍地",
            "戶籍地址",
            "registered address",
            section=_S2,
            hint="戶籍地址",
            width=20,
        ),
        F(
            "current_address",
            "現居地",
            TEXT,
            "現居地址",
            "居住地址",
            "current address",
            section=_S2,
            hint="現在住的地址",
            width=20,
        ),
        F("company_address", "公司地址", TEXT, "company address", section=_S2, hint="公司地址", width=20),
        F(
            "company_name",
            "公司全名",
            TEXT,
            "公司名稱",
            "公司",
            "company",
            section=_S2,
            hint="公司全名（登記名稱）",
            width=16,
        ),
        F("job_title", "公司職稱", TEXT, "職稱", "job title", section=_S2, hint="例：業務專員", width=10),
        F(
            "hire_date",
            "到職日或年資",
            TENURE,
            "到職日",
            "年資",
            "hire date",
            "tenure",
            section=_S2,
            hint="到職日（例：108/03/01）或年資（例：3年2個月）",
            width=12,
        ),
        F(
            "previous_job",
            "前份工作",
            TEXT,
            "前一份工作",
            "previous job",
            section=_S2,
            hint="前一份工作的公司與職稱",
            width=14,
        ),
        F(
            "labor_insurance",
            "勞保是否有掛在公司",
            BOOL,
            "勞保",
            "勞保掛公司",
            "labor insurance",
            section=_S2,
            hint="勞保是否掛在現職公司：是/否",
            width=9,
        ),
        F(
            "payroll_bank",
            "公司薪轉銀行",
            TEXT,
            "薪轉銀行",
            "payroll bank",
            section=_S2,
            hint="薪水轉帳的銀行",
            width=12,
        ),
        F(
            "payday",
            "公司每月幾號發薪水",
            INT,
            "發薪日",
            "幾號發薪水",
            "payday",
            section=_S2,
            hint="每月幾號發薪水（1–31）",
            width=8,
        ),
        F("base_payday", "幾號發底薪", INT, "底薪發放日", section=_S2, hint="每月幾號發底薪（1–31）", width=8),
        F("bonus_payday", "幾號發獎金", INT, "獎金發放日", section=_S2, hint="每月幾號發獎金（1–31）", width=8),
        F(
            "annual_income",
            "年所得",
            AMOUNT,
            "年所得包含所有收入獎金",
            "年收入",
            "annual income",
            section=_S3,
            hint="包含所有收入、獎金；可寫 80萬",
            width=11,
        ),
        F(
            "monthly_income",
            "平均月收入",
            AMOUNT,
            "月收入",
            "月薪",
            "monthly income",
            section=_S3,
            hint="可寫 5萬 或 50,000",
            width=11,
        ),
        F(
            "has_bonus",
            "有無年終.分紅.績效.季獎金",
            BOOL,
            "有無年終分紅績效季獎金",
            "有無年終",
            "年終",
            "bonus",
            section=_S3,
            hint="有無年終、分紅、績效、季獎金：是/否",
            width=9,
        ),
        F("side_job", "有無兼差", BOOL, "兼差", "side job", section=_S3, hint="有無兼差：是/否", width=8),
        F("files_tax", "有無報稅", BOOL, "報稅", "files tax", section=_S3, hint="有無報稅：是/否", width=8),
        F("paid_cash", "領現金?", BOOL, "領現金", "paid in cash", section=_S3, hint="薪水是否領現金：是/否", width=8),
        F(
            "uses_credit_card",
            "有無使用信用卡",
            BOOL,
            "信用卡",
            "credit card",
            section=_S4,
            hint="有無使用信用卡：是/否",
            width=9,
        ),
        F(
            "card_status",
            "信用卡狀況是否每次繳清、額度",
            TEXT,
            "信用卡狀況",
            "card status",
            section=_S4,
            hint="是否每次繳清、額度多少",
            width=16,
        ),
        F(
            "property_debt",
            "名下不動產.動產負債額度.利率",
            TEXT,
            "名下不動產動產負債額度利率",
            "名下不動產",
            "負債",
            section=_S4,
            hint="名下不動產、動產，負債額度與利率",
            width=16,
        ),
        F(
            "deposits",
            "帳戶存款那家?金額",
            TEXT,
            "帳戶存款",
            "存款",
            "deposits",
            section=_S4,
            hint="存款在哪家銀行、大約金額",
            width=14,
        ),
        F(
            "prior_loans",
            "有無辦過貸(哪幾家?)",
            TEXT,
            "有無辦過貸",
            "辦過貸",
            "prior loans",
            section=_S4,
            hint="有無辦過貸款，哪幾家",
            width=14,
        ),
        F(
            "guarantor",
            "有無當過擔保人",
            BOOL,
            "擔保人",
            "guarantor",
            section=_S4,
            hint="有無當過擔保人：是/否",
            width=9,
        ),
        F("insurance", "保險", TEXT, "insurance", section=_S5, hint="有哪些保險", width=12),
        F("funds", "基金", TEXT, "funds", section=_S5, hint="有哪些基金", width=12),
        F(
            "other_investments",
            "其他投資",
            TEXT,
            "其它投資",
            "investments",
            section=_S5,
            hint="股票、房地產等其他投資",
            width=12,
        ),
    ),
    signature=(
        frozenset({"name", "id_number"}),
        frozenset({"id_number", "annual_income"}),
        frozenset({"name", "monthly_income"}),
    ),
    unique=(("id_number",),),
)

#: the template's example row (row 2, grey): its first cell begins with this mark, and a row that does is
#: never read as data (processor.read.parse drops it), so a rep may leave it in place
EXAMPLE_MARK = "範例"
#: one made-up record per kind, by field key, shown as the template's example row (no real person)
EXAMPLES: dict[str, dict[str, object]] = {
    "contacts": {
        "name": "範例：王小明",
        "customer_id": "C001",
        "birthday": "85/03/12",
        "relation": "同學",
        "phone": "0912-345-678",
        "owner": "陳小華",
        "trust": "B",
        "intent": "A",
        "stage": "潛在客戶",
        "personality": "外向",
        "family": "已婚，一個小孩",
        "occupation": "科技業業務",
        "recreation": "爬山",
        "time": "平日晚上",
        "dream_early": "換車",
        "need_what": "每月多 2萬",
        "need_when": "一年內",
        "first_contact": "113/06/01",
        "last_contact": "113/06/20",
        "touches": 3,
        "next_step": "約週末喝咖啡",
    },
    "followups": {
        "name": "範例：王小明",
        "customer_id": "C001",
        "date": "113/06/20",
        "channel": "電話",
        "result": "聊近況，對方想多了解",
        "intent": "A",
    },
    "activities": {
        "title": "範例：讀書會",
        "date": "113/07/06",
        "purpose": "認識新朋友",
        "venue": "○○咖啡",
        "mrt": "中山站",
        "time": "19:00–21:00",
        "price": 300,
        "signups": 12,
    },
    "transactions": {"customer_id": "範例：C001", "date": "113/06/15", "amount": "1,200", "product": "保養品組"},
    "campaign": {"customer_id": "範例：C001", "label": "是"},
    "loans": {
        "name": "範例：王小明",
        "id_number": "A123456789",
        "birthday": "85/03/12",
        "education": "大學",
        "mobile": "0912-345-678",
        "company_name": "○○科技股份有限公司",
        "job_title": "業務專員",
        "hire_date": "3年2個月",
        "annual_income": "80萬",
        "monthly_income": "5萬5千",
        "uses_credit_card": "是",
    },
}

KINDS: dict[str, SheetKind] = {k.key: k for k in (CONTACTS, FOLLOWUPS, ACTIVITIES, TRANSACTIONS, CAMPAIGN, LOANS)}
#: where two kinds both fit a header row, the more specific kind wins
PRIORITY = ("loans", "transactions", "activities", "followups", "contacts", "campaign")

#: sheets that are never data: the add-in's start page and xlwings' own settings sheet (skipped
#: quietly when their headers match no kind, instead of being reported as unrecognised)
NON_DATA_SHEETS = ("說明", "結果說明", "使用說明", "xlwings.conf", "README")


@dataclass(frozen=True)
class Column:
    """One column of a result table: a key of the analyser's frame, its zh-TW label, its format."""

    key: str
    label: str
    format: str | None = None


def _input(kind: SheetKind, key: str, format: str | None = None) -> Column:
    return Column(key, kind.field(key).label, format)


#: 跟進排程, in order; fields typed by reps keep their schema label
SCHEDULE_COLUMNS = (
    Column("status", "狀態"),
    _input(CONTACTS, "name"),
    _input(CONTACTS, "customer_id"),
    _input(CONTACTS, "intent"),
    _input(CONTACTS, "trust"),
    _input(CONTACTS, "stage"),
    _input(CONTACTS, "phone"),
    Column("next_followup", "下次跟進日", "yyyy/mm/dd"),
    Column("days_overdue", "逾期天數"),
    _input(CONTACTS, "last_contact", "yyyy/mm/dd"),
    _input(CONTACTS, "touches"),
    Column("cadence", "跟進節奏"),
    Column("last_channel", "上次方式"),
    Column("last_result", "上次結果"),
    _input(CONTACTS, "zodiac"),
    Column("completeness", "資料完整度", "0%"),
    Column("missing", "待補FORMHTCD"),
    Column("needs", "需求確認"),
    Column("man", "MAN類型"),
    Column("man_advice", "MAN建議"),
    _input(CONTACTS, "next_step"),
)
#: 貸款檢核, in order
LOAN_REVIEW_COLUMNS = (
    Column("sheet", "工作表"),
    Column("row", "列"),
    _input(LOANS, "name"),
    Column("id_masked", LOANS.field("id_number").label),
    Column("id_status", "證號檢查"),
    Column("completeness", "資料完整度", "0%"),
    Column("age", "年齡"),
    Column("tenure_years", "年資(年)"),
    _input(LOANS, "annual_income", "#,##0"),
    _input(LOANS, "monthly_income", "#,##0"),
    Column("income_ratio", "年所得÷(月收入×12)", "0.00"),
    Column("income_check", "收入一致性"),
    Column("missing", "尚缺項目"),
)

# Headers are compared in Simplified script: OpenCC's t2s folds every Traditional (and Taiwan /
# Hong Kong variant) character onto one Simplified one (後/后 → 后, 裡/裏 → 里, 臺 → 台), which is
# many-to-one and safe, where Simplified → Traditional has to guess (干 → 幹/乾/干). Then a few
# variant spellings reps use interchangeably are folded too (身分/身份, 帳/賬, 紀錄/記錄).
_VARIANTS = str.maketrans({"份": "分", "账": "帐", "纪": "记"})
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)
# list markers in front of a label: ■ □ ● ◆ ▪ Ø, (a) a) (1) 1) 1. 1、 and the seed's a. b. c.
_ENUMERATOR = re.compile(r"^(?:(?:■|□|●|◆|▪|Ø|\(?[a-zA-Z]\)|\(?\d+\)|\d+[.、)]|[a-zA-Z][.、](?![a-zA-Z]))\s*)+")


@lru_cache(maxsize=1)
def _to_simplified():
    import opencc  # the OpenCC project's own binding: dictionaries shipped in the wheel

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=100_000)
def _normalise(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).strip()
    s = _ENUMERATOR.sub("", s)
    s = _to_simplified().convert(s).translate(_VARIANTS).lower()
    return _NOISE.sub("", s)


def normalise_header(text: object) -> str:
    """A header as matched: NFKC, folded to Simplified script, lower case, no spaces or
    punctuation, no leading list markers such as ■, (a), 1., a.

    >>> normalise_header("(b) 身份证字号：") == normalise_header("身分證字號")
    True
    >>> normalise_header("a.他要多少,要什麼?") == normalise_header("他要多少要什么")
    True
    """
    if text is None:
        return ""
    return _normalise(str(text))


def alias_index(kind: SheetKind) -> dict[str, str]:
    """normalised alias → field key for one kind (labels and keys included)."""
    index: dict[str, str] = {}
    for f in kind.fields:
        for alias in (f.label, f.key, *f.aliases):
            index.setdefault(normalise_header(alias), f.key)
    return index


ALIASES: dict[str, dict[str, str]] = {key: alias_index(kind) for key, kind in KINDS.items()}
#: the label header patterns in the folded script headers are compared in (regex syntax is ASCII)
LABEL_HEADER_PATTERNS = tuple(_to_simplified().convert(p).translate(_VARIANTS) for p in _LABEL_HEADER_PATTERNS)
#: normalised headers that name an ID number in any kind: such a column is masked whole, wherever it is
ID_HEADERS = frozenset(
    normalise_header(a) for k in KINDS.values() for f in k.fields if f.type == ID for a in (f.label, *f.aliases)
)
