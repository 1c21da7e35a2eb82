"""The drop-folder service as reps meet it: real `precision-list watch` processes, real files.

Fault matrix rows (docs: /work/shared/DROPFOLDER.md) are named in each test's docstring.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
from datetime import datetime

import pytest

from dropfolder_kit import (PYTHON, REPO, SETTLE, ServiceProcess, csv_bytes, drop, encrypted_xlsx, files,
                            headers_only_xlsx, is_valid_xlsx, ledger_rows, results, settled_everything,
                            stray_temps, wait_until, write_config, xlsx_bytes)


def _ts(event: dict) -> float:
    return datetime.fromisoformat(event["ts"]).timestamp()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_file_written_slowly_in_chunks_is_picked_up_once_and_only_after_its_last_byte(tmp_path):
    """Matrix 1: 64 KiB chunks with stalls shorter and longer than the quiet period."""
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml", grace=6)
    workbook = xlsx_bytes(300, 1, pad=2_000_000)  # ~2 MB: 31 chunks
    table = csv_bytes(3000, 2)
    with ServiceProcess(root, config=config) as service:
        wait_until(lambda: (root / "inbox").is_dir(), 20, message="inbox/ created")
        with open(root / "inbox" / "slow.xlsx", "wb") as xl, open(root / "inbox" / "slow.csv", "wb") as csv:
            for i, start in enumerate(range(0, len(workbook), 65536)):
                xl.write(workbook[start:start + 65536])
                xl.flush()
                last_byte = time.time()
                part = table[i * 4096:(i + 1) * 4096]
                csv.write(part)
                csv.flush()
                # one stall 3× the quiet period (the half-copied .xlsx does not open as a zip yet),
                # the rest shorter than it (the CSV must not be picked up in between)
                time.sleep(3 * SETTLE if i == 10 else SETTLE / 4)
            csv.write(table[(i + 1) * 4096:])
        wait_until(lambda: settled_everything(root, 2), 90, message="both files archived")
        assert service.proc.poll() is None
        claimed = {e["file"]: e for e in service.events("claimed")}
    assert (root / "archive" / "slow.xlsx").read_bytes() == workbook
    assert (root / "archive" / "slow.csv").read_bytes() == table
    assert _ts(claimed["slow.xlsx"]) >= last_byte + SETTLE * 0.9
    assert sorted(results(root)) == ["slow (2).scored.xlsx", "slow.scored.xlsx"]  # same stem, two results
    assert all(is_valid_xlsx(root / "outbox" / n) for n in results(root))
    assert len(ledger_rows(root)) == 2


def test_unusable_inputs_go_to_failed_with_a_report_while_noise_is_left_alone_and_good_files_score(tmp_path):
    """Matrix 2, 3, 8, 9, 15 and issue test 5: one service run sees every kind of bad or odd file."""
    root = tmp_path / "root"
    (root / "inbox" / "sub").mkdir(parents=True)
    config = write_config(tmp_path / "c.toml", grace=1.0, scorer="tests.dropfolder_scorers:explode_on_boom")
    good = xlsx_bytes(40, 3)
    bad = {
        "truncated.xlsx": good[: len(good) // 2],
        "random.xlsx": os.urandom(5000),
        "csv_named.xlsx": csv_bytes(5, 4),
        "notes.txt": "客戶名單請見附件\n".encode(),
        "encrypted.xlsx": encrypted_xlsx(),
        "empty.csv": b"",
        "headers_only.xlsx": headers_only_xlsx(),
        "bad_headers.csv": "欄一,欄二\n1,2\n".encode("utf-8"),
        "boom.csv": csv_bytes(5, 5),
    }
    noise = {"~$good.xlsx": b"owner", ".~lock.good.xlsx#": b"lock", "8A1B2C3D": b"excel temp", "x.tmp": b"t",
             "dl.csv.crdownload": b"partial", ".hidden.csv": csv_bytes(3, 6), "Thumbs.db": b"thumbs",
             "sub/inner.csv": csv_bytes(3, 7)}
    for name, data in {**bad, **noise}.items():
        (root / "inbox" / name).write_bytes(data)
    old, future = root / "inbox" / "old.csv", root / "inbox" / "future.csv"
    old.write_bytes(csv_bytes(20, 8))
    future.write_bytes(csv_bytes(20, 9))
    os.utime(old, (datetime(2001, 5, 1).timestamp(),) * 2)
    os.utime(future, (time.time() + 3600,) * 2)
    with ServiceProcess(root, config=config) as service:
        drop(root, "good.xlsx", good)
        # an Excel-style save over an existing name: temp without extension, delete, rename
        wait_until(lambda: "good.xlsx" in files(root / "archive"), 60, message="good.xlsx scored")
        resaved = xlsx_bytes(45, 10)
        (root / "inbox" / "5F3E2A1B").write_bytes(resaved)
        os.rename(root / "inbox" / "5F3E2A1B", root / "inbox" / "good.xlsx")
        wait_until(lambda: settled_everything(root, len(bad) + 4), 90, message="every input settled")
        assert service.proc.poll() is None, "the service keeps running after bad inputs and a scorer bug"
        drop(root, "after.csv", csv_bytes(10, 11))
        wait_until(lambda: "after.csv" in files(root / "archive"), 30, message="a later good file")
        status = subprocess.run([PYTHON, "-m", "processor.cli", "status", str(root)], cwd=REPO, capture_output=True,
                                text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
        assert service.stop() == 0
    assert sorted(files(root / "inbox")) == sorted(n for n in noise if "/" not in n and not n.startswith("."))
    assert (root / "inbox" / ".hidden.csv").exists() and (root / "inbox" / "sub" / "inner.csv").exists()
    assert sorted(results(root)) == ["after.scored.xlsx", "future.scored.xlsx", "good (2).scored.xlsx",
                                     "good.scored.xlsx", "old.scored.xlsx"]
    assert all(is_valid_xlsx(root / "outbox" / n) for n in results(root))
    failed = files(root / "failed")
    assert sorted(n for n in failed if not n.endswith(".error.txt")) == sorted(bad)
    rows = {r["name"]: r for r in ledger_rows(root) if r["status"] == "failed"}
    for name, data in bad.items():
        assert (root / "failed" / name).read_bytes() == data, "the original is kept byte for byte"
        report = (root / "failed" / f"{name}.error.txt").read_text(encoding="utf-8-sig")
        assert rows[name]["run_id"] in report and name in report
        assert "問題：" in report and "如何修正：" in report and "How to fix:" in report and "What went wrong:" in report
    assert "密碼" in (root / "failed" / "encrypted.xlsx.error.txt").read_text(encoding="utf-8-sig")
    assert "沒有資料" in (root / "failed" / "headers_only.xlsx.error.txt").read_text(encoding="utf-8-sig")
    assert "內部錯誤" in (root / "failed" / "boom.csv.error.txt").read_text(encoding="utf-8-sig")
    assert "unsupported file type .txt" in (root / "failed" / "notes.txt.error.txt").read_text(encoding="utf-8-sig")
    never_opened = {e.get("file") for e in service.events()} & set(noise)
    assert never_opened == set(), f"noise files must not even be logged: {never_opened}"
    assert "失敗 failed:      9" in status.stdout and "5 scored" in status.stdout
    listed = status.stdout.split("last errors:")[1].strip().splitlines()
    assert len(listed) == 5 and all(any(rows[n]["run_id"] in line for n in rows) for line in listed)


def test_the_same_name_dropped_again_gets_a_new_result_and_the_same_content_is_not_scored_twice(tmp_path):
    """Matrix 7 and 17, issue test 7: report.xlsx ×3, Report.xlsx + report.xlsx, then a restart."""
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml")
    versions = [xlsx_bytes(30 + i, 20 + i) for i in range(3)]
    with ServiceProcess(root, config=config) as service:
        snapshots = []
        for i, data in enumerate(versions):
            drop(root, "report.xlsx", data)
            wait_until(lambda: len(files(root / "archive")) == i + 1, 60, message=f"version {i + 1}")
            snapshots.append({n: _sha((root / "outbox" / n).read_bytes()) for n in results(root)})
        drop(root, "Report.xlsx", xlsx_bytes(50, 30))
        drop(root, "REPORT.xlsx", xlsx_bytes(51, 31))
        wait_until(lambda: len(files(root / "archive")) == 5, 60, message="case-variant names")
        drop(root, "copy-of-first.xlsx", versions[0])
        wait_until(lambda: len(files(root / "archive")) == 6, 60, message="the duplicate")
        assert service.stop() == 0
    names = results(root)
    assert len(names) == 5 and len({n.casefold() for n in names}) == 5
    assert {"report.scored.xlsx", "report (2).scored.xlsx", "report (3).scored.xlsx"} <= set(names)
    for before in snapshots:  # nothing written earlier was ever overwritten
        assert all(_sha((root / "outbox" / n).read_bytes()) == h for n, h in before.items())
    duplicate = [r for r in ledger_rows(root) if r["status"] == "duplicate"]
    assert [(r["name"], r["output_name"]) for r in duplicate] == [("copy-of-first.xlsx", "report.scored.xlsx")]
    assert sum(1 for n in files(root / "archive") if n.startswith("report")) == 3
    # matrix 17: a restart with archive/ and outbox/ full reprocesses nothing
    again = ServiceProcess(root, "--once", config=config)
    assert again.wait(60) == 0
    assert again.events("claimed") == [] and len(results(root)) == 5


def test_a_file_re_saved_or_deleted_during_its_quiet_period_restarts_the_timer_without_errors(tmp_path):
    """Matrix 14: only the final content is scored; a vanished file is no error."""
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml")
    first, final = csv_bytes(10, 40), csv_bytes(12, 41)
    with ServiceProcess(root, "--settle", "1.5", config=config) as service:
        wait_until(lambda: (root / "inbox").is_dir(), 20, message="inbox/")
        (root / "inbox" / "a.csv").write_bytes(first)
        (root / "inbox" / "gone.csv").write_bytes(first)
        time.sleep(0.8)
        (root / "inbox" / "a.csv").write_bytes(final)
        (root / "inbox" / "gone.csv").unlink()
        wait_until(lambda: settled_everything(root, 1), 30, message="a.csv archived")
        assert service.stop() == 0
    assert (root / "archive" / "a.csv").read_bytes() == final
    assert [e["file"] for e in service.events("claimed")] == ["a.csv"]
    assert not service.events("failed") and not service.events("error")


@pytest.mark.parametrize("poll", [None, "0.5"], ids=["notifications", "polling"])
def test_inbox_deleted_and_recreated_while_running_is_noticed_and_later_drops_are_processed(tmp_path, poll):
    """Matrix 12, issue test 8: the observer is re-armed and the next drop is scored."""
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml", scan_interval=30.0)  # only a re-armed watch wakes it quickly
    args = ["--poll", poll] if poll else []
    with ServiceProcess(root, *args, config=config) as service:
        wait_until(lambda: (root / "inbox").is_dir(), 20, message="inbox/")
        drop(root, "before.csv", csv_bytes(10, 50))
        wait_until(lambda: "before.csv" in files(root / "archive"), 60, message="before.csv")
        shutil.rmtree(root / "inbox")
        (root / "inbox").mkdir(exist_ok=True)  # the service may have re-created it already
        if not poll:  # inotify goes deaf on a replaced folder (same inode number, seen); polling just re-lists it
            wait_until(lambda: any(e.get("reason") in ("inbox replaced", "inbox re-created", "observer stopped")
                                   for e in service.events("watch_armed")), 10, message="watch re-armed")
        dropped = time.monotonic()
        drop(root, "after.csv", csv_bytes(10, 51))
        wait_until(lambda: "after.csv" in files(root / "archive"), 20, message="after.csv")
        assert time.monotonic() - dropped < 15, "picked up by the re-armed watch, not the 30 s scan"
        assert service.stop() == 0
    assert sorted(results(root)) == ["after.scored.xlsx", "before.scored.xlsx"]


def test_sigterm_mid_file_finishes_the_file_in_hand_then_exits_cleanly(tmp_path):
    """Matrix 16: a clean stop never abandons a half-scored file."""
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml", scorer="tests.dropfolder_scorers:slow")
    with ServiceProcess(root, config=config, env={"DROPFOLDER_TEST_SLOW": "2.0"}) as service:
        wait_until(lambda: (root / "inbox").is_dir(), 20, message="inbox/")
        drop(root, "long.csv", csv_bytes(30, 60))
        wait_until(lambda: service.events("claimed"), 30, message="claimed")
        service.proc.send_signal(signal.SIGTERM)
        assert service.wait(60) == 0
    kinds = [e["event"] for e in service.events()]
    assert kinds.index("stopping") < kinds.index("archived") < kinds.index("stopped")
    assert results(root) == ["long.scored.xlsx"] and files(root / "archive") == ["long.csv"]
    assert stray_temps(root) == []


def test_a_misspelt_config_option_stops_watch_at_start_with_exit_2_naming_it(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[service]\nsettel = 3\n", encoding="utf-8")
    done = subprocess.run([PYTHON, "-m", "processor.cli", "watch", str(tmp_path / "root"), "--config", str(config)],
                          cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 2 and "settel" in done.stderr
    assert not (tmp_path / "root").exists()
