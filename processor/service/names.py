"""Names and paths of the drop folder: which files are inputs, what results and kept originals are
called, where everything lives under ROOT, and how claims and runs are named.

Pure rules over strings and paths (only :func:`name_max` asks the file system).

>>> classify("~$book.xlsx"), classify("book.XLSX"), classify("notes.txt"), classify("A1B2C3D4")
('ignore', 'supported', 'unsupported', 'ignore')
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

#: what processor.read.workbook reads (its SUPPORTED_SUFFIXES; spelled out here so the service loop and
#: `status` do not import pandas — tests/test_read_formats.py checks the two agree)
SUPPORTED = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods", ".csv")
#: transaction logs, scored by processor.pipeline.score_log through the same scorer call (docs/scale.md)
LOG_SUFFIXES = (".parquet",)

ZIP_KINDS = (".xlsx", ".xlsm", ".xlsb", ".ods")  # a partial copy does not open as a zip yet

#: partial downloads and editor temp files: the writer has not finished, never touch them
TEMP_SUFFIXES = (".tmp", ".temp", ".crdownload", ".part", ".partial", ".download", ".swp", "~", "#")

#: ``<name>.done``: the writer's "finished" marker (Camel's doneFileName), never an input itself
DONE_SUFFIX = ".done"

SYSTEM_FILES = ("thumbs.db", "desktop.ini", ".ds_store", "ehthumbs.db")

IGNORE, OK, UNSUPPORTED = "ignore", "supported", "unsupported"

#: what makes a folder in inbox/ one job (a transaction log, docs/scale.md): a Parquet file in it, or the
#: ``_SUCCESS`` marker Spark, Hadoop and most exporters write into a finished export folder (CSV parts)
LOG_FOLDER_MARKER = "_SUCCESS"


def is_log_folder(name: str, entries: list[str]) -> bool:
    """A folder named ``name`` holding ``entries`` is one job: not hidden or temporary by name, and holding a
    ``.parquet`` file or :data:`LOG_FOLDER_MARKER`. Any other folder is left alone (DROPFOLDER.md #3).

    >>> is_log_folder("exports", ["part-0.parquet"]), is_log_folder("csv", ["a.csv", "_SUCCESS"])
    (True, True)
    >>> is_log_folder("sub", ["inner.csv"]), is_log_folder(".t", ["a.parquet"]), is_log_folder("x.part", ["a.parquet"])
    (False, False, False)
    """
    lower = name.lower()
    if name.startswith(("~$", ".", "~")) or lower in SYSTEM_FILES or lower.endswith(TEMP_SUFFIXES + (DONE_SUFFIX,)):
        return False
    return any(e == LOG_FOLDER_MARKER or e.lower().endswith(LOG_SUFFIXES) for e in entries)


def classify(name: str) -> str:
    """'ignore' (noise: never touched), 'supported' (:data:`SUPPORTED`) or 'unsupported' (→ failed/).

    Ignored: Excel owner files ``~$*``, LibreOffice ``.~lock.*#``, dotfiles, partial downloads
    and temp suffixes, Windows/macOS system files, ``*.done`` markers, and names without an
    extension (Excel saves through an 8-character temp name without one, KB 814068).

    >>> classify(".~lock.book.xlsx#"), classify("list.csv.crdownload"), classify("list.csv.done")
    ('ignore', 'ignore', 'ignore')
    """
    lower = name.lower()
    if (
        name.startswith(("~$", ".", "~"))
        or lower in SYSTEM_FILES
        or lower.endswith(TEMP_SUFFIXES)
        or lower.endswith(DONE_SUFFIX)
    ):
        return IGNORE
    ext = os.path.splitext(name)[1].lower()
    if not ext:
        return IGNORE
    return OK if ext in SUPPORTED or ext in LOG_SUFFIXES else UNSUPPORTED


#: bytes in one file name on ext4, XFS, SMB and (as UTF-16 units, never more than UTF-8 bytes) NTFS
NAME_MAX = 255

REPORT_SUFFIX = ".error.txt"


def result_names(name: str, name_max: int = NAME_MAX) -> Iterator[str]:
    """Candidate result names for an input, first choice first: Windows-valid, ≤ ``name_max`` bytes.

    >>> list(zip(range(2), result_names("週報.xlsx")))
    [(0, '週報.scored.xlsx'), (1, '週報 (2).scored.xlsx')]
    """
    stem = windows_safe_stem(os.path.splitext(name)[0], min(180, name_max - len(" (9999).scored.xlsx")))
    yield f"{stem}.scored.xlsx"
    n = 2
    while True:
        yield f"{stem} ({n}).scored.xlsx"
        n += 1


def kept_names(name: str, name_max: int = NAME_MAX, now: datetime | None = None) -> Iterator[str]:
    """Candidate names for an original in archive/ or failed/: as dropped, then timestamped.

    Windows-valid and short enough that ``<name>.error.txt`` still fits in ``name_max`` bytes
    (the ledger keeps them unique case-insensitively, as Windows compares names).

    >>> names = kept_names("a:b?c.csv", now=datetime(2026, 11, 23, 9, 12, 3))
    >>> next(names), next(names), next(names)
    ('a_b_c.csv', 'a_b_c.20261123-091203.csv', 'a_b_c.20261123-091203-2.csv')
    """
    stem, ext = _split_name(name)
    stem = windows_safe_stem(stem, name_max - _KEPT_SLACK - len(ext.encode("utf-8")))
    yield f"{stem}{ext}"
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    yield f"{stem}.{stamp}{ext}"
    n = 2
    while True:
        yield f"{stem}.{stamp}-{n}{ext}"
        n += 1


def name_max(folder: Path) -> int:
    """The longest file name (bytes) ``folder``'s file system takes; 255 where it cannot say."""
    try:
        return max(40, min(NAME_MAX, os.pathconf(folder, "PC_NAME_MAX")))
    except (OSError, ValueError, AttributeError):  # Windows has no pathconf; NTFS and SMB take 255
        return NAME_MAX


def windows_safe_stem(stem: str, max_bytes: int = 180) -> str:
    """``stem`` made valid as a Windows file name part, short enough for a suffix to fit.

    >>> windows_safe_stem('a:b?. '), windows_safe_stem("CON"), windows_safe_stem("長" * 80, 30)
    ('a_b_', '_CON', '長長長長長長長長長長')
    """
    stem = _WINDOWS_BAD.sub("_", stem).rstrip(". ") or "_"
    if stem.split(".")[0].lower() in _WINDOWS_DEVICES:
        stem = "_" + stem
    return _cut_bytes(stem, max_bytes).rstrip(". ") or "_"


_WINDOWS_BAD = re.compile(r'[<>:"/\\|?*\x00-\x1f]')

_WINDOWS_DEVICES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}

