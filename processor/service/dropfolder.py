"""The drop-folder service (DESIGN §5 "Drop folder"; /work/shared/DROPFOLDER.md).

``ROOT/inbox`` is where reps drop workbooks; each one ends in exactly one of ``archive/`` (with
its result ``outbox/<stem>.scored.xlsx``) or ``failed/`` (with ``<name>.error.txt``), never
lost, never half-written, never scored twice — also across ``kill -9`` and across several
service instances on one share.

How, in the order a file sees it (the way Camel / NiFi / Spring consume folders):

* **Events are hints, the scan is the truth.** The main process lists inbox/ on a timer (fast
  while something is settling, ``scan_interval`` when idle); watchdog events only wake it up.
  The observer is supervised and re-armed when it dies or inbox/ is replaced.
* **Ready** = the name passes :func:`classify`, size + mtime + inode unchanged for ``settle``
  seconds of the service's own monotonic clock, and .xlsx/.xlsm open as a zip. A young file
  that does not open (or is empty) is deferred for ``grace`` seconds, not failed.
* **Claim** = rename into ``.state/claims/<run_id>~<instance>/<name>`` (one winner). The
  instance heartbeats ``.state/instances/<instance>``; claims of an instance whose process is
  gone (same host) or whose heartbeat stopped for ``lease`` seconds are taken over by renaming
  the claim folder.
* **Score** in a worker process: result to ``outbox/.partial/<run_id>/``, fsync, then linked
  into ``outbox/`` under a name reserved in the ledger (never replacing a file); the original
  goes to archive/ last. :class:`processor.service.ledger.Ledger` makes every step resumable.
* **Environmental errors** (outbox unwritable, disk full, the file locked by Excel) keep the
  claim and are retried with back-off; only the input's own problems go to failed/.

>>> classify("~$book.xlsx"), classify("book.XLSX"), classify("notes.txt"), classify("A1B2C3D4")
('ignore', 'supported', 'unsupported', 'ignore')
"""

from __future__ import annotations

import errno
import hashlib
import importlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import threading
import time
import tomllib
import traceback
import unicodedata
import zipfile
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from processor.errors import UnusableInput
from processor.privacy import ID_CANDIDATE
from processor.service.ledger import ARCHIVED, CLAIMED, DUPLICATE, FAILED, WRITTEN, Ledger, utc_now

SUPPORTED = (".xlsx", ".xlsm", ".csv")
ZIP_KINDS = (".xlsx", ".xlsm")
#: partial downloads and editor temp files: the writer has not finished, never touch them
TEMP_SUFFIXES = (".tmp", ".temp", ".crdownload", ".part", ".partial", ".download", ".swp", "~", "#")
#: ``<name>.done``: the writer's "finished" marker (Camel's doneFileName), never an input itself
DONE_SUFFIX = ".done"
SYSTEM_FILES = ("thumbs.db", "desktop.ini", ".ds_store", "ehthumbs.db")
IGNORE, OK, UNSUPPORTED = "ignore", "supported", "unsupported"


def classify(name: str) -> str:
    """'ignore' (noise: never touched), 'supported' (.xlsx/.xlsm/.csv) or 'unsupported' (→ failed/).

    Ignored: Excel owner files ``~$*``, LibreOffice ``.~lock.*#``, dotfiles, partial downloads
    and temp suffixes, Windows/macOS system files, ``*.done`` markers, and names without an
    extension (Excel saves through an 8-character temp name without one, KB 814068).

    >>> classify(".~lock.book.xlsx#"), classify("list.csv.crdownload"), classify("list.csv.done")
    ('ignore', 'ignore', 'ignore')
    """
    lower = name.lower()
    if (name.startswith(("~$", ".", "~")) or lower in SYSTEM_FILES or lower.endswith(TEMP_SUFFIXES)
            or lower.endswith(DONE_SUFFIX)):
        return IGNORE
    ext = os.path.splitext(name)[1].lower()
    if not ext:
        return IGNORE
    return OK if ext in SUPPORTED else UNSUPPORTED


_WINDOWS_BAD = re.compile(r'[<>:"/\\|?*\x00-\x1f]')
_WINDOWS_DEVICES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
#: bytes in one file name on ext4, XFS, SMB and (as UTF-16 units, never more than UTF-8 bytes) NTFS
NAME_MAX = 255
REPORT_SUFFIX = ".error.txt"
#: room kept after an original's stem: ".20261123-091203-99" + ".error.txt"
_KEPT_SLACK = len(".20261123-091203-999") + len(REPORT_SUFFIX)


def _cut_bytes(text: str, max_bytes: int) -> str:
    """``text`` shortened (whole characters, never half a UTF-8 sequence) to at most ``max_bytes``."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[:max(0, max_bytes)].decode("utf-8", errors="ignore")


def windows_safe_stem(stem: str, max_bytes: int = 180) -> str:
    """``stem`` made valid as a Windows file name part, short enough for a suffix to fit.

    >>> windows_safe_stem('a:b?. '), windows_safe_stem("CON"), windows_safe_stem("長" * 80, 30)
    ('a_b_', '_CON', '長長長長長長長長長長')
    """
    stem = _WINDOWS_BAD.sub("_", stem).rstrip(". ") or "_"
    if stem.split(".")[0].lower() in _WINDOWS_DEVICES:
        stem = "_" + stem
    return _cut_bytes(stem, max_bytes).rstrip(". ") or "_"


def _split_name(name: str) -> tuple[str, str]:
    """(stem, extension) with the extension made Windows-valid and at most 16 bytes."""
    stem, ext = os.path.splitext(name)
    ext = _cut_bytes(_WINDOWS_BAD.sub("_", ext), 16).rstrip(". ")
    return stem, ext if len(ext) > 1 else ""


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


# -- options ------------------------------------------------------------------------------
@dataclass
class Options:
    """Service options: CLI flags over the config file's ``[service]`` table over these defaults."""

    settle: float = 2.0  # seconds size+mtime must stay unchanged (service clock)
    poll: float | None = None  # seconds between PollingObserver polls; None = OS notifications
    workers: int = 1  # scoring processes
    scan_interval: float = 5.0  # full inbox scan when idle (the scan, not events, is the truth)
    grace: float = 30.0  # an unreadable/empty stable file waits this long before it is failed
    lease: float = 30.0  # a claim whose instance stopped heartbeating this long is taken over
    retry_initial: float = 1.0  # back-off for environmental errors doubles from here …
    retry_max: float = 60.0  # … up to here
    timeout: float = 900.0  # a worker scoring one file longer than this is killed (counts as a crash)
    max_crashes: int = 2  # a file that killed this many workers is failed as an internal error
    once_max_retries: int = 4  # --once gives up on environmental retries after this many
    done_files: bool = False  # pick up <name> only once the writer has created <name>.done beside it
    as_of: str | None = None  # the day counted as today, YYYY-MM-DD (watch --as-of); None = each day's date
    log_file: str | None = None  # JSON lines also appended here (stderr always)
    scorer: str = "processor.pipeline:score_file"  # "module:function" with score_file's signature
    config: str | None = None  # the TOML file ([settings] is read by processor.settings.load_config)


