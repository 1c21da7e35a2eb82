"""The steps a message names (:data:`processor.errors.STEPS`) in the drop folder's words.

A rep drops a workbook into a shared folder and has no command line: what they can do is rename a
column, re-save under another name, copy the template
headers (from the administrator) — or ask the administrator for what only the service's configuration sets (the
as-of date of ``watch``, the models folder, the config file). Standard library only (the service
starts without pandas).
"""

from __future__ import annotations

_ADMIN = "請管理員"
IN_DROP_FOLDER = {
    "train_or_models_dir": f"{_ADMIN}先訓練模型並確認服務的模型資料夾",
    "train_or_models_env": f"{_ADMIN}先訓練模型並確認服務的模型資料夾",
    "retrain_this_version": f"{_ADMIN}用這一版重新訓練模型",
    "train_command": f"（{_ADMIN}訓練）",
    "or_use_model": f"或{_ADMIN}指定已訓練的模型",
    "train_then_score_new_list": f"或{_ADMIN}先訓練存模型再對新名單評分",
    "as_of": f"若基準日不對，{_ADMIN}設定服務的基準日",
    "copy_template_headers": "或照精準名單範本（向管理員索取）複製標題列",
    "use_template_headers": "請使用精準名單範本（向管理員索取）的欄名",
    "other_output": "請把檔案改用另一個檔名存檔後再放入",
    "target_either_command": "請把已知結果欄的標題改成「是否購買」",
    "target_which": "把已知結果欄的標題改成「是否購買」",
    "target_one_of": "請把已知結果欄的標題改成「是否購買」）",
    "target_header": "已知結果欄的標題要寫「是否購買」",
    "target_given": "（已知結果欄）",
    "target_reason": "已知結果欄",
    "check_config": f"{_ADMIN}確認服務的設定檔",
    "as_of_is_right": "基準日正確",
    "transactions_template_headers": "（用精準名單 交易 範本的欄名，向管理員索取）",
    "full_tables": "要每位客戶的完整表格，請管理員用命令列輸出",
    "memory_limit_options": f"（{_ADMIN}調整記憶體上限）",
    "out_dir": "輸出資料夾",
    "memory_limit": "記憶體上限",
}

#: the English steps (:data:`processor.errors.STEPS_EN`) of a ``.error.txt``'s English half
IN_DROP_FOLDER_EN = {
    "train_or_models_dir": "ask the administrator to train a model and check the service's models folder",
    "train_or_models_env": "ask the administrator to train a model and check the service's models folder",
    "use_template_headers": "use the column names of the Precision List templates (ask the administrator for them)",
    "as_of_is_right": "the as-of date the administrator set for the service",
    "target_header": "name the column of known results 是否購買",
    "check_config": "ask the administrator to check the service's config file",
}
