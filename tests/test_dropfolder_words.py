"""Issue 11: the drop folder's results and refusals name steps a rep at a shared folder can take
(rename a column, re-save, ask the administrator), never a command-line flag."""

from __future__ import annotations

import io

import openpyxl
import pandas as pd
from dropfolder_kit import ServiceProcess, drop, files, transactions, write_config, xlsx_bytes

from addin.messages import CLI_REFERENCE
from processor.errors import STEPS, STEPS_EN
from processor.service.words import IN_DROP_FOLDER, IN_DROP_FOLDER_EN


def test_the_drop_folder_has_its_own_words_for_every_step_and_none_names_a_flag():
    assert IN_DROP_FOLDER.keys() == STEPS.keys() and IN_DROP_FOLDER_EN.keys() == STEPS_EN.keys()
    assert not [code for code, text in {**IN_DROP_FOLDER, **IN_DROP_FOLDER_EN}.items() if CLI_REFERENCE.search(text)]
    assert all(CLI_REFERENCE.search(text) for text in STEPS_EN.values()), "each English step names the command"


def test_a_scored_workbook_and_a_refusal_from_the_drop_folder_name_no_command_line_step(tmp_path):
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml")  # the default scorer: the real pipeline
    drop(root, "future.xlsx", xlsx_bytes(60, 3))  # purchases up to 2025-06, scored as of 2024-06-01
    drop(root, "unknown.csv", "甲欄,乙欄\n1,2\n".encode("utf-8-sig"))  # no sheet of a known kind
    log = io.BytesIO()  # a transaction log (pipeline.score_log): its 摘要 says where the full tables are
    frame = transactions(400, 4)
    frame["日期"] = pd.to_datetime(frame["日期"])  # Parquet keeps the type: a date column holds dates
    frame.to_parquet(log, index=False)
    drop(root, "export.parquet", log.getvalue())
    assert ServiceProcess(root, "--once", "--as-of", "2024-06-01", config=config).wait(120) == 0
    assert sorted(files(root / "outbox")) == ["export.scored.xlsx", "future.scored.xlsx"]
    result = "future.scored.xlsx"
    check = openpyxl.load_workbook(root / "outbox" / result, read_only=True)["資料檢查"]
    texts = [str(c) for row in check.iter_rows(values_only=True) for c in row if c]
    assert any(IN_DROP_FOLDER["as_of"] in t for t in texts), "the future-date problem names the administrator"
    assert not [t for t in texts if CLI_REFERENCE.search(t)]
    report = (root / "failed" / "unknown.csv.error.txt").read_text(encoding="utf-8-sig")
    assert IN_DROP_FOLDER["use_template_headers"] in report and IN_DROP_FOLDER_EN["use_template_headers"] in report
    assert not CLI_REFERENCE.search(report), report  # neither the Chinese half nor the English one
    logged = openpyxl.load_workbook(root / "outbox" / "export.scored.xlsx", read_only=True)
    texts = [str(c) for ws in logged.worksheets for row in ws.iter_rows(values_only=True) for c in row if c]
    assert any(IN_DROP_FOLDER["full_tables"] in t for t in texts), "the log's summary names the administrator"
    assert not [t for t in texts if CLI_REFERENCE.search(t)]
