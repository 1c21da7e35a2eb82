"""Fast checks of the drop-folder building blocks on real files and a real SQLite ledger."""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from processor.service.dropfolder import (
    IGNORE,
    OK,
    UNSUPPORTED,
    classify,
    kept_names,
    load_options,
    place,
    result_names,
)
from processor.service.ledger import ARCHIVED, DUPLICATE, WRITTEN, Ledger


@pytest.mark.parametrize(
    "name, expected",
    [
        ("~$週報.xlsx", IGNORE),
        (".~lock.週報.xlsx#", IGNORE),
        (".hidden.csv", IGNORE),
        ("8A1B2C3D", IGNORE),
        ("book.xlsx.tmp", IGNORE),
        ("list.csv.crdownload", IGNORE),
        ("big.xlsx.part", IGNORE),
        ("Thumbs.db", IGNORE),
        ("desktop.ini", IGNORE),
        ("週報.xlsx", OK),
        ("LIST.CSV", OK),
        ("macro.xlsm", OK),
        ("notes.txt", UNSUPPORTED),
        ("old.xls", OK),
        ("photo.JPG", UNSUPPORTED),
        ("report.docx", UNSUPPORTED),
    ],
)
def test_names_are_sorted_into_noise_inputs_and_unsupported_files(name, expected):
    assert classify(name) == expected


WINDOWS_INVALID = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


@hsettings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=120).filter(lambda s: "/" not in s and "\x00" not in s))
def test_every_result_name_is_valid_on_windows_and_fits_a_file_system(stem):
    for _, name in zip(range(3), result_names(stem + ".xlsx")):
        assert not WINDOWS_INVALID.search(name)
        assert not name.endswith((" ", "."))
        assert name.split(".")[0].lower() not in {"con", "prn", "aux", "nul", "com1", "lpt1"}
        assert len(name.encode("utf-8")) <= 255


def test_result_names_for_names_differing_only_in_case_collide_in_the_ledger(tmp_path):
    led = Ledger(tmp_path / "l.sqlite")
    for run, name in (("r1", "Report.xlsx"), ("r2", "report.xlsx")):
        led.insert(run, name, claim=f"{run}~me", instance="me", size=1)
    _, first = led.begin_scoring("r1", "h1", result_names("Report.xlsx"), lambda n: False, lambda c: False)
    _, second = led.begin_scoring("r2", "h2", result_names("report.xlsx"), lambda n: False, lambda c: False)
    assert (first, second) == ("Report.scored.xlsx", "report (2).scored.xlsx")


def test_place_never_replaces_an_existing_file_and_finishes_an_interrupted_move(tmp_path):
    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_text("new")
    dst.write_text("old")
    with pytest.raises(FileExistsError):
        place(src, dst)
    assert dst.read_text() == "old" and src.exists()
    dst.unlink()
    os.link(src, dst)  # as if killed between link and unlink
    place(src, dst)
    assert dst.read_text() == "new" and not src.exists()


def test_ledger_resumes_a_result_written_before_a_crash_instead_of_scoring_again(tmp_path):
    led = Ledger(tmp_path / "l.sqlite")
    led.insert("r1", "a.csv", claim="r1~me", instance="me", size=3)
    decision, name = led.begin_scoring("r1", "h", result_names("a.csv"), lambda n: False, lambda c: False)
    assert (decision, name) == ("score", "a.scored.xlsx")
    # crash after os.replace, before the ledger said "written": the result file is there
    decision, name = led.begin_scoring(
        "r1", "h", result_names("a.csv"), lambda n: n == "a.scored.xlsx", lambda c: False
    )
    assert (decision, name) == (WRITTEN, "a.scored.xlsx")


def test_ledger_calls_the_same_content_a_duplicate_once_it_has_a_result(tmp_path):
    led = Ledger(tmp_path / "l.sqlite")
    led.insert("r1", "a.csv", claim="r1~me", instance="me", size=3)
    led.insert("r2", "b.csv", claim="r2~me", instance="me", size=3)
    led.begin_scoring("r1", "same", result_names("a.csv"), lambda n: False, lambda c: False)
    busy, _ = led.begin_scoring("r2", "same", result_names("b.csv"), lambda n: False, lambda c: True)
    assert busy == "busy"  # the first copy is being scored right now by a live claim
    led.update("r1", status=ARCHIVED)
    decision, name = led.begin_scoring(
        "r2", "same", result_names("b.csv"), lambda n: n == "a.scored.xlsx", lambda c: True
    )
    assert (decision, name) == (DUPLICATE, "a.scored.xlsx")