def load_options(config: str | os.PathLike | None = None, **overrides) -> Options:
    """Options from ``config``'s ``[service]`` table, then non-None ``overrides`` (CLI flags).

    >>> load_options(None, settle=0.5, workers=None).settle
    0.5
    """
    values: dict = {}
    if config is not None:
        with open(config, "rb") as fh:
            table = tomllib.load(fh).get("service", {})
        known = {f.name for f in fields(Options)} - {"config", "as_of"}
        unknown = set(table) - known
        if unknown:
            raise ValueError(f"{config}: unknown [service] options {sorted(unknown)}; known: {sorted(known)}")
        values.update(table)
        values["config"] = str(config)
    values.update({key: value for key, value in overrides.items() if value is not None})
    if config is not None:  # fail now, in the shell, not later in every worker
        from processor.settings import load_config

        load_config(Path(config))
    options = Options(**values)
    if options.poll is not None and options.poll <= 0:
        options.poll = None
    if options.workers < 1 or options.settle < 0:
        raise ValueError("workers must be ≥ 1 and settle ≥ 0")
    if options.as_of is not None:
        options.as_of = date.fromisoformat(str(options.as_of)[:10]).isoformat()
    return options


def resolve_scorer(spec: str | Callable) -> Callable:
    """The scoring function from ``"module:function"`` (or a callable passed through)."""
    if callable(spec):
        return spec
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


# -- the folder layout --------------------------------------------------------------------
@dataclass(frozen=True)
class Folders:
    root: Path

    @property
    def inbox(self) -> Path: return self.root / "inbox"
    @property
    def outbox(self) -> Path: return self.root / "outbox"
    @property
    def failed(self) -> Path: return self.root / "failed"
    @property
    def archive(self) -> Path: return self.root / "archive"
    @property
    def state(self) -> Path: return self.root / ".state"
    @property
    def claims(self) -> Path: return self.state / "claims"
    @property
    def instances(self) -> Path: return self.state / "instances"
    @property
    def partial(self) -> Path: return self.outbox / ".partial"  # temp results live on outbox's disk
    @property
    def ledger(self) -> Path: return self.state / "ledger.sqlite"

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
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


# -- events ---------------------------------------------------------------------------------
class EventLog:
    """One JSON line per event on stderr (and ``log_file``): names, sizes, times — never cells."""

    def __init__(self, log_file: str | None = None, **constant):
        self.log_file = log_file
        self.constant = constant

    def __call__(self, event: str, **fields) -> None:
        record = {"ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "event": event,
                  **self.constant, **{k: v for k, v in fields.items() if v is not None}}
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            os.write(2, line)  # one write per line: lines from workers do not interleave
        except OSError:
            pass
        if self.log_file:
            try:
                with open(self.log_file, "ab") as fh:
                    fh.write(line)
            except OSError:
                pass


# -- file primitives ------------------------------------------------------------------------
#: os.link errors after which a checked rename is the safe fallback: no hard links on this file
#: system (FAT/exFAT, some SMB/NFS servers; Windows maps ERROR_INVALID_FUNCTION and
#: ERROR_NOT_SUPPORTED to EINVAL), or links refused for this file (protected_hardlinks, ACLs)
_LINK_UNSUPPORTED = {errno.EPERM, errno.EACCES, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS,
                     errno.EXDEV, errno.EMLINK}


def place(src: Path, dst: Path, link: Callable = os.link) -> None:
    """Move ``src`` to ``dst`` without ever replacing an existing ``dst`` (FileExistsError).

    Hard link + unlink is atomic and no-clobber on POSIX; where links are unsupported (some
    shares) fall back to rename after a check (Windows' rename itself refuses to replace). A
    crash between link and unlink leaves both names on one inode, which a retry recognises.
    If the fallback rename fails too (a read-only folder), that error is the one raised.
    """
    try:
        link(src, dst)
    except FileExistsError:
        if os.path.samefile(src, dst):
            os.unlink(src)
            return
        raise
    except OSError as exc:
        if exc.errno not in _LINK_UNSUPPORTED:
            raise
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "exists", str(dst)) from exc
        os.rename(src, dst)
        return
    os.unlink(src)


def fsync_file(path: Path) -> None:
    with open(path, "r+b") as fh:
        os.fsync(fh.fileno())


def fsync_dir(*folders: Path) -> None:
    """Make renames and links into ``folders`` durable (POSIX; Windows cannot open a folder)."""
    if os.name == "nt":
        return
    for folder in folders:
        try:
            fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            continue
        try:
            os.fsync(fd)
        except OSError:  # some network file systems refuse fsync on a folder
            pass
        finally:
            os.close(fd)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def opens_as_zip(path: Path) -> bool:
    """True when the zip's central directory is readable (a truncated .xlsx fails at every cut)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return bool(zf.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False


def file_identity(st: os.stat_result, polling: bool) -> tuple[int, int, int]:
    """(size, mtime_ns, inode): what must stay unchanged for a file to count as finished.

    The inode catches a same-size, same-mtime replacement; network clients may invent inode
    numbers (cifs noserverino), so with --poll only size and mtime count — and on Windows, where
    a directory listing reports every inode as 0.
    """
    return st.st_size, st.st_mtime_ns, 0 if polling or os.name == "nt" else st.st_ino


# -- what the service may store: never cell contents -----------------------------------------
_REDACTIONS = (
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(ID_CANDIDATE), "<id>"),  # 身分證 / 居留證
    # phones, account and card numbers, birthdays: 6+ digits, with or without separators
    (re.compile(r"\+?\d(?:[\s\-/().]?\d){5,}"), "<number>"),
)


def redact(text: str) -> str:
    """``text`` with anything that looks like personal data masked (IDs, phones, digit runs, e-mail).

    The ledger, the log and ``status`` store only English summaries written by the program, and
    pass them through this as a second line of defence. The text is NFKC-folded first, so
    full-width IDs and digits (Ａ１２３…, as typed with a CJK input method) are masked too.

    >>> redact("row 12: A123456789 / 0912-345-678 / wang@example.com / 3 sheets")
    'row 12: <id> / <number> / <email> / 3 sheets'
    """
    text = unicodedata.normalize("NFKC", text)
    for pattern, mask in _REDACTIONS:
        text = pattern.sub(mask, text)
    return text


def describe_exception(exc: BaseException) -> str:
    """Type and place of an exception, never its message (which may quote a cell).

    OSErrors keep their errno and system text ("Permission denied"): those come from the OS.

    >>> describe_exception(PermissionError(13, "Permission denied", "/x"))
    'PermissionError [EACCES] Permission denied'
    """
    if isinstance(exc, OSError) and exc.errno:
        return f"{type(exc).__name__} [{errno.errorcode.get(exc.errno, exc.errno)}] {exc.strerror or ''}".strip()
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    return f"{type(exc).__name__} at {Path(last.filename).name}:{last.lineno} in {last.name}"


def summary_line(exc: UnusableInput) -> str:
    """What the ledger, the log and ``status`` keep of a failure: the English line, redacted.

    The zh-TW text may quote what the file contains (headers found, …); it goes only into the
    report beside the file in failed/.
    """
    if not exc.en:
        return "the file could not be used; see its .error.txt report in failed/"
    return redact(exc.english())[:500]


def error_report(name: str, run_id: str, exc: UnusableInput, kept_as: str) -> str:
    """The ``<name>.error.txt`` text: what, where, how to fix, run id — zh-TW then English.

    >>> text = error_report("a.csv", "r1", UnusableInput("缺少欄位", "請加上「日期」欄", en="a column is missing",
    ...                     fix_en="add a 日期 (date) column", sheet="a", row=1), "a.csv")
    >>> [line for line in text.splitlines() if line.startswith(("Where", "How"))]
    ['Where: a.csv, sheet a, row 1', 'How to fix: add a 日期 (date) column']
    """
    where = [(label, en, value) for label, en, value in
             (("工作表", "sheet", exc.sheet), ("第", "row", exc.row), ("欄位", "column", exc.column))
             if value not in (None, "")]
    where_zh = "，".join(f"第 {value} 列" if label == "第" else f"{label}「{value}」" for label, _, value in where)
    where_en = ", ".join(f"{en} {value}" for _, en, value in where)
    fix_en = exc.fix_en or "see 如何修正 above (the fix in Chinese), or ask the administrator with the run id"
    return "\n".join([
        "精準名單無法處理這個檔案 / Precision List could not process this file",
        "",
        f"檔案 File:      {name}",
        f"執行編號 Run id: {run_id}",
        f"時間 Time (UTC): {utc_now()}",
        "",
        f"問題：{exc.what}",
        f"位置：{name}" + (f"，{where_zh}" if where else "（整個檔案）"),
        f"如何修正：{exc.fix or '請修正後重新放入 inbox 資料夾'}",
        f"原始檔案已移到 failed/{kept_as}；修正後請重新放入 inbox/。",
        "",
        f"What went wrong: {exc.en or exc.what}",
        f"Where: {name}" + (f", {where_en}" if where else " (the whole file)"),
        f"How to fix: {fix_en}",
        f"The original was moved to failed/{kept_as}; drop the corrected file into inbox/ again.",
        "",
    ])


def internal_error(exc: BaseException, run_id: str) -> UnusableInput:
    """A scorer bug is not the rep's fault; the file is set aside so the queue keeps moving."""
    return UnusableInput(
        "處理時發生程式內部錯誤（不是你的檔案格式問題）",
        f"請把執行編號 {run_id} 告訴系統管理員；也可以直接重新放入 inbox 再試一次",
        en=f"internal error while scoring ({describe_exception(exc)}); not a problem of the file's format",
        fix_en=f"drop the file into inbox/ again to retry; if it fails again, give the administrator run id "
               f"{run_id} (they can see the details with: precision-list score -v on this file)")


