"""The drop-folder service as reps meet it: real `precision-list watch` processes, real files.

Fault matrix rows (docs: ../shared/DROPFOLDER.md from the repo root) are named in each test's docstring.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
from datetime import datetime

import pytest
from dropfolder_kit import (
    PYTHON,
    REPO,
    SETTLE,
    ServiceProcess,
    child_pids,
    csv_bytes,
    data_rows,
    drop,
    encrypted_xlsx,
    files,
    headers_only_xlsx,
    is_valid_xlsx,
    ledger_rows,
    results,
    run_cli,
    settled_everything,
    stand_in_source,
    stray_temps,
    wait_until,
    write_config,
    xlsx_bytes,
)

#: the fast stand-in scorer (:func:`dropfolder_scorers.stand_in`), for tests of what the service does with
#: files (claims, names, duplicates, folders, signals); tests that look inside a result use the real one
STAND_IN = "tests.dropfolder_scorers:stand_in"


def _ts(event: dict) -> float:
    return datetime.fromisoformat(event["ts"]).timestamp()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _last(events: list[dict], name: str, kind: str) -> dict:
    return [e for e in events if e.get("file") == name and e["event"] == kind][-1]


def test_a_file_written_slowly_in_chunks_is_picked_up_once_and_only_after_its_last_byte(tmp_path):
    """Matrix 1: 64 KiB chunks with stalls shorter and longer than the quiet period.

    The .xlsx stalls 3× the quiet period once (a half-copied .xlsx does not open as a zip, so it
    waits); the CSV has its own pattern, every pause shorter than the quiet period.
    """
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml", grace=6)
    workbook = xlsx_bytes(300, 1, pad=2_000_000)  # ~2 MB: 31 chunks
    table = csv_bytes(3000, 2)
    # one write of each per tick of SETTLE / 4; the .xlsx skips 12 ticks after its 11th chunk
    xlsx_plan = [workbook[i : i + 65536] for i in range(0, len(workbook), 65536)]
    xlsx_plan[11:11] = [None] * 12
    ticks = len(xlsx_plan)
    csv_plan = [table[len(table) * k // ticks : len(table) * (k + 1) // ticks] for k in range(ticks)]
    longest_csv_pause = 0.0
    with ServiceProcess(root, config=config) as service:
        wait_until(lambda: (root / "inbox").is_dir(), 20, message="inbox/ created")
        with open(root / "inbox" / "slow.xlsx", "wb") as xl, open(root / "inbox" / "table.csv", "wb") as csv:
            last_csv = time.time()
            for xlsx_part, csv_part in zip(xlsx_plan, csv_plan):
                if xlsx_part is not None:
                    xl.write(xlsx_part)
                    xl.flush()
                    last_xlsx = time.time()
                csv.write(csv_part)
                csv.flush()
                longest_csv_pause = max(longest_csv_pause, time.time() - last_csv)
                last_csv = time.time()
                time.sleep(SETTLE / 4)
        wait_until(lambda: settled_everything(root, 2), 90, message="both files archived")
        assert service.proc.poll() is None
        events = service.events()
    assert (root / "archive" / "slow.xlsx").read_bytes() == workbook
    assert (root / "archive" / "table.csv").read_bytes() == table
    assert _ts(_last(events, "slow.xlsx", "claimed")) >= last_xlsx + SETTLE * 0.9, "claimed before it was whole"
    if longest_csv_pause < SETTLE * 0.8:
        assert len([e for e in events if e.get("file") == "table.csv" and e["event"] == "claimed"]) == 1
        assert _ts(_last(events, "table.csv", "claimed")) >= last_csv + SETTLE * 0.9, "claimed before it was quiet"
    else:  # a loaded machine stretched a pause past the quiet period: then it must have been re-settled
        assert _ts(_last(events, "table.csv", "settled")) >= last_csv + SETTLE * 0.9
    assert sorted(results(root)) == ["slow.scored.xlsx", "table.scored.xlsx"]
    assert all(is_valid_xlsx(root / "outbox" / n) for n in results(root))
    assert data_rows(root / "outbox" / "table.scored.xlsx", "table") == 3000
    rows = {r["name"]: r for r in ledger_rows(root)}
    assert rows["table.csv"]["content_hash"] == _sha(table) and rows["slow.xlsx"]["content_hash"] == _sha(workbook)


def test_a_csv_whose_writer_pauses_longer_than_the_quiet_period_is_rescored_whole_not_published_half(tmp_path):
    """B1, matrix 1: the writer goes on writing into the file after it was claimed (same inode).

    The service checks the claimed file after scoring; a changed file's result is thrown away and
    the file waits in its claim until it is quiet again. The scorer here waits after scoring until the
    test opens its gate, which it does once the rest of the file has landed: so it lands while the
    file is in hand (before, a fixed 3 s pause).
    """
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml", scorer="tests.dropfolder_scorers:gated")
    gate = tmp_path / "gate"
    table = csv_bytes(3000, 3)
    half = table.rfind(b"\n", 0, len(table) // 2) + 1
    with ServiceProcess(root, config=config, env={"DROPFOLDER_TEST_GATE": str(gate)}) as service:
        wait_until(lambda: (root / "inbox").is_dir(), 20, message="inbox/ created")
        with open(root / "inbox" / "paused.csv", "wb") as csv:
            csv.write(table[:half])
            csv.flush()
            wait_until(lambda: service.events("claimed"), 30, 0.02, message="the first half claimed")
            csv.write(table[half:])
            csv.flush()
            last_byte = time.time()
        gate.touch()
        wait_until(lambda: settled_everything(root, 1), 90, message="paused.csv archived")
        events = service.events()
    assert [e["event"] for e in events if e["event"] == "changed"], "the change after the claim was noticed"
    assert (root / "archive" / "paused.csv").read_bytes() == table
    assert results(root) == ["paused.scored.xlsx"] and stray_temps(root) == []
    assert data_rows(root / "outbox" / "paused.scored.xlsx", "paused") == 3000, "the result holds every row"
    [row] = ledger_rows(root)
    assert row["content_hash"] == _sha(table) and row["status"] == "archived"
    resettled = [e for e in events if e["event"] == "settled" and e.get("run") == row["run_id"]][-1]
    assert _ts(resettled) >= last_byte + SETTLE * 0.9, "scored only after the last byte and a quiet period"


def test_with_done_files_a_file_waits_for_its_done_marker_and_the_marker_is_removed(tmp_path):
    """B1 option (Camel's doneFileName): writers that can pause for long create <name>.done last."""
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml", done_files=True, scorer=STAND_IN)
    drop(root, "waiting.csv", csv_bytes(10, 12))
    drop(root, "ready.csv", csv_bytes(10, 13))
    (root / "inbox" / "ready.csv.done").write_bytes(b"")
    with ServiceProcess(root, config=config) as service:
        wait_until(
            lambda: "ready.csv" in files(root / "archive") and service.events("deferred"),
            60,
            message="ready.csv scored, waiting.csv deferred",
        )
        assert files(root / "inbox") == ["waiting.csv"], "no marker, no pick-up; the used marker is gone"
        assert [e["reason"] for e in service.events("deferred")] == ["waiting for waiting.csv.done"]
        (root / "inbox" / "waiting.csv.done").write_bytes(b"")
        wait_until(lambda: settled_everything(root, 2), 60, message="waiting.csv once marked")
        assert service.stop() == 0
    assert files(root / "inbox") == [] and sorted(results(root)) == ["ready.scored.xlsx", "waiting.scored.xlsx"]


def test_unusable_inputs_go_to_failed_with_a_report_while_noise_is_left_alone_and_good_files_score(tmp_path):
    """Matrix 2, 3, 8, 9, 15 and issue test 5: one service run sees every kind of bad or odd file.

    Also B5: the report's English half says how to fix the problems the service itself finds.
    """
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
        "bad_headers.csv": "欄一,欄二\n1,2\n".encode(),
        "boom.csv": csv_bytes(5, 5),
    }
    noise = {
        "~$good.xlsx": b"owner",
        ".~lock.good.xlsx#": b"lock",
        "8A1B2C3D": b"excel temp",
        "x.tmp": b"t",
        "dl.csv.crdownload": b"partial",
        "stays.xlsx.part": good[:100],
        ".hidden.csv": csv_bytes(3, 6),
        "Thumbs.db": b"thumbs",
        "sub/inner.csv": csv_bytes(3, 7),
        "orphan.csv.done": b"",
    }
    for name, data in {**bad, **noise}.items():
        (root / "inbox" / name).write_bytes(data)
    old, future = root / "inbox" / "old.csv", root / "inbox" / "future.csv"
    old.write_bytes(csv_bytes(20, 8))
    future.write_bytes(csv_bytes(20, 9))
    os.utime(old, (datetime(2001, 5, 1).timestamp(),) * 2)
    os.utime(future, (time.time() + 3600,) * 2)
    with ServiceProcess(root, config=config) as service:
        drop(root, "good.xlsx", good)
        # a browser download: written as .part (never touched), renamed when complete
        downloaded = xlsx_bytes(41, 13)
        with open(root / "inbox" / "download.xlsx.part", "wb") as part:
            part.write(downloaded[:2000])
            part.flush()
            wait_until(lambda: "good.xlsx" in files(root / "archive"), 60, message="good.xlsx scored")
            part.write(downloaded[2000:])
        os.rename(root / "inbox" / "download.xlsx.part", root / "inbox" / "download.xlsx")
        # write-temp-then-rename onto a name already scored: temp without extension, then rename
        resaved = xlsx_bytes(45, 10)
        (root / "inbox" / "5F3E2A1B").write_bytes(resaved)
        os.rename(root / "inbox" / "5F3E2A1B", root / "inbox" / "good.xlsx")
        wait_until(lambda: settled_everything(root, len(bad) + 5), 90, message="every input settled")
        assert service.proc.poll() is None, "the service keeps running after bad inputs and a scorer bug"
        drop(root, "after.csv", csv_bytes(10, 11))
        wait_until(lambda: "after.csv" in files(root / "archive"), 30, message="a later good file")
        status = run_cli("status", str(root))
        assert service.stop() == 0
    assert sorted(files(root / "inbox")) == sorted(n for n in noise if "/" not in n and not n.startswith("."))
    assert (root / "inbox" / ".hidden.csv").exists() and (root / "inbox" / "sub" / "inner.csv").exists()
    assert sorted(results(root)) == [
        "after.scored.xlsx",
        "download.scored.xlsx",
        "future.scored.xlsx",
        "good (2).scored.xlsx",
        "good.scored.xlsx",
        "old.scored.xlsx",
    ]
    assert all(is_valid_xlsx(root / "outbox" / n) for n in results(root))
    assert (root / "archive" / "download.xlsx").read_bytes() == downloaded
    failed = files(root / "failed")
    assert sorted(n for n in failed if not n.endswith(".error.txt")) == sorted(bad)
    rows = {r["name"]: r for r in ledger_rows(root) if r["status"] == "failed"}
    for name, data in bad.items():
        assert (root / "failed" / name).read_bytes() == data, "the original is kept byte for byte"
        report = (root / "failed" / f"{name}.error.txt").read_text(encoding="utf-8-sig")
        assert rows[name]["run_id"] in report and name in report
        assert (
            "問題：" in report and "如何修正：" in report and "How to fix:" in report and "What went wrong:" in report
        )
    assert "密碼" in (root / "failed" / "encrypted.xlsx.error.txt").read_text(encoding="utf-8-sig")
    assert "沒有資料" in (root / "failed" / "headers_only.xlsx.error.txt").read_text(encoding="utf-8-sig")
    assert "內部錯誤" in (root / "failed" / "boom.csv.error.txt").read_text(encoding="utf-8-sig")
    assert "unsupported file type .txt" in (root / "failed" / "notes.txt.error.txt").read_text(encoding="utf-8-sig")
    english_fix = {
        name: next(
            line
            for line in (root / "failed" / f"{name}.error.txt").read_text(encoding="utf-8-sig").splitlines()
            if line.startswith("How to fix:")
        )
        for name in bad
    }
    assert "save it from Excel as .xlsx" in english_fix["notes.txt"]
    assert "save or copy the file again" in english_fix["empty.csv"]
    assert "drop the file into inbox/ again" in english_fix["boom.csv"]
    assert rows["boom.csv"]["run_id"] in english_fix["boom.csv"]
    never_opened = {e.get("file") for e in service.events()} & set(noise)
    assert never_opened == set(), f"noise files must not even be logged: {never_opened}"
    assert "失敗 failed:      9" in status.stdout and "6 scored" in status.stdout
    listed = status.stdout.split("last errors:")[1].strip().splitlines()
    assert len(listed) == 5 and all(any(rows[n]["run_id"] in line for n in rows) for line in listed)


