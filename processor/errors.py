"""The one error vocabulary for everything that reaches a person.

A :class:`Problem` is one finding about the input (sheet, row, column, value, what is wrong,
how to fix it); the 資料檢查 sheet is a list of them. :class:`UnusableInput` is raised when a
file cannot be used at all (not a workbook, encrypted, empty) and carries one readable line.
A check that finds many bad rows lists the first :data:`MAX_PROBLEMS_PER_CHECK` and counts the
rest in one line (:func:`capped`, read back by :func:`capped_rest`).

Standard library only: every layer imports this module, the drop-folder service included,
which must start without pandas. The 資料檢查 table is :mod:`processor.sheets.check`; masking
ID numbers in problems is :func:`processor.privacy.mask_problem_ids`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace

#: severity labels as they appear in 資料檢查
ERROR = "錯誤"
WARNING = "提醒"

MAX_PROBLEMS_PER_CHECK = 200  # per sheet, column and kind of problem; the rest are counted in one line
#: appended to the problem of the one line that counts the rest (:func:`capped`; read back by :func:`capped_rest`)
CAPPED_SUFFIX = "（同樣的問題還有 {rest} 列，未逐列列出）"
_CAPPED = re.compile(
    re.escape(CAPPED_SUFFIX.split("{rest}")[0]) + r"(\d+)" + re.escape(CAPPED_SUFFIX.split("{rest}")[1]) + "$"
)
#: where an ID number (身分證字號 / 居留證號) may sit inside longer text, after NFKC: processor.privacy
#: masks what passes the checksum, and the drop-folder service redacts every match from what it logs
ID_CANDIDATE = r"(?<![A-Za-z0-9])[A-Za-z][1289A-Da-d]\d{8}(?!\d)"

#: The steps a message may ask a person to take, by code, in the command line's words (which the
#: drop folder's reports use too). A core message names a step only through :func:`step`, never
#: by writing a flag itself; a shell with other words for the steps passes them to
#: :func:`worded` — Excel names buttons and formula arguments (``addin.messages``).
STEPS = {
    "train_or_models_dir": "請先用 precision-list train 訓練，或確認 --models 資料夾",
    "train_or_models_env": "請先用 precision-list train 訓練，或設定 --models / PRECISION_LIST_MODELS",
    "retrain_this_version": "請用這一版的 precision-list train 重新訓練",
    "train_command": "（precision-list train）",
    "or_use_model": "或用 --model 指定已訓練的模型",
    "train_then_score_new_list": "或先 train 存模型再對新名單 score --model",
    "as_of": "若基準日不對，請用 --as-of 指定",
    "copy_template_headers": "或從 precision-list templates 複製標題列",
    "use_template_headers": "請使用 precision-list templates 產生的範本欄名",
    "other_output": "請用 -o 指定另一個檔名",
    "target_either_command": "請用 --target 欄名 指定（score 與 train 都可以）",
    "target_which": "用 --target 指定哪一欄是已知結果",
    "target_one_of": "請用 --target 指定）",
    "target_header": "--target 要寫標題列上的欄名",
    "target_given": "（--target）",
    "target_reason": "由 --target 指定",
    "check_config": "請確認 --config 的路徑與檔名",
    # transaction logs beyond a workbook (the command line's --engine/--out-dir path)
    "as_of_is_right": "基準日（--as-of）正確",
    "transactions_template_headers": "（用 precision-list templates 的 交易 範本欄名）",
    "full_tables": "要每位客戶的完整表格，請加 --out-dir 資料夾（Parquet，另加 --csv 也寫 CSV）",
    "memory_limit_options": "（--memory-limit，或 dask worker --memory-limit）",
    # an option named as the subject of a message; after the phrases above, which may hold it
    "out_dir": "--out-dir",
    "memory_limit": "--memory-limit",
}


#: The steps an English fix (``fix_en``) names, by the same codes, in the command line's words; the
#: drop folder's ``.error.txt`` writes an English half too, in its own words (``service.words``).
STEPS_EN = {
    "train_or_models_dir": "train one with precision-list train, or check --models",
    "train_or_models_env": "train it with precision-list train, or set --models / PRECISION_LIST_MODELS",
    "use_template_headers": "use the column names of the templates written by `precision-list templates`",
    "as_of_is_right": "the --as-of date",
    "target_header": "--target takes a header exactly as it reads in the sheet",
    "check_config": "check the path given to --config",
}


@dataclass(frozen=True)
class Problem:
    """One finding about the input, addressed the way a rep finds it in Excel.

    >>> Problem("名單", 12, "生日", "85/13/40", "日期無法辨識", "請寫成 85/03/12 或 1996-03-12").row
    12
    """

    sheet: str
    row: int | None
    column: str | None
    value: str | None
    problem: str
    fix: str
    severity: str = ERROR

    def as_row(self) -> dict:
        return asdict(self)

    def worded(self, words: dict[str, str]) -> Problem:
        """This problem with the steps it names in a shell's words (see :func:`worded`)."""
        return replace(self, problem=worded(self.problem, words), fix=worded(self.fix, words))


