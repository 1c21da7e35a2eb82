"""The drop-folder ledger: one SQLite row per dropped file, in ``ROOT/.state/ledger.sqlite``.

The ledger is what makes crash recovery exact (DESIGN §5 "Drop folder"): before a file is
scored its row says ``scoring`` and reserves the result name; once the result is in outbox/
the row says ``written``; once the original is in archive/ it says ``archived``. A claim found
after a crash is resumed from its row, so a result written just before ``kill -9`` is archived,
not scored again. Content already scored is not scored twice: the duplicate key is the SHA-256
of the bytes, the as-of date ("today" of the scoring) and the config key (settings, scorer,
program version) — the same list dropped again on another day gets a new result.

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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

#: statuses a row moves through; the last three are final
CLAIMED, SCORING, WRITTEN, ARCHIVED, DUPLICATE, FAILED = (
    "claimed",
    "scoring",
    "written",
    "archived",
    "duplicate",
    "failed",
)
FINAL = (ARCHIVED, DUPLICATE, FAILED)

SCHEMA = """
CREATE TABLE IF NOT EXISTS drops (
    run_id       TEXT PRIMARY KEY,   -- one per dropped file; shown in error reports
    name         TEXT NOT NULL,      -- the file name as dropped
    size         INTEGER,
    content_hash TEXT,               -- SHA-256 of the bytes that were scored
    as_of        TEXT,               -- the day counted as today when it was scored (YYYY-MM-DD)
    config_key   TEXT,               -- settings + scorer + version fingerprint (dropfolder.config_key)
    status       TEXT NOT NULL,
    claim        TEXT,               -- current claim folder under .state/claims/
    instance     TEXT,               -- service instance holding the claim
    output_name  TEXT,               -- result file in outbox/ (reserved before scoring)
    output_key   TEXT UNIQUE,        -- casefolded output_name: Windows compares names that way
    duplicate_of TEXT,               -- run_id whose result this content already has
    archive_name TEXT,
    archive_key  TEXT,               -- casefolded archive_name (unique per folder, as on Windows)
    failed_name  TEXT,
    failed_key   TEXT,
    error        TEXT,               -- English one-liner for status, redacted (never cell contents)
    note         TEXT,               -- last environmental problem while claimed (outbox unwritable …)
    attempts     INTEGER NOT NULL DEFAULT 0,
    crashes      INTEGER NOT NULL DEFAULT 0,  -- worker processes that died on this file
    claimed_at   TEXT,
    finished_at  TEXT,
    duration_s   REAL
);
CREATE INDEX IF NOT EXISTS drops_hash ON drops (content_hash);
CREATE INDEX IF NOT EXISTS drops_status ON drops (status);
"""
#: columns added after the first release: ledgers written by it get them on open
ADDED_COLUMNS = {"as_of": "TEXT", "config_key": "TEXT", "archive_key": "TEXT", "failed_key": "TEXT", "note": "TEXT"}
#: each reserved file name's casefolded twin: the one compared, as Windows compares names
NAME_KEYS = {"output_name": "output_key", "archive_name": "archive_key", "failed_name": "failed_key"}
KEY_INDEXES = """
CREATE INDEX IF NOT EXISTS drops_archive_key ON drops (archive_key);
CREATE INDEX IF NOT EXISTS drops_failed_key ON drops (failed_key);
"""


def utc_now() -> str:
    """ISO-8601 UTC timestamp for the ledger (the service is a shell: it may read the clock)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Ledger:
    """A thin, process-safe wrapper over the ``drops`` table."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.db = sqlite3.connect(str(self.path), timeout=120, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=DELETE")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)  # idempotent (IF NOT EXISTS); safe when two instances start at once
        self._migrate()
        self.db.executescript(KEY_INDEXES)

    def _migrate(self) -> None:
        """Add the columns a ledger of an earlier version lacks (and fill the name keys)."""
        present = {row[1] for row in self.db.execute("PRAGMA table_info(drops)")}
        missing = [name for name in ADDED_COLUMNS if name not in present]
        if not missing:
            return
        with self.transaction():
            present = {row[1] for row in self.db.execute("PRAGMA table_info(drops)")}  # under the write lock
            for name in missing:
                if name not in present:
                    self.db.execute(f"ALTER TABLE drops ADD COLUMN {name} {ADDED_COLUMNS[name]}")
            for column in ("archive_name", "failed_name"):
                rows = self.db.execute(f"SELECT run_id, {column} FROM drops WHERE {column} IS NOT NULL").fetchall()
                self.db.executemany(
                    f"UPDATE drops SET {NAME_KEYS[column]} = ? WHERE run_id = ?",
                    [(row[1].casefold(), row[0]) for row in rows],
                )

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
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, name, size, CLAIMED, claim, instance, utc_now()),
        )

    def update(self, run_id: str, **values) -> None:
        if not values:
            return
        columns = ", ".join(f"{key} = ?" for key in values)
        with self.transaction():
            self.db.execute(f"UPDATE drops SET {columns} WHERE run_id = ?", (*values.values(), run_id))

    def clear_name(self, run_id: str, column: str) -> None:
        """Give up a reserved ``output_name`` / ``archive_name`` / ``failed_name`` (and its key):
        the next reservation picks a name again."""
        self.update(run_id, **{column: None, NAME_KEYS[column]: None})

    def note_crash(self, run_id: str) -> int:
        """Count a worker process that died holding this file; returns the new count."""
        with self.transaction():
            self.db.execute("UPDATE drops SET crashes = crashes + 1 WHERE run_id = ?", (run_id,))
            row = self.db.execute("SELECT crashes FROM drops WHERE run_id = ?", (run_id,)).fetchone()
        return int(row["crashes"]) if row else 0

    def begin_scoring(
        self,
        run_id: str,
        content_hash: str,
        candidates: Iterable[str],
        output_exists: Callable[[str], bool],
        claim_alive: Callable[[str], bool],
        new_row: dict | None = None,
        as_of: str | None = None,
        config_key: str | None = None,
        keep: tuple[Iterable[str], Callable[[str], bool]] | None = None,
    ) -> tuple[str, str | None]:
        """Decide, atomically, what to do with a claimed file whose bytes hash to ``content_hash``.

        Returns ``("written", name)`` when its result is already in outbox/ (a crash came
        between writing it and archiving), ``("duplicate", name)`` when the same content was
        scored before for the same ``as_of`` day and ``config_key``, ``("busy", None)`` when it
        is being scored right now by a live claim, else ``("score", name)`` with the result name
        reserved in this row.

        Each commit is several fsyncs (~20 ms on a local disk, more on a share), so one
        transaction does it all: ``new_row`` (name, claim, instance, size) creates the row (a
        claim without a row is recovered anyway), and ``keep`` = (candidates, exists) reserves
        the archive/ name the original will move to, leaving one more commit per file (archived).
        """
        with self.transaction():
            if new_row:
                self._insert(run_id, **new_row)
            row = dict(self.db.execute("SELECT * FROM drops WHERE run_id = ?", (run_id,)).fetchone())
            decision = self._decide(
                run_id, row, content_hash, candidates, output_exists, claim_alive, as_of, config_key
            )
            if keep and decision[0] != "busy":
                self._reserve(run_id, "archive_name", *keep)
            return decision

    def _decide(self, run_id, row, content_hash, candidates, output_exists, claim_alive, as_of, config_key):
        if row["status"] in (WRITTEN, ARCHIVED):
            return WRITTEN, row["output_name"]
        if row["status"] == SCORING and row["output_name"] and output_exists(row["output_name"]):
            self.db.execute("UPDATE drops SET status = ? WHERE run_id = ?", (WRITTEN, run_id))
            return WRITTEN, row["output_name"]
        others = self.db.execute(
            "SELECT run_id, status, output_name, claim, duplicate_of FROM drops"
            " WHERE content_hash = ? AND as_of IS ? AND config_key IS ? AND run_id != ? AND status IN (?, ?, ?, ?)",
            (content_hash, as_of, config_key, run_id, WRITTEN, ARCHIVED, DUPLICATE, SCORING),
        ).fetchall()
        # a duplicate only while the earlier result is still there for the rep to open
        done = [
            o
            for o in others
            if o["status"] in (WRITTEN, ARCHIVED) and o["output_name"] and output_exists(o["output_name"])
        ]
        if done:
            self.db.execute(
                "UPDATE drops SET status = ?, duplicate_of = ?, output_name = ?,"
                " content_hash = ?, as_of = ?, config_key = ? WHERE run_id = ?",
                (DUPLICATE, done[0]["run_id"], done[0]["output_name"], content_hash, as_of, config_key, run_id),
            )
            return DUPLICATE, done[0]["output_name"]
        if any(o["status"] == SCORING and o["claim"] and claim_alive(o["claim"]) for o in others):
            return "busy", None
        name = row["output_name"]
        if name is None:
            for candidate in candidates:
                taken = self.db.execute("SELECT 1 FROM drops WHERE output_key = ?", (candidate.casefold(),)).fetchone()
                if not taken and not output_exists(candidate):
                    name = candidate
                    break
        self.db.execute(
            "UPDATE drops SET status = ?, content_hash = ?, as_of = ?, config_key = ?,"
            " output_name = ?, output_key = ?, attempts = attempts + 1 WHERE run_id = ?",
            (SCORING, content_hash, as_of, config_key, name, name.casefold(), run_id),
        )
        return "score", name

    def reserve_name(self, run_id: str, column: str, candidates: Iterable[str], exists: Callable[[str], bool]) -> str:
        """Keep (or pick and store) a free file name for ``archive_name`` / ``failed_name``.

        Names are compared case-insensitively (``Report.xlsx`` and ``report.xlsx`` are one file
        for a Windows client of the share). A name already reserved costs no commit.
        """
        current = self.db.execute(f"SELECT {column} FROM drops WHERE run_id = ?", (run_id,)).fetchone()
        if current and current[0]:
            return current[0]
        with self.transaction():
            return self._reserve(run_id, column, candidates, exists)

    def _reserve(self, run_id: str, column: str, candidates: Iterable[str], exists: Callable[[str], bool]) -> str:
        assert column in ("archive_name", "failed_name")
        key = NAME_KEYS[column]
        current = self.db.execute(f"SELECT {column} FROM drops WHERE run_id = ?", (run_id,)).fetchone()
        if current and current[0]:
            return current[0]
        for candidate in candidates:
            taken = self.db.execute(
                f"SELECT 1 FROM drops WHERE {key} = ? AND run_id != ?", (candidate.casefold(), run_id)
            ).fetchone()
            if not taken and not exists(candidate):
                self.db.execute(
                    f"UPDATE drops SET {column} = ?, {key} = ? WHERE run_id = ?",
                    (candidate, candidate.casefold(), run_id),
                )
                return candidate
        raise RuntimeError("no free name")  # candidates are unbounded; unreachable

    # -- reporting ------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT status, COUNT(*) AS n FROM drops GROUP BY status").fetchall()
        return {row["status"]: int(row["n"]) for row in rows}

    def last_errors(self, limit: int = 5) -> list[dict]:
        rows = self.db.execute(
            "SELECT run_id, name, error, finished_at FROM drops WHERE status = ?"
            " ORDER BY finished_at DESC, rowid DESC LIMIT ?",
            (FAILED, limit),
        ).fetchall()
        return [dict(row) for row in rows]

    def rows(self) -> list[dict]:
        return [dict(row) for row in self.db.execute("SELECT * FROM drops ORDER BY rowid")]
