"""The steps core messages name, in Excel's words.

A core message that asks the rep to do something names the step by its code
(:data:`processor.errors.STEPS`: train a model, pick the known-result column, set the basis
date …), worded by default for the command line. A rep in Excel has no command line, so
everything the add-in shows — dialogs, formula cells, the 資料檢查 sheet it puts into the
workbook — goes through :func:`in_excel`, which words each step as the Excel button or formula
argument that does the same (:data:`IN_EXCEL`, :data:`IN_FORMULA`). ``tests/test_addin_ribbon.py``
checks that every step has an Excel wording and that no core message names the command line
other than through a step.
"""

from __future__ import annotations

import re

from processor.errors import worded

#: what to do when a saved model is missing, in Excel terms
MODEL_FIX = (
    "請在有已知結果（是否購買）的名單上按 精準名單 › 訓練模型；"
    "模型在別的資料夾時，在 xlwings.conf 工作表的 MODELS_DIR 填那個資料夾"
)
#: the basis date of a ribbon button is today; of a formula, its as_of argument
BUTTON_AS_OF = "若基準日不對，請確認電腦的日期（按鈕以今天為基準日）"
FORMULA_AS_OF = '若基準日不對，請改公式的 as_of（例如 =TODAY() 或 "2024/3/5"）'

#: a command-line reference in a message (a long option, or a precision-list subcommand)
CLI_REFERENCE = re.compile(r"(?<![\w-])--[a-z]|precision-list [a-z]")

#: every step of processor.errors.STEPS as a ribbon button does it
IN_EXCEL: dict[str, str] = {
    "train_or_models_dir": MODEL_FIX,
    "train_or_models_env": MODEL_FIX,
    "retrain_this_version": "請用這一版在名單上重新按 精準名單 › 訓練模型",
    "train_command": "（精準名單 › 訓練模型）",
    "or_use_model": "或先在有已知結果的舊名單按 精準名單 › 訓練模型，"
    "再按 購買機率（xlwings.conf 的 MODEL 可指定用哪個模型）",
    "train_then_score_new_list": "或先在這份名單按 精準名單 › 訓練模型，再對新名單按 購買機率",
    "as_of": BUTTON_AS_OF,
    "copy_template_headers": "或用 精準名單 › 插入範本工作表 取得正確的標題列",
    "use_template_headers": "請使用 精準名單 › 插入範本工作表 的欄名",
    "other_output": "請另存新檔後再試",
    # Excel has no --target: the rep names the known-result column 是否購買 (a header the schema knows)
    "target_either_command": "請把已知結果那一欄的標題改成「是否購買」",
    "target_which": "把已知結果那一欄的標題改成「是否購買」",
    "target_one_of": "請把其中一欄的標題改成「是否購買」）",
    "target_header": "已知結果欄要用標題列上的欄名",
    "target_given": "（指定的已知結果欄）",
    "target_reason": "由指定的欄名",
    "check_config": "請確認設定檔的路徑與檔名",
    # transaction logs beyond a workbook are scored by the command line only; should one of its
    # messages reach Excel, it says so instead of naming an option
    "as_of_is_right": "電腦的日期（基準日）正確",
    "transactions_template_headers": "（用 精準名單 › 插入範本工作表 › 交易 的欄名）",
    "full_tables": "每位客戶的完整表格要由系統管理員用命令列輸出",
    "memory_limit_options": "（由系統管理員調整 Dask worker 的記憶體上限）",
    "out_dir": "完整表格資料夾",
    "memory_limit": "記憶體上限",
}
#: the same, in a formula cell: the basis date is the formula's as_of argument
IN_FORMULA: dict[str, str] = {**IN_EXCEL, "as_of": FORMULA_AS_OF}


def in_excel(message, words: dict[str, str] = IN_EXCEL):
    """``message`` — a text, a :class:`~processor.errors.Problem` or an
    :class:`~processor.errors.UnusableInput` — with every step it names in Excel's words.

    >>> in_excel("確認日期是否打錯；若基準日不對，請用 --as-of 指定", IN_FORMULA)
    '確認日期是否打錯；若基準日不對，請改公式的 as_of（例如 =TODAY() 或 "2024/3/5"）'
    """
    if hasattr(message, "worded"):
        return message.worded(words)
    return worded(message, words)