def test_ledger_scores_known_content_again_when_its_earlier_result_was_removed_from_outbox(tmp_path):
    led = Ledger(tmp_path / "l.sqlite")
    led.insert("r1", "a.csv", claim="r1~me", instance="me", size=3)
    led.begin_scoring("r1", "same", result_names("a.csv"), lambda n: False, lambda c: False)
    led.update("r1", status=ARCHIVED)
    led.insert("r2", "a.csv", claim="r2~me", instance="me", size=3)
    decision, name = led.begin_scoring("r2", "same", result_names("a.csv"), lambda n: False, lambda c: False)
    assert (decision, name) == ("score", "a (2).scored.xlsx")  # the old name stays reserved in the ledger


def test_archive_names_are_timestamped_when_the_name_is_taken():
    names = kept_names("週報.xlsx")
    assert next(names) == "週報.xlsx"
    assert re.fullmatch(r"週報\.\d{8}-\d{6}\.xlsx", next(names))


def test_config_file_options_are_overridden_by_flags_and_unknown_options_rejected(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[service]\nsettle = 5\nworkers = 3\n[settings]\nprice = 3000\n", encoding="utf-8")
    options = load_options(config, settle=0.5, workers=None)
    assert (options.settle, options.workers, options.config) == (0.5, 3, str(config))
    config.write_text("[service]\nsettel = 5\n", encoding="utf-8")
    with pytest.raises(ValueError, match="settel"):
        load_options(config)


def test_the_sample_config_in_the_docs_loads_as_service_options_and_settings():
    from pathlib import Path

    from processor.settings import load_config

    sample = Path(__file__).resolve().parents[1] / "docs" / "dropfolder.sample.toml"
    options = load_options(sample)
    assert (options.poll, options.workers, options.settle, options.log_file) == (5.0, 2, 3.0, "")
    assert load_config(sample).contact_cost == 175


def test_leftover_partial_results_of_runs_without_a_claim_are_swept_and_live_ones_kept(tmp_path):
    import time as _time

    from processor.service.dropfolder import Service

    service = Service(tmp_path, load_options(None))
    service.f.make()
    old = _time.time() - 3600
    for run in ("dead-run", "live-run", "fresh-run"):
        (service.f.partial / run).mkdir(parents=True)
        (service.f.partial / run / "x.scored.xlsx").write_bytes(b"partial")
    for run in ("dead-run", "live-run"):
        os.utime(service.f.partial / run, (old, old))
    service._sweep_partials({"live-run"})
    assert sorted(p.name for p in service.f.partial.iterdir()) == ["fresh-run", "live-run"]


@hsettings(max_examples=200, deadline=None)
@given(
    st.text(min_size=1, max_size=120).filter(lambda s: "/" not in s and "\x00" not in s),
    st.sampled_from([".csv", ".xlsx", ".txt", ".a:b", ""]),
)
def test_every_archive_and_failed_name_is_windows_valid_and_leaves_room_for_its_report(stem, ext):
    from processor.service.dropfolder import REPORT_SUFFIX

    for _, name in zip(range(3), kept_names(stem + ext)):
        assert not WINDOWS_INVALID.search(name) and not name.endswith((" ", "."))
        assert len(f"{name}{REPORT_SUFFIX}".encode()) <= 255


def test_a_name_near_the_byte_limit_is_shortened_whole_characters_at_a_time():
    long = "長" * 80 + ".csv"  # 244 bytes: fits as dropped, not once timestamped
    names = kept_names(long)
    first, stamped = next(names), next(names)
    assert first.endswith(".csv") and stamped.endswith(".csv") and set(first[:-4]) == {"長"}
    assert len(f"{stamped}.error.txt".encode()) <= 255
    assert len(next(kept_names(long, name_max=100)).encode("utf-8")) <= 100 - len(".20261123-091203-999.error.txt")


@pytest.mark.parametrize("code", ["EINVAL", "EACCES", "EPERM", "ENOTSUP", "EXDEV"])
def test_where_hard_links_do_not_work_place_falls_back_to_a_checked_rename(tmp_path, code):
    """B7: FAT/exFAT and some shares have no hard links; Windows reports that as EINVAL."""
    import errno

    def no_links(src, dst):
        raise OSError(getattr(errno, code), os.strerror(getattr(errno, code)), str(src), None, str(dst))

    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_text("new")
    place(src, dst, link=no_links)
    assert dst.read_text() == "new" and not src.exists()
    src.write_text("newer")
    with pytest.raises(FileExistsError):
        place(src, dst, link=no_links)
    assert dst.read_text() == "new" and src.read_text() == "newer", "never replaces an existing file"


def test_a_link_error_that_is_not_about_links_is_passed_on_for_a_retry(tmp_path):
    import errno

    def disk_full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    src = tmp_path / "a"
    src.write_text("x")
    with pytest.raises(OSError) as raised:
        place(src, tmp_path / "b", link=disk_full)
    assert raised.value.errno == errno.ENOSPC and src.exists() and not (tmp_path / "b").exists()


def test_archive_names_are_reserved_case_insensitively_as_windows_compares_them(tmp_path):
    led = Ledger(tmp_path / "l.sqlite")
    for run in ("r1", "r2"):
        led.insert(run, "x", claim=f"{run}~me", instance="me", size=1)
    first = led.reserve_name("r1", "archive_name", iter(["Report.xlsx", "Report.1.xlsx"]), lambda n: False)
    second = led.reserve_name("r2", "archive_name", iter(["report.xlsx", "report.1.xlsx"]), lambda n: False)
    assert (first, second) == ("Report.xlsx", "report.1.xlsx")


def test_a_cleared_name_frees_its_key_for_another_run(tmp_path):
    led = Ledger(tmp_path / "l.sqlite")
    for run in ("r1", "r2"):
        led.insert(run, "x", claim=f"{run}~me", instance="me", size=1)
    led.reserve_name("r1", "archive_name", iter(["Report.xlsx"]), lambda n: False)
    led.clear_name("r1", "archive_name")
    assert (led.get("r1")["archive_name"], led.get("r1")["archive_key"]) == (None, None)
    assert led.reserve_name("r2", "archive_name", iter(["REPORT.xlsx", "x.xlsx"]), lambda n: False) == "REPORT.xlsx"


def test_the_same_content_is_a_duplicate_only_for_the_same_day_and_the_same_config(tmp_path):
    """B9: the duplicate key is content hash + as-of date + config key."""
    led = Ledger(tmp_path / "l.sqlite")
    for run in ("r1", "r2", "r3", "r4"):
        led.insert(run, "a.csv", claim=f"{run}~me", instance="me", size=3)
    exists = {"a.scored.xlsx"}.__contains__
    led.begin_scoring(
        "r1", "h", result_names("a.csv"), lambda n: False, lambda c: False, as_of="2024-07-01", config_key="k1"
    )
    led.update("r1", status=ARCHIVED)
    same = led.begin_scoring(
        "r2", "h", result_names("a.csv"), exists, lambda c: False, as_of="2024-07-01", config_key="k1"
    )
    next_day = led.begin_scoring(
        "r3", "h", result_names("a.csv"), exists, lambda c: False, as_of="2024-07-02", config_key="k1"
    )
    other_config = led.begin_scoring(
        "r4", "h", result_names("a.csv"), exists, lambda c: False, as_of="2024-07-01", config_key="k2"
    )
    assert same == (DUPLICATE, "a.scored.xlsx")
    assert next_day[0] == "score" and other_config[0] == "score"


def test_the_config_key_changes_with_the_settings_and_the_scorer_but_not_between_none_and_the_defaults():
    from processor.service.dropfolder import config_key
    from processor.settings import Settings

    plain = config_key(None, "processor.pipeline:score_file")
    assert plain == config_key(Settings(), "processor.pipeline:score_file")
    assert plain != config_key(Settings(price=9000), "processor.pipeline:score_file")
    assert plain != config_key(None, "tests.dropfolder_scorers:slow")


def test_a_ledger_written_by_the_first_release_gets_the_new_columns_and_keeps_its_rows(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE drops (run_id TEXT PRIMARY KEY, name TEXT NOT NULL, size INTEGER, content_hash TEXT,"
        " status TEXT NOT NULL, claim TEXT, instance TEXT, output_name TEXT, output_key TEXT UNIQUE,"
        " duplicate_of TEXT, archive_name TEXT, failed_name TEXT, error TEXT, attempts INTEGER NOT NULL"
        " DEFAULT 0, crashes INTEGER NOT NULL DEFAULT 0, claimed_at TEXT, finished_at TEXT, duration_s REAL)"
    )
    old.execute(
        "INSERT INTO drops (run_id, name, status, archive_name) VALUES ('r0', 'Report.xlsx', 'archived', 'Report.xlsx')"
    )
    old.commit()
    old.close()
    led = Ledger(path)
    assert led.get("r0")["archive_key"] == "report.xlsx" and "as_of" in led.get("r0")
    led.insert("r1", "report.xlsx", claim="r1~me", instance="me", size=1)
    assert (
        led.reserve_name("r1", "archive_name", iter(["report.xlsx", "report.2.xlsx"]), lambda n: False)
        == "report.2.xlsx"
    )


def test_the_error_report_says_where_and_how_to_fix_in_both_languages():
    from processor.errors import UnusableInput
    from processor.service.dropfolder import error_report

    exc = UnusableInput(
        "欄位「金額」不是數字",
        "請改成數字",
        en="column 金額 is not a number",
        fix_en="type the amount as a number, e.g. 1200",
        sheet="交易",
        row=12,
        column="金額",
    )
    text = error_report("list.xlsx", "run-1", exc, "list.xlsx")
    assert "位置：list.xlsx，工作表「交易」，第 12 列，欄位「金額」" in text
    assert "Where: list.xlsx, sheet 交易, row 12, column 金額" in text
    assert "How to fix: type the amount as a number, e.g. 1200" in text
    assert "(the whole file)" in error_report("a.csv", "r", UnusableInput("壞了", en="broken"), "a.csv")


def test_what_the_ledger_and_log_keep_of_a_failure_is_english_and_masks_personal_data():
    from processor.errors import UnusableInput
    from processor.service.dropfolder import describe_exception, summary_line

    quoting = UnusableInput(
        "標題 林測試、0912345678",
        en="header row looks like data: 0912-345-678, A123456789",
        fix_en="put the column names in the first row",
    )
    assert summary_line(quoting) == "header row looks like data: <number>, <id>; put the column names in the first row"
    assert "林測試" not in summary_line(UnusableInput("標題 林測試"))  # no English: nothing of the zh-TW text
    try:
        {"林測試": 1}["陳範例"]
    except KeyError as exc:
        described = describe_exception(exc)
    assert described.startswith("KeyError at test_dropfolder_units.py:") and "陳範例" not in described


def test_full_width_id_numbers_are_masked_in_what_the_ledger_and_log_keep():
    from processor.privacy import VALID, check_ids
    from processor.service.dropfolder import redact

    wide = "Ａ１２３４５６７８９"  # A123456789 typed full-width: passes the checksum once folded
    assert check_ids([wide])[1].tolist() == [VALID]
    assert redact(f"header row looks like data: {wide}") == "header row looks like data: <id>"
    assert redact("ｆ１３１１０４０９３ and F131104093") == "<id> and <id>"


def test_watch_as_of_is_a_flag_only_and_must_be_a_date(tmp_path):
    assert load_options(None, as_of="2024-07-01").as_of == "2024-07-01"
    with pytest.raises(ValueError):
        load_options(None, as_of="yesterday")
    config = tmp_path / "c.toml"
    config.write_text('[service]\nas_of = "2024-07-01"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="as_of"):
        load_options(config)


# -- the worker pool's restarts, on real worker processes and the clock passed to supervise ---------


def _pool(tmp_path, **options):
    from processor.service.names import Folders
    from processor.service.pool import WorkerPool
    from processor.service.reports import EventLog

    root = tmp_path / "share"
    Folders(root).make()
    return WorkerPool(root, load_options(None, settle=0.0, **options), "t", EventLog(str(tmp_path / "log"), "en"))


def test_a_worker_that_dies_starting_is_counted_once_and_restarted_after_a_pause_that_doubles(tmp_path):
    pool = _pool(tmp_path, scorer="no_such_module_for_this_test:score")  # the worker stops at its start
    pool.start()
    try:
        first = pool.slots[0]
        first.process.join(60)
        assert first.process.exitcode == 1
        for _ in range(200):  # the loop passes many times while the dead worker waits for its back-off
            pool.supervise(first.spawned + 1.0, False, lambda *lost: None)
        assert pool.slots[0] is first and first.failures == 1, "one death, counted once; not restarted before 2 s"
        pool.supervise(first.spawned + 2.1, False, lambda *lost: None)
        second = pool.slots[0]
        assert second is not first and second.failures == 1
        second.process.join(60)
        pool.supervise(second.spawned + 3.0, False, lambda *lost: None)
        assert pool.slots[0] is second and second.failures == 2, "the second pause is 4 s"
        pool.supervise(second.spawned + 4.1, False, lambda *lost: None)
        assert pool.slots[0] is not second
    finally:
        pool.shutdown()


def test_a_worker_the_service_ends_at_its_time_limit_is_replaced_at_once_and_its_job_reported(tmp_path):
    from dropfolder_kit import csv_bytes, drop

    from processor.service.names import new_run_id

    pool = _pool(tmp_path, scorer="tests.dropfolder_scorers:hog_or_stall", timeout=1.0)
    pool.start()
    try:
        slot = pool.slots[0]
        drop(pool.root, "stall.csv", csv_bytes(5, seed=0))
        pool.send(slot, {"kind": "inbox", "name": "stall.csv", "run_id": new_run_id()})
        lost = []
        pool.supervise(slot.started + 1.5, False, lambda *args: lost.append(args))  # a second past its limit
        assert [(job["name"], limit) for job, _, limit in lost] == [("stall.csv", ("time", 1.0))]
        assert slot.process.exitcode == -9 and pool.slots[0] is not slot and pool.slots[0].failures == 0
    finally:
        pool.shutdown()
