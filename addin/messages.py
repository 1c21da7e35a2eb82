"""What the core says, in Excel's terms.

The core's messages are written for every shell, and a few of them name the command line
(``--model``, ``--as-of``, ``precision-list train``). A rep in Excel has no command line, so
everything the add-in shows — dialogs, formula cells, the 資料檢查 sheet it puts into the
workbook — goes through :func:`in_excel`, which replaces each such phrase with the Excel step
that does the same. ``tests/test_addin_ribbon.py`` scans every message in ``processor/`` and
fails when a new one names the command line without an Excel wording here.
"""

from __future__ import annotations

import re

#: what to do when a saved model is missing, in Excel terms
MODEL_FIX = ("請在有已知結果（是否購買）的名單上按 精準名單 › 訓練模型；"
             "模型在別的資料夾時，在 xlwings.conf 工作表的 MODELS_DIR 填那個資料夾")
#: the basis date of a ribbon button is today; of a formula, its as_of argument
BUTTON_AS_OF = "若基準日不對，請確認電腦的日期（按鈕以今天為基準日）"
FORMULA_AS_OF = "若基準日不對，請改公式的 as_of（例如 =TODAY() 或 \"2024/3/5\"）"

#: a command-line reference in a message (a long option, or a precision-list subcommand)
CLI_REFERENCE = re.compile(r"(?<![\w-])--[a-z]|precision-list [a-z]")

_STEPS = (
    (re.compile(r"請先用 precision-list train 訓練，或(?:確認 --models 資料夾|設定 --models / [\w$%]*)"), MODEL_FIX),
    (re.compile(r"或用 --model 指定已訓練的模型"),
     "或先在有已知結果的舊名單按 精準名單 › 訓練模型，再按 購買機率（xlwings.conf 的 MODEL 可指定用哪個模型）"),
    (re.compile(r"若基準日不對，請用 --as-of 指定"), None),  # the shell's own basis-date step
    (re.compile(r"或從 precision-list templates 複製標題列"), "或用 精準名單 › 插入範本工作表 取得正確的標題列"),
    (re.compile(r"請使用 precision-list templates 產生的範本欄名"), "請使用 精準名單 › 插入範本工作表 的欄名"),
    (re.compile(r"請用 -o 指定另一個檔名"), "請另存新檔後再試"),
    (re.compile(r"請用這一版的 precision-list train 重新訓練"), "請用這一版在名單上重新按 精準名單 › 訓練模型"),
    (re.compile(r"（precision-list train）"), "（精準名單 › 訓練模型）"),
    # Excel has no --target: the rep names the known-result column 是否購買 (a header the schema knows)
    (re.compile(r"請用 --target 欄名 指定（score 與 train 都可以）"), "請把已知結果那一欄的標題改成「是否購買」"),
    (re.compile(r"用 --target 指定哪一欄是已知結果"), "把已知結果那一欄的標題改成「是否購買」"),
    (re.compile(r"請用 --target 指定）"), "請把其中一欄的標題改成「是否購買」）"),
    (re.compile(r"--target 要寫標題列上的欄名"), "已知結果欄要用標題列上的欄名"),
    (re.compile(r"（--target）"), "（指定的已知結果欄）"),
    (re.compile(r"由 --target 指定"), "由指定的欄名"),
    (re.compile(r"請確認 --config 的路徑與檔名"), "請確認設定檔的路徑與檔名"),
)


def in_excel(text, as_of_step: str = BUTTON_AS_OF):
    """``text`` with every command-line step replaced by its Excel step (non-text passes through).

    >>> in_excel("確認日期是否打錯；若基準日不對，請用 --as-of 指定", FORMULA_AS_OF)
    '確認日期是否打錯；若基準日不對，請改公式的 as_of（例如 =TODAY() 或 "2024/3/5"）'
    """
    if not isinstance(text, str) or ("-" not in text and "precision-list" not in text):
        return text
    for pattern, step in _STEPS:
        text = pattern.sub((as_of_step if step is None else step).replace("\\", r"\\"), text)
    return text
