"""The 精準名單 and 模型評估 result sheets of a scored campaign list, and the pipeline analyser
that makes them (DESIGN §4 "Purchase probability"; seeds 000, 001, 003).

The computation is :mod:`processor.analyse.propensity`; this module only lays it out: which
figures, in which order, with which zh-TW labels, notes, formats and charts.
"""

from __future__ import annotations

import pandas as pd

from processor import models
from processor.analyse import transactions
from processor.analyse.propensity import (
    MODEL_LABELS,
    SEED_000_LIST,
    CampaignResult,
    break_even,
    nan_to_none,
    score_sheet,
    seed_000_row,
)
from processor.errors import step
from processor.settings import Settings
from processor.sheets.contract import Context, Contribution
from processor.sheets.report import Block, Chart, ResultSheet

LIST_SHEET, EVAL_SHEET = "精準名單", "模型評估"

MONEY, PCT, PROB = "#,##0", "0.0%", "0.0%"


def analyse_campaign(ctx: Context) -> Contribution | None:
    """The pipeline analyser: 精準名單 + 模型評估 for each campaign sheet, summary for 摘要.

    ``ctx.model`` (score --model NAME) scores with a saved model from ``ctx.models_dir``;
    ``ctx.target`` (score --target COLUMN) names the known-result column.
    """
    sheets = ctx.sheets.get("campaign", [])
    if not sheets:
        return None
    out = Contribution()
    from processor.analyse.calls import contact_directory, precision_calls

    contacts = ctx.sheets.get("contacts", [])
    directory = contact_directory(pd.concat([c.frame for c in contacts]) if contacts else None)
    model = None
    if ctx.model:
        # the user asked for this model: without it there is nothing sensible to score with, and a
        # ModelError is an UnusableInput, so it ends the run with its own message and fix
        model = models.load_model_cached(ctx.model, ctx.models_dir)
    summaries = []
    for i, parsed in enumerate(sheets):
        suffix = "" if i == 0 else f"{i + 1}"
        ctx.progress(f"精準名單：{parsed.sheet}")
        result = score_sheet(parsed, ctx.settings, ctx.as_of, target=ctx.target, model=model, progress=ctx.progress)
        out.problems += result.problems
        if result.ranked is None:
            out.stopped += [p for p in [result.stopped_by()] if p is not None]
            continue
        id_header = parsed.headers.get("customer_id", "客戶編號")
        sheets = campaign_sheets(result, id_header, ctx.settings, suffix, directory)
        out.sheets += sheets
        out.calls.append(precision_calls(result.ranked, ctx.settings.call_sheet_rows, directory, sheets[0].name))
        out.summary_blocks.append(key_figures_block(result, ctx.settings, f"精準名單（{parsed.sheet}）"))
        summaries.append({"sheet": parsed.sheet, **summary_of(result, ctx.settings)})
    if summaries:
        out.summary["precision_list"] = summaries
    return out