# -- the worker: claim, score, write, archive -------------------------------------------------
class Handler:
    """Does one job at a time in a worker process; every step is resumable from the ledger."""

    def __init__(self, folders: Folders, options: Options, instance: str, log: EventLog,
                 scorer: Callable | None = None):
        from processor.settings import load_config  # settings imports values, which imports pandas

        self.f = folders
        self.o = options
        self.instance = instance
        self.log = log
        self.scorer = scorer or resolve_scorer(options.scorer)
        # None without a config file: exactly what `precision-list score` does
        self.settings = load_config(Path(options.config)) if options.config else None
        self.config_key = config_key(self.settings, options.scorer)
        self.ledger = Ledger(folders.ledger)
        self.name_max: dict[Path, int] = {}
        self.identity: tuple | None = None  # set with the outcome "unsettled": the file's new identity

    def handle(self, job: dict) -> dict:
        """Run one job; returns ``{"outcome": archived|duplicate|failed|gone|locked|retry|busy|unsettled}``.

        "unsettled": the claimed file changed after it was judged finished (a writer that paused
        longer than ``settle``); it stays claimed and ``identity`` says what it looks like now.
        """
        started = time.monotonic()
        self.identity = None
        expected = tuple(job["identity"]) if job.get("identity") else None
        try:
            if job["kind"] == "inbox":
                outcome = self._take_inbox(job["name"], job["run_id"], expected, started)
            else:
                outcome = self._take_claim(job["claim"], job["run_id"], job.get("force_fail", False), expected,
                                           started)
        except Exception as exc:  # a bug or an odd share must not kill the worker: retry later
            self.log("error", file=job.get("name"), run=job["run_id"], reason=describe_exception(exc))
            outcome = "retry"
        return {**job, "outcome": outcome, "identity": self.identity}

    def _identity(self, path: Path) -> tuple:
        return file_identity(path.stat(), bool(self.o.poll))

    def _unsettled(self, run_id: str, name: str, now: tuple, reason: str) -> str:
        self.identity = now
        self.log("changed", file=name, size=now[0], run=run_id, reason=reason)
        return "unsettled"

    def _take_inbox(self, name: str, run_id: str, expected: tuple | None, started: float) -> str:
        claim = self.f.claims / claim_dir_name(run_id, self.instance)
        try:
            try:
                claim.mkdir()
            except FileNotFoundError:  # .state/claims was deleted: ours to re-create
                self.f.make()
                claim.mkdir()
        except OSError as exc:
            self.log("locked", file=name, run=run_id, reason=f".state/claims: {describe_exception(exc)}")
            return "locked"
        try:
            os.rename(self.f.inbox / name, claim / name)
        except FileNotFoundError:  # another instance won, or the rep took it back
            claim.rmdir()
            return "gone"
        except OSError as exc:  # Excel holds it open (WinError 32) or inbox/ is read-only
            claim.rmdir()
            self.log("locked", file=name, run=run_id, reason=describe_exception(exc))
            return "locked"
        if self.o.done_files:
            try:
                os.unlink(self.f.inbox / f"{name}{DONE_SUFFIX}")
            except OSError:
                pass
        now = self._identity(claim / name)
        self.log("claimed", file=name, size=now[0], run=run_id)
        crash_point("claimed")
        if expected and now != expected:  # written to between the last scan and the claim
            self.ledger.insert(run_id, name, claim=claim.name, instance=self.instance, size=now[0])
            return self._unsettled(run_id, name, now, "changed after it looked finished: waiting until it is quiet")
        return self._process(run_id, claim, name, started, fresh=True)

    def _take_claim(self, claim_name: str, run_id: str, force_fail: bool, expected: tuple | None,
                    started: float) -> str:
        """Resume a claim: ours after a worker death, a retry or a re-settle, or a dead instance's."""
        src = self.f.claims / claim_name
        claim = self.f.claims / claim_dir_name(run_id, self.instance)
        if src != claim:
            try:
                os.rename(src, claim)  # one winner among the instances recovering it
            except FileNotFoundError:
                return "gone"
        files = [entry.name for entry in os.scandir(claim) if entry.is_file()]
        if not files:  # died between mkdir and rename, or after the original moved on
            self._close_moved(run_id)
            shutil.rmtree(claim, ignore_errors=True)
            return "gone"
        name = files[0]
        row = self.ledger.get(run_id)
        if row is None:
            self.ledger.insert(run_id, name, claim=claim.name, instance=self.instance,
                               size=(claim / name).stat().st_size)
        elif src != claim:
            self.ledger.update(run_id, claim=claim.name, instance=self.instance)
        if src != claim:
            self.log("recovered", file=name, run=run_id, reason=f"claim of {parse_claim_dir(claim_name)[1]}")
        if expected:
            now = self._identity(claim / name)
            if now != expected:
                return self._unsettled(run_id, name, now, "still being written: waiting until it is quiet")
            self.log("settled", file=name, size=now[0], run=run_id, reason="quiet again in its claim")
        if row and row["status"] == FAILED:
            summary = row["error"] or ""
            return self._fail(run_id, claim, name, UnusableInput(summary, en=summary), started, report=False)
        if force_fail:
            exc = UnusableInput("處理這個檔案時程式當掉或逾時，已重試仍失敗",
                                f"請把執行編號 {run_id} 告訴系統管理員",
                                en=f"scoring crashed or timed out {self.o.max_crashes} times",
                                fix_en=f"give the administrator run id {run_id}; a very large file may need a "
                                       "higher timeout in the service's config")
            return self._fail(run_id, claim, name, exc, started)
        return self._process(run_id, claim, name, started)

    def _close_moved(self, run_id: str) -> None:
        """A crash right after the original reached archive/ or failed/: record the outcome it had."""
        row = self.ledger.get(run_id)
        if row is None or row["status"] in (ARCHIVED, DUPLICATE, FAILED):
            return
        if row["archive_name"] and (self.f.archive / row["archive_name"]).exists():
            status = DUPLICATE if row["duplicate_of"] else ARCHIVED
            self.ledger.update(run_id, status=status, finished_at=utc_now())
            self.log("archived", file=row["name"], run=run_id, archived_as=row["archive_name"], outcome=status)
        elif row["failed_name"] and (self.f.failed / row["failed_name"]).exists():
            self.ledger.update(run_id, status=FAILED, finished_at=utc_now())
            self.log("failed", file=row["name"], run=run_id, failed_as=row["failed_name"], outcome="failed")

    def _as_of(self) -> tuple:
        """("today" for the scorer, its ISO date for the ledger): ``--as-of`` or the local date."""
        import pandas as pd  # the scorer needs pandas anyway; keep the module import light

        day = date.fromisoformat(self.o.as_of) if self.o.as_of else date.today()
        return pd.Timestamp(day), day.isoformat()

    def _names(self, folder: Path) -> int:
        if folder not in self.name_max:
            self.name_max[folder] = name_max(folder)
        return self.name_max[folder]

    def _process(self, run_id: str, claim: Path, name: str, started: float, fresh: bool = False) -> str:
        """Score a claimed file, or finish what a previous holder of the claim started."""
        path = claim / name
        before = self._identity(path)
        size = before[0]
        ext = os.path.splitext(name)[1].lower()
        new_row = dict(name=name, claim=claim.name, instance=self.instance, size=size) if fresh else None
        if new_row and (classify(name) == UNSUPPORTED or size == 0):
            self.ledger.insert(run_id, **new_row)
        if classify(name) == UNSUPPORTED:
            return self._fail(run_id, claim, name, UnusableInput(
                f"{name} 不是支援的檔案類型（{ext}）", "請送出 .xlsx、.xlsm 或 .csv 檔",
                en=f"unsupported file type {ext}",
                fix_en="save it from Excel as .xlsx (Excel workbook) or .csv, then drop that file into inbox/"),
                started)
        if size == 0:
            return self._fail(run_id, claim, name, UnusableInput(
                f"{name} 是空檔案（0 位元組）", "請重新存檔或重新複製一次",
                en="the file is empty (0 bytes)", fix_en="save or copy the file again; the copy did not finish"),
                started)
        digest = sha256(path)
        as_of, as_of_key = self._as_of()
        decision, output = self.ledger.begin_scoring(
            run_id, digest, result_names(name, self._names(self.f.outbox)),
            output_exists=lambda n: os.path.lexists(self.f.outbox / n),
            claim_alive=lambda c: (self.f.claims / c).is_dir(), new_row=new_row,
            as_of=as_of_key, config_key=self.config_key, keep=self._kept_candidates("archive_name", name))
        if decision == "busy":
            return "busy"
        if decision == DUPLICATE:
            self.log("duplicate", file=name, size=size, run=run_id, output=output, outcome="already scored")
            return self._archive(run_id, claim, name, started, DUPLICATE)
        if decision == WRITTEN:
            return self._archive(run_id, claim, name, started, ARCHIVED)
        partial = self.f.partial / run_id
        shutil.rmtree(partial, ignore_errors=True)
        t0 = time.monotonic()
        try:
            partial.mkdir(parents=True, exist_ok=True)
            temp = partial / "result.xlsx"  # short: the final name may be long; it is tried at the move
            crash_point("scoring")
            self.scorer(path, temp, as_of=as_of, settings=self.settings)
            if not temp.is_file():
                raise RuntimeError("the scorer wrote no file")
            # a writer that paused longer than settle went on: never publish this (a failing stat: retry)
            if unsettled := self._changed_or(run_id, name, path, before, stat_errors=True,
                                             reason="changed while it was scored: result discarded, "
                                                    "waiting until it is quiet"):
                return unsettled
            fsync_file(temp)
            crash_point("temp_written")
            try:
                place(temp, self.f.outbox / output)
                fsync_dir(self.f.outbox)
                crash_point("placed")
            except FileExistsError:  # the reserved name is this run's: a previous holder of the claim wrote it
                self.log("scored", file=name, size=size, run=run_id, output=output, outcome="written before")
                return self._archive(run_id, claim, name, started, ARCHIVED)
        except UnusableInput as exc:
            return self._changed_or(run_id, name, path, before) or self._fail(run_id, claim, name, exc, started)
        except OSError as exc:  # outbox unwritable, disk full, share gone: not the input's fault
            if exc.errno == errno.ENAMETOOLONG:  # our result name is too long for this share: shorten it
                self.name_max[self.f.outbox] = max(40, self._names(self.f.outbox) // 2)
                self.ledger.clear_name(run_id, "output_name")
            return self._retry(run_id, name, "outbox/", exc, size=size)
        except Exception as exc:  # noqa: BLE001 — a scorer bug on one file must not stop the queue
            return (self._changed_or(run_id, name, path, before)
                    or self._fail(run_id, claim, name, internal_error(exc, run_id), started))
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        self.log("scored", file=name, size=size, run=run_id, output=output,
                 duration_s=round(time.monotonic() - t0, 3), outcome="ok")
        return self._archive(run_id, claim, name, started, ARCHIVED)

    def _changed_or(self, run_id: str, name: str, path: Path, before: tuple, stat_errors: bool = False,
                    reason: str = "changed while it was read: waiting until it is quiet") -> str | None:
        """"unsettled" when the file changed while it was read (a half-written file is not the rep's fault).

        A failing stat counts as unchanged (the caller goes on to fail the file) unless
        ``stat_errors``: then the OSError is raised, for a caller that retries on it.
        """
        try:
            now = self._identity(path)
        except OSError:
            if stat_errors:
                raise
            return None
        if now == before:
            return None
        self.ledger.update(run_id, status=CLAIMED, content_hash=None)
        return self._unsettled(run_id, name, now, reason)

    def _retry(self, run_id: str, name: str, where: str, exc: OSError, **fields) -> str:
        """An environmental problem: log it, note it for ``status``, keep the claim, try again later."""
        reason = f"{where} {describe_exception(exc)}"
        self.log("retry", file=name, run=run_id, outcome="environment", reason=reason, **fields)
        try:
            self.ledger.update(run_id, note=reason)
        except sqlite3.Error:
            pass
        return "retry"

    def _kept_candidates(self, column: str, name: str) -> tuple[Iterator[str], Callable[[str], bool]]:
        """(names to try, "is it taken?") for the original in archive/ (column archive_name) or failed/."""
        folder = self.f.archive if column == "archive_name" else self.f.failed
        report = REPORT_SUFFIX if column == "failed_name" else None  # the report goes beside it: both free

        def taken(n: str) -> bool:
            return os.path.lexists(folder / n) or bool(report) and os.path.lexists(folder / f"{n}{report}")

        return kept_names(name, self._names(folder)), taken

    def _keep(self, run_id: str, column: str, claim: Path, name: str,
              report: Callable[[str], str] | None = None) -> str:
        """Move the original from its claim into archive/ or failed/ under its reserved name.

        Repairs what is ours to repair before giving up to a retry: a deleted folder is created
        again, a name too long for the share is shortened, a reserved name someone else's file
        took meanwhile is replaced.
        """
        folder = self.f.archive if column == "archive_name" else self.f.failed
        for attempt in range(3):
            try:
                kept = self.ledger.reserve_name(run_id, column, *self._kept_candidates(column, name))
                if report is not None:
                    temp = folder / f".{run_id}{REPORT_SUFFIX}.tmp"
                    temp.write_text(report(kept), encoding="utf-8-sig", newline="\r\n")  # BOM + CRLF: Notepad
                    os.replace(temp, folder / f"{kept}{REPORT_SUFFIX}")
                place(claim / name, folder / kept)
                fsync_dir(folder)
                return kept
            except OSError as exc:
                if attempt == 2:
                    raise
                if exc.errno == errno.ENAMETOOLONG:
                    self.name_max[folder] = max(40, self._names(folder) // 2)
                elif isinstance(exc, FileExistsError):
                    pass  # not ours (we never replace a file): take the next free name
                elif isinstance(exc, FileNotFoundError) and not folder.is_dir() and (claim / name).exists():
                    self.f.make()
                    self.log("folder_recreated", file=name, run=run_id, reason=f"{folder.name}/ was missing")
                    continue
                else:
                    raise
                self.ledger.clear_name(run_id, column)
        raise AssertionError("unreachable")

    def _archive(self, run_id: str, claim: Path, name: str, started: float, outcome: str) -> str:
        try:
            kept = self._keep(run_id, "archive_name", claim, name)
            crash_point("archive_moved")
        except OSError as exc:
            return self._retry(run_id, name, "archive/", exc)
        self.ledger.update(run_id, status=outcome, finished_at=utc_now(), note=None,
                           duration_s=round(time.monotonic() - started, 3))
        shutil.rmtree(claim, ignore_errors=True)
        self.log("archived", file=name, run=run_id, archived_as=kept, outcome=outcome,
                 duration_s=round(time.monotonic() - started, 3))
        return outcome

    def _fail(self, run_id: str, claim: Path, name: str, exc: UnusableInput, started: float,
              report: bool = True) -> str:
        try:
            kept = self._keep(run_id, "failed_name", claim, name,
                              report=(lambda kept: error_report(name, run_id, exc, kept)) if report else None)
        except OSError as exc2:
            return self._retry(run_id, name, "failed/", exc2)
        summary = summary_line(exc)
        self.ledger.update(run_id, status=FAILED, error=summary, finished_at=utc_now(), note=None,
                           archive_name=None, archive_key=None,  # reserved when scoring began, not used
                           duration_s=round(time.monotonic() - started, 3))
        shutil.rmtree(claim, ignore_errors=True)
        self.log("failed", file=name, run=run_id, failed_as=kept, outcome="failed", reason=summary,
                 duration_s=round(time.monotonic() - started, 3))
        return FAILED


def config_key(settings, scorer: str) -> str:
    """What besides the bytes and the day decides a result: the settings, the scorer, the version.

    Part of the duplicate key (with the content hash and the as-of date): the same list dropped
    again on another day, or under another config, is scored again.
    """
    from processor import __version__
    from processor.settings import Settings

    payload = json.dumps({"settings": asdict(settings or Settings()), "scorer": scorer, "version": __version__},
                         sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


CRASH_POINTS = ("claimed", "scoring", "temp_written", "placed", "archive_moved")


def crash_point(point: str) -> None:
    """Fault injection for the crash tests: SIGKILL the whole service at a named step.

    Only when ``PRECISION_LIST_CRASH_AT`` names the step (the tests start the service in its own
    process group); a power cut at exactly that moment, with nothing cleaned up.
    """
    if os.environ.get("PRECISION_LIST_CRASH_AT") == point and hasattr(os, "killpg"):
        os.killpg(os.getpgid(0), signal.SIGKILL)


def _exit_with_parent() -> None:
    """Workers die with the service (kill -9 included), so no orphan finishes a file behind its back."""
    import multiprocessing
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(3)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _worker_main(conn, root: str, options: dict, instance: str) -> None:
    """Entry point of a scoring process: jobs in over ``conn``, outcomes back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process decides when to stop;
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the file in hand is always finished
    _exit_with_parent()
    opts = Options(**options)
    handler = Handler(Folders(Path(root)), opts, instance, EventLog(opts.log_file, instance=instance))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            job = None
        if job is None:
            handler.ledger.close()
            os._exit(0)  # nothing is buffered (log lines are single writes, the ledger is closed):
            # skip tearing down pandas & co., which makes every stop and --once run a second slower
        conn.send(handler.handle(job))


# -- the main process: scan, settle, dispatch, recover, supervise ------------------------------
@dataclass
class Seen:
    """What the service knows about one inbox file, timed by its own monotonic clock."""

    identity: tuple  # (size, mtime_ns, inode)
    changed_at: float
    tries: int = 0
    next_try: float = 0.0
    deferred_logged: bool = False


@dataclass
class WorkerSlot:
    process: object
    conn: object
    job: dict | None = None
    started: float = 0.0
    spawned: float = field(default_factory=time.monotonic)
    failures: int = 0  # consecutive deaths soon after start
    reported: bool = False


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:40] or "host"


class Service:
    """The long-running (or ``--once``) drop-folder service over one ROOT."""

    def __init__(self, root: str | os.PathLike, options: Options):
        self.f = Folders(Path(root).resolve())
        self.o = options
        self.host = _host()
        self.instance = f"{os.getpid()}-{secrets.token_hex(2)}@{self.host}"
        self.log = EventLog(options.log_file, instance=self.instance)
        self.seen: dict[str, Seen] = {}
        self.workers: list[WorkerSlot] = []
        self.busy_names: set[str] = set()
        self.busy_runs: set[str] = set()
        self.retry: dict[str, tuple[str, float]] = {}  # run_id → (claim dir, when) waiting to be resumed
        self.attempts: dict[str, int] = {}  # run_id → environmental retries so far
        self.expect: dict[str, tuple] = {}  # run_id → identity a re-settling claim must still have
        self.force_fail: set[str] = set()  # run_ids that crashed workers max_crashes times
        self.gave_up: set[str] = set()
        self.awaiting_marker: set[str] = set()  # done_files: inbox names whose <name>.done is not there yet
        self.leases: dict[str, tuple[int | None, float]] = {}
        self.stopping = False
        self.wake = threading.Event()
        self.rearm = threading.Event()
        self.beat_stop = threading.Event()
        self.observer = None
        self.armed: tuple | None = None
        self._next_sweep = self._next_folders = 0.0

    # -- lifecycle ---------------------------------------------------------------------------
    def run(self, once: bool = False) -> int:
        self.f.make()
        self.ledger = Ledger(self.f.ledger)
        self.heartbeat_path = self.f.instances / self.instance
        self._heartbeat()
        self._forget_dead_instances()
        # its own thread: a ledger busy for a minute (another instance's long commit) must not
        # make this instance look dead to the others
        self.beat = threading.Thread(target=self._beat, daemon=True, name="heartbeat")
        self.beat.start()
        self._install_signals()
        self.log("started", root=str(self.f.root), workers=self.o.workers, settle=self.o.settle,
                 poll=self.o.poll, once=once or None, as_of=self.o.as_of)
        import multiprocessing

        self.mp = multiprocessing.get_context("spawn")  # no fork after threads; same on Windows
        for _ in range(self.o.workers):
            self.workers.append(self._spawn())
        if not once:
            self._arm("start")
        started = time.monotonic()
        gap = max(0.05, min(self.o.settle / 3, 0.5))  # events come in floods; one listing serves them all
        next_scan = next_watch = last_scan = 0.0
        try:
            while True:
                now = time.monotonic()
                try:
                    self._collect()
                    self._supervise_workers(now)
                    if not once and now >= next_watch:
                        self._supervise_observer()
                        next_watch = now + 1.0
                    if now >= next_scan or (self.wake.is_set() and now - last_scan >= gap):
                        self.wake.clear()
                        last_scan = now
                        self._ensure_folders(now)
                        self._scan_inbox(now)
                        self._scan_claims(now)
                        settling = any(n not in self.busy_names for n in self.seen) or self.retry
                        idle = self.o.poll if self.o.poll else self.o.scan_interval
                        next_scan = now + (gap if settling else idle)
                    if not self.stopping:
                        self._dispatch(time.monotonic())
                except Exception as exc:  # noqa: BLE001 — a locked ledger or a vanished share: log, retry
                    self.log("error", reason=describe_exception(exc))
                    next_scan = now + self.o.retry_max / 4
                    time.sleep(min(1.0, self.o.retry_initial))
                if self.stopping and not any(w.job for w in self.workers):
                    break
                if once and now - started > self.o.settle and self._drained():
                    break
                self._wait(0.1)
        finally:
            self._shutdown()
        left = len(self.retry) + len([n for n in self.seen if n not in self.busy_names])
        self.log("stopped", outcome="clean" if not left else "left-waiting", waiting=left)
        return 3 if once and left else 0

    def _install_signals(self) -> None:
        def stop(signum, frame):
            if not self.stopping:
                self.log("stopping", reason=signal.Signals(signum).name)
            self.stopping = True

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                signal.signal(sig, stop)
            except ValueError:  # not the main thread (library use): the caller handles signals
                pass

    def _shutdown(self) -> None:
        for slot in self.workers:
            try:
                slot.conn.send(None)
            except OSError:
                pass
        for slot in self.workers:
            slot.process.join(timeout=30)
            if slot.process.is_alive():
                slot.process.kill()
        if self.observer is not None:
            try:
                self.observer.stop()
                self.observer.join(timeout=5)
            except Exception:  # noqa: BLE001 — shutting down anyway
                pass
        # stopped: no heartbeat, so `status` does not list it and any instance may take over
        # what it still holds (claims left waiting on an unwritable outbox, say) right away
        self.beat_stop.set()
        self.beat.join(timeout=10)
        try:
            self.heartbeat_path.unlink()
        except OSError:
            pass
        self.ledger.close()

    def _drained(self) -> bool:
        """--once: nothing in flight, nothing settling, only given-up retries or unmarked files left."""
        if any(w.job for w in self.workers):
            return False
        if any(run not in self.gave_up for run in self.retry):
            return False
        return all(n in self.gave_up or n in self.awaiting_marker for n in self.seen)

    def _wait(self, timeout: float) -> None:
        from multiprocessing.connection import wait

        handles = [w.conn for w in self.workers] + [w.process.sentinel for w in self.workers]
        try:
            wait(handles, timeout=timeout)
        except OSError:
            time.sleep(timeout)

    # -- workers -----------------------------------------------------------------------------
    def _spawn(self) -> WorkerSlot:
        parent, child = self.mp.Pipe()
        process = self.mp.Process(target=_worker_main, name="precision-list-worker", daemon=True,
                                  args=(child, str(self.f.root), asdict(self.o), self.instance))
        process.start()
        child.close()
        return WorkerSlot(process, parent)

    def _send(self, slot: WorkerSlot, job: dict) -> None:
        slot.job, slot.started = job, time.monotonic()
        self.busy_runs.add(job["run_id"])
        if job["kind"] == "inbox":
            self.busy_names.add(job["name"])
        slot.conn.send(job)

    def _collect(self) -> None:
        now = time.monotonic()
        for slot in self.workers:
            try:
                while slot.job and slot.conn.poll():
                    result = slot.conn.recv()
                    slot.job = None
                    self._settle_job(result, now)
            except (EOFError, OSError):
                pass  # the worker died; _supervise_workers handles it

    def _release(self, job: dict) -> None:
        self.busy_runs.discard(job["run_id"])
        if job["kind"] == "inbox":
            self.busy_names.discard(job["name"])

    def _settle_job(self, result: dict, now: float) -> None:
        self._release(result)
        outcome, run_id = result["outcome"], result["run_id"]
        claim = claim_dir_name(run_id, self.instance)
        if outcome in ("archived", "duplicate", "failed", "gone"):
            self.retry.pop(run_id, None)
            self.attempts.pop(run_id, None)
            if result["kind"] == "inbox":
                self.seen.pop(result["name"], None)
            return
        if outcome == "locked":  # not claimed: back off on the inbox file itself
            seen = self.seen.get(result["name"])
            if seen:
                seen.tries += 1
                seen.next_try = now + self._backoff(seen.tries)
                if seen.tries > self.o.once_max_retries:
                    self.gave_up.add(result["name"])
            return
        if result["kind"] == "inbox":
            self.seen.pop(result["name"], None)
        if not (self.f.claims / claim).is_dir():
            self.retry.pop(run_id, None)
            return
        if outcome == "unsettled":  # still being written: look again after a quiet period
            self.expect[run_id] = tuple(result["identity"])
            self.retry[run_id] = (claim, now + max(self.o.settle, 0.1))
            return
        attempts = self.attempts[run_id] = self.attempts.get(run_id, 0) + 1
        delay = self.o.settle if outcome == "busy" else self._backoff(attempts)
        self.retry[run_id] = (claim, now + delay)
        if attempts > self.o.once_max_retries:
            self.gave_up.add(run_id)
        if outcome == "retry":
            self.log("waiting", run=run_id, outcome="retry", retry_in_s=round(delay, 2), attempts=attempts)

    def _backoff(self, attempts: int) -> float:
        return min(self.o.retry_max, self.o.retry_initial * 2 ** max(0, attempts - 1))

    def _supervise_workers(self, now: float) -> None:
        for i, slot in enumerate(self.workers):
            if slot.job and now - slot.started > self.o.timeout:
                self.log("timeout", file=slot.job.get("name"), run=slot.job["run_id"],
                         duration_s=round(now - slot.started, 1))
                slot.process.kill()
                slot.process.join(timeout=10)
            if slot.process.is_alive():
                continue
            job = slot.job
            if job:
                self._release(job)
                crashes = self.ledger.note_crash(job["run_id"])
                self.log("worker_died", file=job.get("name"), run=job["run_id"], exitcode=slot.process.exitcode,
                         crashes=crashes)
                if job["kind"] == "inbox":
                    self.seen.pop(job["name"], None)
            elif not self.stopping and not slot.reported:
                self.log("worker_died", exitcode=slot.process.exitcode,
                         reason="a scoring process could not start; see the lines above" if now - slot.spawned < 10 else None)
            slot.job, slot.reported = None, True
            if self.stopping:
                continue
            # a worker that cannot even start (bad install, no permission) must not spin: back off
            if now - slot.spawned < 10:
                slot.failures += 1
                if now < slot.spawned + min(60.0, 2.0 ** slot.failures):
                    continue
            replacement = self._spawn()
            replacement.failures = slot.failures if now - slot.spawned < 10 else 0
            self.workers[i] = replacement

    # -- scanning ------------------------------------------------------------------------------
    def _ensure_folders(self, now: float) -> None:
        """Re-create outbox/ archive/ failed/ .state/… when someone deleted one (checked every few seconds)."""
        if now < self._next_folders:
            return
        self._next_folders = now + max(1.0, min(self.o.scan_interval, 10.0))
        needed = (self.f.outbox, self.f.archive, self.f.failed, self.f.claims, self.f.instances)
        missing = [folder for folder in needed if not folder.is_dir()]
        if missing:
            self.f.make()
            self.log("folder_recreated", reason=", ".join(f"{p.relative_to(self.f.root)}/" for p in missing))

    def _scan_inbox(self, now: float) -> None:
        present = set()
        try:
            entries = list(os.scandir(self.f.inbox))
        except FileNotFoundError:
            entries = []
        except OSError as exc:
            self.log("scan_error", reason=f"inbox/: {describe_exception(exc)}")
            return
        polling = bool(self.o.poll)
        for entry in entries:
            try:
                if not entry.is_file(follow_symlinks=False) or classify(entry.name) == IGNORE:
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            present.add(entry.name)
            identity = file_identity(st, polling)
            seen = self.seen.get(entry.name)
            if seen is None:
                self.seen[entry.name] = Seen(identity, now)
                self.log("received", file=entry.name, size=st.st_size)
            elif seen.identity != identity and entry.name not in self.busy_names:
                seen.identity, seen.changed_at = identity, now  # re-saved or still growing: restart the timer
        for name in list(self.seen):
            if name not in present and name not in self.busy_names:
                del self.seen[name]
                self.gave_up.discard(name)
                self.awaiting_marker.discard(name)

    def _scan_claims(self, now: float) -> None:
        try:
            entries = [e.name for e in os.scandir(self.f.claims) if e.is_dir()]
        except OSError:
            return
        for name in entries:
            run_id, owner = parse_claim_dir(name)
            if not owner or run_id in self.busy_runs or run_id in self.retry:
                continue
            if owner == self.instance or self._instance_dead(owner, name, now):
                row = self.ledger.get(run_id)
                if row and row["crashes"] >= self.o.max_crashes:
                    self.force_fail.add(run_id)
                self.retry[run_id] = (name, now)
        if now >= self._next_sweep:
            self._next_sweep = now + 60.0
            self._sweep_partials({parse_claim_dir(n)[0] for n in entries})

    def _sweep_partials(self, claimed_runs: set[str]) -> None:
        """Remove ``outbox/.partial/<run>`` left by a run whose claim no longer exists (at most once a minute).

        A live run recreates its folder before scoring, so only leftovers older than a minute go.
        """
        try:
            entries = list(os.scandir(self.f.partial))
        except OSError:
            return
        for entry in entries:
            try:
                stale = time.time() - entry.stat().st_mtime > 60
            except OSError:
                continue
            if entry.name not in claimed_runs and entry.name not in self.busy_runs and stale:
                shutil.rmtree(entry.path, ignore_errors=True)

    def _share_clock(self) -> int | None:
        """The share's idea of "now" (ns): the mtime of our own heartbeat, rewritten every lease/4.

        Another machine's heartbeat is judged against this, not against our clock, so clock
        skew between PCs does not matter and a fresh ``--once`` run can tell a heartbeat that
        stopped two hours ago from one that is alive.
        """
        try:
            return os.stat(self.heartbeat_path).st_mtime_ns
        except OSError:
            return None

    def _forget_dead_instances(self) -> None:
        """Remove heartbeat files of services that are gone (once, at start).

        On this host: the process no longer exists. Elsewhere: silent for 10 leases (at least an
        hour) by the share's clock. Their claims are recovered either way (see _instance_dead).
        """
        try:
            names = [e.name for e in os.scandir(self.f.instances)]
        except OSError:
            return
        share_now = self._share_clock()
        for name in names:
            if name == self.instance:
                continue
            pid_part, _, host = name.partition("@")
            pid = pid_part.split("-")[0]
            gone = host == self.host and pid.isdigit() and not pid_alive(int(pid))
            try:
                silent = share_now is not None and (share_now - os.stat(self.f.instances / name).st_mtime_ns
                                                    >= max(10 * self.o.lease, 3600) * 1e9)
                if gone or silent:
                    (self.f.instances / name).unlink()
            except OSError:
                pass

    def _instance_dead(self, owner: str, claim_name: str, now: float) -> bool:
        """Whether the instance holding a claim is gone, so its claims may be taken over.

        Same host: its process no longer exists. Any host: its heartbeat (or, with none, the
        claim folder) is ``lease`` older than ours by the share's clock, or has not changed for
        ``lease`` seconds of our own clock.
        """
        pid_part, _, host = owner.partition("@")
        if host == self.host:
            try:
                if not pid_alive(int(pid_part.split("-")[0])):
                    return True
            except ValueError:
                pass
        try:
            mtime = os.stat(self.f.instances / owner).st_mtime_ns
        except OSError:  # stopped cleanly, or its heartbeat was removed: the claim's own age counts
            try:
                mtime = os.stat(self.f.claims / claim_name).st_mtime_ns
            except OSError:
                return False
        share_now = self._share_clock()
        if share_now is not None and share_now - mtime >= self.o.lease * 1e9:
            return True
        last = self.leases.get(owner)
        if last is None or last[0] != mtime:
            self.leases[owner] = (mtime, now)  # heartbeat moved: alive, judged by our own clock
            return False
        return now - last[1] >= self.o.lease

    def _dispatch(self, now: float) -> None:
        idle = [w for w in self.workers if w.job is None and w.process.is_alive()]
        for run_id, (claim, when) in sorted(self.retry.items(), key=lambda kv: kv[1][1]):
            if not idle:
                return
            if when > now or run_id in self.busy_runs:
                continue
            del self.retry[run_id]
            self._send(idle.pop(), {"kind": "claim", "claim": claim, "run_id": run_id,
                                    "force_fail": run_id in self.force_fail, "identity": self.expect.pop(run_id, None)})
            self.force_fail.discard(run_id)
        for name, seen in list(self.seen.items()):
            if not idle:
                return
            if name in self.busy_names or seen.next_try > now or now - seen.changed_at < self.o.settle:
                continue
            path = self.f.inbox / name
            if self.o.done_files and not os.path.exists(self.f.inbox / f"{name}{DONE_SUFFIX}"):
                seen.next_try = now + max(self.o.settle, 0.5)
                if name not in self.awaiting_marker:
                    self.awaiting_marker.add(name)
                    self.log("deferred", file=name, size=seen.identity[0], reason=f"waiting for {name}{DONE_SUFFIX}")
                continue
            self.awaiting_marker.discard(name)
            young = now - seen.changed_at < self.o.grace
            readable = seen.identity[0] > 0 and (
                not name.lower().endswith(ZIP_KINDS) or opens_as_zip(path))
            if not readable and young:
                seen.next_try = now + max(self.o.settle, 0.2)
                if not seen.deferred_logged:
                    seen.deferred_logged = True
                    self.log("deferred", file=name, size=seen.identity[0], reason="empty or not yet a complete workbook")
                continue
            run_id = new_run_id()
            self.log("settled", file=name, size=seen.identity[0], run=run_id,
                     duration_s=round(now - seen.changed_at, 3))
            self._send(idle.pop(), {"kind": "inbox", "name": name, "run_id": run_id, "identity": seen.identity})

    # -- heartbeat and observer ------------------------------------------------------------------
    def _heartbeat(self) -> None:
        try:
            self.heartbeat_path.touch()
            os.utime(self.heartbeat_path)
        except OSError:
            try:
                self.f.make()
            except OSError:
                pass

    def _beat(self) -> None:
        interval = max(0.5, self.o.lease / 4)
        while not self.beat_stop.wait(interval):
            self._heartbeat()

    def _arm(self, reason: str) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        wake, rearm, inbox = self.wake, self.rearm, os.path.normpath(str(self.f.inbox))

        class Hint(FileSystemEventHandler):
            """Any event (created, modified, moved — Excel saves arrive as moves) just wakes the scan."""

            def on_any_event(self, event):
                try:
                    if event.event_type == "deleted" and os.path.normpath(str(event.src_path)) == inbox:
                        rearm.set()  # inotify stops watching a deleted folder, even if it comes back
                    wake.set()
                except BaseException:  # noqa: BLE001 — an exception here would end dispatching
                    pass

        if self.observer is not None:
            try:
                self.observer.stop()
                self.observer.join(timeout=5)
            except Exception:  # noqa: BLE001 — the old observer is being replaced anyway
                pass
        self.f.inbox.mkdir(parents=True, exist_ok=True)
        observer = PollingObserver(timeout=self.o.poll) if self.o.poll else Observer()
        try:
            observer.schedule(Hint(), str(self.f.inbox), recursive=False)
            observer.start()
        except Exception as exc:  # noqa: BLE001 — inotify limits etc.: the scan still works
            self.log("watch_error", reason=f"{type(exc).__name__}: {exc}"[:300])
            self.observer, self.armed = None, None
            return
        st = os.stat(self.f.inbox)
        self.observer, self.armed = observer, (st.st_dev, st.st_ino)
        self.log("watch_armed", reason=reason, outcome="polling" if self.o.poll else "notifications")

    def _supervise_observer(self) -> None:
        try:
            st = os.stat(self.f.inbox)
            identity = (st.st_dev, st.st_ino)
        except FileNotFoundError:
            self.f.inbox.mkdir(parents=True, exist_ok=True)
            self.log("inbox_recreated", reason="inbox/ was missing")
            self._arm("inbox re-created")
            self.wake.set()
            return
        except OSError:
            return
        # the inode number is often reused by `rm -rf inbox; mkdir inbox` (seen), so a dead
        # emitter or the watch root's own delete event count as "replaced" too
        if identity != self.armed or self.rearm.is_set():
            self.rearm.clear()
            self._arm("inbox replaced")
            self.wake.set()
        elif (self.observer is None or not self.observer.is_alive()
              or not all(e.is_alive() for e in getattr(self.observer, "emitters", ()))):
            self._arm("observer stopped")
            self.wake.set()


# -- entry points -----------------------------------------------------------------------------
def watch(root: str | os.PathLike, *, once: bool = False, poll: float | None = None, workers: int | None = None,
          settle: float | None = None, config: str | os.PathLike | None = None, as_of: str | None = None) -> int:
    """Run the service on ROOT (``precision-list watch``); returns the exit code."""
    options = load_options(config, poll=poll, workers=workers, settle=settle, as_of=as_of)
    return Service(root, options).run(once=once)


def status(root: str | os.PathLike) -> str:
    """``precision-list status ROOT``: queue / done / failed counts, files in hand, last errors, as text.

    Everything shown comes from file names and the ledger's English summaries: no cell contents.
    """
    f = Folders(Path(root))
    if not f.state.is_dir():
        return f"{root}: 還沒有執行過 drop-folder 服務 / no service has run here (.state/ missing)"
    try:
        waiting = sum(1 for e in os.scandir(f.inbox) if e.is_file() and classify(e.name) != IGNORE)
    except OSError:
        waiting = 0
    try:
        claims = sorted((e.name, e.stat().st_mtime) for e in os.scandir(f.claims) if e.is_dir())
    except OSError:
        claims = []
    led = Ledger(f.ledger)
    try:
        counts, errors = led.counts(), led.last_errors(5)
        held = {run: led.get(run) for run, _ in (parse_claim_dir(name) for name, _ in claims)}
    finally:
        led.close()
    now = time.time()
    try:
        beats = sorted((e.name, now - e.stat().st_mtime) for e in os.scandir(f.instances))
    except OSError:
        beats = []
    alive = [f"{name} (heartbeat {age:.0f}s ago{'; not running?' if age > 120 else ''})" for name, age in beats]
    lines = [
        f"精準名單 drop folder: {f.root}",
        f"等待中 queued:    {waiting} in inbox/, {len(claims)} being processed (.state/claims)",
        f"完成 done:        {counts.get(ARCHIVED, 0)} scored, {counts.get(DUPLICATE, 0)} duplicates (already scored)",
        f"失敗 failed:      {counts.get(FAILED, 0)}",
        f"服務 instances:   {', '.join(alive) if alive else '(none running)'}",
    ]
    if claims:
        lines.append("處理中 in hand:")
        for name, mtime in claims[:20]:
            run_id, owner = parse_claim_dir(name)
            row = held.get(run_id) or {}
            note = f" — {row['note']}" if row.get("note") else ""
            lines.append(f"  {row.get('name') or '?'}  [{run_id}]  {owner}, {now - mtime:.0f}s{note}")
    if errors:
        lines.append("最近的錯誤 last errors:")
        lines += [f"  {e['finished_at']}  {e['name']}  [{e['run_id']}]  {e['error']}" for e in errors]
    return "\n".join(lines)