def test_the_same_name_dropped_again_gets_a_new_result_and_the_same_content_is_not_scored_twice(tmp_path):
    """Matrix 7 and 17, issue test 7: report.xlsx ×3, Report.xlsx + report.xlsx, then a restart.

    The restart finds archive/ and outbox/ full and two files waiting in inbox/: a copy of
    content already scored (a duplicate, not scored again) and a new one.
    """
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml", scorer=STAND_IN)
    day = ("--as-of", "2024-07-01")  # one scoring day for both runs, even across midnight
    versions = [xlsx_bytes(30 + i, 20 + i) for i in range(3)]
    with ServiceProcess(root, *day, config=config) as service:
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
    kept = files(root / "archive")
    assert sum(1 for n in kept if n.startswith("report")) == 3
    assert len({n.casefold() for n in kept}) == len(kept), "archive/ names are distinct for a Windows client too"
    # matrix 17: a restart with archive/ and outbox/ full reprocesses nothing it already did
    drop(root, "second-copy.xlsx", versions[1])
    drop(root, "new.xlsx", xlsx_bytes(60, 40))
    again = ServiceProcess(root, "--once", *day, config=config)
    assert again.wait(60) == 0
    assert [e["file"] for e in again.events("duplicate")] == ["second-copy.xlsx"]
    assert [e["file"] for e in again.events("scored")] == ["new.xlsx"]
    assert len(results(root)) == 6 and settled_everything(root, 8)


