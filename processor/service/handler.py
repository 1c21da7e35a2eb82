"""One job in a worker process: claim a settled file (or resume a claim), score it, write the
result atomically, keep the original in archive/ or failed/ — every step resumable from the
ledger (:class:`processor.service.ledger.Ledger`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import date
from functools import cached_property
from pathlib import Path

from processor import __version__
from processor.errors import UnusableInput
from processor.service.claims import fsync_dir, fsync_file, place, sha256
from processor.service.ledger import ARCHIVED, CLAIMED, DUPLICATE, FAILED, WRITTEN, Ledger, utc_now
from processor.service.names import (
    DONE_SUFFIX,
    REPORT_SUFFIX,
    UNSUPPORTED,
    Folders,
    claim_dir_name,
    classify,
    kept_names,
    name_max,
    parse_claim_dir,
    result_names,
)
from processor.service.options import DEFAULT_SCORER, Options, check_scorer, resolve_scorer
from processor.service.reports import EventLog, describe_exception, error_report, internal_error, summary_line
from processor.service.settle import path_identity
from processor.service.words import IN_DROP_FOLDER, IN_DROP_FOLDER_EN


class Handler:
    """Does one job at a time in a worker process; every step is resumable from the ledger."""

    def __init__(
        self, folders: Folders, options: Options, instance: str, log: EventLog, scorer: Callable | None = None
    ):
        self.f = folders
        self.o = options
        self.instance = instance
        self.log = log
        if scorer is not None:
            self.scorer = scorer
        else:
            check_scorer(options.scorer)  # a misspelt module stops the worker at its start, as a bad install does
        self.ledger = Ledger(folders.ledger)
        self.name_max: dict[Path, int] = {}
        self.identity: tuple | None = None  # set with the outcome "unsettled": the file's new identity

    # The scorer, the settings and the key they give are loaded with the first file to score, not when
    # the worker starts: the real scorer imports pandas (~0.35 s), which a worker with nothing to do never needs.

    def _prepare(self) -> None:
        """Load the scorer, the settings and their key (the real scorer: pandas) before a file is taken, so that
        its claim and its ledger row follow each other at once (``status`` names the file in hand)."""
        self.scorer, self.config_key  # noqa: B018  cached: loaded by the first file only

    @cached_property
    def scorer(self) -> Callable:
        return resolve_scorer(self.o.scorer)

    @cached_property
    def settings(self):
        """The config file's settings; None without one: exactly what `precision-list score` does."""
        from processor.settings import load_config

        return load_config(Path(self.o.config)) if self.o.config else None

    @cached_property
    def config_key(self) -> str:
        return config_key(self.settings, self.o.scorer)

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
                outcome = self._take_claim(
                    job["claim"], job["run_id"], job.get("force_fail", False), expected, started, job.get("limit")
                )
        except Exception as exc:  # a bug or an odd share must not kill the worker: retry later
            self.log("error", file=job.get("name"), run=job["run_id"], reason=describe_exception(exc))
            outcome = "retry"
        if self.o.team and outcome in ("archived", "failed"):
            self._refresh_team(job)
        return {**job, "outcome": outcome, "identity": self.identity}

    def _refresh_team(self, job: dict) -> None:
        """``team = true``: the manager's roll-up follows every result (its failure never fails the file)."""
        from processor.team import TEAM_FILE, write_team

        try:
            write_team(self.f.root)
            self.log("team", file=job.get("name"), run=job["run_id"], output=TEAM_FILE)
        except Exception as exc:  # noqa: BLE001  the roll-up is a convenience; the file's outcome stands
            self.log("error", file=TEAM_FILE, run=job["run_id"], reason=describe_exception(exc))

    def _identity(self, path: Path) -> tuple:
        return path_identity(path, bool(self.o.poll))

    def _unsettled(self, run_id: str, name: str, now: tuple, reason: str) -> str:
        self.identity = now
        self.log("changed", file=name, size=now[0], run=run_id, reason=reason)
        return "unsettled"

    def _take_inbox(self, name: str, run_id: str, expected: tuple | None, started: float) -> str:
        self._prepare()
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

    def _take_claim(
        self,
        claim_name: str,
        run_id: str,
        force_fail: bool,
        expected: tuple | None,
        started: float,
        limit: list | None = None,
    ) -> str:
        """Resume a claim: ours after a worker death, a retry or a re-settle, or a dead instance's."""
        src = self.f.claims / claim_name
        claim = self.f.claims / claim_dir_name(run_id, self.instance)
        if src != claim:
            try:
                os.rename(src, claim)  # one winner among the instances recovering it
            except FileNotFoundError:
                return "gone"
        files = [entry.name for entry in os.scandir(claim) if entry.is_file() or entry.is_dir()]  # a log folder
        if not files:  # died between mkdir and rename, or after the original moved on
            self._close_moved(run_id)
            shutil.rmtree(claim, ignore_errors=True)
            return "gone"
        self._prepare()
        name = files[0]
        row = self.ledger.get(run_id)
        if row is None:
            self.ledger.insert(
                run_id, name, claim=claim.name, instance=self.instance, size=(claim / name).stat().st_size
            )
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
        if force_fail and limit:
            return self._fail(run_id, claim, name, limit_exceeded(name, *limit), started)
        if force_fail:
            exc = UnusableInput(
                "處理這個檔案時程式當掉或逾時，已重試仍失敗",
                f"請把執行編號 {run_id} 告訴系統管理員",
                en=f"scoring crashed or timed out {self.o.max_crashes} times",
                fix_en=f"give the administrator run id {run_id}; a very large file may need a "
                "higher timeout in the service's config",
            )
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
        """("today" for the scorer, a :class:`datetime.date`, and its ISO date for the ledger): ``--as-of``
        or the local date. The pipeline takes any day pandas reads; the worker itself needs no pandas."""
        day = date.fromisoformat(self.o.as_of) if self.o.as_of else date.today()
        return day, day.isoformat()

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
        unsupported = classify(name) == UNSUPPORTED and not path.is_dir()  # a log folder's name is free
        if new_row and (unsupported or size == 0):
            self.ledger.insert(run_id, **new_row)
        if unsupported:
            return self._fail(
                run_id,
                claim,
                name,
                UnusableInput(
                    f"{name} 不是支援的檔案類型（{ext}）",
                    "請送出 .xlsx、.xlsm、.xlsb、.xls、.ods 或 .csv 檔",
                    en=f"unsupported file type {ext}",
                    fix_en="save it from Excel as .xlsx (Excel workbook) or .csv, then drop that file into inbox/",
                ),
                started,
            )
        if size == 0:
            return self._fail(
                run_id,
                claim,
                name,
                UnusableInput(
                    f"{name} 是空檔案（0 位元組）",
                    "請重新存檔或重新複製一次",
                    en="the file is empty (0 bytes)",
                    fix_en="save or copy the file again; the copy did not finish",
                ),
                started,
            )
        digest = sha256(path)
        as_of, as_of_key = self._as_of()
        decision, output = self.ledger.begin_scoring(
            run_id,
            digest,
            result_names(name, self._names(self.f.outbox)),
            output_exists=lambda n: os.path.lexists(self.f.outbox / n),
            claim_alive=lambda c: (self.f.claims / c).is_dir(),
            new_row=new_row,
            as_of=as_of_key,
            config_key=self.config_key,
            keep=self._kept_candidates("archive_name", name),
        )
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
            # the default scorer words the result's steps for a rep at the shared folder (a custom one has its own)
            words = {"words": IN_DROP_FOLDER} if self.o.scorer == DEFAULT_SCORER else {}
            summary = self.scorer(path, temp, as_of=as_of, settings=self.settings, **words)
            if not temp.is_file():
                raise RuntimeError("the scorer wrote no file")
            # a writer that paused longer than settle went on: never publish this (a failing stat: retry)
            if unsettled := self._changed_or(
                run_id,
                name,
                path,
                before,
                stat_errors=True,
                reason="changed while it was scored: result discarded, waiting until it is quiet",
            ):
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
            exc = exc.worded(IN_DROP_FOLDER, IN_DROP_FOLDER_EN)  # steps a rep at the shared folder can take
            return self._changed_or(run_id, name, path, before) or self._fail(run_id, claim, name, exc, started)
        except OSError as exc:  # outbox unwritable, disk full, share gone: not the input's fault
            if exc.errno == errno.ENAMETOOLONG:  # our result name is too long for this share: shorten it
                self.name_max[self.f.outbox] = max(40, self._names(self.f.outbox) // 2)
                self.ledger.clear_name(run_id, "output_name")
            return self._retry(run_id, name, "outbox/", exc, size=size)
        except Exception as exc:  # noqa: BLE001 — a scorer bug on one file must not stop the queue
            return self._changed_or(run_id, name, path, before) or self._fail(
                run_id, claim, name, internal_error(exc, run_id), started
            )
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        self.log(
            "scored",
            file=name,
            size=size,
            run=run_id,
            output=output,
            duration_s=round(time.monotonic() - t0, 3),
            outcome="ok",
            terminal=_counts(summary),
        )
        return self._archive(run_id, claim, name, started, ARCHIVED)

    def _changed_or(
        self,
        run_id: str,
        name: str,
        path: Path,
        before: tuple,
        stat_errors: bool = False,
        reason: str = "changed while it was read: waiting until it is quiet",
    ) -> str | None:
        """ "unsettled" when the file changed while it was read (a half-written file is not the rep's fault).

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

    def _keep(
        self, run_id: str, column: str, claim: Path, name: str, report: Callable[[str], str] | None = None
    ) -> str:
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
        self.ledger.update(
            run_id, status=outcome, finished_at=utc_now(), note=None, duration_s=round(time.monotonic() - started, 3)
        )
        shutil.rmtree(claim, ignore_errors=True)
        self.log(
            "archived",
            file=name,
            run=run_id,
            archived_as=kept,
            outcome=outcome,
            duration_s=round(time.monotonic() - started, 3),
        )
        return outcome

    def _fail(
        self, run_id: str, claim: Path, name: str, exc: UnusableInput, started: float, report: bool = True
    ) -> str:
        try:
            kept = self._keep(
                run_id,
                "failed_name",
                claim,
                name,
                report=(lambda kept: error_report(name, run_id, exc, kept)) if report else None,
            )
        except OSError as exc2:
            return self._retry(run_id, name, "failed/", exc2)
        summary = summary_line(exc)
        self.ledger.update(
            run_id,
            status=FAILED,
            error=summary,
            finished_at=utc_now(),
            note=None,
            archive_name=None,
            archive_key=None,  # reserved when scoring began, not used
            duration_s=round(time.monotonic() - started, 3),
        )
        shutil.rmtree(claim, ignore_errors=True)
        self.log(
            "failed",
            file=name,
            run=run_id,
            failed_as=kept,
            outcome="failed",
            reason=summary,
            duration_s=round(time.monotonic() - started, 3),
        )
        return FAILED


def _counts(summary) -> dict:
    """Result sheets and data-check counts of score_file's summary, for the log (numbers only);
    {} for a scorer that returns something else."""
    try:
        return {
            "sheets": len(summary["result_sheets"]),
            "errors": int(summary["problems"]["errors"]),
            "warnings": int(summary["problems"]["warnings"]),
        }
    except (TypeError, KeyError, ValueError):
        return {}


def config_key(settings, scorer: str) -> str:
    """What besides the bytes and the day decides a result: the settings, the scorer, the version.

    Part of the duplicate key (with the content hash and the as-of date): the same list dropped
    again on another day, or under another config, is scored again.
    """
    from processor.settings import Settings

    payload = json.dumps(
        {"settings": asdict(settings or Settings()), "scorer": scorer, "version": __version__},
        sort_keys=True,
        default=str,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


CRASH_POINTS = ("claimed", "scoring", "temp_written", "placed", "archive_moved")


def limit_exceeded(name: str, kind: str, value: float) -> UnusableInput:
    """The report of a file whose scoring the service ended at its time or memory limit."""
    split = (
        "請把檔案拆成幾個較小的檔案（例如每個工作表一個檔，或每檔 10 萬列以內），或用 Excel 另存為 .xlsx／CSV"
        "（刪掉表格外多餘的格式與空白列）後再送出"
    )
    split_en = (
        "split it into smaller files (one per sheet, or up to 100,000 rows each), or re-save it from Excel as "
        ".xlsx or CSV after deleting formatting and empty rows outside the table, then drop it again"
    )
    if kind == "memory":
        return UnusableInput(
            f"{name} 處理時用掉的記憶體超過上限 {value:,.0f} MB，已停止處理",
            split,
            en=f"scoring {name} used more than the memory limit of {value:,.0f} MB and was stopped",
            fix_en=split_en,
        )
    return UnusableInput(
        f"{name} 處理超過時間上限 {value / 60:,.0f} 分鐘（{value:,.0f} 秒），已停止處理",
        split,
        en=f"scoring {name} took longer than the time limit of {value:,.0f} s and was stopped",
        fix_en=split_en,
    )


def crash_point(point: str) -> None:
    """Fault injection for the crash tests: SIGKILL the whole service at a named step.

    Only when ``PRECISION_LIST_CRASH_AT`` names the step (the tests start the service in its own
    process group); a power cut at exactly that moment, with nothing cleaned up.
    """
    if os.environ.get("PRECISION_LIST_CRASH_AT") == point and hasattr(os, "killpg"):
        os.killpg(os.getpgid(0), signal.SIGKILL)
