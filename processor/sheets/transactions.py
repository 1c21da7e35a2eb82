"""沉默排名, 客戶價值 and 客戶分群 of a transaction log, their 摘要 blocks, and the pipeline analyser that
makes them (seeds 001, 002, 004; DESIGN §4; issues 3 and 12).

The computation is :mod:`processor.analyse.transactions` (cleaning, the per-customer tables),
:mod:`~processor.analyse.silence`, :mod:`~processor.analyse.segments` and :mod:`~processor.analyse.value`;
this module only lays it out: which columns, with which zh-TW labels, notes, formats and charts.
The big-log path (:func:`processor.pipeline.score_log`) lays out the engines' tables with :func:`build_sheets`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from processor.analyse import segments as seg
from processor.analyse import silence as sil
from processor.analyse import transactions as tx
from processor.analyse.calls import contact_directory, with_contacts
from processor.settings import Settings
from processor.sheets import value as value_layout
from processor.sheets.contract import Context, Contribution
from processor.sheets.report import Block, Chart, ResultSheet


def analyse_transactions(ctx: Context) -> Contribution | None:
    """沉默排名 and 客戶分群 from every transactions sheet, plus the 摘要 headline blocks."""
    parsed = ctx.sheets.get("transactions", [])
    if not parsed:
        return None
    if len(parsed) > 1:  # each row's sheet in a column; one sheet is named once (no copy of a 5M-row log)
        stacked, sheet = pd.concat([s.frame.assign(_sheet=s.sheet) for s in parsed]), tx.DEFAULT_SHEET
    else:
        stacked, sheet = parsed[0].frame, parsed[0].sheet
    ctx.progress(f"整理 {len(stacked):,} 筆交易")
    clean, problems = tx.clean_transactions(stacked, ctx.as_of, sheet=sheet)
    if clean.empty or not (clean["amount"] > 0).any():
        return Contribution(problems=problems, summary={"transactions": {"customers": 0}})
    directory = contact_directory(_stacked(ctx.sheets.get("contacts", [])))
    return Contribution(**build_results(clean, ctx.as_of, ctx.settings, ctx.progress, directory), problems=problems)


def _stacked(parsed) -> pd.DataFrame | None:
    return pd.concat([s.frame for s in parsed]) if parsed else None


def build_results(
    clean: pd.DataFrame, as_of, settings: Settings, progress=lambda m: None, directory: pd.DataFrame | None = None
) -> dict:
    """The sheets, 摘要 blocks, summary and 今日聯絡 people of clean transactions
    (:func:`~processor.analyse.transactions.customer_results`, then :func:`build_sheets`; used by the analyser
    and tests); ``directory`` (:func:`processor.analyse.calls.contact_directory`) adds 姓名, 手機, 負責業務."""
    r = tx.customer_results(clean, as_of, settings, progress)
    return build_sheets(r.silence, r.segments, r.info, as_of, settings, directory, r.value)


def build_sheets(
    silence: pd.DataFrame,
    segments: pd.DataFrame,
    info: dict,
    as_of,
    settings: Settings,
    directory: pd.DataFrame | None = None,
    value=None,
) -> dict:
    """The sheets, 摘要 blocks, summary and 今日聯絡 people of both tables (whichever engine computed
    them); ``directory`` (:func:`processor.analyse.calls.contact_directory`) adds 姓名, 手機, 負責業務."""
    middle = (
        [
            value_layout.value_sheet(
                value.table, value.model, value.priority, value.horizon_days, as_of, settings, tx.MAX_LISTED
            )
        ]
        if value is not None
        else []
    )
    summary = {"transactions": tx.headline(silence, segments, info)}
    if value is not None:  # 客戶價值 (processor.analyse.value.customer_value)
        summary["customer_value"] = value_layout.summary(value.table, value.model, value.priority, value.horizon_days)
    sheets = [
        silence_sheet(silence, as_of, settings, directory),
        *middle,
        segment_sheet(segments, info, settings, directory),
    ]
    return {
        "sheets": sheets,
        "summary_blocks": summary_blocks(silence, segments),
        "summary": summary,
        "calls": [tx.silence_calls(silence, settings.call_sheet_rows, directory, sheets[0].name)],
    }


def _counts(values: pd.Series, order, label: str, money: pd.Series | None = None) -> pd.DataFrame:
    """Customers (and money) per label, in ``order``, zero rows kept."""
    codes = pd.Categorical(values, categories=list(order)).codes
    known = codes >= 0
    frame = pd.DataFrame({label: list(order), "人數": np.bincount(codes[known], minlength=len(order)).astype(np.int64)})
    frame["占比"] = frame["人數"] / max(int(frame["人數"].sum()), 1)
    if money is not None:
        frame["消費金額"] = np.bincount(codes[known], weights=money.to_numpy(dtype=float)[known], minlength=len(order))
    return frame


def silence_sheet(
    silence: pd.DataFrame, as_of, settings: Settings, directory: pd.DataFrame | None = None
) -> ResultSheet:
    label = sil.LABELS
    display = with_contacts(
        sil.to_display(silence.head(tx.MAX_LISTED)), label["customer_id"], directory, tx.CONTACT_LABELS
    )
    formats = {
        label[k]: f
        for k, f in {
            "priority": "0.0",
            "first_purchase": "yyyy/mm/dd",
            "last_purchase": "yyyy/mm/dd",
            "mean_interval": "0.0",
            "max_interval": "0",
            "recency": "0",
            "rank_ratio": "0.00",
            "silence_score": "0.00",
            "visits_per_year": "0.0",
            "value": "#,##0",
            "margin": "#,##0",
        }.items()
    }
    s = settings
    main = Block(
        display,
        formats=formats,
        color_scale=(label["silence_score"],),
        data_bars=(label["value"],),
        widths={label["action"]: 32},
        hidden=(label["rank_ratio"],),
        comments={
            label["priority_rank"]: "1 = 最先打：高價值、還可能回來、又快要沉默的人排在前面",
            label["priority"]: "100 × 預期期間內會再買的機率 × (若再買的預期消費 ÷ 最高者)^γ；"
            "機率與 γ 由顧客價值模型在這份紀錄的過去學得（見 客戶價值 與 結果說明）",
            label["visits"]: "有正數金額的不同購買日數（同一天買幾次算一次）",
            label["mean_interval"]: "相鄰兩次購買日相隔的天數（Ti）的平均",
            label["max_interval"]: "相鄰兩次購買日相隔的天數（Ti）最長的一次",
            label["recency"]: "基準日 − 最近購買日（種子 004 的 Tr）",
            label["rank_ratio"]: "TrF：幾天沒來 在 {T1…Tn−1, Tr} 由小到大的秩次 ÷ 購買天數；1 表示已達歷史最長間隔",
            label["silence_score"]: "S＝幾天沒來 ÷ 最長間隔：S<1 尚未沉默，S=1 進入沉默，S>1 已沉默 S−1",
            label["silence_group"]: "依 TrF 分 a [0,0.4) b [0.4,0.6) c [0.6,0.8) d [0.8,0.95) e [0.95,1]；e 最接近沉默",
            label["history"]: f"低頻/新客：購買少於 {s.min_visits} 天，以全體客戶的典型間隔評分",
            label["dormancy"]: "距最近購買幾個整月：未滿1個月、1、2、3個月、3個月以上",
            label["visits_per_year"]: "近 12 個月的購買天數（不滿一年者換算成一年）",
            label["value_class"]: "高＝消費金額 ABC 分類的 A、B 類",
            label["action"]: "種子 004 依狀態與價值的做法；完整做法見 說明",
        },
    )
    groups = Block(
        _counts(silence["silence_group"], sil.GROUPS, label["silence_group"], silence["value"]),
        title="各沉默分組人數",
        formats={"占比": "0.0%", "消費金額": "#,##0"},
        as_table=False,
        charts=(Chart("col", "各沉默分組人數（a 活躍 → e 沉默）", label["silence_group"], ("人數",)),),
    )
    dormancy = Block(
        _counts(silence["dormancy"], sil.DORMANCY, label["dormancy"]),
        title=label["dormancy"],
        formats={"占比": "0.0%"},
        as_table=False,
        charts=(Chart("col", "多久沒買：人數", label["dormancy"], ("人數",)),),
    )
    rate = Block(
        _counts(silence["visit_rate_class"], sil.VISIT_RATE, label["visit_rate_class"]),
        title=label["visit_rate_class"],
        formats={"占比": "0.0%"},
        as_table=False,
    )
    playbook = "；".join(f"{r.state}・{r.value}：{r.playbook}" for r in sil.playbook_table().itertuples())
    lead = (
        f"沉默排名（基準日 {s.date_text(pd.Timestamp(as_of))}）：最該先打的客戶在最上面，第一欄「優先順序」1 = 最先打；"
        "最右欄是建議做法。欄名上的註解說明每欄怎麼算。"
    )
    notes = (
        "種子 004 沉默客戶喚回方案。購買日＝有正數金額的不同購買日；Ti＝相鄰兩次購買日的間隔天數；"
        "Tr（幾天沒來）＝基準日−最近購買日。",
        "秩次比 TrF（分析用欄位，預設收合，按欄上方的 + 展開）＝Tr 在 {T1…Tn−1, Tr} 由小到大的秩次（同值取最高秩次）"
        "÷ 購買天數 n；TrF＝1 表示 Tr 已達歷史最長間隔。",
        "沉默得分 S＝Tr ÷ 最長間隔：S<1 尚未沉默，S=1 進入沉默，S>1 已沉默 S−1。分組（依 TrF）：a [0,0.4) b [0.4,0.6) "
        "c [0.6,0.8) d [0.8,0.95) e [0.95,1]。",
        f"購買少於 {s.min_visits} 天者標為「低頻/新客」："
        "TrF 改以全體一般客戶的所有間隔計秩次比，S 以一般客戶最長間隔的中位數為分母"
        f"（全部客戶都只來過一次時，以 {s.typical_gap_days} 天為典型間隔："
        f"S＝Tr÷{s.typical_gap_days}，S≥1 時 TrF＝1，否則 0.5）。",
        "多久沒買以整個日曆月計（1/31 到 2/28 算滿 1 個月）：未滿1個月、1個月、2個月、3個月、3個月以上（4 個月起）。",
        "一年買幾次＝近 12 個月的購買天數（首次購買未滿一年者按實際期間換算成一年，"
        "最短以 1 個月計）。購買頻率分類（種子 004）："
        f"每月 ≥{s.regular_per_month:g} 次（每年 ≥{s.regular_per_month * 12:g} 次）為忠誠或常規——價值高者忠誠、其餘常規"
        f"（種子的常規客戶還有未滿足的需求、可提高客單價）；每年 ≥{s.marginal_per_year:g} 次為邊緣；"
        f"多於 {s.lost_per_year:g} 次為休眠；{s.lost_per_year:g} 次以下為流失。門檻可在 設定 工作表調整。",
        f"優先分數＝未來 {s.horizon_days} 天內再購買的機率（%），由 客戶價值 "
        f"工作表的模型與本資料過去的再購紀錄估計（見該表）；"
        "TrF、S、分組與建議行動照種子 004，說明客戶現在的狀態與該怎麼做。價值「高」＝ABC 的 A、B 類。",
        "建議行動依 S 與價值（種子 004 喚回方案）：S>2 深度沉默、1≤S≤2 剛沉默；S<1 時 低頻/新客 為新客、c–e "
        "組接近沉默、"
        "a–b 組活躍。各行動的完整做法（價值高／一般）：" + playbook + "。",
        "退貨（負數金額）已從消費金額扣除、不算一次購買；0 元不算購買。",
        PRIORITY_CHECK,
    ) + _listed_note(len(silence), label["priority_rank"])
    return ResultSheet("沉默排名", (main, groups, dormancy, rate), notes, lead=lead)


def _listed_note(n: int, order: str) -> tuple[str, ...]:
    if n <= tx.MAX_LISTED:
        return ()
    return (f"共 {n:,} 位客戶；本表只列出{order}前 {tx.MAX_LISTED:,} 位，下方各表與圖（及 摘要）涵蓋全部客戶。",)


#: what the CDNOW benchmark measured (benchmarks/bench_clv.py; see docs/customer-value.md)
PRIORITY_CHECK = (
    "驗證（公開 CDNOW 資料，1997/9/30 前預測 1998/6/30 前誰會再買）：優先分數 AUC 0.770，只看距今天數 Tr 0.759；"
    "名單前 20% 涵蓋下期消費 68.6%，Tr 64.4%。"
)


def segment_sheet(
    segments: pd.DataFrame, info: dict, settings: Settings, directory: pd.DataFrame | None = None
) -> ResultSheet:
    label = seg.LABELS
    display = with_contacts(
        segments.head(tx.MAX_LISTED).rename(columns=label), label["customer_id"], directory, tx.CONTACT_LABELS
    )
    formats = {
        label["monetary"]: "#,##0",
        label["average_ticket"]: "#,##0",
        label["value_score"]: "0.0",
        label["recency"]: "0",
    }
    main = Block(
        display,
        formats=formats,
        color_scale=(label["value_score"],),
        color_scale_reverse=True,
        data_bars=(label["monetary"],),
        hidden=(label["r_score"], label["f_score"], label["m_score"]),
        comments={
            label["recency"]: "基準日 − 最近購買日",
            label["frequency"]: "有正數金額的不同購買日數",
            label["monetary"]: "淨消費金額（退貨已扣除）",
            label["rfm_score"]: "R、F、M 各 1–5 分（五分位；R 越近越高），例：545",
            label["rfm_segment"]: "R、F、M 高於或低於全體平均，分成種子 002 的八類",
            label["abc_class"]: f"依消費金額排名：前 {settings.abc_a:.0%} A、再 {settings.abc_b:.0%} B、其餘 C",
            label["value_score"]: "R、F、M 百分位加權的 0–100 分；VIP >80、重要 >60、普通 >40",
            label["cluster"]: "k-means 依 R、F、M 自動分出的客群；客群 1 平均價值最高",
        },
    )
    strategy = seg.segment_strategies(segments).rename(columns=seg.STRATEGY_LABELS)
    mix = Block(
        strategy,
        title="RFM 八類客戶與建議策略（種子 002）",
        formats={"消費金額": "#,##0", "占比": "0.0%"},
        as_table=False,
        widths={"建議策略": 30, "說明": 24},
        charts=(Chart("bar", "RFM 分群人數", label["rfm_segment"], ("人數",)),),
    )
    profiles = seg.cluster_profiles(segments).rename(columns=seg.PROFILE_LABELS)
    cluster = Block(
        profiles,
        title=f"k-means 客群輪廓（k={info['k']}，依輪廓係數選出）",
        formats={"占比": "0.0%", "M 中位數": "#,##0", "消費金額": "#,##0", "平均價值分數": "0.0"},
        as_table=False,
    )
    blocks = [
        Block(
            _counts(segments[key], seg.CATEGORIES[key], label[key], segments["monetary"]),
            title=title,
            formats={"占比": "0.0%", "消費金額": "#,##0"},
            as_table=False,
            charts=charts,
        )
        for key, title, charts in (
            ("abc_class", "ABC 分類", ()),
            ("value_matrix", "客戶價值矩陣（頻率 × 平均客單價）", ()),
            ("quadrant", "貢獻度 × 忠誠度（種子 004）", ()),
            ("value_tier", "綜合價值等級", (Chart("pie", "綜合價值等級", label["value_tier"], ("人數",)),)),
        )
    ]
    s = settings
    silhouette = "、".join(f"k={k}: {v:.3f}" for k, v in info["silhouette"].items()) or "資料不足，未分群"
    sampled = (
        f"客戶 {info['n']:,} 位，超過 {seg.CLUSTER_SAMPLE:,} 位，所以用隨機抽樣（不是小批次 mini-batch）："
        f"以 {seg.CLUSTER_SAMPLE:,} 位選 k 並求中心、"
        f"輪廓係數以其中 {seg.SILHOUETTE_SAMPLE:,} 位計算，再把每位客戶分到最近的中心。"
        "原因：輪廓係數的計算量隨人數平方成長，mini-batch 只加快求中心、"
        "幫不了選 k；三個標準化特徵的中心在萬人樣本已很穩定。"
        if info.get("sampled")
        else ""
    )
    lead = (
        "客戶分群：每位客戶一列，依綜合價值分數由高到低；第一欄是客戶編號，"
        "右邊是他屬於哪一類（RFM、ABC、價值矩陣、客群）。下方是各類人數與建議策略。"
    )
    notes = (
        "客戶分群（種子 001、002、004）。R＝幾天沒來、F＝購買天數、M＝淨消費金額；R/F/M 分數 1–5 依五分位"
        "（R 越近分數越高；R/F/M 各自的分數預設收合，按欄上方的 + 展開）。",
        seg.RULE_NOTE,
        "RFM 八類：R高F高M高 重要價值、R高F低M高 重要發展、R低F高M高 重要保持、R低F低M高 重要挽留、"
        "R高F高M低 一般價值、R高F低M低 一般發展、R低F高M低 一般保持、R低F低M低 一般挽留。",
        f"ABC：依消費金額排名，前 {s.abc_a:.0%} 為 A、前 {s.abc_a + s.abc_b:.0%} 之內其餘為 B、其餘 C；人數四捨五入"
        f"（例：25 位客戶 × 10% = 2.5 → 3 位 A），A 至少 1 位；同額取較好的類別。",
        "價值矩陣：F 與平均客單價各以平均值分高低 → 優質型（皆高）、消費型（客單價高）、經常型（頻率高）、不確定型。",
        "貢獻×忠誠：貢獻高＝ABC 的 A、B；"
        "忠誠高＝購買頻率 忠誠或常規 → 蜜蜂（皆高）、蜻蜓（貢獻高）、蝴蝶（忠誠高）、螳螂。",
        f"綜合價值分數 0–100＝R、F、M 百分位 × 權重（R {s.weight_r:g}、"
        f"F {s.weight_f:g}、M {s.weight_m:g}，正規化為 1）；"
        "VIP >80、重要 >60、普通 >40、其餘小客戶。",
        f"k-means：標準化後的 log(1+R)、log(1+F)、log(1+M)，k 由 2–8 中輪廓係數最高者（{silhouette}），"
        f"隨機種子 {s.random_state}；客群 1 平均價值最高。{sampled}",
    ) + _listed_note(len(segments), label["value_score"])
    return ResultSheet("客戶分群", (main, mix, cluster, *blocks), notes, lead=lead)


def summary_blocks(silence: pd.DataFrame, segments: pd.DataFrame) -> list[Block]:
    h = tx.headline(silence, segments, {"k": 0})
    numbers = pd.DataFrame(
        {
            "項目": ["客戶數", "已沉默比例（S ≥ 1）", "優先聯絡人數（高價值、d/e 組、S ≤ 2）", "總消費金額"],
            "數值": [h["customers"], h["share_silent"], h["call_first"], float(segments["monetary"].sum())],
        }
    )
    number_formats = {"數值": ("#,##0", "0.0%", "#,##0", "#,##0")}  # one format per row: numbers stay numbers
    group, segment = sil.LABELS["silence_group"], seg.LABELS["rfm_segment"]
    revenue = _counts(segments["rfm_segment"], seg.SEGMENT_ORDER, segment, segments["monetary"])
    return [
        Block(numbers, title="交易客戶（沉默排名、客戶分群）", formats=number_formats, as_table=False),
        Block(
            _counts(silence["silence_group"], sil.GROUPS, group),
            title=group,
            formats={"占比": "0.0%"},
            as_table=False,
            charts=(Chart("col", "各沉默分組人數", group, ("人數",)),),
        ),
        Block(
            revenue,
            title="各 RFM 分群消費金額",
            formats={"占比": "0.0%", "消費金額": "#,##0"},
            as_table=False,
            charts=(Chart("bar", "各 RFM 分群消費金額", segment, ("消費金額",)),),
        ),
    ]