def campaign_sheets(
    result: CampaignResult, id_header: str, settings: Settings, suffix: str = "", directory: pd.DataFrame | None = None
) -> list:
    """The 精準名單 and 模型評估 result sheets for one scored list (DESIGN §4, seed 000/001/003)."""
    MAX_LISTED = transactions.MAX_LISTED  # noqa: N806  read per call, like the other list sheets

    f, e = result.fitted, result.evaluation
    money = (
        f"售價 {settings.price:,.0f}、成本 {settings.cost:,.0f}、每位聯絡成本 {settings.contact_cost:,.0f}"
        "（設定 工作表可改）"
    )
    n, calls = len(result.ranked), int((result.ranked["call"] == "是").sum())
    list_notes = (
        "依購買機率由高到低排列；建議聯絡＝是 表示 預期利潤＝購買機率×(售價−成本)−聯絡成本 大於 0（種子 000）。",
        f"經濟條件：{money}；機率門檻 {break_even(settings):.1%}。",
        {
            "split": "所有客戶都有已知結果：隨機保留 20% 當測試組；每位客戶的機率都來自沒看過他的模型。",
            "partial": "有已知結果的客戶是訓練組，留白的是目標組（種子 001 §5.1）；訓練組的機率來自交叉驗證。",
            "model": f"用已存模型「{result.model_name}」評分，模型未重新訓練。",
        }[result.mode],
    ) + (
        (
            f"共 {n:,} 位客戶（建議聯絡 {calls:,} 位）；本表只列出機率最高的前 {MAX_LISTED:,} 位"
            + ("，其後建議聯絡的客戶未列出" if calls > MAX_LISTED else "")
            + "；模型評估 的各表涵蓋全部客戶。",
        )
        if n > MAX_LISTED
        else ()
    )
    known = int(result.labels.notna().sum()) if result.labels is not None else 0
    if n:
        list_lead = (
            f"精準名單：結果還不知道的 {n:,} 位客戶，最可能買的在最上面；第一欄「排名」1 = 最先打，"
            f"建議聯絡＝是 的 {calls:,} 位打了預期會賺，「主要原因」是他分數高的兩個理由。"
        )
    else:
        list_lead = (
            f"精準名單：這份名單的 {known:,} 位客戶都已有結果（買或沒買），沒有待打的客戶；模型的好壞見 模型評估。"
            "要找新客戶：把新名單加在下方、結果欄留白再送一次，" + step("train_then_score_new_list") + "。"
        )
    list_notes += (
        (f"已知結果的 {known:,} 位客戶不在名單上：他們用來訓練與評估模型（見 模型評估），不必再打。",)
        if known and n
        else ()
    )
    sheets = [ResultSheet(LIST_SHEET + suffix, (list_block(result, id_header, directory),), list_notes, lead=list_lead)]

    blocks = [key_figures_block(result, settings, "重點指標")]
    if e:
        seed = seed_000_row(result, settings)
        compare = pd.DataFrame(
            {
                "做法": ["照精準名單打", "全部都打", "完美名單（只打會買的人）"]
                + (["種子 000 報告的名單"] if seed else []),
                "聯絡人數": [e["called"], e["rows"], e["buyers"]] + ([seed["called"]] if seed else []),
                "其中購買": [e["tp"], e["buyers"], e["buyers"]] + ([seed["buyers"]] if seed else []),
                "利潤": [e["profit_list"], e["profit_everyone"], e["profit_oracle"]]
                + ([seed["profit"]] if seed else []),
            }
        )
        compare["命中率"] = compare["其中購買"] / compare["聯絡人數"].where(compare["聯絡人數"] > 0)
        blocks.append(
            Block(
                compare,
                "照名單打 vs 全部都打（種子 000，評估資料上的實際結果）",
                formats={"利潤": MONEY, "命中率": PCT, "聯絡人數": MONEY, "其中購買": MONEY},
                charts=(Chart("col", "利潤比較", "做法", ("利潤",), y_title="元"),),
            )
        )
        confusion = pd.DataFrame(
            {"": ["實際購買", "實際沒買"], "建議聯絡": [e["tp"], e["fp"]], "不聯絡": [e["fn"], e["tn"]]}
        )
        blocks.append(
            Block(
                confusion, f"混淆矩陣（門檻 {break_even(settings):.1%}）", formats={"建議聯絡": MONEY, "不聯絡": MONEY}
            )
        )
        blocks.append(
            Block(
                result.lift,
                "十分位提升度與累計增益（種子 001 圖5-8、種子 003 提升圖）",
                formats={
                    "平均預測機率": PCT,
                    "購買率": PCT,
                    "提升度(Lift)": "0.00",
                    "累計客戶占比": PCT,
                    "累計購買占比(Gains)": PCT,
                    "隨機名單": PCT,
                    "累計提升度": "0.00",
                },
                data_bars=("提升度(Lift)",),
                charts=(
                    Chart("col", "各十分位提升度", "十分位", ("提升度(Lift)",), y_title="倍"),
                    Chart("line", "累計增益", "十分位", ("累計購買占比(Gains)", "隨機名單"), y_title="買家占比"),
                ),
            )
        )
        peak = int(result.curve["利潤"].to_numpy().argmax())
        blocks.append(
            Block(
                result.curve,
                f"利潤曲線（打前幾 % 的人；高峰在 {result.curve['聯絡前'].iloc[peak]}）",
                formats={"利潤": MONEY, "聯絡人數": MONEY, "最低機率": PCT},
                charts=(Chart("line", "利潤曲線", "聯絡前", ("利潤",), y_title="元", mark_row=peak),),
            )
        )
    blocks.append(
        Block(
            f.cv,
            "模型比較（只用訓練組交叉驗證挑選）" + ("，訓練時的結果" if result.mode == "model" else ""),
            formats={"交叉驗證 AUC": "0.000", "交叉驗證 Log loss": "0.0000", "交叉驗證利潤": MONEY},
        )
    )
    if result.mode != "model":
        if result.comparability is not None:
            blocks.append(
                Block(result.comparability, "訓練／測試／全部 資料是否一致（種子 001 §5.4：平均、標準差、眾數）")
            )
        blocks.append(
            Block(
                result.rules,
                "決策樹規則 IF … THEN（種子 001 §5.5.2，Gini 樹、已修剪、出錯加權）",
                formats={"信心度(購買率)": PCT, "支持度(客戶占比)": PCT},
                widths={"IF（條件）": 40},
            )
        )
    if result.odds is not None:
        odds = result.odds
        logit = f.estimators["logit"]
        title = (
            "邏輯迴歸勝算比（>1 提高購買機率）"
            + ("；資料可完全分開，改用正則化估計，無 p 值" if logit.regularised else "")
            + ("；估計未完全收斂，係數僅供參考" if not logit.converged else "")
        )
        blocks.append(
            Block(
                odds,
                title,
                formats={
                    "係數": "0.000",
                    "勝算比": "0.000",
                    "95%信賴區間下限": "0.000",
                    "95%信賴區間上限": "0.000",
                    "p值": "0.0000",
                },
                widths={"變數": 28},
            )
        )
    if len(result.ignored):
        blocks.append(Block(result.ignored, "未用於預測的欄位"))
    eval_lead = (
        "模型評估：模型在已知結果的客戶上準不準、照名單打比全部都打多賺多少；第一欄是項目或做法，右邊是它的數字與圖。"
    )
    sheets.append(ResultSheet(EVAL_SHEET + suffix, tuple(blocks), evaluation_notes(result, settings), lead=eval_lead))
    return sheets


