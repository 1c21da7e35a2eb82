"""The drop folder's last line of defence (issue 14): each file is scored under a memory limit and
a time limit. A worker past either is ended by the service, the file goes to failed/ with a report
naming the limit and how to split or re-save it, and the files around it are scored as usual.

Real processes throughout: the service runs as a subprocess with real spawned workers; the
scorer (tests/dropfolder_scorers.py:hog_or_stall) is the real one except for files named *hog*
(memory grows until the service ends the worker) and *stall* (never finishes).
"""

from __future__ import annotations

from dropfolder_kit import ServiceProcess, csv_bytes, drop, files, ledger_rows, read_events, results, write_config


def test_a_file_past_the_memory_or_time_limit_is_failed_with_a_report_and_the_files_around_it_are_scored(tmp_path):
    root = tmp_path / "share"
    for sub in ("inbox", "outbox", "archive", "failed"):
        (root / sub).mkdir(parents=True)
    config = write_config(
        tmp_path / "limits.toml", scorer="tests.dropfolder_scorers:hog_or_stall", memory_limit_mb=600, timeout=20
    )
    names = ["a.csv", "hog.csv", "b.csv", "stall.csv", "c.csv"]
    for i, name in enumerate(names):
        drop(root, name, csv_bytes(20, seed=i))
    service = ServiceProcess(root, "--once", config=config, log=tmp_path / "service.log")
    assert service.wait(240) == 0
    assert sorted(results(root)) == ["a.scored.xlsx", "b.scored.xlsx", "c.scored.xlsx"]
    assert files(root / "archive") == ["a.csv", "b.csv", "c.csv"]
    assert files(root / "failed") == ["hog.csv", "hog.csv.error.txt", "stall.csv", "stall.csv.error.txt"]
    assert files(root / "inbox") == [], "nothing left behind or lost"
    hog = (root / "failed" / "hog.csv.error.txt").read_text(encoding="utf-8")
    stall = (root / "failed" / "stall.csv.error.txt").read_text(encoding="utf-8")
    assert "記憶體超過上限 600 MB" in hog and "memory limit of 600 MB" in hog and "split it" in hog
    assert "時間上限" in stall and "time limit of 20 s" in stall and "拆成" in stall
    assert (root / "failed" / "hog.csv").read_bytes() == csv_bytes(20, seed=1), "the original is kept whole"
    events = read_events(tmp_path / "service.log")
    limit = next(e for e in events if e.get("event") == "memory_limit")
    assert limit["file"] == "hog.csv" and limit["rss_mb"] > 600
    assert [e["file"] for e in events if e.get("event") == "timeout"] == ["stall.csv"]
    assert {r["status"] for r in ledger_rows(root)} == {"archived", "failed"}