def test_the_same_content_is_scored_again_on_another_day_but_not_twice_on_one_day(tmp_path):
    """B9: the duplicate key is content + as-of day (+ settings: see the ledger unit test), so last
    month's list dropped again gets today's ranking."""
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml", scorer=STAND_IN)
    data = csv_bytes(40, 45)
    drop(root, "monday.csv", data)
    drop(root, "monday-again.csv", data)  # the same list twice on one day: scored once
    assert ServiceProcess(root, "--once", "--as-of", "2024-07-01", config=config).wait(60) == 0
    drop(root, "tuesday.csv", data)  # and again the next day: today's ranking
    assert ServiceProcess(root, "--once", "--as-of", "2024-07-02", config=config).wait(60) == 0
    rows = {r["name"]: r for r in ledger_rows(root)}
    [monday] = [r for n, r in rows.items() if n.startswith("monday") and r["status"] == "archived"]
    [again] = [r for n, r in rows.items() if n.startswith("monday") and r["status"] == "duplicate"]
    assert again["output_name"] == monday["output_name"] and rows["tuesday.csv"]["status"] == "archived"
    assert {r["as_of"] for r in rows.values()} == {"2024-07-01", "2024-07-02"}
    results_now = sorted(results(root))
    assert len(results_now) == 2 and "tuesday.scored.xlsx" in results_now