def list_block(result: CampaignResult, id_header: str, directory: pd.DataFrame | None = None) -> Block:
    """The ranked list as a table: the top :data:`~processor.analyse.transactions.MAX_LISTED` customers
    (a call list, not an export; counts and charts on 模型評估 cover everyone)."""
    MAX_LISTED = transactions.MAX_LISTED  # noqa: N806  read per call, like the other list sheets

    r = result.ranked.head(MAX_LISTED)
    frame = pd.DataFrame(
        {
            "排名": r["rank"].to_numpy(),
            id_header: r["id"].astype("string").to_numpy(),
            "購買機率": r["p"].to_numpy(),
            "建議聯絡": r["call"].to_numpy(),
            "主要原因": r["reason"].to_numpy() if "reason" in r else "",
            "預期利潤": r["profit"].round(0).to_numpy(),
            "累計預期利潤": r["cumulative"].round(0).to_numpy(),
            "十分位": r["decile"].to_numpy(),
            "原始列": r["row"].to_numpy(),
        }
    )
    model = MODEL_LABELS[result.fitted.chosen]
    from processor.analyse.calls import with_contacts

    frame = with_contacts(frame, id_header, directory, transactions.CONTACT_LABELS)  # 姓名, 手機, 負責業務
    return Block(
        frame,
        None,
        formats={"購買機率": PROB, "預期利潤": MONEY, "累計預期利潤": MONEY},
        color_scale=("購買機率",),
        color_scale_reverse=True,
        data_bars=("預期利潤",),
        widths={id_header: 14, "購買機率": 10, "累計預期利潤": 14, "主要原因": 34},
        hidden=("十分位", "原始列"),
        comments={
            "排名": "1 = 最可能買；只列結果還不知道的客戶（已知結果的客戶用來訓練與評估模型）",
            "購買機率": f"模型（{model}）估計這位客戶會買的機率，已校準",
            "建議聯絡": "是＝預期利潤大於 0：購買機率 ×（售價 − 成本）− 聯絡成本（種子 000）",
            "主要原因": "讓這位客戶分數最高的兩項，寫出他的值："
            "把該欄換成一般客戶的值（訓練資料的中位數或最常見的值），"
            f"模型（{model}）的分數下降最多的兩欄",
            "預期利潤": "購買機率 ×（售價 − 成本）− 聯絡成本",
            "十分位": "1 = 機率最高的一成客戶",
            "原始列": "這位客戶在輸入工作表的列號",
        },
    )


def key_figures(result: CampaignResult, settings: Settings) -> pd.DataFrame:
    """Short figures (項目 / 數值): numbers stay numbers, each with its row's format in
    :func:`key_figures_block` (元, %, 倍 are formats, not text); what they mean is in 結果說明."""
    return _key_rows(result, settings)[["項目", "數值"]]


def key_figures_block(result: CampaignResult, settings: Settings, title: str) -> Block:
    """:func:`key_figures` as a block whose 數值 carry one number format per row."""
    rows = _key_rows(result, settings)
    formats = tuple(f if isinstance(f, str) else None for f in rows["格式"])
    return Block(rows[["項目", "數值"]], title, formats={"數值": formats}, as_table=False, widths={"項目": 30})


