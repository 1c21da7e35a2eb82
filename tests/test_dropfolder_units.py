"""Fast checks of the drop-folder building blocks on real files and a real SQLite ledger."""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from processor.dropfolder import IGNORE, OK, UNSUPPORTED, classify, kept_names, load_options, place, result_names
from processor.ledger import ARCHIVED, DUPLICATE, WRITTEN, Ledger


@pytest.mark.parametrize("name, expected", [
    ("~$週報.xlsx", IGNORE), (".~lock.週報.xlsx#", IGNORE), (".hidden.csv", IGNORE), ("8A1B2C3D", IGNORE),
    ("book.xlsx.tmp", IGNORE), ("list.csv.crdownload", IGNORE), ("big.xlsx.part", IGNORE), ("Thumbs.db", IGNORE),
    ("desktop.ini", IGNORE), ("週報.xlsx", OK), ("LIST.CSV", OK), ("macro.xlsm", OK),
    ("notes.txt", UNSUPPORTED), ("old.xls", UNSUPPORTED), ("photo.JPG", UNSUPPORTED),
])
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
    decision, name = led.begin_scoring("r1", "h", result_names("a.csv"), lambda n: n == "a.scored.xlsx",
                                       lambda c: False)
    assert (decision, name) == (WRITTEN, "a.scored.xlsx")


def test_ledger_calls_the_same_content_a_duplicate_once_it_has_a_result(tmp_path):
    led = Ledger(tmp_path / "l.sqlite")
    led.insert("r1", "a.csv", claim="r1~me", instance="me", size=3)
    led.insert("r2", "b.csv", claim="r2~me", instance="me", size=3)
    led.begin_scoring("r1", "same", result_names("a.csv"), lambda n: False, lambda c: False)
    busy, _ = led.begin_scoring("r2", "same", result_names("b.csv"), lambda n: False, lambda c: True)
    assert busy == "busy"  # the first copy is being scored right now by a live claim
    led.update("r1", status=ARCHIVED)
    decision, name = led.begin_scoring("r2", "same", result_names("b.csv"), lambda n: n == "a.scored.xlsx",
                                       lambda c: True)
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

    from processor.dropfolder import Service

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
