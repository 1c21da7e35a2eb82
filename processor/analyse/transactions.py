"""Transaction logs: cleaning (with problems reported, nothing silently dropped) and the three
per-customer tables of 沉默排名, 客戶價值 and 客戶分群 (DESIGN §4, issues 3 and 12); their sheets are
laid out by :mod:`processor.sheets.transactions`.

Rules, as stated to the user in 資料檢查 and the sheets' notes:
* a negative amount is a return: it is deducted from the customer's amount and is not a visit;
* a zero amount is neither a visit nor money;
* a purchase dated after the as-of date is an error: reported, not used;
* customer ids are compared after NFKC folding, removing spaces and upper-casing
  (``A001`` = ``a001 `` = ``Ａ００１``; ``1001.0`` = ``1001``); merged spellings are reported;
* rows missing an id, a date or an amount are not used (the cell problem is reported).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from processor.analyse import segments as seg
from processor.analyse import silence as sil
from processor.analyse import value as val
from processor.analyse.calls import CallList, people_from_ids, silence_reasons
from processor.analyse.history import day_numbers
from processor.errors import ERROR, WARNING, Problem, UnusableInput, step
from processor.read.parse import EARLIEST_DAY, TOO_EARLY
from processor.read.schema import CONTACTS, TRANSACTIONS
from processor.read.values import IdCodes, normalise_ids  # noqa: F401  normalise_ids re-exported: ids are compared alike everywhere
from processor.settings import Settings

MAX_ROW_PROBLEMS = 200  # per kind of problem; the rest are counted in one more line
MAX_LISTED = 50_000  # customers listed per result sheet: a call list, not an export (counts cover everyone)
DEFAULT_SHEET = TRANSACTIONS.label
#: the contact-list columns every call list carries, joined by customer id (issue 15)
CONTACT_LABELS = {k: CONTACTS.field(k).label for k in ("name", "phone", "owner")}
_LABEL = {f.key: f.label for f in TRANSACTIONS.fields}


def clean_transactions(
    transactions: pd.DataFrame, as_of, *, sheet: str = DEFAULT_SHEET
) -> tuple[pd.DataFrame, list[Problem]]:
    """(usable rows with normalised ids, problems) — see the module docstring for the rules.

    ``transactions`` has canonical columns (customer_id, date, amount; optional margin, cost,
    product). Where rows come from several sheets a ``_sheet`` column names each row's sheet;
    the index is taken as the Excel row number when it is an integer index.

    >>> t = pd.DataFrame({"customer_id": ["A001", "a001 ", "B7"], "amount": [10.0, 5.0, 1.0],
    ...                   "date": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-04-01"])})
    >>> clean, problems = clean_transactions(t, "2025-03-10")
    >>> clean["customer_id"].tolist(), [p.problem[:9] for p in problems]
    (['A001', 'A001'], ['交易日期晚於基準日', '客戶編號有不同寫法'])
    """
    missing = [k for k in ("customer_id", "date", "amount") if k not in transactions.columns]
    if missing:
        raise UnusableInput(
            "交易資料缺少欄位：" + "、".join(_LABEL[k] for k in missing),
            "請加上 客戶編號、日期、金額 三欄",
            en=f"transactions need columns {missing}",
            fix_en="add the columns 客戶編號 (customer id), 日期 (date) and 金額 (amount)",
        )
    t = transactions
    sheets = t["_sheet"].astype(object).to_numpy() if "_sheet" in t.columns else _Same(sheet, len(t))
    rows = t.index.to_numpy() if pd.api.types.is_integer_dtype(t.index) else _Same(None, len(t))

    codes = IdCodes.of(t["customer_id"])
    customer = codes.row_customer
    dates = pd.to_datetime(t["date"], errors="coerce")
    amount = pd.to_numeric(t["amount"], errors="coerce")
    a = amount.to_numpy(dtype=float)
    used, dated, money = row_rules(customer, day_numbers(dates), a, as_of, sheets, rows)
    problems = dated + _id_variants(codes, used, sheets, rows) + money

    # optional columns only when they hold something (a parsed sheet carries every schema field, NA if absent)
    optional = [k for k in ("margin", "cost", "product") if k in t.columns and t[k].notna().any()]
    clean = pd.DataFrame(
        {
            # categorical ids: the normalised id once per customer, and the tables need not hash them again
            "customer_id": pd.Categorical.from_codes(customer[used], codes.customers.astype(str)),
            "date": dates[used].to_numpy(),
            "amount": amount[used].to_numpy(dtype=float),
            **{k: t[k].array[used] for k in optional},  # (the raw id, date and amount columns are not copied)
        },
        index=t.index[used],
    )
    problems += _no_purchase(customer[used], a[used], codes.customers, str(sheets[0]) if len(sheets) else sheet)
    return clean, problems


def row_rules(
    customer: np.ndarray, day: np.ndarray, amount: np.ndarray, as_of, sheets, rows
) -> tuple[np.ndarray, list[Problem], list[Problem]]:
    """The row rules of the module docstring on plain arrays: (used rows, date problems, amount problems).

    ``customer`` is the normalised id's code (−1 blank), ``day`` days since 1970-01-01 (int64 min when
    missing), ``amount`` float (NaN missing). What every engine runs on every piece of a log, and
    :func:`clean_transactions` on a workbook's rows; ``sheets``/``rows`` give each row's sheet and Excel row.
    """
    as_of = pd.Timestamp(as_of).normalize()
    as_of_day = int(np.datetime64(as_of.date(), "D").astype(np.int64))
    nat = np.iinfo(np.int64).min
    # a typed log (Parquet) carries any day its writer could: one before 1900 (a 0001-01-01 placeholder) is
    # refused as read.parse refuses it on a workbook's cells (one after as-of, 9999-12-31, is reported below)
    early = (day != nat) & (day < EARLIEST_DAY.to_datetime64().astype("datetime64[D]").astype(np.int64))
    incomplete = (customer < 0) | (day == nat) | early | np.isnan(amount)
    future = (day > as_of_day) & ~incomplete
    dated: list[Problem] = []
    for mask, problem, fix in (
        (early, *TOO_EARLY),
        (
            future,
            f"交易日期晚於基準日 {as_of:%Y/%m/%d}，這筆沒有納入計算",
            "確認日期（民國/西元年）是否打錯；" + step("as_of"),
        ),
    ):
        if mask.any():
            dated += _row_problems(mask, sheets, rows, _LABEL["date"], day, problem, fix, ERROR)
    if incomplete.any():
        dated.append(
            _summary_problem(
                incomplete,
                sheets,
                rows,
                None,
                "缺少客戶編號、日期或金額（或無法辨識），沒有納入計算",
                "補上這幾列的客戶編號、日期與金額（無法辨識的格子另有一列說明）",
            )
        )
    used = ~incomplete & ~future
    money: list[Problem] = []
    for mask, text, fix in (
        (used & (amount < 0), "負數金額視為退貨", "退貨金額已從該客戶的消費金額扣除，不算一次來店；若不是退貨請更正"),
        (used & (amount == 0), "金額為 0", "不算一次來店，也不計入金額；若是漏填請補上"),
    ):
        if mask.any():
            money.append(_summary_problem(mask, sheets, rows, _LABEL["amount"], text, fix))
    return used, dated, money


class _Same:
    """Every row's sheet (or row number) when it is one value: no per-row array of 5M copies."""

    def __init__(self, value, n: int):
        self.value, self.n = value, n

    def __getitem__(self, i):
        return self.value

    def __len__(self) -> int:
        return self.n


def _row_problems(mask, sheets, rows, column, days, problem, fix, severity) -> list[Problem]:
    """One problem per flagged row (its day, days since 1970-01-01, shown as 2024/03/05: any year, no nanosecond
    limit) up to MAX_ROW_PROBLEMS, then one line counting the rest."""
    where = np.flatnonzero(mask)
    shown = np.char.replace(np.datetime_as_string(days[where[:MAX_ROW_PROBLEMS]].astype("datetime64[D]")), "-", "/")
    found = [
        Problem(str(sheets[i]), _int(rows[i]), column, str(value), problem, fix, severity)
        for i, value in zip(where[:MAX_ROW_PROBLEMS], shown)
    ]
    if len(where) > MAX_ROW_PROBLEMS:
        found.append(
            Problem(
                str(sheets[where[0]]),
                None,
                column,
                None,
                f"另有 {len(where) - MAX_ROW_PROBLEMS:,} 列同樣問題（{problem}）",
                fix,
                severity,
            )
        )
    return found


def _summary_problem(mask, sheets, rows, column, text, fix) -> Problem:
    """One warning for a rule applied to many rows: count and the first few row numbers."""
    where = np.flatnonzero(mask)
    shown = "、".join(str(_int(rows[i])) for i in where[:10] if _int(rows[i]) is not None)
    more = "…" if len(where) > 10 else ""
    return Problem(
        str(sheets[where[0]]),
        _int(rows[where[0]]),
        column,
        None,
        f"{text}：共 {len(where):,} 列" + (f"（第 {shown}{more} 列）" if shown else ""),
        fix,
        WARNING,
    )


def _int(value):
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else int(value)


def _id_variants(codes: IdCodes, used, sheets, rows) -> list[Problem]:
    """A warning per customer id typed more than one way among the used rows (spellings listed,
    first row given). Counts spellings per customer with integer codes: free when there are none."""
    in_use = np.zeros(len(codes.spellings), dtype=bool)
    in_use[codes.row_spelling[used & (codes.row_spelling >= 0)]] = True
    per_customer = np.bincount(
        codes.spelling_customer[in_use & (codes.spelling_customer >= 0)], minlength=len(codes.customers)
    )
    multi = np.flatnonzero(
        in_use & (codes.spelling_customer >= 0) & (per_customer[np.maximum(codes.spelling_customer, 0)] > 1)
    )
    if not len(multi):
        return []
    rows_of = np.flatnonzero(used & np.isin(codes.row_spelling, multi))
    first = pd.Series(rows_of).groupby(codes.row_spelling[rows_of]).min()  # first row of each spelling
    forms = pd.DataFrame(
        {
            "raw": codes.spellings[multi],
            "id": codes.customers[codes.spelling_customer[multi]],
            "pos": first.reindex(multi).to_numpy(),
        }
    )
    listed = forms.groupby("id", sort=True).agg(
        spellings=("raw", lambda s: "、".join(f"「{v}」" for v in s)), pos=("pos", "min")
    )
    return variant_problems(
        listed.index,
        listed["spellings"],
        [str(sheets[i]) for i in listed["pos"]],
        [_int(rows[i]) for i in listed["pos"]],
    )


def variant_problems(ids, spellings, sheets, rows) -> list[Problem]:
    """A warning per customer id typed more than one way (ids sorted; ``spellings`` already joined, 「A001」、「a001」),
    up to MAX_ROW_PROBLEMS, then one counting line: the wording both the workbook path and the engines use."""
    found = [
        Problem(
            sheet,
            row,
            _LABEL["customer_id"],
            forms,
            f"客戶編號有不同寫法，視為同一位客戶 {cid}",
            "統一寫法（大小寫、空白、全形半形）可避免誤判",
            WARNING,
        )
        for cid, forms, sheet, row in list(zip(ids, spellings, sheets, rows))[:MAX_ROW_PROBLEMS]
    ]
    if len(ids) > MAX_ROW_PROBLEMS:
        found.append(
            Problem(
                sheets[0],
                None,
                _LABEL["customer_id"],
                None,
                f"另有 {len(ids) - MAX_ROW_PROBLEMS:,} 個客戶編號有不同寫法",
                "統一寫法",
                WARNING,
            )
        )
    return found


def _no_purchase(customer: np.ndarray, amount: np.ndarray, names: np.ndarray, sheet: str) -> list[Problem]:
    """Customers with rows but no purchase (only returns or zeros) cannot be ranked: say who."""
    rows = np.bincount(customer, minlength=len(names))
    purchases = np.bincount(customer[amount > 0], minlength=len(names))
    return no_purchase_problem(names[(rows > 0) & (purchases == 0)], sheet)


def no_purchase_problem(lost: np.ndarray, sheet: str) -> list[Problem]:
    """Customers with rows but no purchase (only returns or zeros) cannot be ranked: say who (first 10)."""
    if not len(lost):
        return []
    shown = "、".join(map(str, lost[:10])) + ("…" if len(lost) > 10 else "")
    return [
        Problem(
            sheet,
            None,
            _LABEL["customer_id"],
            shown,
            f"{len(lost):,} 位客戶只有退貨或 0 元紀錄，沒有購買日，不列入沉默排名與分群",
            "若漏了購買紀錄請補上",
            WARNING,
        )
    ]


# ---------------------------------------------------------------------------------------------
# The per-customer tables of clean transactions (laid out by processor.sheets.transactions)


@dataclass(frozen=True)
class CustomerResults:
    """One log's per-customer tables: 客戶價值's models and table (``value``), 沉默排名 (``silence``, its
    priority from those models), 客戶分群 (``segments``) and the k-means facts (``info``)."""

    value: val.CustomerValue
    silence: pd.DataFrame
    segments: pd.DataFrame
    info: dict


def customer_results(clean: pd.DataFrame, as_of, settings: Settings, progress=lambda m: None) -> CustomerResults:
    """客戶價值 first (its fitted model gives 沉默排名 its priority, issue 12), then 沉默排名 (seed 004)
    and 客戶分群 (seeds 001, 002, 004) of :func:`clean_transactions`' rows."""
    with val.beside(True) as run:
        # 沉默排名's per-customer kernel does not need the value model: it runs on a second thread while the model is
        # fitted (numpy sorts and the fits' ufuncs release the GIL), then loading scikit-learn for the priority's
        # logistic model and the segments' k-means. The same calls as sil.silence_table(clean, …, value.scores).
        statistics = run(sil.customer_statistics, clean, as_of, settings)
        run(_import_sklearn)
        progress("估計客戶價值模型")
        value = val.customer_value(clean, as_of, settings)
        progress("計算沉默排名")
        silence = sil.silence_from_statistics(*statistics.result(), as_of, settings, value.scores)
    progress("計算客戶分群")
    segments, info = seg.segment_table(silence, settings)
    return CustomerResults(value, silence, segments, info)


def _import_sklearn() -> None:
    import sklearn.cluster  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import sklearn.metrics  # noqa: F401


def silence_calls(silence: pd.DataFrame, rows: int, directory: pd.DataFrame | None, sheet: str):
    """The top ``rows`` of 沉默排名's call priority for 今日聯絡 — active customers (seed 004: 維持關係,
    不必推銷) left out — each with its reason (usual gap, days since the last visit, place by amount)
    and seed 004's playbook line."""
    calling = ~silence["action"].isin(sil.ACTIONS["活躍"]).to_numpy()  # seed 004: active customers need no call
    reasons = silence_reasons(silence, np.flatnonzero(calling)[:rows])  # the place by amount is among everyone
    top = silence[calling].head(rows)
    frame = people_from_ids(top["customer_id"].astype("string"), directory).assign(
        reason=reasons.to_numpy(), action=top["action"].astype("string").to_numpy()
    )
    return CallList(sheet, frame, total=int(calling.sum()))


def full_tables(silence: pd.DataFrame, segments: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every customer of 沉默排名 and 客戶分群 with the sheets' headers and values (labels kept as categoricals)."""
    if "margin" in silence.columns and silence["margin"].isna().all():
        silence = silence.drop(columns="margin")
    return silence.rename(columns=sil.LABELS), segments.rename(columns=seg.LABELS)


def call_first_mask(silence: pd.DataFrame) -> pd.Series:
    """優先聯絡: high value (ABC A/B), group d or e, and not yet deeply silent (S ≤ 2)."""
    return (
        (silence["value_class"] == "高")
        & silence["silence_group"].isin(["d", "e"])
        & (silence["silence_score"] <= sil.DEEP_SILENCE)
    )


def headline(silence: pd.DataFrame, segments: pd.DataFrame, info: dict) -> dict:
    revenue = segments.groupby("rfm_segment")["monetary"].sum()
    groups = silence["silence_group"].value_counts()
    return {
        "customers": int(len(silence)),
        "share_silent": round(float((silence["silence_score"] >= 1).mean()), 4),
        "call_first": int(call_first_mask(silence).sum()),
        "groups": {g: int(groups.get(g, 0)) for g in ("a", "b", "c", "d", "e")},
        "revenue_by_segment": {k: round(float(v), 2) for k, v in revenue.items()},
        "clusters": int(info["k"]),
    }
