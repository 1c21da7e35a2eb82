"""The drop folder's last line of defence (issue 14): each file is scored under a memory limit and
a time limit. A worker past either is ended by the service, the file goes to failed/ with a report
naming the limit and how to split or re-save it, and the files around it are scored as usual.

Real processes throughout: the service runs as a subprocess with real spawned workers; the
scorer (tests/dropfolder_scorers.py:hog_or_stall) is the fast stand-in (a workbook carrying the
input's SHA-256: the limits are the service's behaviour, not scoring's) except for files named *hog*
(memory grows until the service ends the worker) and *stall* (never finishes). With the stand-in a
worker holds ~100 MB and a file takes well under a second, so the limits can be small: 300 MB, 4 s.
"""

from __future__ import annotations

import hashlib

from dropfolder_kit import (
    ServiceProcess,
    csv_bytes,
    drop,
    files,
    ledger_rows,
    read_events,
    results,
    stand_in_source,
    write_config,
)


def test_a_file_past_the_memory_or_time_limit_is_failed_with_a_report_and_the_files_around_it_are_scored(tmp_path):
    root = tmp_path / "share"
    for sub in ("inbox", "outbox", "archive", "failed"):
        (root / sub).mkdir(parents=True)
    config = write_config(
        tmp_path / "limits.toml", scorer="tests.dropfolder_scorers:hog_or_stall", memory_limit_mb=300, timeout=3
    )
    names = ["a.csv", "hog.csv", "b.csv", "stall.csv", "c.csv"]
    for i, name in enumerate(names):
        drop(root, name, csv_bytes(20, seed=i))
    service = ServiceProcess(root, "--once", config=config, log=tmp_path / "service.log")
    assert service.wait(240) == 0
    assert sorted(results(root)) == ["a.scored.xlsx", "b.scored.xlsx", "c.scored.xlsx"]
    for i, name in enumerate(names):  # each result is the one of its own input
        if name[0] in "abc":
            digest = hashlib.sha256(csv_bytes(20, seed=i)).hexdigest()
            assert stand_in_source(root / "outbox" / f"{name[0]}.scored.xlsx") == (name, digest)
    assert files(root / "archive") == ["a.csv", "b.csv", "c.csv"]
    assert files(root / "failed") == ["hog.csv", "hog.csv.error.txt", "stall.csv", "stall.csv.error.txt"]
    assert files(root / "inbox") == [], "nothing left behind or lost"
    hog = (root / "failed" / "hog.csv.error.txt").read_text(encoding="utf-8")
    stall = (root / "failed" / "stall.csv.error.txt").read_text(encoding="utf-8")
    assert "記憶體超過上限 300 MB" in hog and "memory limit of 300 MB" in hog and "split it" in hog
    assert "時間上限" in stall and "time limit of 3 s" in stall and "拆成" in stall
    assert (root / "failed" / "hog.csv").read_bytes() == csv_bytes(20, seed=1), "the original is kept whole"
    events = read_events(tmp_path / "service.log")
    limit = next(e for e in events if e.get("event") == "memory_limit")
    assert limit["file"] == "hog.csv" and limit["rss_mb"] > 300
    assert [e["file"] for e in events if e.get("event") == "timeout"] == ["stall.csv"]
    assert [e for e in events if e.get("event") == "error"] == [], "the service loop itself never failed"
    assert {r["status"] for r in ledger_rows(root)} == {"archived", "failed"}