def test_a_file_re_saved_or_deleted_during_its_quiet_period_restarts_the_timer_without_errors(tmp_path):
    """Matrix 14: only the final content is scored; a vanished file is no error."""
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml", scorer=STAND_IN)
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
    """Matrix 12, issue test 8: the observer is re-armed and the next drop is scored.

    With notifications the idle scan is an hour apart, so only a re-armed watch can pick the
    second file up within the test.
    """
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml", scan_interval=3600.0, scorer=STAND_IN)
    args = ["--poll", poll] if poll else []
    with ServiceProcess(root, *args, config=config) as service:
        wait_until(lambda: service.events("watch_armed"), 20, message="watching")
        drop(root, "before.csv", csv_bytes(10, 50))
        wait_until(lambda: "before.csv" in files(root / "archive"), 60, message="before.csv")
        shutil.rmtree(root / "inbox")
        (root / "inbox").mkdir(exist_ok=True)  # the service may have re-created it already
        if not poll:  # inotify goes deaf on a replaced folder (same inode number, seen); polling just re-lists it
            wait_until(
                lambda: any(
                    e.get("reason") in ("inbox replaced", "inbox re-created", "observer stopped")
                    for e in service.events("watch_armed")
                ),
                10,
                message="watch re-armed",
            )
        drop(root, "after.csv", csv_bytes(10, 51))
        wait_until(lambda: "after.csv" in files(root / "archive"), 60, message="after.csv")
        assert service.stop() == 0
    assert sorted(results(root)) == ["after.scored.xlsx", "before.scored.xlsx"]


