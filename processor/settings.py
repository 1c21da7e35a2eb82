"""One typed settings object: the workbook's 設定 sheet, then the config file, then defaults.

Every field carries its zh-TW label (the 設定 sheet's first column) and a one-line hint; the
template's 設定 sheet and the documentation are generated from :data:`FIELDS`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from processor.errors import WARNING, Problem, UnusableInput, step, step_en
from processor.read.schema import normalise_header


def _f(
    default,
    label: str,
    hint: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: dict[str, str] | None = None,
    aliases: tuple[str, ...] = (),
):
    """A setting: ``choices`` (a text setting) maps every accepted spelling to the value it means;
    ``aliases`` are former labels a 設定 sheet may still use."""
    return field(
        default=default,
        metadata={"label": label, "hint": hint, "min": minimum, "max": maximum, "choices": choices, "aliases": aliases},
    )


AUTO, GREGORIAN, ROC = "自動", "西元", "民國"
#: how 日期顯示 may be written (compared without spaces, lower case)
DATE_DISPLAY_SPELLINGS = {
    "自動": AUTO,
    "自动": AUTO,
    "auto": AUTO,
    "西元": GREGORIAN,
    "西元年": GREGORIAN,
    "公元": GREGORIAN,
    "ad": GREGORIAN,
    "gregorian": GREGORIAN,
    "民國": ROC,
    "民国": ROC,
    "民國年": ROC,
    "民国年": ROC,
    "roc": ROC,
    "minguo": ROC,
}


@dataclass(frozen=True)
class Settings:
    """Economics, cadence and thresholds. Defaults are the seeds' own numbers."""

    # seed 000 worked example: price 2,500, cost 750, contact cost 175 per customer
    price: float = _f(2500.0, "售價", "每成交一位客戶的收入（元）", minimum=0)
    cost: float = _f(750.0, "成本", "每成交一位客戶的商品成本（元）", minimum=0)
    contact_cost: float = _f(175.0, "聯絡成本", "聯絡一位客戶的成本（元）", minimum=0)
    # seed 001 follow-up memory curve and seed 004 cadence by intent level
    first_touch_days: tuple[int, ...] = _f((1, 3, 7), "初次接觸後跟進天數", "第一次接觸後第幾天跟進，以逗號分隔")
    cadence_h: int = _f(1, "H級跟進天數", "意向 H：每幾天跟進一次", minimum=1)
    cadence_a: int = _f(3, "A級跟進天數", "意向 A：每幾天跟進一次", minimum=1)
    cadence_b: int = _f(7, "B級跟進天數", "意向 B：每幾天跟進一次", minimum=1)
    cadence_c: int = _f(15, "C級跟進天數", "意向 C：每幾天跟進一次（種子建議 15–30）", minimum=1)
    cadence_default: int = _f(14, "未分級跟進天數", "沒有意向等級時每幾天跟進一次", minimum=1)
    # seed 001/002 ABC classification 10% / 20% / 70%
    abc_a: float = _f(0.10, "A類比例", "客戶數前幾成為 A 類（0–1）", minimum=0, maximum=1)
    abc_b: float = _f(0.20, "B類比例", "接著幾成為 B 類（0–1）", minimum=0, maximum=1)
    # seed 004 silence scoring
    min_visits: int = _f(
        2,
        "最少購買次數",
        "購買天數少於此數的客戶標為低頻/新客，以全體典型間隔評分",
        minimum=1,
        aliases=("最少來店次數",),
    )
    # seed 004 二.2 visit-rate classes: 邊緣 月到店低於2次; 休眠 一個月1次左右、一年度15次以下;
    # 流失 一個月平均不到1次、一年3-5次以下 (忠誠 vs 常規 is spending potential, not a rate: see silence.py)
    regular_per_month: float = _f(
        2.0,
        "忠誠常規每月購買次數",
        "近 12 個月平均每月購買至少此次數為忠誠/常規，少於此為邊緣（種子：邊緣客戶每月低於 2 次）",
        minimum=0,
        aliases=("忠誠常規每月到店次數",),
    )
    marginal_per_year: float = _f(
        15.0,
        "邊緣客戶每年購買次數",
        "每年購買至少此次數為邊緣，少於此為休眠（種子：休眠客戶一年 15 次以下）",
        minimum=0,
        aliases=("邊緣客戶每年到店次數",),
    )
    lost_per_year: float = _f(
        5.0,
        "流失客戶每年購買次數",
        "每年購買不超過此次數為流失（種子：流失客戶一年 3–5 次以下）",
        minimum=0,
        aliases=("流失客戶每年到店次數",),
    )
    typical_gap_days: int = _f(
        90,
        "無回購資料時的典型間隔天數",
        "全部客戶都只買過一次時，沉默得分 S 以此天數為分母（種子：三個月以上沒買為最深一級）",
        minimum=1,
    )
    # seed 004 客戶價值 (CLV): horizon, discounting, margin when the log has no 毛利/成本, marketing cost
    horizon_days: int = _f(365, "客戶價值預測天數", "客戶價值表預測未來幾天的購買次數與營收", minimum=1, maximum=3650)
    discount_rate: float = _f(0.10, "年折現率", "顧客終身價值每年折現的比率（0.10 = 10%）", minimum=0, maximum=1)
    margin_rate: float = _f(
        0.70,
        "毛利率",
        "交易資料沒有毛利/成本欄時，預期毛利＝預期營收 × 此比率（預設依種子 000 售價 2,500、成本 750）",
        minimum=0,
        maximum=1,
    )
    marketing_cost: float = _f(
        0.0, "每年行銷費用", "每位仍是客戶的客戶每年的關係營銷費用（元），從顧客終身價值扣除（種子 004）", minimum=0
    )
    # seed 001/002 composite value score weights (recency, frequency, monetary)
    weight_r: float = _f(0.3, "價值分數權重R", "綜合價值分數中最近購買的權重", minimum=0)
    weight_f: float = _f(0.3, "價值分數權重F", "綜合價值分數中購買頻率的權重", minimum=0)
    weight_m: float = _f(0.4, "價值分數權重M", "綜合價值分數中購買金額的權重", minimum=0)
    random_state: int = _f(0, "隨機種子", "分群與模型的隨機種子，固定則結果可重現")
    # issue 15: the rep's morning sheet and the manager's roll-up
    call_sheet_rows: int = _f(
        20, "今日聯絡列數", "今日聯絡 工作表最多列幾位（其餘在 跟進排程、沉默排名、精準名單）", minimum=1
    )
    rep: str = _f("", "業務", "這份名單是哪位業務的（團隊總覽依此分人；空白時用檔名）")
    # reps type and think in 民國 years (115/11/29); the result's dates stay real dates either way
    date_display: str = _f(
        AUTO,
        "日期顯示",
        "結果中的日期用 西元（2026/11/29）或 民國（115/11/29）；自動＝輸入的日期多半寫民國年就用民國",
        choices=DATE_DISPLAY_SPELLINGS,
    )

    def with_values(self, values: dict) -> Settings:
        return replace(self, **values)

    def date_text(self, value) -> str:
        """A date as this file shows dates: 民國 115/11/29 when 日期顯示 is 民國, else 2026/11/29.

        >>> Settings(date_display="民國").date_text("2026-11-29"), Settings().date_text("2026-11-29")
        ('115/11/29', '2026/11/29')
        """
        import datetime as dt

        day = value if isinstance(value, (dt.date, dt.datetime)) else dt.date.fromisoformat(str(value)[:10])
        if self.date_display == ROC:
            return f"{day.year - 1911}/{day.month:02d}/{day.day:02d}"
        return f"{day.year}/{day.month:02d}/{day.day:02d}"


