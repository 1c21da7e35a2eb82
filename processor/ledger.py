"""The drop-folder ledger: one SQLite row per dropped file, in ``ROOT/.state/ledger.sqlite``.

The ledger is what makes crash recovery exact (DESIGN §5 "Drop folder"): before a file is
scored its row says ``scoring`` and reserves the result name; once the result is in outbox/
the row says ``written``; once the original is in archive/ it says ``archived``. A claim found
after a crash is resumed from its row, so a result written just before ``kill -9`` is archived,
not scored again, and content already scored (same SHA-256) is never scored twice.

Every connection uses SQLite's rollback journal (not WAL, which needs shared memory and breaks
on network shares) and a long busy timeout, so several workers and several service instances on
one share serialise their few short transactions instead of failing.

>>> led = Ledger(Path(tempfile.mkdtemp()) / "ledger.sqlite")
>>> led.insert("r1", "book.xlsx", claim="me~r1", instance="me", size=10); led.get("r1")["status"]
'claimed'
"""

from __future__ import annotations

import sqlite3
import tempfile  # noqa: F401  (used by the doctest)
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator

#: statuses a row moves through; the last three are final
CLAIMED, SCORING, WRITTEN, ARCHIVED, DUPLICATE, FAILED = (
    "claimed", "scoring", "written", "archived", "duplicate", "failed")
FINAL = (ARCHIVED, DUPLICATE, FAILED)

SCHEMA = """
CREATE TABLE IF NOT EXISTS drops (
    run_id       TEXT PRIMARY KEY,   -- one per dropped file; shown in error reports
    name         TEXT NOT NULL,      -- the file name as dropped
    size         INTEGER,
    content_hash TEXT,               -- SHA-256 of the bytes that were scored
    status       TEXT NOT NULL,
    claim        TEXT,               -- current claim folder under .state/claims/
    instance     TEXT,               -- service instance holding the claim
    output_name  TEXT,               -- result file in outbox/ (reserved before scoring)
    output_key   TEXT UNIQUE,        -- casefolded output_name: Windows compares names that way
    duplicate_of TEXT,               -- run_id whose result this content already has
    archive_name TEXT,
    failed_name  TEXT,
    error        TEXT,               -- zh-TW + English one-liner for status / failed drops
    attempts     INTEGER NOT NULL DEFAULT 0,
    crashes      INTEGER NOT NULL DEFAULT 0,  -- worker processes that died on this file
    claimed_at   TEXT,
    finished_at  TEXT,
    duration_s   REAL
);
CREATE INDEX IF NOT EXISTS drops_hash ON drops (content_hash);
CREATE INDEX IF NOT EXISTS drops_status ON drops (status);
"""