YUAN, COUNT, TIMES = '#,##0" 元"', "#,##0", '0.00" 倍"'


def _key_rows(result: CampaignResult, settings: Settings) -> pd.DataFrame:
    e, f, r = result.evaluation or {}, result.fitted, result.ranked
    calls = r["call"] == "是"
    rows = [
        ("使用模型", MODEL_LABELS[f.chosen] + (f"（已存模型 {result.model_name}）" if result.model_name else ""), None)
    ]
    if result.label_reason:
        rows.append(("已知結果（標籤）欄", result.label_column, None))
    rows += [
        ("建議聯絡的機率門檻", break_even(settings), PCT),
        ("待聯絡名單人數（結果未知）", len(r), COUNT),
        ("建議聯絡人數", int(calls.sum()), COUNT),
        ("建議聯絡者的預期利潤合計", round(float(r.loc[calls, "profit"].sum())), YUAN),
        ("名單全部都打的預期利潤合計", round(float(r["profit"].sum())), YUAN),
    ]
    if e:
        rows += [
            ("評估資料人數", e["rows"], COUNT),
            ("評估資料中購買", e["buyers"], COUNT),
            ("AUC", e["auc"], "0.000"),
            ("門檻下的精確率（打了有買的比例）", e["precision"], PCT),
            ("門檻下的召回率（買的人有被打到的比例）", e["recall"], PCT),
            ("前 10% 提升度（Lift）", e["top_decile_lift"], TIMES),
            ("照名單打的實際利潤", round(e["profit_list"]), YUAN),
            ("全部都打的實際利潤", round(e["profit_everyone"]), YUAN),
            ("完美名單（只打會買的人）", round(e["profit_oracle"]), YUAN),
        ]
        seed = seed_000_row(result, settings)
        if seed:
            rows.append(("種子 000 報告的名單", round(seed["profit"]), YUAN))
    frame = pd.DataFrame(rows, columns=["項目", "數值", "格式"])
    frame["數值"] = frame["數值"].map(nan_to_none).astype(object)
    return frame


def evaluation_notes(result: CampaignResult, settings: Settings) -> tuple[str, ...]:
    e = result.evaluation
    notes = [
        f"評估資料：{result.eval_source}。門檻在看測試結果之前就由經濟條件決定："
        f"{break_even(settings):.1%} = 聯絡成本 {settings.contact_cost:,.0f} ÷ "
        f"(售價 {settings.price:,.0f} − 成本 {settings.cost:,.0f})。"
    ]
    if result.label_reason:
        notes.append(f"已知結果（標籤）欄：「{result.label_column}」，{result.label_reason}。")
    if result.seed_data and e:
        seed = seed_000_row(result, settings)
        if seed:
            notes.append(
                f"「種子 000 報告的名單」是種子文件自己的結果（XGBoost，在它自己隨機保留的 "
                f"{SEED_000_LIST['test_rows']:,} 位測試客戶上打 {seed['called']} 位、{seed['buyers']} 位購買，精確率 "
                f"{seed['buyers'] / seed['called']:.0%}），照本表的經濟條件計算利潤；不是本程式重算，"
                "測試客戶也不是同一批，只能大致對照。"
            )
        else:
            notes.append(
                f"這是種子 000 的範例資料；種子報告的名單（{SEED_000_LIST['test_rows']:,} 位測試客戶中打 "
                f"{SEED_000_LIST['called']} 位、{SEED_000_LIST['buyers']} 位購買）未列入比較表，因為這裡的評估資料有 "
                f"{e['rows']:,} 位，金額規模不同。"
            )
    return tuple(notes)


def summary_of(result: CampaignResult, settings: Settings) -> dict:
    r, e = result.ranked, result.evaluation or {}
    calls = r["call"] == "是"
    seed = seed_000_row(result, settings)
    return {
        "mode": result.mode,
        "model": result.fitted.chosen,
        "saved_model": result.model_name,
        "label_column": result.label_column if result.label_reason else None,
        "label_reason": result.label_reason or None,
        "customers": int(len(result.probabilities)) if result.probabilities is not None else int(len(r)),
        "prospects": int(len(r)),
        "recommended": int(calls.sum()),
        "expected_profit_recommended": round(float(r.loc[calls, "profit"].sum()), 0),
        "cutoff": break_even(settings),
        **{
            k: nan_to_none(v)
            for k, v in e.items()
            if k
            in (
                "rows",
                "auc",
                "precision",
                "recall",
                "top_decile_lift",
                "profit_list",
                "profit_everyone",
                "profit_oracle",
            )
        },
        **({"profit_seed_000_list": seed["profit"]} if seed else {}),
    }