FIELDS = {f.name: f for f in fields(Settings)}
LABEL_TO_NAME = {label: f.name for f in fields(Settings) for label in (f.metadata["label"], *f.metadata["aliases"])}


def _coerce(name: str, raw) -> object:
    """Coerce a raw value (from a cell or the TOML file) to the field's type; ValueError if not."""
    # the reps' number spellings (2,500 / 3萬): values imports pandas, which a service worker loads only
    # with its scorer, so the vocabulary itself stays standard library (docs/architecture.md)
    from processor.read.values import parse_number_scalar

    default = FIELDS[name].default
    choices = FIELDS[name].metadata["choices"]
    if choices is not None:
        chosen = choices.get("".join(str(raw).split()).lower())
        if chosen is None:
            raise ValueError(raw)
        return chosen
    if isinstance(default, str):  # a name such as 業務: kept as typed, one line
        return " ".join(str(raw).split())
    if isinstance(default, tuple):
        if isinstance(raw, (list, tuple)):
            parts = list(raw)
        else:
            parts = [p for p in str(raw).replace("，", ",").replace("、", ",").split(",") if p.strip()]
        return tuple(int(parse_number_scalar(p)) for p in parts)
    number = parse_number_scalar(raw)
    if number is None:
        raise ValueError(raw)
    value = int(number) if isinstance(default, int) else float(number)
    meta = FIELDS[name].metadata
    if (meta["min"] is not None and value < meta["min"]) or (meta["max"] is not None and value > meta["max"]):
        raise ValueError(raw)
    return value


