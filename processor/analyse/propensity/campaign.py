"""One campaign list scored: label chosen, rows split, features inferred, models fitted and
judged, every customer ranked (seed 001 §5.1–5.5, seed 000) — or scored by a saved model.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from processor.errors import ERROR, WARNING, Problem, step
from processor.read.schema import normalise_header
from processor.read.values import is_blank
from processor.settings import Settings

from .economics import break_even, ranked_list
from .evaluation import TARGET, TEST, TRAIN, comparability, evaluate, lift_table, profit_curve, shift_problems
from .features import (
    CATEGORY,
    DATE,
    LEAK_AUC,
    MAX_FEATURES,
    OTHER,
    design_matrix,
    feature_columns,
    infer_features,
    screen,
    univariate_auc,
)
from .fit import Fitted, fit_models, odds_ratios, tree_rules
from .labels import MIN_LABELLED, MIN_PER_CLASS, LabelChoice, choose_label, parse_label


@dataclass
class CampaignResult:
    """Everything the 精準名單 and 模型評估 sheets show for one campaign list."""

    mode: str  # "split" (all labelled), "partial" (training + target group), "model" (saved model)
    ranked: pd.DataFrame | None = None
    fitted: Fitted | None = None
    evaluation: dict | None = None
    eval_source: str = ""
    lift: pd.DataFrame | None = None
    curve: pd.DataFrame | None = None
    comparability: pd.DataFrame | None = None
    rules: pd.DataFrame | None = None
    odds: pd.DataFrame | None = None
    ignored: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["欄位", "原因"]))
    problems: list[Problem] = field(default_factory=list)
    labels: pd.Series | None = None
    groups: pd.Series | None = None
    train_frame: pd.DataFrame | None = None  # the rows the model learnt from (for the fingerprint)
    design: pd.DataFrame | None = None  # every row encoded (train refits the saved model on all labelled rows)
    label_column: str = ""
    label_reason: str = ""
    seed_data: bool = False  # the list is seed 000's own example data set
    model_name: str | None = None
    model_meta: dict | None = None
    probabilities: pd.Series | None = None  # every row's probability, known results included

    def stopped_by(self) -> Problem | None:
        """The problem that kept this list from being scored (too few known results, one class
        only, no usable column …): the last error, which is the one that ended scoring; None
        when it was scored."""
        if self.ranked is not None:
            return None
        errors = [p for p in self.problems if p.severity == ERROR] or self.problems
        return errors[-1] if errors else None


def score_sheet(
    parsed,
    settings: Settings,
    as_of: pd.Timestamp,
    *,
    target: str | None = None,
    model: dict | None = None,
    progress=lambda message: None,
) -> CampaignResult:
    """One parsed campaign sheet scored: its label chosen (:func:`choose_label`; a saved model's
    features are never taken for it), then :func:`score_campaign`. What ``score`` and ``train``
    both run, so a list is read the same way by each."""
    never = tuple(f.column for f in model["fitted"].features) if model else ()
    choice = choose_label(parsed, target, never=never)
    result = score_campaign(parsed.frame, parsed.sheet, settings, as_of, choice=choice, model=model, progress=progress)
    result.problems[:0] = choice.problems(parsed.sheet)
    result.seed_data = is_seed_000_data(parsed.headers.values())
    return result


def score_campaign(
    frame: pd.DataFrame,
    sheet: str,
    settings: Settings,
    as_of: pd.Timestamp,
    *,
    label: str | None = "label",
    label_header: str = "是否購買",
    choice: LabelChoice | None = None,
    model: dict | None = None,
    progress=lambda message: None,
) -> CampaignResult:
    """Score one campaign list (a parsed campaign frame: customer_id, label, open feature columns).

    ``label`` is the frame column with the known result, None for none; ``choice`` (see
    :func:`choose_label`) gives column, header and the reason to show in one.
    Without ``model``: labelled rows train (seed 001 §5.1) — all labelled → stratified 80/20
    split with ``settings.random_state``; some labelled → the unlabelled are the target group.
    With ``model`` (see :func:`processor.models.load_model`) the saved model scores every row and
    any labels present evaluate it. Problems explain what was set aside and why.
    """
    from sklearn.model_selection import train_test_split

    if choice is not None:
        label, label_header = choice.column, choice.header
    label_reason = choice.reason if choice is not None else "標題是已知的結果欄名"
    has_label = label is not None and label in frame and not is_blank(frame[label]).all()
    y, problems = (
        parse_label(frame[label], sheet, label_header) if has_label else (pd.Series(np.nan, index=frame.index), [])
    )
    result = CampaignResult(
        "model" if model else "split",
        problems=problems,
        labels=y,
        label_column=label_header,
        label_reason=label_reason if has_label else "",
    )
    cutoff = break_even(settings)
    if settings.price - settings.cost <= settings.contact_cost:
        problems.append(
            Problem(
                "設定",
                None,
                "售價/成本/聯絡成本",
                None,
                "售價減成本不超過聯絡成本：打給任何人都不划算，名單上不會有建議聯絡的人",
                "請確認 設定 工作表的售價、成本與聯絡成本",
                WARNING,
            )
        )
    exclude = (label,) if label not in (None, "label") else ()
    if model is not None:
        return _score_with_model(frame, sheet, settings, as_of, model, y, result, exclude)

    labelled = y.notna()
    n_labelled, n_buyers = int(labelled.sum()), int(y[labelled].sum())
    if not has_label:
        blank = choice is not None and choice.column is not None
        problems.append(
            Problem(
                sheet,
                None,
                label_header,
                None,
                f"「{label_header}」欄都是空白：沒有已知結果，無法訓練購買機率模型"
                if blank
                else "沒有已知結果（標籤）欄，無法訓練購買機率模型",
                f"加上「是否購買」欄（1/0 或 是/否；要預測的留白）、{step('target_which')}，" + step("or_use_model"),
            )
        )
        return result
    if n_labelled < MIN_LABELLED:
        problems.append(
            Problem(
                sheet,
                None,
                label_header,
                str(n_labelled),
                f"只有 {n_labelled} 位客戶有已知結果，至少要 {MIN_LABELLED} 位才能訓練",
                "請補上更多過去名單的結果，" + step("or_use_model"),
            )
        )
        return result
    if min(n_buyers, n_labelled - n_buyers) < MIN_PER_CLASS:
        only = "都買了" if n_buyers > n_labelled / 2 else "都沒買"
        problems.append(
            Problem(
                sheet,
                None,
                label_header,
                f"買 {n_buyers} / 沒買 {n_labelled - n_buyers}",
                f"已知結果幾乎只有一類（{only}），無法學出誰會買",
                f"兩類各至少要 {MIN_PER_CLASS} 位；請加入有買和沒買的客戶",
            )
        )
        return result

    if labelled.all():
        train_idx, test_idx = train_test_split(
            frame.index, test_size=0.2, stratify=y, random_state=settings.random_state
        )
        groups = pd.Series(TRAIN, index=frame.index).where(frame.index.isin(train_idx), TEST)
        result.mode, result.eval_source = "split", "測試組（隨機保留 20%，未參與訓練）"
    else:
        train_idx = frame.index[labelled]
        groups = pd.Series(TRAIN, index=frame.index).where(labelled, TARGET)
        result.mode, result.eval_source = "partial", "訓練組的交叉驗證（每位客戶由沒看過他的模型預測）"
    result.groups = groups
    train_idx = pd.Index(train_idx)

    progress("判斷欄位型態")
    typed_by_column: dict = {}
    features, ignored, found = infer_features(
        frame, feature_columns(frame, exclude), sheet, as_of, rows=train_idx, typed=typed_by_column
    )
    problems += found
    if label != "label" and "label" in frame and not is_blank(frame["label"]).all():
        other = choice.others[0] if choice is not None and choice.others else "是否購買"
        ignored = pd.concat(
            [ignored, pd.DataFrame({"欄位": [other], "原因": ["另一個結果欄（這次預測的是別欄）"]})], ignore_index=True
        )
    typed = pd.DataFrame({f.column: typed_by_column[f.column] for f in features}, index=frame.index)
    aucs = (
        univariate_auc(typed.loc[train_idx], y.loc[train_idx], features, settings.random_state)
        if features
        else pd.DataFrame(columns=["欄位", "單獨預測 AUC"])
    )
    leaks = aucs[aucs["單獨預測 AUC"] >= LEAK_AUC].round(4)
    for _, leak in leaks.iterrows():
        problems.append(
            Problem(
                sheet,
                None,
                leak["欄位"],
                f"AUC {leak['單獨預測 AUC']}",
                f"資料洩漏：這欄單獨就幾乎完全預測結果（AUC ≥ {LEAK_AUC}，多半是成交後才有的資料），已排除",
                "打電話前就知道的資料才能用來預測；若確定是事前資料，請檢查是否抄錯",
                WARNING,
            )
        )
    ignored = pd.concat(
        [
            ignored,
            pd.DataFrame(
                {"欄位": leaks["欄位"], "原因": [f"資料洩漏：單獨預測 AUC {a}" for a in leaks["單獨預測 AUC"]]}
            ),
        ],
        ignore_index=True,
    )
    features = [f for f in features if f.column not in set(leaks["欄位"])]
    features, screened = screen(aucs, features)
    if len(screened):
        ignored = pd.concat(
            [
                ignored,
                pd.DataFrame(
                    {
                        "欄位": screened["欄位"],
                        "原因": [
                            f"欄位太多，只用單獨預測力最強的 {MAX_FEATURES} 欄：這欄單獨預測 AUC {a}"
                            for a in screened["單獨預測 AUC"]
                        ],
                    }
                ),
            ],
            ignore_index=True,
        )
        problems.append(_screen_problem(sheet, len(features), screened))
    result.ignored = ignored
    if not features:
        problems.append(
            Problem(sheet, None, None, None, "沒有可用來預測的欄位", "請加上年齡、行業、過去互動等客戶資料欄")
        )
        return result

    X, _ = design_matrix(frame, features, as_of)
    y_train = y.loc[train_idx].astype(int)
    fitted = fit_models(X.loc[train_idx], y_train, features, settings, progress)
    rest = frame.index.difference(train_idx)
    p = pd.concat([fitted.oof, pd.Series(fitted.predict(X.loc[rest]), index=rest)]).loc[frame.index]
    result.fitted, result.design, result.probabilities = fitted, X, p
    result.train_frame = frame.loc[train_idx]
    eval_rows = pd.Index(test_idx) if result.mode == "split" else train_idx
    _explain(result, X.loc[train_idx], y_train, fitted, settings)
    _evaluate(result, y.loc[eval_rows].astype(int), p.loc[eval_rows], cutoff, settings)
    result.comparability = comparability(typed[[f.column for f in features]], groups, features)
    problems += shift_problems(result.comparability, sheet)
    result.ranked = _call_list(frame, X, p, y, fitted, settings, as_of, cutoff).assign(
        group=lambda d: groups.loc[d["row"]].to_numpy()
    )
    return result


def _screen_problem(sheet: str, kept: int, screened: pd.DataFrame) -> Problem:
    """One line on 資料檢查 for a list wider than :data:`~.features.MAX_FEATURES`: how many columns
    the models use, which were set aside and why, and how the rep chooses otherwise."""
    names = "、".join(screened["欄位"].head(10)) + (f" 等 {len(screened):,} 欄" if len(screened) > 10 else "")
    strongest = screened["單獨預測 AUC"].iloc[0]
    return Problem(
        sheet,
        None,
        names,
        f"{kept + len(screened):,} 欄可用",
        f"欄位太多：模型只用訓練組上單獨預測力（AUC）最強的 {kept} 欄，其餘 {len(screened):,} 欄未使用"
        f"（其中最強的單獨 AUC 只有 {strongest}）",
        f"完整清單見 模型評估 的「未用於預測的欄位」；若要模型改用某些欄，請刪去較不相關的欄，"
        f"讓名單的資料欄在 {MAX_FEATURES} 欄以內",
        WARNING,
    )


def _call_list(frame, X, p, y, fitted, settings, as_of, cutoff) -> pd.DataFrame:
    """The precision list: the target group only (rows whose result is not known yet, seed 001
    §5.1) ranked by probability, its top rows with 主要原因 (:mod:`.explain`). Rows with a known
    result trained or judged the model; calling them is not the question, so they are not listed."""
    from processor.analyse.transactions import MAX_LISTED

    from .explain import reasons

    unknown = frame.index[y.isna().to_numpy()]
    ranked = ranked_list(frame.loc[unknown, "customer_id"], p.loc[unknown], settings, cutoff)
    head = ranked["row"].head(MAX_LISTED)
    ranked["reason"] = pd.Series(reasons(fitted, X.loc[head], frame, as_of).to_numpy(), index=head.index)
    return ranked.assign(label=lambda d: y.loc[d["row"]].to_numpy())


def _explain(result: CampaignResult, X: pd.DataFrame, y: pd.Series, fitted: Fitted, settings: Settings):
    result.rules = tree_rules(fitted.estimators["tree"], X, y, settings, fitted.features)
    result.odds = odds_ratios(fitted.estimators["logit"], fitted.features)


def _evaluate(result: CampaignResult, y: pd.Series, p: pd.Series, cutoff: float, settings: Settings):
    if y.nunique() < 2:
        return
    result.evaluation = evaluate(y, p, cutoff, settings)
    result.lift = lift_table(y, p)
    result.curve = profit_curve(y, p, settings)


def _score_with_model(frame, sheet, settings, as_of, model, y, result, exclude) -> CampaignResult:
    """Score with a saved model. Missing feature columns fall back to the training fill (median /
    most frequent level) with a warning; more than half missing is an error (no list)."""
    fitted: Fitted = model["fitted"]
    result.fitted, result.model_name, result.model_meta = fitted, model.get("name"), model.get("meta")
    missing = [f.column for f in fitted.features if f.column not in frame]
    if len(missing) > len(fitted.features) / 2:
        result.problems.append(
            Problem(
                sheet,
                None,
                "、".join(missing),
                None,
                f"名單缺少模型需要的 {len(missing)} 個欄位（共 {len(fitted.features)} 個），無法用此模型評分",
                "請用與訓練時相同欄名的名單，或重新訓練模型",
            )
        )
        return result
    for column in missing:
        result.problems.append(
            Problem(
                sheet,
                None,
                column,
                None,
                "名單缺少模型需要的欄位，以訓練資料的典型值代替",
                f"請加上「{column}」欄以得到更準的機率",
                WARNING,
            )
        )
    filled = (
        frame.assign(
            **{
                f.column: f.levels[0]
                if f.kind == CATEGORY
                else (f.fill if f.kind != DATE else as_of - pd.Timedelta(days=f.fill))
                for f in fitted.features
                if f.column in missing
            }
        )
        if missing
        else frame
    )
    X, unseen = design_matrix(filled, fitted.features, as_of)
    for column, count in unseen.items():
        result.problems.append(
            Problem(
                sheet,
                None,
                column,
                f"{count:,} 列",
                f"有模型訓練時沒看過的類別值，當作「{OTHER}」計算",
                "若是錯字請修正；新類別多時建議重新訓練",
                WARNING,
            )
        )
    p = pd.Series(fitted.predict(X), index=frame.index)
    result.odds = odds_ratios(fitted.estimators["logit"], fitted.features)
    cutoff = break_even(settings)
    labelled = y.notna()
    result.groups = pd.Series(TARGET, index=frame.index)
    result.eval_source = "此名單上已知結果的客戶（模型未看過）"
    if labelled.sum() >= 2:
        _evaluate(result, y[labelled].astype(int), p[labelled], cutoff, settings)
    result.probabilities = p
    result.ranked = _call_list(frame, X, p, y, fitted, settings, as_of, cutoff).assign(group=TARGET)
    return result


#: seed 000's worked example (campaign_marketing2, 45,211 customers): its headers, and the list it
#: reports on its own 20% test set (XGBoost: precision 60% = 235 / 391)
SEED_000_HEADERS = frozenset(
    {
        "UID",
        "年齡",
        "行業別",
        "教育程度",
        "是否以信用支付",
        "有無逛過我們的網頁",
        "聯絡有回應",
        "與顧客聯絡方式",
        "日",
        "月份",
        "全部活動跟該客戶連絡次數",
        "距離上次有多久時日沒被聯絡",
        "前一次行銷活動的銷售結果",
        "買A商品",
        "過往滿意程度",
    }
)

SEED_000_LIST = {"called": 391, "buyers": 235, "test_rows": 9043}


def is_seed_000_data(headers) -> bool:
    """Whether a list carries exactly the columns of seed 000's example (then its reported list is shown beside ours).

    >>> is_seed_000_data(SEED_000_HEADERS), is_seed_000_data({"UID", "年齡"})
    (True, False)
    """

    return {normalise_header(h) for h in headers} == {normalise_header(h) for h in SEED_000_HEADERS}


def seed_000_row(result: CampaignResult, settings: Settings) -> dict | None:
    """Seed 000's reported list (235 buyers of 391 called on its own 9,043-customer test set),
    valued at these economics — only on seed 000's own data and when the evaluation rows are a
    test set of that size, so the money is on the same scale. None otherwise."""
    e = result.evaluation
    if not (result.seed_data and e) or abs(e["rows"] - SEED_000_LIST["test_rows"]) > 0.01 * SEED_000_LIST["test_rows"]:
        return None
    called, buyers = SEED_000_LIST["called"], SEED_000_LIST["buyers"]
    return {
        "called": called,
        "buyers": buyers,
        "profit": buyers * (settings.price - settings.cost) - called * settings.contact_cost,
    }


def data_fingerprint(frame: pd.DataFrame) -> str:
    """A stable hash of the training data (values and column names), to tell which list a model saw."""
    h = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def nan_to_none(value):
    return None if isinstance(value, float) and math.isnan(value) else value