def utc_now() -> str:
    """ISO-8601 UTC timestamp for the ledger (the service is a shell: it may read the clock)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Ledger:
    """A thin, process-safe wrapper over the ``drops`` table."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.db = sqlite3.connect(str(self.path), timeout=120, isolation_level=None,
                                  check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=DELETE")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)  # idempotent (IF NOT EXISTS); safe when two instances start at once

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT: takes the write lock up front so check-then-reserve is atomic."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- rows -----------------------------------------------------------------------------
    def get(self, run_id: str) -> dict | None:
        row = self.db.execute("SELECT * FROM drops WHERE run_id = ?", (run_id,)).fetchone()
        return dict(row) if row else None

    def insert(self, run_id: str, name: str, *, claim: str, instance: str, size: int | None) -> None:
        """A freshly claimed file (or a recovered claim the ledger never heard of)."""
        with self.transaction():
            self._insert(run_id, name, claim, instance, size)

    def _insert(self, run_id, name, claim, instance, size) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO drops (run_id, name, size, status, claim, instance, claimed_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)", (run_id, name, size, CLAIMED, claim, instance, utc_now()))

    def update(self, run_id: str, **values) -> None:
        if not values:
            return
        columns = ", ".join(f"{key} = ?" for key in values)
        with self.transaction():
            self.db.execute(f"UPDATE drops SET {columns} WHERE run_id = ?", (*values.values(), run_id))

    def note_crash(self, run_id: str) -> int:
        """Count a worker process that died holding this file; returns the new count."""
        with self.transaction():
            self.db.execute("UPDATE drops SET crashes = crashes + 1 WHERE run_id = ?", (run_id,))
            row = self.db.execute("SELECT crashes FROM drops WHERE run_id = ?", (run_id,)).fetchone()
        return int(row["crashes"]) if row else 0

    def begin_scoring(self, run_id: str, content_hash: str, candidates: Iterable[str],
                      output_exists: Callable[[str], bool], claim_alive: Callable[[str], bool],
                      new_row: dict | None = None) -> tuple[str, str | None]:
        """Decide, atomically, what to do with a claimed file whose bytes hash to ``content_hash``.

        Returns ``("written", name)`` when its result is already in outbox/ (a crash came
        between writing it and archiving), ``("duplicate", name)`` when the same content was
        scored before, ``("busy", None)`` when the same content is being scored right now by a
        live claim, else ``("score", name)`` with the result name reserved in this row.
        ``new_row`` (name, claim, instance, size) creates the row in the same transaction: each
        commit is an fsync, and a claim without a row is recovered anyway.
        """
        with self.transaction():
            if new_row:
                self._insert(run_id, **new_row)
            row = dict(self.db.execute("SELECT * FROM drops WHERE run_id = ?", (run_id,)).fetchone())
            if row["status"] in (WRITTEN, ARCHIVED):
                return WRITTEN, row["output_name"]
            if row["status"] == SCORING and row["output_name"] and output_exists(row["output_name"]):
                self.db.execute("UPDATE drops SET status = ? WHERE run_id = ?", (WRITTEN, run_id))
                return WRITTEN, row["output_name"]
            others = self.db.execute(
                "SELECT run_id, status, output_name, claim, duplicate_of FROM drops"
                " WHERE content_hash = ? AND run_id != ? AND status IN (?, ?, ?, ?)",
                (content_hash, run_id, WRITTEN, ARCHIVED, DUPLICATE, SCORING)).fetchall()
            # a duplicate only while the earlier result is still there for the rep to open
            done = [o for o in others if o["status"] in (WRITTEN, ARCHIVED) and o["output_name"]
                    and output_exists(o["output_name"])]
            if done:
                self.db.execute("UPDATE drops SET status = ?, duplicate_of = ?, output_name = ?,"
                                " content_hash = ? WHERE run_id = ?",
                                (DUPLICATE, done[0]["run_id"], done[0]["output_name"], content_hash, run_id))
                return DUPLICATE, done[0]["output_name"]
            if any(o["status"] == SCORING and o["claim"] and claim_alive(o["claim"]) for o in others):
                return "busy", None
            name = row["output_name"]
            if name is None:
                for candidate in candidates:
                    taken = self.db.execute("SELECT 1 FROM drops WHERE output_key = ?",
                                            (candidate.casefold(),)).fetchone()
                    if not taken and not output_exists(candidate):
                        name = candidate
                        break
            self.db.execute("UPDATE drops SET status = ?, content_hash = ?, output_name = ?, output_key = ?,"
                            " attempts = attempts + 1 WHERE run_id = ?",
                            (SCORING, content_hash, name, name.casefold(), run_id))
            return "score", name

    def reserve_name(self, run_id: str, column: str, candidates: Iterable[str], exists: Callable[[str], bool],
                     **also) -> str:
        """Keep (or pick and store) a free file name for ``archive_name`` / ``failed_name``.

        ``also`` sets further columns in the same transaction (``status="written"`` right after
        the result is placed: one commit instead of two).
        """
        assert column in ("archive_name", "failed_name")
        with self.transaction():
            if also:
                self.db.execute(f"UPDATE drops SET {', '.join(f'{k} = ?' for k in also)} WHERE run_id = ?",
                                (*also.values(), run_id))
            current = self.db.execute(f"SELECT {column} FROM drops WHERE run_id = ?", (run_id,)).fetchone()
            if current and current[0]:
                return current[0]
            for candidate in candidates:
                taken = self.db.execute(f"SELECT 1 FROM drops WHERE {column} = ? AND run_id != ?",
                                        (candidate, run_id)).fetchone()
                if not taken and not exists(candidate):
                    self.db.execute(f"UPDATE drops SET {column} = ? WHERE run_id = ?", (candidate, run_id))
                    return candidate
        raise RuntimeError("no free name")  # candidates are unbounded; unreachable

    # -- reporting ------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT status, COUNT(*) AS n FROM drops GROUP BY status").fetchall()
        return {row["status"]: int(row["n"]) for row in rows}

    def last_errors(self, limit: int = 5) -> list[dict]:
        rows = self.db.execute(
            "SELECT run_id, name, error, finished_at FROM drops WHERE status = ?"
            " ORDER BY finished_at DESC, rowid DESC LIMIT ?", (FAILED, limit)).fetchall()
        return [dict(row) for row in rows]

    def rows(self) -> list[dict]:
        return [dict(row) for row in self.db.execute("SELECT * FROM drops ORDER BY rowid")]