class UnusableInput(Exception):
    """The file as a whole cannot be used; the message is one line a rep can act on.

    The CLI exits 2 with it; the drop-folder service moves the file to failed/ with it. The
    message never carries cell contents that could be personal data (names, IDs, phones).
    """

    def __init__(
        self,
        what: str,
        fix: str = "",
        *,
        en: str = "",
        fix_en: str = "",
        sheet: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ):
        self.what = what
        self.fix = fix
        self.en = en  # what, in English
        self.fix_en = fix_en  # how to fix, in English
        self.sheet = sheet  # where, when the problem has a place
        self.row = row
        self.column = column
        super().__init__(f"{what}{'；' + fix if fix else ''}")

    def worded(self, words: dict[str, str], words_en: dict[str, str] | None = None) -> UnusableInput:
        """The same problem (same class, same place) with its steps in a shell's words (see :func:`worded`),
        and in its English words (``words_en``, by the codes of :data:`STEPS_EN`) when it has them."""
        return type(self)(
            worded(self.what, words),
            worded(self.fix, words),
            en=worded(self.en, words_en, STEPS_EN) if words_en else self.en,
            fix_en=worded(self.fix_en, words_en, STEPS_EN) if words_en else self.fix_en,
            sheet=self.sheet,
            row=self.row,
            column=self.column,
        )

    def english(self) -> str:
        """One English line: what went wrong and how to fix it."""
        what = self.en or self.what
        return f"{what}; {self.fix_en}" if self.fix_en else what


def capped(found: list[Problem], total: int | None = None) -> list[Problem]:
    """The first :data:`MAX_PROBLEMS_PER_CHECK` problems of one check, and one line counting the rest.

    ``total``: how many the check found, when only the first ones were built (a check that flags
    most of a million rows need not build a problem for each).

    >>> rows = capped([Problem("s", r, "日期", "x", "日期無法辨識", "f") for r in range(1, 206)])
    >>> len(rows), rows[-1].value, capped_rest(rows[-1].problem)
    (201, '另有 5 列', ('日期無法辨識', 5))
    >>> capped(rows[:200], total=1_000_000)[-1].value
    '另有 999800 列'
    """
    total = len(found) if total is None else total
    if total <= MAX_PROBLEMS_PER_CHECK:
        return found
    first = found[0]
    rest = total - MAX_PROBLEMS_PER_CHECK
    return found[:MAX_PROBLEMS_PER_CHECK] + [
        Problem(
            first.sheet,
            None,
            first.column,
            f"另有 {rest} 列",
            first.problem + CAPPED_SUFFIX.format(rest=rest),
            first.fix,
            first.severity,
        )
    ]


def capped_rest(problem: str) -> tuple[str, int]:
    """A problem text without the :data:`CAPPED_SUFFIX`, and how many rows that suffix counts (0 if none).

    >>> capped_rest("日期無法辨識" + CAPPED_SUFFIX.format(rest=800))
    ('日期無法辨識', 800)
    """
    found = _CAPPED.search(problem)
    return (problem[: found.start()], int(found.group(1))) if found else (problem, 0)


def step(code: str) -> str:
    """The step ``code`` (see :data:`STEPS`) as a message names it by default.

    >>> "若日期打錯請修正；" + step("as_of")
    '若日期打錯請修正；若基準日不對，請用 --as-of 指定'
    """
    return STEPS[code]


def step_en(code: str) -> str:
    """The step ``code`` in English (see :data:`STEPS_EN`), as an English fix names it by default."""
    return STEPS_EN[code]


def worded(text, words: dict[str, str], steps: dict[str, str] = STEPS):
    """``text`` with every step it names (:data:`STEPS`, or ``steps``: :data:`STEPS_EN` for English) in a
    shell's own ``words`` (code → text); anything that is not text passes through.

    >>> worded("若日期打錯請修正；" + step("as_of"), {"as_of": "請改公式的 as_of"})
    '若日期打錯請修正；請改公式的 as_of'
    """
    if not isinstance(text, str):
        return text
    for code, default in steps.items():
        if default in text:
            text = text.replace(default, words[code])
    return text