def test_archive_failed_and_outbox_deleted_while_running_are_created_again(tmp_path):
    """B8: someone tidies the share by deleting folders; the next files still end where they belong."""
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml", scorer=STAND_IN)
    with ServiceProcess(root, config=config) as service:
        wait_until(lambda: service.events("watch_armed"), 20, message="watching")
        for folder in ("archive", "failed", "outbox"):
            (root / folder).rmdir()
        drop(root, "good.csv", csv_bytes(10, 52))
        drop(root, "notes.txt", b"not a list")
        wait_until(lambda: settled_everything(root, 2), 60, message="both files placed")
        shutil.rmtree(root / ".state" / "claims")
        drop(root, "later.csv", csv_bytes(10, 53))
        wait_until(lambda: settled_everything(root, 3), 60, message="a file after .state/claims was deleted")
        assert service.stop() == 0
    assert sorted(results(root)) == ["good.scored.xlsx", "later.scored.xlsx"]
    assert files(root / "failed") == ["notes.txt", "notes.txt.error.txt"]
    assert service.events("folder_recreated") and [e["file"] for e in service.events("failed")] == ["notes.txt"]


def test_sigterm_mid_file_finishes_the_file_in_hand_then_exits_cleanly(tmp_path):
    """Matrix 16: a clean stop never abandons a half-scored file, and status no longer lists the service.

    The scorer holds the file until the test opens its gate, after the service said it is stopping."""
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml", scorer=STAND_IN + "_gated")
    gate = tmp_path / "gate"
    with ServiceProcess(root, config=config, env={"DROPFOLDER_TEST_GATE": str(gate)}) as service:
        wait_until(lambda: (root / "inbox").is_dir(), 20, message="inbox/")
        drop(root, "long.csv", csv_bytes(30, 60))
        wait_until(lambda: service.events("claimed"), 30, message="claimed")
        running = run_cli("status", str(root)).stdout
        service.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: service.events("stopping"), 30, 0.02, message="stopping")
        gate.touch()
        assert service.wait(60) == 0
    kinds = [e["event"] for e in service.events()]
    assert kinds.index("stopping") < kinds.index("archived") < kinds.index("stopped")
    assert results(root) == ["long.scored.xlsx"] and files(root / "archive") == ["long.csv"]
    assert stray_temps(root) == []
    instance = service.events("started")[0]["instance"]
    assert instance in running and "long.csv" in running.split("in hand:")[1]
    assert "(none running)" in run_cli("status", str(root)).stdout


def test_long_unicode_and_windows_invalid_names_end_in_archive_or_failed_under_names_every_client_can_open(tmp_path):
    """B3, matrix 16 and 7: names near the 255-byte limit, characters Windows refuses, case variants."""
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml", scorer=STAND_IN)
    long_csv = "長" * 80 + ".csv"  # 244 bytes: a timestamped archive name would not fit
    long_txt = "x" * 243 + ".txt"  # 247 bytes: <name>.error.txt would not fit
    drops = [
        (long_csv, csv_bytes(10, 70)),
        (long_txt, b"not a list"),
        ("a:b?c.csv", csv_bytes(10, 71)),
        ("Report.csv", csv_bytes(10, 72)),
        ("report.csv", csv_bytes(10, 73)),
    ]
    for name, data in drops:
        drop(root, name, data)
    with ServiceProcess(root, config=config) as service:
        wait_until(lambda: settled_everything(root, len(drops)), 60, message="the first drops")
        drop(root, long_csv, csv_bytes(11, 74))  # the same long name again, other content
        wait_until(lambda: settled_everything(root, len(drops) + 1), 60, message="the long name again")
        assert service.stop() == 0
    assert not service.events("retry") and not list((root / ".state" / "claims").iterdir())
    placed = files(root / "archive") + files(root / "failed") + results(root)
    bad = re.compile(r'[<>:"/\\|?*\x00-\x1f]')
    assert all(len(n.encode("utf-8")) <= 255 and not bad.search(n) and not n.endswith((" ", ".")) for n in placed)
    for folder in ("archive", "outbox"):
        names = files(root / folder)
        assert len({n.casefold() for n in names}) == len(names), f"{folder}/ names collide on Windows"
    assert len(files(root / "archive")) == 5 and len(results(root)) == 5
    assert "a_b_c.csv" in files(root / "archive")
    [kept_txt] = [n for n in files(root / "failed") if not n.endswith(".error.txt")]
    assert (root / "failed" / kept_txt).read_bytes() == b"not a list"
    assert (root / "failed" / f"{kept_txt}.error.txt").exists()
    archived_long = [n for n in files(root / "archive") if n.startswith("長")]
    assert sorted(_sha((root / "archive" / n).read_bytes()) for n in archived_long) == sorted(
        [_sha(csv_bytes(10, 70)), _sha(csv_bytes(11, 74))]
    )