#: room kept after an original's stem: ".20261123-091203-99" + ".error.txt"
_KEPT_SLACK = len(".20261123-091203-999") + len(REPORT_SUFFIX)


def _cut_bytes(text: str, max_bytes: int) -> str:
    """``text`` shortened (whole characters, never half a UTF-8 sequence) to at most ``max_bytes``."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[: max(0, max_bytes)].decode("utf-8", errors="ignore")


def _split_name(name: str) -> tuple[str, str]:
    """(stem, extension) with the extension made Windows-valid and at most 16 bytes."""
    stem, ext = os.path.splitext(name)
    ext = _cut_bytes(_WINDOWS_BAD.sub("_", ext), 16).rstrip(". ")
    return stem, ext if len(ext) > 1 else ""


@dataclass(frozen=True)
class Folders:
    root: Path

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def failed(self) -> Path:
        return self.root / "failed"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def state(self) -> Path:
        return self.root / ".state"

    @property
    def claims(self) -> Path:
        return self.state / "claims"

    @property
    def instances(self) -> Path:
        return self.state / "instances"

    @property
    def partial(self) -> Path:
        return self.outbox / ".partial"  # temp results live on outbox's disk

    @property
    def ledger(self) -> Path:
        return self.state / "ledger.sqlite"

    def make(self) -> None:
        for folder in (self.inbox, self.outbox, self.failed, self.archive, self.claims, self.instances):
            folder.mkdir(parents=True, exist_ok=True)
        for folder in (self.state, self.partial):
            hide_on_windows(folder)


def hide_on_windows(path: Path) -> None:
    """Set the Hidden attribute (a leading dot hides nothing in Explorer); no-op elsewhere."""
    if os.name != "nt":
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
        import ctypes

        ctypes.windll.kernel32.SetFileAttributesW(str(path), 0x2)  # FILE_ATTRIBUTE_HIDDEN
    except OSError:
        pass


def claim_dir_name(run_id: str, instance: str) -> str:
    return f"{run_id}~{instance}"


def parse_claim_dir(name: str) -> tuple[str, str]:
    run_id, _, instance = name.partition("~")
    return run_id, instance


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
