"""Which column of a campaign list is the known result (the label), and its 0/1 values.

seed 001 §5.1: customers with a known result are the training group, the rest the target group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from processor.errors import WARNING, Problem, UnusableInput, capped, step, step_en
from processor.read.schema import CAMPAIGN, LABEL_HEADER_PATTERNS, normalise_header
from processor.read.values import is_blank, normalise_text, parse_bools

from .features import BOOLEAN, _numbers, infer_kind

MIN_LABELLED = 50

MIN_PER_CLASS = 5


@dataclass(frozen=True)
class LabelChoice:
    """The column of a campaign frame that holds the known result (label), and why it was taken.

    ``column`` is a column of the parsed frame ("label" for the schema's own field) or None when
    the list has no label; ``header`` is the input's own header; ``reason`` is said on 模型評估
    and 摘要 (and, when the column was recognised by a pattern rather than a known header, as a
    提醒 in 資料檢查); ``others`` are further columns that also looked like a label.
    """

    column: str | None
    header: str
    reason: str
    explicit: bool = False
    others: tuple[str, ...] = ()
    guessed: bool = False

    def problems(self, sheet: str) -> list[Problem]:
        """A 提醒 when the label was recognised by a pattern, or when --target set another result aside."""
        if self.column is None or not (self.guessed or self.explicit):
            return []
        if self.explicit:
            return [
                Problem(
                    sheet,
                    None,
                    other,
                    None,
                    f"「{other}」也是結果欄；這次預測「{self.header}」{step('target_given')}，它未用於預測",
                    "若它是打電話前就知道的資料，請改欄名再送",
                    WARNING,
                )
                for other in self.others
            ]
        also = f"；另外「{'」「'.join(self.others)}」也像結果欄，未當標籤（仍當一般欄位）" if self.others else ""
        return [
            Problem(
                sheet,
                None,
                self.header,
                None,
                f"以「{self.header}」欄當作已知結果（標籤）：{self.reason}{also}",
                "若不是這一欄，" + step("target_either_command"),
                WARNING,
            )
        ]


def choose_label(parsed, target: str | None = None, never: tuple[str, ...] = ()) -> LabelChoice:
    """Which column of a parsed campaign sheet is the known result (seed 001 §5.1's 0/1 label).

    In this order: ``target`` as its header reads (``--target``); else a header the schema knows
    (是否購買, 買A商品, 成交, label …); else a header matching :data:`schema.LABEL_HEADER_PATTERNS`
    (買B商品, 是否接受, bought …) whose filled cells are ≥ 90% 1/0 or 是/否 — a purchase pattern
    before a yes/no-question pattern, then the rightmost; else the only yes/no column with blanks
    (5–95% of rows, at least 50 filled: results known for part of the list). A known header wins
    even when it is blank (nothing else is guessed then). ``never`` columns (a saved model's
    features) are not taken automatically. Raises UnusableInput when ``target`` names no column.

    >>> import types
    >>> sheet = types.SimpleNamespace(sheet="名單", frame=pd.DataFrame({"customer_id": ["A", "B"], "label": [None] * 2,
    ...     "是否以信用支付": ["是", "否"], "買B商品": ["1", "0"]}), headers={"customer_id": "UID"}, extra_columns=[])
    >>> choose_label(sheet).header
    '買B商品'
    """

    frame, headers = parsed.frame, parsed.headers
    open_columns = [c for c in frame.columns if c not in ("customer_id", "label")]
    header_of = {c: str(headers.get(c, c)) for c in open_columns}
    has_schema_label = "label" in headers and "label" in frame and not is_blank(frame["label"]).all()
    if target is not None:
        wanted = normalise_header(target)
        if "label" in headers and wanted in (
            normalise_header(headers["label"]),
            normalise_header("label"),
            normalise_header(CAMPAIGN.field("label").label),
        ):
            return LabelChoice("label", headers["label"], step("target_reason"), explicit=True)
        for column in open_columns:
            if normalise_header(header_of[column]) == wanted or normalise_header(column) == wanted:
                # the schema's own result column is then another outcome: never a feature (see feature_columns)
                return LabelChoice(
                    column,
                    header_of[column],
                    step("target_reason"),
                    explicit=True,
                    others=(headers["label"],) if has_schema_label else (),
                )
        shown = "、".join(([headers["label"]] if "label" in headers else []) + list(header_of.values())[:15])
        raise UnusableInput(
            f"在工作表「{parsed.sheet}」找不到目標欄「{target}」",
            f"{step('target_header')}；這張表有：{shown}",
            en=f"target column {target!r} not found in sheet {parsed.sheet!r}",
            fix_en=step_en("target_header"),
            sheet=parsed.sheet,
            column=str(target),
        )
    if "label" in headers:  # even when blank: the list says where results go, so nothing else is guessed
        return LabelChoice("label", headers["label"], f"標題「{headers['label']}」是已知的結果欄名")

    def reads_as_label(column: str) -> bool:
        cells = frame[column]
        filled = int((~is_blank(cells)).sum())
        if filled < 2:
            return False
        y, _ = parse_label(cells, parsed.sheet, header_of[column])
        return y.notna().sum() >= 0.9 * filled and y.nunique() == 2

    candidates = [c for c in open_columns if c not in never]
    for tier, pattern in enumerate(LABEL_HEADER_PATTERNS):
        matched = [c for c in candidates if re.match(pattern, normalise_header(header_of[c])) and reads_as_label(c)]
        if matched:
            kind = "像購買結果" if tier == 0 else "像「是否…」的結果"
            return LabelChoice(
                matched[-1],
                header_of[matched[-1]],
                f"標題{kind}，且內容是 1/0 或 是/否",
                others=tuple(header_of[c] for c in matched[:-1]),
                guessed=True,
            )
    partial = []
    for column in candidates:
        blank = is_blank(frame[column])
        if 0.05 <= blank.mean() <= 0.95 and (~blank).sum() >= MIN_LABELLED and infer_kind(frame[column]) == BOOLEAN:
            y, _ = parse_label(frame[column], parsed.sheet, header_of[column])
            if y.notna().all() or min(int((y == 1).sum()), int((y == 0).sum())) < MIN_PER_CLASS:
                continue
            partial.append(column)
    if len(partial) == 1:
        return LabelChoice(
            partial[0],
            header_of[partial[0]],
            "唯一一個只填了一部分的 是/否 欄（已填的當已知結果，空白的當要預測的客戶）",
            guessed=True,
        )
    return LabelChoice(
        None,
        headers.get("label", CAMPAIGN.field("label").label),
        "找不到結果欄"
        + (f"（「{'」「'.join(header_of[c] for c in partial)}」都可能是，{step('target_one_of')}" if partial else ""),
    )


def parse_label(series: pd.Series, sheet: str, column: str) -> tuple[pd.Series, list[Problem]]:
    """The 0/1 label: 1/0, 是/否, Y/N …; blank = not yet known (target group).

    Any other value (2, 也許 …) makes that row unlabelled (scored, not trained on) and is an
    error: one summary naming ``column`` (the input's own header) with every other value and its
    count, then one line per cell (capped like every per-cell check). Each distinct value is
    read once.

    >>> y, problems = parse_label(pd.Series(["1", "0", "是", None, "1.0", "2", "也許", "2"]), "名單", "買A商品")
    >>> y.tolist()[:5], problems[0].value, len(problems)
    ([1.0, 0.0, 1.0, nan, 1.0], '2（2 列）、也許（1 列）', 4)
    """

    series = pd.Series(series)
    codes, uniques = pd.factorize(series.astype(object), use_na_sentinel=True)
    distinct = pd.Series(uniques.to_numpy(dtype=object), dtype=object)
    numbers = _numbers(distinct)
    bools = parse_bools(distinct)[0]
    label = numbers.where(numbers.isin([0.0, 1.0]))
    label = label.where(label.notna(), bools.astype("Float64").astype(float))
    bad_distinct = (label.isna() & ~is_blank(distinct)).to_numpy()
    y = pd.Series(
        np.append(label.to_numpy(dtype=float), np.nan)[np.where(codes < 0, len(uniques), codes)], index=series.index
    )
    problems: list[Problem] = []
    if bad_distinct.any():
        bad = np.isin(codes, np.flatnonzero(bad_distinct))
        shown = normalise_text(series[bad]).value_counts()
        others = "、".join(f"{v}（{n:,} 列）" for v, n in shown.head(12).items()) + ("…" if len(shown) > 12 else "")
        rows = series.index[bad]
        fix = "已購買寫 1 或 是、未購買寫 0 或 否，還不知道的留白"
        problems.append(
            Problem(
                sheet,
                int(rows[0]),
                column,
                others,
                f"標籤欄「{column}」只能有兩類（1/0 或 是/否）；另有 {len(shown)} 種其他值共 "
                f"{int(bad.sum()):,} 列，這些列當作未知結果（只評分、不拿來訓練）",
                fix,
            )
        )
        problems += capped(
            [
                Problem(sheet, int(row), column, str(series[row]), "不是 1/0 或 是/否，此列當作未知結果", fix)
                for row in rows
            ]
        )
    return y, problems