def test_what_a_file_contains_never_reaches_the_ledger_the_log_or_status(tmp_path):
    """B6: a CSV without a header row starts with personal-looking data (synthetic): it fails, quietly."""
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml", scorer="tests.dropfolder_scorers:explode_on_boom")
    secrets = ["林測試", "0912345678", "A123456789", "台北市信義路一段1號", "陳範例", "0922333444"]
    headerless = "林測試,0912345678,A123456789,台北市信義路一段1號\n陳範例,0922333444,B234567890,新北市板橋區\n"
    drop(root, "headerless.csv", headerless.encode("utf-8"))
    drop(root, "boom.csv", headerless.encode("utf-8"))  # the scorer raises on it: an internal error
    service = ServiceProcess(root, "--once", config=config)
    assert service.wait(60) == 0
    assert files(root / "failed") == ["boom.csv", "boom.csv.error.txt", "headerless.csv", "headerless.csv.error.txt"]
    stored = " ".join(str(v) for row in ledger_rows(root) for v in row.values())
    shown = run_cli("status", str(root)).stdout + service.log_path.read_text(encoding="utf-8")
    for secret in secrets:
        assert secret not in stored and secret not in shown, f"{secret} leaked"
    assert "no sheet with recognisable headers" in shown and "internal error while scoring (RuntimeError at" in shown


def test_a_claim_of_a_service_on_another_pc_that_stopped_hours_ago_is_recovered_by_a_once_run(tmp_path):
    """B4: --once (Task Scheduler every 5 minutes) judges another PC's heartbeat by the share's clock.

    A claim whose heartbeat is two hours old is taken over at once; one whose heartbeat is kept
    fresh (a live service on that PC) is left alone.
    """
    import threading

    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml", lease=3.0, scorer=STAND_IN)  # claims and leases, not scoring
    claims, instances = root / ".state" / "claims", root / ".state" / "instances"
    for run, owner, name in (
        ("20260101T000000-abcdef", "999-abcd@otherpc", "orphan.csv"),
        ("20260101T000001-fedcba", "998-dcba@livepc", "held.csv"),
    ):
        (claims / f"{run}~{owner}").mkdir(parents=True)
        (claims / f"{run}~{owner}" / name).write_bytes(csv_bytes(12, 80 + len(name)))
        instances.mkdir(exist_ok=True)
        (instances / owner).touch()
    hours_ago = time.time() - 7200
    os.utime(instances / "999-abcd@otherpc", (hours_ago, hours_ago))
    os.utime(claims / "20260101T000000-abcdef~999-abcd@otherpc", (hours_ago, hours_ago))
    stop = threading.Event()

    def live_heartbeat():
        while not stop.wait(0.3):
            os.utime(instances / "998-dcba@livepc")

    beating = threading.Thread(target=live_heartbeat, daemon=True)
    beating.start()
    try:
        once = ServiceProcess(root, "--once", config=config)
        assert once.wait(60) == 0
    finally:
        stop.set()
        beating.join()
    assert [e["file"] for e in once.events("recovered")] == ["orphan.csv"]
    assert results(root) == ["orphan.scored.xlsx"] and files(root / "archive") == ["orphan.csv"]
    orphan = (root / "archive" / "orphan.csv").read_bytes()
    assert stand_in_source(root / "outbox" / "orphan.scored.xlsx") == ("orphan.csv", _sha(orphan))
    assert [p.name for p in claims.glob("*/*")] == ["held.csv"], "a live service's claim is not taken"


