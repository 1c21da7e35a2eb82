"""團隊總覽 (issue 15): the manager's roll-up over the reps' newest results on a drop folder."""

from __future__ import annotations

import os

import numpy as np
import openpyxl
import pytest
from conftest import AS_OF, sheet_rows, write_rows

from processor.analyse.team import NUMBER_COLUMNS, TOTAL, team_facts


def _contacts(rng, n, rep):
    stages = ["目標市場", "潛在客戶", "目標客戶", "關鍵客戶", "已成交", None]
    rows = [["姓名", "手機", "意向等級", "階段", "最後聯絡日", "聯絡次數", "F家庭", "O工作現況", "R興趣"]]
    for i in range(n):  # a few synthetic people per rep
        day = int(rng.integers(1, 40))
        rows.append(
            [
                f"{rep}客{i}",
                f"0912-{i:03d}-{int(rng.integers(100, 999))}",
                str(rng.choice(list("HABC"))),
                stages[int(rng.integers(0, 6))],
                f"2024/05/{min(day, 28):02d}" if day < 29 else "2024/06/20",
                int(rng.integers(1, 8)),
                *(["有"] * int(rng.integers(0, 4)) + [None] * 3)[:3],
            ]
        )
    return rows


@pytest.fixture
def drop_folder(tmp_path):
    """ROOT with three reps' results in outbox/ (one rep twice, older file first) and a failed file."""
    from processor.pipeline import score_file

    root = tmp_path / "share"
    (root / "outbox").mkdir(parents=True)
    (root / "failed").mkdir()
    rng = np.random.default_rng(7)
    summaries = {}
    for rep, n in (("阿明", 12), ("小美", 20), ("大雄", 7)):
        src = write_rows(
            tmp_path / f"{rep}.xlsx", {"名單": _contacts(rng, n, rep), "設定": [["項目", "值"], ["業務", rep]]}
        )
        summaries[rep] = score_file(src, root / "outbox" / f"{rep}.scored.xlsx", as_of=AS_OF)
    old = write_rows(
        tmp_path / "old.xlsx", {"名單": _contacts(rng, 30, "阿明"), "設定": [["項目", "值"], ["業務", "阿明"]]}
    )
    score_file(old, root / "outbox" / "阿明上週.scored.xlsx", as_of=AS_OF)
    os.utime(root / "outbox" / "阿明上週.scored.xlsx", (1, 1))  # older than 阿明's newest
    (root / "failed" / "胖虎.xlsx").write_bytes(b"not a workbook")
    (root / "failed" / "胖虎.xlsx.error.txt").write_text(
        "精準名單無法處理這個檔案\n\n問題：檔案不是 Excel 活頁簿\n", encoding="utf-8"
    )
    return root, summaries


def test_the_roll_up_over_three_reps_equals_the_sum_of_their_own_summaries(drop_folder, run_cli):
    root, summaries = drop_folder
    run_cli("team", root)
    table = sheet_rows(root / "outbox" / "團隊總覽.xlsx", "團隊總覽", "業務").set_index("業務")
    assert set(table.index) == {"阿明", "小美", "大雄", "胖虎", TOTAL}
    assert table.loc["阿明", "檔案"] == "阿明.scored.xlsx"  # the newest of 阿明's two results
    facts = {rep: team_facts(s, rep) for rep, s in summaries.items()}
    for rep, f in facts.items():
        assert table.loc[rep, "今天到期"] == f["due_today"] and table.loc[rep, "逾期"] == f["overdue"]
        assert table.loc[rep, "階段:目標客戶"] == f["stage"].get("目標客戶", 0)
        assert table.loc[rep, "意向 H"] == f["intent"].get("H", 0)
    for column in NUMBER_COLUMNS:
        assert table.loc[TOTAL, column] == pytest.approx(sum(table.loc[r, column] for r in facts)), column
    assert table.loc[TOTAL, "今天到期"] == sum(f["due_today"] for f in facts.values())
    assert table.loc[TOTAL, "逾期"] == sum(s["contacts"]["by_status"].get("逾期", 0) for s in summaries.values())
    assert sum(table.loc[TOTAL, c] for c in NUMBER_COLUMNS if c.startswith("完整度")) == sum(
        s["contacts"]["contacts"] for s in summaries.values()
    )


def test_a_reps_failed_file_is_shown_as_failed_not_as_zeros(drop_folder, run_cli):
    root, _ = drop_folder
    run_cli("team", root)
    table = sheet_rows(root / "outbox" / "團隊總覽.xlsx", "團隊總覽", "業務").set_index("業務")
    assert table.loc["胖虎", "狀態"].startswith("失敗") and "不是 Excel" in table.loc["胖虎", "狀態"]
    assert table.loc[["胖虎"], list(NUMBER_COLUMNS)].isna().all().all()
    assert table.loc[TOTAL, "檔案"] == "3 / 4 位業務有結果"


def test_the_roll_up_has_native_charts_and_no_personal_data(drop_folder, run_cli):
    root, _ = drop_folder
    run_cli("team", root)
    wb = openpyxl.load_workbook(root / "outbox" / "團隊總覽.xlsx")
    assert len(wb["圖表"]._charts) == 3
    text = " ".join(str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None)
    assert "客0" not in text and "0912-" not in text


def test_team_on_a_folder_without_outbox_says_what_to_give(tmp_path, run_cli):
    result = run_cli("team", tmp_path, check_exit=2)
    assert "outbox" in result.stderr and "Traceback" not in result.stderr


def test_the_service_with_team_true_refreshes_the_roll_up_after_each_file(tmp_path, run_cli):
    rng = np.random.default_rng(3)
    root = tmp_path / "share"
    (root / "inbox").mkdir(parents=True)
    write_rows(
        root / "inbox" / "阿明.xlsx", {"名單": _contacts(rng, 5, "阿明"), "設定": [["項目", "值"], ["業務", "阿明"]]}
    )
    (root / "inbox" / "壞掉.xlsx").write_bytes(b"PK not really a zip")
    config = tmp_path / "service.toml"
    # grace: how long a file that is not (yet) a whole workbook waits for its writer; 0.5 s, not 30, for 壞掉.xlsx
    config.write_text("[service]\nteam = true\ngrace = 0.5\n", encoding="utf-8")
    run_cli("watch", root, "--once", "--settle", "0", "--config", config, check_exit=None)
    table = sheet_rows(root / "outbox" / "團隊總覽.xlsx", "團隊總覽", "業務").set_index("業務")
    assert table.loc["阿明", "狀態"] == "完成" and table.loc["壞掉", "狀態"].startswith("失敗")
    assert table.loc[TOTAL, "檔案"] == "1 / 2 位業務有結果"