def settings_from_pairs(
    pairs: list[tuple[int, object, object]], sheet: str, base: Settings
) -> tuple[Settings, list[Problem]]:
    """Read (row, label, value) pairs of a 設定 sheet over ``base``; unknown or bad lines become problems."""
    by_label = {normalise_header(label): name for label, name in LABEL_TO_NAME.items()}
    by_label.update({normalise_header(name): name for name in FIELDS})
    values, problems = {}, []
    for row, label, raw in pairs:
        if label is None or str(label).strip() == "" or raw is None or str(raw).strip() == "":
            continue
        name = by_label.get(normalise_header(str(label)))
        if name is None:
            problems.append(
                Problem(
                    sheet,
                    row,
                    "項目",
                    str(label),
                    "不認得的設定項目，已略過",
                    "項目名稱請用範本 設定 工作表上的名稱",
                    WARNING,
                )
            )
            continue
        try:
            values[name] = _coerce(name, raw)
        except (ValueError, TypeError):
            meta = FIELDS[name].metadata
            problems.append(
                Problem(
                    sheet,
                    row,
                    meta["label"],
                    str(raw),
                    "設定值無法使用，改用預設值",
                    f"{meta['hint']}；預設 {FIELDS[name].default}",
                )
            )
    return base.with_values(values), problems


def load_config(path: Path | None) -> Settings:
    """Settings from a service config file (TOML, ``[settings]`` table) over the defaults.

    A missing or unreadable file, bad TOML, an unknown key or a value out of range is
    :class:`~processor.errors.UnusableInput` naming the file, the key and what is allowed.

    >>> load_config(None).price
    2500.0
    """
    if path is None:
        return Settings()
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise UnusableInput(
            f"讀不到設定檔 {path}（{type(exc).__name__}）",
            step("check_config"),
            en=f"cannot read the config file {path} ({type(exc).__name__})",
            fix_en=step_en("check_config"),
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise UnusableInput(
            f"設定檔 {path.name} 不是正確的 TOML：{exc}",
            "請對照 docs/dropfolder.sample.toml 修正",
            en=f"the config file {path.name} is not valid TOML: {exc}",
            fix_en="compare it with docs/dropfolder.sample.toml",
        ) from None
    table = data.get("settings", {})
    if not isinstance(table, dict):
        table = {"settings": table}
    unknown = sorted(set(table) - set(FIELDS))
    if unknown:
        raise UnusableInput(
            f"設定檔 {path.name} 的 [settings] 有不認得的項目 {unknown}",
            f"可用的項目：{sorted(FIELDS)}",
            en=f"{path.name}: unknown settings {unknown}",
            fix_en=f"known settings: {sorted(FIELDS)}",
        )
    values = {}
    for key, raw in table.items():
        try:
            values[key] = _coerce(key, raw)
        except (ValueError, TypeError):
            meta, default = FIELDS[key].metadata, FIELDS[key].default
            bounds = [(word, meta[end]) for word, end in (("≥", "min"), ("≤", "max")) if meta[end] is not None]
            allowed = "".join(f"，{word} {value}" for word, value in bounds)
            kind = "、".join(dict.fromkeys(meta["choices"].values())) if meta["choices"] else "數字"
            raise UnusableInput(
                f"設定檔 {path.name} 的 {key} = {raw!r} 無法使用",
                f"{meta['hint']}（{kind}{allowed}；預設 {default}）",
                en=f"{path.name}: {key} = {raw!r} is not usable",
                fix_en=(
                    f"give one of {kind}"
                    if meta["choices"]
                    else f"give a number{''.join(f', {w} {v}' for w, v in bounds)}"
                )
                + f" (default {default})",
            ) from None
    return Settings().with_values(values)