def test_an_empty_file_waits_for_its_writer_and_is_failed_only_after_the_grace_period(tmp_path):
    """Matrix 3: a 0-byte file is a copy that has not started yet, until ``grace`` says otherwise."""
    root = tmp_path / "root"
    grace = 4.0  # long enough for the late copy below to arrive within it, even on a loaded machine
    config = write_config(tmp_path / "c.toml", grace=grace, scorer=STAND_IN)
    with ServiceProcess(root, config=config) as service:
        wait_until(lambda: service.events("watch_armed"), 20, message="watching")
        (root / "inbox" / "never.csv").write_bytes(b"")
        (root / "inbox" / "late.csv").write_bytes(b"")
        wait_until(
            lambda: {e["file"] for e in service.events("deferred")} == {"never.csv", "late.csv"},
            20,
            message="both deferred",
        )
        assert "never.csv" in files(root / "inbox") and "late.csv" in files(root / "inbox"), "waiting, not failed"
        (root / "inbox" / "late.csv").write_bytes(csv_bytes(10, 90))
        wait_until(lambda: settled_everything(root, 2), 60, message="both done")
        assert service.stop() == 0
        events = service.events()
    assert results(root) == ["late.scored.xlsx"], "the copy that arrived late is scored, not blamed"
    assert files(root / "failed") == ["never.csv", "never.csv.error.txt"]
    waited = _ts(_last(events, "never.csv", "failed")) - _ts(_last(events, "never.csv", "received"))
    assert waited >= grace * 0.9, "an empty file is not failed before the grace period"


def test_an_excel_save_over_a_waiting_file_is_scored_once_with_the_saved_content(tmp_path):
    """Matrix 2 (KB 814068): owner file, temp without extension, original deleted, temp renamed."""
    root = tmp_path / "root"
    config = write_config(tmp_path / "c.toml", scorer=STAND_IN)
    first, saved = xlsx_bytes(20, 91), xlsx_bytes(25, 92)
    with ServiceProcess(root, "--settle", "2", config=config) as service:
        wait_until(lambda: service.events("watch_armed"), 20, message="watching")
        began = time.monotonic()
        (root / "inbox" / "book.xlsx").write_bytes(first)
        (root / "inbox" / "~$book.xlsx").write_bytes(b"owner")  # the rep opens it in Excel
        (root / "inbox" / "A1B2C3D4").write_bytes(saved)  # … and saves
        (root / "inbox" / "book.xlsx").unlink()
        os.rename(root / "inbox" / "A1B2C3D4", root / "inbox" / "book.xlsx")
        quick = time.monotonic() - began < 1.0  # well inside the 2 s quiet period
        wait_until(
            lambda: saved in [(root / "archive" / n).read_bytes() for n in files(root / "archive")],
            60,
            message="the saved content archived",
        )
        (root / "inbox" / "~$book.xlsx").unlink()  # Excel closed
        assert service.stop() == 0
    archived = [(root / "archive" / n).read_bytes() for n in files(root / "archive")]
    assert archived.count(saved) == 1 and len(results(root)) == len(archived)
    if quick:
        assert archived == [saved] and results(root) == ["book.scored.xlsx"]
    logged = {e.get("file") for e in service.events()}
    assert not logged & {"A1B2C3D4", "~$book.xlsx"}, "temp and owner files are never touched"


def test_fifty_thousand_files_beside_inbox_are_never_listed_or_stat_ed_by_a_polling_service(tmp_path):
    """Matrix 16: only inbox/ is watched and scanned; a huge archive/ costs nothing (seen with strace)."""
    if not shutil.which("strace"):
        pytest.skip("strace is not installed")
    root = tmp_path / "root"
    for folder in ("archive", "reports"):
        (root / folder).mkdir(parents=True)
    for i in range(50_000):
        (root / ("archive" if i % 2 else "reports") / f"old-{i:05d}.csv").touch()
    config = write_config(tmp_path / "c.toml", scorer=STAND_IN)
    trace = tmp_path / "trace.txt"
    wrap = ["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=%file,getdents64,close", "-o", str(trace)]
    probe = subprocess.run([*wrap[:-2], "-o", os.devnull, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"strace cannot trace here: {probe.stderr.decode(errors='replace').strip()}")
    with ServiceProcess(root, "--poll", "0.2", config=config, wrap=wrap) as service:
        wait_until(lambda: service.events("watch_armed"), 60, message="watching")
        drop(root, "new.csv", csv_bytes(10, 93))
        wait_until(lambda: "new.csv" in files(root / "archive"), 90, message="new.csv")
        time.sleep(1.0)  # a few more polls
        [watched] = child_pids(service.pid)  # the service under strace
        os.kill(watched, signal.SIGTERM)
        assert service.wait(60) == 0
    calls, unfinished = [], {}  # (pid, call) with strace's "<unfinished ...>" / "<... resumed>" halves joined
    for line in trace.read_text(errors="replace").splitlines():
        match = re.match(r"(\d+)\s+(.*)", line)
        if not match:
            continue
        pid, call = match.groups()
        if call.endswith("<unfinished ...>"):
            unfinished[pid] = call[: -len("<unfinished ...>")]
            continue
        resumed = re.match(r"<\.\.\. \w+ resumed>(.*)", call)
        if resumed:
            call = unfinished.pop(pid, "") + resumed.group(1)
        calls.append((pid, call))
    touched = [call for _, call in calls if "old-" in call]
    assert touched == [], f"sibling files were looked at: {touched[:3]}"
    open_dirs: dict[tuple, str] = {}  # (pid, fd) → folder; a folder may be opened just to fsync it,
    listed = []  # so listing means getdents64 on it
    for pid, call in calls:
        opened = re.match(r'openat\(AT_FDCWD, "[^"]*/root/(archive|reports|inbox)", .*O_DIRECTORY.*\)\s*= (\d+)', call)
        if opened:
            open_dirs[(pid, opened.group(2))] = opened.group(1)
        elif call.startswith(("getdents64(", "close(")):
            fd = (pid, re.match(r"\w+\((\d+)", call).group(1))
            if call.startswith("getdents64(") and fd in open_dirs:
                listed.append(open_dirs[fd])
            elif call.startswith("close("):
                open_dirs.pop(fd, None)
    assert "inbox" in listed, "the trace sees the scans of inbox/ (else it proves nothing)"
    listed = [folder for folder in listed if folder != "inbox"]
    assert listed == [], f"a sibling folder was listed: {listed[:3]}"


def test_a_misspelt_config_option_stops_watch_at_start_with_exit_2_naming_it(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[service]\nsettel = 3\n", encoding="utf-8")
    done = subprocess.run(
        [PYTHON, "-m", "processor.cli", "watch", str(tmp_path / "root"), "--config", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 2 and "settel" in done.stderr
    assert not (tmp_path / "root").exists()


def _mapped(pid: int, package: str) -> bool:
    """Whether a process has ``package``'s compiled modules mapped: it has imported the package."""
    with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as fh:
        return f"/{package}/" in fh.read()


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="reads a worker's mapped files from /proc (Linux)")
def test_a_worker_loads_pandas_with_its_first_file_to_score_not_when_it_starts(tmp_path):
    """A real spawned worker of the pool with the real scorer: after start-up and a job with no file
    (a claim already gone) it has not imported pandas or numpy; scoring its first file loads them."""
    from processor.service.names import Folders, new_run_id
    from processor.service.options import load_options
    from processor.service.pool import WorkerPool
    from processor.service.reports import EventLog

    root = tmp_path / "share"
    Folders(root).make()
    pool = WorkerPool(root, load_options(None, settle=0.0, as_of="2024-06-28"), "t", EventLog(str(tmp_path / "log")))
    pool.start()
    try:
        [slot] = pool.slots

        def outcome(job: dict) -> str:
            pool.send(slot, job)
            wait_until(lambda: not slot.process.is_alive() or slot.conn.poll(), 120, message="the worker's answer")
            return pool.results()[0]["outcome"]

        assert outcome({"kind": "claim", "claim": "gone-already", "run_id": new_run_id()}) == "gone"
        assert not _mapped(slot.process.pid, "pandas") and not _mapped(slot.process.pid, "numpy")
        drop(root, "a.csv", csv_bytes(20, seed=1))
        assert outcome({"kind": "inbox", "name": "a.csv", "run_id": new_run_id()}) == "archived"
        assert _mapped(slot.process.pid, "pandas") and _mapped(slot.process.pid, "numpy")
    finally:
        pool.shutdown()
